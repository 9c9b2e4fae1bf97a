"""A study's definition and its run folders: grids of settings x seeds, each run's name, folder, settings
and vae.py command, the checks before anything trains, and what a run folder holds (its latest step, its
scores at the budget). Imports no model."""
import collections
import itertools
import os
import re
import subprocess
import sys
import tempfile

import config
import settings
from common import SettingsError, read_json, write_json
from scores import BENCHMARK

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VAE = os.path.join(ROOT, 'vae.py')

DEFINITION_FILE = 'study.json'    # the study: dataset, steps, settings of every run, grids
RUN_FILE = 'run.json'             # in each run's folder: its settings; the folder never trains others

# Each run's outputs, in its own folder: the study sets these, a grid may not.
PLACED = (('checkpoint_dir', 'checkpoints'), ('results_dir', 'results'), ('summary_dir', 'summaries'))

Run = collections.namedtuple('Run', 'name folder grid settings')
# grid: the run's own grid values ((name, text), ...), seed last; settings: every (name, text) it trains with


# ---- grids over settings ----

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


# ---- the run folders ----


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


def prepare(runs, unfinished, definition, folder):
    """Before anything trains: checks the runs' folders and settings, then saves the definition and
    claims the folders."""
    check_folders(runs)
    if unfinished:
        check(unfinished, definition)
    write_json(definition, os.path.join(folder, DEFINITION_FILE))
    claim_folders(runs)


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


def scores_of(run):
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
    values = scores_of(run)
    wrong = (values is None or (definition['steps'] and values.get('step') != definition['steps'])
             or (definition.get('count') and values['step'] != count_step(values, definition['count']))
             or (settings.has_factors(definition['dataset']) and any(values.get(key) is None for key in BENCHMARK)))
    return None if wrong else values


