"""SmallNORB (LeCun et al. 2004): 50 toys under varied elevation, azimuth and lighting, from the six files of
NORB's own binary matrix format (not MATLAB, whatever the .mat says). The left camera's 96x96 images are
resized to 64x64 with antialiasing, as disentanglement_lib does."""
import os

import numpy as np

from datasets.groundtruth import ArrayGroundTruth, check_grid, expect, required_file

SOURCE = 'https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/ (gunzip each .mat.gz)'
FILES = {'training': 'smallnorb-5x46789x9x18x6x2x96x96-training-{}.mat',
         'testing': 'smallnorb-5x01235x9x18x6x2x96x96-testing-{}.mat'}
# The matrix file's magic number names its element type.
MAGIC = {0x1E3D4C55: np.uint8, 0x1E3D4C54: np.int32}
NORB_SIDE = 96            # pixels per side of each camera's image
LEFT_CAMERA = 0           # of the pair (left, right) in a dat file


def read_matrix(path, dtype, shape):
    """A NORB binary matrix: int32 magic, int32 rank, max(3, rank) int32 dimensions, then the data, little
    endian, last dimension fastest. Read as a memory map; a wrong header or a short file is a one-line error."""
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
    return np.memmap(path, np.dtype(dtype).newbyteorder('<'), 'r', start, shape)


def resized(images, side):
    """uint8 [n, 96, 96] -> uint8 [n, side, side, 1], each resized with antialiasing (PIL's Lanczos)."""
    from PIL import Image
    out = np.empty((len(images), side, side, 1), np.uint8)
    for i, image in enumerate(images):
        out[i, :, :, 0] = np.asarray(Image.fromarray(np.asarray(image)).resize((side, side), Image.LANCZOS))
    return out


class SmallNORB(ArrayGroundTruth):
    """Factors: category, instance (5 in each file), elevation, azimuth (NORB's 0, 2, ..., 34 halved) and
    lighting. The metrics leave out the instance, as disentanglement_lib does."""

    factor_names = ('category', 'instance', 'elevation', 'azimuth', 'lighting')
    factor_sizes = (5, 10, 9, 18, 6)
    unscored = (1,)
    img_shape = (64, 64, 1)

    def __init__(self, cfg, seed=0):
        images, factors = [], []
        per_file = self.count // 2   # image pairs in each of the training and testing files
        for part in ('training', 'testing'):
            def path(kind):
                return required_file(cfg.data_dir_path, FILES[part].format(kind), SOURCE)
            pairs = read_matrix(path('dat'), np.uint8, (per_file, 2, NORB_SIDE, NORB_SIDE))
            category = read_matrix(path('cat'), np.int32, (per_file,))
            info = read_matrix(path('info'), np.int32, (per_file, 4))
            images.append(resized(pairs[:, LEFT_CAMERA], self.img_shape[0]))
            factors.append(np.column_stack([category, info[:, 0], info[:, 1], info[:, 2] // 2, info[:, 3]]))
        order = check_grid(os.path.join(cfg.data_dir_path, FILES['training'].format('info')) + ' and its testing twin',
                           np.concatenate(factors), self.factor_sizes)
        super(SmallNORB, self).__init__(np.concatenate(images)[order], seed)
