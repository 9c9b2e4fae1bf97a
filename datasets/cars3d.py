"""Cars3D (Reed et al. 2015): 183 car models rendered at 4 elevations and 24 azimuths, from the `cars/`
folder of MATLAB files (key `im`, [128, 128, 3, 24 azimuths, 4 elevations]), resized to 64x64 with
antialiasing. File k in sorted name order is object k."""
import glob
import os

import numpy as np

from common import SettingsError
from datasets.groundtruth import ArrayGroundTruth, expect

SOURCE = 'http://www.scottreed.info/files/nips2015-analogy-data.tar.gz (its data/cars folder)'
RENDER_SHAPE = (128, 128, 3, 24, 4)


def read_mesh(path, side):
    """One car's renders -> uint8 [4 elevations, 24 azimuths, side, side, 3]."""
    from PIL import Image
    from scipy.io import loadmat
    try:
        renders = loadmat(path)
    except Exception as error:   # scipy raises a range of errors for a file that is not MATLAB's
        raise SettingsError('{} is not a readable MATLAB file ({}): download it again from {}'.format(
            path, error, SOURCE))
    expect('im' in renders, path, "key 'im'", 'keys {}'.format(sorted(k for k in renders if not k.startswith('__'))))
    im = renders['im']
    expect(im.shape == RENDER_SHAPE and im.dtype == np.uint8, path, "'im' uint8 {}".format(RENDER_SHAPE),
           "'im' {} {}".format(im.dtype, im.shape))
    out = np.empty((4, 24, side, side, 3), np.uint8)
    for elevation in range(4):
        for azimuth in range(24):
            picture = Image.fromarray(np.ascontiguousarray(im[:, :, :, azimuth, elevation]))
            out[elevation, azimuth] = np.asarray(picture.resize((side, side), Image.LANCZOS))
    return out


class Cars3D(ArrayGroundTruth):
    factor_names = ('elevation', 'azimuth', 'object')
    factor_sizes = (4, 24, 183)

    def __init__(self, cfg, seed=0):
        folder = cfg.data_dir_path
        paths = sorted(glob.glob(os.path.join(folder, '*.mat')))
        if not paths:
            raise SettingsError('no .mat files in {}: put the cars folder of {} there, or point --data_dir_path at '
                                'it'.format(folder, SOURCE))
        expect(len(paths) == self.factor_sizes[2], folder, '{} car files'.format(self.factor_sizes[2]),
               '{} .mat files'.format(len(paths)))
        side = self.img_shape[0]
        images = np.empty((self.count,) + tuple(self.img_shape), np.uint8)
        grid = images.reshape((4, 24, len(paths)) + tuple(self.img_shape))
        for k, path in enumerate(paths):
            grid[:, :, k] = read_mesh(path, side)
        super(Cars3D, self).__init__(images, seed)
