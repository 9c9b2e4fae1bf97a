"""The InfoMEC scores (Hsu et al. 2023) against answers worked out by hand: a perfect code scores 1 on each,
a latent that mixes two factors costs InfoM, a factor spread over two latents costs InfoC, a random code
explains nothing."""
import numpy as np
import pytest

import infomec


def grid(*sizes):
    """Every combination of factor values, as a dataset's factor grid: [n, K], independent factors."""
    return np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1)


def test_a_perfect_discrete_code_scores_one_on_each():
    factors = grid(3, 4, 5)
    scores = infomec.infomec(factors * 2.0 - 1, factors, discrete=True)
    assert scores['infom'] == pytest.approx(1.0) and scores['infoc'] == pytest.approx(1.0)
    assert scores['infoe'] > 0.99


def test_a_latent_that_mixes_two_factors_costs_modularity_only():
    factors = grid(3, 4, 5)
    # latent 0 tells factors 0 and 1 apart together (each wholly), latent 1 is factor 2
    codes = np.stack([factors[:, 0] * 4 + factors[:, 1], factors[:, 2]], axis=1).astype(np.float64)
    information = infomec.normalised_information(codes, factors, discrete=True)
    np.testing.assert_allclose(information, [[1, 0], [1, 0], [0, 1]], atol=1e-12)
    # latent 0: max / sum = 1/2, latent 1: 1; mean 3/4, rescaled over 3 factors: (3/4 - 1/3) / (2/3)
    assert infomec.infom(information) == pytest.approx(0.625)
    assert infomec.infoc(information) == pytest.approx(1.0)


def test_a_factor_spread_over_two_latents_costs_compactness_only():
    factors = grid(4, 5)
    codes = np.stack([factors[:, 0] // 2, factors[:, 0] % 2, factors[:, 1]], axis=1).astype(np.float64)
    information = infomec.normalised_information(codes, factors, discrete=True)
    # each half of factor 0 holds ln 2 of its ln 4 nats
    np.testing.assert_allclose(information, [[0.5, 0.5, 0], [0, 0, 1]], atol=1e-12)
    assert infomec.infom(information) == pytest.approx(1.0)
    # factor 0: 1/2, factor 1: 1; mean 3/4, rescaled over 3 latents
    assert infomec.infoc(information) == pytest.approx(0.625)


def test_a_continuous_code_is_read_by_nearest_neighbours_and_inactive_latents_are_left_out():
    rng = np.random.RandomState(0)
    factors = grid(4, 5, 6)
    good = factors + 0.05 * rng.randn(*factors.shape)
    dead = 1e-4 * rng.randn(len(factors), 1)          # a collapsed latent: under 1/20 of the widest range
    codes = np.concatenate([good, dead], axis=1)
    assert list(infomec.active_latents(codes)) == [True, True, True, False]
    scores = infomec.infomec(codes, factors)
    assert scores['infom'] > 0.9 and scores['infoc'] > 0.9 and scores['infoe'] > 0.9
    assert infomec.infomec(codes, factors) == scores     # seeded: the same codes, the same scores
    noise = rng.randn(len(factors), 3)
    # a random code carries next to nothing of any factor (the ratios of such crumbs say little) and explains none
    assert infomec.normalised_information(noise, factors).max() < 0.05
    assert infomec.infomec(noise, factors)['infoe'] < 0.1


def test_degenerate_matrices_have_defined_scores():
    assert infomec.concentration(np.zeros((3, 0)), axis=0) == 0.0      # no active latent
    assert infomec.concentration(np.array([[0.7, 0.1]]), axis=0) == 1.0   # one factor: trivially modular
    assert infomec.concentration(np.zeros((2, 2)), axis=1) == 0.0      # nothing carried: an even spread
