"""Disentanglement metrics on data with known factors, and naming latent dims by labelled attributes (the
scores that need no labels are in unsupervised.py).

Functions of numpy arrays. A representation is a function `represent(classes) -> codes`: factor
indices [n, num_factors] in, the encoder's means [n, num_latents] out. A `ground_truth` is the factor grid as a
datasets.groundtruth.GroundTruth gives it: its factor_sizes, the factors it scores (scored) and
sample(rng, count), uniform factor indices. Sample sizes and procedures
follow Locatello et al. 2019 (disentanglement_lib), and the classifiers are scikit-learn's where its
reference implementations use them, so that scores compare with the published ones.
"""
import warnings

import numpy as np

from common import SettingsError

SKLEARN_HINT = 'pip install scikit-learn'


def sklearn():
    """The scikit-learn package, or a one-line SettingsError that says how to install it."""
    try:
        import sklearn as package
        import sklearn.ensemble  # noqa: F401
        import sklearn.feature_selection  # noqa: F401
        import sklearn.linear_model  # noqa: F401
        import sklearn.metrics  # noqa: F401
        import sklearn.model_selection  # noqa: F401
        import sklearn.svm  # noqa: F401
    except ImportError:
        raise SettingsError('--evaluate needs scikit-learn for the BetaVAE, DCI and SAP classifiers: run `{}`'.format(
            SKLEARN_HINT))
    return package

POINTS_PER_CALL = 32   # metric points whose images are encoded in one call of `represent`


def _batched_points(represent, rng, num_points, make_point):
    """Calls make_point(rng) -> (classes [k*batch, F], label) for each point, encoding many points per call."""
    features, labels = [], []
    for start in range(0, num_points, POINTS_PER_CALL):
        chunk = [make_point(rng) for _ in range(min(POINTS_PER_CALL, num_points - start))]
        codes = represent(np.concatenate([classes for classes, _ in chunk]))
        per_point = len(codes) // len(chunk)
        for i, (_, label) in enumerate(chunk):
            features.append(codes[i * per_point:(i + 1) * per_point])
            labels.append(label)
    return features, np.array(labels)


# ---- BetaVAE metric (Higgins et al. 2017, section 4) ----

def beta_vae_points(represent, ground_truth, rng, num_points, batch_size):
    """Per point: a factor k, `batch_size` pairs sharing factor k's value; feature = mean |z1 - z2|."""
    def make_point(rng):
        k = ground_truth.scored[rng.randint(len(ground_truth.scored))]
        first, second = ground_truth.sample(rng, batch_size), ground_truth.sample(rng, batch_size)
        second[:, k] = first[:, k]
        return np.concatenate([first, second]), k

    codes, labels = _batched_points(represent, rng, num_points, make_point)
    features = np.stack([np.abs(c[:batch_size] - c[batch_size:]).mean(axis=0) for c in codes])
    return features, labels


def beta_vae_score(represent, ground_truth, rng, *, num_train=10000, num_eval=5000, batch_size=64):
    """Held-out accuracy of a linear classifier predicting the fixed factor (Higgins et al. 2017).

    scikit-learn's LogisticRegression with its defaults on the raw features, as disentanglement_lib.
    """
    learn = sklearn()
    train_x, train_y = beta_vae_points(represent, ground_truth, rng, num_train, batch_size)
    eval_x, eval_y = beta_vae_points(represent, ground_truth, rng, num_eval, batch_size)
    classifier = learn.linear_model.LogisticRegression(random_state=rng.randint(2 ** 31))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')     # lbfgs may stop at its iteration limit, as in the reference
        classifier.fit(train_x, train_y)
    return float(classifier.score(eval_x, eval_y))


# ---- FactorVAE metric (Kim & Mnih 2018, section 4) ----

def factor_vae_votes(represent, ground_truth, rng, num_points, batch_size, global_std, active):
    """votes[d, k]: points where factor k was fixed and dim d had the least normalised variance."""
    def make_point(rng):
        k = ground_truth.scored[rng.randint(len(ground_truth.scored))]
        classes = ground_truth.sample(rng, batch_size)
        classes[:, k] = classes[0, k]
        return classes, k

    codes, labels = _batched_points(represent, rng, num_points, make_point)
    votes = np.zeros((len(global_std), len(ground_truth.factor_sizes)), np.int64)
    for code, k in zip(codes, labels):
        variance = np.var(code / global_std, axis=0, ddof=1)
        variance[~active] = np.inf
        votes[np.argmin(variance), k] += 1
    return votes


def factor_vae_score(represent, ground_truth, rng, *, num_train=10000, num_eval=5000, batch_size=64,
                     num_variance_estimate=10000, prune_threshold=0.05):
    """Held-out accuracy of the majority-vote classifier from least-variance dim to fixed factor.

    Latents are divided by their std over the data; dims whose std is below prune_threshold
    (collapsed to the prior) are pruned, as disentanglement_lib's _prune_dims does. 0 when every dim
    is collapsed.
    """
    variances = np.var(represent(ground_truth.sample(rng, num_variance_estimate)), axis=0, ddof=1)
    active = np.sqrt(variances) >= prune_threshold
    if not active.any():
        return 0.0
    global_std = np.sqrt(np.where(active, variances, 1.0))   # pruned dims are never voted for
    train_votes = factor_vae_votes(represent, ground_truth, rng, num_train, batch_size, global_std, active)
    eval_votes = factor_vae_votes(represent, ground_truth, rng, num_eval, batch_size, global_std, active)
    classifier = np.argmax(train_votes, axis=1)
    return float(eval_votes[np.arange(len(classifier)), classifier].sum() / eval_votes.sum())


# ---- MIG (Chen et al. 2018, eq. 6) ----

def discretize(codes, bins):
    """Each column into `bins` equal-width bins over its range: integer codes [n, M]."""
    out = np.zeros(codes.shape, np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram(codes[:, j], bins)[1]
        out[:, j] = np.digitize(codes[:, j], edges[:-1])
    return out


def discrete_entropy(values):
    _, counts = np.unique(values, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def discrete_mutual_info(a, b):
    """I(a; b) in nats from the joint histogram of two integer arrays."""
    _, a_index = np.unique(a, return_inverse=True)
    _, b_index = np.unique(b, return_inverse=True)
    joint = np.zeros((a_index.max() + 1, b_index.max() + 1))
    np.add.at(joint, (a_index, b_index), 1)
    joint /= joint.sum()
    outer = joint.sum(axis=1, keepdims=True) * joint.sum(axis=0, keepdims=True)
    nonzero = joint > 0
    return float((joint[nonzero] * np.log(joint[nonzero] / outer[nonzero])).sum())


def factor_information(codes, classes, scored, bins=20):
    """[M latents, K scored factors]: I(binned latent j; factor k) / H(factor k), the quantity MIG
    (Chen et al. 2018) compares. Column k says which latents carry factor k, and how much of it."""
    binned = discretize(codes, bins)
    entropies = [discrete_entropy(classes[:, k]) for k in scored]
    return np.array([[discrete_mutual_info(binned[:, j], classes[:, k]) / entropy
                      for k, entropy in zip(scored, entropies)]
                     for j in range(codes.shape[1])]).reshape(codes.shape[1], len(scored))


def information_gap(information):
    """Chen et al. 2018's MIG from a factor_information matrix: mean over factors of the gap between
    the two latents that carry the most of the factor."""
    ranked = -np.sort(-np.asarray(information), axis=0)
    second = ranked[1] if len(ranked) > 1 else np.zeros(ranked.shape[1])
    return float(np.mean(ranked[0] - second))


def mig(codes, classes, scored, bins=20):
    """Mutual information gap (Chen et al. 2018) of codes [n, M] against factor indices [n, F]."""
    return information_gap(factor_information(codes, classes, scored, bins))


# ---- DCI (Eastwood & Williams 2018) ----

def factor_codes(represent, ground_truth, rng, count):
    """(codes [count, M], scored factor indices [count, K]) of `count` uniform samples of the grid."""
    classes = ground_truth.sample(rng, count)
    return represent(classes), classes[:, ground_truth.scored]


class OneValue(object):
    """The classifier of a factor that takes one value in training: it predicts that value, and no code
    matters to it."""

    def __init__(self, value, num_codes):
        self.value = value
        self.feature_importances_ = np.zeros(num_codes)

    def predict(self, codes):
        return np.full(len(codes), self.value)


def fit_classifiers(tasks, jobs=None):
    """[a classifier for each (fit, codes [n, M], labels [n]) of tasks]: fit(codes, labels), or a OneValue where
    the labels hold one value. They are fitted in parallel threads (scikit-learn's fitting releases the GIL),
    the largest (classes x codes) first, so that no long fit starts last and the small ones fill the gaps."""
    sklearn()   # its one-line error comes before joblib's and threadpoolctl's imports, which come with it
    from joblib import Parallel, delayed
    from threadpoolctl import threadpool_limits

    def fit_one(task):
        fit, codes, labels = task
        if len(np.unique(labels)) < 2:
            return OneValue(labels[0], codes.shape[1])
        return fit(codes, labels)

    order = sorted(range(len(tasks)), key=lambda i: -len(np.unique(tasks[i][2])) * len(tasks[i][2]))
    # One BLAS thread per fit: BLAS's own threads on top of these oversubscribe the cores, and the
    # logistic regressions then run several times slower.
    with threadpool_limits(limits=1, user_api='blas'):
        fitted = Parallel(n_jobs=jobs or -1, prefer='threads')(delayed(fit_one)(tasks[i]) for i in order)
    return [model for _, model in sorted(zip(order, fitted), key=lambda pair: pair[0])]


def fit_per_factor(fit, codes, factors, jobs=None):
    """[K] classifiers (fit_classifiers), fit(codes, labels) for each factor column of factors [n, K]."""
    return fit_classifiers([(fit, codes, factors[:, k]) for k in range(factors.shape[1])], jobs)


def factor_accuracy(models, codes, factors):
    """Accuracy [K] of each factor's classifier (fit_per_factor) on codes [n, M] with factors [n, K]."""
    return np.array([np.mean(model.predict(codes) == factors[:, k]) for k, model in enumerate(models)], np.float64)


def _entropy(p, base, axis):
    """Shannon entropy of the distributions p (normalised along axis) in the given log base."""
    p = p / p.sum(axis=axis, keepdims=True)
    with np.errstate(divide='ignore', invalid='ignore'):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return -terms.sum(axis=axis) / np.log(base)


def dci_disentanglement(importance):
    """Eastwood & Williams 2018, section 3: D = sum_j rho_j (1 - H_K(P_j.)), with P_j. code j's
    importance over the K factors and rho_j its share of all importance. [M, K] in, a number out."""
    importance = np.asarray(importance, np.float64)
    per_code = 1.0 - _entropy(importance + 1e-11, importance.shape[1], axis=1)
    if importance.sum() == 0:
        importance = np.ones_like(importance)
    weights = importance.sum(axis=1) / importance.sum()
    return float(np.sum(per_code * weights))


def dci_completeness(importance):
    """Eastwood & Williams 2018, section 3: C = sum_k rho_k (1 - H_M(P_.k)), each factor captured by one
    code: the disentanglement of the transposed importance matrix."""
    return dci_disentanglement(np.asarray(importance).T)


def importance(trees):
    """[M, K]: the importance of code j for factor k, the feature importance of factor k's gradient-boosted
    trees (one classifier per factor, fit_per_factor(boosted_trees, ...)), as disentanglement_lib's DCI."""
    return np.stack([np.abs(model.feature_importances_) for model in trees], axis=1)


def dci(trees, codes_test, factors_test):
    """{'disentanglement', 'completeness', 'informativeness'} from one gradient-boosted tree classifier per
    factor, fit_per_factor(boosted_trees, ...) on the training codes, as disentanglement_lib: the importance
    of code j for factor k is the trees' feature importance, and informativeness is their mean test accuracy."""
    matrix = importance(trees)
    return {'disentanglement': dci_disentanglement(matrix), 'completeness': dci_completeness(matrix),
            'informativeness': float(np.mean(factor_accuracy(trees, codes_test, factors_test)))}


# ---- SAP (Kumar et al. 2018, section 3) ----

def sap_score_matrix(codes_train, factors_train, codes_test, factors_test, continuous=False):
    """[M, K]: how well code j alone predicts factor k.

    Discrete factors (dSprites, as disentanglement_lib scores it): test accuracy of scikit-learn's
    LinearSVC(C=0.01, class_weight='balanced') on code j, seeded so that the score repeats.
    Continuous factors: the squared correlation
    of code j and factor k on the training sample (the R^2 of a linear fit), 0 for a constant code.
    """
    num_codes, num_factors = codes_train.shape[1], factors_train.shape[1]
    scores = np.zeros((num_codes, num_factors))
    if continuous:
        for j in range(num_codes):
            for k in range(num_factors):
                cov = np.cov(codes_train[:, j], factors_train[:, k], ddof=1)
                scores[j, k] = cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1]) if cov[0, 0] > 1e-12 else 0.0
        return scores
    learn = sklearn()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')     # liblinear's convergence notes at C = 0.01
        for j in range(num_codes):
            for k in range(num_factors):
                classifier = learn.svm.LinearSVC(C=0.01, class_weight='balanced', random_state=j * num_factors + k)
                classifier.fit(codes_train[:, j:j + 1], factors_train[:, k])
                scores[j, k] = np.mean(classifier.predict(codes_test[:, j:j + 1]) == factors_test[:, k])
    return scores


def sap(score_matrix):
    """Kumar et al. 2018: the mean over factors of the gap between the two best codes' scores."""
    ordered = np.sort(np.asarray(score_matrix), axis=0)
    return float(np.mean(ordered[-1] - ordered[-2]))


# ---- IRS (Suter et al. 2019, "Robustly disentangled causal mechanisms", section 4) ----

def irs(codes, factors, diff_quantile=0.99):
    """Interventional robustness score of codes [n, M] against discrete factors [n, K] sampled uniformly from
    the grid. For latent j and factor k: one minus the mean, over factor k's values, of the diff_quantile of
    |z_j - E[z_j | factor k]| (how far the other factors still move z_j once k is fixed), normalised by z_j's
    largest deviation from its mean; each latent keeps its best factor, and the score is the average over
    latents weighted by that largest deviation. Constant latents are left out; none active scores 0."""
    codes = np.asarray(codes, np.float64)
    codes = codes[:, codes.var(axis=0) > 0]
    if codes.shape[1] == 0:
        return 0.0
    max_deviation = np.abs(codes - codes.mean(axis=0)).max(axis=0)
    deviation = np.zeros((codes.shape[1], factors.shape[1]))
    for k in range(factors.shape[1]):
        values = np.unique(factors[:, k])
        for value in values:
            fixed = codes[factors[:, k] == value]
            deviation[:, k] += np.quantile(np.abs(fixed - fixed.mean(axis=0)), diff_quantile, axis=0)
        deviation[:, k] /= len(values)
    robustness = (1.0 - deviation / max_deviation[:, None]).max(axis=1)
    return float(np.average(robustness, weights=max_deviation))


# ---- modularity and explicitness (Ridgeway & Mozer 2018, section 3) ----

def modularity(information):
    """Modularity of a [M latents, K factors] mutual information matrix: per latent, one minus the share of
    its squared information that goes to factors other than its best, relative to K - 1; averaged over
    latents. 1 when each latent carries one factor; a latent that carries nothing scores 0 (nothing: below
    1e-12 nats, for a constant latent's information is a sum of rounding errors, whose ratios are noise)."""
    squared = np.square(np.asarray(information, np.float64))
    best = squared.max(axis=1)
    with np.errstate(invalid='ignore', divide='ignore'):
        score = 1.0 - (squared.sum(axis=1) - best) / (best * (squared.shape[1] - 1.0))
    score[np.sqrt(best) < 1e-12] = 0.0
    return float(np.mean(score))


def modularity_score(codes, factors, bins=20):
    """modularity() of the mutual information between binned codes [n, M] and factors [n, K], in nats."""
    binned = discretize(codes, bins)
    return modularity([[discrete_mutual_info(binned[:, j], factors[:, k]) for k in range(factors.shape[1])]
                       for j in range(codes.shape[1])])


def macro_auc(probabilities, labels, classes):
    """Mean one-vs-rest ROC-AUC (scikit-learn's, ties averaged) over the classes that have both members and
    non-members among labels."""
    from sklearn.metrics import roc_auc_score
    aucs = [roc_auc_score(labels == c, probabilities[:, i]) for i, c in enumerate(classes)
            if 0 < np.sum(labels == c) < len(labels)]
    return float(np.mean(aucs)) if aucs else float('nan')


def explicitness(codes_train, factors_train, codes_test, factors_test):
    """(train, test) explicitness: per factor, the macro ROC-AUC of scikit-learn's LogisticRegression with its
    defaults on the standardised codes, averaged over factors. Classes absent from a set are left out of its
    average, where disentanglement_lib's binarizer would fail."""
    learn = sklearn()
    mean, std = codes_train.mean(axis=0), codes_train.std(axis=0)
    std[std == 0] = 1.0
    x_train, x_test = (codes_train - mean) / std, (codes_test - mean) / std
    train, test = [], []
    for k in range(factors_train.shape[1]):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')   # lbfgs' iteration limit, as disentanglement_lib runs it
            model = learn.linear_model.LogisticRegression().fit(x_train, factors_train[:, k])
        train.append(macro_auc(model.predict_proba(x_train), factors_train[:, k], model.classes_))
        test.append(macro_auc(model.predict_proba(x_test), factors_test[:, k], model.classes_))
    return float(np.mean(train)), float(np.mean(test))


# ---- downstream task (Locatello et al. 2019, section 6) ----

LOGISTIC_CS = 10                            # inverse regularisations LogisticRegressionCV tries
MAX_FOLDS = 5


def logistic_cv(codes, labels):
    """disentanglement_lib's cross-validated logistic regression (10 Cs, 5 folds), made safe for small
    training sets: folds are stratified and no more than the rarest class has codes; when a class has a
    single code there is nothing to validate against, and a plain LogisticRegression (C = 1) is fitted."""
    learn = sklearn()
    folds = min(MAX_FOLDS, int(np.unique(labels, return_counts=True)[1].min()))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        if folds < 2:
            return learn.linear_model.LogisticRegression().fit(codes, labels)
        cv = learn.model_selection.StratifiedKFold(folds)
        return learn.linear_model.LogisticRegressionCV(Cs=LOGISTIC_CS, cv=cv).fit(codes, labels)


def boosted_trees(codes, labels):
    """scikit-learn's GradientBoostingClassifier with its defaults, as disentanglement_lib's DCI and
    downstream task."""
    return sklearn().ensemble.GradientBoostingClassifier(random_state=0).fit(codes, labels)


PREDICTORS = {'logistic': logistic_cv, 'boosted_trees': boosted_trees}


def sample_efficiency(accuracy, small=100, large=10000):
    """Locatello et al. 2019's sample efficiency: mean accuracy with `small` training codes over that with
    `large`; accuracy is {training codes: mean test accuracy}."""
    return float(accuracy[small] / accuracy[large])


def downstream(classifiers, codes_test, factors_test):
    """{training codes: mean test accuracy over factors} of {training codes: one classifier per factor}
    (fit_per_factor of a predictor of PREDICTORS on that many codes)."""
    return {size: float(np.mean(factor_accuracy(models, codes_test, factors_test)))
            for size, models in sorted(classifiers.items())}


# ---- reconstruction ----

def reconstruction_error(images, reconstructions, likelihood):
    """Mean over images of the summed per-pixel error (nats for 'bernoulli'; squared error for 'gaussian').

    images and reconstructions [n, H, W, C] in [0, 1]; reconstructions are the decoder's probabilities.
    """
    x = np.asarray(images, np.float64)
    p = np.clip(np.asarray(reconstructions, np.float64), 1e-7, 1 - 1e-7)
    if likelihood == 'bernoulli':
        per_pixel = -(x * np.log(p) + (1 - x) * np.log(1 - p))
    else:
        per_pixel = np.square(x - p)
    return float(per_pixel.reshape(len(x), -1).sum(axis=1).mean())


# ---- KL per dim ----

def kl_per_dim(z_mean, z_logvar):
    """Mean over images of KL(q(z_j|x) || N(0, 1)) for each latent dim j: the active dims stand out."""
    return (0.5 * (np.square(z_mean) + np.exp(z_logvar) - z_logvar - 1.0)).mean(axis=0)


def value_entropy(codes):
    """Entropy in nats of the values each dim of a quantized code [n, M] takes over the images: for a
    deterministic code, the information it carries about the image."""
    return np.array([discrete_entropy(codes[:, d]) for d in range(codes.shape[1])])


def information_label(quantized):
    """What information_per_dim measures, for labels: 'KL', or 'H' (entropy) for a quantized code."""
    return 'H' if quantized else 'KL'


def information_per_dim(z_mean, z_logvar, quantized):
    """The nats each latent dim carries, which ranks the dims and tells the active ones: the mean KL to the
    prior of a Gaussian code; the entropy of the learnt values used, of a quantized one (whose encoder is
    deterministic, and whose log-variance head is not read)."""
    return value_entropy(z_mean) if quantized else kl_per_dim(z_mean, z_logvar)


# ---- naming dims by attributes (CelebA) ----

def roc_auc(scores, labels):
    """Area under the ROC curve of each score column for each binary label column: [M, A].

    Mann-Whitney U from ranks; ties in scores get ordinal ranks (latent means are continuous).
    """
    ranks = np.empty(scores.shape)
    order = np.argsort(scores, axis=0)
    for j in range(scores.shape[1]):
        ranks[order[:, j], j] = np.arange(1, len(scores) + 1)
    positives = labels.sum(axis=0).astype(np.float64)
    negatives = len(labels) - positives
    rank_sums = ranks.T.dot(labels.astype(np.float64))            # [M, A]
    with np.errstate(divide='ignore', invalid='ignore'):
        auc = (rank_sums - positives * (positives + 1) / 2) / (positives * negatives)
    return np.where((positives > 0) & (negatives > 0), auc, 0.5)


def rank_attributes(codes, labels, names, top=3):
    """For each latent dim, the attributes its mean predicts best (sign-corrected AUC), best first.

    Returns [{'dim', 'attributes': [{'name', 'auc', 'sign'}]}]; sign +1 when the attribute comes with
    larger values of the dim.
    """
    auc = roc_auc(codes, labels)
    corrected = np.maximum(auc, 1.0 - auc)
    ranking = []
    for dim in range(codes.shape[1]):
        best = np.argsort(-corrected[dim])[:top]
        ranking.append({'dim': dim, 'attributes': [
            {'name': names[a], 'auc': float(corrected[dim, a]), 'sign': 1 if auc[dim, a] >= 0.5 else -1}
            for a in best]})
    return ranking
