"""Choosing a model without the full labels, as a study's gather reports it: UDR's choice per setting (no labels;
Duan et al. 2020), the choice from a few labels (a metric scored on a small labelled set alone; Locatello et al.
2020, "Disentangling Factors of Variation Using Few Labels", section 3), how each ranks the runs against the
metrics on the full sample, and how the runs each chooses score against the median run."""
import collections
import os
import warnings

import numpy as np

import report
import scores
import unsupervised


def setting_of(run):
    """The run's grid values but its seed: runs that share it differ only in their seed."""
    return tuple(pair for pair in run.grid if pair[0] != 'seed')


def label(setting):
    """'objective=tcvae tcvae_beta=6': a setting's grid values, seed left out."""
    return ' '.join('{}={}'.format(name, text) for name, text in setting) or 'defaults'


def spearman(a, b):
    """Spearman's rank correlation of two sequences; None where either is constant."""
    from scipy.stats import spearmanr
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')   # scipy warns of a constant input, which is None here
        rho = spearmanr(a, b)[0]
    return None if np.isnan(rho) else float(rho)


# ---- UDR: no labels ----


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
    scored = [r for r in rows if r['udr'] is not None]
    if len(scored) < report.MIN_CORRELATION_RUNS:
        return {}
    return {key: spearman([r['udr'] for r in scored], [r[key] for r in scored])
            for key in scores.SHOWN_KEYS if all(key in r for r in scored)}


# ---- a few labels ----


def few_label_budgets(rows):
    """The label budgets (as metrics.json keys them: '100') that every run with few-label scores has, smallest first."""
    labelled = [set(r['few_labels']) for r in rows if r.get('few_labels')]
    return sorted(set.intersection(*labelled), key=int) if labelled else []


def few_label_choice(rows, metric):
    """The choice from a few labels, or None where no run has few-label scores: {'metric': the score that chooses,
    'runs': how many runs have them, 'budgets': {budget: {'rank_correlation': {score: Spearman's rank correlation
    of its few-label value with its value on the full sample} (empty below report.MIN_CORRELATION_RUNS runs),
    'selected_per_setting': {setting label: the run whose few-label `metric` is highest, where one run's alone, of
    the settings with two runs or more}}}}."""
    budgets = few_label_budgets(rows)
    if not budgets:
        return None
    labelled = [r for r in rows if r.get('few_labels')]
    found = collections.OrderedDict()
    for budget in budgets:
        correlations = {key: spearman([r['few_labels'][budget][key] for r in labelled], [r[key] for r in labelled])
                        for key in scores.FEW_LABEL_METRICS if all(key in r for r in labelled)}
        groups = collections.OrderedDict()
        for r in labelled:
            groups.setdefault(label((name, text) for name, text in r['grid'].items() if name != 'seed'), []).append(r)
        tops = {name: report.at_top(group, lambda r: r['few_labels'][budget][metric]) for name, group in groups.items()
                if len(group) >= 2}   # as UDR's: a setting of one finished run offers no choice
        found[budget] = {'rank_correlation': correlations if len(labelled) >= report.MIN_CORRELATION_RUNS else {},
                         'selected_per_setting': collections.OrderedDict(
                             (name, top[0]) for name, top in tops.items() if len(top) == 1)}
    return {'metric': metric, 'runs': len(labelled), 'budgets': found}


def selected_against_median(rows, selected, few_labels=None):
    """{metric: {'median': over every run, 'selected': mean of the runs UDR selected per setting, and for each
    budget of the few-label choice 'labels_BUDGET': mean of the runs it selected per setting}}."""
    choices = [('selected', selected)] + [('labels_' + budget, choice['selected_per_setting'])
                                          for budget, choice in ((few_labels or {}).get('budgets') or {}).items()]
    summary = {}
    for key in scores.SHOWN_KEYS + ('reconstruction',):
        if rows and all(key in r for r in rows):
            summary[key] = {'median': float(np.median([r[key] for r in rows]))}
            for name, chosen in choices:
                picked = [r[key] for r in rows if r['run'] in set(chosen.values())]
                summary[key][name] = float(np.mean(picked)) if picked else None
    return summary
