"""study.py: grids of runs, their folders, bad input, the gather with UDR; and the same study through a real
Slurm cluster on this machine (submitted, cancelled, resubmitted, failing)."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
from PIL import Image
import pytest

import hardware
import report
import scores
import unsupervised
import settings
from common import SettingsError, write_json
from conftest import TINY_DSPRITES, TINY_EVALUATION
from kit.slurm import SlurmCluster, Unavailable
from studies import choice, gather, grid, here, plots, slurm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A tiny dSprites model and small metric samples: a run trains and evaluates in seconds.
TINY = TINY_DSPRITES + TINY_EVALUATION + ['--latent_dim', '4', '--discriminator_units', '16,16', '--udr_images', '64',
                                          '--image_snapshot_freq', '1000', '--checkpoint_every', '3600']


def run_study(folder, *args, env=None, timeout=600):
    """(exit code, stdout, stderr) of python study.py FOLDER ARGS."""
    done = subprocess.run([sys.executable, os.path.join(ROOT, 'study.py'), str(folder)] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env,
                          timeout=timeout)
    return done.returncode, done.stdout, done.stderr


def definition(grids, dataset='dsprites', steps=2, given=()):
    return {'dataset': dataset, 'steps': steps, 'settings': list(given),
            'grids': [grid.parse_grid(words, settings.defaults(dataset)) for words in grids]}


# ---- grids and folders ----

def test_a_grid_is_a_product_of_any_settings_with_seeds_last_and_readable_folders(tmp_path):
    runs = grid.runs_of(definition([['seed=0-1', 'objective=tcvae', 'tcvae_beta=1,6'],
                                     ['objective=factor', 'factor_gamma=10', 'seed=0']]), str(tmp_path))
    assert [run.name for run in runs] == ['tcvae_tcvae_beta1_seed0', 'tcvae_tcvae_beta1_seed1',
                                          'tcvae_tcvae_beta6_seed0', 'tcvae_tcvae_beta6_seed1',
                                          'factor_factor_gamma10_seed0']
    assert runs[1].grid == (('objective', 'tcvae'), ('tcvae_beta', '1'), ('seed', '1'))
    assert ('checkpoint_dir', str(tmp_path / 'tcvae_tcvae_beta1_seed1' / 'checkpoints')) in runs[1].settings


def test_list_settings_take_semicolons_and_the_default_objective_names_the_folder(tmp_path):
    runs = grid.runs_of(definition([['filters=8,8,16,16;16,16,32,32']], given=[('seed', '3')]), str(tmp_path))
    assert [run.name for run in runs] == ['beta_filters8-8-16-16_seed3', 'beta_filters16-16-32-32_seed3']


def test_the_disentanglement_studys_folder_names_are_kept(tmp_path):
    runs = grid.runs_of(definition([['objective=capacity', 'capacity_steps=20000', 'seed=0']]), str(tmp_path))
    assert runs[0].name == 'capacity_capacity_steps20000_seed0'


def test_running_again_with_no_grid_continues_and_a_new_grid_adds_runs(tmp_path):
    first = grid.define(str(tmp_path), [['objective=beta', 'seed=0-1']], 'dsprites', 2, [('latent_dim', '4')])
    write_json(first, str(tmp_path / grid.DEFINITION_FILE))
    again = grid.define(str(tmp_path), [], None, None, [])
    assert json.loads(json.dumps(again)) == json.loads(json.dumps(first))
    more = grid.define(str(tmp_path), [['objective=beta', 'seed=0-1'], ['objective=tcvae', 'seed=0']], None, 5, [])
    assert [run.name for run in grid.runs_of(more, str(tmp_path))] == ['beta_seed0', 'beta_seed1', 'tcvae_seed0']
    assert more['steps'] == 5
    with pytest.raises(SettingsError, match='defined with the settings'):
        grid.define(str(tmp_path), [], None, None, [('latent_dim', '6')])
    with pytest.raises(SettingsError, match='is a dsprites study'):
        grid.define(str(tmp_path), [], 'celeba', None, [])


def test_a_folder_holding_another_runs_settings_is_never_reused(tmp_path):
    runs = grid.runs_of(definition([['objective=beta', 'seed=0']]), str(tmp_path))
    grid.claim_folders(runs)
    grid.check_folders(runs)
    other = grid.runs_of(definition([['objective=beta', 'seed=0']], given=[('latent_dim', '6')]), str(tmp_path))
    with pytest.raises(SettingsError, match='holds a run with other settings'):
        grid.check_folders(other)


@pytest.mark.parametrize('args, message', [
    (['--grid', 'objective=beta', 'no_such_setting=1'], "unknown setting 'no_such_setting'"),
    (['--grid', 'objective=beta', 'latent_dim=four'], 'latent_dim takes int values'),
    (['--grid', 'objective=beta', 'latent_dim=0'], 'latent_dim must be >= 1'),
    (['--grid', 'objective=no_such_objective'], 'objective'),             # the model's and objective's own checks
    (['--grid', 'objective=beta', 'seed='], 'seed= has no values'),
    ([], 'holds no study yet: give a --grid'),
    (['--grid', 'seed=0', 'seed=1'], 'seed is given twice in one grid'),
    (['--grid', 'latent_dim=4,6', '--latent_dim', '4'], 'latent_dim is given twice'),
    (['--grid', 'checkpoint_dir=elsewhere'], "the study's to choose"),
])
def test_bad_input_is_one_line_before_anything_is_written(tmp_path, args, message):
    folder = tmp_path / 'study'
    code, out, err = run_study(folder, *(args + ['--dataset', 'dsprites']))
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and err.startswith('error: ') and message in err, err
    assert not folder.exists()


def test_slurm_without_sbatch_on_path_is_one_line(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))   # python itself is named by its full path
    code, _, err = run_study(tmp_path / 'study', '--grid', 'seed=0', '--slurm', env=env)
    assert code == 2 and err.strip().splitlines() == [
        'error: --slurm needs sbatch on PATH: run this on a Slurm login node, or use --list or no option (here)']


# ---- the gather and UDR ----

def fake_run(folder, name, values_of_grid, objective, seed, mig, codes, kl, step=2):
    """A finished run's files as vae.py --evaluate writes them (no event files: 0 training minutes)."""
    results = os.path.join(folder, name, 'results')
    os.makedirs(results)
    values = {key: mig for key in scores.BENCHMARK}
    values.update(step=step, reconstruction=1.0, kl_per_dim=list(kl),
                  config={'objective': objective, 'seed': seed, 'inactive_kl': 0.05})
    write_json(values, os.path.join(results, 'metrics.json'))
    unsupervised.save_codes(codes, kl, step, os.path.join(results, unsupervised.CODES_FILE))
    return grid.Run(name, os.path.join(folder, name), values_of_grid, ())


def test_udr_picks_the_seed_that_agrees_most_with_the_others_and_none_where_the_top_ties(tmp_path):
    rng = np.random.RandomState(0)
    factors = rng.randn(300, 3)
    kl = [1.0, 1.0, 1.0, 0.0]
    # Three seeds find the factors (permuted, sign-flipped), the later ones under more noise; a fourth mixes them.
    codes = [factors[:, [2, 0, 1]] * [1, -1, 1], factors[:, [1, 2, 0]] + 0.3 * rng.randn(300, 3),
             factors * [-1, 1, 1] + 0.6 * rng.randn(300, 3), factors.dot(rng.randn(3, 3))]
    runs = [fake_run(str(tmp_path), 'beta_seed{}'.format(seed), (('objective', 'beta'), ('seed', str(seed))), 'beta',
                     seed, mig=0.5 - 0.1 * seed, codes=np.concatenate([c, np.zeros((300, 1))], axis=1), kl=kl)
            for seed, c in enumerate(codes)]
    lines = {run.name: gather.row(run, grid.result(run, definition([['seed=0']]))) for run in runs}
    assert choice.score_udr(runs, lines) == {'objective=beta': 'beta_seed0'}
    udr = [lines[run.name]['udr'] for run in runs]
    assert udr[0] > udr[1] > udr[3] and udr[2] > udr[3], udr
    # two seeds alone always tie (UDR is symmetric between two models): no choice
    pair = {run.name: dict(lines[run.name], udr=None) for run in runs[:2]}
    assert choice.score_udr(runs[:2], pair) == {}
    assert pair['beta_seed0']['udr'] == pytest.approx(pair['beta_seed1']['udr'])


def test_an_objective_whose_top_udr_ties_selects_no_run_not_a_lower_one():
    def rows(*udrs):
        return [{'run': 'beta_seed{}'.format(i), 'objective': 'beta', 'udr': udr} for i, udr in enumerate(udrs)]
    assert choice.by_objective(rows(0.5, 0.5, 0.3)) == {}
    assert choice.by_objective(rows(0.5, 0.6, 0.3, None)) == {'beta': 'beta_seed1'}


def test_udrs_rank_correlation_with_a_metric_needs_8_runs():
    # UDR ranks 1..8 against MIG ranks 2 1 4 3 6 5 8 7: 1 - 6 * 8 / (8 * 63) = 0.9048
    rows = [{'udr': 0.1 * (i + 1), 'mig': 0.1 * m, 'objective': 'beta'} for i, m in enumerate([2, 1, 4, 3, 6, 5, 8, 7])]
    assert choice.rank_correlations(rows)['mig'] == pytest.approx(1 - 48.0 / 504)
    assert choice.rank_correlations(rows[:7]) == {}


def few_label_rows(count):
    """`count` runs in two settings whose MIG ranks 1..count; the 1,000-label MIG ranks them alike, the 100-label
    MIG swaps each pair of neighbours, and UDR ranks them backwards."""
    rows = []
    for i, swapped in enumerate([2, 1, 4, 3, 6, 5, 8, 7][:count]):
        objective = 'beta' if i < 4 else 'tcvae'
        rows.append({'run': '{}_seed{}'.format(objective, i), 'objective': objective, 'udr': -0.1 * i,
                     'grid': {'objective': objective, 'seed': str(i)}, 'mig': 0.1 * (i + 1), 'dci': 0.5,
                     'few_labels': {'100': {'mig': 0.1 * swapped, 'dci': 0.5, 'sap': 0.1, 'modularity': 0.1},
                                    '1000': {'mig': 0.2 * (i + 1), 'dci': 0.5, 'sap': 0.1, 'modularity': 0.1}}})
    return rows


def test_the_choice_from_a_few_labels_ranks_runs_by_the_labelled_sets_score_beside_udr():
    rows = few_label_rows(8)
    few = choice.few_label_choice(rows, 'mig')
    assert few['metric'] == 'mig' and few['runs'] == 8 and list(few['budgets']) == ['100', '1000']
    assert few['budgets']['1000']['rank_correlation']['mig'] == pytest.approx(1.0)
    assert few['budgets']['100']['rank_correlation']['mig'] == pytest.approx(1 - 48.0 / 504)
    # the top few-label MIG of each setting: seed 2 of beta at 100 labels (0.4 over 0.3), seed 3 at 1,000
    assert few['budgets']['100']['selected_per_setting'] == {'objective=beta': 'beta_seed2',
                                                              'objective=tcvae': 'tcvae_seed6'}
    assert few['budgets']['1000']['selected_per_setting'] == {'objective=beta': 'beta_seed3',
                                                               'objective=tcvae': 'tcvae_seed7'}
    against = choice.selected_against_median(rows, {}, few)
    assert against['mig'] == {'median': pytest.approx(0.45), 'selected': None, 'labels_100': pytest.approx(0.5),
                              'labels_1000': pytest.approx(0.6)}
    summary = {'rank_correlations': choice.rank_correlations(rows), 'few_label_choice': few}
    lines = report.few_label_lines(few, summary)
    assert '| mig | -1.00 | 0.90 | 1.00 |' in lines
    # below 8 runs no rank correlation is printed, yet each setting still has its choice
    short = choice.few_label_choice(few_label_rows(7), 'mig')
    assert short['budgets']['100']['rank_correlation'] == {} and short['budgets']['100']['selected_per_setting']
    assert 'a rank correlation needs 8' in report.few_label_lines(short, summary)[-1]
    assert choice.few_label_choice([dict(r, few_labels=None) for r in rows], 'mig') is None
    alone = choice.few_label_choice(few_label_rows(5), 'mig')   # tcvae has one run: nothing to choose from
    assert alone['budgets']['100']['selected_per_setting'] == {'objective=beta': 'beta_seed2'}


def test_the_metrics_rank_correlations_with_each_other_have_known_answers(tmp_path):
    rows = [{'mig': 0.1 * m, 'dci': 0.2 * m, 'sap': -m, 'irs': 0.5, 'factor_vae': 0.1 * f}
            for m, f in zip(range(1, 9), [2, 1, 4, 3, 6, 5, 8, 7])]
    correlations = gather.metric_correlations(rows)
    keys = correlations['keys']
    assert keys == ['factor_vae', 'mig', 'dci', 'sap', 'irs']   # the scores every run has, in SCORES' order
    rho = {(a, b): correlations['spearman'][i][j] for i, a in enumerate(keys) for j, b in enumerate(keys)}
    assert rho['mig', 'dci'] == pytest.approx(1.0) and rho['mig', 'sap'] == pytest.approx(-1.0)
    assert rho['mig', 'mig'] == pytest.approx(1.0)
    # every rank off by one: 1 - 6 * 8 / (8 * 63)
    assert rho['mig', 'factor_vae'] == pytest.approx(1 - 48.0 / 504) and rho['factor_vae', 'mig'] == rho['mig', 'factor_vae']
    assert rho['irs', 'mig'] is None   # constant over the runs: no rank order
    assert gather.metric_correlations(rows[:7]) is None   # too few runs for a rank correlation to mean anything
    plots.plot_correlations(correlations, str(tmp_path / 'correlations.png'))
    assert Image.open(str(tmp_path / 'correlations.png')).size[0] > 100
    assert '| mig | 0.90 | 1.00 | 1.00 | -1.00 | - |' in report.correlation_lines(correlations, len(rows))


def test_a_setting_with_one_finished_seed_gets_no_udr(tmp_path):
    run = fake_run(str(tmp_path), 'beta_seed0', (('seed', '0'),), 'beta', 0, 0.5, np.zeros((10, 2)), [1, 1])
    lines = {run.name: gather.row(run, grid.result(run, definition([['seed=0']])))}
    assert choice.score_udr([run], lines) == {} and lines[run.name]['udr'] is None


# ---- end to end, here ----

def test_a_study_here_resumes_a_stopped_run_trains_the_rest_names_a_failed_one_and_gathers(tmp_path):
    folder = tmp_path / 'study'
    broken = tmp_path / 'broken.npz'
    broken.write_bytes(b'not an npz file')
    run = folder / 'beta_seed0'
    stopped = subprocess.run([sys.executable, os.path.join(ROOT, 'vae.py'), '--train', '--steps', '2'] +
                             TINY + [word for key, sub in grid.PLACED for word in ('--' + key, str(run / sub))],
                             stdout=subprocess.DEVNULL)
    assert stopped.returncode == 0      # a run stopped at step 2 of the budget, as if by Ctrl-C
    code, out, err = run_study(folder, '--grid', 'objective=beta', 'seed=0-1', '--grid', 'objective=beta',
                               'dsprites_npz_path={}'.format(broken), 'seed=0', '--steps', '3', *TINY)
    # The failed run does not stop the others, and is named.
    assert code == 1 and re.search(r'not finished: beta_dsprites_npz_path\S*broken.npz_seed0 ', err), err
    assert '=== beta_seed0 (1 of 3)' in out and 'at step 2' in out.split('resumed from')[1]   # went on from step 2
    gathered = json.loads((folder / gather.RESULTS_FILE).read_text())
    assert [line['run'] for line in gathered['runs']] == ['beta_seed0', 'beta_seed1']
    for line in gathered['runs']:
        own = json.loads((folder / line['run'] / 'results' / 'metrics.json').read_text())
        scored = [key for key in scores.SHOWN_KEYS if key in own]
        assert [line[key] for key in scored] == [own[key] for key in scored]   # every score the run wrote, by name
        # TINY's downstream sizes (10, 20) hold no 100 and 10,000 codes to take the sample efficiency of
        assert set(scores.SHOWN_KEYS) - set(scored) == {'sample_efficiency_logistic', 'sample_efficiency_boosted_trees'}
        assert line['step'] == own['step'] == 3 and line['udr'] is not None and line['images'] == own['images'] == 3 * 8
    assert gathered['selected_per_setting'] == gathered['selected_per_objective'] == {}   # two seeds tie
    assert gathered['titles'] == {'beta': 'β-VAE'} and gathered['medians']['objective=beta']['images'] == 24
    assert gathered['header']['command'].startswith('python study.py ') and gathered['header']['cores'] >= 1
    assert (folder / gather.TABLE_FILE).is_file() and (folder / gather.METRICS_FIGURE).is_file()
    # Finished runs are skipped: listed no more, neither trained nor evaluated again.
    stamp = (run / 'results' / 'metrics.json').stat().st_mtime
    code, out, _ = run_study(folder, '--list')
    assert code == 0 and '1 unfinished' in out and len([line for line in out.splitlines() if 'vae.py' in line]) == 1
    code, out, err = run_study(folder)
    assert code == 1 and '=== beta_seed0' not in out and '=== beta_seed1' not in out, err
    assert (run / 'results' / 'metrics.json').stat().st_mtime == stamp


@pytest.mark.parametrize('parallel', ['1', '2'])
def test_a_sigterm_to_the_study_alone_reaches_its_run_which_saves_and_the_study_stops(tmp_path, parallel):
    folder = tmp_path / 'study'
    study = subprocess.Popen([sys.executable, os.path.join(ROOT, 'study.py'), str(folder), '--grid', 'objective=beta',
                              'seed=0', '--steps', '1000000', '--parallel', parallel] + TINY + ['--image_snapshot_freq', '10'],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    snapshot = folder / 'beta_seed0' / 'results' / 'fakes_step0000020.jpg'
    try:
        deadline = time.time() + 300
        while not snapshot.exists():   # the run is past step 20: its stop handler is in place
            assert time.time() < deadline and study.poll() is None, 'the run did not reach step 20'
            time.sleep(0.05)
        study.send_signal(signal.SIGTERM)   # the study's process alone, as kill or a service manager sends it
        out = study.communicate(timeout=120)[0]
    finally:
        orphans = [int(pid) for pid in os.listdir('/proc') if pid.isdigit() and str(folder) in command_line(pid)]
        for pid in orphans + ([study.pid] if study.poll() is None else []):   # nothing outlives the test
            os.kill(pid, signal.SIGKILL)
    assert not orphans and study.returncode == 143, out
    log = out if parallel == '1' else (folder / 'beta_seed0' / here.TRAIN_LOG).read_text()
    step = int(re.search(r'stopped by SIGTERM at step (\d+)', log).group(1))
    assert step >= 20 and os.path.isfile(str(folder / 'beta_seed0' / 'checkpoints' / 'model.ckpt-{}.index'.format(step)))
    assert 'the same command resumes' in out


def command_line(pid):
    try:
        with open('/proc/{}/cmdline'.format(pid), 'rb') as f:
            return f.read().decode('utf-8', 'replace')
    except OSError:   # it ended meanwhile
        return ''


def test_runs_side_by_side_each_train_on_their_own_cores_and_log_into_their_folders(tmp_path):
    folder = tmp_path / 'study'
    code, out, err = run_study(folder, '--grid', 'objective=beta', 'seed=0-1', '--steps', '2', '--parallel', '2',
                               *TINY)
    assert code == 0, err
    gathered = json.loads((folder / gather.RESULTS_FILE).read_text())
    assert [line['run'] for line in gathered['runs']] == ['beta_seed0', 'beta_seed1']
    shares = here.core_shares(hardware.core_ids(), 2) if hardware.core_ids() else [None]
    for name, share in zip(('beta_seed0', 'beta_seed1'), shares + shares):
        log = (folder / name / here.TRAIN_LOG).read_text()
        assert 'trained to step 2' in log and '=== {} on cores {}'.format(name, sorted(share or []) or 'any') in out
        assert '{} ended with exit code 0'.format(name) in out
    code, _, err = run_study(tmp_path / 'curves', '--grid', 'seed=0', '--images', '0.001', '--parallel', '2')
    assert code == 2 and err.count('\n') == 1 and 'one at a time' in err


def test_list_prints_one_command_per_unfinished_run(tmp_path):
    code, out, err = run_study(tmp_path / 'study', '--grid', 'objective=beta,tcvae', 'seed=0', '--steps', '2',
                               *TINY + ['--list'])
    assert code == 0, err
    commands = [line for line in out.splitlines() if 'vae.py' in line]
    assert len(commands) == 2 and all('--train --evaluate --dataset dsprites --steps 2' in c for c in commands)
    assert '--objective tcvae' in commands[1] and 'tcvae_seed0/checkpoints' in commands[1]


def test_a_preset_defines_the_reported_study_and_the_command_line_narrows_it(tmp_path):
    code, out, err = run_study(tmp_path / 'whole', '--preset', 'disentanglement', '--list')
    commands = [line for line in out.splitlines() if 'vae.py' in line]
    assert code == 0 and len(commands) == 14, err     # 3 + 3 + 1 + 1 + 3 + 3 runs
    assert all('--dataset dsprites --steps 24000' in c for c in commands)
    assert '--capacity_steps 20000' in commands[7] and 'capacity_capacity_steps20000_seed0' in commands[7]
    code, out, err = run_study(tmp_path / 'narrow', '--preset', 'disentanglement', '--grid', 'objective=tcvae',
                               'tcvae_estimator=bank', 'seed=0', '--steps', '5', '--list')
    commands = [line for line in out.splitlines() if 'vae.py' in line]
    assert code == 0 and len(commands) == 1 and '--steps 5' in commands[0] and 'tcvae_estimator' in commands[0]


def test_the_gather_sets_each_settings_median_against_its_objectives_published_scores(tmp_path):
    runs = [fake_run(str(tmp_path), 'beta_seed{}'.format(seed), (('objective', 'beta'), ('seed', str(seed))), 'beta',
                     seed, mig=mig, codes=np.eye(4)[np.arange(20) % 4], kl=[1, 1, 1, 1])
            for seed, mig in ((0, 0.1), (1, 0.3), (2, 0.2))]
    finished = [(run, grid.result(run, definition([['seed=0']]))) for run in runs]
    gather.gather(finished, ['beta_seed3'], definition([['seed=0']]), str(tmp_path))
    summary = json.loads((tmp_path / gather.RESULTS_FILE).read_text())
    assert summary['medians']['objective=beta']['mig'] == pytest.approx(0.2)
    assert summary['medians']['objective=beta']['seeds'] == 3
    assert summary['published']['beta']['scores'] == {'factor_vae': 0.63, 'mig': 0.21, 'dci': 0.41}
    assert summary['not_finished'] == ['beta_seed3']
    table = (tmp_path / gather.TABLE_FILE).read_text()
    assert '| objective=beta (median) | 3 | - | 0.200 | 0.200 | 0.200 | 0.200 | 0.200 | 1.000 |' in table
    assert '| beta, published: Lin et al. 2020' in table and '| - | 0.63 | 0.21 | 0.41 | - | - |' in table


def test_a_study_split_over_machines_keeps_the_earlier_gathers_rows_and_trains_only_the_rest(tmp_path):
    # kl_weight sorts before objective, as the saved JSON's keys are: the kept rows' label must not follow it.
    grids = ['--grid', 'objective=beta', 'kl_weight=1', 'seed=0-2', '--dataset', 'dsprites', '--steps', '2']
    this_machine, there = tmp_path / 'here', tmp_path / 'there'
    for folder, seed, mig in ((there, 0, 0.9), (there, 1, 0.1), (this_machine, 0, 0.3)):
        fake_run(str(folder), 'beta_kl_weight1_seed{}'.format(seed),
                 (('objective', 'beta'), ('kl_weight', '1'), ('seed', str(seed))), 'beta', seed,
                 mig=mig, codes=np.eye(4)[np.arange(20) % 4], kl=[1, 1, 1, 1])
    run_study(there, *(grids + ['--gather']))
    earlier = json.loads((there / gather.RESULTS_FILE).read_text())
    keep = ['--keep', str(there / gather.RESULTS_FILE)]
    code, out, _ = run_study(this_machine, *(grids + keep + ['--list']))
    assert code == 0 and [line.split('--seed ')[1][0] for line in out.splitlines() if 'vae.py' in line] == ['2']
    code, _, err = run_study(this_machine, *(grids + keep + ['--gather']))
    summary = json.loads((this_machine / gather.RESULTS_FILE).read_text())
    # seed 0 is finished here, so its own row wins; seed 1 comes from there; seed 2 is not finished anywhere
    assert code == 1 and 'beta_kl_weight1_seed2' in err and summary['not_finished'] == ['beta_kl_weight1_seed2']
    assert [(r['run'], r['mig'], r.get('commit')) for r in summary['runs']] == [
        ('beta_kl_weight1_seed0', 0.3, None), ('beta_kl_weight1_seed1', 0.1, earlier['header']['commit'])]
    # the kept row and the fresh one are one setting, under one label
    assert list(summary['medians']) == ['objective=beta kl_weight=1']
    assert summary['medians']['objective=beta kl_weight=1']['seeds'] == 2
    assert summary['medians']['objective=beta kl_weight=1']['mig'] == pytest.approx(0.2)
    assert 'Kept from earlier gathers, with no UDR: beta_kl_weight1_seed1 (commit {}).'.format(
        earlier['header']['commit']) in (this_machine / gather.TABLE_FILE).read_text()
    code, _, err = run_study(tmp_path / 'other', *(grids[:4] + ['--dataset', 'color_dsprites', '--steps', '2'] + keep
                                                  + ['--gather']))
    assert code == 2 and err.count('\n') == 1 and 'gathers dsprites runs of 2 steps, this study color_dsprites' in err


# ---- through Slurm ----

@pytest.fixture(scope='module')
def cluster(tmp_path_factory):
    """A one-node Slurm cluster for this module's tests; they skip, saying why, where it can not start."""
    slurm = SlurmCluster(str(tmp_path_factory.mktemp('slurm')))
    try:
        slurm.start()
    except Unavailable as why:
        slurm.stop()
        pytest.skip(str(why))
    yield slurm
    slurm.stop()


def test_a_study_through_slurm_finishes_its_table_is_the_runs_own_metrics_and_a_failing_run_is_named(tmp_path,
                                                                                                   cluster):
    folder = tmp_path / 'study'
    broken = tmp_path / 'broken.npz'
    broken.write_bytes(b'not an npz file')
    code, out, err = run_study(folder, '--grid', 'objective=beta,tcvae', 'seed=0-1', '--grid',
                               'dsprites_npz_path={}'.format(broken), 'seed=0', '--steps', '2', *TINY + [
                                   '--slurm', '--wait', '--throttle', '2', '--sbatch=--time=10'],
                               env=cluster.environment)
    assert code != 0 and 'submitted job array' in out
    assert re.search(r'not finished: beta_dsprites_npz_path\S*broken.npz_seed0 \(log: \S+slurm.log\)', out + err), \
        (out, err)
    gathered = json.loads((folder / gather.RESULTS_FILE).read_text())
    assert sorted(line['run'] for line in gathered['runs']) == ['beta_seed0', 'beta_seed1', 'tcvae_seed0',
                                                                'tcvae_seed1']
    for line in gathered['runs']:
        own = json.loads((folder / line['run'] / 'results' / 'metrics.json').read_text())
        assert [line[key] for key in scores.BENCHMARK] == [own[key] for key in scores.BENCHMARK]
        assert 'trained to step 2' in (folder / line['run'] / slurm.TASK_LOG).read_text()
    # two seeds always tie, UDR being symmetric between two models: it selects none
    assert gathered['selected_per_objective'] == {} and gathered['selected_per_setting'] == {}


def wait_until(condition, seconds, what):
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, 'waited {} s for {}'.format(seconds, what)
        time.sleep(0.2)


def test_a_task_cancelled_mid_run_saves_and_submitting_again_finishes_it_at_that_step(tmp_path, cluster):
    folder = tmp_path / 'study'
    run = folder / 'beta_seed0'
    code, out, err = run_study(folder, '--grid', 'seed=0', '--steps', '1000000', *TINY + ['--slurm'],
                               env=cluster.environment)
    assert code == 0, err
    array = re.search(r'submitted job array (\d+)', out).group(1)
    log = run / slurm.TASK_LOG
    # The first progress line is printed after the first step: training has begun, with its signal handlers.
    wait_until(lambda: log.is_file() and 'step 1/1000000' in log.read_text(), 120, 'training to start')
    cluster.run('scancel', array)
    wait_until(lambda: not cluster.jobs(), 120, 'the cancelled task and the gather to end')
    log = (run / slurm.TASK_LOG).read_text()
    stopped = re.search(r'stopped by SIGTERM at step (\d+); the same command resumes from there', log)
    assert stopped, log
    step = int(stopped.group(1))
    assert (run / 'checkpoints' / 'model.ckpt-{}.index'.format(step)).is_file()
    assert 'not finished: beta_seed0' in (folder / slurm.GATHER_LOG).read_text()
    code, out, err = run_study(folder, '--steps', str(step + 3), '--slurm', '--wait', env=cluster.environment)
    assert code == 0, (out, err)
    log = (run / slurm.TASK_LOG).read_text()
    assert 'model.ckpt-{} at step {}'.format(step, step) in log and 'trained to step {}'.format(step + 3) in log
    assert json.loads((run / 'results' / 'metrics.json').read_text())['step'] == step + 3


def test_a_task_start_is_read_from_the_runs_slurm_log_and_older_tasks_are_ignored(tmp_path):
    log = tmp_path / slurm.TASK_LOG
    log.write_text('=== job 7_0 on node1 at 2026-11-30T10:00:00Z ===\nstep 1/2\n'
                   '=== job 9_0 on node1 at 2026-11-30T10:05:30Z ===\ntrained to step 2\n')
    first, second = 1796032800, 1796032800 + 330     # the two lines' times, in epoch seconds
    assert slurm.task_started(str(log), first) == second
    assert slurm.task_started(str(log), second + 1) is None
    assert slurm.task_started(str(tmp_path / 'missing.log'), 0) is None


def test_vae_check_says_ok_or_names_the_bad_run_in_one_line(tmp_path):
    vae = [sys.executable, os.path.join(ROOT, 'vae.py')]
    ok = subprocess.run(vae + ['--check', '--dataset', 'dsprites', '--objective', 'tcvae'], stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, universal_newlines=True)
    assert (ok.returncode, ok.stdout.strip()) == (0, 'settings ok'), ok.stderr
    runs = tmp_path / 'runs.json'
    runs.write_text(json.dumps([{'name': 'good', 'dataset': 'dsprites', 'settings': [['objective', 'beta']]},
                                {'name': 'bad', 'dataset': 'dsprites', 'settings': [['tcvae_estimator', 'exact']]}]))
    bad = subprocess.run(vae + ['--check', str(runs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "error: run bad: tcvae_estimator must be one of bank, minibatch, got 'exact'"]
