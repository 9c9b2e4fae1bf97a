"""Gathering a study with a step budget: each run's scores and cost in one row, the medians of each setting
against the published figures of its objective, UDR's choice of a model per setting (no labels), the rank
correlations of UDR with the metrics and of the metrics with each other; the table (rendered by report.py),
the JSON and the figures. Reads what the runs wrote (metrics.json, codes.npz, event files); trains nothing."""
import collections
import os
import warnings

import numpy as np

import figures
import report
import scores
import unsupervised
from common import SettingsError, read_json, write_json
from studies import plots


TABLE_FILE = 'results.md'
RESULTS_FILE = 'results.json'
METRICS_FIGURE = 'metrics.png'    # each metric against the swept settings, one column per objective
UDR_FIGURE = 'udr_mig.png'        # UDR against MIG, each run a point
CORRELATION_FIGURE = 'correlations.png'   # the metrics' rank correlations with each other, across runs


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
    line = {'run': run.name, 'grid': dict(run.grid), 'step': values['step'], 'images': values.get('images'), 'udr': None,
           'objective': values['config']['objective'], 'seed': values['config']['seed'],
           'active_dims': sum(kl >= values['config']['inactive_kl'] for kl in values['kl_per_dim']),
           'train_minutes': training_minutes(os.path.join(run.folder, 'summaries'))}
    for key in scores.SHOWN_KEYS + ('reconstruction', 'factor_information'):
        if key in values:
            line[key] = values[key]
    return line


def setting_of(run):
    """The run's grid values but its seed: runs that share it differ only in their seed."""
    return tuple(pair for pair in run.grid if pair[0] != 'seed')


def score_udr(runs, rows):
    """Sets each row's UDR against the finished runs of its setting (at least two, else None), and
    returns {setting label: the name of its run with the highest UDR} for the settings whose top UDR is
    one run's alone."""
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
        if not report.udr_ties([rows[run.name] for run in group]):
            selected[label(setting)] = group[int(np.argmax(udr_scores))].name
    return selected


def label(setting):
    """'objective=tcvae tcvae_beta=6': a setting's grid values, seed left out."""
    return ' '.join('{}={}'.format(name, text) for name, text in setting) or 'defaults'


def by_objective(rows):
    """{objective: the name of its run with the highest UDR}, for the objectives whose top UDR is one run's alone."""
    best = {}
    for r in rows:
        if r['udr'] is not None and (r['objective'] not in best or r['udr'] > best[r['objective']]['udr']):
            best[r['objective']] = r
    tied = report.udr_ties(rows, group_of=lambda r: r['objective'])
    return {objective: r['run'] for objective, r in best.items() if r['run'] not in tied}


def rank_correlations(rows):
    """{metric: Spearman's rank correlation of UDR with it across the runs that have a UDR}; empty below
    report.MIN_CORRELATION_RUNS of them."""
    from scipy.stats import spearmanr
    scored = [r for r in rows if r['udr'] is not None]
    correlations = {}
    for key in scores.SHOWN_KEYS:
        if len(scored) >= report.MIN_CORRELATION_RUNS and all(key in r for r in scored):
            rho = spearmanr([r['udr'] for r in scored], [r[key] for r in scored])[0]
            correlations[key] = None if np.isnan(rho) else float(rho)
    return correlations


def metric_correlations(rows):
    """Locatello et al. 2019's view of how the scores agree (their figures 6 and 13): {'keys': the scores every
    run has, 'spearman': [[Spearman's rank correlation of key i with key j across the runs]]}; None below
    report.MIN_CORRELATION_RUNS runs. A score constant over the runs correlates with nothing (None)."""
    from scipy.stats import spearmanr
    keys = [key for key in scores.SHOWN_KEYS if all(key in r for r in rows)]
    if len(rows) < report.MIN_CORRELATION_RUNS or len(keys) < 2:
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


def selected_against_median(rows, selected):
    """{metric: {'median': over every run, 'selected': mean of the runs UDR selected per setting}}."""
    chosen = [r for r in rows if r['run'] in set(selected.values())]
    return {key: {'median': float(np.median([r[key] for r in rows])),
                  'selected': float(np.mean([r[key] for r in chosen])) if chosen else None}
            for key in scores.SHOWN_KEYS + ('reconstruction',) if rows and all(key in r for r in rows)}


# ---- the study ----


def medians(rows):
    """{setting label: {metric: median over its seeds, 'seeds': how many, 'images': each run trained on (the
    median), 'objective': ...}}."""
    groups = collections.OrderedDict()
    for r in rows:
        groups.setdefault(label((name, text) for name, text in r['grid'].items() if name != 'seed'), []).append(r)
    keys = report.scored_keys(rows)
    return collections.OrderedDict(
        (name, dict({key: float(np.median([r[key] for r in group])) for key in keys},
                    seeds=len(group), objective=group[0]['objective'], images=median_images(group)))
        for name, group in groups.items())


def median_images(group):
    """The median of the images the runs trained on; None where a row kept from an older gather lacks them."""
    counts = [r.get('images') for r in group]
    return None if None in counts else float(np.median(counts))


def titles_of(rows):
    """{objective: the method's name in its paper}, for the study's objectives."""
    import objectives
    return collections.OrderedDict((r['objective'], objectives.OBJECTIVES[r['objective']].title) for r in rows
                                   if r['objective'] in objectives.OBJECTIVES)


def published_of(rows, dataset):
    """{objective: {'source', 'images', 'scores'}} for the study's objectives that have published figures."""
    found = collections.OrderedDict()
    for objective in collections.OrderedDict((r['objective'], None) for r in rows):
        published = published_scores(objective, dataset)
        if published is not None:
            found[objective] = published._asdict()
    return found


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
               'titles': titles_of(rows),
               'selected_per_setting': selected, 'selected_per_objective': by_objective(rows),
               'rank_correlations': rank_correlations(rows) if has_factors else {},
               'metric_correlations': metric_correlations(rows),
               'selected_against_median': selected_against_median(rows, selected),
               'not_finished': list(not_finished)}
    write_table(folder, summary, report.study_table(rows, selected, summary))
    if rows:
        plots.plot_metrics(rows, os.path.join(folder, METRICS_FIGURE))
        if has_factors and any(r['udr'] is not None for r in rows):
            plots.plot_udr_against_mig(rows, os.path.join(folder, UDR_FIGURE))
        if summary['metric_correlations']:
            plots.plot_correlations(summary['metric_correlations'], os.path.join(folder, CORRELATION_FIGURE))


