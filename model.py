"""The beta-VAE graph: raw-op layers, the two architectures, and each term of the objective."""
import collections
import functools

import tensorflow.compat.v1 as tf

tf.disable_v2_behavior()

# kl_weight's unit: the original weighed the KL against the reconstruction error summed over its
# 32-image batch, so the per-image weight is kl_weight / KL_UNIT_BATCH whatever batch_size is.
KL_UNIT_BATCH = 32


# ---- layers: plain functions, each in its own variable scope ----

def _he_normal():
    return tf.variance_scaling_initializer(scale=2.0)  # He et al. 2015, as the original used


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
        w = _weight('kernel', [kernel, kernel, filters, _channels(x)], _he_normal(), x.dtype)
        b = _weight('bias', [filters], tf.zeros_initializer(), x.dtype)
        y = tf.nn.conv2d_transpose(x, w, tf.stack([tf.shape(x)[0]] + out_shape), [1, stride, stride, 1], 'SAME')
        y.set_shape([None] + out_shape)
        return tf.nn.bias_add(y, b)


def dense(x, *, units, name):
    with tf.variable_scope(name):
        w = _weight('kernel', [_channels(x), units], _he_normal(), x.dtype)
        b = _weight('bias', [units], tf.zeros_initializer(), x.dtype)
        return tf.nn.bias_add(tf.matmul(x, w), b)


def batch_norm(x, *, training, momentum, epsilon, name):
    """Fused batch norm over the last axis of a 2-D or NHWC tensor.

    Training normalises with batch statistics and queues moving-average updates in UPDATE_OPS;
    inference normalises with the moving averages. Scale, offset and statistics stay float32
    whatever x's dtype.
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
    (benchmarks/precision.py measured +1% on dSprites when they too ran in bfloat16)."""
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
    """None if the filters' stride-2 chain fits img_shape, else a one-line reason."""
    height, width = cfg.img_shape[:2]
    scale = 2 ** len(cfg.filters)
    if height % scale or width % scale:
        return ('filters: {} stride-2 layers need img_shape height and width divisible by {}, got {}x{}; '
                'use fewer filters or another img_shape'.format(len(cfg.filters), scale, height, width))
    if ARCHITECTURES[cfg.architecture].encoder_valid_convs:
        size = min(height, width)
        for _ in cfg.filters:
            size = _valid_conv_size(size, 5, 2)
        if size < 1:
            return 'filters: {} VALID 5x5 stride-2 convs shrink {}x{} to nothing; use fewer filters'.format(
                len(cfg.filters), height, width)
    return None


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


# ---- the objective ----

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


def beta_vae_loss(reconstruction, kl_per_dim, kl_weight):
    """Higgins et al. 2017, eq. 4 normalised: mean over the batch of rec + kl_weight/32 * mean_dims(KL).

    reconstruction [B] is the per-pixel mean error, kl_per_dim [B, M] the per-latent KL; the per-image
    trade-off kl_weight/32 (beta_norm per 32 images) does not depend on the batch size.
    """
    kl = tf.reduce_mean(kl_per_dim, axis=1)
    return tf.reduce_mean(reconstruction + (kl_weight / KL_UNIT_BATCH) * kl)


def capacity_schedule(step, capacity_max, capacity_steps):
    """Burgess et al. 2018, section 5: the KL target C rises linearly from 0 to capacity_max nats."""
    progress = tf.minimum(1.0, tf.cast(step, tf.float32) / float(capacity_steps))
    return tf.multiply(float(capacity_max), progress, name='capacity')


def capacity_loss(reconstruction, kl_per_dim, gamma, capacity, num_pixels):
    """Burgess et al. 2018, eq. 8, per pixel: mean over the batch of rec + gamma/N * |sum_dims(KL) - C|.

    gamma is in the usual units (against the summed error), C in nats per image.
    """
    kl = tf.reduce_sum(kl_per_dim, axis=1)
    return tf.reduce_mean(reconstruction + (gamma / num_pixels) * tf.abs(kl - capacity))


def equivalent_beta(kl_weight, img_shape, latent_dim):
    """beta in the usual units (summed error per image against summed KL): kl_weight/32 * N/M."""
    return kl_weight / KL_UNIT_BATCH * _num_pixels(img_shape) / latent_dim


def _num_pixels(img_shape):
    return img_shape[0] * img_shape[1] * img_shape[2]


# ---- graphs ----

TrainGraph = collections.namedtuple('TrainGraph', 'train_op global_step total reconstruction kl summaries '
                                                 'image_summaries')


def build_training(images, cfg):
    """The training step on a batch of images: losses, Adam update, BN updates and summaries."""
    global_step = tf.train.get_or_create_global_step()
    z_mean, z_logvar = encode(images, cfg, training=True)
    logits = decode(reparameterize(z_mean, z_logvar), cfg, training=True)

    with tf.name_scope('objective'):
        reconstruction = reconstruction_loss(images, logits, cfg.likelihood)
        kl_per_dim = gaussian_kl(z_mean, z_logvar)
        if cfg.objective == 'capacity':
            capacity = capacity_schedule(global_step, cfg.capacity_max, cfg.capacity_steps)
            objective = capacity_loss(reconstruction, kl_per_dim, cfg.capacity_gamma, capacity,
                                      _num_pixels(cfg.img_shape))
        else:
            capacity = None
            objective = beta_vae_loss(reconstruction, kl_per_dim, cfg.kl_weight)
        total = tf.identity(objective, name='total')
        mean_reconstruction = tf.reduce_mean(reconstruction, name='reconstruction')
        mean_kl_per_dim = tf.reduce_mean(kl_per_dim, axis=0, name='kl_per_dim')
        mean_kl = tf.reduce_mean(mean_kl_per_dim, name='kl')

    optimizer = tf.train.AdamOptimizer(cfg.initial_learning_rate, beta1=cfg.beta1, beta2=cfg.beta2)
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
        if cfg.precision == 'float16':
            train_op = minimize_with_loss_scale(optimizer, total, global_step)
        else:
            train_op = optimizer.minimize(total, global_step=global_step, name='train_op')

    summaries = [tf.summary.scalar('loss/total', total),
                 tf.summary.scalar('loss/reconstruction', mean_reconstruction),
                 tf.summary.scalar('loss/kl', mean_kl),
                 tf.summary.histogram('z_mean', z_mean),
                 tf.summary.histogram('z_logvar', z_logvar)]
    summaries += [tf.summary.scalar('kl_per_dim/{:02d}'.format(d), mean_kl_per_dim[d])
                  for d in range(cfg.latent_dim)]
    if capacity is not None:
        summaries.append(tf.summary.scalar('loss/capacity', capacity))
    image_summaries = [tf.summary.image('reals', images, max_outputs=8),
                       tf.summary.image('reconstructions', tf.sigmoid(logits), max_outputs=8)]
    return TrainGraph(train_op, global_step, total, mean_reconstruction, mean_kl, tf.summary.merge(summaries),
                      image_summaries)


# ---- float16: dynamic loss scaling (Micikevicius et al. 2018, section 3.2) ----

LOSS_SCALE_INITIAL = 2.0 ** 15     # first scale of the loss before backprop
LOSS_SCALE_GROWTH_STEPS = 2000     # finite steps in a row after which the scale doubles
LOSS_SCALE_SCOPE = 'loss_scale'    # its state; a run resumed in float16 from another precision starts it afresh


def next_loss_scale(scale, good_steps, finite, growth_steps):
    """(scale, good_steps) after a step: halved (at least 1) on non-finite gradients, doubled after
    growth_steps finite steps in a row."""
    good_steps = tf.where(finite, good_steps + 1, tf.zeros_like(good_steps))
    grow = good_steps >= growth_steps
    scale = tf.where(finite, tf.where(grow, scale * 2.0, scale), tf.maximum(scale / 2.0, 1.0))
    return scale, tf.where(grow, tf.zeros_like(good_steps), good_steps)


def minimize_with_loss_scale(optimizer, loss, global_step, growth_steps=LOSS_SCALE_GROWTH_STEPS):
    """One step on loss * scale, so small float16 gradients do not flush to zero; the gradients are
    unscaled in float32, and a step whose gradients overflowed is skipped (the weights and Adam's
    state stay as they were) but still counts, so the step keeps matching the data position."""
    with tf.variable_scope(LOSS_SCALE_SCOPE):
        scale = tf.get_variable('scale', [], initializer=tf.constant_initializer(LOSS_SCALE_INITIAL),
                                trainable=False)
        good_steps = tf.get_variable('good_steps', [], tf.int32, initializer=tf.zeros_initializer(),
                                     trainable=False)
    scaled = optimizer.compute_gradients(loss * scale)
    grads_and_vars = [(grad / scale, var) for grad, var in scaled if grad is not None]
    finite = tf.reduce_all([tf.reduce_all(tf.is_finite(grad)) for grad, _ in grads_and_vars])

    def apply():
        with tf.name_scope(None):   # Adam's variables get the names of a float32 run's, not cond/...
            update = optimizer.apply_gradients(grads_and_vars)
        with tf.control_dependencies([update]):
            return tf.constant(True)

    applied = tf.cond(finite, apply, lambda: tf.constant(False))
    new_scale, new_good_steps = next_loss_scale(scale, good_steps, applied, growth_steps)
    return tf.group(tf.assign(scale, new_scale), tf.assign(good_steps, new_good_steps),
                    tf.assign_add(global_step, 1), name='train_op')


def build_sampler(z, cfg):
    """Decoded images in [0, 1] from latents, with batch norm on its moving averages."""
    return tf.sigmoid(decode(z, cfg, training=False), name='samples')
