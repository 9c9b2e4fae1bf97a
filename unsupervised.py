"""Scores that need no labels, so they work on CelebA and your own pictures too: the Gaussian total
correlation, the Wasserstein dependency and the mutual information score of the mean codes (Locatello et
al. 2019, section 4), and UDR (Duan et al. 2020), which chooses among models that differ in their seed; and
the codes file they read.

Functions of numpy arrays, with disentanglement_lib's defaults.
"""
import numpy as np

from common import SettingsError, atomic_path
from metrics import discrete_mutual_info, discretize


# ---- the mean codes' own dependence (Locatello et al. 2019) ----

def gaussian_total_correlation(cov):
    """KL divergence of the Gaussian with covariance cov [M, M] from the product of its marginals, in nats:
    0.5 * (sum of log variances - log det cov). 0 for a diagonal covariance."""
    return float(0.5 * (np.sum(np.log(np.diag(cov))) - np.linalg.slogdet(cov)[1]))


def gaussian_wasserstein_dependency(cov):
    """Squared 2-Wasserstein distance between the Gaussian with covariance cov and the product of its
    marginals: 2 tr(cov) - 2 tr((cov diag(cov))^(1/2)). 0 for a diagonal covariance."""
    from scipy.linalg import sqrtm
    root = sqrtm(np.asarray(cov, np.float64) * np.diag(cov)[:, None])
    return float(2.0 * np.trace(cov) - 2.0 * np.real(np.trace(root)))


def mutual_info_score(codes, bins=20):
    """Mean mutual information, in nats, between every two different binned latents of codes [n, M]."""
    binned = discretize(codes, bins)
    m = codes.shape[1]
    if m < 2:
        return 0.0
    total = sum(discrete_mutual_info(binned[:, i], binned[:, j]) for i in range(m) for j in range(m) if i != j)
    return float(total / (m * m - m))


def unsupervised_scores(codes, bins=20):
    """The three label-free scores of mean codes [n, M], over the latents that vary on the sample; the
    Wasserstein dependency also normalised by the total variance, as disentanglement_lib reports it."""
    codes = np.asarray(codes, np.float64)
    codes = codes[:, codes.var(axis=0) > 0]
    if codes.shape[1] < 2:
        return {'gaussian_total_correlation': 0.0, 'wasserstein_dependency': 0.0,
                'wasserstein_dependency_norm': 0.0, 'mutual_info_score': 0.0}
    cov = np.cov(codes, rowvar=False)
    wasserstein = gaussian_wasserstein_dependency(cov)
    return {'gaussian_total_correlation': gaussian_total_correlation(cov), 'wasserstein_dependency': wasserstein,
            'wasserstein_dependency_norm': wasserstein / float(np.trace(cov)),
            'mutual_info_score': mutual_info_score(codes, bins)}


# ---- model selection without labels: UDR (Duan et al. 2020) ----

UDR_ACTIVE_KL = 0.01   # nats: latents with less mean KL are left out of UDR, as in disentanglement_lib


CODES_FILE = 'codes.npz'   # beside metrics.json: mean codes of images that every run of a dataset shares


def save_codes(codes, kl_per_dim, step, path):
    """The codes UDR compares across runs: mean codes [images, latent_dim], KL per dim, the step."""
    with atomic_path(path) as tmp:
        with open(tmp, 'wb') as f:
            np.savez(f, codes=np.asarray(codes, np.float32), kl_per_dim=np.asarray(kl_per_dim, np.float64), step=step)


def load_codes(path):
    """(codes, kl_per_dim, step) as save_codes wrote them."""
    with np.load(path) as saved:
        return saved['codes'], saved['kl_per_dim'], int(saved['step'])


def spearman_matrix(codes_a, codes_b):
    """|Spearman correlation| of every latent of codes_a [n, Ma] with every latent of codes_b [n, Mb],
    [Ma, Mb]; a latent that is constant on the sample correlates 0 with everything."""
    from scipy.stats import rankdata
    ranks = [np.stack([rankdata(column) for column in codes.T], axis=1) if codes.shape[1] else
             np.zeros((len(codes), 0)) for codes in (codes_a, codes_b)]
    centred = [r - r.mean(axis=0) for r in ranks]
    norms = [np.sqrt((c ** 2).sum(axis=0)) for c in centred]
    with np.errstate(invalid='ignore', divide='ignore'):
        corr = centred[0].T.dot(centred[1]) / np.outer(norms[0], norms[1])
    return np.abs(np.nan_to_num(corr))


def relative_strength(corr):
    """Duan et al. 2020, eq. 3: how one-to-one a [Ma, Mb] matrix of |correlations| is. For each column
    (and then each row) its largest entry squared over its sum, averaged; the two averages' mean.
    1 for a permutation matrix; near 0 when every latent relates a little to many."""
    def one_side(matrix):
        if matrix.size == 0:
            return 0.0
        sums = matrix.sum(axis=0)
        with np.errstate(invalid='ignore', divide='ignore'):
            return float(np.mean(np.nan_to_num(matrix.max(axis=0) ** 2 / sums)))
    return (one_side(corr) + one_side(corr.T)) / 2.0


def udr_pair(codes_a, kl_a, codes_b, kl_b, active_kl=UDR_ACTIVE_KL):
    """The similarity of two models' mean codes of the same images: relative_strength of their
    Spearman matrix over the latents whose mean KL is at least active_kl in each."""
    active_a, active_b = np.asarray(kl_a) >= active_kl, np.asarray(kl_b) >= active_kl
    return relative_strength(spearman_matrix(codes_a[:, active_a], codes_b[:, active_b]))


def udr(codes, kls, active_kl=UDR_ACTIVE_KL):
    """Duan et al. 2020's UDR (the Spearman variant of disentanglement_lib's `udr`) of models that
    differ only in their seed: codes, a list of [n, M] mean codes of the same n images, and kls,
    each model's mean KL per latent. Returns (each model's score: the median of its similarity with
    every other model [num_models], the pairwise similarities [num_models, num_models], 1 on the
    diagonal)."""
    count = len(codes)
    if count < 2:
        raise SettingsError('UDR compares models that differ in their seed: it needs at least 2, got {}'.format(
            count))
    pairwise = np.eye(count)
    for i in range(count):
        for j in range(i + 1, count):
            pairwise[i, j] = pairwise[j, i] = udr_pair(codes[i], kls[i], codes[j], kls[j], active_kl)
    scores = np.array([np.median(np.delete(pairwise[i], i)) for i in range(count)])
    return scores, pairwise
