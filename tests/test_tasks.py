"""Fairness, the reduced and strong downstream tasks and the unified scores against hand-worked answers and
constructed codes; the sampled representation, end to end."""
import json
import math

import numpy as np
import pytest

import metrics
import tasks
import unified
import vae
from conftest import TINY_DSPRITES, run_cli
from kit.runs import folder_flags


class Grid(object):
    """A small factor grid with metrics.py's ground-truth interface: every factor scored, uniform samples."""

    def __init__(self, sizes):
        self.factor_sizes = list(sizes)
        self.scored = list(range(len(sizes)))
        self.factor_names = ['f{}'.format(k) for k in self.scored]

    def sample(self, rng, count):
        return np.stack([rng.randint(size, size=count) for size in self.factor_sizes], axis=1)


class Reads(object):
    """A classifier that predicts the code's column `dim` as it is: a stand-in whose behaviour is known."""

    def __init__(self, dim):
        self.dim = dim

    def predict(self, codes):
        return np.asarray(codes)[:, self.dim].astype(np.int64)


def identity(classes):
    return classes.astype(np.float64)


def tree(codes, labels):
    return metrics.sklearn().tree.DecisionTreeClassifier(random_state=0).fit(codes, labels)


# ---- fairness ----

def test_predictions_that_copy_the_sensitive_value_are_half_unfair_and_equal_columns_are_fair():
    np.testing.assert_allclose(tasks.inter_group_fairness([[10, 0], [0, 10]]), (0.5, 0.5))
    np.testing.assert_allclose(tasks.inter_group_fairness([[3, 3, 3], [7, 7, 7]]), (0.0, 0.0))
    # columns (1, 0) and (1, 3) of 4 predictions: overall (2, 3)/5... worked by hand
    counts = np.array([[4, 1], [0, 3]])
    overall = np.array([5.0, 3.0]) / 8
    distances = [0.5 * (abs(1 - overall[0]) + abs(0 - overall[1])), 0.5 * (abs(0.25 - overall[0]) + abs(0.75 - overall[1]))]
    np.testing.assert_allclose(tasks.inter_group_fairness(counts), (np.mean(distances), max(distances)))


def test_a_code_that_ignores_the_sensitive_factor_is_fair_and_one_that_copies_it_is_not():
    grid = Grid([4, 4, 3])
    fair = [Reads(0), Reads(1), Reads(2)]
    mean, largest = tasks.unfairness(fair, identity, grid, np.random.RandomState(0), 50)
    off = ~np.eye(3, dtype=bool)
    np.testing.assert_array_equal(mean[off], 0.0)
    assert np.isnan(mean[0, 0])
    scores = tasks.unfairness_scores(mean, largest, grid.factor_names)
    assert scores['unfairness'] == 0.0 and scores['unfairness_max'] == 0.0
    assert set(scores['unfairness_pairs']['f0']) == {'f1', 'f2'}

    # factor 0's classifier answers with factor 1's value: every prediction follows the intervention on f1
    copying = [Reads(1), Reads(1), Reads(2)]
    mean, largest = tasks.unfairness(copying, identity, grid, np.random.RandomState(0), 50)
    assert mean[0, 1] == pytest.approx(0.75)      # each value of f1 predicts one of 4 values; overall uniform
    assert mean[0, 2] == 0.0
    scores = tasks.unfairness_scores(mean, largest, grid.factor_names)
    assert scores['unfairness'] == pytest.approx(0.75 / 6) and scores['unfairness_max'] == pytest.approx(0.75)


# ---- the reduced downstream task ----

def test_removing_a_factors_only_latent_leaves_it_to_chance_and_a_copy_leaks_it():
    grid = Grid([4, 5])
    rng = np.random.RandomState(0)
    train, test = grid.sample(rng, 400), grid.sample(rng, 200)
    own = np.array([[1.0, 0.0], [0.0, 1.0]])
    accuracy = tasks.reduced_accuracy(tree, own, (identity(train), train), (identity(test), test))
    assert accuracy[0, 0] < 0.4 and accuracy[1, 1] < 0.35          # chance: 1/4 and 1/5
    assert accuracy[0, 1] == 1.0 and accuracy[1, 0] == 1.0
    scores = tasks.reduced_scores(accuracy)
    assert scores['reduced_downstream_others'] == 1.0 and scores['reduced_downstream'] < 0.4

    leaky = np.hstack([identity(train), identity(train)[:, :1]])    # factor 0 twice
    leaky_test = np.hstack([identity(test), identity(test)[:, :1]])
    importance = np.array([[0.9, 0.0], [0.0, 1.0], [0.1, 0.0]])
    accuracy = tasks.reduced_accuracy(tree, importance, (leaky, train), (leaky_test, test))
    assert accuracy[0, 0] == 1.0                                   # its copy still carries it


# ---- the strong downstream task ----

def test_an_intervention_fixes_another_factor_in_training_and_shifts_it_in_the_test():
    grid = Grid([3, 6, 5])
    rng = np.random.RandomState(0)
    train, test = grid.sample(rng, 100), grid.sample(rng, 300)
    for _ in range(20):
        shifted_train, shifted_test = tasks.intervene(train, test, 0, grid.factor_sizes, rng)
        np.testing.assert_array_equal(shifted_train[:, 0], train[:, 0])
        np.testing.assert_array_equal(shifted_test[:, 0], test[:, 0])
        changed = [k for k in (1, 2) if len(np.unique(shifted_train[:, k])) == 1]
        assert len(changed) == 1
        factor = changed[0]
        assert shifted_train[0, factor] not in set(shifted_test[:, factor])
        assert len(set(shifted_test[:, factor])) == grid.factor_sizes[factor] - 1


def test_a_perfect_code_generalises_under_the_shift_and_an_entangled_one_does_not():
    grid = Grid([4, 4])
    plain, shifted = tasks.strong_accuracy(tree, identity, grid, np.random.RandomState(0), 300, 300, 3)
    assert plain == 1.0 and shifted == 1.0
    assert tasks.strong_scores(plain, shifted)['strong_generalization_gap'] == 0.0

    def entangled(classes):      # factor 0 readable only together with factor 1
        return np.stack([classes[:, 0] + 4 * classes[:, 1], classes[:, 1]], axis=1).astype(np.float64)
    plain, shifted = tasks.strong_accuracy(tree, entangled, grid, np.random.RandomState(0), 300, 300, 3)
    assert plain == 1.0 and shifted < 0.75
    assert tasks.strong_scores(plain, shifted)['strong_generalization_gap'] > 0.25


# ---- the unified scores ----

def test_components_count_the_groups_the_strong_edges_join():
    assert unified.components(np.eye(3), 0.5) == 3
    assert unified.components([[1.0, 1.0], [0.0, 0.0]], 0.5) == 1       # one latent carries both factors
    assert unified.components([[1.0, 0.2], [0.0, 0.9]], 0.5) == 2
    assert unified.components([[1.0, 0.2], [0.0, 0.9]], 0.1) == 1       # the weak edge joins them
    assert unified.components(np.zeros((2, 2)), 0.0) == 0


def test_the_precision_curve_of_hand_matrices():
    # thresholds 1, 1, 0, 0: two components at every one of them; the area spans 1 -> 0 at height 2
    assert unified.precision_curve(np.eye(2)) == (2.0, 2.0)
    assert unified.precision_curve([[1.0, 1.0], [0.0, 0.0]]) == (1.0, 1.0)
    # thresholds 1, .9, .2, 0: counts 1, 2, 1, 1
    area, largest = unified.precision_curve([[1.0, 0.2], [0.0, 0.9]])
    assert area == pytest.approx((1 + 2) * 0.1 / 2 + (2 + 1) * 0.7 / 2 + (1 + 1) * 0.2 / 2) and largest == 2.0


def test_each_aggregation_of_a_one_to_one_matrix():
    factors = np.array([[0, 0], [1, 1], [0, 1], [1, 0]])           # each factor: two values, H = log 2
    scores = unified.aggregations(np.eye(2), factors)
    assert scores['dci'] == pytest.approx(1.0) and scores['dci_completeness'] == pytest.approx(1.0)
    assert scores['sap'] == 1.0 and scores['modularity'] == 1.0
    assert scores['mig'] == pytest.approx(1 / math.log(2))
    assert (scores['area_precision'], scores['max_precision']) == (2.0, 2.0)
    mixed = unified.aggregations([[1.0, 1.0], [0.0, 0.0]], factors)
    assert mixed['dci'] == pytest.approx(0.0, abs=1e-9) and mixed['modularity'] == 0.0


def test_the_mutual_information_matrix_of_a_copy_is_the_factors_entropy():
    rng = np.random.RandomState(0)
    factors = rng.randint(4, size=(2000, 2))
    matrix = unified.mutual_information_matrix(factors.astype(np.float64), factors, bins=4)
    assert matrix[0, 0] == pytest.approx(metrics.discrete_entropy(factors[:, 0]))
    assert matrix[0, 1] < 0.01 and matrix[1, 0] < 0.01
    keys = unified.unified_scores({'gbt': np.eye(2), 'mi': matrix, 'svm': np.eye(2)}, factors)
    assert len(keys) == 21 and keys['unified_gbt_sap'] == 1.0


# ---- the sampled representation ----

SMALL = ['--eval_num_train', '40', '--eval_num_eval', '20', '--eval_num_points', '64', '--eval_batch_size', '8',
         '--eval_metrics', 'mig,infomec']


def test_the_sampled_representation_scores_draws_and_says_so(tmp_path):
    flags = TINY_DSPRITES + folder_flags(tmp_path)
    assert vae.main(['--train', '--steps', '2'] + flags) == 0
    results = {}
    for representation in ('mean', 'sampled'):
        assert vae.main(['--evaluate', '--representation', representation] + flags + SMALL) == 0
        results[representation] = json.loads((tmp_path / 'res' / 'metrics.json').read_text())
    assert results['sampled']['evaluation']['representation'] == 'sampled'
    assert results['mean']['evaluation']['representation'] == 'mean'
    assert results['sampled']['infoe'] != results['mean']['infoe']
    again = vae.main(['--evaluate', '--representation', 'sampled'] + flags + SMALL)
    assert again == 0 and json.loads((tmp_path / 'res' / 'metrics.json').read_text())['infoe'] == \
        results['sampled']['infoe']                               # seeded: the same draws


def test_a_deterministic_code_has_no_sample_to_score(tmp_path):
    flags = TINY_DSPRITES + folder_flags(tmp_path) + ['--objective', 'qlae']
    assert vae.main(['--train', '--steps', '1'] + flags) == 0
    result = run_cli('--evaluate', '--representation', 'sampled', *(flags + SMALL))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and 'objective qlae has a deterministic code' in lines[0], result.stderr
    bad = run_cli('--evaluate', '--representation', 'median', *(flags + SMALL))
    assert "representation must be 'mean' or 'sampled', got 'median'" in bad.stderr
