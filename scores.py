"""The metric table: every metric --evaluate can compute, how it is computed from the shared sample of
evaluate.FactorSample, the classifiers it fits, and the scores it writes, with the labels they are printed
under. eval_metrics, --evaluate's lines and the study's columns all read this one table: a metric is added
here (its pure function in metrics.py or unsupervised.py, its entry in docs/evaluation.md). Also the scores a
labelled set alone gives, which the choice of a model from a few labels ranks runs by."""
import collections

import numpy as np

import infomec
import metrics
import tasks
import unified
import unsupervised
from common import SettingsError

# A score a metric writes to metrics.json that --evaluate prints and the study's tables show: its key and label.
Score = collections.namedtuple('Score', 'key label')
# compute: FactorSample -> {score key: value}, more keys than `shown` where it has them (DCI's completeness);
# classifiers: settings -> [(predictor, training codes)] it fits, all fitted in one parallel pass;
# factors: whether it needs a dataset's factors (the scores without labels also score CelebA and folders).
Metric = collections.namedtuple('Metric', 'compute shown classifiers factors')


def mig_scores(s):
    information = metrics.factor_information(s.z_mean, s.classes, s.ground_truth.scored, s.cfg.mig_bins)
    # which latents carry each factor: {factor: [normalised mutual information of each latent]}
    return {'mig': metrics.information_gap(information), 'factor_information': {
        s.ground_truth.factor_names[k]: information[:, i].tolist() for i, k in enumerate(s.ground_truth.scored)}}


def dci_scores(s):
    dci = metrics.dci(s.classifiers('boosted_trees', s.cfg.eval_num_train), *s.test)
    return {'dci': dci['disentanglement'], 'dci_completeness': dci['completeness'],
            'dci_informativeness': dci['informativeness']}


def modularity_scores(s):
    train, test = s.train, s.test
    explicitness_train, explicitness = metrics.explicitness(train[0], train[1], test[0], test[1])
    return {'modularity': metrics.modularity_score(train[0], train[1], s.cfg.mig_bins),
            'explicitness_train': explicitness_train, 'explicitness': explicitness}


def downstream_scores(s):
    """Both downstream predictors' mean test accuracy at each of downstream_sizes training codes (nested
    prefixes of one sample), and their sample efficiency where the sizes hold 100 and 10,000."""
    result = {}
    for predictor in sorted(metrics.PREDICTORS):
        accuracy = metrics.downstream({size: s.classifiers(predictor, size) for size in s.cfg.downstream_sizes},
                                      *s.test)
        result['downstream_' + predictor] = {str(size): value for size, value in accuracy.items()}
        if 100 in accuracy and 10000 in accuracy:
            result['sample_efficiency_' + predictor] = metrics.sample_efficiency(accuracy)
    return result


def fairness_scores(s):
    trees = s.classifiers('boosted_trees', s.cfg.eval_num_train)
    mean, largest = tasks.unfairness(trees, s.represent, s.ground_truth, s.rng(6), s.cfg.fairness_points)
    names = [s.ground_truth.factor_names[k] for k in s.ground_truth.scored]
    return tasks.unfairness_scores(mean, largest, names)


def reduced_scores(s):
    importance = metrics.importance(s.classifiers('boosted_trees', s.cfg.task_codes))
    accuracy = tasks.reduced_accuracy(metrics.boosted_trees, importance, s.training_codes(s.cfg.task_codes), s.test)
    return tasks.reduced_scores(accuracy)


def strong_scores(s):
    return tasks.strong_scores(*tasks.strong_accuracy(metrics.boosted_trees, s.represent, s.ground_truth, s.rng(7),
                                                      s.cfg.task_codes, s.cfg.task_codes, s.cfg.strong_experiments))


def unified_scores(s):
    codes, factors = s.train
    matrices = {'gbt': metrics.importance(s.classifiers('boosted_trees', s.cfg.eval_num_train)),
                'mi': unified.mutual_information_matrix(codes, factors, s.cfg.mig_bins),
                'svm': metrics.sap_score_matrix(*(s.train + s.test))}
    return unified.unified_scores(matrices, factors)


# The metrics a fixed labelled set can score (the model choice from a few labels): those that read codes of
# observed images with their labels, not BetaVAE's and FactorVAE's, which draw images with a factor held fixed.
FEW_LABEL_METRICS = ('mig', 'dci', 'sap', 'modularity')
FEW_LABEL_TRAIN = 0.8   # share of a labelled set that DCI's and SAP's classifiers are fitted on; the rest scores them


def labelled_scores(codes, labels, bins):
    """{metric of FEW_LABEL_METRICS: its score} of codes [n, M] against a labelled set's labels [n, K] (integer
    values, maybe imprecise) and nothing else: Locatello et al. 2020's model choice from a few labels (section 3)."""
    labels = np.asarray(labels).astype(np.int64)
    cut = int(round(len(codes) * FEW_LABEL_TRAIN))
    train, test = (codes[:cut], labels[:cut]), (codes[cut:], labels[cut:])
    trees = metrics.fit_per_factor(metrics.boosted_trees, *train)
    return {'mig': metrics.mig(codes, labels, range(labels.shape[1]), bins),
            'dci': metrics.dci(trees, *test)['disentanglement'],
            'sap': metrics.sap(metrics.sap_score_matrix(*(train + test))),
            'modularity': metrics.modularity_score(codes, labels, bins)}


def no_classifiers(cfg):
    del cfg
    return []


# IRS bins the factors as disentanglement_lib does (dSprites' 40 orientations and 32 positions fall into 20 bins).
METRICS = collections.OrderedDict([
    ('beta_vae', Metric(lambda s: {'beta_vae': metrics.beta_vae_score(s.represent, s.ground_truth, s.rng(1), **s.sizes())},
                        (Score('beta_vae', 'BetaVAE metric'),), no_classifiers, True)),
    ('factor_vae', Metric(lambda s: {'factor_vae': metrics.factor_vae_score(
        s.represent, s.ground_truth, s.rng(2), num_variance_estimate=s.cfg.eval_num_points, **s.sizes())},
        (Score('factor_vae', 'FactorVAE metric'),), no_classifiers, True)),
    ('mig', Metric(mig_scores, (Score('mig', 'MIG'),), no_classifiers, True)),
    ('dci', Metric(dci_scores, (Score('dci', 'DCI disentangl.'),),
                   lambda cfg: [('boosted_trees', cfg.eval_num_train)], True)),
    ('sap', Metric(lambda s: {'sap': metrics.sap(metrics.sap_score_matrix(*(s.train + s.test)))},
                   (Score('sap', 'SAP'),), no_classifiers, True)),
    ('irs', Metric(lambda s: {'irs': metrics.irs(s.train[0], metrics.discretize(s.train[1], s.cfg.mig_bins))},
                   (Score('irs', 'IRS'),), no_classifiers, True)),
    ('modularity', Metric(modularity_scores, (Score('modularity', 'modularity'), Score('explicitness', 'explicitness')),
                          no_classifiers, True)),
    ('downstream', Metric(downstream_scores, (Score('sample_efficiency_logistic', 'sample eff. (LR)'),
                                              Score('sample_efficiency_boosted_trees', 'sample eff. (GBT)')),
                          lambda cfg: [(predictor, size) for predictor in metrics.PREDICTORS
                                       for size in cfg.downstream_sizes], True)),
    ('infomec', Metric(lambda s: infomec.infomec(s.train[0], s.train[1], discrete=s.quantized),
                       (Score('infom', 'InfoM'), Score('infoe', 'InfoE'), Score('infoc', 'InfoC')), no_classifiers, True)),
    ('fairness', Metric(fairness_scores, (Score('unfairness', 'unfairness'),),
                        lambda cfg: [('boosted_trees', cfg.eval_num_train)], True)),
    ('reduced_downstream', Metric(reduced_scores, (Score('reduced_downstream', 'reduced downstr.'),),
                                  lambda cfg: [('boosted_trees', cfg.task_codes)], True)),
    ('strong_downstream', Metric(strong_scores, (Score('strong_generalization_gap', 'strong gen. gap'),),
                                 no_classifiers, True)),
    ('unified', Metric(unified_scores, (Score('unified_gbt_mig', 'MIG of GBT'), Score('unified_mi_dci', 'DCI of MI'),
                                        Score('unified_svm_dci', 'DCI of SVM')),
                       lambda cfg: [('boosted_trees', cfg.eval_num_train)], True)),
    ('unsupervised', Metric(lambda s: unsupervised.unsupervised_scores(s.train[0], s.cfg.mig_bins),
                            (Score('gaussian_total_correlation', 'Gaussian TC'),
                             Score('wasserstein_dependency_norm', 'Wasserstein dep.'),
                             Score('mutual_info_score', 'MI score')), no_classifiers, False)),
])
RECONSTRUCTION = Score('reconstruction', 'reconstruction')   # written by every --evaluate, not chosen
# Every score shown, in the table's order: --evaluate's lines and the study's columns.
SHOWN = tuple(score for metric in METRICS.values() for score in metric.shown)
SHOWN_KEYS = tuple(score.key for score in SHOWN)
# disentanglement_lib's benchmark scores: the study's check that a run was scored, the learning curves' scores.
BENCHMARK = ('beta_vae', 'factor_vae', 'mig', 'dci', 'sap')


def metric_of(name):
    """The metric an eval_metrics name selects: a metric's name, or the key of a score it shows
    (explicitness selects modularity); SettingsError listing both otherwise."""
    if name in METRICS:
        return name
    for metric, entry in METRICS.items():
        if name in [score.key for score in entry.shown]:
            return metric
    raise SettingsError('eval_metrics has unknown {}: choose from the metrics {} or the scores {}'.format(
        name, ','.join(METRICS), ','.join(score.key for score in SHOWN if score.key not in METRICS)))


def selected(cfg):
    """The metrics eval_metrics selects, in the table's order, each once; 'all' selects every one."""
    if 'all' in cfg.eval_metrics:
        return list(METRICS)
    chosen = {metric_of(name) for name in cfg.eval_metrics}
    return [name for name in METRICS if name in chosen]


def check_settings(cfg):
    """The metric table's check of a run's settings: eval_metrics names what it holds. SettingsError."""
    selected(cfg)
