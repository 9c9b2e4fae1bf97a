"""--evaluate end to end: dSprites metrics, CelebA dims named by attributes, captions on traversals."""
import json

from PIL import Image

import vae

SMALL_EVAL = ['--eval_num_train', '40', '--eval_num_eval', '20', '--eval_num_points', '300', '--eval_batch_size', '8']


def test_dsprites_evaluate_writes_metrics(tmp_path):
    args = ['--dataset', 'dsprites', '--batch_size', '8', '--filters', '8,8,8,8', '--hidden_units', '16,16',
            '--checkpoint_dir', str(tmp_path / 'ck'), '--results_dir', str(tmp_path / 'res'),
            '--summary_dir', str(tmp_path / 'sum'), '--objective', 'capacity']
    assert vae.main(['--train', '--steps', '3'] + args) == 0
    assert vae.main(['--evaluate'] + args + SMALL_EVAL) == 0
    result = json.loads((tmp_path / 'res' / 'metrics.json').read_text())
    for key in ('beta_vae', 'factor_vae', 'mig'):
        assert 0.0 <= result[key] <= 1.0
    assert len(result['kl_per_dim']) == 10 and all(v >= 0 for v in result['kl_per_dim'])
    assert result['step'] == 3 and result['config']['objective'] == 'capacity'


def write_attributes(folder, names):
    lines = ['{}'.format(len(names)), 'Bald Smiling']
    lines += ['{} {} {}'.format(name, 1 if i % 2 else -1, 1 if i % 3 else -1) for i, name in enumerate(names)]
    (folder.parent / 'list_attr_celeba.txt').write_text('\n'.join(lines) + '\n')


def test_celeba_evaluate_names_dims_and_traverse_shows_them(celeba_dir, tiny_overrides, tmp_path, capsys):
    write_attributes(celeba_dir, ['{:06d}.jpg'.format(i + 1) for i in range(40)])
    args = tiny_overrides + ['--data_dir_path', str(celeba_dir), '--holdout_percent', '50']
    assert vae.main(['--train', '--steps', '2'] + args) == 0
    assert vae.main(['--evaluate', '--traverse'] + args) == 0
    out = capsys.readouterr().out
    assert ' ~ ' in out and '(AUC ' in out
    ranking = json.loads((tmp_path / 'res' / 'attributes.json').read_text())
    assert ranking['step'] == 2 and len(ranking['dims']) == 3
    best = ranking['dims'][0]['attributes'][0]
    assert best['name'] in ('Bald', 'Smiling') and 0.5 <= best['auc'] <= 1.0
    metrics = json.loads((tmp_path / 'res' / 'metrics.json').read_text())
    assert metrics['mig'] is None and len(metrics['kl_per_dim']) == 3
    with Image.open(str(tmp_path / 'res' / 'traverse_latentdim0.jpg')) as grid:
        assert grid.size == (10 * 128, 5 * 128 + 14)    # the caption strip names the dim
