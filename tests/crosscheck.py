"""IRS, modularity, explicitness, the scores without labels, the downstream tasks, fairness and the unified
scores, against disentanglement_lib's own code, on one checkpoint (test_crosscheck.py runs it on a tiny one).

    python tests/crosscheck.py --checkpoint_dir DIR --dataset NAME [--json results/crosscheck_metrics.json]

Needs disentanglement_lib beside this project, which runs on the Python 3.7 stack (TensorFlow 1.14):

    pip install disentanglement-lib==1.5 gin-config==0.1.4 tensorflow-probability==0.7.0 tensorflow-hub==0.5.0 \
        'pandas<1.2'   # a later pandas needs numpy 1.17; this stack pins numpy < 1.17

Two comparisons, both printed and written as JSON:
- the same codes and factors (this project's samples) through both implementations' functions: any
  difference is a difference of definition;
- each implementation end to end with its own sampling: this project's --evaluate functions, and
  disentanglement_lib's compute_* functions bound by the study's gin configurations (its
  unsupervised_study_v1 metric configs; IRS's from its sample config), reading the same model and
  dataset through a GroundTruthData adapter. These differ by sampling noise as well.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hardware import import_tensorflow

tf = import_tensorflow()

import numpy as np  # noqa: E402

import evaluate  # noqa: E402
import inference  # noqa: E402
import metrics  # noqa: E402
import scores  # noqa: E402
import settings  # noqa: E402
import tasks  # noqa: E402
import unified  # noqa: E402
import unsupervised  # noqa: E402
import provenance  # noqa: E402
from common import SettingsError, write_json  # noqa: E402
from datasets import open_ground_truth  # noqa: E402

INSTALL = ('pip install disentanglement-lib==1.5 gin-config==0.1.4 tensorflow-probability==0.7.0 tensorflow-hub==0.5.0 '
           '"pandas<1.2" (Python 3.7 stack; a later pandas needs numpy 1.17)')
GIN_FILES = {'irs': 'sample/irs/irs.gin', 'modularity_explicitness':
             'unsupervised_study_v1/metric_configs/modularity_explicitness.gin',
             'unsupervised': 'unsupervised_study_v1/metric_configs/unsupervised.gin',
             'downstream_logistic': 'unsupervised_study_v1/metric_configs/downstream_task_logistic_regression.gin',
             'downstream_boosted_trees': 'unsupervised_study_v1/metric_configs/downstream_task_boosted_trees.gin'}


def reference():
    """disentanglement_lib's modules, or a one-line SettingsError that says how to install them."""
    try:
        import disentanglement_lib
        import disentanglement_lib.evaluation.evaluate  # noqa: F401 (registers the configurables)
        from disentanglement_lib.evaluation.metrics import (downstream_task, fairness, irs, modularity_explicitness,
                                                            reduced_downstream_task, strong_downstream_task,
                                                            unified_scores, unsupervised_metrics, utils)
    except ImportError as error:
        raise SettingsError('the cross-check needs disentanglement_lib ({}): {}'.format(error, INSTALL))
    modules = dict(irs=irs, modularity_explicitness=modularity_explicitness, unsupervised=unsupervised_metrics,
                   downstream=downstream_task, utils=utils, fairness=fairness, reduced=reduced_downstream_task,
                   strong=strong_downstream_task, unified=unified_scores)
    modules['config_dir'] = os.path.join(os.path.dirname(disentanglement_lib.__file__), 'config')
    return modules


def same_codes(dl, train, test, training_sets):
    """{metric: (this project, disentanglement_lib)} on the same codes and factors."""
    (codes, factors), (codes_test, factors_test) = train, test
    binned = dl['utils']._histogram_discretize(factors.T, 20)
    mus = dl['irs']._drop_constant_dims(codes.T)
    pairs = {'irs': (metrics.irs(codes, metrics.discretize(factors, 20)),
                     dl['irs'].scalable_disentanglement_score(binned.T, mus.T, 0.99)['avg_score'])}
    information = dl['utils'].discrete_mutual_info(dl['utils']._histogram_discretize(codes.T, 20), factors.T)
    pairs['modularity'] = (metrics.modularity_score(codes, factors, 20),
                           dl['modularity_explicitness'].modularity(information))
    train_norm, mean, std = dl['utils'].normalize_data(codes.T)
    test_norm = dl['utils'].normalize_data(codes_test.T, mean, std)[0]
    reference_auc = np.mean([dl['modularity_explicitness'].explicitness_per_factor(
        train_norm, factors[:, k], test_norm, factors_test[:, k])[1] for k in range(factors.shape[1])])
    pairs['explicitness'] = (metrics.explicitness(codes, factors, codes_test, factors_test)[1], reference_auc)
    cov = np.cov(codes.T)
    ours = unsupervised.unsupervised_scores(codes)
    pairs['gaussian_total_correlation'] = (ours['gaussian_total_correlation'],
                                           dl['unsupervised'].gaussian_total_correlation(cov))
    pairs['wasserstein_dependency'] = (ours['wasserstein_dependency'],
                                       dl['unsupervised'].gaussian_wasserstein_correlation(cov))
    pairs.update(same_codes_downstream(dl, training_sets, codes_test, factors_test))
    pairs.update(same_codes_unified(dl, train, test))
    return pairs


def same_codes_unified(dl, train, test):
    """{unified_MATRIX_AGGREGATION: (this project, disentanglement_lib)} of the same three matrices."""
    (codes, factors), (codes_test, factors_test) = train, test
    matrices = {'gbt': metrics.importance(metrics.fit_per_factor(metrics.boosted_trees, codes, factors)),
                'mi': unified.mutual_information_matrix(codes, factors, 20),
                'svm': metrics.sap_score_matrix(codes, factors, codes_test, factors_test)}
    ours = unified.unified_scores(matrices, factors)
    names = {'dci_completeness': 'dci_completeness', 'dci': 'dci', 'mig': 'mig', 'sap': 'sap',
             'modularity': 'modularity', 'area_precision': 'area_precision', 'max_precision': 'max_precision'}
    pairs = {}
    for name, matrix in matrices.items():
        theirs = dl['unified'].pr_curves_values(matrix.copy())
        for aggregate in dl['unified'].AGGREGATION_FN:
            theirs.update(aggregate(matrix.copy(), factors.T))
        for key, their_key in names.items():
            label = 'unified_{}_{}'.format(name, key)
            pairs[label] = (ours[label], float(theirs[their_key]))
    return pairs


def same_codes_tasks(dl, sample):
    """{score: (this project, disentanglement_lib)}: fairness of the same prediction counts, and the reduced
    downstream task on the same codes (disentanglement_lib's trees are unseeded)."""
    trees = sample.classifiers('boosted_trees', sample.cfg.eval_num_train)
    scored, ground_truth = list(sample.ground_truth.scored), sample.ground_truth
    mean, largest = (np.zeros((len(scored), len(scored))) for _ in range(2))
    ours_mean = np.full_like(mean, np.nan)
    rng = sample.rng(6)
    for i, target in enumerate(scored):
        for j, sensitive in enumerate(scored):
            if i != j:
                counts = tasks.intervention_counts(trees[i], sample.represent, ground_truth, rng, target, sensitive,
                                                   sample.cfg.fairness_points)
                mean[i, j], largest[i, j] = dl['fairness'].inter_group_fairness(counts)
                ours_mean[i, j] = tasks.inter_group_fairness(counts)[0]
    theirs = dl['fairness'].compute_scores_dict(mean, 'mean_fairness')
    names = [ground_truth.factor_names[k] for k in scored]
    pairs = {'unfairness': (tasks.unfairness_scores(ours_mean, largest, names)['unfairness'],
                            float(theirs['mean_fairness:mean_pred:mean_sens']))}
    train, test = sample.training_codes(sample.cfg.task_codes), sample.test
    importance = metrics.importance(sample.classifiers('boosted_trees', sample.cfg.task_codes))
    accuracy = tasks.reduced_accuracy(metrics.boosted_trees, importance, train, test)
    from sklearn import ensemble
    for k in range(len(scored)):
        reduced_train, reduced_test = dl['reduced'].compute_reduced_representation(
            train[0].T, train[1].T, test[0].T, test[1].T, k, correlation_measure=dl['reduced'].compute_factorwise_dci)
        theirs = dl['reduced'].compute_predictive_accuracy(reduced_train.T, train[1].T, reduced_test.T, test[1].T,
                                                           ensemble.GradientBoostingClassifier)[1]
        pairs['reduced_downstream_{}'.format(names[k])] = (float(accuracy[k, k]), float(theirs[k]))
    return pairs


def same_codes_downstream(dl, training_sets, codes_test, factors_test):
    """{downstream_PREDICTOR_SIZE: (this project, disentanglement_lib or its error)} on the same codes."""
    from sklearn import ensemble, linear_model, model_selection
    predictors = {'logistic': lambda: linear_model.LogisticRegressionCV(Cs=10, cv=model_selection.KFold(n_splits=5)),
                  'boosted_trees': ensemble.GradientBoostingClassifier}
    pairs = {}
    for name, predictor in sorted(predictors.items()):
        ours = metrics.downstream({size: metrics.fit_per_factor(metrics.PREDICTORS[name], codes, factors)
                                   for size, (codes, factors) in training_sets.items()}, codes_test, factors_test)
        for size, (codes, factors) in sorted(training_sets.items()):
            try:
                theirs = float(np.mean(dl['downstream']._compute_loss(codes, factors.T, codes_test, factors_test.T,
                                                                      predictor)[1]))
            except ValueError as error:   # a fold without one of the classes, under scikit-learn >= 1.0
                theirs = 'fails: {}'.format(str(error).splitlines()[0][:80])
            pairs['downstream_{}_{}'.format(name, size)] = (ours[size], theirs)
    return pairs


class Adapter(object):
    """This project's dataset as disentanglement_lib's GroundTruthData: it samples the scored factors and
    fills the others uniformly, as its SplitDiscreteStateSpace does."""

    def __init__(self, ground_truth):
        self.ground_truth = ground_truth
        self.num_factors = len(ground_truth.scored)
        self.factors_num_values = [ground_truth.factor_sizes[k] for k in ground_truth.scored]
        self.observation_shape = list(ground_truth.img_shape)

    def sample_factors(self, num, random_state):
        return np.stack([random_state.randint(size, size=num) for size in self.factors_num_values], axis=1)

    def sample_observations_from_factors(self, factors, random_state):
        classes = self.ground_truth.sample(random_state, len(factors))
        classes[:, self.ground_truth.scored] = factors
        return self.ground_truth.images(classes)

    def sample(self, num, random_state):
        factors = self.sample_factors(num, random_state)
        return factors, self.sample_observations_from_factors(factors, random_state)


def end_to_end(dl, restored, ground_truth, sample):
    """{score: (this project's --evaluate functions, disentanglement_lib's compute_* under the study's gin)}."""
    import gin.tf
    ours = {}
    for name in ('irs', 'modularity', 'unsupervised', 'downstream', 'fairness', 'strong_downstream'):
        ours.update(scores.METRICS[name].compute(sample))
    adapter, encode = Adapter(ground_truth), lambda x: restored.encode(x)[0]
    calls = {'irs': lambda: dl['irs'].compute_irs(adapter, encode, np.random.RandomState(0)),
             'modularity_explicitness': lambda: dl['modularity_explicitness'].compute_modularity_explicitness(
                 adapter, encode, np.random.RandomState(0)),
             'unsupervised': lambda: dl['unsupervised'].unsupervised_metrics(adapter, encode, np.random.RandomState(0))}
    for name in ('logistic', 'boosted_trees'):
        calls['downstream_' + name] = lambda: dl['downstream'].compute_downstream_task(
            adapter, encode, np.random.RandomState(0))
    cfg = sample.cfg
    calls['fairness'] = lambda: dl['fairness'].compute_fairness(
        adapter, encode, np.random.RandomState(0), num_train=cfg.eval_num_train,
        num_test_points_per_class=cfg.fairness_points)
    calls['strong'] = lambda: dl['strong'].compute_strong_downstream_task(
        adapter, encode, np.random.RandomState(0), num_train=[cfg.task_codes], num_test=cfg.task_codes,
        n_experiment=cfg.strong_experiments)
    theirs = {}
    for name, call in sorted(calls.items()):
        gin.clear_config()
        files = [os.path.join(dl['config_dir'], GIN_FILES[name])] if name in GIN_FILES else []
        bindings = [] if files else ['predictor.predictor_fn = @gradient_boosting_classifier']
        gin.parse_config_files_and_bindings(files, bindings)
        try:
            theirs[name] = call()
        except ValueError as error:
            theirs[name] = {'error': str(error).splitlines()[0][:80]}
    return pair_end_to_end(ours, theirs)


def pair_end_to_end(ours, theirs):
    """The end-to-end scores side by side, under this project's names."""
    pairs = {'irs': (ours['irs'], theirs['irs'].get('IRS')),
             'modularity': (ours['modularity'], theirs['modularity_explicitness'].get('modularity_score')),
             'explicitness': (ours['explicitness'], theirs['modularity_explicitness'].get('explicitness_score_test')),
             'gaussian_total_correlation': (ours['gaussian_total_correlation'],
                                            theirs['unsupervised'].get('gaussian_total_correlation')),
             'wasserstein_dependency_norm': (ours['wasserstein_dependency_norm'],
                                             theirs['unsupervised'].get('gaussian_wasserstein_correlation_norm')),
             'mutual_info_score': (ours['mutual_info_score'], theirs['unsupervised'].get('mutual_info_score'))}
    pairs['unfairness'] = (ours['unfairness'], theirs['fairness'].get('mean_fairness:mean_pred:mean_sens'))
    gap = [value for key, value in theirs['strong'].items() if key.endswith('strong_generalization_gap')]
    pairs['strong_generalization_gap'] = (ours['strong_generalization_gap'], gap[0] if gap else None)
    for name in ('logistic', 'boosted_trees'):
        for size, accuracy in sorted(ours['downstream_' + name].items(), key=lambda item: int(item[0])):
            found = theirs['downstream_' + name]
            pairs['downstream_{}_{}'.format(name, size)] = (
                accuracy, found.get('{}:mean_test_accuracy'.format(size), 'fails: ' + found.get('error', '?')))
    return pairs


def table(pairs):
    rows = []
    for name, (ours, theirs) in sorted(pairs.items()):
        number = not isinstance(theirs, str) and theirs is not None
        rows.append([name, '{:.4f}'.format(ours), '{:.4f}'.format(theirs) if number else str(theirs),
                     '{:+.4f}'.format(ours - theirs) if number else '—'])
    return {'columns': ['score', 'this project', 'disentanglement_lib', 'difference'], 'rows': rows}


def samples(checkpoint_dir, dataset, overrides=()):
    """(the restored model, its dataset, the samples --evaluate draws from them, with these (setting, text))."""
    restored = inference.Restored(settings.resolve(dataset, [('checkpoint_dir', checkpoint_dir)] + list(overrides)))
    ground_truth = open_ground_truth(restored.cfg, seed=restored.cfg.eval_seed)
    return restored, ground_truth, evaluate.FactorSample(restored, ground_truth)


def compare(checkpoint_dir, dataset):
    """{'same_codes', 'end_to_end'}: {score: (this project, disentanglement_lib)}, and the restored model."""
    dl = reference()
    restored, ground_truth, sample = samples(checkpoint_dir, dataset)
    codes, factors = metrics.factor_codes(sample.represent, sample.ground_truth, sample.rng(5), 10000)
    training_sets = {size: (codes[:size], factors[:size]) for size in (10, 100, 1000, 10000)}
    same = same_codes(dl, sample.train, sample.test, training_sets)
    same.update(same_codes_tasks(dl, sample))
    return {'same_codes': same,
            'end_to_end': end_to_end(dl, restored, ground_truth, sample)}, restored


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--checkpoint_dir', required=True)
    parser.add_argument('--dataset', required=True)
    parser.add_argument('--json', default=os.path.join('results', 'crosscheck_metrics.json'))
    args = parser.parse_args()
    pairs, restored = compare(args.checkpoint_dir, args.dataset)
    report = {'checkpoint': restored.checkpoint, 'dataset': args.dataset, 'step': restored.step,
              'tables': {name: table(found) for name, found in pairs.items()}}
    for name, t in sorted(report['tables'].items()):
        print(name)
        for row in t['rows']:
            print('  {:<32}{:>12}{:>30}{:>12}'.format(*row))
    command = ' '.join(['python tests/crosscheck.py'] + sys.argv[1:])
    write_json(dict([('header', provenance.result_header(command))] + sorted(report.items())), args.json)
    print('wrote {}'.format(args.json))


if __name__ == '__main__':
    main()
