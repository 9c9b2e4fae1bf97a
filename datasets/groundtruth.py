"""The one interface of a dataset with known factors (Locatello et al. 2019's ground-truth data): its factor
names and sizes, the images for a batch of factor indices, uniform samples of factor indices and a fixed
held-out sample. Training, --evaluate, --traverse, --explore, the study and UDR read every such dataset
through it, and nothing else.

Image index i is always the image with factor indices np.unravel_index(i, factor_sizes): row-major, the
last factor fastest, as every published file of these datasets is laid out (or is put in order at load)."""
import os

import numpy as np
import tensorflow.compat.v1 as tf

from common import SettingsError
from hardware import session_config

tf.disable_v2_behavior()

HELD_OUT_SEED = 99   # seeds the fixed sample of the factor grid that stands in for held-out images

# Random appearance (the procedural dSprites' colours, noise and patches) is drawn with stateless ops from a
# seed pair [seed, stream << 32 | n]: a training batch's from its step, so a resumed run draws what it would
# have drawn; --evaluate's from the order of its draws, so its scores are reproducible.
TRAINING_STREAM, DRAW_STREAM, INDEX_ORDER_STREAM, LABELLED_STREAM = 0, 1, 2, 3
BYTE_SCALE = np.float32(1.0 / 255.0)   # uint8 -> [0, 1], the same product in the graph and in numpy


def stream_seed(seed, stream, n):
    """The stateless seed pair of the n-th batch of a stream (n may be an int64 tensor)."""
    return tf.stack([tf.cast(seed, tf.int64), tf.cast(stream, tf.int64) * 2 ** 32 + tf.cast(n, tf.int64)])


class GroundTruth(object):
    """A dataset with known factors. A subclass names its factors and sizes and says how to make the images of a
    batch of image indices in the graph (images_tensor); the rest follows from those."""

    factor_names = ()
    factor_sizes = ()
    unscored = ()            # factors the metrics leave out besides single-valued ones (SmallNORB's instance)
    img_shape = (64, 64, 3)

    def __init__(self, seed=0):
        self.seed = seed          # of the random appearance that images() draws
        self._draws = 0
        self._session = None

    @property
    def count(self):
        """The number of images: one for each combination of factor values."""
        return int(np.prod(self.factor_sizes))

    @property
    def scored(self):
        """The factors the metrics score: every factor with more than one value, but the unscored."""
        return [i for i, size in enumerate(self.factor_sizes) if size > 1 and i not in self.unscored]

    def index(self, classes):
        """Factor indices [n, F] -> image indices [n]."""
        return np.ravel_multi_index(np.asarray(classes).T, self.factor_sizes)

    def classes(self, indices):
        """Image indices [n] -> factor indices [n, F]."""
        return np.stack(np.unravel_index(np.asarray(indices), self.factor_sizes), axis=1)

    def sample(self, rng, count):
        """`count` factor-index rows drawn uniformly from the grid with numpy RandomState `rng`."""
        return np.stack([rng.randint(0, size, count) for size in self.factor_sizes], axis=1)

    def held_out_classes(self, eval_seed, count):
        """Factor indices [count, F] of the held-out images: a fixed sample of the grid, drawn an image at a time
        (row-major), so a smaller count gives the first images of a larger one."""
        rng = np.random.RandomState([eval_seed, HELD_OUT_SEED])
        return (rng.random_sample((count, len(self.factor_sizes))) * self.factor_sizes).astype(np.int64)

    def images_tensor(self, indices, seed):
        """Image indices (int64 tensor [n]) and a stateless seed pair -> images [n, H, W, C] float32 in [0, 1]."""
        raise NotImplementedError

    def images(self, classes):
        """Factor indices [n, F] (numpy) -> images [n, H, W, C] float32 in [0, 1] (numpy)."""
        if self._session is None:
            graph = tf.Graph()
            with graph.as_default():
                self._indices = tf.placeholder(tf.int64, [None])
                self._draw = tf.placeholder(tf.int64, [])
                self._images = self.images_tensor(self._indices, stream_seed(self.seed, DRAW_STREAM, self._draw))
            self._session = tf.Session(graph=graph, config=session_config())
        self._draws += 1
        return self._session.run(self._images, {self._indices: self.index(classes), self._draw: self._draws})

    def in_index_order(self, batch_size):
        """tf.data of every image, index 0 first, in batches of batch_size (the last one smaller)."""
        ds = tf.data.Dataset.range(self.count).batch(batch_size)
        ds = tf.data.Dataset.zip((ds, tf.data.Dataset.range(self.count)))
        ds = ds.map(lambda indices, n: self.images_tensor(indices, stream_seed(self.seed, INDEX_ORDER_STREAM, n)),
                    num_parallel_calls=tf.data.experimental.AUTOTUNE)
        return ds.prefetch(2)

    def close(self):
        if self._session is not None:
            self._session.close()
            self._session = None


class ArrayGroundTruth(GroundTruth):
    """A dataset whose images are a uint8 array [count, H, W, C] in index order: a memory map of the file
    where its layout allows, else read into memory once. Never converted to float as a whole: a batch is cast
    after it is gathered."""

    def __init__(self, array, seed=0):
        super(ArrayGroundTruth, self).__init__(seed)
        assert array.shape == (self.count,) + tuple(self.img_shape) and array.dtype == np.uint8, array.shape
        self.array = array

    def _gather(self, indices):
        return self.array[indices]

    def images_tensor(self, indices, seed=None):
        pixels = tf.py_func(self._gather, [indices], tf.uint8, stateful=False)
        pixels.set_shape([None] + list(self.img_shape))
        return tf.cast(pixels, tf.float32) * BYTE_SCALE

    def images(self, classes):
        return self.array[self.index(classes)].astype(np.float32) * BYTE_SCALE


# ---- the data files: where they go, and one line for every way they can be wrong ----

def required_file(folder, name, source):
    """The path of `name` in `folder`; a missing file is a one-line error that says where it goes and where
    to get it."""
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        raise SettingsError('no {}: put {} there ({}), or point --data_dir_path at its folder'.format(
            path, name, source))
    return path


def expect(condition, path, expected, found):
    """A file that is not what the dataset needs is a one-line error naming it, what was expected and found."""
    if not condition:
        raise SettingsError('{} is not the expected file: expected {}, found {}'.format(path, expected, found))


def grid_index(path, classes, sizes):
    """The row-major image index [n] of each row of factor indices read from a file's labels [n, F], which
    must cover the grid exactly once; else a one-line error."""
    classes = np.asarray(classes, np.int64)
    inside = classes.shape == (int(np.prod(sizes)), len(sizes)) and (classes >= 0).all() and \
        (classes < np.asarray(sizes)).all()
    index = np.ravel_multi_index(classes.T, sizes) if inside else None
    if not inside or len(np.unique(index)) != len(index):
        raise SettingsError('{}: its labels do not match the factor grid {} (each combination once): is it '
                            'the published file?'.format(path, 'x'.join(str(s) for s in sizes)))
    return index
