"""--evaluate end to end: dSprites metrics against known answers, CelebA dims named by attributes."""
import collections
import json
import math

import numpy as np
import pytest
from PIL import Image

import inference
from datasets import dsprites
import evaluate
import metrics
import scores
import unsupervised
import settings
import vae
from test_metrics import binning_bound
from conftest import TINY_DSPRITES
from kit.runs import folder_flags

SMALL_EVAL = ['--eval_num_train', '200', '--eval_num_eval', '100', '--eval_num_points', '100', '--eval_batch_size', '8',
              '--downstream_sizes', '10,100', '--task_codes', '100', '--fairness_points', '10', '--strong_experiments', '2']


class FactorEncoder(object):
    """Stands in for inference.Restored: its code is dSprites' own scored factors, scaled to [0, 1],
    then 5 constant dims; it decodes every z to grey (p = 0.5)."""

    quantized = False

    def __init__(self, cfg):
        self.cfg, self.trained_cfg, self.step, self.checkpoint = cfg, cfg, 7, 'factors'

    def encode_dataset(self, make_dataset):
        classes = np.stack(np.unravel_index(np.arange(dsprites.NUM_DSPRITES), dsprites.FACTOR_SIZES), axis=1)[:, 1:]
        scaled = classes / (np.array(dsprites.FACTOR_SIZES[1:]) - 1.0)
        return np.hstack([scaled, np.zeros((dsprites.NUM_DSPRITES, 5))]), np.zeros((dsprites.NUM_DSPRITES, 10))

    def encode(self, images):
        return np.zeros((len(images), 10)), np.zeros((len(images), 10))

    def decode(self, z):
        return np.full((len(z), 64, 64, 1), 0.5)


def test_dsprites_metrics_of_the_true_factors_have_known_answers(tmp_path, monkeypatch):
    monkeypatch.setattr(evaluate, 'images_drawn', lambda cfg: dsprites.NUM_DSPRITES)   # the table of every code
    cfg = settings.resolve('dsprites', [('results_dir', str(tmp_path)), ('eval_num_points', '10000'),
                                        ('eval_num_train', '400'), ('eval_num_eval', '200'), ('downstream_sizes', '10,100'),
                                        ('task_codes', '400'), ('fairness_points', '20'), ('strong_experiments', '2')])
    result = evaluate.evaluate(FactorEncoder(cfg), 64)
    assert (result['step'], result['images']) == (7, 7 * 64)
    assert result['beta_vae'] == 1.0            # the fixed factor's dim is exactly 0 in every pair
    assert result['factor_vae'] == 1.0          # the fixed factor's dim has zero variance
    assert result['mig'] == pytest.approx(binning_bound([3, 6, 40, 32, 32]), abs=0.01)
    # each factor is carried by its own dim, as much as 20 bins allow, and not at all by the constant dims
    information = result['factor_information']
    assert list(information) == ['shape', 'scale', 'orientation', 'x', 'y']
    for dim, (name, size) in enumerate(zip(information, dsprites.FACTOR_SIZES[1:])):
        assert int(np.argmax(information[name])) == dim
        assert information[name][dim] == pytest.approx(binning_bound([size]), abs=0.01)
        assert information[name][5:] == pytest.approx([0.0] * 5, abs=1e-12)
    assert result['dci'] > 0.97                 # each code's trees use one factor alone
    assert result['dci_completeness'] > 0.97
    # KL of N(c, 1) against N(0, 1) is c^2 / 2; a factor of n values at k / (n - 1) has E[c^2] = (2n - 1) / (6n - 6).
    expected = [(2 * n - 1) / (6.0 * (n - 1)) / 2 for n in dsprites.FACTOR_SIZES[1:]] + [0.0] * 5
    assert result['kl_per_dim'] == pytest.approx(expected, rel=0.05, abs=1e-12)
    assert result['reconstruction'] == pytest.approx(64 * 64 * math.log(2.0))   # p = 0.5 on every pixel
    # SAP with discrete factors: one-vs-rest linear SVMs on a single code win only the end classes of a
    # factor (2 of shape's 3, 2 of orientation's 40), so even the true factors score low, as published
    # dSprites SAP figures are; each factor's best code is still its own, the next at chance.
    sap = result['sap']
    assert 0.05 < sap < 0.15
    # A classifier of one factor reads that factor's dim alone: interventions on another move no prediction.
    assert result['unfairness'] < 0.02 and result['unfairness_max'] < 0.1
    # Without its own dim a factor is left to chance; the others keep theirs.
    chance = np.mean([1.0 / n for n in dsprites.FACTOR_SIZES[1:]])
    assert result['reduced_downstream'] < chance + 0.1 and result['reduced_downstream_others'] > 0.95
    assert abs(result['strong_generalization_gap']) < 0.05     # a fixed other factor changes nothing it reads
    assert result['unified_gbt_dci'] == pytest.approx(result['dci'])     # DCI is the unified score of its own pair
    assert len([key for key in result if key.startswith('unified_')]) == 3 * 7
    # the labelled sets of 100 and 1,000 images alone see the same code: each factor in a dim of its own
    assert sorted(result['few_labels']) == ['100', '1000']
    for few in result['few_labels'].values():
        assert sorted(few) == sorted(scores.FEW_LABEL_METRICS)
        assert few['modularity'] <= 0.5   # the 5 constant dims carry nothing: each scores 0
    assert result['few_labels']['1000']['modularity'] == pytest.approx(0.5, abs=0.01)
    # 80 training labels leave the trees of 40 orientations and 32 positions short of examples: less clear-cut
    assert result['few_labels']['1000']['dci'] > 0.9 and result['few_labels']['100']['dci'] > 0.6
    assert result['few_labels']['1000']['mig'] == pytest.approx(result['mig'], abs=0.1)
    saved = json.loads((tmp_path / 'metrics.json').read_text())
    assert saved['sap'] == sap and saved['step'] == 7


def test_a_label_budget_beyond_the_grid_is_said_and_left_out(capsys):
    cfg = settings.resolve('dsprites', [('selection_labels', '50,800000')])
    ground_truth = evaluate.open_ground_truth(cfg, seed=0)
    sample = collections.namedtuple('Sample', 'cfg ground_truth represent')(
        cfg, ground_truth, lambda classes: classes[:, 1:] / (np.array(dsprites.FACTOR_SIZES[1:]) - 1.0))
    try:
        found = evaluate.few_label_scores(sample)
    finally:
        ground_truth.close()
    assert list(found) == ['50'] and found['50']['dci'] > 0.5
    assert 'few-label choice: 800000 labels are more than the' in capsys.readouterr().out


def test_dci_and_the_downstream_task_fit_their_shared_boosted_trees_once(tmp_path, monkeypatch):
    monkeypatch.setattr(evaluate, 'images_drawn', lambda cfg: dsprites.NUM_DSPRITES)
    fitted = []

    def counted(codes, labels):
        fitted.append(len(codes))
        return metrics.boosted_trees(codes, labels)

    monkeypatch.setitem(metrics.PREDICTORS, 'boosted_trees', counted)
    cfg = settings.resolve('dsprites', [('results_dir', str(tmp_path)), ('eval_metrics', 'dci,downstream'),
                                        ('eval_num_train', '200'), ('eval_num_eval', '100'),
                                        ('downstream_sizes', '200,300')])
    result = evaluate.evaluate(FactorEncoder(cfg), 64)
    assert sorted(fitted) == [200] * 5 + [300] * 5   # DCI's trees serve the downstream task at 200 codes
    assert result['dci_informativeness'] == result['downstream_boosted_trees']['200']
    assert result['downstream_boosted_trees']['300'] >= 0.9   # 300 codes: the shared 200 and 100 more


def test_dsprites_evaluate_cli_is_reproducible(tmp_path):
    args = TINY_DSPRITES + folder_flags(tmp_path) + ['--objective', 'capacity']
    assert vae.main(['--train', '--steps', '3'] + args) == 0
    # evaluated without the training's --objective and --batch_size: the record still says how it was trained
    assert vae.main(['--evaluate'] + args[:2] + args[6:12] + SMALL_EVAL) == 0
    result = json.loads((tmp_path / 'res' / 'metrics.json').read_text())
    assert result['step'] == 3 and result['config']['objective'] == 'capacity'
    assert result['config']['batch_size'] == 8 and result['evaluation']['eval_num_train'] == 200
    cfg = settings.resolve('dsprites', settings.parse_overrides(args[2:] + SMALL_EVAL))
    restored = inference.Restored(cfg)
    codes, again = evaluate.evaluate_factors(restored)    # every sample is seeded: the same scores
    for key in ('beta_vae', 'factor_vae', 'mig', 'dci', 'sap', 'reconstruction', 'kl_per_dim', 'few_labels'):
        assert result[key] == again[key], key
    saved, kl, step = unsupervised.load_codes(str(tmp_path / 'res' / unsupervised.CODES_FILE))   # what UDR compares
    assert step == 3 and saved.shape == (1000, 10) and np.array_equal(saved, codes) and list(kl) == result['kl_per_dim']


def test_small_samples_encode_what_they_draw_and_match_the_table_of_every_image(tmp_path, monkeypatch, capsys):
    args = ['--batch_size', '8', '--filters', '8,8,8,8', '--hidden_units', '16,16', '--checkpoint_dir',
            str(tmp_path / 'ck'), '--results_dir', str(tmp_path / 'res'), '--summary_dir', str(tmp_path / 'sum')]
    assert vae.main(['--train', '--steps', '2', '--dataset', 'dsprites'] + args) == 0
    restored = inference.Restored(settings.resolve('dsprites', settings.parse_overrides(args + SMALL_EVAL)))
    images = dsprites.DSprites(restored.cfg)
    monkeypatch.setattr(dsprites.DSprites, 'count', 2048)   # the first 2,048 images stand in for all, to be quick
    classes = np.stack(np.unravel_index(np.random.RandomState(0).randint(0, images.count, 50), dsprites.FACTOR_SIZES),
                       axis=1)
    monkeypatch.setattr(evaluate, 'images_drawn', lambda cfg: 50)
    drawn = evaluate.factor_representation(restored, images)(classes)
    monkeypatch.setattr(evaluate, 'images_drawn', lambda cfg: images.count)
    looked_up = evaluate.factor_representation(restored, images)(classes)
    assert np.allclose(drawn, looked_up, atol=1e-5)
    assert capsys.readouterr().out.count('encoded 2048 images') == 1   # the table, once; drawn images not at all
    images.close()


def test_missing_scikit_learn_is_a_one_line_error(monkeypatch, tmp_path):
    import builtins
    real_import = builtins.__import__

    def without_sklearn(name, *args, **kwargs):
        if name.startswith('sklearn'):
            raise ImportError('No module named sklearn')
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, '__import__', without_sklearn)
    cfg = settings.resolve('dsprites', [('results_dir', str(tmp_path))])
    with pytest.raises(settings.SettingsError, match=r'run `pip install scikit-learn`') as error:
        evaluate.evaluate(FactorEncoder(cfg), 64)
    assert '\n' not in str(error.value)


def write_attributes(folder, rows):
    """list_attr_celeba.txt beside the image folder: {file name: (Bald, Smiling)} as +1 / -1."""
    lines = ['{}'.format(len(rows)), 'Bald Smiling']
    lines += ['{} {} {}'.format(name, 1 if bald else -1, 1 if smiling else -1) for name, (bald, smiling) in rows]
    (folder.parent / 'list_attr_celeba.txt').write_text('\n'.join(lines) + '\n')


def test_celeba_evaluate_names_dims_and_traverse_shows_them(celeba_dir, tiny_overrides, tmp_path, capsys):
    args = tiny_overrides + ['--data_dir_path', str(celeba_dir), '--holdout_percent', '50']
    assert vae.main(['--train', '--steps', '2'] + args) == 0
    # 'Smiling' is exactly "dim 1 above its median" on the held-out images, 'Bald' a coin flip:
    cfg = settings.resolve('celeba', settings.parse_overrides(args))
    names, z_mean, _ = inference.Restored(cfg).encode_held_out(1000)
    smiling = z_mean[:, 1] > np.median(z_mean[:, 1])
    bald = np.arange(len(names)) % 2 == 0
    write_attributes(celeba_dir, list(zip(names, zip(bald, smiling))))

    assert vae.main(['--evaluate', '--traverse'] + args) == 0
    out = capsys.readouterr().out
    assert 'dim 1 ~ Smiling (AUC 1.00)' in out
    ranking = json.loads((tmp_path / 'res' / 'attributes.json').read_text())
    assert ranking['step'] == 2 and len(ranking['dims']) == 3
    assert ranking['dims'][1]['attributes'][0] == {'name': 'Smiling', 'auc': 1.0, 'sign': 1}
    result = json.loads((tmp_path / 'res' / 'metrics.json').read_text())
    assert result['gaussian_total_correlation'] >= 0 and 'wasserstein_dependency' in result   # no labels needed
    assert 'mig' not in result and result['kl_per_dim'] == pytest.approx(
        metrics.kl_per_dim(*inference.Restored(cfg).encode_held_out(cfg.eval_attribute_images)[1:]).tolist())
    with Image.open(str(tmp_path / 'res' / 'traverse_latentdim1.jpg')) as grid:
        assert grid.size == (10 * 128, 5 * 128 + 14)    # the caption strip names the dim
