"""Learning curves: a study evaluated at counts of images seen. Each run trains count after count, its
scores at each kept in its folder; the gather sets the curves against the published figures, with the count
at which each reaches them and its log-linear trend at the published budget."""
import collections
import json
import os

import numpy as np

import figures
import report
import scores
from common import SettingsError, write_json
from studies import choice, gather
from studies.grid import count_step, latest_step, result, scores_of, train_command
from studies.here import STOPPED, run_to_the_end

CURVE_DIR = 'curve'               # in each run's folder: images_{COUNT}M.json
CURVES_FIGURE = 'curves.png'      # each metric against images seen, one line per run
TREND_COUNTS = 3                  # the fewest counts a trend is fitted to: two only draw a line


def curve_path(run, millions):
    return os.path.join(run.folder, CURVE_DIR, 'images_{:g}M.json'.format(millions))


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
            stop, trained = count_step(scores_of(run), millions), latest_step(dict(run.settings)['checkpoint_dir'])
            if stop is not None and trained > stop:
                raise SettingsError('{} is trained past {:g} M images (its checkpoint is at step {}, the count at {}): '
                                    'drop that count, or start its curve in another folder'.format(
                                        run.name, millions, trained, stop))
            print('=== {}: {:g} M images ==='.format(run.name, millions), flush=True)
            code = run_to_the_end(train_command(run, at_count(definition, millions)))
            if code in STOPPED:
                print('stopped: the same command continues from {} at {:g} M images'.format(run.name, millions))
                return code
            if code or keep_counts([run], definition)[run.name] == millions:
                print('{} failed at {:g} M images; its curve stops there (log above)'.format(run.name, millions))
                failed.add(run.name)
    return 1 if failed else 0


# ---- the gather ----


def curve_points(runs):
    """Every kept count of every run, by images seen: the run, its setting's label, objective, seed,
    images, step and scores."""
    points = []
    for run in runs:
        folder = os.path.join(run.folder, CURVE_DIR)
        mine = []
        for name in os.listdir(folder) if os.path.isdir(folder) else []:
            with open(os.path.join(folder, name)) as f:
                values = json.load(f)
            point = {key: values[key] for key in scores.BENCHMARK + ('reconstruction',) if key in values}
            point.update(run=run.name, label=choice.label(choice.setting_of(run)), step=values['step'], images=values['images'],
                         seed=values['config']['seed'], objective=values['config']['objective'])
            mine.append(point)
        points += sorted(mine, key=lambda p: p['images'])
    return points


def curves_of(points):
    """Each run's points, in the order the runs come, sorted by images seen."""
    curves = collections.OrderedDict()
    for p in points:
        curves.setdefault(p['run'], []).append(p)
    return collections.OrderedDict((name, sorted(line, key=lambda p: p['images'])) for name, line in curves.items())


def reached_at(line, key, target):
    """The fewest images at which a curve (points sorted by images) scores `target` or more; None if never."""
    return next((p['images'] for p in line if p[key] >= target), None)


def trend_at(line, key, images):
    """The curve's least-squares line in log10(images), read at `images`, and its slope per decade of
    images: what the curve suggests where it has not been measured. None with fewer than TREND_COUNTS."""
    if len(line) < TREND_COUNTS:
        return None
    slope, intercept = np.polyfit(np.log10([p['images'] for p in line]), [p[key] for p in line], 1)
    return float(intercept + slope * np.log10(images)), float(slope)


def against_published(points, published):
    """For each run and each published figure of its objective ({objective: {'images', 'scores'}}): the
    best score so far and where, the count at which the curve first reaches it, and the curve's
    log-linear trend at the published budget."""
    comparisons = []
    for name, line in curves_of(points).items():
        figures_of = published.get(line[0]['objective'])
        for key, target in sorted((figures_of or {}).get('scores', {}).items()):
            if key not in line[0]:
                continue
            best = max(line, key=lambda p: p[key])
            trend = trend_at(line, key, figures_of['images'])
            comparisons.append({
                'run': name, 'metric': key, 'published': target, 'published_images': figures_of['images'],
                'last_images': line[-1]['images'], 'best': best[key], 'best_images': best['images'],
                'reached_images': reached_at(line, key, target),
                'trend': None if trend is None else trend[0], 'slope_per_decade': None if trend is None else trend[1]})
    return comparisons


def gather_curves(points, definition, folder, header=None):
    """Writes the curves' table, JSON and figure into `folder` and prints the table; `points` are the
    kept counts: dicts of run, label, objective, seed, images, step and the scores."""
    published = gather.published_of(points, definition['dataset'])
    comparisons = against_published(points, published)
    summary = {'header': header, 'dataset': definition['dataset'], 'images_millions': definition['images'],
               'points': points,
               'published': published, 'against_published': comparisons}
    gather.write_table(folder, summary, report.curves_table(points, comparisons))
    if points:
        plot_curves(points, published, os.path.join(folder, CURVES_FIGURE))


def plot_curves(points, published, path):
    """One panel per metric: the metric against images seen (log scale), one line per run (colour: its
    setting; line style: its seed), and its objective's published figure as a dashed mark, starred at the
    images it took."""
    plt = figures.pyplot()
    import matplotlib.ticker   # after pyplot, which chooses the backend
    keys = [key for key in scores.BENCHMARK if all(key in p for p in points)]
    labels = collections.OrderedDict((p['label'], p['objective']) for p in points)
    colours = dict(zip(labels, plt.rcParams['axes.prop_cycle'].by_key()['color']))
    styles = ['-', '--', ':', '-.']
    figure, axes = plt.subplots(1, len(keys), figsize=(3.4 * len(keys), 3.4), sharex=True, squeeze=False)
    for ax, key in zip(axes[0], keys):
        for name, line in curves_of(points).items():
            ax.plot([p['images'] for p in line], [p[key] for p in line], marker='o', markersize=3,
                    color=colours[line[0]['label']], linestyle=styles[line[0]['seed'] % len(styles)], label=name)
        for label, objective in labels.items():
            figure_of = published.get(objective)
            if figure_of and key in figure_of['scores']:
                ax.axhline(figure_of['scores'][key], color=colours[label], linestyle=(0, (4, 4)), linewidth=0.9,
                           alpha=0.7)
                ax.plot([figure_of['images']], [figure_of['scores'][key]], marker='*', markersize=9,
                        color=colours[label])
        ax.set_xscale('log')
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: '{:g}'.format(x / 1e6)))
        ax.set_title(key)
        ax.set_xlabel('M images seen')
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    figure.tight_layout()
    figures.save_figure(figure, path)


