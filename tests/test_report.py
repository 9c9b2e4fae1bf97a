"""report.py: results pages rendered from their JSON, the same twice, and the project's own pages up to date."""
import json

import report
from conftest import ROOT

TABLE = {'header': {'command': 'python -m benchmarks.throughput', 'commit': 'abc1234', 'date': '2026-12-04',
                    'cpu': 'AMD EPYC', 'cpu_flags': ['avx2', 'avx512f'], 'cores': 2, 'python': '3.11.7',
                    'tensorflow': '2.21.0'},
         'tables': {'main': {'columns': ['model', 'img/s'], 'rows': [['celeba', '5.5'], ['dsprites', 1124.25]]}}}
OLD = {'header': {'commit': 'def5678', 'date': '2026-11-29', 'cores': 2, 'json_kept': False},
       'tables': {'runs': {'columns': ['run', 'MIG'], 'rows': [['tcvae seed 0', '0.239']]}}}
PAGE = '''# Results

Prose the author wrote.

<!-- results speed.json main -->
stale text
<!-- /results -->

More prose, naming the 5.5 img/s above.

<!-- results old.json runs -->
<!-- /results -->
'''


def project(tmp_path):
    results = tmp_path / 'docs' / 'results'
    results.mkdir(parents=True)
    (results / 'speed.json').write_text(json.dumps(TABLE))
    (results / 'old.json').write_text(json.dumps(OLD))
    (results / 'page.md').write_text(PAGE)
    (tmp_path / 'README.md').write_text('# Project\n\n<!-- results old.json runs -->\n<!-- /results -->\n')
    return results / 'page.md'


def test_blocks_are_rendered_from_their_json_and_the_prose_is_kept(tmp_path):
    page = project(tmp_path)
    assert report.main(['--root', str(tmp_path)]) == 0
    text = page.read_text()
    assert 'stale text' not in text and 'Prose the author wrote.' in text and 'naming the 5.5 img/s' in text
    assert ('*commit abc1234 · 2026-12-04 · AMD EPYC, 2 cores (avx2, avx512f) · Python 3.11.7, TensorFlow 2.21.0 · '
            '`python -m benchmarks.throughput`*\n\n| model | img/s |\n|---|---|\n| celeba | 5.5 |\n'
            '| dsprites | 1124.250 |\n<!-- /results -->') in text
    assert ('*From an earlier commit, JSON not kept: commit def5678 · 2026-11-29 · machine not recorded*\n\n'
            '| run | MIG |\n|---|---|\n| tcvae seed 0 | 0.239 |\n') in text
    assert 'JSON not kept' in (tmp_path / 'README.md').read_text()


def test_rendering_twice_changes_nothing_and_check_tells_a_stale_page(tmp_path, capsys):
    page = project(tmp_path)
    assert report.main(['--root', str(tmp_path), '--check']) == 1
    assert 'stale: README.md, docs/results/page.md' in capsys.readouterr().err
    assert report.main(['--root', str(tmp_path)]) == 0
    once = page.read_text()
    assert report.main(['--root', str(tmp_path)]) == 0
    assert page.read_text() == once
    assert report.main(['--root', str(tmp_path), '--check']) == 0


def test_a_block_naming_a_table_the_json_lacks_is_a_one_line_error(tmp_path):
    page = project(tmp_path)
    page.write_text('<!-- results old.json nothing -->\n<!-- /results -->\n')
    try:
        report.main(['--root', str(tmp_path)])
    except SystemExit as stop:
        assert str(stop.code).endswith("old.json: no table 'nothing' (it has runs)")
    else:
        raise AssertionError('no error')


def test_the_carriers_view_names_the_latents_that_carry_each_factor(tmp_path):
    assert report.carriers([0.10, 0.45, 0.30, 0.01]) == 'dim 1: 0.45, dim 2: 0.30'   # 0.30 is over half of 0.45
    assert report.carriers([0.10, 0.45, 0.20]) == 'dim 1: 0.45'                       # 0.20 is under half
    assert report.carriers([0.02, 0.01, 0.041]) == '0.04 at best'                     # none carries 0.05
    gathered = {'header': {'commit': 'abc1234', 'cores': 2},
                'runs': [{'run': 'tcvae_seed0', 'factor_information': {'y': [0.0, 0.6], 'shape': [0.3, 0.2]}},
                         {'run': 'kept_seed1'}]}   # a row kept from a gather that wrote no factor information
    (tmp_path / 'docs' / 'results').mkdir(parents=True)
    (tmp_path / 'docs' / 'results' / 'study.json').write_text(json.dumps(gathered))
    (tmp_path / 'README.md').write_text('<!-- results study.json carriers -->\n<!-- /results -->\n')
    assert report.main(['--root', str(tmp_path)]) == 0
    assert (tmp_path / 'README.md').read_text().endswith(
        '| run | shape | y |\n|---|---|---|\n| tcvae_seed0 | dim 0: 0.30, dim 1: 0.20 | dim 1: 0.60 |\n<!-- /results -->\n')


def test_the_projects_results_pages_are_up_to_date_with_their_json():
    assert report.main(['--root', ROOT, '--check']) == 0
