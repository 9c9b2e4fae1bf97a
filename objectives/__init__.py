"""The training objectives, registered by their --objective name: one small class per objective over terms.py's
pure functions, in the modules of this package by kind. Adding an objective is one class and its entry in
OBJECTIVES; nothing else names objectives.
"""
import collections

import model
from common import SettingsError
from objectives.base import Forward, Objective, Published
from objectives.labels import S2BetaTCVAE, S2BetaVAE, S2DIPVAEI, S2DIPVAEII, S2FactorVAE, Supervised
from objectives.quantized import QLAE, QLVAE
from objectives.unsupervised import BetaTCVAE, BetaVAE, Capacity, DIPVAEI, DIPVAEII, FactorVAE
from objectives.weak import AdaGVAE, AdaMLVAE, GVAELabels, MLVAELabels

__all__ = ['Forward', 'Objective', 'Published', 'OBJECTIVES', 'get', 'check_settings']

OBJECTIVES = collections.OrderedDict((objective.name, objective()) for objective in (
    BetaVAE, Capacity, BetaTCVAE, FactorVAE, DIPVAEI, DIPVAEII, QLAE, QLVAE, AdaGVAE, AdaMLVAE, GVAELabels,
    MLVAELabels, S2BetaVAE, S2BetaTCVAE, S2FactorVAE, S2DIPVAEI, S2DIPVAEII, Supervised))


def get(name):
    """The registered objective of that --objective name; SettingsError naming the choices otherwise."""
    if name not in OBJECTIVES:
        raise SettingsError('objective must be one of {}, got {!r}'.format(', '.join(sorted(OBJECTIVES)), name))
    return OBJECTIVES[name]


def check_settings(cfg):
    """The objective's own checks of a run's settings."""
    objective = get(cfg.objective)
    for each in OBJECTIVES.values():
        each.check_settings(cfg)
    if cfg.latent_values == 1 or cfg.latent_values < 0:
        raise SettingsError('latent_values must be 0 (continuous latents) or a count of values >= 2, got {}'.format(
            cfg.latent_values))
    if objective.quantized and not model.is_quantized(cfg):
        raise SettingsError('objective {} rounds each latent to one of latent_values learnt values: latent_values '
                            'must be >= 2, got {} (the paper\'s 10)'.format(objective.name, cfg.latent_values))
    if model.is_quantized(cfg) and not objective.quantized:
        raise SettingsError('latent_values = {} quantizes the latents, which only {} train: use one of them, or '
                            'latent_values 0 for objective {}'.format(
                                cfg.latent_values, ', '.join(n for n, o in OBJECTIVES.items() if o.quantized),
                                objective.name))
    objective.check_run(cfg)
