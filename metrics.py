"""Disentanglement metrics on data with known factors, and naming latent dims by labelled attributes.

Pure numpy. A representation is a function `represent(classes) -> codes`: factor indices
[n, num_factors] in, the encoder's means [n, num_latents] out. Sample sizes and procedures follow
Locatello et al. 2019 (disentanglement_lib).
"""
import numpy as np

POINTS_PER_CALL = 32   # metric points whose images are encoded in one call of `represent`


class FactorSpace(object):
    """Uniform sampling over a grid of discrete factors; single-valued factors are not scored."""

    def __init__(self, sizes):
        self.sizes = np.asarray(sizes)
        self.scored = [i for i, size in enumerate(sizes) if size > 1]

    def sample(self, rng, count):
        return np.stack([rng.randint(0, size, count) for size in self.sizes], axis=1)


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

def beta_vae_points(represent, space, rng, num_points, batch_size):
    """Per point: a factor k, `batch_size` pairs sharing factor k's value; feature = mean |z1 - z2|."""
    def make_point(rng):
        k = space.scored[rng.randint(len(space.scored))]
        first, second = space.sample(rng, batch_size), space.sample(rng, batch_size)
        second[:, k] = first[:, k]
        return np.concatenate([first, second]), k

    codes, labels = _batched_points(represent, rng, num_points, make_point)
    features = np.stack([np.abs(c[:batch_size] - c[batch_size:]).mean(axis=0) for c in codes])
    return features, labels


def fit_softmax_regression(features, labels, *, iterations=500, learning_rate=0.5, l2=1e-4):
    """Multinomial logistic regression by full-batch gradient descent on standardised features."""
    classes = np.unique(labels)
    mean, std = features.mean(axis=0), features.std(axis=0) + 1e-8
    x = np.hstack([(features - mean) / std, np.ones((len(features), 1))])
    targets = (labels[:, None] == classes[None, :]).astype(np.float64)
    weights = np.zeros((x.shape[1], len(classes)))
    for _ in range(iterations):
        logits = x.dot(weights)
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        weights -= learning_rate * (x.T.dot(probs - targets) / len(x) + l2 * weights)

    def predict(new_features):
        z = np.hstack([(new_features - mean) / std, np.ones((len(new_features), 1))])
        return classes[np.argmax(z.dot(weights), axis=1)]
    return predict


def beta_vae_score(represent, space, rng, *, num_train=10000, num_eval=5000, batch_size=64):
    """Held-out accuracy of a linear classifier predicting the fixed factor (Higgins et al. 2017)."""
    train_x, train_y = beta_vae_points(represent, space, rng, num_train, batch_size)
    eval_x, eval_y = beta_vae_points(represent, space, rng, num_eval, batch_size)
    predict = fit_softmax_regression(train_x, train_y)
    return float(np.mean(predict(eval_x) == eval_y))


# ---- FactorVAE metric (Kim & Mnih 2018, section 4) ----

def factor_vae_votes(represent, space, rng, num_points, batch_size, global_std, active):
    """votes[d, k]: points where factor k was fixed and dim d had the least normalised variance."""
    def make_point(rng):
        k = space.scored[rng.randint(len(space.scored))]
        classes = space.sample(rng, batch_size)
        classes[:, k] = classes[0, k]
        return classes, k

    codes, labels = _batched_points(represent, rng, num_points, make_point)
    votes = np.zeros((len(global_std), len(space.sizes)), np.int64)
    for code, k in zip(codes, labels):
        variance = np.var(code / global_std, axis=0, ddof=1)
        variance[~active] = np.inf
        votes[np.argmin(variance), k] += 1
    return votes


def factor_vae_score(represent, space, rng, *, num_train=10000, num_eval=5000, batch_size=64,
                     num_variance_estimate=10000, prune_threshold=0.05):
    """Held-out accuracy of the majority-vote classifier from least-variance dim to fixed factor.

    Latents are divided by their std over the data; dims whose variance is below prune_threshold
    (collapsed to the prior) are pruned. 0 when every dim is collapsed.
    """
    variances = np.var(represent(space.sample(rng, num_variance_estimate)), axis=0, ddof=1)
    active = variances >= prune_threshold
    if not active.any():
        return 0.0
    global_std = np.sqrt(variances)
    train_votes = factor_vae_votes(represent, space, rng, num_train, batch_size, global_std, active)
    eval_votes = factor_vae_votes(represent, space, rng, num_eval, batch_size, global_std, active)
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


def mig(codes, classes, scored, bins=20):
    """Mean over scored factors of (top - second mutual information with a latent) / H(factor)."""
    binned = discretize(codes, bins)
    gaps = []
    for k in scored:
        info = sorted((discrete_mutual_info(binned[:, j], classes[:, k]) for j in range(codes.shape[1])),
                      reverse=True)
        second = info[1] if len(info) > 1 else 0.0
        gaps.append((info[0] - second) / discrete_entropy(classes[:, k]))
    return float(np.mean(gaps))


# ---- KL per dim ----

def kl_per_dim(z_mean, z_logvar):
    """Mean over images of KL(q(z_j|x) || N(0, 1)) for each latent dim j: the active dims stand out."""
    return (0.5 * (np.square(z_mean) + np.exp(z_logvar) - z_logvar - 1.0)).mean(axis=0)


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
