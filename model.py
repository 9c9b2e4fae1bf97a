"""The beta-VAE's networks: raw-op layers, the two architectures, encoding and decoding, and the
model's own checks of the settings."""
import collections
import contextlib
import functools

import numpy as np
import tensorflow.compat.v1 as tf

from common import SettingsError

tf.disable_v2_behavior()

# ---- layers: plain functions, each in its own variable scope ----

def _he_normal():
    """He et al. 2015: the original's initialiser of its encoder convolutions."""
    return tf.variance_scaling_initializer(scale=2.0)


def _glorot_uniform():
    """Glorot & Bengio 2010: TF1's default, which the original's transposed convs and dense layers kept."""
    return tf.glorot_uniform_initializer()


def _channels(x):
    return x.shape.as_list()[-1]


def _weight(name, shape, initializer, dtype):
    """A float32 variable, read in the layer's compute dtype: low-precision math, float32 updates."""
    variable = tf.get_variable(name, shape, initializer=initializer)
    return variable if dtype == tf.float32 else tf.cast(variable, dtype)


def conv2d(x, *, filters, kernel, stride, padding, name):
    with tf.variable_scope(name):
        w = _weight('kernel', [kernel, kernel, _channels(x), filters], _he_normal(), x.dtype)
        b = _weight('bias', [filters], tf.zeros_initializer(), x.dtype)
        return tf.nn.bias_add(tf.nn.conv2d(x, w, [1, stride, stride, 1], padding), b)


def conv2d_transpose(x, *, filters, kernel, stride, name):
    """SAME-padded transposed conv: output is `stride` times the input's height and width."""
    _, height, width, _ = x.shape.as_list()
    out_shape = [height * stride, width * stride, filters]
    with tf.variable_scope(name):
        w = _weight('kernel', [kernel, kernel, filters, _channels(x)], _glorot_uniform(), x.dtype)
        b = _weight('bias', [filters], tf.zeros_initializer(), x.dtype)
        y = tf.nn.conv2d_transpose(x, w, tf.stack([tf.shape(x)[0]] + out_shape), [1, stride, stride, 1], 'SAME')
        y.set_shape([None] + out_shape)
        return tf.nn.bias_add(y, b)


def dense(x, *, units, name):
    with tf.variable_scope(name):
        w = _weight('kernel', [_channels(x), units], _glorot_uniform(), x.dtype)
        b = _weight('bias', [units], tf.zeros_initializer(), x.dtype)
        return tf.nn.bias_add(tf.matmul(x, w), b)


_UPDATE_SINKS = []   # the lists of collected_updates blocks, innermost last


@contextlib.contextmanager
def collected_updates():
    """`with collected_updates() as updates:` the batch norms built inside the block put their
    moving-average update ops in the list `updates`, so a training step runs its own batch's updates,
    whatever else the graph holds."""
    updates = []
    _UPDATE_SINKS.append(updates)
    try:
        yield updates
    finally:
        _UPDATE_SINKS.pop()


def batch_norm(x, *, training, momentum, epsilon, name):
    """Fused batch norm over the last axis of a 2-D or NHWC tensor.

    Training normalises with batch statistics and queues moving-average updates in UPDATE_OPS and in the
    innermost collected_updates block; inference normalises with the moving averages. Scale, offset and
    statistics stay float32 whatever x's dtype.
    """
    channels = _channels(x)
    with tf.variable_scope(name):
        gamma = tf.get_variable('gamma', [channels], initializer=tf.ones_initializer())
        beta = tf.get_variable('beta', [channels], initializer=tf.zeros_initializer())
        moving_mean = tf.get_variable('moving_mean', [channels], initializer=tf.zeros_initializer(),
                                      trainable=False)
        moving_var = tf.get_variable('moving_variance', [channels], initializer=tf.ones_initializer(),
                                     trainable=False)
        x4 = x if x.shape.ndims == 4 else tf.reshape(x, [-1, 1, 1, channels])
        if training:
            y, mean, var = tf.nn.fused_batch_norm(x4, gamma, beta, epsilon=epsilon, is_training=True)
            for moving, batch_value in ((moving_mean, mean), (moving_var, var)):
                update = tf.assign_sub(moving, (moving - batch_value) * (1.0 - momentum))
                tf.add_to_collection(tf.GraphKeys.UPDATE_OPS, update)
                for sink in _UPDATE_SINKS[-1:]:
                    sink.append(update)
        else:
            y, _, _ = tf.nn.fused_batch_norm(x4, gamma, beta, mean=moving_mean, variance=moving_var,
                                             epsilon=epsilon, is_training=False)
        return y if x.shape.ndims == 4 else tf.reshape(y, [-1, channels])


def flatten(x):
    return tf.reshape(x, [-1, functools.reduce(lambda a, b: a * b, x.shape.as_list()[1:])])


# ---- architectures ----

def _valid_conv_size(size, kernel, stride):
    return (size - kernel) // stride + 1


def in_float32(x):
    """Inputs of the latent heads and the pixel layer: these few small layers compute in float32
    under any precision, since 8-bit mantissas on the latents and pixel logits cost loss
    (benchmarks/precision.py measures it; README, Performance)."""
    return tf.cast(x, tf.float32)


def _original_norm(cfg, training):
    return functools.partial(batch_norm, training=training, momentum=cfg.momentum, epsilon=cfg.epsilon)


def original_encoder(images, cfg, training):
    """The original project's CelebA encoder: 5x5 stride-2 VALID convs + BN + ReLU, BN'd dense heads."""
    norm = _original_norm(cfg, training)
    h = images
    for i, channels in enumerate(cfg.filters):
        h = conv2d(h, filters=channels, kernel=5, stride=2, padding='VALID', name='conv{}'.format(i))
        h = tf.nn.relu(norm(h, name='conv{}_bn'.format(i)))
    h = in_float32(flatten(h))
    z_mean = norm(dense(h, units=cfg.latent_dim, name='z_mean'), name='z_mean_bn')
    z_logvar = norm(dense(h, units=cfg.latent_dim, name='z_logvar'), name='z_logvar_bn')
    return z_mean, z_logvar


def original_decoder(z, cfg, training):
    """Dense to (H/16)x(W/16)x512 + BN, then 5x5 stride-2 transposed convs + BN + ReLU, 5x5 to pixels."""
    norm = _original_norm(cfg, training)
    height, width, channels = _decoder_start(cfg)
    h = norm(dense(z, units=height * width * channels, name='dense'), name='dense_bn')
    h = tf.reshape(h, [-1, height, width, channels])
    for i, out_channels in enumerate(reversed(cfg.filters)):
        h = conv2d_transpose(h, filters=out_channels, kernel=5, stride=2, name='deconv{}'.format(i))
        h = tf.nn.relu(norm(h, name='deconv{}_bn'.format(i)))
    return conv2d_transpose(in_float32(h), filters=cfg.img_shape[2], kernel=5, stride=1, name='to_pixels')


def burgess_encoder(images, cfg, training):
    """Burgess et al. 2018: 4x4 stride-2 convs, dense layers, one head for mean and log-variance."""
    del training  # no batch norm
    h = images
    for i, channels in enumerate(cfg.filters):
        h = tf.nn.relu(conv2d(h, filters=channels, kernel=4, stride=2, padding='SAME', name='conv{}'.format(i)))
    h = flatten(h)
    for i, units in enumerate(cfg.hidden_units):
        h = tf.nn.relu(dense(h, units=units, name='dense{}'.format(i)))
    z_mean, z_logvar = tf.split(dense(in_float32(h), units=2 * cfg.latent_dim, name='z_params'), 2, axis=1)
    return z_mean, z_logvar


def burgess_decoder(z, cfg, training):
    """Mirror of the encoder; the last 4x4 stride-2 transposed conv outputs pixel logits."""
    del training
    height, width, channels = _decoder_start(cfg)
    h = z
    for i, units in enumerate(reversed(cfg.hidden_units)):
        h = tf.nn.relu(dense(h, units=units, name='dense{}'.format(i)))
    h = tf.nn.relu(dense(h, units=height * width * channels, name='to_conv'))
    h = tf.reshape(h, [-1, height, width, channels])
    for i, out_channels in enumerate(reversed(cfg.filters[:-1])):
        h = tf.nn.relu(conv2d_transpose(h, filters=out_channels, kernel=4, stride=2, name='deconv{}'.format(i)))
    return conv2d_transpose(in_float32(h), filters=cfg.img_shape[2], kernel=4, stride=2, name='to_pixels')


def _decoder_start(cfg):
    """(height, width, channels) the decoder reshapes its dense output to."""
    scale = 2 ** len(cfg.filters)
    return cfg.img_shape[0] // scale, cfg.img_shape[1] // scale, cfg.filters[-1]


Architecture = collections.namedtuple('Architecture', 'encoder decoder encoder_valid_convs')
ARCHITECTURES = {
    'original': Architecture(original_encoder, original_decoder, encoder_valid_convs=True),
    'burgess': Architecture(burgess_encoder, burgess_decoder, encoder_valid_convs=False),
}


def check_geometry(cfg):
    """Raises SettingsError unless the filters' stride-2 chain fits img_shape."""
    height, width = cfg.img_shape[:2]
    scale = 2 ** len(cfg.filters)
    if height % scale or width % scale:
        raise SettingsError('filters: {} stride-2 layers need img_shape height and width divisible by {}, got '
                            '{}x{}; use fewer filters or another img_shape'.format(len(cfg.filters), scale, height,
                                                                                    width))
    if ARCHITECTURES[cfg.architecture].encoder_valid_convs:
        size = min(height, width)
        for _ in cfg.filters:
            size = _valid_conv_size(size, 5, 2)
        if size < 1:
            raise SettingsError('filters: {} VALID 5x5 stride-2 convs shrink {}x{} to nothing; use fewer '
                                'filters'.format(len(cfg.filters), height, width))


def check_settings(cfg):
    """The model's own checks of a run's settings: names it knows, a geometry it can build. SettingsError."""
    for name, known in (('architecture', ARCHITECTURES), ('precision', COMPUTE_DTYPES)):
        if getattr(cfg, name) not in known:
            raise SettingsError('{} must be one of {}, got {!r}'.format(name, ', '.join(sorted(known)),
                                                                        getattr(cfg, name)))
    if cfg.likelihood not in PIXEL_LOSSES:
        raise SettingsError('likelihood must be one of {}, got {!r}'.format(', '.join(sorted(PIXEL_LOSSES)),
                                                                             cfg.likelihood))
    check_geometry(cfg)


# ---- the likelihood p(x|z) and the KL to the prior p(z) = N(0, I): the ELBO's terms (Kingma & Welling 2014) ----

def gaussian_kl(z_mean, z_logvar):
    """KL(N(mean, exp(logvar)) || N(0, 1)) per image and latent dim, [B, M].

    Kingma & Welling 2014, Appendix B: -0.5 * (1 + logvar - mean^2 - exp(logvar)).
    """
    return 0.5 * (tf.square(z_mean) + tf.exp(z_logvar) - z_logvar - 1.0)


def squared_error(images, logits):
    """Gaussian likelihood up to constants: (x - sigmoid(logits))^2 per pixel."""
    return tf.squared_difference(images, tf.sigmoid(logits))


def bernoulli_nll(images, logits):
    """Bernoulli negative log-likelihood per pixel: cross-entropy of the logits with x."""
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=images, logits=logits)


PIXEL_LOSSES = {'gaussian': squared_error, 'bernoulli': bernoulli_nll}


def reconstruction_loss(images, logits, likelihood):
    """Mean over pixels and channels of the per-pixel error, [B]."""
    return tf.reduce_mean(PIXEL_LOSSES[likelihood](images, logits), axis=[1, 2, 3])


def num_pixels(img_shape):
    return img_shape[0] * img_shape[1] * img_shape[2]


# precision: the dtype the convolutions and matmuls compute in (all but the heads, see in_float32);
# variables, losses and updates stay float32.
COMPUTE_DTYPES = {'float32': tf.float32, 'bfloat16': tf.bfloat16, 'float16': tf.float16}


def encode(images, cfg, *, training):
    """Images [B, H, W, C] in [0, 1] -> float32 (z_mean, z_logvar), each [B, latent_dim]."""
    assert images.shape.as_list()[1:] == list(cfg.img_shape), images.shape
    with tf.variable_scope('encoder', reuse=tf.AUTO_REUSE):
        compute = tf.cast(images, COMPUTE_DTYPES[cfg.precision])
        z_mean, z_logvar = ARCHITECTURES[cfg.architecture].encoder(compute, cfg, training)
    assert z_mean.shape.as_list()[1:] == [cfg.latent_dim] and z_mean.dtype == tf.float32, z_mean
    return z_mean, z_logvar


def decode(z, cfg, *, training):
    """Latents [B, latent_dim] -> float32 pixel logits [B, H, W, C]."""
    with tf.variable_scope('decoder', reuse=tf.AUTO_REUSE):
        logits = ARCHITECTURES[cfg.architecture].decoder(tf.cast(z, COMPUTE_DTYPES[cfg.precision]), cfg, training)
    assert logits.shape.as_list()[1:] == list(cfg.img_shape) and logits.dtype == tf.float32, logits
    return logits


def reparameterize(z_mean, z_logvar):
    """z = mean + sigma * eps, eps ~ N(0, I) (Kingma & Welling 2014, eq. 10)."""
    return z_mean + tf.exp(0.5 * z_logvar) * tf.random_normal(tf.shape(z_mean))


# ---- quantized latents (Hsu et al. 2023, section 3): each dim takes one of a few learnable scalar values ----

CODEBOOK_SCOPE = 'latents'


def is_quantized(cfg):
    """Whether the model's latents are quantized: latent_values > 0 (the qlae and qlvae objectives)."""
    return cfg.latent_values > 0


def codebooks(cfg):
    """The learnt values, [latent_dim, latent_values]: one scalar codebook per dim, each first spread
    evenly over [-0.5, 0.5], as Hsu et al. 2023 initialise them."""
    initial = np.tile(np.linspace(-0.5, 0.5, cfg.latent_values, dtype=np.float32), (cfg.latent_dim, 1))
    with tf.variable_scope(CODEBOOK_SCOPE, reuse=tf.AUTO_REUSE):
        return tf.get_variable('codebooks', initializer=initial)


def nearest_values(z, values):
    """Each dim of z [B, M] rounded to the nearest of its own values [M, V]: (the values [B, M], their indices
    [B, M]). The rounding has no gradient; straight_through and the codebook losses give it one."""
    distance = tf.abs(z[:, :, None] - values[None])
    index = tf.argmin(distance, axis=2, output_type=tf.int32)
    dims = tf.tile(tf.range(tf.shape(values)[0])[None], [tf.shape(z)[0], 1])
    return tf.gather_nd(values, tf.stack([dims, index], axis=2)), index


def straight_through(z, quantized):
    """Hsu et al. 2023 (after van den Oord et al. 2017): the value of `quantized`, the gradient of z, so the
    encoder trains through the rounding."""
    return z + tf.stop_gradient(quantized - z)


def code(z_mean, cfg):
    """The code a trained model gives its images: the posterior mean, rounded to the learnt values where the
    latents are quantized."""
    return nearest_values(z_mean, codebooks(cfg))[0] if is_quantized(cfg) else z_mean


def build_sampler(z, cfg):
    """Decoded images in [0, 1] from latents, with batch norm on its moving averages."""
    return tf.sigmoid(decode(z, cfg, training=False), name='samples')
