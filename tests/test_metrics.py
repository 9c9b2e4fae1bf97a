"""Disentanglement metrics and attribute ranking against known answers."""
import numpy as np
import pytest

import metrics

SIZES = (1, 3, 6, 40, 32, 32)          # dSprites' factor grid (colour has one value and is not scored)
SPACE = metrics.FactorSpace(SIZES)
SMALL = dict(num_train=1000, num_eval=500)


def factors_plus_noise(noise=0.01, extra_dims=2, seed=0):
    """A perfectly disentangled code: each scored factor, scaled to [0, 1], in its own dim."""
    rng = np.random.RandomState(seed)

    def represent(classes):
        scored = classes[:, SPACE.scored] / (np.array(SIZES)[SPACE.scored] - 1.0)
        return np.hstack([scored, np.zeros((len(classes), extra_dims))]) + noise * rng.randn(
            len(classes), len(SPACE.scored) + extra_dims)
    return represent


def random_code(seed=0, dims=10):
    rng = np.random.RandomState(seed)
    return lambda classes: rng.randn(len(classes), dims)


def binning_bound(sizes, bins=20):
    """MIG of a perfect code: 20 equal-width bins merge the values of factors with more than 20."""
    ratios = []
    for size in sizes:
        counts = np.histogram(np.arange(size), bins)[0]
        p = counts[counts > 0] / float(size)
        ratios.append(-(p * np.log(p)).sum() / np.log(size))
    return np.mean(ratios)


def test_disentangled_code_scores_high_on_all_three():
    represent = factors_plus_noise()
    assert metrics.beta_vae_score(represent, SPACE, np.random.RandomState(1), **SMALL) >= 0.9
    assert metrics.factor_vae_score(represent, SPACE, np.random.RandomState(2), **SMALL) >= 0.9
    # Factors of at most 20 values lose nothing to the 20 bins:
    small = metrics.FactorSpace((3, 6, 20, 10))
    classes = small.sample(np.random.RandomState(3), 10000)
    code = classes / (np.array(small.sizes) - 1.0) + 0.001 * np.random.RandomState(4).randn(10000, 4)
    assert metrics.mig(code, classes, small.scored) >= 0.95


def test_mig_of_a_disentangled_dsprites_code_comes_close_to_the_binning_bound():
    # On dSprites' grid, 20 bins cap even a perfect code near 0.90 (orientation has 40 values, positions 32).
    bound = binning_bound([SIZES[k] for k in SPACE.scored])
    assert bound == pytest.approx(0.90, abs=0.005)
    classes = SPACE.sample(np.random.RandomState(3), 10000)
    assert metrics.mig(factors_plus_noise(noise=0.001)(classes), classes, SPACE.scored) >= 0.98 * bound


def test_random_code_scores_near_chance():
    represent = random_code()
    chance = 1.0 / len(SPACE.scored)
    assert metrics.factor_vae_score(represent, SPACE, np.random.RandomState(2), **SMALL) < chance + 0.08
    assert metrics.beta_vae_score(represent, SPACE, np.random.RandomState(1), **SMALL) < chance + 0.1
    classes = SPACE.sample(np.random.RandomState(3), 10000)
    assert metrics.mig(represent(classes), classes, SPACE.scored) < 0.05


def test_mixing_two_factors_in_one_dim_lowers_mig():
    classes = SPACE.sample(np.random.RandomState(3), 10000)
    clean = factors_plus_noise()(classes)
    mixed = clean.copy()
    mixed[:, 3] = clean[:, 3] + clean[:, 4]          # posX and posY share one dim ...
    mixed[:, 4] = clean[:, 3] - clean[:, 4]          # ... and the other
    assert metrics.mig(mixed, classes, SPACE.scored) < metrics.mig(clean, classes, SPACE.scored) - 0.2


def test_mutual_information_and_entropy_known_answers():
    a = np.array([0, 0, 1, 1] * 25)
    assert metrics.discrete_entropy(a) == pytest.approx(np.log(2))
    assert metrics.discrete_mutual_info(a, a) == pytest.approx(np.log(2))
    assert metrics.discrete_mutual_info(a, np.array([0, 1] * 50)) == pytest.approx(0.0, abs=1e-12)


def test_kl_per_dim_known_answers():
    kl = metrics.kl_per_dim(np.array([[0.0, 1.0], [0.0, -1.0]]), np.zeros((2, 2)))
    np.testing.assert_allclose(kl, [0.0, 0.5])


def test_roc_auc_known_answers():
    labels = np.array([[0], [0], [1], [1]])
    assert metrics.roc_auc(np.array([[0.1], [0.2], [0.3], [0.4]]), labels)[0, 0] == 1.0
    assert metrics.roc_auc(np.array([[0.4], [0.3], [0.2], [0.1]]), labels)[0, 0] == 0.0
    assert metrics.roc_auc(np.array([[0.1], [0.3], [0.2], [0.4]]), labels)[0, 0] == 0.75


def test_attribute_ranking_finds_the_correlated_attribute():
    rng = np.random.RandomState(0)
    attributes = rng.rand(4000, 3) < 0.4
    codes = rng.randn(4000, 4)
    codes[:, 1] += 2.0 * attributes[:, 2]           # dim 1 grows with 'Smiling'
    codes[:, 3] -= 1.0 * attributes[:, 0]           # dim 3 shrinks with 'Bald'
    ranking = metrics.rank_attributes(codes, attributes, ['Bald', 'Male', 'Smiling'])
    assert ranking[1]['attributes'][0]['name'] == 'Smiling' and ranking[1]['attributes'][0]['sign'] == 1
    assert ranking[1]['attributes'][0]['auc'] > 0.8
    assert ranking[3]['attributes'][0]['name'] == 'Bald' and ranking[3]['attributes'][0]['sign'] == -1
    assert ranking[0]['attributes'][0]['auc'] < 0.6
