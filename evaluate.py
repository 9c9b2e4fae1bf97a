"""--evaluate: disentanglement metrics on a dataset with known factors, KL per latent dim, and CelebA dims named
by attributes."""
import json
import os
import time

import numpy as np

import imagefiles
import metrics
import objectives
import scores
import unsupervised
from common import SettingsError, write_json
from datasets import GROUND_TRUTH, labels, open_ground_truth

METRICS_FILE = 'metrics.json'
ATTRIBUTES_FILE = 'attributes.json'
ENCODE_BATCH = 2048   # images per session run when encoding every image of a dataset
EVALUATION_KEYS = ('eval_seed', 'eval_batch_size', 'eval_num_train', 'eval_num_eval', 'eval_num_points',
                   'mig_bins', 'eval_attribute_images', 'udr_images', 'eval_metrics', 'downstream_sizes',
                   'representation', 'fairness_points', 'task_codes', 'strong_experiments', 'selection_labels')
SAMPLED_STREAM = 99   # the random stream of the sampled representation's noise (the metrics' are 0-7)


def images_drawn(cfg):
    """How many images the factor metrics draw in all: BetaVAE's pairs, FactorVAE's batches and
    variance sample, DCI's and SAP's points, UDR's."""
    points = cfg.eval_num_train + cfg.eval_num_eval
    return points * cfg.eval_batch_size * 3 + cfg.eval_num_points + points + cfg.udr_images


def factor_representation(restored, ground_truth):
    """represent(classes) -> the codes of those images of `ground_truth`, a datasets.groundtruth.GroundTruth: the
    posterior means (model.code), or with representation 'sampled' a draw from each posterior, fresh at every
    call and seeded by eval_seed, as disentanglement_lib's sampled representation.

    The encoder is deterministic in inference mode, so when the metrics draw more images than the
    dataset holds (the default sample sizes), each image is encoded once into a table that they look
    up; small samples (tests, quick checks) encode just what they draw.
    """
    cfg = restored.cfg
    posterior = factor_posterior(restored, ground_truth)
    if cfg.representation == 'mean':
        return lambda classes: posterior(classes)[0]
    rng = np.random.RandomState([cfg.eval_seed, SAMPLED_STREAM])

    def sampled(classes):
        mean, logvar = posterior(classes)
        return mean + np.exp(0.5 * logvar) * rng.standard_normal(mean.shape)
    return sampled


def factor_posterior(restored, ground_truth):
    """posterior(classes) -> (codes, log-variances) of those images, from a table of the whole dataset where the
    metrics draw more images than it holds, else encoding what they draw."""
    if images_drawn(restored.cfg) < ground_truth.count:
        return lambda classes: restored.encode(ground_truth.images(classes))
    started = time.time()
    means, logvars = restored.encode_dataset(lambda: ground_truth.in_index_order(ENCODE_BATCH))
    print('encoded {} images in {:.0f} s'.format(len(means), time.time() - started))

    def looked_up(classes):
        index = ground_truth.index(classes)
        return means[index], logvars[index]
    return looked_up


def evaluate_factors(restored):
    """(the mean codes of udr_images images drawn with eval_seed, the scores of the metrics eval_metrics names,
    KL per dim and reconstruction error) on the dataset with known factors."""
    cfg = restored.cfg
    ground_truth = open_ground_truth(cfg, seed=cfg.eval_seed)
    try:
        return factor_scores(restored, ground_truth)
    finally:
        ground_truth.close()


class FactorSample(object):
    """What the factor metrics read, drawn once with eval_seed: the encoder's means of any factor indices
    (represent), MIG's sample, and the train / test sample that DCI, SAP, IRS, modularity, explicitness, the
    scores without labels and the downstream task share (as DCI and SAP share it in disentanglement_lib)."""

    def __init__(self, restored, ground_truth):
        cfg = self.cfg = restored.cfg
        self.ground_truth = ground_truth
        self.represent = factor_representation(restored, ground_truth)
        self.classes = self.ground_truth.sample(self.rng(0), cfg.eval_num_points)
        self.observed = ground_truth.images(self.classes)
        self.z_logvar = restored.encode(self.observed)[1]
        self.z_mean = self.represent(self.classes)
        self.quantized = restored.quantized and cfg.representation == 'mean'   # a sample is continuous
        split = self.rng(3)
        self.train = metrics.factor_codes(self.represent, self.ground_truth, split, cfg.eval_num_train)
        self.test = metrics.factor_codes(self.represent, self.ground_truth, split, cfg.eval_num_eval)
        self._classifiers = {}

    def rng(self, metric):   # one stream per metric: each is reproducible on its own
        return np.random.RandomState([self.cfg.eval_seed, metric])

    def sizes(self):
        return dict(num_train=self.cfg.eval_num_train, num_eval=self.cfg.eval_num_eval,
                    batch_size=self.cfg.eval_batch_size)

    def training_codes(self, count):
        """The first `count` training (codes, factors): the training sample, extended where count is larger."""
        codes, factors = self.train
        if count > len(codes):
            more = metrics.factor_codes(self.represent, self.ground_truth, self.rng(5), count - len(codes))
            codes, factors = np.concatenate([codes, more[0]]), np.concatenate([factors, more[1]])
        return codes[:count], factors[:count]

    def fit_classifiers(self, wanted):
        """Fits, in one parallel pass, one classifier per factor for each (predictor of metrics.PREDICTORS,
        training codes) of `wanted` not fitted yet.

        The downstream task's training sets are prefixes of the training sample, so at eval_num_train codes
        its gradient-boosted trees are DCI's, fitted once; they are the slowest part of --evaluate, and one
        pass over every fit keeps both cores busy to its end."""
        new = sorted(set(wanted) - set(self._classifiers))
        tasks = []
        for predictor, count in new:
            codes, factors = self.training_codes(count)
            tasks += [(metrics.PREDICTORS[predictor], codes, factors[:, k]) for k in range(factors.shape[1])]
        fitted = metrics.fit_classifiers(tasks)
        per_set = len(self.ground_truth.scored)
        for i, key in enumerate(new):
            self._classifiers[key] = fitted[i * per_set:(i + 1) * per_set]

    def classifiers(self, predictor, count):
        """One classifier per factor, metrics.PREDICTORS[predictor] fitted on the first `count` training codes."""
        self.fit_classifiers([(predictor, count)])
        return self._classifiers[predictor, count]


def factor_scores(restored, ground_truth):
    """evaluate_factors of the open dataset `ground_truth`: the metrics eval_metrics names, each timed (`seconds`:
    the shared samples, the classifiers DCI and the downstream task fit, then each metric's own time)."""
    cfg = restored.cfg
    started = time.time()
    sample = FactorSample(restored, ground_truth)
    seconds = {'samples': time.time() - started}
    started = time.time()
    chosen = scores.selected(cfg)
    sample.fit_classifiers([key for name in chosen for key in scores.METRICS[name].classifiers(cfg)])
    seconds['classifiers'] = time.time() - started
    result = {'kl_per_dim': metrics.information_per_dim(sample.z_mean, sample.z_logvar, restored.quantized).tolist(),
              'reconstruction': metrics.reconstruction_error(sample.observed, restored.decode(sample.z_mean),
                                                             cfg.likelihood)}
    for name in chosen:
        started = time.time()
        result.update(scores.METRICS[name].compute(sample))
        seconds[name] = time.time() - started
    if cfg.selection_labels:
        started = time.time()
        result['few_labels'] = few_label_scores(sample)
        seconds['few_labels'] = time.time() - started
    result['seconds'] = seconds
    return sample.represent(sample.ground_truth.sample(sample.rng(4), cfg.udr_images)), result


def few_label_scores(sample):
    """{str(budget): scores.labelled_scores of the labelled set of that many images} for each budget of
    selection_labels: what a researcher holding only those labels (labeller's, label_seed's) would rank models by.
    A budget larger than the images the labelled set may draw from is said and left out."""
    cfg, ground_truth = sample.cfg, sample.ground_truth
    available, found = ground_truth.count - labels.held_out_count(cfg), {}
    for budget in cfg.selection_labels:
        if budget > available:
            print('few-label choice: {} labels are more than the {} images of {} a labelled set draws from; '
                  'not scored'.format(budget, available, cfg.dataset))
            continue
        labelled = labels.labelled_set(cfg.replace(labelled_images=budget), ground_truth)
        found[str(budget)] = scores.labelled_scores(sample.represent(labelled.classes), labelled.labels, cfg.mig_bins)
    return found


def evaluate_images(restored):
    """(the mean codes of the first udr_images held-out images, KL per dim on eval_attribute_images of them,
    and on CelebA with list_attr_celeba.txt the attributes each dim predicts: None without the file, and
    for a folder of your own images)."""
    cfg = restored.cfg
    count = cfg.eval_attribute_images
    names, z_mean, z_logvar = restored.encode_held_out(max(count, cfg.udr_images))
    codes = z_mean[:cfg.udr_images]
    names, z_mean, z_logvar = (names or [])[:count], z_mean[:count], z_logvar[:count]
    result = {'kl_per_dim': metrics.information_per_dim(z_mean, z_logvar, restored.quantized).tolist()}
    if 'unsupervised' in scores.selected(cfg):
        result.update(unsupervised.unsupervised_scores(z_mean, cfg.mig_bins))
    if cfg.dataset != 'celeba':
        return codes, result, None
    attribute_path = imagefiles.beside_images(cfg.data_dir_path, imagefiles.ATTRIBUTE_FILE)
    if not os.path.isfile(attribute_path):
        print('no {}: dims are not named (run python download_celebA.py)'.format(attribute_path))
        return codes, result, None
    attribute_names, rows = imagefiles.read_attributes(attribute_path)
    labelled = [i for i, name in enumerate(names) if name in rows]
    labels = np.stack([rows[names[i]] for i in labelled])
    return codes, result, metrics.rank_attributes(z_mean[labelled], labels, attribute_names)


def carriers(factor, information, shown=2):
    """'orientation: dim 3 0.41, dim 7 0.02': the latents that carry most of a factor, and how much."""
    best = np.argsort(information)[::-1][:shown]
    return '{:<18}{}'.format(factor + ':', ', '.join('dim {} {:.2f}'.format(j, information[j]) for j in best))


def caption(entry):
    best = entry['attributes'][0]
    return 'dim {} ~ {}{} (AUC {:.2f})'.format(entry['dim'], '' if best['sign'] > 0 else 'not ', best['name'],
                                               best['auc'])


def evaluate(restored, images_per_step):
    """Scores the latest checkpoint; writes results/metrics.json (and attributes.json on CelebA).
    images_per_step, the images the model trained on a step, gives the images it had seen."""
    cfg = restored.cfg
    if cfg.representation == 'sampled' and not objectives.get(restored.trained_cfg.objective).variational:
        raise SettingsError('representation sampled: objective {} has a deterministic code, no posterior to sample; '
                            'use --representation mean'.format(restored.trained_cfg.objective))
    ranking = None
    if cfg.dataset in GROUND_TRUTH:
        metrics.sklearn()   # a missing scikit-learn is said before minutes of encoding
        codes, result = evaluate_factors(restored)
    else:
        codes, result, ranking = evaluate_images(restored)
    # config: every setting the checkpoint was trained with (not this command's); evaluation: the sample sizes
    result.update(step=restored.step, images=restored.step * images_per_step, checkpoint=restored.checkpoint,
                  config=restored.trained_cfg.as_dict(), evaluation={key: getattr(cfg, key) for key in EVALUATION_KEYS})
    for key, label in scores.SHOWN + (scores.RECONSTRUCTION,):
        if key in result:
            print('{:<18}{:.3f}'.format(label, result[key]))
    label = metrics.information_label(restored.quantized)
    print('{:<18}{}'.format(label + ' per dim', ' '.join('{:.2f}'.format(v) for v in result['kl_per_dim'])))
    if 'seconds' in result:
        print('{:<18}{}'.format('seconds', ', '.join('{} {:.0f}'.format(k, v) for k, v in result['seconds'].items())))
    for factor, information in result.get('factor_information', {}).items():
        print(carriers(factor, information))
    for budget, few in result.get('few_labels', {}).items():   # what a model choice from that many labels reads
        print('{:<18}{}'.format(budget + ' labels:', ', '.join('{} {:.3f}'.format(k, few[k]) for k in sorted(few))))
    unsupervised.save_codes(codes, result['kl_per_dim'], restored.step, os.path.join(cfg.results_dir, unsupervised.CODES_FILE))
    write_json(result, os.path.join(cfg.results_dir, METRICS_FILE))
    if ranking is not None:
        write_json({'step': restored.step, 'checkpoint': restored.checkpoint, 'dims': ranking},
                   os.path.join(cfg.results_dir, ATTRIBUTES_FILE))
        for entry in sorted(ranking, key=lambda e: -result['kl_per_dim'][e['dim']]):
            print('{}  {} {:.2f}'.format(caption(entry), label, result['kl_per_dim'][entry['dim']]))
    print('wrote {}'.format(os.path.join(cfg.results_dir, METRICS_FILE)))
    return result


def attribute_names(results_dir, step):
    """{dim: caption} from an attributes.json written for checkpoint `step`; {} when there is none."""
    path = os.path.join(results_dir, ATTRIBUTES_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        saved = json.load(f)
    if saved.get('step') != step:
        print('{} is from step {}, not {}: run --evaluate to name the dims'.format(path, saved.get('step'), step))
        return {}
    return {entry['dim']: caption(entry) for entry in saved['dims']}
