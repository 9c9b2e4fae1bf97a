"""3D Shapes (Burgess and Kim 2018, DeepMind): 480,000 renders of an object in a room, from DeepMind's
3dshapes.h5, read as an uncompressed memory map where the file allows and into memory once otherwise."""
import os

import numpy as np

from common import SettingsError
from datasets.groundtruth import ArrayGroundTruth, expect, grid_index, required_file

FILE = '3dshapes.h5'
SOURCE = 'https://storage.googleapis.com/3d-shapes/3dshapes.h5, from https://github.com/deepmind/3d-shapes'
READ_CHUNK = 10000   # images per read when the file is compressed or chunked


def h5py():
    try:
        import h5py
    except ImportError:
        raise SettingsError('reading {} needs h5py: pip install h5py'.format(FILE))
    return h5py


def read_images(path, dataset):
    """The h5 dataset as uint8 [n, 64, 64, 3], never twice in memory: a memory map of a contiguous,
    unfiltered dataset, else read a chunk at a time into one array."""
    offset = dataset.id.get_offset() if dataset.chunks is None and dataset.compression is None else None
    if offset is not None:
        expect(offset + dataset.size <= os.path.getsize(path), path, 'all {} images'.format(dataset.shape[0]),
               'a truncated file of {} bytes'.format(os.path.getsize(path)))
        return np.memmap(path, np.uint8, 'r', offset, dataset.shape)
    images = np.empty(dataset.shape, np.uint8)
    for start in range(0, dataset.shape[0], READ_CHUNK):
        stop = min(start + READ_CHUNK, dataset.shape[0])
        dataset.read_direct(images, np.s_[start:stop], np.s_[start:stop])
    return images


class Shapes3D(ArrayGroundTruth):
    """Factors in the file's order; the labels' values name the grid (hues in 0.1 steps, scale 0.75-1.25,
    shape 0-3, orientation -30 to 30 degrees)."""

    factor_names = ('floor_hue', 'wall_hue', 'object_hue', 'scale', 'shape', 'orientation')
    factor_sizes = (10, 10, 10, 8, 4, 15)

    def __init__(self, cfg, seed=0):
        path = required_file(cfg.data_dir_path, FILE, SOURCE)
        shape = (self.count,) + tuple(self.img_shape)
        try:
            with h5py().File(path, 'r') as f:
                expect('images' in f and 'labels' in f, path, "keys 'images' and 'labels'",
                       'keys {}'.format(sorted(f.keys())))
                found = f['images']
                expect(found.shape == shape and found.dtype == np.uint8, path, 'images {} uint8'.format(shape),
                       'images {} {}'.format(found.shape, found.dtype))
                labels = f['labels'][()]
                expect(labels.shape == (self.count, len(self.factor_sizes)), path,
                       'labels {}'.format((self.count, len(self.factor_sizes))), 'labels {}'.format(labels.shape))
                index = grid_index(path, self.label_classes(labels), self.factor_sizes)
                expect(np.array_equal(index, np.arange(self.count)), path, 'images in the published factor order',
                       'the same images in another order')
                images = read_images(path, found)
        except (OSError, KeyError) as error:   # h5py says OSError for a truncated or non-HDF5 file
            raise SettingsError('{} is not a readable HDF5 file ({}): download it again from {}'.format(
                path, str(error).splitlines()[0], SOURCE))
        super(Shapes3D, self).__init__(images, seed)

    @staticmethod
    def label_classes(labels):
        """Label values [n, F] -> factor indices: each value's rank among its factor's distinct values."""
        return np.stack([np.unique(column, return_inverse=True)[1] for column in labels.T], axis=1)
