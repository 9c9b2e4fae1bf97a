"""The training objectives: the ELBO's terms and each paper's own, as pure functions, and one small class
per objective over them, registered by its --objective name.

Every loss is per pixel: the mean pixel error of an image plus its regulariser divided by the number
of pixel values N, so weights are in the usual units (against the error summed over the image) and
the step size does not depend on the image size. Adding an objective is one class in OBJECTIVES and
its term functions; nothing else names objectives.
"""
import collections
import math

import numpy as np
import tensorflow.compat.v1 as tf

import model
from common import SettingsError

tf.disable_v2_behavior()

# kl_weight's unit: the original weighed the KL against the reconstruction error summed over its
# 32-image batch, so the per-image weight is kl_weight / KL_UNIT_BATCH whatever batch_size is.
KL_UNIT_BATCH = 32


def equivalent_beta(kl_weight, img_shape, latent_dim):
    """beta in the usual units (summed error per image against summed KL): kl_weight/32 * N/M."""
    return kl_weight / KL_UNIT_BATCH * model.num_pixels(img_shape) / latent_dim


# ---- beta-VAE (Higgins et al. 2017) ----

def beta_vae_loss(reconstruction, kl_per_dim, kl_weight):
    """Higgins et al. 2017, eq. 4 normalised: mean over the batch of rec + kl_weight/32 * mean_dims(KL).

    reconstruction [B] is the per-pixel mean error, kl_per_dim [B, M] the per-latent KL; the per-image
    trade-off kl_weight/32 (beta_norm per 32 images) does not depend on the batch size.
    """
    kl = tf.reduce_mean(kl_per_dim, axis=1)
    return tf.reduce_mean(reconstruction + (kl_weight / KL_UNIT_BATCH) * kl)


# ---- capacity annealing (Burgess et al. 2018) ----

def capacity_schedule(step, capacity_max, capacity_steps):
    """Burgess et al. 2018, section 5: the KL target C rises linearly from 0 to capacity_max nats."""
    progress = tf.minimum(1.0, tf.cast(step, tf.float32) / float(capacity_steps))
    return tf.multiply(float(capacity_max), progress, name='capacity')


def capacity_loss(reconstruction, kl_per_dim, gamma, capacity, pixels):
    """Burgess et al. 2018, eq. 8, per pixel: mean over the batch of rec + gamma/N * |sum_dims(KL) - C|.

    gamma is in the usual units (against the summed error), C in nats per image.
    """
    kl = tf.reduce_sum(kl_per_dim, axis=1)
    return tf.reduce_mean(reconstruction + (gamma / pixels) * tf.abs(kl - capacity))


# ---- beta-TCVAE (Chen et al. 2018) ----

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


def aggregate_log_densities(pairwise, log_weights):
    """(log q(z), log prod_j q(z_j)), each [B], from pairwise = log q(z_i,d | code_k) [B, K, M] and
    log_weights [B, K] (each row's weights summing to 1): q(z_i) = sum_k w_ik q(z_i | code_k)."""
    log_qz = tf.reduce_logsumexp(log_weights + tf.reduce_sum(pairwise, axis=2), axis=1)
    log_prod_marginals = tf.reduce_sum(tf.reduce_logsumexp(log_weights[:, :, None] + pairwise, axis=1), axis=1)
    return log_qz, log_prod_marginals


def tcvae_log_densities(z, z_mean, z_logvar, log_weights, codes=None):
    """Chen et al. 2018, section 3: per image, the four log densities of the KL decomposition.

    Returns (log q(z|x), log q(z), log prod_j q(z_j), log p(z)), each [B], for a sample z [B, M] of
    q(z|x) = N(z_mean, exp(z_logvar)). q(z) and its marginals are estimated as mixtures of the K
    posteriors `codes` = (means [K, M], log-variances [K, M]), weighted by log_weights [B, K]: by
    default the minibatch's own, with stratified_log_weights.
    """
    codes_mean, codes_logvar = (z_mean, z_logvar) if codes is None else codes
    pairwise = log_normal(z[:, None, :], codes_mean[None, :, :], codes_logvar[None, :, :])  # log q(z_i,d | code_k)
    log_qz, log_prod_marginals = aggregate_log_densities(pairwise, tf.convert_to_tensor(log_weights, tf.float32))
    log_qz_given_x = tf.reduce_sum(log_normal(z, z_mean, z_logvar), axis=1)
    log_pz = tf.reduce_sum(log_normal(z, 0.0, 0.0), axis=1)
    return log_qz_given_x, log_qz, log_prod_marginals, log_pz


def bank_log_weights(batch_size, bank_filled, bank_size, dataset_size):
    """[B, B + K] log weights of q(z_i) over the batch's codes and then a bank of K stored codes.

    Stratified over the N training images: the image that drew z_i weighs 1/N (exact), each other
    image of the batch 1/N (exact), and the N - B images outside the batch are estimated by the
    `bank_filled` valid bank entries, (N - B) / (N * filled) each; the bank's other entries weigh 0.
    With an empty bank it is minibatch-stratified sampling (stratified_log_weights) itself; with a
    bank holding every other image's code it is the exact mixture (1/N) sum_n q(z | x_n).
    """
    b, n = batch_size, tf.cast(dataset_size, tf.float32)
    filled = tf.cast(bank_filled, tf.float32)
    in_batch = tf.fill([b, b], -tf.log(n))
    valid = tf.range(bank_size) < bank_filled
    bank = tf.where(valid, tf.fill([bank_size], tf.log(n - b) - tf.log(n) - tf.log(tf.maximum(filled, 1.0))),
                    tf.fill([bank_size], -np.inf))
    with_bank = tf.concat([in_batch, tf.tile(bank[None, :], [b, 1])], axis=1)
    stratified = tf.pad(tf.constant(stratified_log_weights(b, dataset_size), tf.float32), [[0, 0], [0, bank_size]],
                        constant_values=-np.inf)
    return tf.cond(bank_filled > 0, lambda: with_bank, lambda: stratified)


def index_code_mutual_information(log_qz_given_x, log_qz):
    """Chen et al. 2018, eq. 2, first term: I_q(z; n), per image [B]."""
    return log_qz_given_x - log_qz


def total_correlation(log_qz, log_prod_marginals):
    """Chen et al. 2018, eq. 2, second term: KL(q(z) || prod_j q(z_j)), per image [B]."""
    return log_qz - log_prod_marginals


def dimension_wise_kl(log_prod_marginals, log_pz):
    """Chen et al. 2018, eq. 2, third term: sum_j KL(q(z_j) || p(z_j)), per image [B]."""
    return log_prod_marginals - log_pz


def tcvae_loss(reconstruction, mutual_information, tc, dim_kl, alpha, beta, gamma, pixels):
    """Chen et al. 2018, eq. 4, per pixel: mean over the batch of rec + (alpha MI + beta TC + gamma dwKL) / N.

    The weights are in the usual units (against the summed error); alpha = beta = gamma = 1 is the VAE.
    """
    regulariser = alpha * mutual_information + beta * tc + gamma * dim_kl
    return tf.reduce_mean(reconstruction + regulariser / pixels)


# ---- FactorVAE (Kim & Mnih 2018) ----

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
            h = tf.nn.leaky_relu(model.dense(h, units=width, name='dense{}'.format(i)), alpha=0.2)
        logits = model.dense(h, units=2, name='logits')
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


def factor_vae_loss(reconstruction, kl_per_dim, tc, kl_weight, gamma, pixels):
    """Kim & Mnih 2018, eq. 2, per pixel: mean over the batch of rec + (kl_weight sum_dims(KL) + gamma TC) / N.

    kl_weight and gamma are in the usual units; the paper has kl_weight 1.
    """
    kl = tf.reduce_sum(kl_per_dim, axis=1)
    return tf.reduce_mean(reconstruction + (kl_weight * kl + gamma * tc) / pixels)


# ---- DIP-VAE (Kumar et al. 2018) ----

def covariance(x):
    """The batch covariance of the rows of x [B, M], [M, M]: E[x x^T] - E[x] E[x]^T (divided by B)."""
    centred = x - tf.reduce_mean(x, axis=0, keepdims=True)
    return tf.matmul(centred, centred, transpose_a=True) / tf.cast(tf.shape(x)[0], x.dtype)


def dip_i_covariance(z_mean, z_logvar):
    """Kumar et al. 2018, eq. 6: DIP-VAE-I matches Cov_p(x)[mu(x)] to the identity."""
    del z_logvar
    return covariance(z_mean)


def dip_ii_covariance(z_mean, z_logvar):
    """Kumar et al. 2018, eq. 7: DIP-VAE-II matches Cov_q(z)[z] = E_p(x)[diag sigma^2(x)] + Cov_p(x)[mu(x)],
    the covariance of the aggregate posterior, to the identity."""
    return covariance(z_mean) + tf.matrix_diag(tf.reduce_mean(tf.exp(z_logvar), axis=0))


def dip_regulariser(cov, lambda_od, lambda_d):
    """Kumar et al. 2018, eq. 6-7: lambda_od sum_{i != j} C_ij^2 + lambda_d sum_i (C_ii - 1)^2."""
    diagonal = tf.matrix_diag_part(cov)
    off_diagonal = cov - tf.matrix_diag(diagonal)
    return lambda_od * tf.reduce_sum(tf.square(off_diagonal)) + lambda_d * tf.reduce_sum(tf.square(diagonal - 1.0))


def dip_vae_loss(reconstruction, kl_per_dim, regulariser, kl_weight, pixels):
    """Kumar et al. 2018, per pixel: mean over the batch of rec + kl_weight sum_dims(KL) / N, plus the
    batch's covariance penalty / N (one value for the batch, as in the paper)."""
    kl = tf.reduce_sum(kl_per_dim, axis=1)
    return tf.reduce_mean(reconstruction + kl_weight * kl / pixels) + regulariser / pixels


# ---- the registry ----

# A published result: where it is from, the images its runs trained on (steps x batch), {metric: score}.
Published = collections.namedtuple('Published', 'source images scores')
# Lin et al. 2020 (InfoGAN-CR), Table 1: dSprites figures of ~300,000-step runs, from Locatello et al. 2019.
LIN_2020 = 'Lin et al. 2020, Table 1 (from Locatello et al. 2019)'

# What an objective's loss sees of one training step.
Forward = collections.namedtuple('Forward', 'images logits z z_mean z_logvar reconstruction kl_per_dim '
                                            'global_step dataset_size')


class Objective(object):
    """One objective. A subclass sets the class attributes and defines loss(); the training step asks
    nothing else of it."""
    name = None              # its --objective value
    paper = None             # who published it
    weights = ()             # config.py settings it reads that must be >= 0
    batches_per_step = 1     # batches of batch_size images one step reads
    # The paper's own settings, in config.py's units: {dataset: {setting: value}}. config.py's defaults
    # for that dataset hold them (a test checks it).
    paper_settings = {}
    # Scores published for this objective: {dataset: Published}. The study's tables and the learning
    # curves set each run against them.
    published_scores = {}

    def validate(self, cfg):
        """Raises SettingsError on a value of this objective's own settings that is out of range. Run for
        every objective, whichever one trains: a wrong value is a mistake even where it is not used."""
        for name in self.weights:
            if getattr(cfg, name) < 0:
                raise SettingsError('{} must be >= 0, got {}'.format(name, getattr(cfg, name)))

    def check_run(self, cfg):
        """Raises SettingsError where the run's other settings do not fit this objective, when it trains."""
        del cfg

    def describe(self, cfg):
        """The start-up line that says what is minimised."""
        raise NotImplementedError

    def loss(self, forward, cfg):
        """(the training loss, {TensorBoard tag: scalar} of its own terms) on one step's Forward."""
        raise NotImplementedError

    def step(self, model_step, forward, second_batch, cfg):
        """(the op of the whole step, {tag: scalar}) around the model's own Adam step; most objectives
        have nothing to add."""
        del forward, second_batch, cfg
        return model_step, {}


class BetaVAE(Objective):
    name, paper = 'beta', 'Higgins et al. 2017'
    weights = ('kl_weight',)
    paper_settings = {'dsprites': {'kl_weight': 0.3125}, 'celeba': {'kl_weight': 0.7}}   # beta 4; the original's
    published_scores = {'dsprites': Published(LIN_2020, 19.2e6, {'factor_vae': 0.63, 'mig': 0.21, 'dci': 0.41})}

    def describe(self, cfg):
        return ('objective: rec + {:g}/{} * KL per image (kl_weight = {:g}), i.e. beta = {:.4g} in the usual units '
                '(summed error vs summed KL)'.format(cfg.kl_weight, KL_UNIT_BATCH, cfg.kl_weight,
                                                     equivalent_beta(cfg.kl_weight, cfg.img_shape, cfg.latent_dim)))

    def loss(self, forward, cfg):
        return beta_vae_loss(forward.reconstruction, forward.kl_per_dim, cfg.kl_weight), {}


class Capacity(Objective):
    name, paper = 'capacity', 'Burgess et al. 2018'
    weights = ('capacity_gamma', 'capacity_max')
    paper_settings = {'dsprites': {'capacity_gamma': 1000.0, 'capacity_max': 25.0}}

    def validate(self, cfg):
        Objective.validate(self, cfg)
        if cfg.capacity_steps < 1:
            raise SettingsError('capacity_steps must be >= 1, got {}'.format(cfg.capacity_steps))

    def describe(self, cfg):
        return ('objective: rec + {:g}/N * |KL - C| per image (Burgess et al. 2018), C rising from 0 to {:g} nats '
                'over {} steps'.format(cfg.capacity_gamma, cfg.capacity_max, cfg.capacity_steps))

    def loss(self, forward, cfg):
        capacity = capacity_schedule(forward.global_step, cfg.capacity_max, cfg.capacity_steps)
        loss = capacity_loss(forward.reconstruction, forward.kl_per_dim, cfg.capacity_gamma, capacity,
                             model.num_pixels(cfg.img_shape))
        return loss, {'loss/capacity': capacity}


TCVAE_ESTIMATORS = ('minibatch', 'bank')


class BetaTCVAE(Objective):
    name, paper = 'tcvae', 'Chen et al. 2018'
    weights = ('tcvae_alpha', 'tcvae_beta', 'tcvae_gamma')
    paper_settings = {'dsprites': {'tcvae_alpha': 1.0, 'tcvae_beta': 6.0, 'tcvae_gamma': 1.0}}
    published_scores = {'dsprites': Published(
        "CFASL's beta-TCVAE baseline (disentanglement_lib's metrics, 10 seeds)", 19.2e6,
        {'mig': 0.240, 'dci': 0.353, 'factor_vae': 0.792})}
    BANK_SCOPE = 'tcvae_bank'   # the bank's variables: saved in every checkpoint, so a resume is exact

    def check_run(self, cfg):
        if cfg.batch_size < 2:
            raise SettingsError('objective tcvae estimates q(z) on the minibatch: batch_size must be >= 2')

    def validate(self, cfg):
        Objective.validate(self, cfg)
        if cfg.tcvae_estimator not in TCVAE_ESTIMATORS:
            raise SettingsError('tcvae_estimator must be one of {}, got {!r}'.format(
                ', '.join(sorted(TCVAE_ESTIMATORS)), cfg.tcvae_estimator))
        if cfg.tcvae_bank_size < 1:
            raise SettingsError('tcvae_bank_size must be >= 1, got {}'.format(cfg.tcvae_bank_size))

    def describe(self, cfg):
        estimate = ('a bank of the last {} codes'.format(cfg.tcvae_bank_size) if cfg.tcvae_estimator == 'bank'
                    else 'the minibatch')
        return ('objective: rec + ({:g} MI + {:g} TC + {:g} dimension-wise KL)/N per image (beta-TCVAE, Chen et al. '
                '2018), q(z) estimated on {}'.format(cfg.tcvae_alpha, cfg.tcvae_beta, cfg.tcvae_gamma, estimate))

    def loss(self, forward, cfg):
        z, z_mean, z_logvar = forward.z, forward.z_mean, forward.z_logvar
        if cfg.tcvae_estimator == 'bank':
            codes_mean, codes_logvar, log_weights = self._bank_codes(z_mean, z_logvar, forward.dataset_size, cfg)
            densities = tcvae_log_densities(z, z_mean, z_logvar, log_weights, codes=(codes_mean, codes_logvar))
        else:
            densities = tcvae_log_densities(z, z_mean, z_logvar,
                                            stratified_log_weights(cfg.batch_size, forward.dataset_size))
        log_qz_given_x, log_qz, log_prod_marginals, log_pz = densities
        mi = index_code_mutual_information(log_qz_given_x, log_qz)
        tc = total_correlation(log_qz, log_prod_marginals)
        dim_kl = dimension_wise_kl(log_prod_marginals, log_pz)
        loss = tcvae_loss(forward.reconstruction, mi, tc, dim_kl, cfg.tcvae_alpha, cfg.tcvae_beta, cfg.tcvae_gamma,
                          model.num_pixels(cfg.img_shape))
        return loss, {'loss/mutual_information': tf.reduce_mean(mi), 'loss/total_correlation': tf.reduce_mean(tc),
                      'loss/dimension_wise_kl': tf.reduce_mean(dim_kl)}

    def _bank_codes(self, z_mean, z_logvar, dataset_size, cfg):
        """(the batch's codes then the bank's, their log weights [B, B + K]); the batch's codes are
        written into the bank once the step has used it (step(), below)."""
        bank = self.bank(cfg)
        if dataset_size < cfg.batch_size + 1:
            raise SettingsError('tcvae_estimator bank needs more training images than batch_size')
        codes_mean = tf.concat([z_mean, tf.stop_gradient(bank['means'])], axis=0)
        codes_logvar = tf.concat([z_logvar, tf.stop_gradient(bank['logvars'])], axis=0)
        return codes_mean, codes_logvar, bank_log_weights(cfg.batch_size, bank['filled'], cfg.tcvae_bank_size,
                                                          dataset_size)

    def bank(self, cfg):
        """The bank's variables: the means and log-variances of the last tcvae_bank_size training
        images' posteriors, the next row to write, and how many rows hold codes."""
        with tf.variable_scope(self.BANK_SCOPE, reuse=tf.AUTO_REUSE):
            shape = [cfg.tcvae_bank_size, cfg.latent_dim]
            return {'means': tf.get_variable('means', shape, initializer=tf.zeros_initializer(), trainable=False),
                    'logvars': tf.get_variable('logvars', shape, initializer=tf.zeros_initializer(), trainable=False),
                    'position': tf.get_variable('position', [], tf.int32, initializer=tf.zeros_initializer(),
                                                trainable=False),
                    'filled': tf.get_variable('filled', [], tf.int32, initializer=tf.zeros_initializer(),
                                              trainable=False)}

    def step(self, model_step, forward, second_batch, cfg):
        if cfg.tcvae_estimator != 'bank':
            return model_step, {}
        bank = self.bank(cfg)
        with tf.control_dependencies([model_step]):   # the loss read the bank as it was before this batch
            rows = (bank['position'] + tf.range(cfg.batch_size)) % cfg.tcvae_bank_size
            write = tf.group(tf.scatter_update(bank['means'], rows, tf.stop_gradient(forward.z_mean)),
                             tf.scatter_update(bank['logvars'], rows, tf.stop_gradient(forward.z_logvar)))
        with tf.control_dependencies([write]):
            advance = tf.group(
                tf.assign(bank['position'], (bank['position'] + cfg.batch_size) % cfg.tcvae_bank_size),
                tf.assign(bank['filled'], tf.minimum(bank['filled'] + cfg.batch_size, cfg.tcvae_bank_size)))
        return tf.group(model_step, write, advance, name='train_op'), {'loss/bank_filled': bank['filled']}


class FactorVAE(Objective):
    name, paper = 'factor', 'Kim & Mnih 2018'
    weights = ('factor_kl_weight', 'factor_gamma')
    batches_per_step = 2    # the discriminator permutes the codes of a second batch
    paper_settings = {'dsprites': {'factor_kl_weight': 1.0, 'factor_gamma': 35.0}}
    published_scores = {'dsprites': Published(LIN_2020 + ', gamma 40', 19.9e6, {'mig': 0.43, 'factor_vae': 0.82})}

    def validate(self, cfg):
        Objective.validate(self, cfg)
        if not cfg.discriminator_units or min(cfg.discriminator_units) < 1:
            raise SettingsError('discriminator_units must be positive layer widths')

    def describe(self, cfg):
        return ('objective: rec + ({:g} KL + {:g} TC)/N per image (FactorVAE, Kim & Mnih 2018), TC from a '
                'discriminator on a second batch'.format(cfg.factor_kl_weight, cfg.factor_gamma))

    def loss(self, forward, cfg):
        tc = discriminator_tc(discriminator(forward.z, units=cfg.discriminator_units))
        loss = factor_vae_loss(forward.reconstruction, forward.kl_per_dim, tc, cfg.factor_kl_weight, cfg.factor_gamma,
                               model.num_pixels(cfg.img_shape))
        return loss, {'loss/total_correlation': tf.reduce_mean(tc)}

    def step(self, model_step, forward, second_batch, cfg):
        """Kim & Mnih 2018, Algorithm 2: the discriminator tells z of the first batch from the permuted
        codes of the second, with its own Adam. Its gradients are taken before the model's step runs, so
        both steps see the weights as they were at the start of the step."""
        z_second = model.reparameterize(*model.encode(second_batch, cfg, training=True))
        logits_q = discriminator(tf.stop_gradient(forward.z), units=cfg.discriminator_units)
        logits_permuted = discriminator(tf.stop_gradient(permute_dims(z_second)), units=cfg.discriminator_units)
        loss = discriminator_loss(logits_q, logits_permuted)
        optimizer = tf.train.AdamOptimizer(cfg.discriminator_learning_rate, beta1=cfg.discriminator_beta1,
                                           beta2=cfg.discriminator_beta2, name='discriminator_adam')
        gradients = optimizer.compute_gradients(loss, var_list=tf.trainable_variables('discriminator'))
        with tf.control_dependencies([g for g, _ in gradients] + [loss]):
            model_done = tf.group(model_step)
        with tf.control_dependencies([model_done]):
            train_op = tf.group(optimizer.apply_gradients(gradients), name='train_op')
        return train_op, {'loss/discriminator': tf.identity(loss, name='discriminator_loss')}


class DIPVAE(Objective):
    """Kumar et al. 2018: the ELBO plus a penalty pulling a covariance of the codes towards the identity."""
    lambda_d_factor = None     # the setting that gives lambda_d as a multiple of lambda_od
    covariance = None          # dip_i_covariance or dip_ii_covariance

    def lambdas(self, cfg):
        return cfg.dip_lambda_od, cfg.dip_lambda_od * getattr(cfg, self.lambda_d_factor)

    def describe(self, cfg):
        lambda_od, lambda_d = self.lambdas(cfg)
        return ('objective: rec + ({:g} KL + {:g} sum off-diagonal^2 + {:g} sum (diagonal - 1)^2 of {})/N per image '
                '({}, Kumar et al. 2018)'.format(cfg.dip_kl_weight, lambda_od, lambda_d, self.matrix, self.title))

    def loss(self, forward, cfg):
        cov = self.covariance(forward.z_mean, forward.z_logvar)
        regulariser = dip_regulariser(cov, *self.lambdas(cfg))
        loss = dip_vae_loss(forward.reconstruction, forward.kl_per_dim, regulariser, cfg.dip_kl_weight,
                            model.num_pixels(cfg.img_shape))
        diagonal = tf.matrix_diag_part(cov)
        return loss, {'loss/dip_regulariser': regulariser,
                      'loss/dip_off_diagonal': tf.reduce_sum(tf.square(cov - tf.matrix_diag(diagonal))),
                      'loss/dip_diagonal': tf.reduce_sum(tf.square(diagonal - 1.0))}


class DIPVAEI(DIPVAE):
    name, paper, title = 'dip_i', 'Kumar et al. 2018', 'DIP-VAE-I'
    matrix = 'Cov[mu(x)]'
    lambda_d_factor = 'dip_i_lambda_d_factor'
    weights = ('dip_kl_weight', 'dip_lambda_od', lambda_d_factor)
    covariance = staticmethod(dip_i_covariance)
    paper_settings = {'dsprites': {'dip_kl_weight': 1.0, 'dip_lambda_od': 10.0, 'dip_i_lambda_d_factor': 10.0}}
    # Quoted as 'DIP-VAE' with no variant and not checked against the paper: it reads like a FactorVAE score.
    published_scores = {'dsprites': Published(LIN_2020 + ', as quoted, unchecked', 19.2e6, {'sap': 0.53})}


class DIPVAEII(DIPVAE):
    name, paper, title = 'dip_ii', 'Kumar et al. 2018', 'DIP-VAE-II'
    matrix = 'Cov[mu(x)] + E[diag sigma^2(x)]'
    lambda_d_factor = 'dip_ii_lambda_d_factor'
    weights = ('dip_kl_weight', 'dip_lambda_od', lambda_d_factor)
    covariance = staticmethod(dip_ii_covariance)
    paper_settings = {'dsprites': {'dip_kl_weight': 1.0, 'dip_lambda_od': 10.0, 'dip_ii_lambda_d_factor': 1.0}}


OBJECTIVES = collections.OrderedDict((objective.name, objective()) for objective in (
    BetaVAE, Capacity, BetaTCVAE, FactorVAE, DIPVAEI, DIPVAEII))


def get(name):
    """The registered objective of that --objective name; SettingsError naming the choices otherwise."""
    if name not in OBJECTIVES:
        raise SettingsError('objective must be one of {}, got {!r}'.format(', '.join(sorted(OBJECTIVES)), name))
    return OBJECTIVES[name]


def check_settings(cfg):
    """The objective's own checks of a run's settings."""
    objective = get(cfg.objective)
    for each in OBJECTIVES.values():
        each.validate(cfg)
    objective.check_run(cfg)
