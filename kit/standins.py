"""Files in each dataset's published format, of any grid size, whose images show their own image index:
for the tests and benchmarks, and for trying a dataset's code path before a download of many gigabytes; and
JPEGs of aligned CelebA's size, alone or as a folder.

Image i is two flat halves, the top holding i // 256 and the bottom i % 256 (every channel), so the index
survives a resize with antialiasing: index_of() reads it back from the middle of each half."""
import io
import os
import zipfile

import numpy as np
from PIL import Image

from datasets import shapes3d, smallnorb

SHAPES3D_VALUES = (np.linspace(0.0, 0.9, 10), np.linspace(0.0, 0.9, 10), np.linspace(0.0, 0.9, 10),
                   np.linspace(0.75, 1.25, 8), np.arange(4.0), np.linspace(-30.0, 30.0, 15))   # the labels' values
WRITE_CHUNK = 4096   # images generated at a time


def index_images(indices, side, channels):
    """uint8 [n, side, side, channels]: image i's top half is i // 256, its bottom half i % 256."""
    indices = np.asarray(indices, np.int64)
    images = np.empty((len(indices), side, side, channels), np.uint8)
    images[:, :side // 2] = (indices // 256 % 256)[:, None, None, None]
    images[:, side // 2:] = (indices % 256)[:, None, None, None]
    return images


def index_of(images):
    """The indices that images (float in [0, 1] or uint8, [n, H, W, C]) show."""
    images = np.asarray(images, np.float64)
    scale = 255.0 if images.max() <= 1.0 else 1.0
    side = images.shape[1]
    top, bottom = images[:, side // 4, side // 2, 0] * scale, images[:, 3 * side // 4, side // 2, 0] * scale
    return (np.rint(top) * 256 + np.rint(bottom)).astype(np.int64)


def write_shapes3d(folder, sizes, compressed=False):
    """3dshapes.h5 of a grid of `sizes`: images [n, 64, 64, 3] uint8 and labels [n, 6] float64, in row-major
    order; contiguous, or chunked and gzip-compressed."""
    import h5py
    count = int(np.prod(sizes))
    classes = np.stack(np.unravel_index(np.arange(count), sizes), axis=1)
    labels = np.stack([SHAPES3D_VALUES[f][classes[:, f]] for f in range(len(sizes))], axis=1)
    path = os.path.join(folder, shapes3d.FILE)
    with h5py.File(path, 'w') as f:
        options = dict(chunks=(64, 64, 64, 3), compression='gzip') if compressed else {}
        images = f.create_dataset('images', (count, 64, 64, 3), np.uint8, **options)
        for start in range(0, count, WRITE_CHUNK):
            stop = min(count, start + WRITE_CHUNK)
            images[start:stop] = index_images(np.arange(start, stop), 64, 3)
        f.create_dataset('labels', data=labels)
    return path


def write_npz_images(path, count, key='images', compressed=False):
    """An npz file whose one member `key` is uint8 [count, 64, 64, 3] index images, streamed a chunk at a time
    (as np.savez lays it out, or deflated as np.savez_compressed does)."""
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, 'w', method, allowZip64=True) as archive:
        with archive.open(key + '.npy', 'w', force_zip64=True) as member:
            header = {'descr': '|u1', 'fortran_order': False, 'shape': (count, 64, 64, 3)}
            np.lib.format.write_array_header_1_0(member, header)
            for start in range(0, count, WRITE_CHUNK):
                member.write(index_images(np.arange(start, min(count, start + WRITE_CHUNK)), 64, 3).tobytes())
    return path


def write_mpi3d(folder, variant, count, compressed=False):
    return write_npz_images(os.path.join(folder, variant + '.npz'), count, compressed=compressed)


def write_norb_matrix(path, array):
    """A NORB binary matrix file: magic, rank, max(3, rank) dimensions (unused ones 1), data; little endian."""
    magic = [k for k, v in smallnorb.MAGIC.items() if np.dtype(v) == array.dtype][0]
    dims = list(array.shape) + [1] * max(0, 3 - array.ndim)
    with open(path, 'wb') as f:
        np.array([magic, array.ndim] + dims, '<u4').astype('<i4').tofile(f)
        f.write(np.ascontiguousarray(array, array.dtype.newbyteorder('<')).tobytes())


def write_smallnorb(folder, sizes, seed=0, images=True):
    """The six files of a SmallNORB grid of `sizes` (category, instance, elevation, azimuth, lighting): each
    file holds half the instances, in shuffled order as the real files are, both cameras showing the index.
    images=False writes the four label files alone."""
    count = int(np.prod(sizes))
    classes = np.stack(np.unravel_index(np.arange(count), sizes), axis=1)
    rng = np.random.RandomState(seed)
    for part, in_part in (('training', classes[:, 1] % 2 == 1), ('testing', classes[:, 1] % 2 == 0)):
        rows = rng.permutation(np.flatnonzero(in_part))
        if images:
            pair = index_images(rows, smallnorb.NORB_SIDE, 1)[..., 0]
            write_norb_matrix(os.path.join(folder, smallnorb.FILES[part].format('dat')), np.stack([pair, pair], axis=1))
        write_norb_matrix(os.path.join(folder, smallnorb.FILES[part].format('cat')), classes[rows, 0].astype(np.int32))
        info = np.column_stack([classes[rows, 1], classes[rows, 2], classes[rows, 3] * 2, classes[rows, 4]])
        write_norb_matrix(os.path.join(folder, smallnorb.FILES[part].format('info')), info.astype(np.int32))


def write_cars3d(folder, objects):
    """`objects` MATLAB files car_NNN_mesh.mat, key im [128, 128, 3, 24 azimuths, 4 elevations], showing the
    index of (elevation, azimuth, object) in the 4 x 24 x objects grid."""
    from scipy.io import savemat
    for k in range(objects):
        im = np.empty((128, 128, 3, 24, 4), np.uint8)
        for elevation in range(4):
            for azimuth in range(24):
                index = np.ravel_multi_index((elevation, azimuth, k), (4, 24, objects))
                im[:, :, :, azimuth, elevation] = index_images([index], 128, 3)[0]
        savemat(os.path.join(folder, 'car_{:03d}_mesh.mat'.format(k)), {'im': im})


def write_scream(folder, size=(600, 760)):
    """A stand-in for The Scream: smooth colour, size (width, height) pixels."""
    from PIL import Image
    rng = np.random.RandomState(0)
    small = (rng.random_sample((12, 10, 3)) * 255).astype(np.uint8)
    path = os.path.join(folder, 'scream.jpg')
    Image.fromarray(small).resize(size, Image.BILINEAR).save(path, quality=95)
    return path


# ---- CelebA-sized JPEGs ----

def jpeg_bytes(rng, height=218, width=178, grain=0, mode='RGB'):
    """One JPEG, aligned CelebA's 218 x 178 by default: smooth colour blobs, which JPEG keeps and a model
    can fit, with `grain` levels of noise on top (a photo's detail, which decoding pays for)."""
    small = rng.randint(0, 256, (height // 16 + 1, width // 16 + 1, 3)).astype(np.uint8)
    pixels = np.asarray(Image.fromarray(small).resize((width, height), Image.BILINEAR))
    if grain:
        pixels = pixels // 2 + rng.randint(0, grain, (height, width, 3)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, format='JPEG', quality=90)
    return buffer.getvalue()


def write_jpeg(path, height=218, width=178, seed=0, mode='RGB'):
    with open(path, 'wb') as f:
        f.write(jpeg_bytes(np.random.RandomState(seed), height, width, mode=mode))


def write_celeba_folder(folder, count, distinct=None, seed=0):
    """folder/000001.jpg ... count of them, grained like photos; with `distinct`, only that many different
    files, repeated (a file system full of CelebA-sized files, made fast). Returns the file names."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.RandomState(seed)
    variants = [jpeg_bytes(rng, grain=40) for _ in range(min(count, distinct or count))]
    names = ['{:06d}.jpg'.format(k + 1) for k in range(count)]
    for k, name in enumerate(names):
        with open(os.path.join(folder, name), 'wb') as f:
            f.write(variants[k % len(variants)])
    return names
