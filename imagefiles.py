"""Image files on disk, before TensorFlow sees them: CelebA's folder and list files, a folder of your own
pictures, each file's header check (kept by its stat, so a resumed run need not open 200,000 files), and
the split into training and held-out images. No TensorFlow: data.py builds the pipelines from these lists.
"""
import json
import os
import zlib

import numpy as np

from common import RAW_CELEBA_SHAPE, SettingsError, atomic_path

DOWNLOAD_HINT = 'python download_celebA.py'
PARTITION_FILE = 'list_eval_partition.txt'   # beside the image folder; partition 0 is the training split
ATTRIBUTE_FILE = 'list_attr_celeba.txt'      # beside the image folder: 40 binary attributes per image
CHECKS_FILE = 'image_checks.json'             # in the checkpoint folder: each training file's check, by its stat


# ---- what every folder shares ----

class Split(object):
    """The images one run trains on and the ones it holds out."""

    def __init__(self, train, holdout, skipped=(), holdout_seen=False, details=None):
        self.train = train
        self.holdout = holdout
        self.skipped = list(skipped)       # (file name, reason) of files that can not be used
        self.holdout_seen = holdout_seen   # the held-out images are trained on too (train_images 'all')
        self.details = details             # folder: {path: (format, (height, width))}; CelebA: None


class FileChecks(object):
    """What was learnt of each image file of a folder (usable, with its format and size, or why not),
    kept in a JSON file and reused while the file's (size, mtime, inode) stay the same.

    A resumed --train on a folder of 200,000 images then costs one stat per file, not an open and two
    reads: a file added or removed is seen in the listing, one replaced (rewritten, or another moved
    over it) by its stat. Without a path it keeps nothing. Saved as flat rows [path, size, mtime_ns,
    inode, usable, answer], which JSON reads several times faster than nested objects.
    """

    VERSION = 2

    def __init__(self, path=None):
        self.path = path
        self.known, self.seen, self.changed = {}, {}, False
        if path and os.path.isfile(path):
            try:
                with open(path) as f:
                    saved = json.load(f)
                if saved.get('version') == self.VERSION:
                    self.known = {row[0]: row for row in saved['files']}
            except (OSError, ValueError, KeyError, TypeError, IndexError):
                self.known = {}   # unreadable: checked afresh, and written anew

    def check(self, path, inspect):
        """inspect(path)'s answer, or UnusableImage / OSError as it raised them; from the saved answer
        when the file's stat is the one it was given for."""
        stat = os.stat(path)
        row = self.known.get(path)
        if row is None or row[1] != stat.st_size or row[2] != stat.st_mtime_ns or row[3] != stat.st_ino:
            try:
                row = [path, stat.st_size, stat.st_mtime_ns, stat.st_ino, True, inspect(path)]
            except UnusableImage as problem:
                row = [path, stat.st_size, stat.st_mtime_ns, stat.st_ino, False, str(problem)]
            self.changed = True
        self.seen[path] = row
        if not row[4]:
            raise UnusableImage(row[5])
        return row[5]

    def save(self):
        """Writes what is known of the files checked since it was made (a removed file is forgotten)."""
        if self.path and (self.changed or len(self.seen) != len(self.known)):
            with atomic_path(self.path) as tmp:
                with open(tmp, 'w') as f:   # compact: indenting 200,000 rows would take seconds
                    json.dump({'version': self.VERSION, 'files': list(self.seen.values())}, f)


# ---- CelebA ----

_SOF_MARKERS = frozenset([0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF])


class UnusableImage(ValueError):
    """A file that can not be trained on; the message says why."""


def jpeg_size(path):
    """(height, width) from a JPEG's frame header; UnusableImage if it is not a complete JPEG.

    Reads the markers up to the frame header and the file's tail, not the pixels, so scanning
    200k files takes seconds.
    """
    with open(path, 'rb') as f:
        head = f.read(2)
        if head != b'\xff\xd8':
            raise UnusableImage('not a JPEG' if head else 'empty file')
        size = None
        while size is None:
            marker = f.read(4)
            if len(marker) < 4 or marker[0] != 0xFF:
                raise UnusableImage('truncated or corrupt JPEG header')
            length = (marker[2] << 8) | marker[3]
            if marker[1] in _SOF_MARKERS:
                frame = f.read(5)
                if len(frame) < 5:
                    raise UnusableImage('truncated JPEG header')
                size = ((frame[1] << 8) | frame[2], (frame[3] << 8) | frame[4])
            else:
                f.seek(length - 2, os.SEEK_CUR)
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 64))
        if b'\xff\xd9' not in f.read():
            raise UnusableImage('truncated JPEG (no end-of-image marker)')
    return size


def celeba_image_problem(path):
    """Why an aligned-CelebA file can not be used, or None when it can."""
    try:
        size = jpeg_size(path)
    except UnusableImage as problem:
        return str(problem)
    if size != RAW_CELEBA_SHAPE:
        return 'size {}x{}, not the aligned {}x{}'.format(size[0], size[1], *RAW_CELEBA_SHAPE)
    return None


def _held_out(name, percent):
    """Deterministic: the same file is held out on every machine, whatever else is in the folder."""
    return zlib.crc32(name.encode('utf-8')) % 10000 < percent * 100


def beside_images(data_dir, name):
    """The path of a CelebA list file that sits beside the image folder."""
    return os.path.join(os.path.dirname(os.path.normpath(data_dir)), name)


def _read_partitions(path):
    partitions = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                partitions[parts[0]] = int(parts[1])
    return partitions


def celeba_names(data_dir):
    """The .jpg file names of data_dir, sorted: a listing, no file is opened."""
    if not os.path.isdir(data_dir):
        raise SettingsError('CelebA folder {} does not exist: run `{}` or set data_dir_path'.format(
            data_dir, DOWNLOAD_HINT))
    names = sorted(n for n in os.listdir(data_dir) if n.lower().endswith('.jpg'))
    if not names:
        raise SettingsError('CelebA folder {} has no .jpg files: run `{}` or set data_dir_path'.format(
            data_dir, DOWNLOAD_HINT))
    return names


def celeba_held_out_names(data_dir, holdout_percent):
    """The names of CelebA's held-out files, sorted: those list_eval_partition.txt puts in partitions 1
    and 2 when it is there (read from the list: the folder is not even listed), else a fixed
    holdout_percent of the folder's .jpg files."""
    partition_path = beside_images(data_dir, PARTITION_FILE)
    if os.path.isfile(partition_path):
        if not os.path.isdir(data_dir):
            celeba_names(data_dir)   # its one-line error
        return sorted(name for name, partition in _read_partitions(partition_path).items() if partition != 0)
    return [name for name in celeba_names(data_dir) if _held_out(name, holdout_percent)]


def split_celeba(data_dir, holdout_percent, train_images='split', checks=None):
    """Lists the usable .jpg files of data_dir and splits them into training and held-out images.

    train_images 'split' trains on partition 0 of list_eval_partition.txt when it is there (a file it
    does not list is trained on too), else on all but a fixed holdout_percent; 'all' trains on every
    image, as the original did, and marks the held-out images as seen. checks: a FileChecks that
    remembers each file's check.
    """
    checks = checks or FileChecks()
    usable, skipped = [], []
    for name in celeba_names(data_dir):
        try:
            checks.check(os.path.join(data_dir, name), usable_celeba_image)
            usable.append(name)
        except (UnusableImage, OSError) as problem:
            skipped.append((name, str(problem)))
    checks.save()
    partition_path = beside_images(data_dir, PARTITION_FILE)
    partitions = _read_partitions(partition_path) if os.path.isfile(partition_path) else {}

    def is_holdout(name):
        if partitions:
            return partitions.get(name, 0) != 0
        return _held_out(name, holdout_percent)

    paths = [os.path.join(data_dir, n) for n in usable]
    holdout = [p for p, n in zip(paths, usable) if is_holdout(n)]
    if train_images == 'all':
        return Split(train=paths, holdout=holdout, skipped=skipped, holdout_seen=True)
    return Split(train=[p for p, n in zip(paths, usable) if not is_holdout(n)], holdout=holdout, skipped=skipped)


def read_attributes(path):
    """CelebA's list_attr_celeba.txt -> (attribute names, {file name: bool array})."""
    with open(path) as f:
        f.readline()                                  # the number of images
        names = f.readline().split()
        rows = {}
        for line in f:
            parts = line.split()
            if len(parts) == len(names) + 1:
                rows[parts[0]] = np.array([value == '1' for value in parts[1:]])
    return names, rows


# ---- your own images: a folder of JPEG and PNG files of any size ----

IMAGE_EXTENSIONS = {'.jpg': 'jpeg', '.jpeg': 'jpeg', '.png': 'png'}
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
JPEG_SCALES = (8, 4, 2)   # libjpeg's DCT-domain downscaling: decodes a large photo at 1/8, 1/4 or 1/2 the cost


def png_size(path):
    """(height, width) from a PNG's IHDR chunk; UnusableImage if the file has no IEND chunk at its end."""
    with open(path, 'rb') as f:
        head = f.read(24)
        if len(head) < 24 or head[12:16] != b'IHDR':
            raise UnusableImage('truncated or corrupt PNG header')
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 12))
        if b'IEND' not in f.read():
            raise UnusableImage('truncated PNG (no IEND chunk)')
    return int.from_bytes(head[20:24], 'big'), int.from_bytes(head[16:20], 'big')


def inspect_image(path):
    """(format, (height, width)) of a usable JPEG or PNG file, from its bytes, not its name;
    UnusableImage saying why it is not one."""
    with open(path, 'rb') as f:
        head = f.read(8)
    if not head:
        raise UnusableImage('empty file')
    fmt = 'jpeg' if head[:3] == b'\xff\xd8\xff' else 'png' if head == PNG_SIGNATURE else None
    if fmt is None:
        raise UnusableImage('not a JPEG or PNG image')
    extension = os.path.splitext(path)[1].lower()
    if IMAGE_EXTENSIONS.get(extension) != fmt:
        raise UnusableImage('a {} file named {}'.format(fmt.upper(), extension or 'without an extension'))
    return fmt, (jpeg_size(path) if fmt == 'jpeg' else png_size(path))


def split_folder(data_dir, holdout_percent, train_images='split', checks=None):
    """Lists the usable JPEG and PNG files under data_dir (nested folders too) and holds out a fixed
    holdout_percent of them, chosen by a hash of the path inside data_dir. checks: a FileChecks that
    remembers each file's check."""
    checks = checks or FileChecks()
    base = os.path.join(data_dir, '')
    usable, holdout, kept_in, skipped, details = [], [], [], [], {}
    for name in folder_names(data_dir):
        path = base + name
        try:
            fmt, size = checks.check(path, inspect_image)
        except (UnusableImage, OSError) as problem:
            skipped.append((name, str(problem)))
            continue
        details[path] = fmt, tuple(size)
        usable.append(path)
        (holdout if _held_out(name, holdout_percent) else kept_in).append(path)
    checks.save()
    if not usable:
        raise SettingsError('image folder {} has no usable JPEG or PNG file ({} skipped{}): set --data_dir_path '
                            'to a folder of pictures'.format(data_dir, len(skipped), ', e.g. {} ({})'.format(
                                *skipped[0]) if skipped else ''))
    train = usable if train_images == 'all' else kept_in
    return Split(train, holdout, skipped, holdout_seen=train_images == 'all', details=details)


def folder_names(data_dir):
    """Every file under data_dir (nested folders too), as its path inside data_dir, in a fixed order: a
    listing, no file is opened. The names are built once per folder, not with a relpath per file,
    which would cost seconds on 200,000 files."""
    if not os.path.isdir(data_dir):
        raise SettingsError('image folder {} does not exist: set --data_dir_path to a folder of JPEG or PNG '
                            'files'.format(data_dir))
    found = []
    for folder, subfolders, names in os.walk(data_dir):
        subfolders.sort()
        inside = os.path.relpath(folder, data_dir)
        prefix = '' if inside == os.curdir else inside + os.sep
        found += [prefix + name for name in sorted(names)]
    return found


def jpeg_scales(sizes, img_shape):
    """[N] int32: for each (height, width) of `sizes` [N, 2], the DCT downscaling (1, 2, 4 or 8) that
    still leaves the centre crop twice img_shape's side."""
    sides = np.min(sizes, axis=1)
    scales = np.ones(len(sides), dtype=np.int32)
    for scale in reversed(JPEG_SCALES):   # 2, then 4, then 8: the largest that fits wins
        scales[sides // scale >= 2 * max(img_shape[:2])] = scale
    return scales


def first_held_out(cfg, count):
    """A Split whose held-out files are the first `count` usable ones of split_images(cfg)'s, found by
    opening only as many files as that takes, not every file of the folder."""
    data_dir = cfg.data_dir_path
    if cfg.dataset == 'folder':
        base = os.path.join(data_dir, '')
        candidates = [base + name for name in folder_names(data_dir) if _held_out(name, cfg.holdout_percent)]
        check = inspect_image
    else:
        candidates = [os.path.join(data_dir, name) for name in celeba_held_out_names(data_dir, cfg.holdout_percent)]
        check = usable_celeba_image
    holdout, details = [], {}
    for path in candidates:
        if len(holdout) == count:
            break
        try:
            details[path] = check(path)
        except (UnusableImage, OSError):   # unusable, or listed but missing
            continue
        holdout.append(path)
    return Split([], holdout, holdout_seen=cfg.train_images == 'all',
                 details=details if cfg.dataset == 'folder' else None)


def usable_celeba_image(path):
    """(height, width) of a usable aligned-CelebA file; UnusableImage saying why it is not one."""
    problem = celeba_image_problem(path)
    if problem is not None:
        raise UnusableImage(problem)
    return RAW_CELEBA_SHAPE


def split_images(cfg, checks=None):
    """The run's image files, training and held out: CelebA's or a folder's."""
    if cfg.dataset == 'folder':
        return split_folder(cfg.data_dir_path, cfg.holdout_percent, cfg.train_images, checks)
    return split_celeba(cfg.data_dir_path, cfg.holdout_percent, cfg.train_images, checks)
