"""Pairs of images that share all their factors but a few (Locatello et al. 2020), for the weakly supervised
objectives, on any dataset behind the GroundTruth interface.

How many factors change follows disentanglement_lib's simple_dynamics: a k drawn for each pair from
[1, F - 1] (F: the factors that vary), or fixed; then 1 or k factors change, each with probability 1/2;
which ones, uniformly without replacement; their new values are drawn uniformly, so a new value may equal
the old one. Factors the metrics leave out (SmallNORB's instance) are drawn anew for the second image, as
disentanglement_lib draws them for every image. Everything is drawn from a RandomState seeded by (seed,
step), where the original draws the new values from numpy's global generator: a step's pairs are the same
in every run, and a resumed run reads the pairs it would have read.
"""
import collections

import numpy as np

from common import SettingsError

PAIR_STREAM = 3      # the pairs' own seed stream, beside groundtruth.py's TRAINING/DRAW/INDEX_ORDER streams

# A step's pairs: factor indices of the first images [B, F] and of their partners [B, F], and how many
# factors were drawn anew for each pair [B].
Pairs = collections.namedtuple('Pairs', 'first second changed')


def changeable(ground_truth, k):
    """The factors a pair of `ground_truth` may differ in: every scored factor (more than one value, not left
    out); SettingsError where there are fewer than 2, or k is out of range."""
    factors = ground_truth.scored
    if len(factors) < 2:
        raise SettingsError('pairs need at least 2 factors that vary, {} has {}'.format(type(ground_truth).__name__,
                                                                                       len(factors)))
    if not 0 <= k < len(factors):
        raise SettingsError('weak_k must be 0 (k drawn for each pair) or 1 to {} ({} has {} factors that vary), '
                            'got {}'.format(len(factors) - 1, type(ground_truth).__name__, len(factors), k))
    return factors


def sample_pairs(ground_truth, rng, count, k=0):
    """`count` Pairs of `ground_truth` (a datasets.groundtruth.GroundTruth) drawn with numpy RandomState `rng`;
    k = 0 draws k for each pair from [1, F - 1] (the paper's k = rnd)."""
    factors = changeable(ground_truth, k)
    num = len(factors)
    first = ground_truth.sample(rng, count)
    ks = rng.randint(1, num, size=count) if k == 0 else np.full(count, k)
    changed = np.where(rng.randint(0, 2, size=count) == 1, ks, 1)
    # A uniform random order of the factors for each pair: its first `changed` are drawn anew.
    order_rank = np.argsort(np.argsort(rng.random_sample((count, num)), axis=1), axis=1)
    fresh = ground_truth.sample(rng, count)
    second = first.copy()
    second[:, factors] = np.where(order_rank < changed[:, None], fresh[:, factors], first[:, factors])
    for factor in ground_truth.unscored:
        second[:, factor] = fresh[:, factor]
    return Pairs(first, second, changed)


def step_pairs(ground_truth, seed, step, count, k=0):
    """The Pairs of training step `step`: the same for a given (seed, step), whatever ran before."""
    return sample_pairs(ground_truth, np.random.RandomState([seed, PAIR_STREAM, step]), count, k)


def pair_indices(ground_truth, seed, start_step, count, k=0):
    """Endless (step, image indices [2 count]: the first images then their partners, number of changed
    factors [count]) from `start_step` on."""
    step = start_step
    while True:
        pairs = step_pairs(ground_truth, seed, step, count, k)
        indices = np.concatenate([ground_truth.index(pairs.first), ground_truth.index(pairs.second)])
        yield step, indices, pairs.changed.astype(np.int32)
        step += 1
