"""Weak supervision from pairs of images that differ in a few factors (Locatello et al. 2020, "Weakly-Supervised
Disentanglement Without Compromises"): Ada-GVAE, Ada-ML-VAE and the baselines given k."""
import tensorflow.compat.v1 as tf

import data
import model
from common import SettingsError
from datasets import GROUND_TRUTH
from objectives.base import Objective
from terms import (adaptive_shared, group_average, known_shared, ml_average, pair_elbo_loss, pair_kl, split_pairs)

tf.disable_v2_behavior()


class WeakObjective(Objective):
    """Locatello et al. 2020: the beta-VAE ELBO of both images of a pair, where the dims judged shared by
    the pair take one posterior, an average of the two encoders'. A step reads batch_size pairs."""
    paper = 'Locatello et al. 2020'
    nonnegative = ('weak_beta',)
    reads = data.PAIRS       # the baselines given k read data.PAIRS_AND_CHANGES
    average = None           # terms.group_average or terms.ml_average

    def check_settings(self, cfg):
        Objective.check_settings(self, cfg)
        if cfg.weak_k < 0:
            raise SettingsError('weak_k must be 0 (k drawn for each pair) or a number of factors, got {}'.format(
                cfg.weak_k))

    def check_run(self, cfg):
        if cfg.dataset not in GROUND_TRUTH:
            raise SettingsError('objective {} trains on pairs of images that differ in a few known factors, and '
                                'dataset {} has none: choose a dataset with factors ({})'.format(
                                    self.name, cfg.dataset, ', '.join(sorted(GROUND_TRUTH))))

    def describe(self, cfg):
        chosen = ('the number of changed factors given by the pair sampler' if self.reads == data.PAIRS_AND_CHANGES
                  else 'the threshold halfway between the smallest and largest KL between the pair')
        return 'objective: rec + {:g} KL / N per image of each pair ({}, {}), the shared dims by {}'.format(
            cfg.weak_beta, self.title, self.paper, chosen)

    def posterior(self, z_mean, z_logvar, batch, cfg):
        (mean_1, mean_2), (logvar_1, logvar_2) = split_pairs(z_mean), split_pairs(z_logvar)
        kl_between = pair_kl(mean_1, logvar_1, mean_2, logvar_2)
        if self.reads == data.PAIRS_AND_CHANGES:
            shared = known_shared(kl_between, batch.changed)
        else:
            shared = adaptive_shared(kl_between)
        shared_mean, shared_logvar = self.average(mean_1, logvar_1, mean_2, logvar_2)
        mean = tf.concat([tf.where(shared, shared_mean, mean_1), tf.where(shared, shared_mean, mean_2)], axis=0)
        logvar = tf.concat([tf.where(shared, shared_logvar, logvar_1), tf.where(shared, shared_logvar, logvar_2)],
                           axis=0)
        terms = {'pairs/shared_dims': tf.reduce_mean(tf.reduce_sum(tf.cast(shared, tf.float32), axis=1))}
        mean_kl_between = tf.reduce_mean(kl_between, axis=0)
        terms.update(('pairs/kl_between/{:02d}'.format(d), mean_kl_between[d]) for d in range(cfg.latent_dim))
        return mean, logvar, terms

    def loss(self, forward, cfg):
        return pair_elbo_loss(forward.reconstruction, forward.kl_per_dim, cfg.weak_beta,
                              model.num_pixels(cfg.img_shape)), {}


class AdaGVAE(WeakObjective):
    name, title = 'ada_gvae', 'Ada-GVAE'
    average = staticmethod(group_average)


class AdaMLVAE(WeakObjective):
    name, title = 'ada_mlvae', 'Ada-ML-VAE'
    average = staticmethod(ml_average)


class GVAELabels(WeakObjective):
    name, title, reads = 'gvae_labels', 'GVAE with k given', data.PAIRS_AND_CHANGES
    average = staticmethod(group_average)


class MLVAELabels(WeakObjective):
    name, title, reads = 'mlvae_labels', 'ML-VAE with k given', data.PAIRS_AND_CHANGES
    average = staticmethod(ml_average)

