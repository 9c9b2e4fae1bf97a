"""disentanglement_lib's tasks on the codes beyond plain accuracy: fairness (Locatello et al. 2019b, how far a
classifier's predictions of one factor move under interventions on another), the reduced downstream task (what a
factor's classifiers still find once its most important latent is gone) and the strong downstream task
(classifiers that must generalise to values of another factor held fixed in training).

Functions of numpy arrays, with metrics.py's conventions: `represent(classes) -> codes`, a `ground_truth` with
factor_sizes, scored and sample(rng, count), classifiers with predict() fitted by metrics.fit_per_factor.
"""
import numpy as np

import metrics


# ---- fairness (Locatello, Abbati, Rainforth, Bauer, Schölkopf and Bachem 2019, section 4) ----

def inter_group_fairness(counts):
    """(the mean and the largest total variation distance between the predictions given one value of the
    sensitive factor and the predictions over all of them), of counts [target values, sensitive values]
    of predictions. The mean weighs each sensitive value by its predictions, as disentanglement_lib does."""
    counts = np.asarray(counts, np.float64)
    overall = counts.sum(axis=1) / counts.sum()
    per_value = counts.sum(axis=0)
    distance = 0.5 * np.abs(counts / per_value - overall[:, None]).sum(axis=0)
    return float((distance * per_value).sum() / per_value.sum()), float(distance.max())


def intervention_counts(model, represent, ground_truth, rng, target, sensitive, points):
    """counts [target values, sensitive values]: the model's predictions of factor `target` on `points` random
    factor settings, once with the `sensitive` factor set to each of its values (columns of the grid)."""
    sizes = ground_truth.factor_sizes
    base = ground_truth.sample(rng, points)
    counts = np.zeros((sizes[target], sizes[sensitive]), np.int64)
    for value in range(sizes[sensitive]):
        classes = base.copy()
        classes[:, sensitive] = value
        counts[:, value] = np.bincount(model.predict(represent(classes)).astype(np.int64), minlength=sizes[target])
    return counts


def unfairness(models, represent, ground_truth, rng, points):
    """(mean [K, K], largest [K, K]) total variation of inter_group_fairness for each target (row) and
    sensitive (column) pair of the K scored factors, NaN on the diagonal; models: one classifier per scored
    factor, which predicts that factor's index."""
    scored = list(ground_truth.scored)
    mean = np.full((len(scored), len(scored)), np.nan)
    largest = np.full_like(mean, np.nan)
    for i, target in enumerate(scored):
        for j, sensitive in enumerate(scored):
            if i != j:
                counts = intervention_counts(models[i], represent, ground_truth, rng, target, sensitive, points)
                mean[i, j], largest[i, j] = inter_group_fairness(counts)
    return mean, largest


def unfairness_scores(mean, largest, names):
    """The scores of unfairness(): `unfairness`, the paper's headline (disentanglement_lib's
    mean_fairness:mean_pred:mean_sens, the mean over targets of the mean over sensitive factors of the mean
    total variation); `unfairness_max`, the largest total variation of any pair; and every pair's both."""
    off = ~np.eye(len(names), dtype=bool)
    rows = [np.mean(mean[i][off[i]]) for i in range(len(names))]
    pairs = {names[i]: {names[j]: {'mean': float(mean[i, j]), 'max': float(largest[i, j])}
                        for j in range(len(names)) if j != i} for i in range(len(names))}
    return {'unfairness': float(np.mean(rows)), 'unfairness_max': float(np.max(largest[off])),
            'unfairness_pairs': pairs}


# ---- the reduced downstream task (disentanglement_lib's reduced_downstream_task) ----

def reduced_accuracy(fit, importance, train, test):
    """[K, K] test accuracy: row k, each factor's classifiers refitted on the codes without the latent most
    important to factor k (the largest of importance [M, K] in column k); train and test are (codes, factors)."""
    (codes_train, factors_train), (codes_test, factors_test) = train, test
    rows = []
    for k in range(factors_train.shape[1]):
        kept = np.delete(np.arange(codes_train.shape[1]), np.argmax(importance[:, k]))
        models = metrics.fit_per_factor(fit, codes_train[:, kept], factors_train)
        rows.append(metrics.factor_accuracy(models, codes_test[:, kept], factors_test))
    return np.array(rows)


def reduced_scores(accuracy):
    """`reduced_downstream`: the mean accuracy of each factor once its own most important latent is gone (what
    leaks into the others); `reduced_downstream_others`: that of the other factors after the same removal."""
    off = ~np.eye(len(accuracy), dtype=bool)
    return {'reduced_downstream': float(np.mean(np.diag(accuracy))),
            'reduced_downstream_others': float(np.mean(accuracy[off]))}


# ---- the strong downstream task (disentanglement_lib's strong_downstream_task) ----

def intervene(classes_train, classes_test, target, sizes, rng):
    """Copies of the two samples where one factor other than `target`, drawn at random, takes one random value
    in every training row and any of its other values in the test rows: a covariate shift the classifier of
    `target` never saw. (classes_train, classes_test)."""
    factor = rng.choice([k for k in range(len(sizes)) if k != target and sizes[k] > 1])
    fixed = rng.randint(sizes[factor])
    others = np.array([v for v in range(sizes[factor]) if v != fixed])
    train, test = classes_train.copy(), classes_test.copy()
    train[:, factor] = fixed
    test[:, factor] = others[rng.randint(len(others), size=len(test))]
    return train, test


def strong_accuracy(fit, represent, ground_truth, rng, train_count, test_count, experiments):
    """(mean test accuracy of classifiers fitted on train_count uniform codes, mean test accuracy under
    `experiments` interventions of intervene() per scored factor), each on test_count codes."""
    scored = list(ground_truth.scored)
    sizes = ground_truth.factor_sizes
    classes_train, classes_test = ground_truth.sample(rng, train_count), ground_truth.sample(rng, test_count)
    plain = metrics.fit_per_factor(fit, represent(classes_train), classes_train[:, scored])
    plain_accuracy = metrics.factor_accuracy(plain, represent(classes_test), classes_test[:, scored])
    tasks, tests = [], []
    for i, target in enumerate(scored):
        for _ in range(experiments):
            train, test = intervene(classes_train, classes_test, target, sizes, rng)
            tasks.append((fit, represent(train), train[:, target]))
            tests.append((represent(test), test[:, target]))
    fitted = metrics.fit_classifiers(tasks)
    shifted = [np.mean(model.predict(codes) == labels) for model, (codes, labels) in zip(fitted, tests)]
    return float(np.mean(plain_accuracy)), float(np.mean(shifted))


def strong_scores(plain, shifted):
    """`strong_downstream`: the mean accuracy under the shift; `strong_generalization_gap`: 1 - that over the
    accuracy without it, disentanglement_lib's gap."""
    return {'strong_downstream': shifted, 'strong_generalization_gap': 1.0 - shifted / plain}
