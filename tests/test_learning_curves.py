"""benchmarks/learning_curves.py with tiny step counts: each count is evaluated once, kept counts are
skipped, a run stopped between two counts resumes from the first, and a curve never goes back."""
import json
import os
import re

import learning_curves   # benchmarks/learning_curves.py
from test_study import TINY

SETTINGS = TINY[2:]   # the benchmark's runs are dSprites': no --dataset
assert TINY[:2] == ['--dataset', 'dsprites']
# 16 and 32 images at TINY's batch of 8: steps 2 and 4.
FIRST, SECOND = '0.000016', '0.000032'


def curves(tmp_path, *args):
    return learning_curves.main(['--root', str(tmp_path / 'curves'), '--runs', 'beta:0',
                                 '--json', str(tmp_path / 'curves.json'), '--figure', str(tmp_path / 'curves.png')]
                                + list(args) + SETTINGS)


def kept(tmp_path, millions):
    path = tmp_path / 'curves' / 'beta_seed0' / learning_curves.CURVE_DIR / 'images_{:g}M.json'.format(float(millions))
    return json.loads(path.read_text()), os.path.getmtime(str(path))


def test_each_count_is_evaluated_once_and_a_run_stopped_between_counts_resumes(tmp_path, capfd):
    assert curves(tmp_path, '--images', FIRST) == 0
    first, first_time = kept(tmp_path, FIRST)
    assert (first['step'], first['images']) == (2, 16)

    # As if stopped after the first count: the next command keeps it and trains on from its checkpoint.
    capfd.readouterr()
    assert curves(tmp_path, '--images', FIRST, SECOND) == 0
    out = capfd.readouterr().out
    assert out.count('=== beta_seed0:') == 1 and 'trained to step 4' in out
    assert re.search(r'resumed from \S+model\.ckpt-2 at step 2\n', out), out
    second, _ = kept(tmp_path, SECOND)
    assert (second['step'], second['images']) == (4, 32)
    assert kept(tmp_path, FIRST) == (first, first_time)

    # Everything kept: nothing trains, and the table and figure hold both points.
    assert curves(tmp_path, '--images', FIRST, SECOND) == 0
    out = capfd.readouterr().out
    assert '=== beta_seed0:' not in out
    points = json.loads((tmp_path / 'curves.json').read_text())['points']
    assert [(p['run'], p['step']) for p in points] == [('beta_seed0', 2), ('beta_seed0', 4)]
    assert points[1]['mig'] == second['mig']
    assert (tmp_path / 'curves.png').stat().st_size > 0


def test_a_count_the_run_is_already_past_is_a_one_line_error(tmp_path, capfd):
    assert curves(tmp_path, '--images', SECOND) == 0
    capfd.readouterr()
    assert curves(tmp_path, '--images', FIRST, SECOND) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith('error: beta_seed0 is trained past 1.6e-05 M images (its checkpoint is at step 4')
