"""MPI3D (Gondal et al. 2019): a robot arm moving an object, as toy renders, realistic renders and real
photographs. Each is one npz file with key `images`; an uncompressed member (np.savez, as the authors
publish them) is read as a memory map, so the 12.7 GB arrays are never copied into memory."""
import os
import zipfile

import numpy as np

from common import SettingsError
from datasets.groundtruth import ArrayGroundTruth, expect, required_file

SOURCE = 'https://storage.googleapis.com/disentanglement_dataset/Final_Dataset/{}'
FACTOR_NAMES = ('object_color', 'object_shape', 'object_size', 'camera_height', 'background_color',
                'first_dof', 'second_dof')
# The two published layouts, told apart by their size: the authors' files have 6 colours and 6 shapes, the
# toy file that disentanglement_lib downloads 4 and 4.
LAYOUTS = {1036800: (6, 6, 2, 3, 3, 40, 40), 460800: (4, 4, 2, 3, 3, 40, 40)}
IMAGE_SHAPE = (64, 64, 3)


def npy_member(path, key):
    """(the zip member of array `key`, its byte offset in the file, shape, dtype, fortran order, is stored)."""
    with zipfile.ZipFile(path) as archive:
        name = key + '.npy'
        expect(name in archive.namelist(), path, "key '{}'".format(key),
               'keys {}'.format(sorted(n[:-4] for n in archive.namelist())))
        info = archive.getinfo(name)
        with archive.open(name) as member:
            version = np.lib.format.read_magic(member)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(member)
            header_size = member.tell()   # ZipExtFile tells its position from Python 3.7 on
    with open(path, 'rb') as f:   # the member's data starts after its local header, its name and extra field
        f.seek(info.header_offset + 26)
        name_length, extra_length = np.frombuffer(f.read(4), '<u2')
    data_start = info.header_offset + 30 + int(name_length) + int(extra_length)
    return info, data_start, header_size, shape, dtype, fortran


def read_images(path, key='images'):
    """Array `key` of an npz file: a memory map when the member is stored uncompressed, else read once."""
    try:
        info, data_start, header_size, shape, dtype, fortran = npy_member(path, key)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise SettingsError('{} is not a readable npz file ({}): download it again'.format(path, error))
    expect(dtype == np.uint8 and len(shape) == 4 and shape[1:] == IMAGE_SHAPE and not fortran, path,
           "'{}' uint8 [n, 64, 64, 3]".format(key), "'{}' {} {}".format(key, dtype, shape))
    expect(shape[0] in LAYOUTS, path, 'one of the published sizes, {} images'.format(
        ' or '.join('{:,}'.format(n) for n in sorted(LAYOUTS))), '{:,} images'.format(shape[0]))
    end = data_start + header_size + int(np.prod(shape))
    expect(info.compress_type != zipfile.ZIP_STORED or end <= os.path.getsize(path), path,
           'all {:,} images'.format(shape[0]), 'a truncated file of {:,} bytes'.format(os.path.getsize(path)))
    if info.compress_type == zipfile.ZIP_STORED:
        return np.memmap(path, np.uint8, 'r', data_start + header_size, shape)
    with np.load(path) as archive:   # compressed: read once, in numpy's chunks, into one array
        return archive[key]


class MPI3D(ArrayGroundTruth):
    factor_names = FACTOR_NAMES
    img_shape = IMAGE_SHAPE
    variant = None   # the file's name without .npz

    def __init__(self, cfg, seed=0):
        path = required_file(cfg.data_dir_path, self.variant + '.npz', SOURCE.format(self.variant + '.npz'))
        images = read_images(path)
        self.factor_sizes = LAYOUTS[len(images)]
        super(MPI3D, self).__init__(images, seed)


class MPI3DToy(MPI3D):
    variant = 'mpi3d_toy'


class MPI3DRealistic(MPI3D):
    variant = 'mpi3d_realistic'


class MPI3DReal(MPI3D):
    variant = 'mpi3d_real'
