"""Studies: grids of settings x seeds, trained here, listed for any scheduler, or run as a Slurm job array,
each run evaluated at its step budget or at counts of images seen (learning curves); then gathered.

    python study.py FOLDER --grid objective=tcvae tcvae_beta=1,2,4,6 seed=0-2 --dataset dsprites --steps 6000
    python study.py FOLDER                      # continues it: the definition is FOLDER/study.json
    python study.py FOLDER --list               # one vae.py command line per unfinished run, for any scheduler
    python study.py FOLDER --slurm --throttle 4 --sbatch='--partition=gpu --time=4:00:00' --wait
    python study.py results/disentanglement --preset disentanglement     # a study the project reports

Each run trains `vae.py --train --evaluate` in FOLDER/RUN/{checkpoints,results,summaries}, RUN named from
its grid values; finished runs are skipped and unfinished ones resume exactly. Runs vae.py as processes and
imports no model. docs/studies.md is the guide.
"""
import argparse
import collections
import itertools
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import config
import gather
import provenance
import runner
import settings
from scores import BENCHMARK
from common import SettingsError, read_json, write_json

ROOT = os.path.dirname(os.path.abspath(__file__))
VAE = os.path.join(ROOT, 'vae.py')

DEFINITION_FILE = 'study.json'    # the study: dataset, steps, settings of every run, grids
RUN_FILE = 'run.json'             # in each run's folder: its settings; the folder never trains others
SLURM_SCRIPT = 'study.sbatch'
TASK_LOG = 'slurm.log'            # in each run's folder: what its Slurm tasks printed
TRAIN_LOG = 'train.log'           # in each run's folder: what it printed, trained side by side with others
GATHER_LOG = 'gather.log'

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


def define(folder, grids, dataset, steps, given, images=None):
    """The study in `folder`: its saved definition with these grids added (a new study when there is
    none). dataset, steps, images and given (settings outside the grid) default to the saved ones; given
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
    images = sorted(set(images or (saved or {}).get('images') or [])) or None
    if images and images[0] <= 0:
        raise SettingsError('--images takes counts in millions above 0, not {:g}'.format(images[0]))
    if images and steps:
        raise SettingsError('--images and --steps both set where training stops: give one')
    return {'dataset': dataset, 'steps': None if images else steps or (saved or {}).get('steps'),
            'settings': given, 'grids': all_grids, 'images': images}


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
    """The run's vae.py command, to the definition's step budget or to a learning curve's count of images."""
    return ([sys.executable, VAE, '--train', '--evaluate', '--dataset', definition['dataset']]
            + (['--steps', str(definition['steps'])] if definition['steps'] else [])
            + (['--images', repr(definition['count'])] if definition.get('count') else [])
            + [word for name, text in run.settings for word in ('--' + name, text)])


def latest_step(checkpoint_dir):
    """The step of the latest checkpoint in checkpoint_dir, read from the file names (no TensorFlow); 0 when
    there is none yet."""
    if not os.path.isdir(checkpoint_dir):
        return 0
    steps = [int(match.group(1)) for match in (re.match(r'model\.ckpt-(\d+)\.index$', name)
                                               for name in os.listdir(checkpoint_dir)) if match]
    return max(steps or [0])


def scores(run):
    """The run's latest metrics.json, or None."""
    path = os.path.join(run.folder, 'results', 'metrics.json')
    return read_json(path) if os.path.isfile(path) else None


def count_step(values, millions):
    """The step at which a run has seen `millions` M images, by the images a step its scores (a metrics.json)
    record; None before it has any."""
    if values and values.get('images'):
        return settings.steps_at(millions, values['images'] // values['step'])


def result(run, definition):
    """The run's metrics.json, if it holds its scores at the step budget (or the count of images); else None."""
    values = scores(run)
    wrong = (values is None or (definition['steps'] and values.get('step') != definition['steps'])
             or (definition.get('count') and values['step'] != count_step(values, definition['count']))
             or (settings.has_factors(definition['dataset']) and any(values.get(key) is None for key in BENCHMARK)))
    return None if wrong else values


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


def run_here(runs, definition, parallel=1):
    """Trains and evaluates each run, in turn in the foreground, or `parallel` side by side, each pinned to
    its share of the cores, its output in its folder's TRAIN_LOG. A failed run does not stop the others (the
    gather names it). Returns 0, or the exit code of a run that a signal stopped, which stops the study."""
    if parallel > 1:
        codes = runner.side_by_side([(run.name, train_command(run, definition), os.path.join(run.folder, TRAIN_LOG))
                                     for run in runs], parallel, STOPPED)
        stopped = [code for code in codes.values() if code in STOPPED]
        if stopped:
            print('stopped: the same command resumes the unfinished runs')
        return (stopped or [0])[0]
    for number, run in enumerate(runs):
        print('=== {} ({} of {}): {} ==='.format(run.name, number + 1, len(runs), time.strftime('%H:%M:%S')),
              flush=True)
        code = runner.run_to_the_end(train_command(run, definition))
        if code in STOPPED:
            print('{} was stopped; the same command resumes it'.format(run.name))
            return code
    return 0


# ---- learning curves: a study evaluated at image counts ----

def curve_path(run, millions):
    return os.path.join(run.folder, gather.CURVE_DIR, 'images_{:g}M.json'.format(millions))


def at_count(definition, millions):
    """The definition of a run trained to `millions` M images; vae.py --images makes it a step (a pair is two)."""
    return dict(definition, steps=None, count=millions)


def keep_counts(runs, definition):
    """Keeps each count whose scores a run has written (its metrics.json at that count's step) as the
    count's own file; returns {run name: the first count not kept yet, or None}."""
    following = {}
    for run in runs:
        following[run.name] = None
        for millions in definition['images']:
            if os.path.isfile(curve_path(run, millions)):
                continue
            values = result(run, at_count(definition, millions))
            if values is None:
                following[run.name] = millions
                break
            write_json(values, curve_path(run, millions))
    return following


def run_curves(runs, definition):
    """Evaluates every count of every run, in turns (each run's first count, then each run's second...),
    so a stop leaves the curves equally long; a failed run stops its own curve, not the others. Returns
    0, 1 if a run failed, or the exit code of a stop signal."""
    failed = set()
    for millions in definition['images']:
        for run in runs:
            if run.name in failed or os.path.isfile(curve_path(run, millions)):
                continue
            # A curve can not go back. Before a run has scores, vae.py --images refuses the same way.
            stop, trained = count_step(scores(run), millions), latest_step(dict(run.settings)['checkpoint_dir'])
            if stop is not None and trained > stop:
                raise SettingsError('{} is trained past {:g} M images (its checkpoint is at step {}, the count at {}): '
                                    'drop that count, or start its curve in another folder'.format(
                                        run.name, millions, trained, stop))
            print('=== {}: {:g} M images ==='.format(run.name, millions), flush=True)
            code = runner.run_to_the_end(train_command(run, at_count(definition, millions)))
            if code in STOPPED:
                print('stopped: the same command continues from {} at {:g} M images'.format(run.name, millions))
                return code
            if code or keep_counts([run], definition)[run.name] == millions:
                print('{} failed at {:g} M images; its curve stops there (log above)'.format(run.name, millions))
                failed.add(run.name)
    return 1 if failed else 0


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


def describe_missing(runs):
    logs = [[os.path.join(run.folder, name) for name in (TASK_LOG, TRAIN_LOG)] for run in runs]
    return ', '.join('{} (log: {})'.format(run.name, next((p for p in paths if os.path.isfile(p)), 'none'))
                     for run, paths in zip(runs, logs))


# ---- the command line ----

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     epilog='--NAME VALUE outside --grid sets a config.py constant for every run.')
    parser.add_argument('folder', help='the study\'s folder: its definition, runs and gathered results')
    parser.add_argument('--grid', nargs='+', action='append', default=[], metavar='NAME=VALUES',
                        help='one grid: a product over the settings given (repeat --grid for more)')
    parser.add_argument('--preset', choices=sorted(config.STUDY_PRESETS), help='a study the project reports: its grids, '
                        'dataset and budget, where --grid, --dataset, --steps and --images do not say otherwise')
    parser.add_argument('--dataset', choices=sorted(config.DATASET_DEFAULTS),
                        help='dataset of every run (default: the study\'s, or config.py\'s for a new one)')
    parser.add_argument('--steps', type=int, help='training steps of every run (default: the study\'s; num_epochs)')
    parser.add_argument('--images', type=float, nargs='+', metavar='MILLIONS',
                        help='evaluate each run at these counts of images seen: learning curves')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--list', action='store_true', help='print one vae.py command line per unfinished run')
    mode.add_argument('--slurm', action='store_true', help='submit the unfinished runs as a Slurm job array')
    mode.add_argument('--gather', action='store_true', help='only gather the finished runs; train nothing')
    parser.add_argument('--parallel', type=int, default=1, metavar='N', help='here: N runs side by side, each '
                        'pinned to its share of the cores, its output in its folder\'s ' + TRAIN_LOG)
    parser.add_argument('--keep', nargs='+', default=[], metavar='RESULTS_JSON', help='rows of earlier gathers of '
                        'this study (their results.json) for the runs not finished here: a study split over machines')
    parser.add_argument('--throttle', type=int, default=DEFAULT_THROTTLE,
                        help='--slurm: array tasks running at once (%%K; default %(default)s)')
    parser.add_argument('--sbatch', default='', metavar='OPTIONS', help='--slurm: sbatch options for every job, '
                        'one string after = (--sbatch=\'--partition=gpu --time=4:00:00\')')
    parser.add_argument('--wait', action='store_true',
                        help='--slurm: wait until the study is gathered; non-zero if a run failed')
    args, rest = parser.parse_known_args(argv)
    for name in ('steps', 'throttle', 'parallel'):
        if (getattr(args, name) or 1) < 1:
            parser.error('--{} must be >= 1'.format(name))
    if (args.wait or args.sbatch) and not args.slurm:
        parser.error('--wait and --sbatch go with --slurm')
    preset = config.STUDY_PRESETS.get(args.preset, {})
    args.grid = args.grid or preset.get('grids', [])
    args.dataset = args.dataset or preset.get('dataset')
    if args.steps is None and args.images is None:
        args.steps, args.images = preset.get('steps'), preset.get('images')
    return args, settings.parse_overrides(rest)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        args, given = parse_args(argv)
        if args.slurm:
            sbatch_path()
        definition = define(args.folder, args.grid, args.dataset, args.steps, given, args.images)
        if definition['images'] and (args.slurm or args.parallel > 1):
            raise SettingsError('a study with image counts trains each run count after count: run it here one at '
                                'a time, or through --list (its next counts) on any scheduler')
        runs = runs_of(definition, args.folder)
        following = keep_counts(runs, definition) if definition['images'] else {}
        kept = gather.kept_rows(args.keep, definition, runs)
        unfinished = ([run for run in runs if following[run.name] is not None] if definition['images']
                      else [run for run in runs if result(run, definition) is None and run.name not in kept])
        if not args.gather:
            prepare(runs, unfinished, definition, args.folder)
        print('study {}: {} runs, {} unfinished'.format(args.folder, len(runs), len(unfinished)), flush=True)
        if args.list:
            for run in unfinished:
                budget = at_count(definition, following[run.name]) if definition['images'] else definition
                print(' '.join(shlex.quote(word) for word in train_command(run, budget)))
            return 0
        if args.slurm and unfinished:
            return submit(unfinished, definition, args.folder, args.throttle, shlex.split(args.sbatch), args.wait)
        header = provenance.result_header(' '.join(['python study.py'] + [shlex.quote(word) for word in argv]))
        return train_and_gather(args, runs, unfinished, definition, header, kept)
    except SettingsError as error:
        print('error: {}'.format(error), file=sys.stderr)
        return 2


def train_and_gather(args, runs, unfinished, definition, header, kept):
    """Trains the unfinished runs here (unless args.gather), then gathers into args.folder, with the `kept`
    rows of earlier gathers ({run name: row}) for the runs not finished here; the exit code."""
    code = 0 if args.gather else (run_curves(unfinished, definition) if definition['images']
                                  else run_here(unfinished, definition, args.parallel))
    if code in STOPPED or (code and not definition['images']):
        return code
    if definition['images']:
        points = gather.curve_points(runs)
        gather.gather_curves(points, definition, args.folder, header)
        return code or (0 if points else 1)
    finished = [(run, result(run, definition)) for run in runs]
    missing = [run for run, values in finished if values is None and run.name not in kept]
    gather.gather([pair for pair in finished if pair[1] is not None], [run.name for run in missing], definition,
                  args.folder, header, [kept[run.name] for run, values in finished
                                        if values is None and run.name in kept], [run.name for run in runs])
    if missing:
        print('not finished: {}'.format(describe_missing(missing)), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
