"""disentanglement_lib's unified scores: three matrices that relate each latent to each factor (the gradient-boosted
trees' importances of DCI, the binned mutual information of MIG and modularity, the single-latent SVM accuracies
of SAP), each read by the four metrics' aggregations and by the precision curve of its thresholded graph. The
metrics as published are four of these pairs; the others say whether a metric's verdict comes from its matrix
or from its aggregation.

Pure functions of numpy arrays; a matrix is [M latents, K factors].
"""
import numpy as np

import metrics

MATRICES = ('gbt', 'mi', 'svm')                # importance of boosted trees, mutual information, SVM accuracy
AGGREGATIONS = ('dci', 'dci_completeness', 'mig', 'sap', 'modularity', 'area_precision', 'max_precision')


def mutual_information_matrix(codes, factors, bins=20):
    """I(binned latent j; factor k) in nats, [M, K], binned as MIG bins."""
    binned = metrics.discretize(codes, bins)
    return np.array([[metrics.discrete_mutual_info(binned[:, j], factors[:, k]) for k in range(factors.shape[1])]
                     for j in range(codes.shape[1])]).reshape(codes.shape[1], factors.shape[1])


def components(matrix, threshold):
    """How many groups of latents and factors the edges of at least `threshold` join (connected components of
    the bipartite graph with at least one edge): disentanglement_lib's `precision` of one threshold."""
    edges = (np.asarray(matrix) >= threshold) & (np.asarray(matrix) != 0)
    latents, factors = edges.shape
    seen_latents, seen_factors = np.zeros(latents, bool), np.zeros(factors, bool)
    count = 0
    for start in range(latents):
        if seen_latents[start] or not edges[start].any():
            continue
        count += 1
        stack = [('latent', start)]
        seen_latents[start] = True
        while stack:
            kind, node = stack.pop()
            neighbours = np.flatnonzero(edges[node] if kind == 'latent' else edges[:, node])
            seen = seen_factors if kind == 'latent' else seen_latents
            for other in neighbours[~seen[neighbours]]:
                seen[other] = True
                stack.append(('factor' if kind == 'latent' else 'latent', other))
    return count


def precision_curve(matrix):
    """(area, largest value) of components() over every entry of the matrix as a threshold, from the largest
    down: the area by the trapezoid rule in the threshold, as disentanglement_lib's pr_curves_values."""
    thresholds = np.sort(np.asarray(matrix, np.float64).ravel())[::-1]
    counts = np.array([components(matrix, t) for t in thresholds], np.float64)
    area = float(np.sum((counts[:-1] + counts[1:]) * (thresholds[:-1] - thresholds[1:]) * 0.5))
    return area, float(counts.max())


def aggregations(matrix, factors):
    """{aggregation: score} of one matrix: DCI's disentanglement and completeness, MIG's gap (over each factor's
    entropy in the sample, whatever the matrix), SAP's gap, modularity, and the precision curve's area and
    largest value."""
    matrix = np.asarray(matrix, np.float64)
    ranked = np.sort(np.vstack([matrix, np.zeros((1, matrix.shape[1]))]), axis=0)[::-1]   # one latent: gap to 0
    entropy = np.array([metrics.discrete_entropy(factors[:, k]) for k in range(factors.shape[1])])
    area, largest = precision_curve(matrix)
    return {'dci': metrics.dci_disentanglement(matrix), 'dci_completeness': metrics.dci_completeness(matrix),
            'mig': float(np.mean((ranked[0] - ranked[1]) / entropy)), 'sap': metrics.sap(matrix),
            'modularity': metrics.modularity(matrix), 'area_precision': area, 'max_precision': largest}


def unified_scores(matrices, factors):
    """{'unified_MATRIX_AGGREGATION': score} for each matrix of {name: [M, K]} (MATRICES) and each aggregation;
    factors [n, K] are the training sample's, whose entropies MIG's aggregation divides by."""
    return {'unified_{}_{}'.format(name, key): value for name in sorted(matrices)
            for key, value in aggregations(matrices[name], factors).items()}
