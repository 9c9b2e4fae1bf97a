"""Studies with image counts (learning curves), with tiny step counts: each count is evaluated once, kept
counts are skipped, a run stopped between two counts resumes from the first, a curve never goes back;
and the comparisons with the published figures on curves whose answers are known."""
import json
import os
import re

import report
import study
from studies import curves, gather
from test_study import TINY

# 16 and 32 images at TINY's batch of 8: steps 2 and 4.
FIRST, SECOND = '0.000016', '0.000032'


def curve_study(tmp_path, *counts):
    return study.main([str(tmp_path / 'curves'), '--grid', 'objective=beta', 'seed=0', '--images'] + list(counts)
                      + TINY)


def kept(tmp_path, millions):
    path = tmp_path / 'curves' / 'beta_seed0' / curves.CURVE_DIR / 'images_{:g}M.json'.format(float(millions))
    return json.loads(path.read_text()), os.path.getmtime(str(path))


def test_each_count_is_evaluated_once_a_stopped_curve_resumes_and_a_curve_never_goes_back(tmp_path, capfd):
    assert curve_study(tmp_path, FIRST) == 0
    first, first_time = kept(tmp_path, FIRST)
    assert (first['step'], first['images']) == (2, 16)

    # As if stopped after the first count: its next count is listed for any scheduler ...
    capfd.readouterr()
    assert study.main([str(tmp_path / 'curves'), '--images', FIRST, SECOND, '--list']) == 0
    commands = [line for line in capfd.readouterr().out.splitlines() if 'vae.py' in line]
    assert len(commands) == 1 and '--images 3.2e-05 ' in commands[0]
    # ... and the next command keeps the first count and trains on from its checkpoint.
    assert curve_study(tmp_path, FIRST, SECOND) == 0
    out = capfd.readouterr().out
    assert out.count('=== beta_seed0:') == 1 and 'trained to step 4' in out
    assert re.search(r'resumed from \S+model\.ckpt-2 at step 2\n', out), out
    second, _ = kept(tmp_path, SECOND)
    assert (second['step'], second['images']) == (4, 32)
    assert kept(tmp_path, FIRST) == (first, first_time)

    # Everything kept: nothing trains, and the table and figure hold both points.
    assert study.main([str(tmp_path / 'curves')]) == 0
    out = capfd.readouterr().out
    assert '=== beta_seed0:' not in out
    summary = json.loads((tmp_path / 'curves' / gather.RESULTS_FILE).read_text())
    points = summary['points']
    assert [(p['run'], p['step']) for p in points] == [('beta_seed0', 2), ('beta_seed0', 4)]
    assert points[1]['mig'] == second['mig']
    assert points[1]['objective'] == 'beta' and points[1]['label'] == 'objective=beta'
    assert sorted(c['metric'] for c in summary['against_published']) == ['dci', 'factor_vae', 'mig']
    assert (tmp_path / 'curves' / curves.CURVES_FIGURE).stat().st_size > 0

    # A count below the run's checkpoint: a curve can not go back.
    assert curve_study(tmp_path, '0.000008', FIRST, SECOND) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith('error: beta_seed0 is trained past 8e-06 M images (its checkpoint is at step 4')


def point(millions, objective='factor', run='factor_seed0', **scores):
    return dict(scores, images=int(millions * 1e6), step=int(millions * 1e6) // 64, run=run, label=objective,
                objective=objective)


def test_reached_at_is_the_first_count_at_or_above_the_figure():
    line = [point(0.25, mig=0.1), point(0.5, mig=0.3), point(1, mig=0.2), point(2, mig=0.5)]
    assert curves.reached_at(line, 'mig', 0.3) == 500000
    assert curves.reached_at(line, 'mig', 0.45) == 2000000
    assert curves.reached_at(line, 'mig', 0.6) is None


def test_the_trend_is_the_least_squares_line_in_log_images():
    # On 0.1 log10(images) - 0.4 exactly: 0.2, 0.3 and 0.4 at 1, 10 and 100 M images, so 0.5 at 1,000 M.
    line = [point(1, mig=0.2), point(10, mig=0.3), point(100, mig=0.4)]
    value, slope = curves.trend_at(line, 'mig', 1e9)
    assert abs(value - 0.5) < 1e-9 and abs(slope - 0.1) < 1e-9
    # Off the line, least squares: residuals +0.1, -0.2, +0.1 around the same line.
    bent = [point(1, mig=0.3), point(10, mig=0.1), point(100, mig=0.5)]
    value, slope = curves.trend_at(bent, 'mig', 1e9)
    assert abs(slope - 0.1) < 1e-9 and abs(value - 0.5) < 1e-9
    # Two counts only draw a line through them: no trend.
    assert curves.trend_at(line[:2], 'mig', 1e9) is None


def test_each_run_is_held_against_its_own_objectives_published_figures():
    published = {'factor': {'source': 'a paper', 'images': 19.9e6, 'scores': {'mig': 0.43, 'factor_vae': 0.82}}}
    rows = [point(4, mig=0.35, factor_vae=0.85), point(1, mig=0.2, factor_vae=0.7), point(2, mig=0.3, factor_vae=0.8),
            point(1, objective='beta', run='beta_seed0', mig=0.5, factor_vae=0.9)]
    comparisons = {c['metric']: c for c in curves.against_published(rows, published)}
    assert sorted(comparisons) == ['factor_vae', 'mig']          # and none for beta, which has no figure here
    mig = comparisons['mig']
    assert (mig['run'], mig['published'], mig['published_images']) == ('factor_seed0', 0.43, 19.9e6)
    assert (mig['best'], mig['best_images'], mig['last_images'], mig['reached_images']) == (0.35, 4e6, 4e6, None)
    assert mig['slope_per_decade'] > 0 and mig['trend'] > 0.35
    assert comparisons['factor_vae']['reached_images'] == 4e6
    assert 'not yet' in report.curves_table(rows, list(comparisons.values()))
