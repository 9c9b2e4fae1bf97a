"""Gathering a study: each run's scores and cost in one table, the medians of each setting against the
published figures of its objective, UDR's choice of a model per setting (no labels), the rank correlations
of UDR with the metrics, and the figures; for a study with image counts, the learning curves.

Reads what the runs wrote (metrics.json, codes.npz, event files); trains nothing. study.py calls it.
"""
import calendar
import collections
import json
import os
import re
import time
import warnings

import numpy as np

import figures
import scores
import unsupervised
from common import SettingsError, read_json, write_json

# The scores a study's tables and figures show, where every run has them (runs evaluated before a metric
# existed lack it): the metric table's, in its order.
SCORES = tuple(score.key for score in scores.SHOWN)
TABLE_FILE = 'results.md'
RESULTS_FILE = 'results.json'
METRICS_FIGURE = 'metrics.png'    # each metric against the swept settings, one column per objective
UDR_FIGURE = 'udr_mig.png'        # UDR against MIG, each run a point
CORRELATION_FIGURE = 'correlations.png'   # the metrics' rank correlations with each other, across runs
CURVES_FIGURE = 'curves.png'      # each metric against images seen, one line per run
CURVE_DIR = 'curve'               # in each run's folder, with image counts: images_{COUNT}M.json
TREND_COUNTS = 3                  # the fewest counts a trend is fitted to: two only draw a line

# The line each Slurm task of a study writes first into its run's log.
TASK_START = re.compile(r'^=== job \S+ on \S+ at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) ===$')


def task_started(log, after):
    """When the run's last task that began after `after` (epoch seconds) started, from its slurm.log;
    None if none did."""
    if not os.path.isfile(log):
        return None
    starts = []
    with open(log) as f:
        for line in f:
            match = TASK_START.match(line.strip())
            if match:
                starts.append(calendar.timegm(time.strptime(match.group(1), '%Y-%m-%dT%H:%M:%SZ')))
    starts = [t for t in starts if t >= int(after)]
    return starts[-1] if starts else None


# ---- one row per run ----

def training_minutes(summary_dir):
    """Minutes the run spent training, from its event files' wall times: the span of each file (one
    per resumed segment), summed; time before a segment's first event is not counted."""
    from hardware import import_tensorflow
    import_tensorflow()   # quietly: the event files are read through it
    total = 0.0
    for path in figures.event_files(summary_dir):
        times = [event.wall_time for event in figures.read_events(path) if event.HasField('summary')]
        if times:
            total += max(times) - min(times)
    return total / 60.0


def published_scores(objective, dataset):
    """The objective's published scores on the dataset (objectives.Published), or None. The registry is
    imported here, not at the top: it brings TensorFlow, which only a study with such figures needs."""
    import objectives
    return objectives.OBJECTIVES[objective].published_scores.get(dataset) if objective in objectives.OBJECTIVES \
        else None


def row(run, values):
    """One run's line of the study: its settings, scores and cost."""
    line = {'run': run.name, 'grid': dict(run.grid), 'step': values['step'], 'udr': None,
           'objective': values['config']['objective'], 'seed': values['config']['seed'],
           'active_dims': sum(kl >= values['config']['inactive_kl'] for kl in values['kl_per_dim']),
           'train_minutes': training_minutes(os.path.join(run.folder, 'summaries'))}
    for key in SCORES + ('reconstruction', 'factor_information'):
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
        if run.name in rows and os.path.isfile(os.path.join(run.folder, 'results', unsupervised.CODES_FILE)):
            by_setting.setdefault(setting_of(run), []).append(run)
    selected = collections.OrderedDict()
    for setting, group in by_setting.items():
        if len(group) < 2:
            continue
        saved = [unsupervised.load_codes(os.path.join(run.folder, 'results', unsupervised.CODES_FILE)) for run in group]
        udr_scores, _ = unsupervised.udr([codes for codes, _, _ in saved], [kl for _, kl, _ in saved])
        for run, score in zip(group, udr_scores):
            rows[run.name]['udr'] = float(score)
        selected[label(setting)] = group[int(np.argmax(udr_scores))].name
    return selected


def label(setting):
    """'objective=tcvae tcvae_beta=6': a setting's grid values, seed left out."""
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
    for key in SCORES:
        if len(scored) >= 3 and all(key in r for r in scored):
            rho = spearmanr([r['udr'] for r in scored], [r[key] for r in scored])[0]
            correlations[key] = None if np.isnan(rho) else float(rho)
    return correlations


def metric_correlations(rows):
    """Locatello et al. 2019's view of how the scores agree (their figures 6 and 13): {'keys': the scores every
    run has, 'spearman': [[Spearman's rank correlation of key i with key j across the runs]]}; None below 3
    runs. A score constant over the runs correlates with nothing (None)."""
    from scipy.stats import spearmanr
    keys = [key for key in SCORES if all(key in r for r in rows)]
    if len(rows) < 3 or len(keys) < 2:
        return None
    values = np.array([[r[key] for key in keys] for r in rows], np.float64)
    matrix = [[None] * len(keys) for _ in keys]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')   # scipy warns of a constant score, which is None here
        for i in range(len(keys)):
            for j in range(len(keys)):
                rho = spearmanr(values[:, i], values[:, j])[0]
                matrix[i][j] = None if np.isnan(rho) else float(rho)
    return {'keys': keys, 'spearman': matrix}


def plot_correlations(correlations, path):
    plt = figures.pyplot()
    keys = correlations['keys']
    matrix = np.array([[np.nan if rho is None else rho for rho in line] for line in correlations['spearman']])
    figure, ax = plt.subplots(figsize=(0.55 * len(keys) + 3.4, 0.55 * len(keys) + 1.8))
    image = ax.imshow(matrix, cmap='RdBu_r', vmin=-1, vmax=1)
    for i in range(len(keys)):
        for j in range(len(keys)):
            if not np.isnan(matrix[i, j]):
                ax.text(j, i, '{:.0f}'.format(100 * matrix[i, j]), ha='center', va='center', fontsize=7,
                        color='white' if abs(matrix[i, j]) > 0.6 else 'black')
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels(keys, rotation=60, fontsize=7, ha='right')
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels(keys, fontsize=7)
    figure.colorbar(image, ax=ax, fraction=0.046, label="Spearman's rank correlation")
    figure.tight_layout()
    figures.save_figure(figure, path)


def selected_against_median(rows, selected):
    """{metric: {'median': over every run, 'selected': mean of the runs UDR selected per setting}}."""
    chosen = [r for r in rows if r['run'] in set(selected.values())]
    return {key: {'median': float(np.median([r[key] for r in rows])),
                  'selected': float(np.mean([r[key] for r in chosen])) if chosen else None}
            for key in SCORES + ('reconstruction',) if rows and all(key in r for r in rows)}


def plot_metrics(rows, path):
    """Locatello et al.'s view: each metric (a row of panels) against the swept settings, one column per
    objective, each seed a point and each setting's median a bar."""
    plt = figures.pyplot()
    keys = [key for key in SCORES + ('udr',) if rows and all(r.get(key) is not None for r in rows)] or ['udr']
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
    plt = figures.pyplot()
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

# ---- the table of a study with a step budget ----

def medians(rows):
    """{setting label: {metric: median over its seeds, 'seeds': how many, 'objective': ...}}."""
    groups = collections.OrderedDict()
    for r in rows:
        groups.setdefault(label((name, text) for name, text in r['grid'].items() if name != 'seed'), []).append(r)
    keys = scored_keys(rows)
    return collections.OrderedDict(
        (name, dict({key: float(np.median([r[key] for r in group])) for key in keys},
                    seeds=len(group), objective=group[0]['objective']))
        for name, group in groups.items())


def published_of(rows, dataset):
    """{objective: {'source', 'images', 'scores'}} for the study's objectives that have published figures."""
    found = collections.OrderedDict()
    for objective in collections.OrderedDict((r['objective'], None) for r in rows):
        published = published_scores(objective, dataset)
        if published is not None:
            found[objective] = published._asdict()
    return found


def scored_keys(rows):
    return [key for key in SCORES + ('reconstruction',) if rows and all(key in r for r in rows)]


def cell(value, digits=3):
    return '-' if value is None else '{:.{}f}'.format(value, digits)


def markdown(rows, selected, summary):
    """The study's table, the medians against the published figures, and what UDR chose."""
    keys = scored_keys(rows)
    lines = ['| run | step | train min | ' + ' | '.join(keys) + ' | active dims | UDR | selected |',
             '|---' * (len(keys) + 6) + '|']
    picked = set(selected.values())
    for r in rows:
        lines.append('| {} | {} | {:.1f} | {} | {} | {} | {} |'.format(
            r['run'], r['step'], r['train_minutes'], ' | '.join(cell(r[key]) for key in keys),
            r['active_dims'], cell(r['udr']), 'yes' if r['run'] in picked else ''))
    earlier = ['{} (commit {})'.format(r['run'], r['commit'] or 'unknown') for r in rows if 'commit' in r]
    if earlier:
        lines += ['', 'Kept from earlier gathers, with no UDR: ' + ', '.join(earlier) + '.']
    lines += [''] + medians_lines(summary, keys)
    if summary['rank_correlations']:
        lines += ['', 'Spearman rank correlation of UDR with each metric, across runs: ' + ', '.join(
            '{} {}'.format(key, cell(rho, 2)) for key, rho in summary['rank_correlations'].items())]
    if summary.get('metric_correlations'):   # a study gathered before they were written has none
        lines += [''] + correlation_lines(summary['metric_correlations'])
    if selected:
        lines += ['', 'UDR-selected runs (mean) against the median run:', '',
                  '| metric | median run | UDR-selected |', '|---|---|---|']
        for key, pair in summary['selected_against_median'].items():
            lines.append('| {} | {:.3f} | {} |'.format(key, pair['median'], cell(pair['selected'])))
    return '\n'.join(lines) + '\n'


def correlation_lines(correlations):
    """The metrics' rank correlations with each other, a markdown table."""
    keys = correlations['keys']
    lines = ["Spearman's rank correlation of the scores with each other, across runs:", '',
             '| | ' + ' | '.join(keys) + ' |', '|---' * (len(keys) + 1) + '|']
    for key, line in zip(keys, correlations['spearman']):
        lines.append('| {} | {} |'.format(key, ' | '.join(cell(rho, 2) for rho in line)))
    return lines


def medians_lines(summary, keys=None):
    """The table of each setting's median over its seeds, with its objectives' published scores."""
    keys = keys or scored_keys(summary['runs'])
    lines = ['| setting | seeds | ' + ' | '.join(keys) + ' |', '|---' * (len(keys) + 2) + '|']
    for name, m in summary['medians'].items():
        lines.append('| {} (median) | {} | {} |'.format(name, m['seeds'], ' | '.join(cell(m[key]) for key in keys)))
    for objective, p in summary['published'].items():
        lines.append('| {}, published: {} | | {} |'.format(objective, p['source'], ' | '.join(
            cell(p['scores'].get(key), 2) for key in keys)))
    return lines


def write_table(folder, summary, table):
    write_json(summary, os.path.join(folder, RESULTS_FILE))
    with open(os.path.join(folder, TABLE_FILE), 'w') as f:
        f.write(table)
    print(table)
    print('wrote {} and {} in {}'.format(TABLE_FILE, RESULTS_FILE, folder))


def kept_rows(paths, definition, runs):
    """{run name: its row} from earlier gathers of this study (their results.json), for the `runs` named
    there: a study split over machines, or whose run folders are gone. A row keeps the commit it was
    gathered at and loses its UDR, which the run's codes would be needed for; its grid takes the run's
    order, which the saved JSON's sorted keys lost, so that its setting's label is the same as a fresh row's."""
    if paths and definition['images']:
        raise SettingsError('--keep takes rows of studies with a step budget; this one has learning curves')
    kept, grids = collections.OrderedDict(), {run.name: run.grid for run in runs}
    for path in paths:
        try:
            earlier = read_json(path)
        except (OSError, ValueError) as error:
            raise SettingsError('cannot read the earlier gather {}: {}'.format(path, error))
        study, here = (earlier.get('dataset'), earlier.get('steps')), (definition['dataset'], definition['steps'])
        if study != here:
            raise SettingsError('{} gathers {} runs of {} steps, this study {} runs of {}: keep rows of this study '
                                'only'.format(path, study[0], study[1], here[0], here[1]))
        commit = (earlier.get('header') or {}).get('commit')
        for r in earlier.get('runs', []):
            if r['run'] in grids and r['run'] not in kept:
                kept[r['run']] = dict(r, grid=collections.OrderedDict(grids[r['run']]), udr=None,
                                      commit=r.get('commit') or commit)
    return kept


def gather(finished, not_finished, definition, folder, header=None, kept=(), order=()):
    """Writes the study's table, JSON and figures into `folder` and prints the table. `finished` is
    [(run, its metrics.json)], `not_finished` the names of the other runs, `kept` rows of earlier gathers,
    `order` every run's name in the study's order (default: as given, the kept rows last)."""
    rows = collections.OrderedDict((run.name, row(run, values)) for run, values in finished)
    selected = score_udr([run for run, _ in finished], rows)
    rows = sorted(list(rows.values()) + list(kept), key=lambda r: list(order).index(r['run']) if order else 0)
    has_factors = any('mig' in r for r in rows)
    summary = {'header': header, 'dataset': definition['dataset'], 'steps': definition['steps'], 'runs': rows,
               'medians': medians(rows), 'published': published_of(rows, definition['dataset']),
               'selected_per_setting': selected, 'selected_per_objective': by_objective(rows),
               'rank_correlations': rank_correlations(rows) if has_factors else {},
               'metric_correlations': metric_correlations(rows),
               'selected_against_median': selected_against_median(rows, selected),
               'not_finished': list(not_finished)}
    write_table(folder, summary, markdown(rows, selected, summary))
    if rows:
        plot_metrics(rows, os.path.join(folder, METRICS_FIGURE))
        if has_factors and any(r['udr'] is not None for r in rows):
            plot_udr_against_mig(rows, os.path.join(folder, UDR_FIGURE))
        if summary['metric_correlations']:
            plot_correlations(summary['metric_correlations'], os.path.join(folder, CORRELATION_FIGURE))


# ---- learning curves: a study with image counts ----

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
            point.update(run=run.name, label=label(setting_of(run)), step=values['step'], images=values['images'],
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


def curves_markdown(points, comparisons):
    keys = scored_keys(points)
    lines = ['| run | M images | step | ' + ' | '.join(keys) + ' |', '|---' * (len(keys) + 3) + '|']
    for p in points:
        lines.append('| {} | {:g} | {} | {} |'.format(p['run'], p['images'] / 1e6, p['step'],
                                                     ' | '.join(cell(p[key]) for key in keys)))
    lines += ['', '| run | metric | published | best (M images) | first reached at | trend at the published '
                  'budget (per tenfold) |', '|---|---|---|---|---|---|']
    for c in comparisons:
        reached = 'not yet' if c['reached_images'] is None else '{:g} M'.format(c['reached_images'] / 1e6)
        trend = '-' if c['trend'] is None else '{:.3f} ({:+.3f})'.format(c['trend'], c['slope_per_decade'])
        lines.append('| {} | {} | {:.3f} | {:.3f} ({:g}) | {} | {} |'.format(
            c['run'], c['metric'], c['published'], c['best'], c['best_images'] / 1e6, reached, trend))
    return '\n'.join(lines) + '\n'


def gather_curves(points, definition, folder, header=None):
    """Writes the curves' table, JSON and figure into `folder` and prints the table; `points` are the
    kept counts: dicts of run, label, objective, seed, images, step and the scores."""
    published = published_of(points, definition['dataset'])
    comparisons = against_published(points, published)
    summary = {'header': header, 'dataset': definition['dataset'], 'images_millions': definition['images'],
               'points': points,
               'published': published, 'against_published': comparisons}
    write_table(folder, summary, curves_markdown(points, comparisons))
    if points:
        plot_curves(points, published, os.path.join(folder, CURVES_FIGURE))


def plot_curves(points, published, path):
    """One panel per metric: the metric against images seen (log scale), one line per run (colour: its
    setting; line style: its seed), and its objective's published figure as a dashed mark, starred at the
    images it took."""
    plt = figures.pyplot()
    import matplotlib.ticker
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
