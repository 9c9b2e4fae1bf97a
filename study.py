"""Studies: grids of settings x seeds, trained here, listed for any scheduler, or run as a Slurm job array;
then gathered into one table, with UDR choosing a model per setting without labels.

    python study.py FOLDER --grid objective=tcvae tcvae_beta=1,2,4,6 seed=0-2 --dataset dsprites --steps 6000
    python study.py FOLDER --grid objective=factor factor_gamma=10,20,40 seed=0-2    # adds runs to the study
    python study.py FOLDER                      # continues it: the definition is FOLDER/study.json
    python study.py FOLDER --list               # one vae.py command line per unfinished run, for any scheduler
    python study.py FOLDER --slurm --throttle 4 --sbatch='--partition=gpu --gres=gpu:1 --time=4:00:00' --wait
    python study.py FOLDER --gather             # only the table, figures and UDR of the finished runs

A grid is NAME=VALUES for any config.py setting: VALUES comma-separated (a list setting's values separated
by ';', as filters=32,32,64,64;64,64,128,128), integers also as ranges (seed=0-4). Each run trains
`vae.py --train --evaluate` in FOLDER/RUN/{checkpoints,results,summaries}, RUN named from its settings
(tcvae_tcvae_beta6_seed0); --NAME VALUE outside the grid applies to every run. Finished runs (metrics.json at
the step budget) are skipped, unfinished ones resume from their latest checkpoint, exactly.
This runs vae.py as processes and imports no model.
"""
import argparse
import collections
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

import config
import metrics
import settings
from common import SettingsError, write_json

ROOT = os.path.dirname(os.path.abspath(__file__))
VAE = os.path.join(ROOT, 'vae.py')

DEFINITION_FILE = 'study.json'    # the study: dataset, steps, settings of every run, grids
RUN_FILE = 'run.json'             # in each run's folder: its settings; the folder never trains others
TABLE_FILE = 'results.md'
RESULTS_FILE = 'results.json'
METRICS_FIGURE = 'metrics.png'    # each metric against the swept settings, one column per objective
UDR_FIGURE = 'udr_mig.png'        # UDR against MIG, each run a point (dSprites)
SLURM_SCRIPT = 'study.sbatch'
TASK_LOG = 'slurm.log'            # in each run's folder: what its Slurm tasks printed
GATHER_LOG = 'gather.log'

SUPERVISED = ('beta_vae', 'factor_vae', 'mig', 'dci', 'sap')   # dSprites' metrics, by their labels
# Each run's outputs, in its own folder: the study sets these, a grid may not.
PLACED = (('checkpoint_dir', 'checkpoints'), ('results_dir', 'results'), ('summary_dir', 'summaries'))
STOPPED = (130, 143)              # vae.py's exit after SIGINT or SIGTERM: it saved, and the study stops too
DEFAULT_THROTTLE = 4              # Slurm array tasks running at once

Run = collections.namedtuple('Run', 'name folder grid settings')
# grid: the run's own grid values ((name, text), ...), seed last; settings: every (name, text) it trains with


# ---- the definition: grids over settings ----

def parse_grid(words, defaults):
    """['objective=tcvae', 'tcvae_beta=1,2', 'seed=0-2'] -> [(name, [text, ...])] in the given order, seed last."""
    grid = []
    for word in words:
        name, equals, values = word.partition('=')
        if not equals or not name:
            raise SettingsError('a grid is NAME=VALUE,VALUE,...: got {!r}'.format(word))
        if name in dict(grid):
            raise SettingsError('{} is given twice in one grid: give each setting once, with all its values'.format(
                name))
        check_name(name, defaults)
        texts = expand(name, values, defaults[name])
        if not texts:
            raise SettingsError('{}= has no values, so the grid is empty: give at least one'.format(name))
        grid.append((name, texts))
    if not grid:
        raise SettingsError('an empty grid: give NAME=VALUE,... (for example objective=tcvae seed=0-2)')
    return sorted(grid, key=lambda pair: pair[0] == 'seed')


def check_name(name, defaults):
    if name == 'dataset' or name in dict(PLACED):
        raise SettingsError('{} is the study\'s to choose, not a grid\'s: give --dataset to the study, and it '
                            'places each run in its own folder'.format(name))
    if name not in defaults:
        raise SettingsError('unknown setting {!r}: config.py has no constant of that name (see python vae.py '
                            '--help)'.format(name))


def expand(name, values, default):
    """The texts of one grid entry: a list setting's values split on ';', others on ','; 'a-b' ranges of
    integers expanded."""
    texts = [text.strip() for text in values.split(';' if isinstance(default, (list, tuple)) else ',')]
    expanded = []
    for text in texts:
        span = re.match(r'^(\d+)-(\d+)$', text)
        if isinstance(default, int) and not isinstance(default, bool) and span:
            low, high = int(span.group(1)), int(span.group(2))
            if high < low:
                raise SettingsError('{}={} is an empty range: write low-high'.format(name, text))
            expanded += [str(k) for k in range(low, high + 1)]
        elif text:
            expanded.append(text)
    return expanded


def run_name(grid, given, dataset):
    """'tcvae_tcvae_beta6_seed0': the objective, the other grid values, the seed."""
    values = dict(given)
    values.update(grid)
    parts = [values.get('objective', settings.defaults(dataset)['objective'])]
    parts += ['{}{}'.format(name, text) for name, text in grid if name not in ('objective', 'seed')]
    parts.append('seed{}'.format(values.get('seed', 0)))
    return re.sub(r'[^A-Za-z0-9.+_-]', '-', '_'.join(parts))


def runs_of(definition, folder):
    """Every run of the study's grids, in grid order, each once; SettingsError on a bad value, or on two
    runs that would share a folder."""
    dataset, given = definition['dataset'], [tuple(pair) for pair in definition['settings']]
    runs = collections.OrderedDict()
    for grid in definition['grids']:
        names = [name for name, _ in grid]
        for texts in itertools.product(*[values for _, values in grid]):
            assignment = tuple(zip(names, texts))
            name = run_name(assignment, given, dataset)
            run_folder = os.path.join(folder, name)
            placed = [(key, os.path.join(run_folder, sub)) for key, sub in PLACED]
            run = Run(name, run_folder, assignment, tuple(given) + assignment + tuple(placed))
            if name in runs and runs[name].settings != run.settings:
                raise SettingsError('two runs of the study would share the folder {}: {} and {}; write their values '
                                    'alike'.format(name, flags(runs[name].grid), flags(run.grid)))
            settings.resolve(dataset, run.settings)   # an unknown setting or a bad value, before anything runs
            runs[name] = run
    return list(runs.values())


def flags(pairs):
    return ' '.join('--{} {}'.format(name, text) for name, text in pairs)


def define(folder, grids, dataset, steps, given):
    """The study in `folder`: its saved definition with these grids added (a new study when there is
    none). dataset, steps and given (settings outside the grid) default to the saved ones; given
    settings that differ from the saved ones are an error, since runs' folders do not name them."""
    path = os.path.join(folder, DEFINITION_FILE)
    saved = read_json(path) if os.path.isfile(path) else None
    if saved is None and not grids:
        raise SettingsError('{} holds no study yet: give a --grid, for example --grid objective=tcvae '
                            'tcvae_beta=1,2,4 seed=0-2'.format(folder))
    if saved is not None:
        if dataset is not None and dataset != saved['dataset']:
            raise SettingsError('{} is a {} study: give another folder for a {} one'.format(folder, saved['dataset'],
                                                                                       dataset))
        saved_given = [tuple(pair) for pair in saved['settings']]
        if given and given != saved_given:
            raise SettingsError('{} was defined with the settings {!r} for every run, not {!r}: give the same, or '
                                'none, or start another folder'.format(folder, flags(saved_given) or 'none',
                                                                      flags(given)))
    dataset = dataset or (saved or {}).get('dataset') or config.dataset
    defaults = settings.defaults(dataset)
    for name, _ in given:
        check_name(name, defaults)
    given = given or [tuple(pair) for pair in (saved or {}).get('settings', [])]
    parsed = [parse_grid(words, defaults) for words in grids]
    for grid in parsed:
        for name, _ in grid:
            if name in dict(given):
                raise SettingsError('{} is given twice: in a grid and as --{} for every run; give it once'.format(
                    name, name))
    all_grids = [[(name, list(values)) for name, values in grid] for grid in (saved or {}).get('grids', [])]
    all_grids += [grid for grid in parsed if grid not in all_grids]
    return {'dataset': dataset, 'steps': steps or (saved or {}).get('steps'), 'settings': given,
            'grids': all_grids}


def read_json(path):
    with open(path) as f:
        return json.load(f)


def check_folders(runs):
    """SettingsError if a run's folder already holds a run with other settings: folders are never reused."""
    for run in runs:
        path = os.path.join(run.folder, RUN_FILE)
        if os.path.isfile(path):
            held = [tuple(pair) for pair in read_json(path)['settings']]
            if held != list(run.settings):
                raise SettingsError('{} holds a run with other settings ({}): it is never reused; move it away or '
                                    'start another study folder'.format(run.folder, flags(held)))


def claim_folders(runs):
    """Writes each run's settings into its folder, which check_folders then holds it to."""
    for run in runs:
        path = os.path.join(run.folder, RUN_FILE)
        if not os.path.isfile(path):
            write_json({'name': run.name, 'settings': run.settings}, path)


def prepare(runs, unfinished, definition, folder):
    """Before anything trains: checks the runs' folders and settings, then saves the definition and
    claims the folders."""
    check_folders(runs)
    if unfinished:
        check(unfinished, definition)
    write_json(definition, os.path.join(folder, DEFINITION_FILE))
    claim_folders(runs)


# ---- the runs ----

def train_command(run, definition):
    return ([sys.executable, VAE, '--train', '--evaluate', '--dataset', definition['dataset']]
            + (['--steps', str(definition['steps'])] if definition['steps'] else [])
            + [word for name, text in run.settings for word in ('--' + name, text)])


def latest_step(checkpoint_dir):
    """The step of the latest checkpoint in checkpoint_dir, read from the file names (no TensorFlow); 0 when
    there is none yet."""
    if not os.path.isdir(checkpoint_dir):
        return 0
    steps = [int(match.group(1)) for match in (re.match(r'model\.ckpt-(\d+)\.index$', name)
                                               for name in os.listdir(checkpoint_dir)) if match]
    return max(steps or [0])


def result(run, definition):
    """The run's metrics.json, if it holds its scores at the step budget; else None."""
    path = os.path.join(run.folder, 'results', 'metrics.json')
    if not os.path.isfile(path):
        return None
    values = read_json(path)
    if definition['steps'] and values.get('step') != definition['steps']:
        return None
    if definition['dataset'] == 'dsprites' and any(values.get(key) is None for key in SUPERVISED):
        return None
    return values


def check(runs, definition):
    """vae.py --check on every run: a bad setting is one line before anything trains or is written (one
    process for all of them, since each start imports TensorFlow)."""
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, 'runs.json')
        write_json([{'name': run.name, 'dataset': definition['dataset'], 'settings': run.settings} for run in runs],
                   path)
        done = subprocess.run([sys.executable, VAE, '--check', path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True)
    if done.returncode:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise SettingsError((lines[-1] if lines else 'vae.py --check failed').replace('error: ', '', 1))


def run_to_the_end(args):
    """Runs one command; Ctrl-C reaches it too (same process group), so this waits while it saves its
    checkpoint, then passes its exit code on."""
    process = subprocess.Popen(args)
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            continue


def run_here(runs, definition):
    """Trains and evaluates each run in turn; a failed run does not stop the others (the gather names
    it). Returns 0, or the exit code of a run that a signal stopped, which stops the study."""
    for number, run in enumerate(runs):
        print('=== {} ({} of {}): {} ==='.format(run.name, number + 1, len(runs), time.strftime('%H:%M:%S')),
              flush=True)
        code = run_to_the_end(train_command(run, definition))
        if code in STOPPED:
            print('{} was stopped; the same command resumes it'.format(run.name))
            return code
    return 0


# ---- Slurm ----

def slurm_script(runs, definition, folder):
    """A job-array script: task k trains runs[k], its output appended to that run's TASK_LOG."""
    cases = '\n'.join('  {}) folder={}; command=({}) ;;'.format(
        k, shlex.quote(run.folder), ' '.join(shlex.quote(word) for word in train_command(run, definition)))
        for k, run in enumerate(runs))
    return '''#!/bin/bash
# {folder}: one task per unfinished run, written by study.py; submit the study again rather than this.
case "$SLURM_ARRAY_TASK_ID" in
{cases}
  *) echo "no run for task $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;
esac
exec >>"$folder/{log}" 2>&1
echo "=== job ${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}} on $(hostname) at $(date -u +%FT%TZ) ==="
# exec: the trainer is the task's process, so Slurm's SIGTERM (time limit, preemption, scancel) reaches
# it, it saves its checkpoint, and its exit code is the task's.
exec "${{command[@]}}"
'''.format(folder=folder, cases=cases, log=TASK_LOG)


def sbatch_path():
    path = shutil.which('sbatch')
    if path is None:
        raise SettingsError('--slurm needs sbatch on PATH: run this on a Slurm login node, or use --list or no '
                            'option (here)')
    return path


def submit(runs, definition, folder, throttle, options, wait):
    """Submits the runs as one job array and a gather job after it (afterany). With wait, blocks until
    the gather ends and returns its exit code; else 0."""
    sbatch = sbatch_path()
    script = os.path.join(folder, SLURM_SCRIPT)
    with open(script, 'w') as f:
        f.write(slurm_script(runs, definition, folder))
    name = 'study-' + os.path.basename(os.path.abspath(folder))
    array = subprocess.run([sbatch, '--parsable', '--job-name', name, '--output', os.devnull,
                            '--array', '0-{}%{}'.format(len(runs) - 1, throttle)] + options + [script],
                           stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.strip().split(';')[0]
    print('submitted job array {}: {} runs, {} at a time; logs in each run\'s {}'.format(array, len(runs), throttle,
                                                                                      TASK_LOG))
    gather = [sys.executable, os.path.abspath(__file__), os.path.abspath(folder), '--gather']
    log = os.path.join(folder, GATHER_LOG)
    job = [sbatch, '--parsable', '--job-name', name + '-gather', '--output', log,
           '--dependency', 'afterany:' + array] + options + (['--wait'] if wait else []) + [
        '--wrap', ' '.join(shlex.quote(word) for word in gather)]
    if not wait:
        gather_id = subprocess.run(job, stdout=subprocess.PIPE, universal_newlines=True,
                                   check=True).stdout.strip().split(';')[0]
        print('submitted gather job {} after it; its output goes to {}'.format(gather_id, log))
        return 0
    print('waiting for the study to finish (gather output: {})'.format(log), flush=True)
    code = subprocess.run(job, stdout=subprocess.DEVNULL).returncode
    if os.path.isfile(log):
        with open(log) as f:
            sys.stdout.write(f.read())
    return code


# ---- gather ----

def training_minutes(summary_dir):
    """Minutes the run spent training, from its event files' wall times: the span of each file (one
    per resumed segment), summed; time before a segment's first event is not counted."""
    from hardware import import_tensorflow
    import figures
    import_tensorflow()   # quietly: the event files are read through it
    total = 0.0
    for path in figures.event_files(summary_dir):
        times = [event.wall_time for event in figures.read_events(path) if event.HasField('summary')]
        if times:
            total += max(times) - min(times)
    return total / 60.0


def row(run, values):
    """One run's line of the study: its settings, scores and cost."""
    line = {'run': run.name, 'grid': dict(run.grid), 'step': values['step'], 'udr': None,
           'objective': values['config']['objective'], 'seed': values['config']['seed'],
           'active_dims': sum(kl >= values['config']['inactive_kl'] for kl in values['kl_per_dim']),
           'train_minutes': training_minutes(os.path.join(run.folder, 'summaries'))}
    for key in SUPERVISED + ('reconstruction',):
        if key in values:
            line[key] = values[key]
    return line


def setting_of(run):
    """The run's grid values but its seed: runs that share it differ only in their seed."""
    return tuple(pair for pair in run.grid if pair[0] != 'seed')


def score_udr(runs, rows):
    """Sets each row's UDR against the finished runs of its setting (at least two, else None), and
    returns {setting label: the name of its run with the highest UDR}."""
    by_setting = collections.OrderedDict()
    for run in runs:
        if run.name in rows and os.path.isfile(os.path.join(run.folder, 'results', metrics.CODES_FILE)):
            by_setting.setdefault(setting_of(run), []).append(run)
    selected = collections.OrderedDict()
    for setting, group in by_setting.items():
        if len(group) < 2:
            continue
        saved = [metrics.load_codes(os.path.join(run.folder, 'results', metrics.CODES_FILE)) for run in group]
        scores, _ = metrics.udr([codes for codes, _, _ in saved], [kl for _, kl, _ in saved])
        for run, score in zip(group, scores):
            rows[run.name]['udr'] = float(score)
        selected[label(setting)] = group[int(np.argmax(scores))].name
    return selected


def label(setting):
    return ' '.join('{}={}'.format(name, text) for name, text in setting) or 'defaults'


def by_objective(rows):
    """{objective: the name of its run with the highest UDR}."""
    best = {}
    for r in rows:
        if r['udr'] is not None and (r['objective'] not in best or r['udr'] > best[r['objective']]['udr']):
            best[r['objective']] = r
    return {objective: r['run'] for objective, r in best.items()}


def rank_correlations(rows):
    """{metric: Spearman's rank correlation of UDR with it across the runs that have a UDR}."""
    from scipy.stats import spearmanr
    scored = [r for r in rows if r['udr'] is not None]
    correlations = {}
    for key in SUPERVISED:
        if len(scored) >= 3 and all(key in r for r in scored):
            rho = spearmanr([r['udr'] for r in scored], [r[key] for r in scored])[0]
            correlations[key] = None if np.isnan(rho) else float(rho)
    return correlations


def selected_against_median(rows, selected):
    """{metric: {'median': over every run, 'selected': mean of the runs UDR selected per setting}}."""
    chosen = [r for r in rows if r['run'] in set(selected.values())]
    return {key: {'median': float(np.median([r[key] for r in rows])),
                  'selected': float(np.mean([r[key] for r in chosen])) if chosen else None}
            for key in SUPERVISED + ('reconstruction',) if rows and all(key in r for r in rows)}


def markdown(rows, selected, summary):
    """The study's table, and what UDR chose."""
    keys = [key for key in SUPERVISED + ('reconstruction',) if rows and all(key in r for r in rows)]
    lines = ['| run | step | train min | ' + ' | '.join(keys) + ' | active dims | UDR | selected |',
             '|---' * (len(keys) + 6) + '|']
    picked = set(selected.values())
    for r in rows:
        lines.append('| {} | {} | {:.1f} | {} | {} | {} | {} |'.format(
            r['run'], r['step'], r['train_minutes'], ' | '.join('{:.3f}'.format(r[key]) for key in keys),
            r['active_dims'], '-' if r['udr'] is None else '{:.3f}'.format(r['udr']), 'yes' if r['run'] in picked else ''))
    if summary['rank_correlations']:
        lines += ['', 'Spearman rank correlation of UDR with each metric, across runs: ' + ', '.join(
            '{} {}'.format(key, '-' if rho is None else '{:.2f}'.format(rho))
            for key, rho in summary['rank_correlations'].items())]
    if selected:
        lines += ['', 'UDR-selected runs (mean) against the median run:', '',
                  '| metric | median run | UDR-selected |', '|---|---|---|']
        for key, pair in summary['selected_against_median'].items():
            lines.append('| {} | {:.3f} | {} |'.format(key, pair['median'], '-' if pair['selected'] is None
                                                         else '{:.3f}'.format(pair['selected'])))
    return '\n'.join(lines) + '\n'


def plot_metrics(rows, path):
    """Locatello et al.'s view: each metric (a row of panels) against the swept settings, one column per
    objective, each seed a point and each setting's median a bar."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import figures
    keys = [key for key in SUPERVISED + ('udr',) if rows and all(r.get(key) is not None for r in rows)] or ['udr']
    objectives = list(collections.OrderedDict((r['objective'], None) for r in rows))
    figure, axes = plt.subplots(len(keys), len(objectives), squeeze=False,
                                figsize=(3.2 * len(objectives) + 1, 2.2 * len(keys) + 0.6))
    for column, objective in enumerate(objectives):
        mine = [r for r in rows if r['objective'] == objective]
        settings_of = list(collections.OrderedDict((setting_label(r), None) for r in mine))
        for line, key in enumerate(keys):
            ax = axes[line][column]
            for x, setting in enumerate(settings_of):
                values = [r[key] for r in mine if setting_label(r) == setting and r.get(key) is not None]
                if values:
                    ax.scatter(x + np.linspace(-0.12, 0.12, len(values)), values, s=14, color='C{}'.format(column))
                    ax.plot([x - 0.25, x + 0.25], [np.median(values)] * 2, color='k', linewidth=1)
            ax.set_xticks(range(len(settings_of)))
            ax.set_xticklabels(settings_of if line == len(keys) - 1 else [], rotation=30, fontsize=7, ha='right')
            ax.grid(axis='y', alpha=0.3)
            if column == 0:
                ax.set_ylabel(key, fontsize=8)
            if line == 0:
                ax.set_title(objective, fontsize=9)
    figure.tight_layout()
    figures.save_figure(figure, path)


def setting_label(r):
    return ' '.join('{}={}'.format(name, text) for name, text in sorted(r['grid'].items())
                    if name not in ('objective', 'seed')) or r['objective']


def plot_udr_against_mig(rows, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import figures
    figure, ax = plt.subplots(figsize=(4.5, 3.6))
    for k, objective in enumerate(collections.OrderedDict((r['objective'], None) for r in rows)):
        mine = [r for r in rows if r['objective'] == objective and r['udr'] is not None]
        ax.scatter([r['udr'] for r in mine], [r['mig'] for r in mine], s=16, color='C{}'.format(k), label=objective)
    ax.set_xlabel('UDR (no labels)')
    ax.set_ylabel('MIG (labels)')
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    figure.tight_layout()
    figures.save_figure(figure, path)


def gather(runs, definition, folder):
    """Writes the study's table, JSON and figures from its finished runs, into `folder`; prints the
    table. Returns the runs that are not finished."""
    finished = collections.OrderedDict()
    missing = []
    for run in runs:
        values = result(run, definition)
        if values is None:
            missing.append(run)
        else:
            finished[run.name] = row(run, values)
    selected = score_udr(runs, finished)
    rows = list(finished.values())
    summary = {'dataset': definition['dataset'], 'steps': definition['steps'], 'runs': rows,
               'selected_per_setting': selected, 'selected_per_objective': by_objective(rows),
               'rank_correlations': rank_correlations(rows) if definition['dataset'] == 'dsprites' else {},
               'selected_against_median': selected_against_median(rows, selected),
               'not_finished': [run.name for run in missing]}
    write_json(summary, os.path.join(folder, RESULTS_FILE))
    table = markdown(rows, selected, summary)
    with open(os.path.join(folder, TABLE_FILE), 'w') as f:
        f.write(table)
    if rows:
        plot_metrics(rows, os.path.join(folder, METRICS_FIGURE))
        if definition['dataset'] == 'dsprites' and any(r['udr'] is not None for r in rows):
            plot_udr_against_mig(rows, os.path.join(folder, UDR_FIGURE))
    print(table)
    print('wrote {} and {} in {}'.format(TABLE_FILE, RESULTS_FILE, folder))
    return missing


def describe_missing(runs):
    return ', '.join('{} (log: {})'.format(run.name, os.path.join(run.folder, TASK_LOG)
                                           if os.path.isfile(os.path.join(run.folder, TASK_LOG)) else 'none')
                     for run in runs)


# ---- the command line ----

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     epilog='--NAME VALUE outside --grid sets a config.py constant for every run.')
    parser.add_argument('folder', help='the study\'s folder: its definition, runs and gathered results')
    parser.add_argument('--grid', nargs='+', action='append', default=[], metavar='NAME=VALUES',
                        help='one grid: a product over the settings given (repeat --grid for more)')
    parser.add_argument('--dataset', choices=sorted(config.DATASET_DEFAULTS),
                        help='dataset of every run (default: the study\'s, or config.py\'s for a new one)')
    parser.add_argument('--steps', type=int, help='training steps of every run (default: the study\'s; num_epochs)')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--list', action='store_true', help='print one vae.py command line per unfinished run')
    mode.add_argument('--slurm', action='store_true', help='submit the unfinished runs as a Slurm job array')
    mode.add_argument('--gather', action='store_true', help='only gather the finished runs; train nothing')
    parser.add_argument('--throttle', type=int, default=DEFAULT_THROTTLE,
                        help='--slurm: array tasks running at once (%%K; default %(default)s)')
    parser.add_argument('--sbatch', default='', metavar='OPTIONS',
                        help='--slurm: sbatch options for every job, one string after = '
                             '(--sbatch=\'--partition=gpu --time=4:00:00\')')
    parser.add_argument('--wait', action='store_true',
                        help='--slurm: wait until the study is gathered; non-zero if a run failed')
    args, rest = parser.parse_known_args(argv)
    if args.steps is not None and args.steps < 1:
        parser.error('--steps must be >= 1')
    if args.throttle < 1:
        parser.error('--throttle must be >= 1')
    if (args.wait or args.sbatch) and not args.slurm:
        parser.error('--wait and --sbatch go with --slurm')
    return args, settings.parse_overrides(rest)


def main(argv=None):
    try:
        args, given = parse_args(sys.argv[1:] if argv is None else argv)
        if args.slurm:
            sbatch_path()
        definition = define(args.folder, args.grid, args.dataset, args.steps, given)
        runs = runs_of(definition, args.folder)
        unfinished = [run for run in runs if result(run, definition) is None]
        if not args.gather:
            prepare(runs, unfinished, definition, args.folder)
        print('study {}: {} runs, {} unfinished'.format(args.folder, len(runs), len(unfinished)), flush=True)
        if args.list:
            for run in unfinished:
                print(' '.join(shlex.quote(word) for word in train_command(run, definition)))
            return 0
        if args.slurm and unfinished:
            return submit(unfinished, definition, args.folder, args.throttle, shlex.split(args.sbatch), args.wait)
        code = 0 if args.gather else run_here(unfinished, definition)
        if code:
            return code
        missing = gather(runs, definition, args.folder)
        if missing:
            print('not finished: {}'.format(describe_missing(missing)), file=sys.stderr)
            return 1
        return 0
    except SettingsError as error:
        print('error: {}'.format(error), file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
