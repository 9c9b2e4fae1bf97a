"""dSprites in colour, in noise and on The Scream (Locatello et al. 2019, section 5): dSprites' factors and
sprites, with a random appearance that no factor describes, drawn anew for every image as
disentanglement_lib draws it."""
import numpy as np
import tensorflow.compat.v1 as tf

from common import SettingsError
from datasets.dsprites import DSPRITE_SIZE, DSprites
from datasets.groundtruth import GroundTruth, required_file

tf.disable_v2_behavior()

SCREAM_FILE = 'scream.jpg'
SCREAM_SOURCE = ("Munch's The Scream, e.g. https://upload.wikimedia.org/wikipedia/commons/f/f4/The_Scream.jpg, "
                 "the picture disentanglement_lib uses")
SCREAM_SIZE = (350, 274)   # the picture is shrunk to fit this box (width, height) first, as disentanglement_lib does


def sub_seed(seed, k):
    """The k-th independent stateless seed pair of one batch's seed pair."""
    return tf.stack([seed[0], seed[1] + k * 2 ** 48])


def uniform(shape, seed, k, low=0.0, high=1.0):
    return tf.random.stateless_uniform(shape, sub_seed(seed, k), minval=low, maxval=high)


class RGBDSprites(DSprites):
    img_shape = (DSPRITE_SIZE, DSPRITE_SIZE, 3)

    def images_tensor(self, indices, seed):
        sprites = super(RGBDSprites, self).images_tensor(indices)
        images = self.appearance(tf.tile(sprites, [1, 1, 1, 3]), seed)
        images.set_shape([None] + list(self.img_shape))
        return images

    def images(self, classes):   # the appearance is drawn in the graph, whether the sprites come from the npz or not
        return GroundTruth.images(self, classes)

    def appearance(self, sprites, seed):
        """Binary sprites [n, 64, 64, 3] and a seed pair -> the variant's images [n, 64, 64, 3] in [0, 1]."""
        raise NotImplementedError


class ColorDSprites(RGBDSprites):
    """Each image's sprite in a random colour, every channel uniform in [0.5, 1], on black."""

    def appearance(self, sprites, seed):
        return sprites * uniform([tf.shape(sprites)[0], 1, 1, 3], seed, 1, 0.5, 1.0)


class NoisyDSprites(RGBDSprites):
    """A white sprite on uniform noise in [0, 1], drawn per pixel and channel."""

    def appearance(self, sprites, seed):
        return tf.minimum(sprites + uniform(tf.shape(sprites), seed, 1), 1.0)


def load_scream(folder):
    """The Scream as float32 [h, w, 3] in [0, 1], shrunk to fit SCREAM_SIZE; a one-line error when it is
    missing or is no picture."""
    from PIL import Image
    path = required_file(folder, SCREAM_FILE, SCREAM_SOURCE)
    try:
        with Image.open(path) as picture:
            picture = picture.convert('RGB')
            picture.thumbnail(SCREAM_SIZE, Image.LANCZOS)
            pixels = np.asarray(picture, np.float32) / 255.0
    except (OSError, ValueError) as error:
        raise SettingsError('{} is not a picture PIL can read ({}): put {} there'.format(path, error, SCREAM_SOURCE))
    if min(pixels.shape[:2]) <= DSPRITE_SIZE:
        raise SettingsError('{} is {}x{} pixels: it needs more than {} on each side'.format(
            path, pixels.shape[1], pixels.shape[0], DSPRITE_SIZE))
    return pixels


class ScreamDSprites(RGBDSprites):
    """The background is a random 64x64 patch of The Scream, averaged with a random colour; the sprite's pixels
    are that background inverted."""

    def __init__(self, cfg, seed=0):
        super(ScreamDSprites, self).__init__(cfg, seed)
        self.picture = load_scream(cfg.data_dir_path)

    def appearance(self, sprites, seed):
        n = tf.shape(sprites)[0]
        height, width = self.picture.shape[:2]
        # corners uniform over [0, side - 64), as numpy's randint draws them
        top = tf.cast(uniform([n], seed, 1) * (height - DSPRITE_SIZE), tf.int32)
        left = tf.cast(uniform([n], seed, 2) * (width - DSPRITE_SIZE), tf.int32)
        offsets = tf.range(DSPRITE_SIZE)
        rows = tf.broadcast_to((top[:, None] + offsets)[:, :, None], [n, DSPRITE_SIZE, DSPRITE_SIZE])
        cols = tf.broadcast_to((left[:, None] + offsets)[:, None, :], [n, DSPRITE_SIZE, DSPRITE_SIZE])
        patches = tf.gather_nd(tf.constant(self.picture), tf.stack([rows, cols], axis=-1))
        background = (patches + uniform([n, 1, 1, 3], seed, 3)) / 2.0
        return tf.where(sprites > 0.5, 1.0 - background, background)
