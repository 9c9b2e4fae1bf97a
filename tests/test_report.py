"""report.py: results pages rendered from their JSON, the same twice, and the project's own pages up to date."""
import glob
import json
import os
import re

import provenance
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
    assert ('*As reported, JSON not kept: commit def5678 · 2026-11-29 · machine not recorded*\n\n'
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


# ---- the prose's figures, the statistics, the overview ----

STUDY = {'header': {'commit': 'abc1234', 'cores': 2}, 'dataset': 'dsprites',
         'runs': [{'run': 'tcvae_seed{}'.format(seed), 'grid': {'objective': 'tcvae', 'seed': str(seed)},
                   'objective': 'tcvae', 'step': 10, 'images': 640, 'train_minutes': 1.0, 'mig': mig, 'dci': 0.3,
                   'factor_vae': 0.6, 'active_dims': 4, 'udr': udr}
                  for seed, mig, udr in ((0, 0.2321, 0.5), (1, 0.2304, 0.5), (2, 0.1, 0.2))],
         'medians': {'objective=tcvae': {'mig': 0.2304, 'dci': 0.3, 'factor_vae': 0.6, 'seeds': 3, 'images': 640.0,
                                         'objective': 'tcvae'}},
         'published': {'tcvae': {'source': 'a paper', 'images': 19.2e6, 'scores': {'mig': 0.24}}},
         'titles': {'tcvae': 'β-TCVAE'}, 'selected_per_setting': {'objective=tcvae': 'tcvae_seed0'},
         'rank_correlations': {'mig': 1.0}, 'metric_correlations': {'keys': ['mig', 'dci'], 'spearman': [[1, 0], [0, 1]]},
         'selected_against_median': {'mig': {'median': 0.2304, 'selected': 0.2321}}}


def checked_page(tmp_path, prose, capsys):
    """report.py --check's exit code and stderr on a page of `prose` below the study block, and the line
    number that the prose starts at."""
    results = tmp_path / 'docs' / 'results'
    results.mkdir(parents=True, exist_ok=True)
    (results / 'study.json').write_text(json.dumps(STUDY))
    (results / 'speed.json').write_text(json.dumps(TABLE))
    (results / 'page.md').write_text('# Page\n\n<!-- results study.json medians -->\n<!-- /results -->\n\n' + prose)
    assert report.main(['--root', str(tmp_path)]) == 0
    code = report.main(['--root', str(tmp_path), '--check'])
    return code, capsys.readouterr().err, (results / 'page.md').read_text().count('\n') - prose.count('\n') + 1


def test_a_figure_in_prose_must_be_in_the_pages_json_at_the_digits_printed(tmp_path, capsys):
    code, err, _ = checked_page(tmp_path, 'The best MIG is 0.232, or 0.23, after 640 images.\n', capsys)
    assert code == 0, err
    code, err, first = checked_page(tmp_path, 'Said before the runs changed:\n\nthe best MIG is 0.239.\n', capsys)
    assert code == 1 and err == 'docs/results/page.md:{}: 0.239 is in none of study.json, config.py\n'.format(first + 2)


def test_code_versions_settings_scaled_and_named_sources_are_not_stale_figures(tmp_path, capsys):
    prose = ('`mig 0.999` in code, Python 3.7.16 and TensorFlow 2.21 are versions, kl_weight 0.7 is a setting,\n'
             '1.9e7 is not a figure but 19.2 M images and 5.5 img/s are, as 0.00064 M images is.\n'
             '<!-- figures speed.json -->\n')
    code, err, _ = checked_page(tmp_path, prose, capsys)
    assert code == 0, err
    code, err, first = checked_page(tmp_path, prose.replace('<!-- figures speed.json -->', ''), capsys)
    assert code == 1 and err.splitlines() == [
        'docs/results/page.md:{}: 5.5 is in none of study.json, config.py'.format(first + 1)]


def test_correlations_over_fewer_than_8_runs_and_udr_ties_are_not_printed_as_figures():
    table = report.study_table(STUDY['runs'], STUDY['selected_per_setting'], STUDY)
    assert 'Spearman rank correlation of UDR with each metric: — (3 runs; a rank correlation needs 8)' in table
    assert "Spearman's rank correlation of the scores with each other: — (3 runs; a rank correlation needs 8)" in table
    assert '| mig |' not in table.split('Spearman')[1]   # no correlation table
    # seeds 0 and 1 tie at the top UDR: neither is selected, though the JSON names seed 0
    assert [line.split(' | ')[-1] for line in table.splitlines() if line.startswith('| tcvae_seed')] == \
        ['tie |', 'tie |', ' |']
    assert 'UDR-selected runs' not in table
    assert report.udr_ties(STUDY['runs']) == {'tcvae_seed0', 'tcvae_seed1'}
    assert report.udr_ties(STUDY['runs'][1:]) == set()


def test_a_column_gets_the_digits_that_tell_its_values_apart():
    assert report.column_digits([0.232, 0.347, None]) == 3
    assert report.column_digits([0.0005, 0.0018, 0.0010]) == 4
    assert report.column_digits([0.2321, 0.2304]) == 3
    assert report.column_digits([0.23214, 0.23186]) == 4
    assert report.column_digits([0.0000012, 0.0000031]) == 6
    assert report.column_digits([1e-7, 2e-7]) == 3   # alike at 6 decimals: not told apart


def test_the_overview_joins_gathers_with_each_methods_best_setting_of_the_most_seeds(tmp_path):
    one_seed = dict(STUDY, dataset='color_dsprites', medians={
        'objective=tcvae tcvae_beta=1': dict(STUDY['medians']['objective=tcvae'], mig=0.5, seeds=1),
        'objective=tcvae tcvae_beta=6': dict(STUDY['medians']['objective=tcvae'], mig=0.3)}, published={})
    markdown = report.render([STUDY, one_seed], 'overview')
    assert markdown.count('*commit abc1234') == 2
    rows = [line for line in markdown.splitlines() if line.startswith('| β-TCVAE')]
    assert rows == ['| β-TCVAE | dsprites | defaults | 3 | 0.00064 | 0.230 | 0.300 | 0.600 |',
                    '| β-TCVAE | color_dsprites | tcvae_beta=6 | 3 | 0.00064 | 0.300 | 0.300 | 0.600 |',
                    '| β-TCVAE, published: a paper | dsprites | | | 19.2 | 0.24 | - | - |']


# ---- the project's own pages ----

PAGES = ['README.md'] + sorted(os.path.relpath(path, ROOT) for pattern in ('docs/*.md', 'docs/results/*.md',
                                                                             'docs/results/*.json')
                               for path in glob.glob(os.path.join(ROOT, pattern)))
# What a page says of the software and its measurements, not of how the work went, nor where it was done.
HISTORY = re.compile(r'\bnow\b|\bno longer\b|\bearlier commit|\bsince replaced\b|\bare gone\b'
                     r'|(?<![\w.~/-])/(?:home|root|tmp|work|Users|mnt)/\S+', re.I)


def test_the_pages_speak_of_the_software_with_no_history_and_no_machines_paths():
    found = ['{}:{}: {}'.format(page, number, match.group()) for page in PAGES
             for number, line in enumerate(open(os.path.join(ROOT, page), encoding='utf-8'), 1)
             for match in HISTORY.finditer(line)]
    assert not found, found
    assert HISTORY.search('run in /work/runs/bench') and HISTORY.search('it now splits')
    assert not HISTORY.search('python study.py results/bench') and not HISTORY.search('known')


def test_every_result_names_a_command_that_exists_or_the_commit_that_has_it():
    for path in glob.glob(os.path.join(ROOT, 'docs', 'results', '*.json')):
        command = (json.load(open(path)).get('header') or {}).get('command') or ''
        for part in command.split(';'):
            script = re.search(r'python (?:-m (\S+)|(\S+\.py))', part)
            if script and 'git checkout' not in part:
                module = script.group(1)
                named = module.replace('.', os.sep) + '.py' if module and module != 'pytest' else script.group(2)
                assert named is None or os.path.isfile(os.path.join(ROOT, named)), (path, part)


def test_the_readme_reads_in_five_minutes():
    assert open(os.path.join(ROOT, 'README.md'), encoding='utf-8').read().count('\n') <= 200


def test_a_results_command_names_the_projects_paths_relative_to_its_root(tmp_path):
    command = 'python study.py {} --keep {} --out /elsewhere/x.json'.format(
        os.path.join(provenance.ROOT, 'results', 'bench'), os.path.join(str(tmp_path), 'kept.json'))
    assert provenance.portable(command, here=str(tmp_path)) == \
        'python study.py results/bench --keep kept.json --out /elsewhere/x.json'
