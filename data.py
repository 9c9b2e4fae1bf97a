"""Input pipelines: cropped CelebA JPEGs and procedural (or DeepMind's) dSprites, as tf.data in the graph."""
import math
import os
import zlib

import numpy as np
import tensorflow.compat.v1 as tf

from settings import RAW_CELEBA_SHAPE, SettingsError

tf.disable_v2_behavior()

DOWNLOAD_HINT = 'python download_celebA.py'
PARTITION_FILE = 'list_eval_partition.txt'   # beside the image folder; partition 0 is the training split
ATTRIBUTE_FILE = 'list_attr_celeba.txt'      # beside the image folder: 40 binary attributes per image


class Split(object):
    """The images one run trains on and the ones it holds out."""

    def __init__(self, train, holdout, skipped=()):
        self.train = train
        self.holdout = holdout
        self.skipped = list(skipped)   # (file name, reason) of files that can not be used


# ---- CelebA ----

_SOF_MARKERS = frozenset([0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF])


def jpeg_size(path):
    """(height, width) from a JPEG's frame header, or a reason it is not a complete JPEG.

    Reads the markers up to the frame header and the file's tail, not the pixels, so scanning
    200k files takes seconds.
    """
    with open(path, 'rb') as f:
        head = f.read(2)
        if head != b'\xff\xd8':
            return 'not a JPEG' if head else 'empty file'
        size = None
        while size is None:
            marker = f.read(4)
            if len(marker) < 4 or marker[0] != 0xFF:
                return 'truncated or corrupt JPEG header'
            length = (marker[2] << 8) | marker[3]
            if marker[1] in _SOF_MARKERS:
                frame = f.read(5)
                if len(frame) < 5:
                    return 'truncated JPEG header'
                size = ((frame[1] << 8) | frame[2], (frame[3] << 8) | frame[4])
            else:
                f.seek(length - 2, os.SEEK_CUR)
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 64))
        if b'\xff\xd9' not in f.read():
            return 'truncated JPEG (no end-of-image marker)'
    return size


def _held_out(name, percent):
    """Deterministic: the same file is held out on every machine, whatever else is in the folder."""
    return zlib.crc32(name.encode('utf-8')) % 10000 < percent * 100


def beside_images(data_dir, name):
    """The path of a CelebA list file that sits beside the image folder."""
    return os.path.join(os.path.dirname(os.path.normpath(data_dir)), name)


def _read_partitions(path):
    partitions = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                partitions[parts[0]] = int(parts[1])
    return partitions


def split_celeba(data_dir, holdout_percent):
    """Lists the usable .jpg files of data_dir and splits them into training and held-out images."""
    if not os.path.isdir(data_dir):
        raise SettingsError('CelebA folder {} does not exist: run `{}` or set data_dir_path'.format(
            data_dir, DOWNLOAD_HINT))
    names = sorted(n for n in os.listdir(data_dir) if n.lower().endswith('.jpg'))
    if not names:
        raise SettingsError('CelebA folder {} has no .jpg files: run `{}` or set data_dir_path'.format(
            data_dir, DOWNLOAD_HINT))
    usable, skipped = [], []
    for name in names:
        size = jpeg_size(os.path.join(data_dir, name))
        if size == RAW_CELEBA_SHAPE:
            usable.append(name)
        else:
            reason = size if isinstance(size, str) else 'size {}x{}, not the aligned {}x{}'.format(
                size[0], size[1], *RAW_CELEBA_SHAPE)
            skipped.append((name, reason))
    partition_path = beside_images(data_dir, PARTITION_FILE)
    partitions = _read_partitions(partition_path) if os.path.isfile(partition_path) else {}

    def is_holdout(name):
        if name in partitions:
            return partitions[name] != 0
        return _held_out(name, holdout_percent)

    paths = [os.path.join(data_dir, n) for n in usable]
    return Split(train=[p for p, n in zip(paths, usable) if not is_holdout(n)],
                 holdout=[p for p, n in zip(paths, usable) if is_holdout(n)],
                 skipped=skipped)


def decode_celeba(path, crop):
    """Reads a JPEG and decodes only the crop window [top, left, height, width]: float32 in [0, 1]."""
    image = tf.image.decode_and_crop_jpeg(tf.read_file(path), crop, channels=3)
    image.set_shape([crop[2], crop[3], 3])
    return tf.image.convert_image_dtype(image, tf.float32)


def index_batches(num_items, batch_size, *, seed, start=0, shuffle=True):
    """Endless batches of item indices, starting `start` items into the stream.

    Epoch e visits the items in np.random.RandomState([seed, e]).permutation(num_items) order, so the
    stream depends only on (seed, position): a run resumed at step s continues with exactly the
    images it would have seen, with no iterator state in the checkpoint.
    """
    epoch, offset = divmod(start, num_items)
    pending = np.zeros(0, np.int64)
    while True:
        order = np.random.RandomState([seed, epoch]).permutation(num_items) if shuffle else np.arange(num_items)
        pending = np.concatenate([pending, order[offset:]])
        epoch, offset = epoch + 1, 0
        while len(pending) >= batch_size:
            yield pending[:batch_size]
            pending = pending[batch_size:]


def _index_dataset(num_items, cfg, start, shuffle):
    def generate():
        return index_batches(num_items, cfg.batch_size, seed=cfg.seed, start=start, shuffle=shuffle)
    return tf.data.Dataset.from_generator(generate, tf.int64, tf.TensorShape([cfg.batch_size]))


def celeba_dataset(paths, cfg, *, start=0, shuffle=True):
    """Batches of cropped images from `start` images into the epoch stream; undecodable files are dropped."""
    path_table = tf.constant(paths)
    ds = _index_dataset(len(paths), cfg, start, shuffle).flat_map(tf.data.Dataset.from_tensor_slices)
    ds = ds.map(lambda i: decode_celeba(tf.gather(path_table, i), cfg.data_crop),
                num_parallel_calls=tf.data.experimental.AUTOTUNE)
    ds = ds.apply(tf.data.experimental.ignore_errors())
    return ds.batch(cfg.batch_size, drop_remainder=True).prefetch(tf.data.experimental.AUTOTUNE)


def celeba_holdout_batches(paths, cfg, batch_size):
    """(file names, cropped images) batches of held-out files in order, for evaluation; one pass."""
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(paths))
    ds = ds.map(lambda p: (p, decode_celeba(p, cfg.data_crop)), num_parallel_calls=tf.data.experimental.AUTOTUNE)
    ds = ds.apply(tf.data.experimental.ignore_errors()).batch(batch_size).prefetch(2)
    return ds


def read_attributes(path):
    """CelebA's list_attr_celeba.txt -> (attribute names, {file name: bool array})."""
    with open(path) as f:
        f.readline()                                  # the number of images
        names = f.readline().split()
        rows = {}
        for line in f:
            parts = line.split()
            if len(parts) == len(names) + 1:
                rows[parts[0]] = np.array([value == '1' for value in parts[1:]])
    return names, rows


# ---- dSprites ----

# Factors in DeepMind's order; posY varies fastest. color has a single value (white).
FACTOR_NAMES = ('color', 'shape', 'scale', 'orientation', 'posX', 'posY')
FACTOR_SIZES = (1, 3, 6, 40, 32, 32)
NUM_DSPRITES = int(np.prod(FACTOR_SIZES))  # 737,280
SHAPES = ('square', 'ellipse', 'heart')
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


def render_dsprites(classes):
    """Factor indices [n, 6] (int tensor) -> binary images [n, 64, 64, 1] float32.

    A pixel is on when its centre, moved into the sprite's frame (centred, unrotated, unscaled),
    lies inside the unit shape: square |u|,|v| <= 1; ellipse with semi-axes 1 and 0.5; heart
    (x^2 + y^2 - 1)^3 <= x^2 y^3.
    """
    classes = tf.cast(classes, tf.int32)
    values = [tf.constant(v, tf.float32) for v in factor_values()]
    shape = classes[:, 1]
    scale, angle, pos_x, pos_y = [tf.gather(values[f], classes[:, f])[:, None, None] for f in (2, 3, 4, 5)]
    travel = DSPRITE_SIZE - 2 * SPRITE_MARGIN
    centre_x = SPRITE_MARGIN + pos_x * travel
    centre_y = SPRITE_MARGIN + pos_y * travel
    pixel = tf.range(DSPRITE_SIZE, dtype=tf.float32) + 0.5
    dx = pixel[None, None, :] - centre_x
    dy = pixel[None, :, None] - centre_y
    radius = scale * SPRITE_HALF_SIZE
    u = (tf.cos(angle) * dx + tf.sin(angle) * dy) / radius
    v = (-tf.sin(angle) * dx + tf.cos(angle) * dy) / radius
    square = tf.maximum(tf.abs(u), tf.abs(v)) <= 1.0
    ellipse = tf.square(u) + tf.square(v / 0.5) <= 1.0
    hx, hy = 1.15 * u, 0.1 - 1.15 * v      # heart coordinates, lobes up in the image
    lobe = tf.square(hx) + tf.square(hy) - 1.0
    heart = lobe * lobe * lobe <= tf.square(hx) * hy * hy * hy
    which = tf.broadcast_to(shape[:, None, None], tf.shape(square))
    inside = tf.where(tf.equal(which, 0), square, tf.where(tf.equal(which, 1), ellipse, heart))
    return tf.cast(inside, tf.float32)[..., None]


def load_dsprites_npz(path):
    """DeepMind's dSprites file -> (images uint8 [n, 64, 64], factor indices [n, 6])."""
    with np.load(path) as archive:
        images, classes = archive['imgs'], archive['latents_classes']
    if images.shape[1:] != (DSPRITE_SIZE, DSPRITE_SIZE) or len(images) != len(classes):
        raise SettingsError('{} is not a dSprites file (imgs {} with {} factor rows): remove it to use '
                            'procedural dSprites'.format(path, images.shape, len(classes)))
    return images, classes


def dsprites_dataset(cfg, *, start=0, shuffle=True):
    """Batches of [B, 64, 64, 1] sprites: rendered in the graph, or from DeepMind's npz when present."""
    if os.path.isfile(cfg.dsprites_npz_path):
        return _npz_dataset(load_dsprites_npz(cfg.dsprites_npz_path)[0], cfg, start, shuffle)
    ds = _index_dataset(NUM_DSPRITES, cfg, start, shuffle)
    ds = ds.map(lambda index: render_dsprites(_class_tensor(index)),
                num_parallel_calls=tf.data.experimental.AUTOTUNE)
    return ds.prefetch(tf.data.experimental.AUTOTUNE)


def _npz_dataset(images, cfg, start, shuffle):
    def generate():
        for batch in index_batches(len(images), cfg.batch_size, seed=cfg.seed, start=start, shuffle=shuffle):
            yield images[batch]

    ds = tf.data.Dataset.from_generator(generate, tf.uint8, tf.TensorShape([cfg.batch_size, 64, 64]))
    return ds.map(lambda b: tf.cast(b, tf.float32)[..., None]).prefetch(tf.data.experimental.AUTOTUNE)


# ---- one entry point for the training loop ----

def on_host_cores(dataset, cores=None):
    """The pipeline on its own pool of all host cores, so decoding never waits behind the training
    step's ops in TensorFlow's shared pool; each op single-threaded, since parallel map calls
    already spread the images over the cores."""
    options = tf.data.Options()
    threading = getattr(options, 'threading', None) or options.experimental_threading  # TF 2.x / 1.14 name
    threading.private_threadpool_size = cores or os.cpu_count() or 1
    threading.max_intra_op_parallelism = 1
    return dataset.with_options(options)


def training_device():
    """'/gpu:0' when TensorFlow sees a GPU, else None (the batches stay on the host)."""
    return '/gpu:0' if tf.config.experimental.list_physical_devices('GPU') else None


def prefetched_to(dataset, device):
    """Batches copied to `device` ahead of the step that needs them; unchanged for device None."""
    return dataset if device is None else dataset.apply(tf.data.experimental.prefetch_to_device(device))


def training_data(cfg, start_step=0):
    """(dataset of training batches from `start_step` on, number of training images, Split or None)."""
    if cfg.dataset == 'dsprites':
        num_images, split = NUM_DSPRITES, None
    else:
        split = split_celeba(cfg.data_dir_path, cfg.holdout_percent)
        num_images = len(split.train)
    if num_images < cfg.batch_size:
        raise SettingsError('batch_size {} is larger than the {} usable training images{}: lower batch_size'.format(
            cfg.batch_size, num_images, ' in ' + cfg.data_dir_path if split else ''))
    start = start_step * cfg.batch_size
    if split is None:
        batches = dsprites_dataset(cfg, start=start)
    else:
        batches = celeba_dataset(split.train, cfg, start=start)
    return prefetched_to(on_host_cores(batches), training_device()), num_images, split
