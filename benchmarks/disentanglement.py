"""Which objective disentangles procedural dSprites best on a fixed step budget? Objectives x seeds: a study.

    python benchmarks/disentanglement.py                  # train, evaluate and gather; re-run to resume
    python benchmarks/disentanglement.py --list           # one command line per unfinished run, for a job array
    python study.py results/disentanglement --slurm       # the same runs, as a Slurm job array (after one call here)
    python benchmarks/disentanglement.py --runs tcvae:0,1,2 beta:0 --steps 24000 --root results/disentanglement
    python benchmarks/disentanglement.py --runs tcvae:0,1,2@tcvae_estimator=bank   # OBJECTIVE:SEEDS@NAME=VALUE,...
    python benchmarks/disentanglement.py --steps 2 --batch_size 8 --eval_num_train 40   # --NAME VALUE: to vae.py

Each OBJECTIVE:SEEDS@NAME=VALUE spec is a grid of the study in ROOT (objective=OBJECTIVE NAME=VALUE seed=SEEDS,
see study.py), so its runs live in ROOT/OBJECTIVE[_NAMEVALUE...]_seedK/{checkpoints,results,summaries}; finished
runs (metrics.json at the step budget) are skipped and unfinished ones resume exactly. Runs go one at a time
here; study.py can run the same study on Slurm, after which this script only gathers (--gather).
Writes results/disentanglement.json and results/disentanglement.png and prints the table, with medians over
seeds and the published figures.
"""
import argparse
import collections
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import common  # noqa: E402
import figures  # noqa: E402
import settings  # noqa: E402
import study  # noqa: E402
from common import SettingsError  # noqa: E402

METRICS = study.SUPERVISED
# The capacity objective reaches its final KL target at 5/6 of the default budget.
DEFAULT_RUNS = ('tcvae:0,1,2', 'factor:0,1,2', 'beta:0', 'capacity:0@capacity_steps=20000', 'dip_i:0,1,2',
                'dip_ii:0,1,2')
DEFAULT_STEPS = 24000        # x 64 images: about 2 passes over dSprites' 737,280 images

# Published dSprites figures of each objective, as compiled by Lin et al. 2020 (Table 1) from Locatello et
# al. 2019. Only the beta-VAE row is quoted: the other rows were not in the material at hand (README).
PUBLISHED = {
    'beta': {'factor_vae': 0.63, 'mig': 0.21, 'dci': 0.41},
}


def grid_of(spec):
    """'capacity:0@capacity_steps=20000' -> the study grid ['objective=capacity', 'capacity_steps=20000',
    'seed=0']."""
    head, _, given = spec.partition('@')
    objective, _, seeds = head.partition(':')
    return ['objective=' + objective] + [pair for pair in given.split(',') if pair] + ['seed=' + (seeds or '0')]


def add_runs_option(parser, default_runs):
    """--runs: the OBJECTIVE:SEEDS@NAME=VALUE specs that grid_of reads."""
    parser.add_argument('--runs', nargs='+', default=list(default_runs),
                        help='OBJECTIVE:SEED,SEED,...[@NAME=VALUE,...] (default: %(default)s)')


def label(run):
    """The run's objective and settings, without its seed: 'capacity_capacity_steps20000'."""
    return run.name.rsplit('_seed', 1)[0]


def row(run, line):
    """The benchmark's row of one run, from its study row."""
    values = {key: line[key] for key in METRICS + ('reconstruction', 'active_dims', 'train_minutes', 'step')}
    values.update(objective=label(run), seed=int(line['seed']), steps=line['step'])
    return values


def medians(rows):
    """{objective: {metric: median over its seeds}} (numpy's median; one seed is its own median)."""
    import numpy as np
    by_objective = collections.OrderedDict()
    for r in rows:
        by_objective.setdefault(r['objective'], []).append(r)
    return {objective: dict({key: float(np.median([r[key] for r in runs])) for key in METRICS + ('reconstruction',)},
                            seeds=len(runs))
            for objective, runs in by_objective.items()}


def table(rows, summary):
    lines = ['{:<30}{:>5}{:>8}{:>8}{:>10}{:>10}{:>8}{:>8}{:>8}{:>9}{:>8}'.format(
        'objective', 'seed', 'steps', 'min', 'BetaVAE', 'FactorVAE', 'MIG', 'DCI', 'SAP', 'rec', 'active')]
    for r in rows:
        lines.append('{:<30}{:>5}{:>8}{:>8.1f}{:>10.3f}{:>10.3f}{:>8.3f}{:>8.3f}{:>8.3f}{:>9.2f}{:>8}'.format(
            r['objective'], r['seed'], r['steps'], r['train_minutes'], r['beta_vae'], r['factor_vae'], r['mig'],
            r['dci'], r['sap'], r['reconstruction'], r['active_dims']))
    lines.append('medians over seeds, and the published figures (Lin et al. 2020, Table 1):')
    for objective, m in summary.items():
        lines.append('{:<30}{:>5}{:>8}{:>8}{:>10.3f}{:>10.3f}{:>8.3f}{:>8.3f}{:>8.3f}{:>9.2f}'.format(
            objective, 'x{}'.format(m['seeds']), '', '', m['beta_vae'], m['factor_vae'], m['mig'], m['dci'], m['sap'],
            m['reconstruction']))
        published = PUBLISHED.get(objective)
        if published:
            lines.append('{:<30}{:>5}{:>8}{:>8}{:>10}{:>10}{:>8}{:>8}{:>8}'.format(
                '  publ.', '', '', '', '-', *['{:.2f}'.format(published[k]) if k in published else '-'
                                              for k in ('factor_vae', 'mig', 'dci', 'sap')]))
    return '\n'.join(lines)


def plot(rows, path):
    """Left: MIG against reconstruction error, one point per run, coloured by objective.
    Right: each metric's seeds side by side, grouped by objective."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    objectives = list(collections.OrderedDict((r['objective'], None) for r in rows))
    colours = dict(zip(objectives, plt.rcParams['axes.prop_cycle'].by_key()['color']))
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={'width_ratios': [1, 2]})
    for objective in objectives:
        runs = [r for r in rows if r['objective'] == objective]
        left.scatter([r['reconstruction'] for r in runs], [r['mig'] for r in runs], color=colours[objective],
                     label=objective)
        offset = (objectives.index(objective) - (len(objectives) - 1) / 2.0) * 0.18
        for m, key in enumerate(METRICS):
            right.scatter([m + offset] * len(runs), [r[key] for r in runs], color=colours[objective], s=18,
                          label=objective if m == 0 else None)
    left.set_xlabel('reconstruction error (nats per image)')
    left.set_ylabel('MIG')
    left.legend(fontsize=8)
    right.set_xticks(range(len(METRICS)))
    right.set_xticklabels(['BetaVAE', 'FactorVAE', 'MIG', 'DCI', 'SAP'])
    right.set_ylabel('score (each point a seed)')
    right.set_ylim(0, 1)
    right.grid(axis='y', alpha=0.3)
    figure.tight_layout()
    figures.save_figure(figure, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_runs_option(parser, DEFAULT_RUNS)
    parser.add_argument('--steps', type=int, default=DEFAULT_STEPS, help='training steps per run (default: %(default)s)')
    parser.add_argument('--root', default=os.path.join('results', 'disentanglement'), help='the study\'s folder')
    parser.add_argument('--json', default=os.path.join('results', 'disentanglement.json'))
    parser.add_argument('--figure', default=os.path.join('results', 'disentanglement.png'))
    parser.add_argument('--list', action='store_true', help='print each unfinished run\'s command line and stop')
    parser.add_argument('--gather', action='store_true', help='only gather runs that are finished; train nothing')
    args, extra = parser.parse_known_args(argv)   # --NAME VALUE settings go to every vae.py run
    try:
        grids = [grid_of(spec) for spec in args.runs]
        definition = study.define(args.root, grids, 'dsprites', args.steps, settings.parse_overrides(extra))
        defaults = settings.defaults('dsprites')
        runs = study.runs_of(dict(definition, grids=[study.parse_grid(words, defaults) for words in grids]),
                             args.root)
        unfinished = [run for run in runs if study.result(run, definition) is None]
        if args.list:
            for run in unfinished:
                print(' '.join(study.train_command(run, definition)))
            return 0
        if not args.gather:
            study.prepare(runs, unfinished, definition, args.root)
    except SettingsError as error:
        print('error: {}'.format(error), file=sys.stderr)
        return 2
    if not args.gather:
        code = study.run_here(unfinished, definition)
        if code:
            return code
    rows, missing = [], []
    for run in runs:
        result = study.result(run, definition)
        if result is None:
            missing.append(run)
        else:
            rows.append(row(run, study.row(run, result)))
    if missing:
        print('not finished: {}'.format(study.describe_missing(missing)))
    if not rows:
        return 1
    summary = medians(rows)
    print(table(rows, summary))
    common.write_json({'steps': args.steps, 'runs': rows, 'medians': summary, 'published': PUBLISHED,
                       'not_finished': [run.name for run in missing]}, args.json)
    plot(rows, args.figure)
    print('wrote {} and {}'.format(args.json, args.figure))
    return 1 if missing else 0


if __name__ == '__main__':
    sys.exit(main())
