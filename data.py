"""Every input pipeline and the held-out data: cropped CelebA JPEGs, a folder of your own pictures,
procedural (or DeepMind's) dSprites, as tf.data in the graph, and the fixed held-out images that the
pictures and metrics use."""
import math
import os
import zlib

import numpy as np
import tensorflow.compat.v1 as tf
import tensorflow.compat.v2 as tf2   # only for image.resize(antialias=True), on both stacks

from common import RAW_CELEBA_SHAPE, SettingsError
from hardware import session_config, training_device

tf.disable_v2_behavior()

DOWNLOAD_HINT = 'python download_celebA.py'
PARTITION_FILE = 'list_eval_partition.txt'   # beside the image folder; partition 0 is the training split
ATTRIBUTE_FILE = 'list_attr_celeba.txt'      # beside the image folder: 40 binary attributes per image


class Split(object):
    """The images one run trains on and the ones it holds out."""

    def __init__(self, train, holdout, skipped=(), holdout_seen=False, details=None):
        self.train = train
        self.holdout = holdout
        self.skipped = list(skipped)       # (file name, reason) of files that can not be used
        self.holdout_seen = holdout_seen   # the held-out images are trained on too (train_images 'all')
        self.details = details             # folder: {path: (format, (height, width))}; CelebA: None


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


def split_celeba(data_dir, holdout_percent, train_images='split'):
    """Lists the usable .jpg files of data_dir and splits them into training and held-out images.

    train_images 'split' trains on partition 0 of list_eval_partition.txt when it is there (else on
    all but a fixed holdout_percent); 'all' trains on every image, as the original did, and marks
    the held-out images as seen.
    """
    if not os.path.isdir(data_dir):
        raise SettingsError('CelebA folder {} does not exist: run `{}` or set data_dir_path'.format(
            data_dir, DOWNLOAD_HINT))
    names = sorted(n for n in os.listdir(data_dir) if n.lower().endswith('.jpg'))
    if not names:
        raise SettingsError('CelebA folder {} has no .jpg files: run `{}` or set data_dir_path'.format(
            data_dir, DOWNLOAD_HINT))
    usable, skipped = [], []
    for name in names:
        problem = celeba_image_problem(os.path.join(data_dir, name))
        if problem is None:
            usable.append(name)
        else:
            skipped.append((name, problem))
    partition_path = beside_images(data_dir, PARTITION_FILE)
    partitions = _read_partitions(partition_path) if os.path.isfile(partition_path) else {}

    def is_holdout(name):
        if name in partitions:
            return partitions[name] != 0
        return _held_out(name, holdout_percent)

    paths = [os.path.join(data_dir, n) for n in usable]
    holdout = [p for p, n in zip(paths, usable) if is_holdout(n)]
    if train_images == 'all':
        return Split(train=paths, holdout=holdout, skipped=skipped, holdout_seen=True)
    return Split(train=[p for p, n in zip(paths, usable) if not is_holdout(n)], holdout=holdout, skipped=skipped)


def decode_celeba(path, crop, img_shape):
    """Reads a JPEG and decodes only the crop window [top, left, height, width]: float32 in [0, 1],
    resized (antialiased) to img_shape when the crop has another size, e.g. 128x128 -> 64x64."""
    image = tf.image.decode_and_crop_jpeg(tf.read_file(path), crop, channels=3)
    image.set_shape([crop[2], crop[3], 3])
    image = tf.image.convert_image_dtype(image, tf.float32)
    if (crop[2], crop[3]) != tuple(img_shape[:2]):
        image = resized(image, img_shape)
    return image


def resized(image, img_shape):
    """float32 [h, w, C] in [0, 1] -> [H, W, C] of img_shape, antialiased, still in [0, 1]."""
    image = tf2.image.resize(image, img_shape[:2], antialias=True)
    image.set_shape(list(img_shape[:2]) + [image.shape[-1]])
    return tf.clip_by_value(image, 0.0, 1.0)


def index_batches(num_items, batch_size, *, seed, start=0, shuffle=True):
    """Endless batches of item indices, starting `start` items into the stream.

    Epoch e visits the items in np.random.RandomState([seed, e]).permutation(num_items) order, so the
    stream depends only on (seed, position): a run resumed at step s continues with exactly the
    images it would have seen, with no iterator state in the checkpoint.
    """
    epoch, offset = divmod(start, num_items)
    pending = np.zeros(0, np.int64)
    while True:
        order = np.random.RandomState([seed, epoch]).permutation(num_items) if shuffle else np.arange(num_items)
        pending = np.concatenate([pending, order[offset:]])
        epoch, offset = epoch + 1, 0
        while len(pending) >= batch_size:
            yield pending[:batch_size]
            pending = pending[batch_size:]


def _index_dataset(num_items, cfg, start, shuffle):
    def generate():
        return index_batches(num_items, cfg.batch_size, seed=cfg.seed, start=start, shuffle=shuffle)
    return tf.data.Dataset.from_generator(generate, tf.int64, tf.TensorShape([cfg.batch_size]))


class ImageFiles(object):
    """A list of image files (CelebA's or a folder's) and how to decode the i-th one in the graph."""

    def __init__(self, paths, split, cfg):
        self.paths = list(paths)
        self.cfg = cfg
        self.details = None if split.details is None else [split.details[p] for p in self.paths]

    def decode(self, index):
        """int64 index tensor -> (path, float32 image of img_shape in [0, 1])."""
        path = tf.gather(tf.constant(self.paths), index)
        if self.details is None:
            return path, decode_celeba(path, self.cfg.data_crop, self.cfg.img_shape)
        is_png = tf.gather(tf.constant([fmt == 'png' for fmt, _ in self.details]), index)
        ratio = tf.gather(tf.constant([jpeg_scale(size, self.cfg.img_shape) for _, size in self.details]), index)
        return path, decode_any_image(path, is_png, ratio, self.cfg.img_shape)


def image_batches(files, cfg, *, start=0, shuffle=True):
    """Batches of images from `start` images into the epoch stream; undecodable files are dropped."""
    ds = _index_dataset(len(files.paths), cfg, start, shuffle).flat_map(tf.data.Dataset.from_tensor_slices)
    ds = ds.map(lambda i: files.decode(i)[1], num_parallel_calls=tf.data.experimental.AUTOTUNE)
    ds = ds.apply(tf.data.experimental.ignore_errors())
    return ds.batch(cfg.batch_size, drop_remainder=True).prefetch(tf.data.experimental.AUTOTUNE)


def named_batches(files, batch_size):
    """(file paths, images) batches of the files in order, for evaluation; one pass, bad files dropped."""
    ds = tf.data.Dataset.range(len(files.paths)).map(files.decode, num_parallel_calls=tf.data.experimental.AUTOTUNE)
    return ds.apply(tf.data.experimental.ignore_errors()).batch(batch_size).prefetch(2)


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


def split_folder(data_dir, holdout_percent, train_images='split'):
    """Lists the usable JPEG and PNG files under data_dir (nested folders too) and holds out a fixed
    holdout_percent of them, chosen by a hash of the path inside data_dir."""
    if not os.path.isdir(data_dir):
        raise SettingsError('image folder {} does not exist: set --data_dir_path to a folder of JPEG or PNG '
                            'files'.format(data_dir))
    usable, skipped, details = [], [], {}
    for folder, subfolders, names in os.walk(data_dir):
        subfolders.sort()
        for name in sorted(names):
            path = os.path.join(folder, name)
            try:
                details[path] = inspect_image(path)
                usable.append(path)
            except (UnusableImage, OSError) as problem:
                skipped.append((os.path.relpath(path, data_dir), str(problem)))
    if not usable:
        raise SettingsError('image folder {} has no usable JPEG or PNG file ({} skipped{}): set --data_dir_path '
                            'to a folder of pictures'.format(data_dir, len(skipped), ', e.g. {} ({})'.format(
                                *skipped[0]) if skipped else ''))
    holdout = [p for p in usable if _held_out(os.path.relpath(p, data_dir), holdout_percent)]
    held = set(holdout)
    train = usable if train_images == 'all' else [p for p in usable if p not in held]
    return Split(train, holdout, skipped, holdout_seen=train_images == 'all', details=details)


def jpeg_scale(size, img_shape):
    """The DCT downscaling (1, 2, 4 or 8) that still leaves the centre crop twice img_shape's side."""
    side = min(size)
    for scale in JPEG_SCALES:
        if side // scale >= 2 * max(img_shape[:2]):
            return scale
    return 1


def centre_crop_to_aspect(image, img_shape):
    """The largest centred window of `image` [h, w, C] with img_shape's height:width ratio."""
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    target_h, target_w = img_shape[0], img_shape[1]
    crop_h = tf.minimum(height, width * target_h // target_w)
    crop_w = tf.minimum(width, height * target_w // target_h)
    return tf.image.crop_to_bounding_box(image, (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w)


def decode_any_image(path, is_png, jpeg_ratio, img_shape):
    """A JPEG or PNG file of any size and mode (grayscale, palette, RGBA) -> float32 img_shape in [0, 1]:
    converted to img_shape's channels, centre-cropped to its aspect ratio, resized with antialiasing."""
    contents = tf.read_file(path)
    channels = img_shape[2]

    def jpeg(scale):
        return lambda: tf.image.decode_jpeg(contents, channels=channels, ratio=scale)

    branches = [(is_png, lambda: tf.image.decode_png(contents, channels=channels))]
    branches += [(tf.equal(jpeg_ratio, scale), jpeg(scale)) for scale in JPEG_SCALES]
    image = tf.case(branches, default=jpeg(1), exclusive=False)
    image.set_shape([None, None, channels])
    image = tf.image.convert_image_dtype(centre_crop_to_aspect(image, img_shape), tf.float32)
    return resized(image, img_shape)


def split_images(cfg):
    """The run's image files, training and held out: CelebA's or a folder's."""
    if cfg.dataset == 'folder':
        return split_folder(cfg.data_dir_path, cfg.holdout_percent, cfg.train_images)
    return split_celeba(cfg.data_dir_path, cfg.holdout_percent, cfg.train_images)


# ---- dSprites ----

# Factor sizes in DeepMind's order (color, shape, scale, orientation, posX, posY); posY varies fastest.
# color has a single value (white).
FACTOR_SIZES = (1, 3, 6, 40, 32, 32)
FACTOR_NAMES = ('color', 'shape', 'scale', 'orientation', 'x', 'y')
NUM_DSPRITES = int(np.prod(FACTOR_SIZES))  # 737,280
DSPRITE_SIZE = 64                # pixels per side
SPRITE_HALF_SIZE = 10.0          # pixels from centre to the square's edge at scale 1
# Centres keep this far from the border (pixels), so every shape at any scale and orientation
# leaves the outermost pixel row and column empty.
SPRITE_MARGIN = SPRITE_HALF_SIZE * math.sqrt(2.0) + 1.0


def factor_values():
    """The value of each factor at each of its indices, as in DeepMind's latents_values."""
    return [np.array([1.0]), np.array([1.0, 2.0, 3.0]), np.linspace(0.5, 1.0, 6),
            np.linspace(0.0, 2 * np.pi, 40), np.linspace(0.0, 1.0, 32), np.linspace(0.0, 1.0, 32)]


def factor_classes(indices):
    """Image indices [n] -> factor indices [n, 6] (DeepMind's latents_classes)."""
    return np.stack(np.unravel_index(np.asarray(indices), FACTOR_SIZES), axis=1)


def factors_to_values(classes):
    """Factor indices [n, 6] -> factor values [n, 6] (DeepMind's latents_values)."""
    values = factor_values()
    return np.stack([values[f][classes[:, f]] for f in range(len(FACTOR_SIZES))], axis=1)


def _class_tensor(index):
    """Image indices (int64 tensor [n]) -> factor indices [n, 6]; inverse of np.ravel_multi_index."""
    classes = []
    for size in reversed(FACTOR_SIZES):
        classes.append(index % size)
        index = index // size
    return tf.stack(classes[::-1], axis=1)


def render_dsprites(classes):
    """Factor indices [n, 6] (int tensor) -> binary images [n, 64, 64, 1] float32.

    A pixel is on when its centre, moved into the sprite's frame (centred, unrotated, unscaled),
    lies inside the unit shape: square |u|,|v| <= 1; ellipse with semi-axes 1 and 0.5; heart
    (x^2 + y^2 - 1)^3 <= x^2 y^3.
    """
    classes = tf.cast(classes, tf.int32)
    values = [tf.constant(v, tf.float32) for v in factor_values()]
    shape = classes[:, 1]
    scale, angle, pos_x, pos_y = [tf.gather(values[f], classes[:, f])[:, None, None] for f in (2, 3, 4, 5)]
    travel = DSPRITE_SIZE - 2 * SPRITE_MARGIN
    centre_x = SPRITE_MARGIN + pos_x * travel
    centre_y = SPRITE_MARGIN + pos_y * travel
    pixel = tf.range(DSPRITE_SIZE, dtype=tf.float32) + 0.5
    dx = pixel[None, None, :] - centre_x
    dy = pixel[None, :, None] - centre_y
    radius = scale * SPRITE_HALF_SIZE
    u = (tf.cos(angle) * dx + tf.sin(angle) * dy) / radius
    v = (-tf.sin(angle) * dx + tf.cos(angle) * dy) / radius
    square = tf.maximum(tf.abs(u), tf.abs(v)) <= 1.0
    ellipse = tf.square(u) + tf.square(v / 0.5) <= 1.0
    hx, hy = 1.15 * u, 0.1 - 1.15 * v      # heart coordinates, lobes up in the image
    lobe = tf.square(hx) + tf.square(hy) - 1.0
    heart = lobe * lobe * lobe <= tf.square(hx) * hy * hy * hy
    which = tf.broadcast_to(shape[:, None, None], tf.shape(square))
    inside = tf.where(tf.equal(which, 0), square, tf.where(tf.equal(which, 1), ellipse, heart))
    return tf.cast(inside, tf.float32)[..., None]


def load_dsprites_npz(path):
    """DeepMind's dSprites file -> (images uint8 [n, 64, 64], factor indices [n, 6])."""
    with np.load(path) as archive:
        images, classes = archive['imgs'], archive['latents_classes']
    if images.shape[1:] != (DSPRITE_SIZE, DSPRITE_SIZE) or len(images) != len(classes):
        raise SettingsError('{} is not a dSprites file (imgs {} with {} factor rows): remove it to use '
                            'procedural dSprites'.format(path, images.shape, len(classes)))
    return images, classes


class DSprites(object):
    """dSprites images by index: DeepMind's npz when it is present, else rendered. The one place that
    makes that choice; every pipeline and metric reads the images through it.

    Index i is the image with factor indices np.unravel_index(i, FACTOR_SIZES), in either source.
    """

    def __init__(self, cfg):
        self.npz_images = None
        if os.path.isfile(cfg.dsprites_npz_path):
            self.npz_images = load_dsprites_npz(cfg.dsprites_npz_path)[0]
        self.count = NUM_DSPRITES if self.npz_images is None else len(self.npz_images)
        self._session = None

    def _npz_float(self, indices):
        return self.npz_images[indices][..., None].astype(np.float32)

    def images_tensor(self, indices):
        """Image indices (int64 tensor [n]) -> images [n, 64, 64, 1] float32 in the graph."""
        if self.npz_images is None:
            return render_dsprites(_class_tensor(indices))
        images = tf.py_func(self._npz_float, [indices], tf.float32, stateful=False)
        images.set_shape([None, DSPRITE_SIZE, DSPRITE_SIZE, 1])
        return images

    def __call__(self, classes):
        """Factor indices [n, 6] (numpy) -> images [n, 64, 64, 1] float32 (numpy)."""
        indices = np.ravel_multi_index(np.asarray(classes).T, FACTOR_SIZES)
        if self.npz_images is not None:
            return self._npz_float(indices)
        if self._session is None:
            graph = tf.Graph()
            with graph.as_default():
                self._indices = tf.placeholder(tf.int64, [None])
                self._images = self.images_tensor(self._indices)
            self._session = tf.Session(graph=graph, config=session_config())
        return self._session.run(self._images, {self._indices: indices})

    def in_index_order(self, batch_size):
        """tf.data of every image, index 0 first, in batches of batch_size (the last one smaller)."""
        ds = tf.data.Dataset.range(self.count).batch(batch_size)
        ds = ds.map(self.images_tensor, num_parallel_calls=tf.data.experimental.AUTOTUNE)
        return ds.prefetch(2)

    def training_batches(self, cfg, *, start=0, shuffle=True):
        """Batches of [B, 64, 64, 1] sprites from `start` images into the epoch stream."""
        ds = _index_dataset(self.count, cfg, start, shuffle)
        return ds.map(self.images_tensor, num_parallel_calls=tf.data.experimental.AUTOTUNE).prefetch(
            tf.data.experimental.AUTOTUNE)


def dsprites_dataset(cfg, *, start=0, shuffle=True):
    """Batches of [B, 64, 64, 1] sprites: rendered in the graph, or from DeepMind's npz when present."""
    return DSprites(cfg).training_batches(cfg, start=start, shuffle=shuffle)


# ---- one entry point for the training loop ----

def on_host_cores(dataset, cores=None):
    """The pipeline on its own pool of all host cores, so decoding never waits behind the training
    step's ops in TensorFlow's shared pool; each op single-threaded, since parallel map calls
    already spread the images over the cores."""
    options = tf.data.Options()
    threading = getattr(options, 'threading', None) or options.experimental_threading  # TF 2.x / 1.14 name
    threading.private_threadpool_size = cores or os.cpu_count() or 1
    threading.max_intra_op_parallelism = 1
    return dataset.with_options(options)


def prefetched_to(dataset, device):
    """Batches copied to `device` ahead of the step that needs them; unchanged for device None."""
    return dataset if device is None else dataset.apply(tf.data.experimental.prefetch_to_device(device))


def training_data(cfg, start_step=0):
    """(dataset of training batches from `start_step` on, number of training images, Split or None)."""
    if cfg.dataset == 'dsprites':
        source, split = DSprites(cfg), None
        num_images = source.count
    else:
        split = split_images(cfg)
        num_images = len(split.train)
    if num_images < cfg.batch_size:
        raise SettingsError('batch_size {} is larger than the {} usable training images{}: lower batch_size'.format(
            cfg.batch_size, num_images, ' in ' + cfg.data_dir_path if split else ''))
    start = start_step * cfg.batch_size
    if split is None:
        batches = source.training_batches(cfg, start=start)
    else:
        batches = image_batches(ImageFiles(split.train, split, cfg), cfg, start=start)
    return prefetched_to(on_host_cores(batches), training_device()), num_images, split


# ---- held-out data: the fixed images that pictures and metrics are made from ----

HELD_OUT_DSPRITES_SEED = 99   # seeds the fixed sample of the factor grid used as dSprites' held-out images


def held_out_batches(cfg, count, batch_size=256):
    """(file names or None, images) batches of the first `count` held-out images, always the same ones.

    CelebA and folders: the held-out split in file order (undecodable files left out); dSprites: a
    fixed sample of the factor grid.
    """
    if cfg.dataset == 'dsprites':
        images = DSprites(cfg)
        rng = np.random.RandomState([cfg.eval_seed, HELD_OUT_DSPRITES_SEED])
        # drawn an image at a time (row-major), so a smaller count gives the first images of a larger one
        classes = (rng.random_sample((count, len(FACTOR_SIZES))) * FACTOR_SIZES).astype(np.int64)
        for start in range(0, count, batch_size):
            yield None, images(classes[start:start + batch_size])
        return
    split = split_images(cfg)
    if not split.holdout:
        raise SettingsError('no held-out images in {}: raise holdout_percent'.format(cfg.data_dir_path))
    files = ImageFiles(split.holdout[:count], split, cfg)
    with tf.Graph().as_default():
        batch = tf.data.make_one_shot_iterator(named_batches(files, batch_size)).get_next()
        with tf.Session(config=session_config()) as sess:
            while True:
                try:
                    batch_paths, images = sess.run(batch)
                except tf.errors.OutOfRangeError:
                    return
                yield [os.path.basename(p.decode('utf-8')) for p in batch_paths], images


def held_out_images(cfg, count):
    """The first `count` held-out images, [count, H, W, C] in [0, 1] (fewer if there are fewer)."""
    if count == 0:
        return np.zeros([0] + list(cfg.img_shape), np.float32)
    return np.concatenate([images for _, images in held_out_batches(cfg, count)])[:count]


def encode_held_out(restored, count):
    """(file names or None, z_mean, z_logvar) of the first `count` held-out images, encoded by a
    restored model (anything with .cfg and .encode(images) -> (z_mean, z_logvar))."""
    names, z_mean, z_logvar, _ = encode_held_out_keeping_images(restored, count, 0)
    return names, z_mean, z_logvar


def encode_held_out_keeping_images(restored, count, keep):
    """encode_held_out's three, and the first `keep` of those images themselves [<= keep, H, W, C],
    from one pass over the held-out data."""
    names, means, logvars, kept = [], [], [], []
    num_kept = 0
    for batch_names, images in held_out_batches(restored.cfg, count):
        z_mean, z_logvar = restored.encode(images)
        names += batch_names or []
        means.append(z_mean)
        logvars.append(z_logvar)
        kept.append(images[:max(0, keep - num_kept)])
        num_kept += len(kept[-1])
    images = np.concatenate(kept) if kept else np.zeros([0] + list(restored.cfg.img_shape), np.float32)
    return names or None, np.concatenate(means), np.concatenate(logvars), images
