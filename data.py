"""Every input pipeline, as tf.data in the graph: cropped CelebA JPEGs and a folder of your own pictures (the
files that imagefiles.py lists and checks), the datasets with known factors (the datasets/ package); and the
fixed held-out images that the pictures and metrics use."""
import collections
import os

import numpy as np
import tensorflow.compat.v1 as tf
import tensorflow.compat.v2 as tf2   # for image.resize(antialias=True), on both stacks, and do_not_convert

import imagefiles
from datasets import GROUND_TRUTH, open_ground_truth
from datasets.groundtruth import LABELLED_STREAM, TRAINING_STREAM, stream_seed
from datasets.labels import labelled_set
from datasets.pairs import changeable, pair_indices
from common import SettingsError
from hardware import session_config, training_device, usable_cores

tf.disable_v2_behavior()


def decode_celeba(path, crop, img_shape):
    """Reads a JPEG and decodes only the crop window [top, left, height, width]: float32 in [0, 1],
    resized (antialiased) to img_shape when the crop has another size, e.g. 128x128 -> 64x64."""
    image = tf.image.decode_and_crop_jpeg(tf.read_file(path), crop, channels=3)
    image.set_shape([crop[2], crop[3], 3])
    image = tf.image.convert_image_dtype(image, tf.float32)
    if (crop[2], crop[3]) != tuple(img_shape[:2]):
        image = resized(image, img_shape)
    return image


def resized(image, img_shape):
    """float32 [h, w, C] in [0, 1] -> [H, W, C] of img_shape, antialiased, still in [0, 1]."""
    image = tf2.image.resize(image, img_shape[:2], antialias=True)
    image.set_shape(list(img_shape[:2]) + [image.shape[-1]])
    return tf.clip_by_value(image, 0.0, 1.0)


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


def _index_dataset(num_items, batch_size, seed, start, shuffle):
    def generate():
        return index_batches(num_items, batch_size, seed=seed, start=start, shuffle=shuffle)
    return tf.data.Dataset.from_generator(generate, tf.int64, tf.TensorShape([batch_size]))


class FileList(object):
    """A list of image files (CelebA's or a folder's) and how to decode the i-th one in the graph."""

    def __init__(self, paths, split, cfg):
        self.paths = list(paths)
        self.cfg = cfg
        # The paths go into the graph as their common prefix and one joined string of the rest, cut by
        # numeric offsets. The first session run's set-up grows with the graph's string bytes, and a
        # string constant of 200,000 elements costs seconds more: this form costs a fraction of a second.
        encoded = [os.fsencode(p) for p in self.paths]
        self.prefix = os.path.commonprefix(encoded) if encoded else b''
        rests = [p[len(self.prefix):] for p in encoded]
        self.joined = b''.join(rests)
        self.lengths = np.array([len(p) for p in rests], dtype=np.int64)
        self.starts = np.cumsum(self.lengths) - self.lengths
        self.is_png = self.jpeg_ratios = None
        if split.details is not None:
            # Worked out here, not in decode: tf.data traces decode with autograph, which would convert a
            # Python loop over 200,000 files call by call (minutes at start-up).
            details = [split.details[p] for p in self.paths]
            self.is_png = np.array([fmt == 'png' for fmt, _ in details], dtype=bool)
            self.jpeg_ratios = imagefiles.jpeg_scales(np.array([size for _, size in details], dtype=np.int64).reshape(-1, 2),
                                           cfg.img_shape)

    def path(self, index):
        """int64 index tensor -> the index-th path, a string tensor."""
        rest = tf.strings.substr(tf.constant(self.joined), tf.gather(tf.constant(self.starts), index),
                                 tf.gather(tf.constant(self.lengths), index))
        return tf.strings.join([tf.constant(self.prefix), rest])

    def decode(self, index):
        """int64 index tensor -> (path, float32 image of img_shape in [0, 1])."""
        path = self.path(index)
        if self.is_png is None:
            return path, decode_celeba(path, self.cfg.data_crop, self.cfg.img_shape)
        is_png = tf.gather(tf.constant(self.is_png), index)
        ratio = tf.gather(tf.constant(self.jpeg_ratios), index)
        return path, decode_any_image(path, is_png, ratio, self.cfg.img_shape)


def traced_as_written(function):
    """`function` for tf.data to trace without autograph, where TensorFlow has the switch (2.x). The
    decodes branch with tf.case, not Python control flow, so autograph's conversion would change
    nothing and costs about half a second of every command's start."""
    do_not_convert = getattr(tf2.autograph.experimental, 'do_not_convert', None)
    return function if do_not_convert is None else do_not_convert(function)


def image_batches(files, cfg, *, start=0, shuffle=True, batch_size=None):
    """Batches of batch_size (default cfg.batch_size) images from `start` images into the epoch stream;
    undecodable files are dropped."""
    batch_size = batch_size or cfg.batch_size
    ds = _index_dataset(len(files.paths), batch_size, cfg.seed, start, shuffle)
    ds = ds.flat_map(tf.data.Dataset.from_tensor_slices)
    ds = ds.map(traced_as_written(lambda i: files.decode(i)[1]), num_parallel_calls=tf.data.experimental.AUTOTUNE)
    ds = ds.apply(tf.data.experimental.ignore_errors())
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.experimental.AUTOTUNE)


def named_batches(files, batch_size):
    """(file paths, images) batches of the files in order, for evaluation; one pass, bad files dropped."""
    ds = tf.data.Dataset.range(len(files.paths)).map(traced_as_written(files.decode),
                                                     num_parallel_calls=tf.data.experimental.AUTOTUNE)
    return without_autotuning(ds.apply(tf.data.experimental.ignore_errors()).batch(batch_size).prefetch(2))


def centre_crop_to_aspect(image, img_shape):
    """The largest centred window of `image` [h, w, C] with img_shape's height:width ratio."""
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    target_h, target_w = img_shape[0], img_shape[1]
    crop_h = tf.minimum(height, width * target_h // target_w)
    crop_w = tf.minimum(width, height * target_w // target_h)
    return tf.image.crop_to_bounding_box(image, (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w)


def decode_any_image(path, is_png, jpeg_ratio, img_shape):
    """A JPEG or PNG file of any size and mode (grayscale, palette, RGBA) -> float32 img_shape in [0, 1]:
    converted to img_shape's channels, centre-cropped to its aspect ratio, resized with antialiasing."""
    contents = tf.read_file(path)
    channels = img_shape[2]

    def jpeg(scale):
        return lambda: tf.image.decode_jpeg(contents, channels=channels, ratio=scale)

    branches = [(is_png, lambda: tf.image.decode_png(contents, channels=channels))]
    branches += [(tf.equal(jpeg_ratio, scale), jpeg(scale)) for scale in imagefiles.JPEG_SCALES]
    image = tf.case(branches, default=jpeg(1), exclusive=False)
    image.set_shape([None, None, channels])
    image = tf.image.convert_image_dtype(centre_crop_to_aspect(image, img_shape), tf.float32)
    return resized(image, img_shape)


# ---- one entry point for the training loop ----

def without_autotuning(dataset, options=None):
    """The dataset with tf.data's autotuning model off (and any other `options`). Its thread sleeps for a
    period that doubles up to a minute, and closing the session waits for it to wake, so a run would end
    (or stop on a signal) up to a minute late. Without it AUTOTUNE parallelism is the pool's size and
    prefetch buffers still grow on demand. Every pipeline a session of the project iterates goes through it."""
    options = options or tf.data.Options()
    if hasattr(options, 'autotune'):
        options.autotune.enabled = False
    else:                                       # TensorFlow 1.14's name
        options.experimental_optimization.autotune = False
    return dataset.with_options(options)


def on_host_cores(dataset, cores=None):
    """The pipeline on its own pool of all host cores, so decoding never waits behind the training
    step's ops in TensorFlow's shared pool; each op single-threaded, since parallel map calls
    already spread the images over the cores; without autotuning."""
    options = tf.data.Options()
    threading = getattr(options, 'threading', None) or options.experimental_threading  # TF 2.x / 1.14 name
    threading.private_threadpool_size = cores or usable_cores()
    threading.max_intra_op_parallelism = 1
    return without_autotuning(dataset, options)


def prefetched_to(dataset, device):
    """Batches copied to `device` ahead of the step that needs them; unchanged for device None."""
    return dataset if device is None else dataset.apply(tf.data.experimental.prefetch_to_device(device))


def factor_batches(cfg, *, start=0, shuffle=True, ground_truth=None, batch_size=None):
    """Batches of batch_size (default cfg.batch_size) images of a dataset with known factors from `start`
    images into the epoch stream: of `ground_truth`, a datasets.groundtruth.GroundTruth, or of cfg.dataset's. A
    batch's random appearance (the procedural dSprites') is drawn from its step, so a resumed run sees
    exactly the images it would have seen."""
    ground_truth = ground_truth or open_ground_truth(cfg)
    batch_size = batch_size or cfg.batch_size
    steps = tf.data.Dataset.range(start // batch_size, 2 ** 62)
    ds = tf.data.Dataset.zip((_index_dataset(ground_truth.count, batch_size, cfg.seed, start, shuffle), steps))
    return ds.map(lambda indices, step: ground_truth.images_tensor(indices, stream_seed(cfg.seed, TRAINING_STREAM, step)),
                  num_parallel_calls=tf.data.experimental.AUTOTUNE).prefetch(tf.data.experimental.AUTOTUNE)


# ---- the training input: one contract for every objective ----

# What one training step reads, as each objective declares it (objectives.Objective.reads), and the fields of
# its Batch record that carry it.
ONE_BATCH = 'one batch'                 # images [B]
TWO_BATCHES = 'two batches'             # images [B] and an independent second batch [B] (FactorVAE's discriminator)
PAIRS = 'pairs'                         # images [2B]: B first images, then their partners (datasets/pairs.py)
PAIRS_AND_CHANGES = 'pairs and changes'   # the pairs, and how many factors each pair differs in [B]
LABELLED = 'one batch and labels'       # images [B], and B images of the labelled set with their labels [B, K]
LABELLED_TWO_BATCHES = 'two batches and labels'   # the same beside a second batch (semi-supervised FactorVAE)
FIELDS = {ONE_BATCH: ('images',), TWO_BATCHES: ('images', 'second'), PAIRS: ('images',),
          PAIRS_AND_CHANGES: ('images', 'changed'), LABELLED: ('images', 'labelled', 'labels'),
          LABELLED_TWO_BATCHES: ('images', 'second', 'labelled', 'labels')}
READS = tuple(FIELDS)
UNLABELLED = {LABELLED: ONE_BATCH, LABELLED_TWO_BATCHES: TWO_BATCHES}   # what a labelled kind reads besides labels

# One training step's input, whatever the objective: the fields it does not read are None. count is the
# number of training images the batches are drawn from (beta-TCVAE weighs its estimate of q(z) by it).
# label_sizes: the values each label can take, [K] ints (the labelled set's), for the objectives that read labels.
Batch = collections.namedtuple('Batch', 'images second changed labelled labels count label_sizes')

# The training input of a run: the tf.data dataset of the steps' fields (a dict, FIELDS[reads]), the number
# of training images, the CelebA or folder Split (None for a dataset with factors), and the labelled set
# (datasets.labels.LabelledSet, None unless the objective reads labels).
TrainingInput = collections.namedtuple('TrainingInput', 'dataset count split labelled')


def images_read(reads, batch_size):
    """Images one training step reads: a second batch, a pair's partners and a labelled batch are images too."""
    return batch_size * {ONE_BATCH: 1, LABELLED: 2, LABELLED_TWO_BATCHES: 3}.get(reads, 2)


def images_trained(reads, batch_size):
    """Images the model's loss sees a step, the unit of image budgets and learning curves: a pair counts
    as two images, and so does an image beside a labelled one. FactorVAE's second batch reaches only its
    discriminator and is not counted, as the published step budgets count it."""
    return batch_size * (1 if reads in (ONE_BATCH, TWO_BATCHES) else 2)


SPLIT_FIELDS = {TWO_BATCHES: ('images', 'second'), LABELLED: ('images', 'labelled'),
                LABELLED_TWO_BATCHES: ('images', 'second', 'labelled')}


def step_fields(images, reads):
    """One step's images [images_read] as the image fields of its kind, in order (SPLIT_FIELDS): two batches
    split into images and second, a labelled batch after them; pairs stay whole."""
    names = SPLIT_FIELDS.get(reads, ('images',))
    return dict(zip(names, tf.split(images, len(names))))


def step_batch(element, count, label_sizes=None):
    """The Batch record of one element of a TrainingInput's dataset (and its count and label_sizes)."""
    return Batch(images=element['images'], second=element.get('second'), changed=element.get('changed'),
                 labelled=element.get('labelled'), labels=element.get('labels'), count=count,
                 label_sizes=label_sizes)


def training_input(cfg, reads, start_step=0):
    """The TrainingInput of every training step from `start_step` on, for an objective that reads `reads`.
    The data position is the step times the images a step reads, so a resumed run reads exactly the
    batches it would have read."""
    if reads in (PAIRS, PAIRS_AND_CHANGES):
        ground_truth = open_ground_truth(cfg)
        changeable(ground_truth, cfg.weak_k)     # a bad weak_k is a one-line error here, not one inside tf.data
        batches, count, split = pair_batches(cfg, start_step=start_step, ground_truth=ground_truth), ground_truth.count, None
        fields = FIELDS[reads]
        batches = batches.map(lambda element: {name: element[name] for name in fields})
    elif reads in UNLABELLED:
        ground_truth = open_ground_truth(cfg)
        batches, count, split = image_stream(cfg, start_step, UNLABELLED[reads], ground_truth)
        labelled = labelled_set(cfg, ground_truth)
        batches = tf.data.Dataset.zip((batches, labelled_batches(cfg, labelled, ground_truth, start_step))).map(
            lambda images, more: dict(images, **more))
        return TrainingInput(prefetched_to(on_host_cores(batches), training_device()), count, split, labelled)
    else:
        batches, count, split = image_stream(cfg, start_step, reads)
    return TrainingInput(prefetched_to(on_host_cores(batches), training_device()), count, split, None)


def labelled_batches(cfg, labelled, ground_truth, start_step=0):
    """{'labelled': [batch_size, H, W, C], 'labels': [batch_size, K]} for every step from `start_step` on: the
    datasets.labels.LabelledSet of `ground_truth` in its order, over and over, as disentanglement_lib repeats it."""
    indices = tf.constant(ground_truth.index(labelled.classes), tf.int64)
    labels = tf.constant(labelled.labels, tf.float32)

    def batch(step):
        rows = (step * cfg.batch_size + tf.range(cfg.batch_size, dtype=tf.int64)) % len(labelled.labels)
        return {'labelled': ground_truth.images_tensor(tf.gather(indices, rows),
                                                       stream_seed(cfg.seed, LABELLED_STREAM, step)),
                'labels': tf.gather(labels, rows)}
    return tf.data.Dataset.range(start_step, 2 ** 62).map(batch, num_parallel_calls=tf.data.experimental.AUTOTUNE)


def image_stream(cfg, start_step, reads, ground_truth=None):
    """(dataset of each step's step_fields, number of training images, Split or None), for an objective that
    reads one batch or two; of `ground_truth` where the caller has the dataset open already."""
    per_step = images_read(reads, cfg.batch_size)
    if cfg.dataset in GROUND_TRUTH:
        ground_truth, split = ground_truth or open_ground_truth(cfg), None
        count = ground_truth.count
    else:
        split = imagefiles.split_images(cfg, imagefiles.FileChecks(os.path.join(cfg.checkpoint_dir,
                                                                                imagefiles.CHECKS_FILE)))
        count = len(split.train)
    if count < per_step:
        what = ('batch_size {}'.format(cfg.batch_size) if per_step == cfg.batch_size
                else 'a step of two batches of batch_size {}'.format(cfg.batch_size))
        raise SettingsError('{} is larger than the {} usable training images{}: lower batch_size'.format(
            what, count, ' in ' + cfg.data_dir_path if split else ''))
    start = start_step * per_step
    if split is None:
        batches = factor_batches(cfg, start=start, ground_truth=ground_truth, batch_size=per_step)
    else:
        batches = image_batches(FileList(split.train, split, cfg), cfg, start=start, batch_size=per_step)
    return batches.map(lambda images: step_fields(images, reads)), count, split


def pair_batches(cfg, *, start_step=0, ground_truth=None):
    """Batches of cfg.batch_size pairs (datasets/pairs.py) from training step `start_step` on: {'images'
    [2 batch_size, H, W, C], the first images then their partners; 'changed' [batch_size], the number of
    factors each pair's images were drawn to differ in}."""
    ground_truth = ground_truth or open_ground_truth(cfg)

    def generate():
        return pair_indices(ground_truth, cfg.seed, start_step, cfg.batch_size, cfg.weak_k)
    ds = tf.data.Dataset.from_generator(generate, (tf.int64, tf.int64, tf.int32), (
        tf.TensorShape([]), tf.TensorShape([2 * cfg.batch_size]), tf.TensorShape([cfg.batch_size])))
    ds = ds.map(lambda step, indices, changed: {
        'images': ground_truth.images_tensor(indices, stream_seed(cfg.seed, TRAINING_STREAM, step)), 'changed': changed},
        num_parallel_calls=tf.data.experimental.AUTOTUNE)
    return ds.prefetch(tf.data.experimental.AUTOTUNE)


# ---- held-out data: the fixed images that pictures and metrics are made from ----

def held_out_batches(cfg, count, batch_size=256):
    """(file names or None, images) batches of the first `count` held-out images, always the same ones.

    CelebA and folders: the held-out split in file order (undecodable files left out), opening only the
    files it takes (first_held_out); a dataset with factors: a fixed sample of the factor grid.
    """
    if cfg.dataset in GROUND_TRUTH:
        ground_truth = open_ground_truth(cfg, seed=cfg.eval_seed)
        classes = ground_truth.held_out_classes(cfg.eval_seed, count)
        try:
            for start in range(0, count, batch_size):
                yield None, ground_truth.images(classes[start:start + batch_size])
        finally:
            ground_truth.close()
        return
    split = imagefiles.first_held_out(cfg, count)
    if not split.holdout:
        raise SettingsError('no held-out images in {}: raise holdout_percent'.format(cfg.data_dir_path))
    files = FileList(split.holdout, split, cfg)
    with tf.Graph().as_default():
        batch = tf.data.make_one_shot_iterator(named_batches(files, batch_size)).get_next()
        with tf.Session(config=session_config()) as sess:
            while True:
                try:
                    batch_paths, images = sess.run(batch)
                except tf.errors.OutOfRangeError:
                    return
                yield [os.path.basename(p.decode('utf-8')) for p in batch_paths], images


def held_out_images(cfg, count):
    """The first `count` held-out images, [count, H, W, C] in [0, 1] (fewer if there are fewer)."""
    if count == 0:
        return np.zeros([0] + list(cfg.img_shape), np.float32)
    return np.concatenate([images for _, images in held_out_batches(cfg, count)])[:count]
