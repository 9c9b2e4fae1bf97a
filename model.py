"""The beta-VAE graph: raw-op layers, the two architectures, each term of each objective, and the
model's own checks of the settings."""
import collections
import functools
import math

import numpy as np

import tensorflow.compat.v1 as tf

from common import SettingsError

tf.disable_v2_behavior()

# kl_weight's unit: the original weighed the KL against the reconstruction error summed over its
# 32-image batch, so the per-image weight is kl_weight / KL_UNIT_BATCH whatever batch_size is.
KL_UNIT_BATCH = 32


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
    for name, known in (('architecture', ARCHITECTURES), ('likelihood', PIXEL_LOSSES), ('precision', COMPUTE_DTYPES),
                        ('objective', OBJECTIVES)):
        if getattr(cfg, name) not in known:
            raise SettingsError('{} must be one of {}, got {!r}'.format(name, ', '.join(sorted(known)),
                                                                        getattr(cfg, name)))
    if cfg.objective == 'tcvae' and cfg.batch_size < 2:
        raise SettingsError('objective tcvae estimates q(z) on the minibatch: batch_size must be >= 2')
    check_geometry(cfg)


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


def log_normal(z, mean, logvar):
    """log N(z; mean, exp(logvar)) per element; broadcasts."""
    return -0.5 * (math.log(2.0 * math.pi) + logvar + tf.square(z - mean) * tf.exp(-logvar))


def stratified_log_weights(batch_size, dataset_size):
    """[B, B] log importance weights of minibatch-stratified sampling (Chen et al. 2018, Appendix C.2).

    Row i estimates q(z_i) = sum_j w_ij q(z_i | x_j): the image that drew z_i weighs 1/N, one other
    image (N - B + 1)/(N (B - 1)), the remaining B - 2 images 1/(B - 1) each. Every row sums to 1.
    """
    n, b = float(dataset_size), batch_size
    assert b >= 2 and dataset_size >= b, (batch_size, dataset_size)
    weights = np.full((b, b), 1.0 / (b - 1))
    weights[np.arange(b), (np.arange(b) + 1) % b] = (n - b + 1) / (n * (b - 1))
    weights[np.arange(b), np.arange(b)] = 1.0 / n
    return np.log(weights)


def tcvae_log_densities(z, z_mean, z_logvar, log_weights):
    """Chen et al. 2018, section 3: per image, the four log densities of the KL decomposition.

    Returns (log q(z|x), log q(z), log prod_j q(z_j), log p(z)), each [B], for a sample z [B, M] of
    q(z|x) = N(z_mean, exp(z_logvar)); q(z) and its marginals are estimated on the minibatch with
    log_weights [B, B] (stratified_log_weights).
    """
    pairwise = log_normal(z[:, None, :], z_mean[None, :, :], z_logvar[None, :, :])  # [B, B, M]: log q(z_i,d | x_j)
    log_w = tf.constant(log_weights, tf.float32)
    log_qz = tf.reduce_logsumexp(log_w + tf.reduce_sum(pairwise, axis=2), axis=1)
    log_prod_marginals = tf.reduce_sum(tf.reduce_logsumexp(log_w[:, :, None] + pairwise, axis=1), axis=1)
    log_qz_given_x = tf.reduce_sum(log_normal(z, z_mean, z_logvar), axis=1)
    log_pz = tf.reduce_sum(log_normal(z, 0.0, 0.0), axis=1)
    return log_qz_given_x, log_qz, log_prod_marginals, log_pz


def index_code_mutual_information(log_qz_given_x, log_qz):
    """Chen et al. 2018, eq. 2, first term: I_q(z; n), per image [B]."""
    return log_qz_given_x - log_qz


def total_correlation(log_qz, log_prod_marginals):
    """Chen et al. 2018, eq. 2, second term: KL(q(z) || prod_j q(z_j)), per image [B]."""
    return log_qz - log_prod_marginals


def dimension_wise_kl(log_prod_marginals, log_pz):
    """Chen et al. 2018, eq. 2, third term: sum_j KL(q(z_j) || p(z_j)), per image [B]."""
    return log_prod_marginals - log_pz


def tcvae_loss(reconstruction, mutual_information, tc, dim_kl, alpha, beta, gamma, num_pixels):
    """Chen et al. 2018, eq. 4, per pixel: mean over the batch of rec + (alpha MI + beta TC + gamma dwKL) / N.

    The weights are in the usual units (against the summed error); alpha = beta = gamma = 1 is the VAE.
    """
    regulariser = alpha * mutual_information + beta * tc + gamma * dim_kl
    return tf.reduce_mean(reconstruction + regulariser / num_pixels)


def permute_dims(z):
    """Kim & Mnih 2018, Algorithm 1: each latent dim shuffled across the batch on its own.

    Keeps every dim's marginal and breaks the dependence between dims: samples of prod_j q(z_j).
    """
    return tf.stack([tf.random_shuffle(column) for column in tf.unstack(z, axis=1)], axis=1)


def discriminator(z, *, units, name='discriminator'):
    """Kim & Mnih 2018, Appendix: an MLP with leaky ReLU (0.2) -> 2 logits [B, 2]: (from q(z), permuted)."""
    with tf.variable_scope(name, reuse=tf.AUTO_REUSE):
        h = z
        for i, width in enumerate(units):
            h = tf.nn.leaky_relu(dense(h, units=width, name='dense{}'.format(i)), alpha=0.2)
        logits = dense(h, units=2, name='logits')
    assert logits.shape.as_list()[1:] == [2], logits
    return logits


def discriminator_tc(logits):
    """Kim & Mnih 2018, eq. 3: TC ~ log D(z) / (1 - D(z)) = logit_q - logit_permuted, per image [B]."""
    return logits[:, 0] - logits[:, 1]


def discriminator_loss(logits_q, logits_permuted):
    """Kim & Mnih 2018, Algorithm 2: cross-entropy of telling q(z) samples (class 0) from permuted ones (class 1)."""
    def cross_entropy(logits, label):
        labels = tf.fill(tf.shape(logits)[:1], label)
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    return 0.5 * (cross_entropy(logits_q, 0) + cross_entropy(logits_permuted, 1))


def factor_vae_loss(reconstruction, kl_per_dim, tc, kl_weight, gamma, num_pixels):
    """Kim & Mnih 2018, eq. 2, per pixel: mean over the batch of rec + (kl_weight sum_dims(KL) + gamma TC) / N.

    kl_weight and gamma are in the usual units; the paper has kl_weight 1.
    """
    kl = tf.reduce_sum(kl_per_dim, axis=1)
    return tf.reduce_mean(reconstruction + (kl_weight * kl + gamma * tc) / num_pixels)


def equivalent_beta(kl_weight, img_shape, latent_dim):
    """beta in the usual units (summed error per image against summed KL): kl_weight/32 * N/M."""
    return kl_weight / KL_UNIT_BATCH * num_pixels(img_shape) / latent_dim


def num_pixels(img_shape):
    return img_shape[0] * img_shape[1] * img_shape[2]


OBJECTIVES = ('beta', 'capacity', 'tcvae', 'factor')


def batches_per_step(objective):
    """Batches of images one training step reads: FactorVAE's discriminator permutes a second batch."""
    return 2 if objective == 'factor' else 1


# ---- graphs ----

TrainGraph = collections.namedtuple('TrainGraph', 'train_op global_step total reconstruction kl summaries '
                                                 'image_summaries')


def objective_terms(images, logits, z, z_mean, z_logvar, cfg, dataset_size, global_step):
    """(training loss, {tag: scalar} of its own terms for TensorBoard) of cfg.objective."""
    reconstruction = reconstruction_loss(images, logits, cfg.likelihood)
    kl_per_dim = gaussian_kl(z_mean, z_logvar)
    pixels = num_pixels(cfg.img_shape)
    if cfg.objective == 'capacity':
        capacity = capacity_schedule(global_step, cfg.capacity_max, cfg.capacity_steps)
        loss = capacity_loss(reconstruction, kl_per_dim, cfg.capacity_gamma, capacity, pixels)
        return loss, {'loss/capacity': capacity}
    if cfg.objective == 'tcvae':
        log_weights = stratified_log_weights(cfg.batch_size, dataset_size)
        log_qz_given_x, log_qz, log_prod_marginals, log_pz = tcvae_log_densities(z, z_mean, z_logvar, log_weights)
        mi = index_code_mutual_information(log_qz_given_x, log_qz)
        tc = total_correlation(log_qz, log_prod_marginals)
        dim_kl = dimension_wise_kl(log_prod_marginals, log_pz)
        loss = tcvae_loss(reconstruction, mi, tc, dim_kl, cfg.tcvae_alpha, cfg.tcvae_beta, cfg.tcvae_gamma, pixels)
        return loss, {'loss/mutual_information': tf.reduce_mean(mi), 'loss/total_correlation': tf.reduce_mean(tc),
                      'loss/dimension_wise_kl': tf.reduce_mean(dim_kl)}
    if cfg.objective == 'factor':
        tc = discriminator_tc(discriminator(z, units=cfg.discriminator_units))
        loss = factor_vae_loss(reconstruction, kl_per_dim, tc, cfg.factor_kl_weight, cfg.factor_gamma, pixels)
        return loss, {'loss/total_correlation': tf.reduce_mean(tc)}
    return beta_vae_loss(reconstruction, kl_per_dim, cfg.kl_weight), {}


def build_training(images, cfg, dataset_size=None):
    """The training step on a batch of images: losses, Adam update, BN updates and summaries.

    FactorVAE (objective 'factor') reads batches_per_step = 2 batches stacked in `images`: the model
    trains on the first; the second, encoded and dimension-permuted, trains the discriminator.
    tcvae needs dataset_size, the number of training images, for its estimate of q(z).
    """
    assert images.shape.as_list()[0] in (None, cfg.batch_size * batches_per_step(cfg.objective)), images.shape
    global_step = tf.train.get_or_create_global_step()
    images, second_batch = tf.split(images, 2) if cfg.objective == 'factor' else (images, None)
    z_mean, z_logvar = encode(images, cfg, training=True)
    z = reparameterize(z_mean, z_logvar)
    logits = decode(z, cfg, training=True)
    model_updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)   # before the second batch adds its own

    with tf.name_scope('objective'):
        objective, terms = objective_terms(images, logits, z, z_mean, z_logvar, cfg, dataset_size, global_step)
        total = tf.identity(objective, name='total')
        mean_reconstruction = tf.reduce_mean(reconstruction_loss(images, logits, cfg.likelihood),
                                             name='reconstruction')
        mean_kl_per_dim = tf.reduce_mean(gaussian_kl(z_mean, z_logvar), axis=0, name='kl_per_dim')
        mean_kl = tf.reduce_mean(mean_kl_per_dim, name='kl')

    model_variables = tf.trainable_variables('encoder') + tf.trainable_variables('decoder')
    optimizer = tf.train.AdamOptimizer(cfg.learning_rate, beta1=cfg.beta1, beta2=cfg.beta2)
    with tf.control_dependencies(model_updates):
        if cfg.precision == 'float16':
            train_op = minimize_with_loss_scale(optimizer, total, global_step, var_list=model_variables)
        else:
            train_op = optimizer.minimize(total, global_step=global_step, var_list=model_variables, name='train_op')
    if cfg.objective == 'factor':
        train_op, terms['loss/discriminator'] = with_discriminator_step(train_op, z, second_batch, cfg)

    summaries = [tf.summary.scalar('loss/total', total),
                 tf.summary.scalar('loss/reconstruction', mean_reconstruction),
                 tf.summary.scalar('loss/kl', mean_kl),
                 tf.summary.histogram('z_mean', z_mean),
                 tf.summary.histogram('z_logvar', z_logvar)]
    summaries += [tf.summary.scalar('kl_per_dim/{:02d}'.format(d), mean_kl_per_dim[d])
                  for d in range(cfg.latent_dim)]
    summaries += [tf.summary.scalar(tag, value) for tag, value in sorted(terms.items())]
    image_summaries = [tf.summary.image('reals', images, max_outputs=8),
                       tf.summary.image('reconstructions', tf.sigmoid(logits), max_outputs=8)]
    return TrainGraph(train_op, global_step, total, mean_reconstruction, mean_kl, tf.summary.merge(summaries),
                      image_summaries)


def with_discriminator_step(model_step, z, second_batch, cfg):
    """(one op running the model's step and then the discriminator's, the discriminator's loss).

    Kim & Mnih 2018, Algorithm 2: the discriminator tells z of the first batch from the permuted
    codes of the second, with its own Adam. Its gradients are taken before the model's step runs, so
    both steps see the weights as they were at the start of the step.
    """
    z_second = reparameterize(*encode(second_batch, cfg, training=True))
    logits_q = discriminator(tf.stop_gradient(z), units=cfg.discriminator_units)
    logits_permuted = discriminator(tf.stop_gradient(permute_dims(z_second)), units=cfg.discriminator_units)
    loss = discriminator_loss(logits_q, logits_permuted)
    optimizer = tf.train.AdamOptimizer(cfg.discriminator_learning_rate, beta1=cfg.discriminator_beta1,
                                       beta2=cfg.discriminator_beta2, name='discriminator_adam')
    gradients = optimizer.compute_gradients(loss, var_list=tf.trainable_variables('discriminator'))
    with tf.control_dependencies([g for g, _ in gradients] + [loss]):
        model_done = tf.group(model_step)
    with tf.control_dependencies([model_done]):
        train_op = tf.group(optimizer.apply_gradients(gradients), name='train_op')
    return train_op, tf.identity(loss, name='discriminator_loss')


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


def minimize_with_loss_scale(optimizer, loss, global_step, var_list=None,
                            growth_steps=LOSS_SCALE_GROWTH_STEPS):
    """One step on loss * scale, so small float16 gradients do not flush to zero; the gradients are
    unscaled in float32, and a step whose gradients overflowed is skipped (the weights and Adam's
    state stay as they were) but still counts, so the step keeps matching the data position."""
    with tf.variable_scope(LOSS_SCALE_SCOPE):
        scale = tf.get_variable('scale', [], initializer=tf.constant_initializer(LOSS_SCALE_INITIAL),
                                trainable=False)
        good_steps = tf.get_variable('good_steps', [], tf.int32, initializer=tf.zeros_initializer(),
                                     trainable=False)
    scaled = optimizer.compute_gradients(loss * scale, var_list=var_list)
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
