"""Training graphs without an input pipeline: a constant data.Batch shaped for any objective."""
import numpy as np
import tensorflow.compat.v1 as tf

import data
import objectives

DSPRITES_IMAGES = 737280    # the count beta-TCVAE's estimate of q(z) is weighed by, where no dataset is read


DSPRITES_LABEL_SIZES = [3, 6, 40, 32, 32]   # the values of dSprites' scored factors, as perfect labels hold them


def training_batch(cfg, images, count=DSPRITES_IMAGES, changed=None, label_sizes=DSPRITES_LABEL_SIZES):
    """The data.Batch of cfg's objective made of `images` [data.images_read, H, W, C]: split into a second batch
    and a labelled one or kept whole as pairs, as the objective reads them; `changed` [batch_size] defaults to
    one factor a pair; labels are drawn within label_sizes with seed 0."""
    reads = objectives.get(cfg.objective).reads
    assert images.shape.as_list()[0] == data.images_read(reads, cfg.batch_size), (images.shape, reads)
    element = data.step_fields(images, reads)
    if reads == data.PAIRS_AND_CHANGES:
        element['changed'] = tf.ones([cfg.batch_size], tf.int32) if changed is None else changed
    if reads in data.UNLABELLED:
        rng = np.random.RandomState(0)
        element['labels'] = tf.constant(np.stack([rng.randint(size, size=cfg.batch_size) for size in label_sizes],
                                                 axis=1).astype(np.float32))
        return data.step_batch(element, count, list(label_sizes))
    return data.step_batch(element, count)


def random_images(cfg, seed=0):
    """A constant batch of random pixels in [0, 1], as many as one step of cfg's objective reads."""
    count = data.images_read(objectives.get(cfg.objective).reads, cfg.batch_size)
    return tf.constant(np.random.RandomState(seed).rand(*([count] + list(cfg.img_shape))).astype(np.float32))


def binary_images(cfg, seed=1):
    """Random black-and-white images, about a fifth of the pixels on (dSprites-like), one step's worth."""
    count = data.images_read(objectives.get(cfg.objective).reads, cfg.batch_size)
    return tf.cast(tf.random_uniform([count] + list(cfg.img_shape), seed=seed) > 0.8, tf.float32)
