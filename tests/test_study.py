"""study.py: grids of runs, their folders, bad input, the gather with UDR; and the same study through a real
Slurm cluster on this machine (submitted, cancelled, resubmitted, failing)."""
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

import metrics
import study
from common import SettingsError
from slurm_cluster import SlurmCluster, Unavailable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A tiny dSprites model and small metric samples: a run trains and evaluates in seconds.
TINY = ['--dataset', 'dsprites', '--batch_size', '8', '--filters', '8,8,8,8', '--hidden_units', '16,16',
        '--latent_dim', '4', '--discriminator_units', '16,16', '--eval_num_train', '40', '--eval_num_eval', '20',
        '--eval_num_points', '64', '--eval_batch_size', '8', '--udr_images', '64', '--image_snapshot_freq', '1000',
        '--checkpoint_every', '3600']


def run_study(folder, *args, env=None, timeout=600):
    """(exit code, stdout, stderr) of python study.py FOLDER ARGS."""
    done = subprocess.run([sys.executable, os.path.join(ROOT, 'study.py'), str(folder)] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env,
                          timeout=timeout)
    return done.returncode, done.stdout, done.stderr


def definition(grids, dataset='dsprites', steps=2, given=()):
    return {'dataset': dataset, 'steps': steps, 'settings': list(given),
            'grids': [study.parse_grid(words, study.settings.defaults(dataset)) for words in grids]}


# ---- grids and folders ----

def test_a_grid_is_a_product_of_any_settings_with_seeds_last_and_readable_folders(tmp_path):
    runs = study.runs_of(definition([['seed=0-1', 'objective=tcvae', 'tcvae_beta=1,6'],
                                     ['objective=factor', 'factor_gamma=10', 'seed=0']]), str(tmp_path))
    assert [run.name for run in runs] == ['tcvae_tcvae_beta1_seed0', 'tcvae_tcvae_beta1_seed1',
                                          'tcvae_tcvae_beta6_seed0', 'tcvae_tcvae_beta6_seed1',
                                          'factor_factor_gamma10_seed0']
    assert runs[1].grid == (('objective', 'tcvae'), ('tcvae_beta', '1'), ('seed', '1'))
    assert ('checkpoint_dir', str(tmp_path / 'tcvae_tcvae_beta1_seed1' / 'checkpoints')) in runs[1].settings


def test_list_settings_take_semicolons_and_the_default_objective_names_the_folder(tmp_path):
    runs = study.runs_of(definition([['filters=8,8,16,16;16,16,32,32']], given=[('seed', '3')]), str(tmp_path))
    assert [run.name for run in runs] == ['beta_filters8-8-16-16_seed3', 'beta_filters16-16-32-32_seed3']


def test_the_disentanglement_benchmarks_folder_names_are_kept(tmp_path):
    runs = study.runs_of(definition([['objective=capacity', 'capacity_steps=20000', 'seed=0']]), str(tmp_path))
    assert runs[0].name == 'capacity_capacity_steps20000_seed0'


def test_running_again_with_no_grid_continues_and_a_new_grid_adds_runs(tmp_path):
    first = study.define(str(tmp_path), [['objective=beta', 'seed=0-1']], 'dsprites', 2, [('latent_dim', '4')])
    study.write_json(first, str(tmp_path / study.DEFINITION_FILE))
    again = study.define(str(tmp_path), [], None, None, [])
    assert json.loads(json.dumps(again)) == json.loads(json.dumps(first))
    more = study.define(str(tmp_path), [['objective=beta', 'seed=0-1'], ['objective=tcvae', 'seed=0']], None, 5, [])
    assert [run.name for run in study.runs_of(more, str(tmp_path))] == ['beta_seed0', 'beta_seed1', 'tcvae_seed0']
    assert more['steps'] == 5
    with pytest.raises(SettingsError, match='defined with the settings'):
        study.define(str(tmp_path), [], None, None, [('latent_dim', '6')])
    with pytest.raises(SettingsError, match='is a dsprites study'):
        study.define(str(tmp_path), [], 'celeba', None, [])


def test_a_folder_holding_another_runs_settings_is_never_reused(tmp_path):
    runs = study.runs_of(definition([['objective=beta', 'seed=0']]), str(tmp_path))
    study.claim_folders(runs)
    study.check_folders(runs)
    other = study.runs_of(definition([['objective=beta', 'seed=0']], given=[('latent_dim', '6')]), str(tmp_path))
    with pytest.raises(SettingsError, match='holds a run with other settings'):
        study.check_folders(other)


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

def fake_run(folder, name, grid, objective, seed, mig, codes, kl, step=2):
    """A finished run's files as vae.py --evaluate writes them (no event files: 0 training minutes)."""
    results = os.path.join(folder, name, 'results')
    os.makedirs(results)
    values = {key: mig for key in study.SUPERVISED}
    values.update(step=step, reconstruction=1.0, kl_per_dim=list(kl),
                  config={'objective': objective, 'seed': seed, 'inactive_kl': 0.05})
    study.write_json(values, os.path.join(results, 'metrics.json'))
    metrics.save_codes(codes, kl, step, os.path.join(results, metrics.CODES_FILE))
    return study.Run(name, os.path.join(folder, name), grid, ())


def test_udr_picks_the_seed_that_agrees_with_the_others_and_is_rank_correlated_with_the_metrics(tmp_path):
    rng = np.random.RandomState(0)
    factors = rng.randn(300, 3)
    kl = [1.0, 1.0, 1.0, 0.0]
    runs = []
    # Two seeds per setting find the factors (permuted, sign-flipped); a third mixes them.
    for k, (seed, mixing) in enumerate([(0, None), (1, None), (2, rng.randn(3, 3))]):
        codes = factors[:, [2, 0, 1]] * [1, -1, 1] if mixing is None else factors.dot(mixing)
        codes = np.concatenate([codes, np.zeros((300, 1))], axis=1)
        runs.append(fake_run(str(tmp_path), 'beta_seed{}'.format(seed), (('objective', 'beta'), ('seed', str(seed))),
                             'beta', seed, mig=0.5 - 0.1 * k, codes=codes, kl=kl))
    lines = {run.name: study.row(run, study.result(run, definition([['seed=0']]))) for run in runs}
    selected = study.score_udr(runs, lines)
    scores = [lines[run.name]['udr'] for run in runs]
    assert selected == {'objective=beta': 'beta_seed0'}
    assert scores[0] == pytest.approx(scores[1]) and scores[0] > scores[2]
    assert study.rank_correlations(list(lines.values()))['mig'] == pytest.approx(0.866, abs=1e-3)


def test_a_setting_with_one_finished_seed_gets_no_udr(tmp_path):
    run = fake_run(str(tmp_path), 'beta_seed0', (('seed', '0'),), 'beta', 0, 0.5, np.zeros((10, 2)), [1, 1])
    lines = {run.name: study.row(run, study.result(run, definition([['seed=0']])))}
    assert study.score_udr([run], lines) == {} and lines[run.name]['udr'] is None


# ---- end to end, here ----

def test_a_study_here_trains_each_run_once_and_gathers_their_own_metrics(tmp_path):
    folder = tmp_path / 'study'
    code, out, err = run_study(folder, '--grid', 'objective=beta', 'seed=0-1', '--steps', '2', *TINY)
    assert code == 0, err
    gathered = json.loads((folder / study.RESULTS_FILE).read_text())
    for line in gathered['runs']:
        own = json.loads((folder / line['run'] / 'results' / 'metrics.json').read_text())
        assert [line[key] for key in study.SUPERVISED] == [own[key] for key in study.SUPERVISED]
        assert line['step'] == own['step'] == 2 and line['udr'] is not None
    assert gathered['selected_per_setting'] == {'objective=beta': gathered['selected_per_objective']['beta']}
    assert (folder / study.TABLE_FILE).is_file() and (folder / study.METRICS_FIGURE).is_file()
    # Finished runs are skipped: nothing trains again, the gather is the same.
    code, out, _ = run_study(folder, '--list')
    assert code == 0 and '0 unfinished' in out and 'vae.py' not in out


def test_list_prints_one_command_per_unfinished_run(tmp_path):
    code, out, err = run_study(tmp_path / 'study', '--grid', 'objective=beta,tcvae', 'seed=0', '--steps', '2',
                               *TINY + ['--list'])
    assert code == 0, err
    commands = [line for line in out.splitlines() if 'vae.py' in line]
    assert len(commands) == 2 and all('--train --evaluate --dataset dsprites --steps 2' in c for c in commands)
    assert '--objective tcvae' in commands[1] and 'tcvae_seed0/checkpoints' in commands[1]


def test_a_failed_run_does_not_stop_the_others_and_is_named(tmp_path):
    broken = tmp_path / 'broken.npz'
    broken.write_bytes(b'not an npz file')
    code, out, err = run_study(tmp_path / 'study', '--grid', 'dsprites_npz_path=missing.npz,{}'.format(broken),
                               '--steps', '2', *TINY)
    assert code == 1
    assert re.search(r'not finished: beta_dsprites_npz_path\S*broken.npz_seed0 ', err), err
    assert 'beta_dsprites_npz_pathmissing.npz_seed0' not in err


def test_the_benchmark_is_a_study_that_skips_finished_runs_and_resumes_unfinished_ones(tmp_path, capfd):
    import disentanglement   # benchmarks/disentanglement.py
    paths = ['--root', str(tmp_path / 'runs'), '--json', str(tmp_path / 'd.json'), '--figure', str(tmp_path / 'd.png')]
    run = tmp_path / 'runs' / 'beta_seed0'
    stopped = subprocess.run([sys.executable, os.path.join(ROOT, 'vae.py'), '--train', '--steps', '2'] +
                             TINY + [word for key, sub in study.PLACED for word in ('--' + key, str(run / sub))],
                             stdout=subprocess.DEVNULL)
    assert stopped.returncode == 0      # a run stopped at step 2 of the budget, as if by Ctrl-C

    assert disentanglement.main(['--runs', 'beta:0', '--steps', '3'] + paths + TINY[2:]) == 0
    out = capfd.readouterr().out
    assert '=== beta_seed0 (1 of 1)' in out and 'at step 2' in out.split('resumed from')[1]   # went on from step 2
    result = json.loads((tmp_path / 'd.json').read_text())
    assert [(r['objective'], r['seed'], r['steps']) for r in result['runs']] == [('beta', 0, 3)]
    metrics_file = run / 'results' / 'metrics.json'
    assert json.loads(metrics_file.read_text())['step'] == 3 and os.path.exists(str(tmp_path / 'd.png'))
    assert json.loads((tmp_path / 'runs' / study.DEFINITION_FILE).read_text())['grids'] == [
        [['objective', ['beta']], ['seed', ['0']]]]   # study.py can go on with it, on Slurm too

    stamp = metrics_file.stat().st_mtime
    assert disentanglement.main(['--runs', 'beta:0', '--steps', '3'] + paths + TINY[2:]) == 0
    assert '=== beta_seed0' not in capfd.readouterr().out     # finished: neither trained nor evaluated again
    assert metrics_file.stat().st_mtime == stamp
    listed = disentanglement.main(['--list', '--runs', 'beta:0', 'tcvae:1,2', '--steps', '3'] + paths + TINY[2:])
    lines = capfd.readouterr().out.strip().splitlines()
    assert listed == 0 and len(lines) == 2 and all('--train --evaluate' in line and '--filters 8,8,8,8' in line
                                                   for line in lines)


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


def test_a_study_through_slurm_finishes_and_its_table_is_the_runs_own_metrics(tmp_path, cluster):
    folder = tmp_path / 'study'
    code, out, err = run_study(folder, '--grid', 'objective=beta,tcvae', 'seed=0-1', '--steps', '2', *TINY + [
        '--slurm', '--wait', '--throttle', '2', '--sbatch=--time=10'], env=cluster.environment)
    assert code == 0, (out, err)
    assert 'submitted job array' in out
    gathered = json.loads((folder / study.RESULTS_FILE).read_text())
    assert sorted(line['run'] for line in gathered['runs']) == ['beta_seed0', 'beta_seed1', 'tcvae_seed0',
                                                                'tcvae_seed1']
    for line in gathered['runs']:
        own = json.loads((folder / line['run'] / 'results' / 'metrics.json').read_text())
        assert [line[key] for key in study.SUPERVISED] == [own[key] for key in study.SUPERVISED]
        assert 'trained to step 2' in (folder / line['run'] / study.TASK_LOG).read_text()
    assert set(gathered['selected_per_objective']) == {'beta', 'tcvae'}


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
    log = run / study.TASK_LOG
    # The first progress line is printed after the first step: training has begun, with its signal handlers.
    wait_until(lambda: log.is_file() and 'step 1/1000000' in log.read_text(), 120, 'training to start')
    cluster.run('scancel', array)
    wait_until(lambda: not cluster.jobs(), 120, 'the cancelled task and the gather to end')
    log = (run / study.TASK_LOG).read_text()
    stopped = re.search(r'stopped by SIGTERM at step (\d+); the same command resumes from there', log)
    assert stopped, log
    step = int(stopped.group(1))
    assert (run / 'checkpoints' / 'model.ckpt-{}.index'.format(step)).is_file()
    assert 'not finished: beta_seed0' in (folder / study.GATHER_LOG).read_text()
    code, out, err = run_study(folder, '--steps', str(step + 3), '--slurm', '--wait', env=cluster.environment)
    assert code == 0, (out, err)
    log = (run / study.TASK_LOG).read_text()
    assert 'model.ckpt-{} at step {}'.format(step, step) in log and 'trained to step {}'.format(step + 3) in log
    assert json.loads((run / 'results' / 'metrics.json').read_text())['step'] == step + 3


def test_a_study_with_a_failing_run_exits_non_zero_through_slurm_and_names_it(tmp_path, cluster):
    broken = tmp_path / 'broken.npz'
    broken.write_bytes(b'not an npz file')
    code, out, err = run_study(tmp_path / 'study', '--grid', 'dsprites_npz_path=missing.npz,{}'.format(broken),
                               '--steps', '2', *TINY + ['--slurm', '--wait'], env=cluster.environment)
    assert code != 0
    assert re.search(r'not finished: beta_dsprites_npz_path\S*broken.npz_seed0 \(log: \S+slurm.log\)', out + err), \
        (out, err)


def test_the_overhead_benchmark_times_each_run_from_its_task_start_to_its_metrics(tmp_path, cluster):
    import study_slurm   # benchmarks/study_slurm.py
    folder = str(tmp_path / 'study')
    figures = study_slurm.measure(folder, ['--grid', 'seed=0-1', '--steps', '2', '--throttle', '1'] + TINY,
                                  cluster.environment)
    assert figures['exit_code'] == 0
    assert sorted(figures['run_seconds']) == ['beta_seed0', 'beta_seed1']
    assert all(seconds > 0 for seconds in figures['run_seconds'].values())
    # One task at a time: the runs' spans fit inside the wall time, and the rest is what Slurm added.
    assert 0 < figures['overhead_seconds'] < figures['wall_seconds']
    assert figures['gather_seconds'] > 0


def test_a_task_start_is_read_from_the_runs_slurm_log_and_older_tasks_are_ignored(tmp_path):
    import study_slurm
    log = tmp_path / study.TASK_LOG
    log.write_text('=== job 7_0 on node1 at 2026-11-30T10:00:00Z ===\nstep 1/2\n'
                   '=== job 9_0 on node1 at 2026-11-30T10:05:30Z ===\ntrained to step 2\n')
    first, second = 1796032800, 1796032800 + 330     # the two lines' times, in epoch seconds
    assert study_slurm.task_started(str(log), first) == second
    assert study_slurm.task_started(str(log), second + 1) is None
    assert study_slurm.task_started(str(tmp_path / 'missing.log'), 0) is None


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
