"""Fetches the files of the datasets with factors into the folders `vae.py --dataset NAME` reads: verified,
resumable, and with fallbacks.

    python download_data.py shapes3d                  # shapes3d/3dshapes.h5; then python vae.py --train --dataset shapes3d
    python download_data.py all                       # every dataset that has files
    python download_data.py --list                    # each name, its files, sizes and sources; fetches nothing
    python download_data.py smallnorb --url URL       # a mirror first, serving each file under its published name
    python download_data.py cars3d --data_dir_path D  # into D, in the same layout

Each file streams to a .part file that is renamed into place only once its size, its md5 (where known) and
its format (it opens as its dataset reads it) are right; an interrupted download resumes from the .part.
A source that fails gives way to the next one, saying why.
"""
import argparse
import collections
import errno
import gzip
import os
import shutil
import sys
import tarfile
import zipfile

import requests

import config
from fetching import CHUNK_BYTES, DownloadError, check_part, download, exit_code, md5_of, plain_opener

# One place a file comes from: its URL, and its size in bytes and md5 where known, with where those come from.
Source = collections.namedtuple('Source', 'url size md5 known_from')
# One file a dataset reads: its name in the dataset's folder, its sources in order of preference, how the
# download becomes that file ('' as it is, 'gunzip', or 'cars': the .mat files of the archive's data/cars/),
# and how it must open (see FORMATS).
DataFile = collections.namedtuple('DataFile', 'name sources unpack format')

DISENT = "the md5 that the disent library records for this URL"
DL_LIB = "disentanglement_lib's dl_data.sh fetches this URL; no md5 published"
GCS = 'https://storage.googleapis.com/disentanglement_dataset/'
NORB = 'https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/'
NORB_MD5 = {   # of the .gz files, as the disent library records them
    'training-dat': '66054832f9accfe74a0f4c36a75bc0a2', 'training-cat': '23c8b86101fbf0904a000b43d3ed2fd9',
    'training-info': '51dee1210a742582ff607dfd94e332e3', 'testing-dat': 'e4ad715691ed5a3a5f138751a4ceb071',
    'testing-cat': '5aa791cd7e6016cf957ce9bdb93b8603', 'testing-info': 'a9454f3864d7fd4bb3ea7fc3eb84924e'}
NORB_NAMES = {'training': 'smallnorb-5x46789x9x18x6x2x96x96-training-{}.mat',
              'testing': 'smallnorb-5x01235x9x18x6x2x96x96-testing-{}.mat'}
DSPRITES_NPZ = os.path.basename(config.dsprites_npz_path)


def mpi3d(variant, md5):
    """The authors' 1,036,800-image file; for the toy renders, disentanglement_lib's 460,800-image file after it."""
    sources = [Source(GCS + 'Final_Dataset/mpi3d_{}.npz'.format(variant), None, md5, DISENT)]
    if variant == 'toy':
        sources.append(Source(GCS + 'data_npz/sim_toy_64x_ordered_without_heldout_factors.npz', None, None, DL_LIB))
    return [DataFile('mpi3d_{}.npz'.format(variant), sources, '', ('npz', 'images'))]


FILES = {
    'dsprites': [DataFile(DSPRITES_NPZ, [
        Source('https://github.com/deepmind/dsprites-dataset/raw/master/' + DSPRITES_NPZ, None, None, DL_LIB),
        Source('https://raw.githubusercontent.com/deepmind/dsprites-dataset/master/' + DSPRITES_NPZ, None, None,
               "the raw form of the same GitHub file, as the disent library fetches it; no md5 published")],
        '', ('npz', 'imgs'))],
    'scream_dsprites': [DataFile('scream.jpg', [
        Source('https://upload.wikimedia.org/wikipedia/commons/f/f4/The_Scream.jpg', None, None,
               "the picture disentanglement_lib uses; Wikimedia publishes no md5")], '', ('picture',))],
    'shapes3d': [DataFile('3dshapes.h5', [
        Source('https://storage.googleapis.com/3d-shapes/3dshapes.h5', None, '099a2078d58cec4daad0702c55d06868',
               DISENT)], '', ('h5',))],
    'mpi3d_toy': mpi3d('toy', '55889cb7c7dfc655d6e0277beee88868'),
    'mpi3d_realistic': mpi3d('realistic', '59a6225b88b635365f70c91b3e52f70f'),
    'mpi3d_real': mpi3d('real', '0f33f609918fb5c97996692f91129802'),
    'smallnorb': [DataFile(NORB_NAMES[part].format(kind), [
        Source(NORB + NORB_NAMES[part].format(kind) + '.gz', None, NORB_MD5[part + '-' + kind], DISENT)],
        'gunzip', ('norb',)) for part in ('training', 'testing') for kind in ('dat', 'cat', 'info')],
    'cars3d': [DataFile('*.mat', [
        Source('http://www.scottreed.info/files/nips2015-analogy-data.tar.gz', None,
               '4e866a7919c1beedf53964e6f7a23686', DISENT)], 'cars', ('mat',))],
}
NORB_MAGIC = (0x1E3D4C55, 0x1E3D4C54)   # NORB's matrix files: uint8 and int32


class SourceFailed(Exception):
    """This source does not have the file (refused, not found, a page, a wrong size, sum or format): try the next."""


def folder_of(name, data_dir_path=None):
    """Where `vae.py --dataset NAME` reads the files by default (or the folder given)."""
    if data_dir_path:
        return data_dir_path
    if name == 'dsprites':
        return os.path.dirname(config.dsprites_npz_path) or '.'
    return config.FACTOR_DATASETS[name][1]


# ---- does a file open as its dataset reads it ----

def format_problem(path, form):
    """None where the file at `path` opens as `form` says its dataset reads it; else what is wrong."""
    kind = form[0]
    try:
        if kind == 'h5':
            import h5py
            with h5py.File(path, 'r') as f:
                missing = [key for key in ('images', 'labels') if key not in f]
            return 'an HDF5 file without {}'.format(' and '.join(missing)) if missing else None
        if kind == 'npz':
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
            return None if form[1] + '.npy' in names else 'an npz file without {!r}'.format(form[1])
        if kind == 'norb':
            with open(path, 'rb') as f:
                magic = int.from_bytes(f.read(4), 'little')
            return None if magic in NORB_MAGIC else 'not a NORB matrix (magic {:#x})'.format(magic)
        if kind == 'mat':
            from scipy.io import loadmat
            return None if 'im' in loadmat(path) else "a MATLAB file without 'im'"
        from PIL import Image
        with Image.open(path) as picture:
            picture.verify()
        return None
    except ImportError as error:
        raise DownloadError('checking {} needs {}: pip install -r requirements.txt'.format(path, error.name))
    except Exception as error:   # each reader raises its own errors for a file of another kind
        return 'not a readable {} file ({})'.format(kind, error)


# ---- one file from one source ----

def part_of(download_path, url):
    """The .part of a download, kept only if it was started from the same URL: two sources may hold two
    versions of a file, and a .part of one must not be continued from the other."""
    part, tag = download_path + '.part', download_path + '.part.from'
    if os.path.exists(part) and (not os.path.exists(tag) or open(tag).read() != url):
        os.remove(part)
    with open(tag, 'w') as f:
        f.write(url)
    return part


def fetch_from(session, source, item, folder):
    """Downloads `item` from `source` into `folder` and puts it in place; SourceFailed where the source does
    not have it. Only a checked file is renamed to where the dataset reads it. An archive left complete by
    an unpacking that was cut off is unpacked again, not fetched again."""
    target = os.path.join(folder, item.name)
    archive = os.path.join(folder, os.path.basename(source.url.split('?')[0])) if item.unpack else target
    if not (item.unpack and source.md5 and os.path.isfile(archive) and md5_of(archive) == source.md5):
        part = part_of(archive, source.url)
        try:
            downloaded(session, source, part, archive)
        finally:
            if not os.path.exists(part):
                os.remove(part + '.from')
        os.remove(part + '.from')
        if not item.unpack:
            return checked_into(part, target, item.format)
        os.replace(part, archive)
    if item.unpack == 'cars':
        return unpack_cars(archive, folder, item.format)
    return gunzip_into(archive, target, item.format)


def downloaded(session, source, part, archive):
    """The whole file in the .part, its size and md5 checked against what the source is known to hold."""
    total = download(session, plain_opener(source.url, SourceFailed), part, archive)
    size = os.path.getsize(part)
    if source.size is not None and size != source.size:
        os.remove(part)
        raise SourceFailed('{} bytes where {} are expected'.format(size, source.size))
    try:
        check_part(part, archive, total, source.md5, 'the next source is tried')
    except DownloadError as error:
        raise SourceFailed(str(error))


def checked_into(part, target, form):
    problem = format_problem(part, form)
    if problem:
        os.remove(part)
        raise SourceFailed('{} is {}'.format(os.path.basename(target), problem))
    os.replace(part, target)


def gunzip_into(archive, target, form):
    """The .gz becomes the file beside it (through its own .part), then goes: no second full copy stays."""
    try:
        with gzip.open(archive, 'rb') as source, open(target + '.part', 'wb') as out:
            shutil.copyfileobj(source, out, CHUNK_BYTES)
    except (OSError, EOFError) as error:
        if getattr(error, 'errno', None) in (errno.ENOSPC, errno.EDQUOT):
            raise
        os.remove(archive)
        raise SourceFailed('{} is not a gzip file ({})'.format(os.path.basename(archive), error))
    checked_into(target + '.part', target, form)
    os.remove(archive)


def unpack_cars(archive, folder, form):
    """The .mat files under data/cars/ of the archive into `folder`, each through its .part and checked;
    the archive goes once every one is in place."""
    try:
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith('.mat')
                       and os.path.dirname(m.name).split('/')[-1] == 'cars']
            if not members:
                raise SourceFailed('{} holds no data/cars/*.mat'.format(os.path.basename(archive)))
            for member in members:
                target = os.path.join(folder, os.path.basename(member.name))
                if os.path.isfile(target) and os.path.getsize(target) == member.size:
                    continue
                with tar.extractfile(member) as source, open(target + '.part', 'wb') as out:
                    shutil.copyfileobj(source, out, CHUNK_BYTES)
                checked_into(target + '.part', target, form)
    except tarfile.TarError as error:
        os.remove(archive)
        raise SourceFailed('{} is not a tar archive ({})'.format(os.path.basename(archive), error))
    os.remove(archive)
    print('{}: {} car files'.format(folder, len(members)))


# ---- one dataset ----

def in_place(item, folder):
    """(is there, what is wrong with it or None) for a file already where the dataset reads it."""
    if item.unpack == 'cars':
        listed = os.listdir(folder) if os.path.isdir(folder) else []
        pending = [n for n in listed if n.endswith(('.tar.gz', '.part'))]
        return any(n.endswith('.mat') for n in listed) and not pending, None
    path = os.path.join(folder, item.name)
    return os.path.isfile(path), format_problem(path, item.format) if os.path.isfile(path) else None


def get(session, item, folder, mirror, force):
    """Puts one file in place from the first source that has it."""
    there, problem = in_place(item, folder)
    if there and not problem:
        print('{} is already in place'.format(os.path.join(folder, item.name)))
        return
    if there and not force:
        raise DownloadError('{} is in place but is {}: move it away, or run again with --force to replace '
                            'it'.format(os.path.join(folder, item.name), problem))
    sources, failed = sources_of(item, mirror), []
    for source in sources:
        try:
            fetch_from(session, source, item, folder)
            print('{}: from {}{}'.format(os.path.join(folder, item.name), source.url, ', md5 ok' if source.md5 else ''))
            return
        except SourceFailed as error:
            failed.append(source.url)
            print('{}: {} failed: {}{}'.format(item.name, source.url, error, '; trying the next source'
                                               if len(failed) < len(sources) else ''), file=sys.stderr)
    raise DownloadError('{}: every source failed ({}): try again later, use --url with a mirror, or put the file '
                        'at {} by hand'.format(item.name, ', '.join(failed), os.path.join(folder, item.name)))


def sources_of(item, mirror):
    """The mirror's copy of each source first (under the source's published name), then the sources."""
    mirrored = [s._replace(url=mirror.rstrip('/') + '/' + os.path.basename(s.url), known_from='the mirror')
                for s in item.sources] if mirror else []
    return mirrored + list(item.sources)


def fetch_dataset(session, name, args):
    folder = folder_of(name, args.data_dir_path)
    os.makedirs(folder, exist_ok=True)
    for item in FILES[name]:
        get(session, item, folder, args.url, args.force)
    flags = ''
    if args.data_dir_path:   # dSprites' npz is read by its own setting, the others' folders by data_dir_path
        flags = ' --dsprites_npz_path {}'.format(os.path.join(folder, DSPRITES_NPZ)) if name == 'dsprites' else \
            ' --data_dir_path {}'.format(folder)
    print('{} is ready: python vae.py --train --dataset {}{}'.format(name, name, flags))


# ---- command line ----

def listing():
    lines = []
    for name in sorted(FILES):
        for item in FILES[name]:
            lines.append('{} -> {}{}'.format(name, os.path.join(folder_of(name), item.name),
                                             {'gunzip': ' (gunzipped)', 'cars': ' (the archive\'s data/cars/)'}.get(
                                                 item.unpack, '')))
            for source in item.sources:
                lines.append('    {} ({}; md5 {}; {})'.format(
                    source.url, '{:,} bytes'.format(source.size) if source.size else 'size not published',
                    source.md5 or 'not published', source.known_from))
    return '\n'.join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog='datasets: ' + ', '.join(sorted(FILES)) + ', or all')
    parser.add_argument('names', nargs='*', metavar='NAME', help='the --dataset names to fetch, or all')
    parser.add_argument('--list', action='store_true', help='print each dataset\'s files and sources; fetch nothing')
    parser.add_argument('--url', help='a mirror to try first: URL/NAME for each file\'s published NAME')
    parser.add_argument('--data_dir_path', help='put the files in this folder instead of the dataset\'s default')
    parser.add_argument('--force', action='store_true', help='replace a file in place that is not right')
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in FILES and n != 'all']
    if unknown:
        parser.error('no files to fetch for {}: choose from {}, or all'.format(', '.join(unknown), ', '.join(sorted(FILES))))
    if not args.names and not args.list:
        parser.error('name the datasets to fetch (or all), or give --list')
    if args.data_dir_path and len(expanded(args.names)) > 1:
        parser.error('--data_dir_path takes one dataset at a time: each reads its own folder')
    return args


def expanded(names):
    return sorted(FILES) if 'all' in names else list(collections.OrderedDict.fromkeys(names))


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.list:
        print(listing())
        return 0
    session = requests.Session()

    def fetch_all():
        for name in expanded(args.names):
            fetch_dataset(session, name, args)
    return exit_code(fetch_all, 'the download')

if __name__ == '__main__':
    sys.exit(main())
