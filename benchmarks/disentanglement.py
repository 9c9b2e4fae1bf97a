"""Which objective disentangles procedural dSprites best on a fixed step budget? Objectives x seeds.

    python benchmarks/disentanglement.py                  # train, evaluate and gather; re-run to resume
    python benchmarks/disentanglement.py --list           # one command line per run, for a job array
    python benchmarks/disentanglement.py --runs tcvae:0,1,2 beta:0 --steps 24000 --root results/disentanglement
    python benchmarks/disentanglement.py --runs tcvae:0,1,2@tcvae_estimator=bank   # OBJECTIVE:SEEDS@NAME=VALUE,...
    python benchmarks/disentanglement.py --steps 2 --batch_size 8 --eval_num_train 40   # --NAME VALUE: to vae.py

Each run trains `python vae.py --train --evaluate --dataset dsprites` in its own folder
(ROOT/OBJECTIVE[_NAMEVALUE...]_seedK/{checkpoints,results,summaries}). Re-running skips finished runs (metrics.json at
the step budget) and resumes unfinished ones from their latest checkpoint, exactly. Runs go one at a
time; a cluster can run the lines of --list as a job array, after which this script only gathers.
Writes results/disentanglement.json and results/disentanglement.png and prints the table.
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from hardware import import_tensorflow  # noqa: E402

import_tensorflow()   # quietly: the run's event files are read through it

import figures  # noqa: E402
import common  # noqa: E402

METRICS = ('beta_vae', 'factor_vae', 'mig', 'dci', 'sap')
# The capacity objective reaches its final KL target at 5/6 of the default budget.
DEFAULT_RUNS = ('tcvae:0,1,2', 'factor:0,1,2', 'beta:0', 'capacity:0@capacity_steps=20000', 'dip_i:0,1,2',
                'dip_ii:0,1,2')
DEFAULT_STEPS = 24000        # x 64 images: about 2 passes over dSprites' 737,280 images

# Published dSprites figures of each objective, as compiled by Lin et al. 2020 (Table 1) from Locatello et
# al. 2019. Only the beta-VAE row is quoted: the other rows were not in the material at hand (README).
PUBLISHED = {
    'beta': {'factor_vae': 0.63, 'mig': 0.21, 'dci': 0.41},
}

Run = collections.namedtuple('Run', 'objective label seed settings folder')   # label: objective and settings


def parse_runs(specs, root):
    """['tcvae:0,1,2', 'capacity:0@capacity_steps=20000'] -> [Run]; specs in the given order, seeds
    ascending. Settings after @ go to that spec's runs and into their folder's name."""
    runs = []
    for spec in specs:
        head, _, given = spec.partition('@')
        objective, _, seeds = head.partition(':')
        pairs = [tuple(pair.split('=', 1)) for pair in given.split(',') if pair]
        label = ''.join('_{}{}'.format(name, value) for name, value in pairs)
        for seed in sorted(int(s) for s in (seeds or '0').split(',')):
            runs.append(Run(objective, objective + label, seed, pairs,
                            os.path.join(root, '{}{}_seed{}'.format(objective, label, seed))))
    return runs


def run_overrides(run, steps, extra=()):
    """vae.py settings of one run, then `extra`."""
    args = ['--dataset', 'dsprites', '--objective', run.objective, '--seed', str(run.seed), '--steps', str(steps),
            '--checkpoint_dir', os.path.join(run.folder, 'checkpoints'),
            '--results_dir', os.path.join(run.folder, 'results'),
            '--summary_dir', os.path.join(run.folder, 'summaries')]
    for name, value in run.settings:
        args += ['--' + name, value]
    return args + list(extra)


def command(run, steps, extra=(), evaluate=True):
    phases = ['--train', '--evaluate'] if evaluate else ['--train']
    return [sys.executable, os.path.join(ROOT, 'vae.py')] + phases + run_overrides(run, steps, extra)


def run_to_the_end(args):
    """Runs one command; Ctrl-C reaches it too (same process group), so this waits while it saves its
    checkpoint, then passes its exit code on."""
    process = subprocess.Popen(args)
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            continue


def metrics_path(run):
    return os.path.join(run.folder, 'results', 'metrics.json')


def finished(run, steps):
    """The run's metrics.json, if it holds every metric at the step budget; else None."""
    path = metrics_path(run)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        result = json.load(f)
    if result.get('step') != steps or any(result.get(key) is None for key in METRICS):
        return None
    return result


def training_seconds(summary_dir):
    """Seconds the run spent training, from its event files' wall times: the span of each file (one
    file per resumed segment), summed; time before a segment's first event is not counted."""
    total = 0.0
    for path in figures.event_files(summary_dir):
        times = [event.wall_time for event in figures.read_events(path) if event.HasField('summary')]
        if times:
            total += max(times) - min(times)
    return total


def row(run, steps, result):
    values = {key: result[key] for key in METRICS + ('reconstruction',)}
    inactive_kl = result['config']['inactive_kl']
    values.update(objective=run.label, seed=run.seed, steps=steps,
                  active_dims=sum(kl >= inactive_kl for kl in result['kl_per_dim']),
                  train_minutes=training_seconds(os.path.join(run.folder, 'summaries')) / 60.0)
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
    parser.add_argument('--runs', nargs='+', default=list(DEFAULT_RUNS),
                        help='OBJECTIVE:SEED,SEED,... (default: %(default)s)')
    parser.add_argument('--steps', type=int, default=DEFAULT_STEPS, help='training steps per run (default: %(default)s)')
    parser.add_argument('--root', default=os.path.join('results', 'disentanglement'), help='folder of the runs')
    parser.add_argument('--json', default=os.path.join('results', 'disentanglement.json'))
    parser.add_argument('--figure', default=os.path.join('results', 'disentanglement.png'))
    parser.add_argument('--list', action='store_true', help='print each run\'s command line and stop')
    parser.add_argument('--no-evaluate', dest='evaluate', action='store_false',
                        help='train only; a later call evaluates and gathers')
    parser.add_argument('--gather', action='store_true', help='only gather runs that are finished; train nothing')
    args, extra = parser.parse_known_args(argv)   # --NAME VALUE settings go to every vae.py run
    runs = parse_runs(args.runs, args.root)
    if args.list:
        for run in runs:
            print(' '.join(command(run, args.steps, extra)))
        return 0

    rows, missing = [], []
    for run in runs:
        if not args.gather and finished(run, args.steps) is None:
            print('=== {} seed {}: {} ==='.format(run.label, run.seed, time.strftime('%H:%M:%S')), flush=True)
            code = run_to_the_end(command(run, args.steps, extra, args.evaluate))
            if code:
                print('{} seed {} stopped with exit code {}; re-run to resume'.format(run.label, run.seed, code))
                return code
        result = finished(run, args.steps)
        if result is None:
            missing.append(run)
        else:
            rows.append(row(run, args.steps, result))
    if missing:
        print('not finished: {}'.format(', '.join('{}:{}'.format(r.label, r.seed) for r in missing)))
    if not rows:
        return 0 if not args.evaluate else 1
    summary = medians(rows)
    print(table(rows, summary))
    common.write_json({'steps': args.steps, 'runs': rows, 'medians': summary, 'published': PUBLISHED,
                         'not_finished': ['{}:{}'.format(r.label, r.seed) for r in missing]}, args.json)
    plot(rows, args.figure)
    print('wrote {} and {}'.format(args.json, args.figure))
    return 0


if __name__ == '__main__':
    sys.exit(main())
