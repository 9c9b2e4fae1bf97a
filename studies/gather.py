"""Gathering a study with a step budget: each run's scores and cost in one row, the medians of each setting
against the published figures of its objective, the choices of a model without the full labels (studies.choice),
the metrics' rank correlations with each other; the table (rendered by report.py), the JSON and the figures.
Reads what the runs wrote (metrics.json, codes.npz, event files); trains nothing."""
import collections
import os

import numpy as np

import figures
import report
import scores
from common import SettingsError, read_json, write_json
from studies import choice, plots


TABLE_FILE = 'results.md'
RESULTS_FILE = 'results.json'
METRICS_FIGURE = 'metrics.png'    # each metric against the swept settings, one column per objective
UDR_FIGURE = 'udr_mig.png'        # UDR against MIG, each run a point
CORRELATION_FIGURE = 'correlations.png'   # the metrics' rank correlations with each other, across runs
DEFAULT_SELECT_BY = 'mig'   # the score the choice from a few labels ranks runs by (one of scores.FEW_LABEL_METRICS)


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
    for key in scores.SHOWN_KEYS + ('reconstruction', 'factor_information', 'few_labels'):
        if key in values:
            line[key] = values[key]
    return line


def metric_correlations(rows):
    """Locatello et al. 2019's view of how the scores agree (their figures 6 and 13): {'keys': the scores every
    run has, 'spearman': [[Spearman's rank correlation of key i with key j across the runs]]}; None below
    report.MIN_CORRELATION_RUNS runs. A score constant over the runs correlates with nothing (None)."""
    keys = [key for key in scores.SHOWN_KEYS if all(key in r for r in rows)]
    if len(rows) < report.MIN_CORRELATION_RUNS or len(keys) < 2:
        return None
    return {'keys': keys, 'spearman': [[choice.spearman([r[a] for r in rows], [r[b] for r in rows]) for b in keys]
                                       for a in keys]}


# ---- the study ----


def medians(rows):
    """{setting label: {metric: median over its seeds, 'seeds': how many, 'images': each run trained on (the
    median), 'objective': ...}}."""
    groups = collections.OrderedDict()
    for r in rows:
        groups.setdefault(choice.label((name, text) for name, text in r['grid'].items() if name != 'seed'), []).append(r)
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


def gather(finished, not_finished, definition, folder, header=None, kept=(), order=(), select_by=DEFAULT_SELECT_BY):
    """Writes the study's table, JSON and figures into `folder` and prints the table. `finished` is
    [(run, its metrics.json)], `not_finished` the names of the other runs, `kept` rows of earlier gathers,
    `order` every run's name in the study's order (default: as given, the kept rows last), `select_by` the
    score of scores.FEW_LABEL_METRICS that the choice from a few labels ranks runs by."""
    rows = collections.OrderedDict((run.name, row(run, values)) for run, values in finished)
    selected = choice.score_udr([run for run, _ in finished], rows)
    rows = sorted(list(rows.values()) + list(kept), key=lambda r: list(order).index(r['run']) if order else 0)
    has_factors = any('mig' in r for r in rows)
    few_labels = choice.few_label_choice(rows, select_by)
    summary = {'header': header, 'dataset': definition['dataset'], 'steps': definition['steps'], 'runs': rows,
               'medians': medians(rows), 'published': published_of(rows, definition['dataset']),
               'titles': titles_of(rows),
               'selected_per_setting': selected, 'selected_per_objective': choice.by_objective(rows),
               'rank_correlations': choice.rank_correlations(rows) if has_factors else {},
               'few_label_choice': few_labels, 'metric_correlations': metric_correlations(rows),
               'selected_against_median': choice.selected_against_median(rows, selected, few_labels),
               'not_finished': list(not_finished)}
    write_table(folder, summary, report.study_table(rows, selected, summary))
    if rows:
        plots.plot_metrics(rows, os.path.join(folder, METRICS_FIGURE))
        if has_factors and any(r['udr'] is not None for r in rows):
            plots.plot_udr_against_mig(rows, os.path.join(folder, UDR_FIGURE))
        if summary['metric_correlations']:
            plots.plot_correlations(summary['metric_correlations'], os.path.join(folder, CORRELATION_FIGURE))


