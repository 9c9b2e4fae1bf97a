"""--evaluate: disentanglement metrics on dSprites, KL per latent dim, and CelebA dims named by attributes."""
import json
import os

import numpy as np
import tensorflow.compat.v1 as tf

import data
import metrics
import settings
from checkpoints import session_config

tf.disable_v2_behavior()

METRICS_FILE = 'metrics.json'
ATTRIBUTES_FILE = 'attributes.json'


class DSpritesImages(object):
    """Factor indices [n, 6] -> images [n, 64, 64, 1]: DeepMind's npz when present, else rendered."""

    def __init__(self, cfg):
        self.npz_images = None
        if os.path.isfile(cfg.dsprites_npz_path):
            self.npz_images = data.load_dsprites_npz(cfg.dsprites_npz_path)[0]
            return
        graph = tf.Graph()
        with graph.as_default():
            self.classes = tf.placeholder(tf.int64, [None, len(data.FACTOR_SIZES)])
            self.images = data.render_dsprites(self.classes)
        self.sess = tf.Session(graph=graph, config=session_config())

    def __call__(self, classes):
        if self.npz_images is not None:
            flat = np.ravel_multi_index(classes.T, data.FACTOR_SIZES)
            return self.npz_images[flat][..., None].astype(np.float32)
        return self.sess.run(self.images, {self.classes: classes})


def evaluate_dsprites(restored):
    """BetaVAE, FactorVAE and MIG scores and KL per dim of the encoder's means on dSprites."""
    cfg = restored.cfg
    observe = DSpritesImages(cfg)
    space = metrics.FactorSpace(data.FACTOR_SIZES)

    def represent(classes):
        return restored.encode(observe(classes))[0]

    def rng(metric):   # one stream per metric: each is reproducible on its own
        return np.random.RandomState([cfg.eval_seed, metric])

    sizes = dict(num_train=cfg.eval_num_train, num_eval=cfg.eval_num_eval, batch_size=cfg.eval_batch_size)
    classes = space.sample(rng(0), cfg.eval_num_points)
    z_mean, z_logvar = restored.encode(observe(classes))
    return {
        'beta_vae': metrics.beta_vae_score(represent, space, rng(1), **sizes),
        'factor_vae': metrics.factor_vae_score(represent, space, rng(2), num_variance_estimate=cfg.eval_num_points,
                                               **sizes),
        'mig': metrics.mig(z_mean, classes, space.scored, cfg.mig_bins),
        'kl_per_dim': metrics.kl_per_dim(z_mean, z_logvar).tolist(),
    }, None


def held_out_batches(cfg, count, batch_size=256):
    """(file names or None, images) batches of the first `count` held-out images, always the same ones.

    CelebA: the held-out split in file order (undecodable files left out); dSprites: a fixed
    sample of the factor grid.
    """
    if cfg.dataset == 'dsprites':
        observe = DSpritesImages(cfg)
        classes = metrics.FactorSpace(data.FACTOR_SIZES).sample(np.random.RandomState([cfg.eval_seed, 99]), count)
        for start in range(0, count, batch_size):
            yield None, observe(classes[start:start + batch_size])
        return
    paths = data.split_celeba(cfg.data_dir_path, cfg.holdout_percent).holdout[:count]
    if not paths:
        raise settings.SettingsError('no held-out images in {}: raise holdout_percent'.format(cfg.data_dir_path))
    with tf.Graph().as_default():
        batch = tf.data.make_one_shot_iterator(data.celeba_holdout_batches(paths, cfg, batch_size)).get_next()
        with tf.Session(config=session_config()) as sess:
            while True:
                try:
                    batch_paths, images = sess.run(batch)
                except tf.errors.OutOfRangeError:
                    return
                yield [os.path.basename(p.decode('utf-8')) for p in batch_paths], images


def held_out_images(cfg, count):
    return np.concatenate([images for _, images in held_out_batches(cfg, count)])[:count]


def encode_held_out(restored, count):
    """(file names or None, z_mean, z_logvar) of the first `count` held-out images."""
    names, means, logvars = [], [], []
    for batch_names, images in held_out_batches(restored.cfg, count):
        z_mean, z_logvar = restored.encode(images)
        names += batch_names or []
        means.append(z_mean)
        logvars.append(z_logvar)
    return names or None, np.concatenate(means), np.concatenate(logvars)


def evaluate_celeba(restored):
    """KL per dim on held-out images and, with list_attr_celeba.txt, the attributes each dim predicts."""
    cfg = restored.cfg
    names, z_mean, z_logvar = encode_held_out(restored, cfg.eval_attribute_images)
    result = {'beta_vae': None, 'factor_vae': None, 'mig': None,
              'kl_per_dim': metrics.kl_per_dim(z_mean, z_logvar).tolist()}
    attribute_path = data.beside_images(cfg.data_dir_path, data.ATTRIBUTE_FILE)
    if not os.path.isfile(attribute_path):
        print('no {}: dims are not named (run python download_celebA.py)'.format(attribute_path))
        return result, None
    attribute_names, rows = data.read_attributes(attribute_path)
    labelled = [i for i, name in enumerate(names) if name in rows]
    labels = np.stack([rows[names[i]] for i in labelled])
    return result, metrics.rank_attributes(z_mean[labelled], labels, attribute_names)


def caption(entry):
    best = entry['attributes'][0]
    return 'dim {} ~ {}{} (AUC {:.2f})'.format(entry['dim'], '' if best['sign'] > 0 else 'not ', best['name'],
                                               best['auc'])


def evaluate(restored):
    """Scores the latest checkpoint; writes results/metrics.json (and attributes.json on CelebA)."""
    cfg = restored.cfg
    if cfg.dataset == 'dsprites':
        result, ranking = evaluate_dsprites(restored)
    else:
        result, ranking = evaluate_celeba(restored)
    result.update(step=restored.step, checkpoint=restored.checkpoint, config=cfg.as_dict())
    for key, label in (('beta_vae', 'BetaVAE metric'), ('factor_vae', 'FactorVAE metric'), ('mig', 'MIG')):
        if result[key] is not None:
            print('{:<18}{:.3f}'.format(label, result[key]))
    print('{:<18}{}'.format('KL per dim', ' '.join('{:.2f}'.format(v) for v in result['kl_per_dim'])))
    settings.write_json(result, os.path.join(cfg.results_dir, METRICS_FILE))
    if ranking is not None:
        settings.write_json({'step': restored.step, 'checkpoint': restored.checkpoint, 'dims': ranking},
                            os.path.join(cfg.results_dir, ATTRIBUTES_FILE))
        for entry in sorted(ranking, key=lambda e: -result['kl_per_dim'][e['dim']]):
            print('{}  KL {:.2f}'.format(caption(entry), result['kl_per_dim'][entry['dim']]))
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
