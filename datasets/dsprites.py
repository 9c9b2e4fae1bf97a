"""dSprites (Matthey et al. 2017): 64x64 binary sprites from 5 ground-truth factors, rendered in the graph
from the factor indices, or read from DeepMind's npz file when it is present."""
import math
import os

import numpy as np
import tensorflow.compat.v1 as tf

from common import SettingsError
from datasets.groundtruth import GroundTruth

tf.disable_v2_behavior()

# Factor sizes in DeepMind's order (color, shape, scale, orientation, posX, posY); posY varies fastest.
# color has a single value (white).
FACTOR_SIZES = (1, 3, 6, 40, 32, 32)
FACTOR_NAMES = ('color', 'shape', 'scale', 'orientation', 'x', 'y')
NUM_DSPRITES = int(np.prod(FACTOR_SIZES))  # 737,280
NUM_SHAPES = FACTOR_SIZES[1]     # square, ellipse, heart
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


def _shape_mask(shape, u, v):
    """The pixels inside unit shape `shape` (0 square, 1 ellipse, 2 heart) at sprite-frame coordinates u, v."""
    if shape == 0:
        return tf.maximum(tf.abs(u), tf.abs(v)) <= 1.0
    if shape == 1:
        return tf.square(u) + tf.square(v / 0.5) <= 1.0
    hx, hy = 1.15 * u, 0.1 - 1.15 * v      # heart coordinates, lobes up in the image
    lobe = tf.square(hx) + tf.square(hy) - 1.0
    return lobe * lobe * lobe <= tf.square(hx) * hy * hy * hy


def render_dsprites(classes):
    """Factor indices [n, 6] (int tensor) -> binary images [n, 64, 64, 1] float32.

    A pixel is on when its centre, moved into the sprite's frame (centred, unrotated, unscaled),
    lies inside the unit shape: square |u|,|v| <= 1; ellipse with semi-axes 1 and 0.5; heart
    (x^2 + y^2 - 1)^3 <= x^2 y^3. Each image's pixels are tested against its own shape alone: the batch is
    split by shape and stitched back, a third of the work of testing all three, which the training step
    would otherwise share its cores with.
    """
    classes = tf.cast(classes, tf.int32)
    values = [tf.constant(v, tf.float32) for v in factor_values()]
    shape = classes[:, 1]
    by_shape = [tf.dynamic_partition(tf.gather(values[f], classes[:, f])[:, None, None], shape, NUM_SHAPES)
                for f in (2, 3, 4, 5)]
    travel = DSPRITE_SIZE - 2 * SPRITE_MARGIN
    pixel = tf.range(DSPRITE_SIZE, dtype=tf.float32) + 0.5
    masks = []
    for kind, (scale, angle, pos_x, pos_y) in enumerate(zip(*by_shape)):
        dx = pixel[None, None, :] - (SPRITE_MARGIN + pos_x * travel)
        dy = pixel[None, :, None] - (SPRITE_MARGIN + pos_y * travel)
        radius = scale * SPRITE_HALF_SIZE
        u = (tf.cos(angle) * dx + tf.sin(angle) * dy) / radius
        v = (-tf.sin(angle) * dx + tf.cos(angle) * dy) / radius
        masks.append(tf.cast(_shape_mask(kind, u, v), tf.float32))
    positions = tf.dynamic_partition(tf.range(tf.shape(classes)[0]), shape, NUM_SHAPES)
    images = tf.dynamic_stitch(positions, masks)
    images.set_shape([classes.shape[0], DSPRITE_SIZE, DSPRITE_SIZE])
    return images[..., None]


def load_dsprites_npz(path, count=NUM_DSPRITES):
    """DeepMind's dSprites file of `count` images -> (images uint8 [count, 64, 64], factor indices [count, 6])."""
    with np.load(path) as archive:
        images, classes = archive['imgs'], archive['latents_classes']
    if images.shape != (count, DSPRITE_SIZE, DSPRITE_SIZE) or len(images) != len(classes):
        raise SettingsError('{} is not a dSprites file (imgs {} with {} factor rows): remove it to use '
                            'procedural dSprites'.format(path, images.shape, len(classes)))
    return images, classes


class DSprites(GroundTruth):
    """dSprites images by index: DeepMind's npz when it is present, else rendered. The one place that
    makes that choice; every pipeline and metric reads the images through it.

    Index i is the image with factor indices np.unravel_index(i, FACTOR_SIZES), in either source.
    """

    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    img_shape = (DSPRITE_SIZE, DSPRITE_SIZE, 1)

    def __init__(self, cfg, seed=0):
        super(DSprites, self).__init__(seed)
        self.npz_images = None
        if os.path.isfile(cfg.dsprites_npz_path):
            self.npz_images = load_dsprites_npz(cfg.dsprites_npz_path, self.count)[0]

    def _npz_float(self, indices):
        return self.npz_images[indices][..., None].astype(np.float32)

    def images_tensor(self, indices, seed=None):
        """Image indices (int64 tensor [n]) -> binary images [n, 64, 64, 1] float32; dSprites draws nothing."""
        if self.npz_images is None:
            return render_dsprites(_class_tensor(indices))
        images = tf.py_func(self._npz_float, [indices], tf.float32, stateful=False)
        images.set_shape([None, DSPRITE_SIZE, DSPRITE_SIZE, 1])
        return images

    def images(self, classes):
        if self.npz_images is not None:
            return self._npz_float(self.index(classes))
        return super(DSprites, self).images(classes)
