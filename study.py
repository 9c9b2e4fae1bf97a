"""Studies: grids of settings x seeds, trained here, listed for any scheduler, or run as a Slurm job array,
each run evaluated at its step budget or at counts of images seen (learning curves); then gathered.

    python study.py FOLDER --grid objective=tcvae tcvae_beta=1,2,4,6 seed=0-2 --dataset dsprites --steps 6000
    python study.py FOLDER                      # continues it: the definition is FOLDER/study.json
    python study.py FOLDER --list               # one vae.py command line per unfinished run, for any scheduler
    python study.py FOLDER --slurm --throttle 4 --sbatch='--partition=gpu --time=4:00:00' --wait
    python study.py results/disentanglement --preset disentanglement     # a study the project reports

Each run trains `vae.py --train --evaluate` in FOLDER/RUN/{checkpoints,results,summaries}, RUN named from
its grid values; finished runs are skipped and unfinished ones resume exactly. Runs vae.py as processes and
imports no model: the library is the `studies` package. docs/studies.md is the guide.
"""
import argparse
import shlex
import sys

import config
import provenance
import scores
import settings
from common import SettingsError
from studies import curves, gather, grid, here, slurm


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
                        'pinned to its share of the cores, its output in its folder\'s ' + here.TRAIN_LOG)
    parser.add_argument('--keep', nargs='+', default=[], metavar='RESULTS_JSON', help='rows of earlier gathers of '
                        'this study (their results.json) for the runs not finished here: a study split over machines')
    parser.add_argument('--select-by', default=gather.DEFAULT_SELECT_BY, choices=scores.FEW_LABEL_METRICS,
                        help='the score the choice of a model from a few labels ranks runs by (default %(default)s)')
    parser.add_argument('--throttle', type=int, default=slurm.DEFAULT_THROTTLE,
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
            slurm.sbatch_path()
        definition = grid.define(args.folder, args.grid, args.dataset, args.steps, given, args.images)
        runs = grid.runs_of(definition, args.folder)
        header = provenance.result_header(' '.join(['python study.py'] + [shlex.quote(word) for word in argv]))
        if definition['images']:
            return curve_study(args, runs, definition, header)
        return budget_study(args, runs, definition, header)
    except SettingsError as error:
        print('error: {}'.format(error), file=sys.stderr)
        return 2


def started(args, runs, unfinished, definition):
    """Checks and claims the runs' folders (unless only gathering), and says what is left."""
    if not args.gather:
        grid.prepare(runs, unfinished, definition, args.folder)
    print('study {}: {} runs, {} unfinished'.format(args.folder, len(runs), len(unfinished)), flush=True)


def print_commands(runs, definitions):
    """One vae.py command line per run, for any scheduler."""
    for run, definition in zip(runs, definitions):
        print(' '.join(shlex.quote(word) for word in grid.train_command(run, definition)))


def budget_study(args, runs, definition, header):
    """Every run trained to the step budget (here, listed, or on Slurm), then gathered with the `--keep`
    rows of earlier gathers for the runs not finished here; the exit code."""
    kept = gather.kept_rows(args.keep, definition, runs)
    unfinished = [run for run in runs if grid.result(run, definition) is None and run.name not in kept]
    started(args, runs, unfinished, definition)
    if args.list:
        print_commands(unfinished, [definition] * len(unfinished))
        return 0
    if args.slurm and unfinished:
        return slurm.submit(unfinished, definition, args.folder, args.throttle, shlex.split(args.sbatch), args.wait,
                            ['--select-by', args.select_by])
    code = 0 if args.gather else here.run_here(unfinished, definition, args.parallel)
    if code:
        return code
    finished = [(run, grid.result(run, definition)) for run in runs]
    missing = [run for run, values in finished if values is None and run.name not in kept]
    gather.gather([pair for pair in finished if pair[1] is not None], [run.name for run in missing], definition,
                  args.folder, header, [kept[run.name] for run, values in finished
                                        if values is None and run.name in kept], [run.name for run in runs],
                  args.select_by)
    if missing:
        print('not finished: {}'.format(slurm.describe_missing(missing)), file=sys.stderr)
        return 1
    return 0


def curve_study(args, runs, definition, header):
    """Every run evaluated at each count of images, count after count (here or listed), then the curves
    gathered; the exit code."""
    if args.slurm or args.parallel > 1 or args.keep:
        raise SettingsError('a study with image counts trains each run count after count: run it here one at '
                            'a time, or through --list (its next counts) on any scheduler; --keep is for step budgets')
    following = curves.keep_counts(runs, definition)
    unfinished = [run for run in runs if following[run.name] is not None]
    started(args, runs, unfinished, definition)
    if args.list:
        print_commands(unfinished, [curves.at_count(definition, following[run.name]) for run in unfinished])
        return 0
    code = 0 if args.gather else curves.run_curves(unfinished, definition)
    if code in here.STOPPED:
        return code
    points = curves.curve_points(runs)
    curves.gather_curves(points, definition, args.folder, header)
    return code or (0 if points else 1)


if __name__ == '__main__':
    sys.exit(main())
