"""IRS, modularity, explicitness, the label-free scores and the downstream task against known answers
worked out here, not through the code under test."""
import math

import numpy as np
import pytest

import metrics
import scores
import settings
import unsupervised
from common import SettingsError
from conftest import run_cli


def grid(*sizes, repeats=1):
    """Every combination of factor values once (row-major), `repeats` times: [n, K] factor indices."""
    classes = np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1)
    return np.tile(classes, (repeats, 1))


def test_irs_of_a_code_that_copies_each_factor_into_its_own_dim_is_1():
    factors = grid(3, 4, 5)
    assert metrics.irs(factors.astype(float), factors) == pytest.approx(1.0)
    # a constant dim beside them is left out, not scored
    assert metrics.irs(np.hstack([factors, np.ones((len(factors), 1))]), factors) == pytest.approx(1.0)


def test_irs_of_a_dim_that_sums_two_factors_is_what_the_definition_gives():
    # z = g1 + g2 on the 2x2 grid: z's largest deviation from its mean 1 is 1. Fixing g1 = 0 leaves
    # z in {0, 1} around 0.5, every deviation 0.5, so its 0.99 quantile is 0.5; the same for g1 = 1, and
    # for g2 by symmetry. Each factor's robustness is 1 - 0.5 / 1 = 0.5.
    factors = grid(2, 2, repeats=10)
    assert metrics.irs(factors.sum(axis=1, keepdims=True).astype(float), factors) == pytest.approx(0.5)
    # a dim that follows g1 alone (0 or 0.5) is untouched by interventions on the nuisance g2: robustness 1.
    # The average is weighted by each dim's largest deviation, 0.25 and 1: (1 * 0.25 + 0.5 * 1) / 1.25.
    codes = np.column_stack([factors[:, 0] * 0.5, factors.sum(axis=1)]).astype(float)
    assert metrics.irs(codes, factors) == pytest.approx((1 * 0.25 + 0.5 * 1) / 1.25)


def test_modularity_is_1_for_one_factor_per_dim_and_worked_out_by_hand_for_a_mixed_dim():
    factors = grid(2, 2, 2, repeats=5)
    assert metrics.modularity_score(factors.astype(float), factors) == pytest.approx(1.0)
    # One dim holding g1 and g2 equally (4 distinct values, g3 ignored): its MI with g1 and with g2 is
    # log 2 each and 0 with g3, so delta = (2 m^2 - m^2) / (m^2 (3 - 1)) = 1/2 and modularity 1/2.
    mixed = (2 * factors[:, 0] + factors[:, 1]).astype(float)[:, None]
    assert metrics.modularity_score(mixed, factors) == pytest.approx(0.5)
    assert metrics.modularity([[0.0, 0.0]]) == 0.0   # a dim that carries nothing
    assert metrics.modularity([[2e-17, 1e-17, 1e-17]]) == 0.0   # nor does a constant dim's rounding error
    constant = np.hstack([factors.astype(float), np.zeros((len(factors), 1))])
    assert metrics.modularity_score(constant, factors) == pytest.approx(0.75)   # 3 of its 4 dims score 1


def test_explicitness_is_1_for_separable_codes_and_about_half_for_random_ones():
    rng = np.random.RandomState(0)
    train, test = grid(3, 4, repeats=30), grid(3, 4, repeats=10)
    one_hot = lambda f: np.hstack([np.eye(3)[f[:, 0]], np.eye(4)[f[:, 1]]]) * 5.0
    assert metrics.explicitness(one_hot(train), train, one_hot(test), test) == (pytest.approx(1.0), pytest.approx(1.0))
    noise_train, noise_test = rng.randn(len(train), 6), rng.randn(len(test), 6)
    assert abs(metrics.explicitness(noise_train, train, noise_test, test)[1] - 0.5) < 0.1


def test_gaussian_total_correlation_and_wasserstein_dependency_have_their_closed_forms():
    r = 0.6
    cov = np.array([[1.0, r], [r, 1.0]])
    assert unsupervised.gaussian_total_correlation(cov) == pytest.approx(-0.5 * math.log(1 - r * r))
    # tr sqrt(M) of a 2x2 positive definite M is sqrt(tr M + 2 sqrt(det M)); here M = cov
    assert unsupervised.gaussian_wasserstein_dependency(cov) == pytest.approx(
        4.0 - 2.0 * math.sqrt(2.0 + 2.0 * math.sqrt(1 - r * r)))
    diagonal = np.diag([0.5, 2.0, 3.0])
    assert unsupervised.gaussian_total_correlation(diagonal) == pytest.approx(0.0)
    assert unsupervised.gaussian_wasserstein_dependency(diagonal) == pytest.approx(0.0, abs=1e-12)


def test_mutual_info_score_is_near_0_for_independent_dims_and_the_entropy_for_copies():
    rng = np.random.RandomState(1)
    independent = rng.randint(0, 4, (20000, 2)).astype(float)
    assert unsupervised.mutual_info_score(independent, bins=4) < 0.002
    copies = np.repeat(rng.randint(0, 4, (20000, 1)), 2, axis=1).astype(float)
    assert unsupervised.mutual_info_score(copies, bins=4) == pytest.approx(math.log(4), abs=0.01)
    scores = unsupervised.unsupervised_scores(np.column_stack([copies, np.zeros(20000)]), bins=4)
    assert scores['mutual_info_score'] == pytest.approx(math.log(4), abs=0.01)   # the constant dim left out


def test_downstream_reaches_1_on_codes_that_hold_the_factors_and_sample_efficiency_is_the_ratio():
    factors = grid(3, 40, repeats=100)[np.random.RandomState(0).permutation(12000)]
    train, test = factors[:10000], factors[10000:]
    exact = {10000: metrics.fit_per_factor(metrics.boosted_trees, train.astype(float), train)}
    assert metrics.downstream(exact, test.astype(float), test) == {10000: 1.0}
    one_hot = lambda f: np.hstack([np.eye(3)[f[:, 0]], np.eye(40)[f[:, 1]]])
    logistic = {10000: metrics.fit_per_factor(metrics.logistic_cv, one_hot(train), train)}
    assert metrics.downstream(logistic, one_hot(test), test) == {10000: 1.0}
    assert metrics.sample_efficiency({100: 0.5, 10000: 0.8}) == pytest.approx(0.625)


def test_logistic_regression_on_10_and_100_codes_with_rare_classes_fits():
    rng = np.random.RandomState(2)
    for count in (10, 100):
        codes, labels = rng.randn(count, 4), rng.randint(0, 40, count)   # most of 40 classes have 0 or 1 codes
        model = metrics.logistic_cv(codes, labels)
        assert set(model.predict(codes)) <= set(labels)
    codes, labels = rng.randn(100, 4), np.repeat([0, 1, 2], [40, 57, 3])  # the rarest class has 3: 3 folds
    assert metrics.logistic_cv(codes, labels).cv.n_splits == 3


def test_eval_metrics_names_metrics_or_the_scores_they_print():
    def chosen(text):
        return scores.selected(settings.resolve('dsprites', [('eval_metrics', text)]))
    assert chosen('modularity,irs') == ['irs', 'modularity']
    assert chosen('explicitness,mutual_info_score') == ['modularity', 'unsupervised']   # a score selects its metric
    assert chosen('all') == list(scores.METRICS)
    with pytest.raises(SettingsError, match='eval_metrics has unknown bogus: choose from the metrics beta_vae,'):
        chosen('irs,bogus')


def test_an_unknown_eval_metrics_name_is_one_line_that_lists_the_names_accepted(tmp_path):
    result = run_cli('--check', '--eval_metrics', 'mig,bogus', cwd=str(tmp_path))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith('error:')]
    assert len(lines) == 1 and 'eval_metrics has unknown bogus' in lines[0] and 'explicitness' in lines[0], result.stderr
