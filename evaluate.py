"""--evaluate: disentanglement metrics on dSprites, KL per latent dim, and CelebA dims named by attributes."""
import json
import os
import time

import numpy as np

import data
import dsprites
import metrics
from common import write_json

METRICS_FILE = 'metrics.json'
ATTRIBUTES_FILE = 'attributes.json'
ENCODE_BATCH = 2048   # images per session run when encoding all of dSprites
EVALUATION_KEYS = ('eval_seed', 'eval_batch_size', 'eval_num_train', 'eval_num_eval', 'eval_num_points',
                   'mig_bins', 'eval_attribute_images')


def dsprites_codes(restored, images):
    """The encoder's means of every dSprites image, [737280, latent_dim], index order.

    The encoder is deterministic in inference mode, so a metric's sample is a lookup into this table:
    the same codes as encoding each sample, and each image encoded once, however often it is drawn.
    """
    return restored.encode_dataset(lambda: images.in_index_order(ENCODE_BATCH))


def evaluate_dsprites(restored):
    """BetaVAE, FactorVAE, MIG, DCI and SAP scores, KL per dim and reconstruction error on dSprites."""
    cfg = restored.cfg
    images = dsprites.DSprites(cfg)
    space = metrics.FactorSpace(dsprites.FACTOR_SIZES)
    started = time.time()
    table = dsprites_codes(restored, images)
    print('encoded {} images in {:.0f} s'.format(len(table), time.time() - started))

    def represent(classes):
        return table[np.ravel_multi_index(np.asarray(classes).T, dsprites.FACTOR_SIZES)]

    def rng(metric):   # one stream per metric: each is reproducible on its own
        return np.random.RandomState([cfg.eval_seed, metric])

    sizes = dict(num_train=cfg.eval_num_train, num_eval=cfg.eval_num_eval, batch_size=cfg.eval_batch_size)
    classes = space.sample(rng(0), cfg.eval_num_points)
    observed = images(classes)
    _, z_logvar = restored.encode(observed)
    z_mean = represent(classes)
    split_rng = rng(3)   # DCI and SAP share one train / test sample, as in disentanglement_lib
    codes_train, factors_train = metrics.factor_codes(represent, space, split_rng, cfg.eval_num_train)
    codes_test, factors_test = metrics.factor_codes(represent, space, split_rng, cfg.eval_num_eval)
    dci = metrics.dci(codes_train, factors_train, codes_test, factors_test)
    information = metrics.factor_information(z_mean, classes, space.scored, cfg.mig_bins)
    return {
        'beta_vae': metrics.beta_vae_score(represent, space, rng(1), **sizes),
        'factor_vae': metrics.factor_vae_score(represent, space, rng(2), num_variance_estimate=cfg.eval_num_points,
                                               **sizes),
        'mig': metrics.information_gap(information),
        # which latents carry each factor: {factor: [normalised mutual information of each latent]}
        'factor_information': {dsprites.FACTOR_NAMES[k]: information[:, i].tolist()
                               for i, k in enumerate(space.scored)},
        'dci': dci['disentanglement'],
        'dci_completeness': dci['completeness'],
        'dci_informativeness': dci['informativeness'],
        'sap': metrics.sap(metrics.sap_score_matrix(codes_train, factors_train, codes_test, factors_test)),
        'kl_per_dim': metrics.kl_per_dim(z_mean, z_logvar).tolist(),
        'reconstruction': metrics.reconstruction_error(observed, restored.decode(z_mean), cfg.likelihood),
    }


def evaluate_images(restored):
    """KL per dim on held-out images; on CelebA with list_attr_celeba.txt also the attributes each dim
    predicts (None without the file, and for a folder of your own images)."""
    cfg = restored.cfg
    names, z_mean, z_logvar = restored.encode_held_out(cfg.eval_attribute_images)
    result = {'kl_per_dim': metrics.kl_per_dim(z_mean, z_logvar).tolist()}
    if cfg.dataset != 'celeba':
        return result, None
    attribute_path = data.beside_images(cfg.data_dir_path, data.ATTRIBUTE_FILE)
    if not os.path.isfile(attribute_path):
        print('no {}: dims are not named (run python download_celebA.py)'.format(attribute_path))
        return result, None
    attribute_names, rows = data.read_attributes(attribute_path)
    labelled = [i for i, name in enumerate(names) if name in rows]
    labels = np.stack([rows[names[i]] for i in labelled])
    return result, metrics.rank_attributes(z_mean[labelled], labels, attribute_names)


def carriers(factor, information, shown=2):
    """'orientation: dim 3 0.41, dim 7 0.02': the latents that carry most of a factor, and how much."""
    best = np.argsort(information)[::-1][:shown]
    return '{:<18}{}'.format(factor + ':', ', '.join('dim {} {:.2f}'.format(j, information[j]) for j in best))


def caption(entry):
    best = entry['attributes'][0]
    return 'dim {} ~ {}{} (AUC {:.2f})'.format(entry['dim'], '' if best['sign'] > 0 else 'not ', best['name'],
                                               best['auc'])


SCORE_LABELS = (('beta_vae', 'BetaVAE metric'), ('factor_vae', 'FactorVAE metric'), ('mig', 'MIG'),
                ('dci', 'DCI disentangl.'), ('sap', 'SAP'), ('reconstruction', 'reconstruction'))


def evaluate(restored):
    """Scores the latest checkpoint; writes results/metrics.json (and attributes.json on CelebA)."""
    cfg = restored.cfg
    ranking = None
    if cfg.dataset == 'dsprites':
        metrics.sklearn()   # a missing scikit-learn is said before minutes of encoding
        result = evaluate_dsprites(restored)
    else:
        result, ranking = evaluate_images(restored)
    # config: every setting the checkpoint was trained with (not this command's); evaluation: the sample sizes
    result.update(step=restored.step, checkpoint=restored.checkpoint, config=restored.trained_cfg.as_dict(),
                  evaluation={key: getattr(cfg, key) for key in EVALUATION_KEYS})
    for key, label in SCORE_LABELS:
        if key in result:
            print('{:<18}{:.3f}'.format(label, result[key]))
    print('{:<18}{}'.format('KL per dim', ' '.join('{:.2f}'.format(v) for v in result['kl_per_dim'])))
    for factor, information in result.get('factor_information', {}).items():
        print(carriers(factor, information))
    write_json(result, os.path.join(cfg.results_dir, METRICS_FILE))
    if ranking is not None:
        write_json({'step': restored.step, 'checkpoint': restored.checkpoint, 'dims': ranking},
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
