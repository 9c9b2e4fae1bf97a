"""SmallNORB (LeCun et al. 2004): 50 toys under varied elevation, azimuth and lighting, from the six files of
NORB's own binary matrix format (not MATLAB, whatever the .mat says). The left camera's 96x96 images are
resized to 64x64 with antialiasing, as disentanglement_lib does."""
import os

import numpy as np

from datasets.groundtruth import ArrayGroundTruth, expect, grid_index, required_file

SOURCE = 'https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/ (gunzip each .mat.gz)'
FILES = {'training': 'smallnorb-5x46789x9x18x6x2x96x96-training-{}.mat',
         'testing': 'smallnorb-5x01235x9x18x6x2x96x96-testing-{}.mat'}
# The matrix file's magic number names its element type.
MAGIC = {0x1E3D4C55: np.uint8, 0x1E3D4C54: np.int32}
NORB_SIDE = 96            # pixels per side of each camera's image
LEFT_CAMERA = 0           # of the pair (left, right) in a dat file
PARTS = ('training', 'testing')
READ_ROWS = 1000          # image pairs read from a dat file at a time (18 MB)


def matrix_start(path, dtype, shape):
    """The byte offset of a NORB binary matrix's data: int32 magic, int32 rank, max(3, rank) int32 dimensions,
    then the data, little endian, last dimension fastest. A wrong header or a short file is a one-line error."""
    size = os.path.getsize(path)
    with open(path, 'rb') as f:
        head = f.read(40)
    words = np.frombuffer(head[:len(head) // 4 * 4], '<i4')
    magic = int(words[0]) & 0xFFFFFFFF if len(words) else None
    expect(MAGIC.get(magic) is dtype, path,
           'a NORB {} matrix (magic {:#x})'.format(np.dtype(dtype).name, [k for k, v in MAGIC.items() if v is dtype][0]),
           'magic {}'.format('none' if magic is None else '{:#x}'.format(magic)))
    rank = int(words[1]) if len(words) > 1 else 0
    dims = tuple(int(d) for d in words[2:2 + rank]) if 0 < rank <= 6 else ()
    expect(dims == shape, path, 'dimensions {}'.format(shape), 'dimensions {}'.format(dims))
    start = 8 + 4 * max(3, rank)
    needed = start + int(np.prod(shape)) * np.dtype(dtype).itemsize
    expect(size >= needed, path, '{:,} bytes'.format(needed), 'a truncated file of {:,} bytes'.format(size))
    return start


def read_rows(path, dtype, shape, first=0, last=None):
    """Rows first..last of a NORB binary matrix of `shape` (all of them by default), read from the file, not
    mapped, so only the rows asked for are ever in memory."""
    start = matrix_start(path, dtype, shape)
    last = shape[0] if last is None else last
    row = int(np.prod(shape[1:]))
    with open(path, 'rb') as f:
        f.seek(start + first * row * np.dtype(dtype).itemsize)
        data = np.fromfile(f, np.dtype(dtype).newbyteorder('<'), (last - first) * row)
    return data.reshape((last - first,) + tuple(shape[1:])).astype(dtype)


def resized(images, side):
    """uint8 [n, 96, 96] -> uint8 [n, side, side, 1], each resized with antialiasing (PIL's Lanczos)."""
    from PIL import Image
    out = np.empty((len(images), side, side, 1), np.uint8)
    for i, image in enumerate(images):
        out[i, :, :, 0] = np.asarray(Image.fromarray(np.asarray(image)).resize((side, side), Image.LANCZOS))
    return out


class SmallNORB(ArrayGroundTruth):
    """Factors: category, instance (5 in each file), elevation, azimuth (NORB's 0, 2, ..., 34 halved) and
    lighting. The metrics leave out the instance, as disentanglement_lib does. The labels are read first, so
    that each image is resized straight into its place in the grid: the array is never held twice."""

    factor_names = ('category', 'instance', 'elevation', 'azimuth', 'lighting')
    factor_sizes = (5, 10, 9, 18, 6)
    unscored = (1,)
    img_shape = (64, 64, 1)

    def __init__(self, cfg, seed=0):
        per_file = self.count // 2   # image pairs in each of the training and testing files

        def path(part, kind):
            return required_file(cfg.data_dir_path, FILES[part].format(kind), SOURCE)
        factors = []
        for part in PARTS:
            category = read_rows(path(part, 'cat'), np.int32, (per_file,))
            info = read_rows(path(part, 'info'), np.int32, (per_file, 4))
            factors.append(np.column_stack([category, info[:, 0], info[:, 1], info[:, 2] // 2, info[:, 3]]))
        index = grid_index(os.path.join(cfg.data_dir_path, FILES['training'].format('info')) + ' and its testing twin',
                           np.concatenate(factors), self.factor_sizes)
        images = np.empty((self.count,) + tuple(self.img_shape), np.uint8)
        for p, part in enumerate(PARTS):
            shape = (per_file, 2, NORB_SIDE, NORB_SIDE)
            matrix_start(path(part, 'dat'), np.uint8, shape)   # a bad file is an error before the long read
            for first in range(0, per_file, READ_ROWS):
                last = min(per_file, first + READ_ROWS)
                pairs = read_rows(path(part, 'dat'), np.uint8, shape, first, last)
                images[index[p * per_file + first:p * per_file + last]] = resized(pairs[:, LEFT_CAMERA], self.img_shape[0])
        super(SmallNORB, self).__init__(images, seed)
