"""A few labels (Locatello, Tschannen, Bauer, Rätsch, Schölkopf and Bachem 2020, "Disentangling Factors of
Variation Using Few Labels", disentanglement_lib's semi_supervised_vae): each unsupervised objective plus a
supervised loss on a batch of a small labelled set, and the model that learns from the labels alone."""
import tensorflow.compat.v1 as tf

import data
import model
from common import SettingsError
from datasets import GROUND_TRUTH
from objectives.unsupervised import BetaTCVAE, BetaVAE, DIPVAEI, DIPVAEII, FactorVAE
from terms import (supervised_cov, supervised_embed, supervised_l2, supervised_weight, supervised_xent)

tf.disable_v2_behavior()

SUPERVISED_SCOPE = 'supervised'   # the supervised losses' own variables: l2's scale, embed's embeddings
SUPERVISED_LOSSES = ('xent', 'l2', 'cov', 'embed')
SCHEDULES = ('fixed', 'anneal', 'fine_tune')
PAPER = 'Locatello et al. 2020'


def supervised_term(codes, batch, cfg):
    """cfg.supervised_loss of the labelled images' codes [B, M] and labels [B, K], summed over the batch (the
    terms.supervised_* functions); its learnt variables live in SUPERVISED_SCOPE."""
    labels, sizes = batch.labels, batch.label_sizes
    with tf.variable_scope(SUPERVISED_SCOPE, reuse=tf.AUTO_REUSE):
        if cfg.supervised_loss == 'l2':
            return supervised_l2(codes, labels, tf.get_variable('scale', initializer=1.0))
        if cfg.supervised_loss == 'cov':
            return supervised_cov(codes, labels)
        if cfg.supervised_loss == 'embed':
            embeddings = [tf.get_variable('embedding_{}'.format(k), [size]) for k, size in enumerate(sizes)]
            return supervised_embed(codes, labels, embeddings, cfg.embed_sigma)
    return supervised_xent(codes, labels, sizes)


class FewLabels(object):
    """Mixed in before an unsupervised objective: its loss plus gamma_sup / N times the supervised term of the
    labelled batch's encoder means (annealed as gamma_sup_schedule says)."""
    paper = PAPER
    scopes = (SUPERVISED_SCOPE,)
    paper_settings, published_scores = {}, {}   # the unsupervised objective's are not this one's

    def check_settings(self, cfg):
        super(FewLabels, self).check_settings(cfg)
        check_label_settings(cfg)

    def check_run(self, cfg):
        check_has_factors(self.name, cfg)
        super(FewLabels, self).check_run(cfg)

    def describe(self, cfg):
        return '{}, + {:g} (schedule {}) {} supervised loss / N on {} labelled images ({}, {})'.format(
            super(FewLabels, self).describe(cfg), cfg.gamma_sup, cfg.gamma_sup_schedule, cfg.supervised_loss,
            cfg.labelled_images, self.title, self.paper)

    def loss(self, forward, cfg):
        loss, terms = super(FewLabels, self).loss(forward, cfg)
        supervised = supervised_term(labelled_codes(forward.batch, cfg), forward.batch, cfg)
        weight = supervised_weight(cfg.gamma_sup, forward.global_step, cfg.gamma_sup_schedule, cfg.gamma_sup_steps)
        terms.update({'loss/supervised': supervised, 'loss/gamma_sup': weight})
        return loss + weight * supervised / model.num_pixels(cfg.img_shape), terms


def labelled_codes(batch, cfg):
    """The encoder's means of the step's labelled images."""
    return model.encode(batch.labelled, cfg, training=True)[0]


def check_label_settings(cfg):
    """SettingsError on a value of the few-label settings that is out of range, whichever objective runs."""
    for name, choices in (('supervised_loss', SUPERVISED_LOSSES), ('gamma_sup_schedule', SCHEDULES)):
        if getattr(cfg, name) not in choices:
            raise SettingsError('{} must be one of {}, got {!r}'.format(name, ', '.join(choices), getattr(cfg, name)))
    for name in ('gamma_sup', 'label_noise'):
        if getattr(cfg, name) < 0:
            raise SettingsError('{} must be >= 0, got {}'.format(name, getattr(cfg, name)))
    if cfg.label_noise > 1 or cfg.label_bins < 2 or cfg.gamma_sup_steps < 1:
        raise SettingsError('label_noise must be a probability, label_bins >= 2 and gamma_sup_steps >= 1; got {}, '
                            '{} and {}'.format(cfg.label_noise, cfg.label_bins, cfg.gamma_sup_steps))


def check_has_factors(name, cfg):
    if cfg.dataset not in GROUND_TRUTH:
        raise SettingsError('objective {} learns from labels of known factors, and dataset {} has none: choose a '
                            'dataset with factors ({})'.format(name, cfg.dataset, ', '.join(sorted(GROUND_TRUTH))))


class S2BetaVAE(FewLabels, BetaVAE):
    name, title = 's2_beta', 'S²-β-VAE'
    reads = data.LABELLED


class S2BetaTCVAE(FewLabels, BetaTCVAE):
    name, title = 's2_tcvae', 'S²-β-TCVAE'
    reads = data.LABELLED


class S2FactorVAE(FewLabels, FactorVAE):
    name, title = 's2_factor', 'S²-FactorVAE'
    reads = data.LABELLED_TWO_BATCHES


class S2DIPVAEI(FewLabels, DIPVAEI):
    name, title = 's2_dip_i', 'S²-DIP-VAE-I'
    reads = data.LABELLED


class S2DIPVAEII(FewLabels, DIPVAEII):
    name, title = 's2_dip_ii', 'S²-DIP-VAE-II'
    reads = data.LABELLED


class Supervised(FewLabels, BetaVAE):
    """disentanglement_lib's `supervised` model: the encoder learns from the labels alone (weight 1, no KL), the
    decoder reconstructs from its sampled codes, which carry no gradient back."""
    name, title = 'supervised', 'supervised only'
    reads = data.LABELLED
    nonnegative = ()

    def describe(self, cfg):
        return 'objective: rec of codes without gradient + {} supervised loss / N on {} labelled images ({})'.format(
            cfg.supervised_loss, cfg.labelled_images, self.paper)

    def posterior(self, z_mean, z_logvar, batch, cfg):
        return tf.stop_gradient(z_mean), tf.stop_gradient(z_logvar), {}

    def loss(self, forward, cfg):
        supervised = supervised_term(labelled_codes(forward.batch, cfg), forward.batch, cfg)
        return (tf.reduce_mean(forward.reconstruction) + supervised / model.num_pixels(cfg.img_shape),
                {'loss/supervised': supervised})
