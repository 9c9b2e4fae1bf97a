"""disentanglement_lib's unsupervised objectives: beta-VAE, AnnealedVAE, beta-TCVAE, FactorVAE and DIP-VAE I and
II, one small class each over terms.py's functions."""
import tensorflow.compat.v1 as tf

import data
import model
from common import SettingsError
from objectives.base import LIN_2020, Objective, Published
from terms import (KL_UNIT_BATCH, bank_log_weights, beta_vae_loss, capacity_loss, capacity_schedule,
                   dimension_wise_kl, dip_i_covariance, dip_ii_covariance, dip_regulariser, dip_vae_loss,
                   discriminator, discriminator_loss, discriminator_tc, equivalent_beta, factor_vae_loss,
                   index_code_mutual_information, permute_dims, stratified_log_weights, tcvae_log_densities,
                   tcvae_loss, total_correlation)

tf.disable_v2_behavior()


class BetaVAE(Objective):
    name, title, paper = 'beta', 'β-VAE', 'Higgins et al. 2017'
    nonnegative = ('kl_weight',)
    paper_settings = {'dsprites': {'kl_weight': 0.3125}, 'celeba': {'kl_weight': 0.7}}   # beta 4; the original's
    published_scores = {'dsprites': Published(LIN_2020, 19.2e6, {'factor_vae': 0.63, 'mig': 0.21, 'dci': 0.41})}

    def describe(self, cfg):
        return ('objective: rec + {:g}/{} * KL per image (kl_weight = {:g}), i.e. beta = {:.4g} in the usual units '
                '(summed error vs summed KL)'.format(cfg.kl_weight, KL_UNIT_BATCH, cfg.kl_weight,
                                                     equivalent_beta(cfg.kl_weight, cfg.img_shape, cfg.latent_dim)))

    def loss(self, forward, cfg):
        return beta_vae_loss(forward.reconstruction, forward.kl_per_dim, cfg.kl_weight), {}


class Capacity(Objective):
    name, title, paper = 'capacity', 'AnnealedVAE', 'Burgess et al. 2018'
    nonnegative = ('capacity_gamma', 'capacity_max')
    paper_settings = {'dsprites': {'capacity_gamma': 1000.0, 'capacity_max': 25.0}}

    def check_settings(self, cfg):
        Objective.check_settings(self, cfg)
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
    name, title, paper = 'tcvae', 'β-TCVAE', 'Chen et al. 2018'
    nonnegative = ('tcvae_alpha', 'tcvae_beta', 'tcvae_gamma')
    paper_settings = {'dsprites': {'tcvae_alpha': 1.0, 'tcvae_beta': 6.0, 'tcvae_gamma': 1.0}}
    published_scores = {'dsprites': Published(
        "Jung, Jeong and Kim 2024 (CFASL), its beta-TCVAE baseline (disentanglement_lib's metrics, 10 seeds)", 19.2e6,
        {'mig': 0.240, 'dci': 0.353, 'factor_vae': 0.792})}
    BANK_SCOPE = 'tcvae_bank'   # the bank's variables: saved in every checkpoint, so a resume is exact

    def check_run(self, cfg):
        if cfg.batch_size < 2:
            raise SettingsError('objective tcvae estimates q(z) on the minibatch: batch_size must be >= 2')

    def check_settings(self, cfg):
        Objective.check_settings(self, cfg)
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
            codes_mean, codes_logvar, log_weights = self._bank_codes(z_mean, z_logvar, forward.batch.count, cfg)
            densities = tcvae_log_densities(z, z_mean, z_logvar, log_weights, codes=(codes_mean, codes_logvar))
        else:
            densities = tcvae_log_densities(z, z_mean, z_logvar,
                                            stratified_log_weights(cfg.batch_size, forward.batch.count))
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

    def step(self, model_step, forward, cfg):
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
    name, title, paper = 'factor', 'FactorVAE', 'Kim & Mnih 2018'
    nonnegative = ('factor_kl_weight', 'factor_gamma')
    reads = data.TWO_BATCHES    # the discriminator permutes the codes of a second batch
    paper_settings = {'dsprites': {'factor_kl_weight': 1.0, 'factor_gamma': 35.0}}
    published_scores = {'dsprites': Published(LIN_2020 + ', gamma 40', 19.9e6, {'mig': 0.43, 'factor_vae': 0.82})}

    def check_settings(self, cfg):
        Objective.check_settings(self, cfg)
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

    def step(self, model_step, forward, cfg):
        """Kim & Mnih 2018, Algorithm 2: the discriminator tells z of the first batch from the permuted
        codes of the second, with its own Adam. Its gradients are taken before the model's step runs, so
        both steps see the weights as they were at the start of the step. The second batch's batch-norm
        statistics update nothing: the model's moving averages follow the batch it trains on."""
        z_second = model.reparameterize(*model.encode(forward.batch.second, cfg, training=True))
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
    nonnegative = ('dip_kl_weight', 'dip_lambda_od', lambda_d_factor)
    covariance = staticmethod(dip_i_covariance)
    paper_settings = {'dsprites': {'dip_kl_weight': 1.0, 'dip_lambda_od': 10.0, 'dip_i_lambda_d_factor': 10.0}}


class DIPVAEII(DIPVAE):
    name, paper, title = 'dip_ii', 'Kumar et al. 2018', 'DIP-VAE-II'
    matrix = 'Cov[mu(x)] + E[diag sigma^2(x)]'
    lambda_d_factor = 'dip_ii_lambda_d_factor'
    nonnegative = ('dip_kl_weight', 'dip_lambda_od', lambda_d_factor)
    covariance = staticmethod(dip_ii_covariance)
    paper_settings = {'dsprites': {'dip_kl_weight': 1.0, 'dip_lambda_od': 10.0, 'dip_ii_lambda_d_factor': 1.0}}

