"""A few labels (Locatello, Tschannen, Bauer, Rätsch, Schölkopf and Bachem 2020, "Disentangling Factors of
Variation Using Few Labels"): the labelled set, a fixed sample of a dataset's images drawn with its own seed and
never from the held-out ones, and the labellers that turn its factors into labels (disentanglement_lib's
semi_supervised_utils): perfect, binned, noisy, or partial.

Labels are factor indices of the scored factors (floats, as the supervised losses read them), each with the
number of values it can take.
"""
import collections

import numpy as np

from common import SettingsError

LABELLERS = ('perfect', 'binned', 'noisy', 'partial')
LABEL_STREAM = 7   # numpy stream of the labelled sample and its labeller, apart from the evaluation's

# The labelled set: its images' factor indices [n, F], their labels [n, K] and each label's number of values [K].
LabelledSet = collections.namedtuple('LabelledSet', 'classes labels sizes names')


def binned(labels, sizes, bins):
    """Each factor of more than `bins` values into `bins` equal ranges of its values (a rough human label)."""
    labels = np.array(labels, np.float32)
    for k, size in enumerate(sizes):
        if size > bins:
            labels[:, k] = np.minimum(labels[:, k] // (size / float(bins)), bins - 1)
    return labels, [min(size, bins) for size in sizes]


def noisy(labels, sizes, probability, rng):
    """Each label replaced, with `probability`, by a value of its factor drawn uniformly (maybe the same)."""
    labels = np.array(labels, np.float32)
    replace = rng.random_sample(labels.shape) < probability
    drawn = np.stack([rng.randint(size, size=len(labels)) for size in sizes], axis=1)
    labels[replace] = drawn[replace]
    return labels, list(sizes)


def kept_factors(names, wanted):
    """The indices in `names` of the factors `wanted` keeps; SettingsError naming the choices otherwise."""
    unknown = [name for name in wanted if name not in names]
    if unknown or not wanted:
        raise SettingsError('label_factors must name factors of the dataset ({}), got {}'.format(
            ', '.join(names), ', '.join(wanted) or 'none'))
    return [names.index(name) for name in wanted]


def check_labels(cfg, ground_truth):
    """A one-line SettingsError where the labelled set cannot be drawn: more images than the grid holds beside
    the held-out ones, an unknown labeller, or partial labels that name no factor of the dataset."""
    if cfg.labeller not in LABELLERS:
        raise SettingsError('labeller must be one of {}, got {!r}'.format(', '.join(LABELLERS), cfg.labeller))
    available = ground_truth.count - held_out_count(cfg)
    if not 1 <= cfg.labelled_images <= available:
        raise SettingsError('labelled_images must be 1 to {} (the {} images of {} but the held-out {}), got {}'.format(
            available, ground_truth.count, cfg.dataset, held_out_count(cfg), cfg.labelled_images))
    if cfg.labeller == 'partial':
        kept_factors([ground_truth.factor_names[k] for k in ground_truth.scored], [n for n in cfg.label_factors if n])


def held_out_count(cfg):
    """How many held-out images the pictures and scores read: none of them is labelled."""
    return max(cfg.traverse_kl_images, cfg.explore_images, cfg.udr_images, cfg.eval_attribute_images)


def labelled_set(cfg, ground_truth):
    """The LabelledSet of cfg: labelled_images distinct images drawn with label_seed from the grid but the held-out
    sample, labelled by cfg.labeller."""
    check_labels(cfg, ground_truth)
    rng = np.random.RandomState([cfg.label_seed, LABEL_STREAM])
    held_out = set(ground_truth.index(ground_truth.held_out_classes(cfg.eval_seed, held_out_count(cfg))).tolist())
    chosen = []
    while len(chosen) < cfg.labelled_images:
        for index in rng.randint(ground_truth.count, size=2 * cfg.labelled_images):
            if int(index) not in held_out and len(chosen) < cfg.labelled_images:
                held_out.add(int(index))        # drawn without replacement
                chosen.append(int(index))
    classes = ground_truth.classes(np.array(chosen))
    scored = list(ground_truth.scored)
    labels, sizes = classes[:, scored].astype(np.float32), [ground_truth.factor_sizes[k] for k in scored]
    names = [ground_truth.factor_names[k] for k in scored]
    if cfg.labeller == 'binned':
        labels, sizes = binned(labels, sizes, cfg.label_bins)
    elif cfg.labeller == 'noisy':
        labels, sizes = noisy(labels, sizes, cfg.label_noise, rng)
    elif cfg.labeller == 'partial':
        kept = kept_factors(names, [n for n in cfg.label_factors if n])
        labels, sizes, names = labels[:, kept], [sizes[k] for k in kept], [names[k] for k in kept]
    return LabelledSet(classes, labels, sizes, names)
