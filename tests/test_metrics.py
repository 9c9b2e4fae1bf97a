"""Disentanglement metrics and attribute ranking against known answers."""
import numpy as np
import pytest

import metrics
import unsupervised
from common import SettingsError
from datasets.groundtruth import GroundTruth


class Grid(GroundTruth):
    """A factor grid without images: what the metrics read of a dataset."""

    def __init__(self, sizes):
        super(Grid, self).__init__()
        self.factor_sizes = tuple(sizes)


SIZES = (1, 3, 6, 40, 32, 32)          # dSprites' factor grid (colour has one value and is not scored)
SPACE = Grid(SIZES)
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
    small = Grid((3, 6, 20, 10))
    classes = small.sample(np.random.RandomState(3), 10000)
    code = classes / (np.array(small.factor_sizes) - 1.0) + 0.001 * np.random.RandomState(4).randn(10000, 4)
    assert metrics.mig(code, classes, small.scored) >= 0.95


def test_mig_of_a_disentangled_dsprites_code_comes_close_to_the_binning_bound():
    # On dSprites' grid, 20 bins cap even a perfect code near 0.90 (orientation has 40 values, positions 32).
    bound = binning_bound([SIZES[k] for k in SPACE.scored])
    assert bound == pytest.approx(0.90, abs=0.005)
    classes = SPACE.sample(np.random.RandomState(3), 10000)
    assert metrics.mig(factors_plus_noise(noise=0.001)(classes), classes, SPACE.scored) >= 0.98 * bound


def test_factor_vae_prunes_dims_by_their_std_as_disentanglement_lib():
    # dim 0 carries factor 1; dims 1 and 2 are noise with std 0.1 and 0.01; factor 2 has no dim.
    # Points that fix factor 1 always vote dim 0. Points that fix factor 2 see every kept dim at about its
    # global variance and vote at random among them: with dim 1 kept (std 0.1 >= 0.05) and dim 2 pruned,
    # half their votes land on dim 1, which the classifier then assigns to factor 2: accuracy 3/4.
    # (Pruning by variance, 0.01 < 0.05, would drop dim 1 too: 1/2; pruning nothing: 5/6.)
    ground_truth = Grid((1, 3, 4))
    rng = np.random.RandomState(0)

    def represent(classes):
        return np.stack([classes[:, 1] / 2.0, 0.1 * rng.randn(len(classes)), 0.01 * rng.randn(len(classes))], 1)
    score = metrics.factor_vae_score(represent, ground_truth, np.random.RandomState(1), num_train=4000, num_eval=4000)
    assert score == pytest.approx(0.75, abs=0.02)


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


def test_mig_is_the_mean_gap_between_each_factors_two_best_latents():
    information = [[0.9, 0.1],
                   [0.2, 0.5],
                   [0.0, 0.3]]
    assert metrics.information_gap(information) == pytest.approx(((0.9 - 0.2) + (0.5 - 0.3)) / 2)


def test_factor_information_says_which_latent_carries_which_factor():
    classes = SPACE.sample(np.random.RandomState(5), 5000)
    codes = np.stack([classes[:, 4], classes[:, 1], np.zeros(5000)], axis=1).astype(float)  # x, shape, nothing
    information = metrics.factor_information(codes, classes, [1, 4])           # columns: shape, x
    assert information.shape == (3, 2)
    assert information[1, 0] == pytest.approx(1.0) and information[0, 1] == pytest.approx(binning_bound([32]), abs=0.01)
    assert information[0, 0] < 0.01 and information[1, 1] < 0.01
    assert information[2] == pytest.approx([0.0, 0.0], abs=1e-12)


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


def factor_sample(count, seed):
    """(codes of a disentangled representation, scored factor classes) of `count` grid samples; the
    noise is small against the spacing of the 40 orientations, so each factor's trees need its code alone."""
    classes = SPACE.sample(np.random.RandomState(seed), count)
    return factors_plus_noise(noise=0.001, seed=seed)(classes), classes[:, SPACE.scored]


def test_dci_disentanglement_and_completeness_known_answers():
    assert metrics.dci_disentanglement(np.eye(4)) == pytest.approx(1.0)
    assert metrics.dci_disentanglement(np.ones((4, 4))) == pytest.approx(0.0, abs=1e-9)
    # One code split evenly over 2 of 4 factors: 1 - H_4(0.5, 0.5) = 1 - log 2 / log 4 = 0.5.
    assert metrics.dci_disentanglement(np.array([[1.0, 1.0, 0.0, 0.0]])) == pytest.approx(0.5)
    # Two codes, one pure and one spread over 2 factors, weighted by their shares 1/3 and 2/3:
    assert metrics.dci_disentanglement(np.array([[1.0, 0.0], [1.0, 1.0]])) == pytest.approx(1.0 / 3)
    assert metrics.dci_completeness(np.eye(3)) == pytest.approx(1.0)
    assert metrics.dci_completeness(np.array([[1.0, 0.0], [1.0, 0.0]])) == pytest.approx(0.0, abs=1e-9)


def test_dci_of_disentangled_and_random_codes():
    codes, factors = factor_sample(400, 0)
    test_codes, test_factors = factor_sample(200, 1)
    # Not exactly 1: boosting's late stages fit leftover noise with a few splits on the other codes.
    trees = metrics.fit_per_factor(metrics.boosted_trees, codes, factors)
    assert metrics.dci(trees, test_codes, test_factors)['disentanglement'] > 0.9
    random_trees = metrics.fit_per_factor(metrics.boosted_trees, np.random.RandomState(2).randn(400, 7), factors)
    assert metrics.dci(random_trees, np.random.RandomState(3).randn(200, 7), test_factors)['disentanglement'] < 0.15


def test_sap_known_answers():
    assert metrics.sap(np.array([[0.9, 0.1], [0.2, 0.7], [0.1, 0.3]])) == pytest.approx(((0.9 - 0.2) + (0.7 - 0.3)) / 2)
    assert metrics.sap(np.ones((3, 2))) == 0.0


def test_sap_of_disentangled_and_random_codes():
    rng = np.random.RandomState(0)
    factors = rng.rand(3000, 3)
    codes = np.hstack([factors + 0.01 * rng.randn(3000, 3), np.zeros((3000, 1))])
    assert metrics.sap(metrics.sap_score_matrix(codes, factors, codes, factors, continuous=True)) > 0.99
    noise = rng.randn(3000, 4)
    assert metrics.sap(metrics.sap_score_matrix(noise, factors, noise, factors, continuous=True)) < 0.01
    # Discrete: a binary factor read off its own code (accuracy 1) against chance (0.5) on any other.
    binary = (rng.rand(3000, 2) < 0.5).astype(int)
    codes = np.hstack([binary + 0.01 * rng.randn(3000, 2), rng.randn(3000, 1)])
    assert metrics.sap(metrics.sap_score_matrix(codes[:2000], binary[:2000], codes[2000:], binary[2000:])) == \
        pytest.approx(0.5, abs=0.05)


def test_reconstruction_error_known_answers():
    images = np.zeros((2, 2, 2, 1))
    images[0, 0, 0, 0] = 1.0
    assert metrics.reconstruction_error(images, np.full(images.shape, 0.5), 'bernoulli') == pytest.approx(
        4 * np.log(2.0))
    assert metrics.reconstruction_error(images, np.full(images.shape, 0.5), 'gaussian') == pytest.approx(1.0)


# ---- UDR ----

def balanced_codes(levels=4, dims=3):
    """Every combination of `levels` values in each of `dims` latents, once: latents whose rank
    correlations with each other are exactly 0."""
    grid = np.stack(np.meshgrid(*[np.arange(levels, dtype=float)] * dims, indexing='ij'), axis=-1)
    return grid.reshape(-1, dims)


ACTIVE = np.ones(3)


def test_identical_codes_score_1():
    codes = balanced_codes()
    assert unsupervised.udr_pair(codes, ACTIVE, codes, ACTIVE) == pytest.approx(1.0)
    scores, pairwise = unsupervised.udr([codes, codes, codes], [ACTIVE] * 3)
    np.testing.assert_allclose(scores, 1.0)
    np.testing.assert_allclose(pairwise, 1.0)


def test_a_permutation_with_sign_flips_scores_1():
    codes = balanced_codes()
    other = np.stack([-codes[:, 2], codes[:, 0], -3.0 * codes[:, 1] + 1.0], axis=1)
    assert unsupervised.udr_pair(codes, ACTIVE, other, ACTIVE) == pytest.approx(1.0)


def test_a_rotation_scores_less_than_the_axes():
    codes = balanced_codes()
    mixed = np.stack([codes[:, 0] + codes[:, 1], codes[:, 0] - codes[:, 1], codes[:, 2]], axis=1)
    assert unsupervised.udr_pair(codes, ACTIVE, mixed, ACTIVE) < 0.9


def test_independent_random_codes_score_near_0():
    rng = np.random.RandomState(0)
    a, b = rng.randn(20000, 10), rng.randn(20000, 10)
    assert unsupervised.udr_pair(a, np.ones(10), b, np.ones(10)) < 0.05


def test_collapsed_dims_are_left_out():
    rng = np.random.RandomState(1)
    codes = balanced_codes()
    noisy = np.hstack([codes, rng.randn(len(codes), 2)])            # two more latents that carry nothing ...
    kl = np.array([1.0, 1.0, 1.0, 0.001, 0.0])                        # ... and say so by their KL
    assert unsupervised.udr_pair(noisy, kl, codes, ACTIVE) == pytest.approx(1.0)
    assert unsupervised.udr_pair(noisy, np.ones(5), codes, ACTIVE) < 0.95   # counted, they lower the score


def test_a_model_with_no_active_dims_scores_0():
    codes = balanced_codes()
    assert unsupervised.udr_pair(codes, np.zeros(3), codes, ACTIVE) == 0.0
    assert unsupervised.udr_pair(codes, np.zeros(3), codes, np.zeros(3)) == 0.0


def test_each_model_scores_the_median_of_its_pairs():
    codes = balanced_codes()
    rng = np.random.RandomState(2)
    outlier = rng.randn(len(codes), 3)
    scores, pairwise = unsupervised.udr([codes, codes, codes, outlier], [ACTIVE] * 4)
    assert pairwise[0, 1] == pytest.approx(1.0) and pairwise[0, 3] < 0.9
    assert scores[0] == pytest.approx(1.0)                           # median of (1, 1, low)
    assert scores[3] == pytest.approx(np.median(pairwise[3, :3]))
    with pytest.raises(SettingsError):
        unsupervised.udr([codes], [ACTIVE])
