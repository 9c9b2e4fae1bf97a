"""How do the scores grow with the images a run has seen? Score-against-images curves on dSprites, resumable.

    python benchmarks/learning_curves.py             # FactorVAE (gamma 35) and beta-TCVAE (beta 6), seeds 0 and 1
    python benchmarks/learning_curves.py --runs tcvae:0,1@tcvae_estimator=bank --images 0.25 0.5 1 2
    python benchmarks/learning_curves.py --gather    # only the table and figure of the counts evaluated so far

Each run (OBJECTIVE:SEEDS@NAME=VALUE, as in disentanglement.py) lives in ROOT/RUN, a run of the study in ROOT.
For each image count (millions of images the VAE has trained on, step x batch_size) it trains on to that
count's step and evaluates the five metrics there (`vae.py --train --evaluate --steps N`), and keeps them as
ROOT/RUN/curve/images_{COUNT}M.json. Counts go in turns (every run's first count, then every run's second,
...), so a stop leaves the curves equally long. A count already kept is skipped; the next one resumes from
the last checkpoint at the same data position, so stopping (Ctrl-C lets the step save) and running the same
command again continues exactly. --NAME VALUE goes to every run, as in disentanglement.py.
Writes results/learning_curves.json and results/learning_curves.png: each metric against images (log
scale), one line per run, the published figures as horizontal marks. It also prints, for each run and
published figure, the count at which the curve first reaches it and, where it has not, the curve's
log-linear trend at the published budget.
"""
import argparse
import collections
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import common  # noqa: E402
import disentanglement  # noqa: E402  (beside this file: the run specs)
import figures  # noqa: E402
import settings  # noqa: E402
import study  # noqa: E402
from common import SettingsError  # noqa: E402

METRICS = study.SUPERVISED
DEFAULT_RUNS = ('factor:0,1', 'tcvae:0,1')
DEFAULT_IMAGES = (0.25, 0.5, 1, 2, 4, 8, 16)     # millions of images
CURVE_DIR = 'curve'                               # in each run's folder: one JSON per evaluated count
TREND_COUNTS = 3                                  # the fewest counts a trend is fitted to: two only draw a line

# Published dSprites figures at about 19.2-19.9 M images (batch 64, about 300k steps), drawn as marks:
# FactorVAE from Lin et al. 2020, Table 1 (gamma 40, the nearest to this project's 35); beta-TCVAE from
# CFASL's README (its beta-TCVAE baseline, disentanglement_lib's metrics, 10 seeds).
PUBLISHED = {
    'factor': {'mig': 0.43, 'factor_vae': 0.82},
    'tcvae': {'mig': 0.240, 'dci': 0.353, 'factor_vae': 0.792},
}
PUBLISHED_IMAGES = {'factor': 19.9e6, 'tcvae': 19.2e6}   # the images behind each published figure: steps x 64


def steps_at(millions, batch_size):
    """The step at which a run of batch_size has trained on `millions` M images."""
    return max(1, int(round(millions * 1e6 / batch_size)))


def curve_path(run, millions):
    return os.path.join(run.folder, CURVE_DIR, 'images_{:g}M.json'.format(millions))


def evaluate_count(run, definition, millions):
    """Trains `run` on to `millions` M images and keeps its metrics there. Returns vae.py's exit code (0
    when the count is kept); SettingsError when the run is already past it, since a curve can not go back."""
    batch_size = settings.resolve(definition['dataset'], run.settings).batch_size
    steps = steps_at(millions, batch_size)
    at_count = dict(definition, steps=steps)
    values = study.result(run, at_count)
    if values is None:
        trained = study.latest_step(dict(run.settings)['checkpoint_dir'])
        if trained > steps:
            raise SettingsError('{} is trained past {:g} M images (its checkpoint is at step {}, the count at {}): '
                                'drop that count, or start its curve in another --root'.format(
                                    run.name, millions, trained, steps))
        print('=== {}: {:g} M images (step {}) ==='.format(run.name, millions, steps), flush=True)
        code = study.run_to_the_end(study.train_command(run, at_count))
        values = study.result(run, at_count)
        if code or values is None:
            return code or 1
    common.write_json(dict(values, images=steps * batch_size), curve_path(run, millions))
    return 0


def run_curves(runs, definition, counts):
    """Evaluates every count of every run, in turns; a run that fails stops its own curve, not the others.
    Returns 0, 1 if a run failed, or the exit code of a stop signal."""
    failed = set()
    for millions in counts:
        for run in runs:
            if run.name in failed or os.path.isfile(curve_path(run, millions)):
                continue
            code = evaluate_count(run, definition, millions)
            if code in study.STOPPED:
                print('stopped: the same command continues from {} at {:g} M images'.format(run.name, millions))
                return code
            if code:
                print('{} failed at {:g} M images; its curve stops there (log above)'.format(run.name, millions))
                failed.add(run.name)
    return 1 if failed else 0


def points(runs, counts):
    """Every kept count of every run: its label (objective and settings), objective, seed, images, step and
    metrics."""
    rows = []
    for run in runs:
        for millions in counts:
            path = curve_path(run, millions)
            if os.path.isfile(path):
                values = study.read_json(path)
                rows.append(dict({key: values[key] for key in METRICS + ('reconstruction', 'step', 'images')},
                                 run=run.name, label=disentanglement.label(run), seed=values['config']['seed'],
                                 objective=values['config']['objective']))
    return rows


def table(rows):
    lines = ['{:<34}{:>10}{:>9}{:>10}{:>10}{:>8}{:>8}{:>8}{:>9}'.format(
        'run', 'M images', 'step', 'BetaVAE', 'FactorVAE', 'MIG', 'DCI', 'SAP', 'rec')]
    for r in rows:
        lines.append('{:<34}{:>10.3g}{:>9}{:>10.3f}{:>10.3f}{:>8.3f}{:>8.3f}{:>8.3f}{:>9.2f}'.format(
            r['run'], r['images'] / 1e6, r['step'], r['beta_vae'], r['factor_vae'], r['mig'], r['dci'], r['sap'],
            r['reconstruction']))
    return '\n'.join(lines)


def curves_of(rows):
    """Each run's points, in the order the runs come, sorted by images seen."""
    curves = collections.OrderedDict()
    for r in rows:
        curves.setdefault(r['run'], []).append(r)
    return collections.OrderedDict((name, sorted(line, key=lambda r: r['images'])) for name, line in curves.items())


def reached_at(line, key, target):
    """The fewest images at which a curve (points sorted by images) scores `target` or more; None if never."""
    return next((r['images'] for r in line if r[key] >= target), None)


def trend_at(line, key, images):
    """The curve's least-squares line in log10(images), read at `images`, and its slope per decade of
    images: what the curve suggests where it has not been measured. None with fewer than TREND_COUNTS."""
    if len(line) < TREND_COUNTS:
        return None
    import numpy as np
    slope, intercept = np.polyfit(np.log10([r['images'] for r in line]), [r[key] for r in line], 1)
    return float(intercept + slope * np.log10(images)), float(slope)


def against_published(rows):
    """For each run and each published figure of its objective: the best score so far and where, the count
    at which the curve first reaches the figure, and its log-linear trend at the published budget."""
    comparisons = []
    for name, line in curves_of(rows).items():
        objective = line[0]['objective']
        for key, target in sorted(PUBLISHED.get(objective, {}).items()):
            best = max(line, key=lambda r: r[key])
            trend = trend_at(line, key, PUBLISHED_IMAGES[objective])
            comparisons.append({
                'run': name, 'metric': key, 'published': target, 'published_images': PUBLISHED_IMAGES[objective],
                'last_images': line[-1]['images'], 'best': best[key], 'best_images': best['images'],
                'reached_images': reached_at(line, key, target),
                'trend': None if trend is None else trend[0], 'slope_per_decade': None if trend is None else trend[1]})
    return comparisons


def comparison_table(comparisons):
    lines = ['{:<22}{:>11}{:>11}{:>17}{:>12}{:>25}'.format(
        'run', 'metric', 'published', 'best (M images)', 'reached at', 'trend at budget (/dec)')]
    for c in comparisons:
        reached = 'not yet' if c['reached_images'] is None else '{:.3g} M'.format(c['reached_images'] / 1e6)
        trend = '' if c['trend'] is None else '{:.3f} ({:+.3f})'.format(c['trend'], c['slope_per_decade'])
        lines.append('{:<22}{:>11}{:>11.3f}{:>17}{:>12}{:>25}'.format(
            c['run'], c['metric'], c['published'], '{:.3f} ({:.3g})'.format(c['best'], c['best_images'] / 1e6),
            reached, trend))
    return '\n'.join(lines)


def plot(rows, path):
    """One panel per metric: the metric against images seen (log scale), one line per run (colour: its
    objective and settings; line style: its seed), and its objective's published figure as a dashed mark,
    starred at the images it took."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    labels = collections.OrderedDict((r['label'], r['objective']) for r in rows)
    colours = dict(zip(labels, plt.rcParams['axes.prop_cycle'].by_key()['color']))
    styles = ['-', '--', ':', '-.']
    figure, axes = plt.subplots(1, len(METRICS), figsize=(3.4 * len(METRICS), 3.4), sharex=True)
    for ax, key in zip(axes, METRICS):
        for name, line in curves_of(rows).items():
            ax.plot([r['images'] for r in line], [r[key] for r in line], marker='o', markersize=3,
                    color=colours[line[0]['label']], linestyle=styles[line[0]['seed'] % len(styles)], label=name)
        for label, objective in labels.items():
            published = PUBLISHED.get(objective, {}).get(key)
            if published is not None:
                ax.axhline(published, color=colours[label], linestyle=(0, (4, 4)), linewidth=0.9, alpha=0.7)
                ax.plot([PUBLISHED_IMAGES[objective]], [published], marker='*', markersize=9, color=colours[label])
        ax.set_xscale('log')
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: '{:g}'.format(x / 1e6)))
        ax.set_title(key)
        ax.set_xlabel('M images seen')
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figures.save_figure(figure, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    disentanglement.add_runs_option(parser, DEFAULT_RUNS)
    parser.add_argument('--images', type=float, nargs='+', default=list(DEFAULT_IMAGES),
                        help='millions of images at which to evaluate (default: %(default)s)')
    parser.add_argument('--root', default=os.path.join('results', 'learning_curves'), help='the runs\' folder')
    parser.add_argument('--json', default=os.path.join('results', 'learning_curves.json'))
    parser.add_argument('--figure', default=os.path.join('results', 'learning_curves.png'))
    parser.add_argument('--gather', action='store_true', help='only the table and figure; train nothing')
    args, extra = parser.parse_known_args(argv)   # --NAME VALUE settings go to every vae.py run
    counts = sorted(set(args.images))
    try:
        if counts[0] <= 0:
            raise SettingsError('--images takes counts in millions above 0, not {:g}'.format(counts[0]))
        grids = [disentanglement.grid_of(spec) for spec in args.runs]
        # A study without a step budget: each count sets its own --steps.
        definition = study.define(args.root, grids, 'dsprites', None, settings.parse_overrides(extra))
        runs = study.runs_of(dict(definition, grids=[study.parse_grid(words, settings.defaults('dsprites'))
                                                     for words in grids]), args.root)
        code = 0
        if not args.gather:
            study.prepare(runs, runs, definition, args.root)
            code = run_curves(runs, definition, counts)
            if code in study.STOPPED:
                return code
    except SettingsError as error:
        print('error: {}'.format(error), file=sys.stderr)
        return 2
    rows = points(runs, counts)
    if not rows:
        print('no count is evaluated yet')
        return code or 1
    comparisons = against_published(rows)
    print(table(rows))
    print()
    print(comparison_table(comparisons))
    common.write_json({'images_millions': counts, 'points': rows, 'published': PUBLISHED,
                       'published_images': PUBLISHED_IMAGES, 'against_published': comparisons}, args.json)
    plot(rows, args.figure)
    print('wrote {} and {}'.format(args.json, args.figure))
    return code


if __name__ == '__main__':
    sys.exit(main())
