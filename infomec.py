"""The InfoMEC scores of Hsu, Dorrell, Whittington, Wu and Finn 2023 ("Disentanglement via Latent
Quantization", NeurIPS 2023): InfoM (modularity: each latent carries one factor), InfoE (explicitness: the
factors are linearly decodable from the code) and InfoC (compactness: each factor lies in one latent), each
in [0, 1]. InfoM and InfoC are read off one matrix, the mutual information of each factor with each latent
normalised by the factor's entropy, over the active latents only. Pure functions on numpy arrays."""
import warnings

import numpy as np

from metrics import discrete_entropy, discrete_mutual_info, sklearn

NEIGHBOURS = 10                 # of the k-nearest-neighbour estimate of I(factor; continuous latent), as the paper's
ACTIVE_SHARE = 1.0 / 20         # a continuous latent is active if its range is at least this share of the widest


def labels(values):
    """Integer labels 0..n-1 of any values (factor values, or a discrete latent's codebook values)."""
    return np.unique(values, return_inverse=True)[1]


def standardised(codes):
    """Each latent at mean 0 and std 1; a constant one at 0."""
    spread = codes.std(axis=0)
    return (codes - codes.mean(axis=0)) / np.where(spread > 0, spread, 1.0)


def normalised_information(codes, factors, discrete=False, seed=0):
    """[K factors, M latents]: I(factor k; latent j) / H(factor k) in nats. A discrete latent (a quantised
    code) is counted as it is; a continuous one is standardised and read by the k-nearest-neighbour estimate
    (Kraskov et al. 2004, through scikit-learn), seeded for repeatable scores."""
    factors = np.stack([labels(factors[:, k]) for k in range(factors.shape[1])], axis=1)
    information = np.zeros((factors.shape[1], codes.shape[1]))
    if not discrete:
        codes = standardised(codes)
    for k in range(factors.shape[1]):
        entropy = discrete_entropy(factors[:, k])
        for j in range(codes.shape[1]):
            if discrete:
                shared = discrete_mutual_info(factors[:, k], labels(codes[:, j]))
            else:
                shared = sklearn().feature_selection.mutual_info_classif(
                    codes[:, j:j + 1], factors[:, k], discrete_features=False, n_neighbors=NEIGHBOURS,
                    random_state=seed)[0]
            information[k, j] = shared / entropy if entropy > 0 else 0.0
    return information


def active_latents(codes, discrete=False):
    """Which latents the scores count: a discrete latent that takes more than one value, a continuous one whose
    range is at least ACTIVE_SHARE of the widest latent's."""
    ranges = codes.max(axis=0) - codes.min(axis=0)
    return ranges > 0 if discrete else ranges >= ACTIVE_SHARE * ranges.max()


def concentration(information, axis):
    """The mean over the other axis of max / sum along `axis`, rescaled so that an even spread over the `axis`
    entries scores 0 and all in one scores 1; 1 where there is only one entry. A line that carries nothing
    counts as an even spread."""
    count = information.shape[axis]
    if information.size == 0:
        return 0.0           # no active latent: nothing is carried anywhere
    if count < 2:
        return 1.0
    totals = information.sum(axis=axis)
    ratios = np.where(totals > 0, information.max(axis=axis) / np.where(totals > 0, totals, 1.0), 1.0 / count)
    return float((ratios.mean() - 1.0 / count) / (1.0 - 1.0 / count))


def infom(information):
    """Modularity: how much of each active latent's information is about its one best factor."""
    return concentration(information, axis=0)


def infoc(information):
    """Compactness: how much of each factor's information is in its one best active latent."""
    return concentration(information, axis=1)


def log_loss_of_fit(inputs, targets):
    """The training log loss of an unpenalised multinomial logistic regression with balanced classes."""
    package = sklearn()
    model = package.linear_model.LogisticRegression(C=np.inf, solver='lbfgs', class_weight='balanced', max_iter=100)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')   # lbfgs may stop at max_iter, as the paper's fit does
        model.fit(inputs, targets)
    return package.metrics.log_loss(targets, model.predict_proba(inputs), labels=model.classes_)


def infoe(codes, factors, discrete=False):
    """Explicitness: the mean over factors of the share of the factor's entropy that a logistic regression on
    the code removes, (H_null - H_code) / H_null, with both entropies the fitted model's log loss and H_null
    that of a fit to a constant input."""
    if discrete:
        inputs = np.concatenate([np.eye(int(column.max()) + 1)[column] for column in
                                 (labels(codes[:, j]) for j in range(codes.shape[1]))], axis=1)
    else:
        inputs = standardised(codes)
    shares = []
    for k in range(factors.shape[1]):
        targets = labels(factors[:, k])
        if targets.max() == 0:
            continue         # one value in this sample: nothing to explain
        null = log_loss_of_fit(np.zeros((len(targets), 1)), targets)
        shares.append((null - log_loss_of_fit(inputs, targets)) / null)
    return float(np.mean(shares)) if shares else 0.0


def infomec(codes, factors, discrete=False, seed=0):
    """{'infom', 'infoe', 'infoc'} of codes [n, M] against factor values [n, K]."""
    active = active_latents(codes, discrete)
    information = normalised_information(codes[:, active], factors, discrete, seed)
    return {'infom': infom(information), 'infoe': infoe(codes, factors, discrete), 'infoc': infoc(information)}
