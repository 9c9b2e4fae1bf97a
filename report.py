"""Writes the results pages from their JSON: every block between `<!-- results FILE.json VIEW -->` and
`<!-- /results -->` in README.md and docs/results/*.md is rendered anew from docs/results/FILE.json, with
the line that says where its figures come from (command, commit, date, machine).

    python report.py            # rewrites the blocks; running it twice changes nothing
    python report.py --check    # exit 1, naming the stale files, where a block differs from its JSON

VIEW is a table the JSON holds (its "tables": {name: {"columns": [...], "rows": [[...], ...]}}), or `study`,
`medians`, `carriers` or `curves` for what study.py's gather writes (results.json), or `overview` for several
gathers joined by '+' (`<!-- results a.json+b.json overview -->`): each objective's best setting on each dataset.

The prose around a block is the author's, and --check holds it to the JSON: every figure with a decimal point
outside the blocks must be a number that the page's JSON holds, at the digits printed (as is, or in
thousands, millions, percent, minutes or hours). A page's JSON is the files its blocks render and those named
by `<!-- figures FILE.json ... -->`; docs/results/published.json holds the figures quoted from papers, each
with its source. config.py's settings may be named too. Whole numbers (counts, steps, seeds) are not checked.
"""
import argparse
import collections
import glob
import json
import os
import re
import sys

import config
import scores

ROOT = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join('docs', 'results')
BLOCK = re.compile(r'(<!-- results (?P<file>\S+?\.json)(?: (?P<view>[\w-]+))? -->\n)(?P<body>.*?)(<!-- /results -->)',
                   re.S)
FIGURES = re.compile(r'<!-- figures (?P<files>[^>]*?) -->')
MIN_CORRELATION_RUNS = 8    # below it Spearman's rho takes too few values to mean anything (3 runs: 4 values)
UNITS = ('Scores have no unit; reconstruction is in nats per image, train min in minutes, M images in millions '
         'of images trained on.')


def provenance(header):
    """One line: where the figures come from. A header with json_kept false marks figures whose raw JSON
    was not kept: they are kept as the benchmark reported them, and say so."""
    machine = '{}, {} cores'.format(header['cpu'], header['cores']) if header.get('cpu') else 'machine not recorded'
    if header.get('cpu_flags'):
        machine += ' ({})'.format(', '.join(header['cpu_flags']))
    software = ', '.join('{} {}'.format(name, header[key]) for name, key in (('Python', 'python'),
                                                                              ('TensorFlow', 'tensorflow'))
                         if header.get(key))
    parts = ['commit {}'.format(header.get('commit') or 'unknown'), header.get('date') or 'date unknown', machine]
    parts += [software] if software else []
    line = ' · '.join(parts)
    if header.get('json_kept') is False:
        line = 'As reported, JSON not kept: ' + line
    command = header.get('command')
    return '*{}{}*'.format(line, ' · `{}`'.format(command) if command else '')


def cell(value):
    """Strings as written (a table kept from a report keeps its digits), floats as the study's tables
    write them."""
    if value is None:
        return '—'
    return number(value) if isinstance(value, float) else str(value)


def table_markdown(table):
    """A {"columns", "rows"} table as markdown; cells are written as given (strings keep their digits)."""
    lines = ['| ' + ' | '.join(table['columns']) + ' |', '|' + '---|' * len(table['columns'])]
    lines += ['| ' + ' | '.join(cell(value) for value in row) + ' |' for row in table['rows']]
    return '\n'.join(lines) + '\n'


def carriers(information, floor=0.05, share=0.5):
    """'dim 5: 0.45, dim 1: 0.30': the latent that carries most of a factor (its mutual information over
    the factor's entropy), and the next one where it carries at least `share` as much; '0.02 at best' where
    no latent carries `floor` of the factor."""
    ranked = sorted(range(len(information)), key=lambda j: -information[j])[:2]
    best = information[ranked[0]]
    if best < floor:
        return '{:.2f} at best'.format(best)
    return ', '.join('dim {}: {:.2f}'.format(j, information[j]) for j in ranked if information[j] >= share * best)


def carriers_table(result):
    """Which latents carry each factor, one row per run that wrote its factor_information."""
    runs = [r for r in result['runs'] if r.get('factor_information')]
    names = sorted(runs[0]['factor_information']) if runs else []
    return table_markdown({'columns': ['run'] + names,
                           'rows': [[r['run']] + [carriers(r['factor_information'][name]) for name in names]
                                    for r in runs]})


# ---- a study's tables (study.py's gather writes them too) ----


def scored_keys(rows):
    """The scores every row has, the metric table's in its order, then the reconstruction error: runs evaluated
    before a metric existed lack it."""
    return [key for key in scores.SHOWN_KEYS + ('reconstruction',) if rows and all(key in r for r in rows)]


def number(value, digits=3):
    """A score as the tables write it: fixed digits, '-' for none."""
    return '-' if value is None else '{:.{}f}'.format(value, digits)


def column_digits(values, fewest=3, most=6):
    """The fewest decimals, from `fewest`, at which a column's values differ wherever they differ at `most`."""
    values = [v for v in values if v is not None]
    distinct = len(set(round(v, most) for v in values))
    return next((d for d in range(fewest, most) if len(set(round(v, d) for v in values)) == distinct), most)


def millions(images):
    return '-' if images is None else '{:g}'.format(images / 1e6)


def setting_key(r):
    return tuple(sorted((name, text) for name, text in r['grid'].items() if name != 'seed'))


def at_top(group, value):
    """The names of the runs of `group` (rows) whose value(row) is the highest, within 1e-6: one name where a
    choice by that value can pick a run, more where it cannot."""
    best = max(value(r) for r in group)
    return [r['run'] for r in group if abs(value(r) - best) <= 1e-6]


def udr_ties(rows, group_of=setting_key):
    """The runs that share their group's top UDR with another run (a group: a setting, by default): UDR can
    not choose between them (two seeds always tie, for UDR is symmetric between two models)."""
    groups = {}
    for r in rows:
        if r.get('udr') is not None:
            groups.setdefault(group_of(r), []).append(r)
    tops = [at_top(group, lambda r: r['udr']) for group in groups.values()]
    return set(name for top in tops if len(top) > 1 for name in top)


def too_few(what, count):
    return '{}: — ({} runs; a rank correlation needs {})'.format(what, count, MIN_CORRELATION_RUNS)


def study_table(rows, selected, summary):
    """The study's table, the medians against the published figures, and what UDR chose."""
    keys = scored_keys(rows)
    places = {key: column_digits([r[key] for r in rows]) for key in keys}
    lines = ['| run | step | M images | train min | ' + ' | '.join(keys) + ' | active dims | UDR | selected |',
             '|---' * (len(keys) + 7) + '|']
    picked, tied = set(selected.values()), udr_ties(rows)
    for r in rows:
        lines.append('| {} | {} | {} | {:.1f} | {} | {} | {} | {} |'.format(
            r['run'], r['step'], millions(r.get('images')), r['train_minutes'],
            ' | '.join(number(r[key], places[key]) for key in keys), r['active_dims'], number(r['udr']),
            'tie' if r['run'] in tied else 'yes' if r['run'] in picked else ''))
    earlier = ['{} (commit {})'.format(r['run'], r['commit'] or 'unknown') for r in rows if 'commit' in r]
    if earlier:
        lines += ['', 'Kept from earlier gathers, with no UDR: ' + ', '.join(earlier) + '.']
    lines += [''] + medians_lines(summary, keys) + ['', UNITS]
    lines += correlations_of(rows, summary) + few_label_lines(summary.get('few_label_choice'), summary)
    budgets = [b for b, c in ((summary.get('few_label_choice') or {}).get('budgets') or {}).items()
               if c['selected_per_setting']]
    if picked - tied or budgets:
        metric = (summary.get('few_label_choice') or {}).get('metric')
        lines += ['', 'The runs each choice selected (mean) against the median run:', '',
                  '| metric | median run | UDR-selected |' + ''.join(' {} from {} labels |'.format(metric, b)
                                                              for b in budgets), '|---' * (3 + len(budgets)) + '|']
        for key, pair in summary['selected_against_median'].items():
            lines.append('| {} | {:.3f} | {} |{}'.format(key, pair['median'], number(pair['selected']), ''.join(
                ' {} |'.format(number(pair.get('labels_' + b))) for b in budgets)))
    return '\n'.join(lines) + '\n'


def few_label_lines(few, summary):
    """The choice from a few labels: each score's rank correlation, scored on the labelled set alone, with itself
    on the full sample, beside UDR's rank correlation with it; where enough runs have them."""
    if not few:
        return []
    lines = ['', 'Model choice from a few labels (by {}; Locatello et al. 2020):'.format(few['metric'])]
    budgets = list(few['budgets'])
    if few['runs'] < MIN_CORRELATION_RUNS:
        return lines + ['', too_few('Spearman rank correlation of the few-label scores with the full ones', few['runs'])]
    lines += ['', "Spearman's rank correlation with each score on the full sample, across {} runs:".format(few['runs']),
              '', '| score | UDR |' + ''.join(' {} labels |'.format(b) for b in budgets), '|---' * (2 + len(budgets)) + '|']
    udr = summary.get('rank_correlations') or {}
    for key in scores.FEW_LABEL_METRICS:
        if any(key in few['budgets'][b]['rank_correlation'] for b in budgets):
            lines.append('| {} | {} |{}'.format(key, number(udr.get(key), 2), ''.join(
                ' {} |'.format(number(few['budgets'][b]['rank_correlation'].get(key), 2)) for b in budgets)))
    return lines


def correlations_of(rows, summary):
    """UDR's rank correlation with each metric and the metrics' with each other, where enough runs have them."""
    lines = []
    with_udr = sum(r.get('udr') is not None for r in rows)
    if with_udr and with_udr < MIN_CORRELATION_RUNS:
        lines += ['', too_few('Spearman rank correlation of UDR with each metric', with_udr)]
    elif summary['rank_correlations']:
        lines += ['', 'Spearman rank correlation of UDR with each metric, across {} runs: '.format(with_udr) + ', '.join(
            '{} {}'.format(key, number(rho, 2)) for key, rho in summary['rank_correlations'].items())]
    if summary.get('metric_correlations') and len(rows) < MIN_CORRELATION_RUNS:
        lines += ['', too_few("Spearman's rank correlation of the scores with each other", len(rows))]
    elif summary.get('metric_correlations'):   # a study gathered before they were written has none
        lines += [''] + correlation_lines(summary['metric_correlations'], len(rows))
    return lines


def correlation_lines(correlations, count):
    """The metrics' rank correlations with each other, a markdown table."""
    keys = correlations['keys']
    lines = ["Spearman's rank correlation of the scores with each other, across {} runs:".format(count), '',
             '| | ' + ' | '.join(keys) + ' |', '|---' * (len(keys) + 1) + '|']
    for key, line in zip(keys, correlations['spearman']):
        lines.append('| {} | {} |'.format(key, ' | '.join(number(rho, 2) for rho in line)))
    return lines


def medians_lines(summary, keys=None):
    """The table of each setting's median over its seeds, with its objectives' published scores and the
    images each run trained on."""
    keys = keys or scored_keys(summary['runs'])
    places = {key: column_digits([m[key] for m in summary['medians'].values()]) for key in keys}
    lines = ['| setting | seeds | M images | ' + ' | '.join(keys) + ' |', '|---' * (len(keys) + 3) + '|']
    for name, m in summary['medians'].items():
        lines.append('| {} (median) | {} | {} | {} |'.format(name, m['seeds'], millions(m.get('images')), ' | '.join(
            number(m[key], places[key]) for key in keys)))
    for objective, p in summary['published'].items():
        lines.append('| {}, published: {} | | {} | {} |'.format(objective, p['source'], millions(p['images']),
                                                              ' | '.join(number(p['scores'].get(key), 2) for key in keys)))
    return lines


def curves_table(points, comparisons):
    keys = scored_keys(points)
    lines = ['| run | M images | step | ' + ' | '.join(keys) + ' |', '|---' * (len(keys) + 3) + '|']
    for p in points:
        lines.append('| {} | {:g} | {} | {} |'.format(p['run'], p['images'] / 1e6, p['step'],
                                                     ' | '.join(number(p[key]) for key in keys)))
    lines += ['', '| run | metric | published | best (M images) | first reached at | trend at the published '
                  'budget (per tenfold) |', '|---|---|---|---|---|---|']
    for c in comparisons:
        reached = 'not yet' if c['reached_images'] is None else '{:g} M'.format(c['reached_images'] / 1e6)
        trend = '-' if c['trend'] is None else '{:.3f} ({:+.3f})'.format(c['trend'], c['slope_per_decade'])
        lines.append('| {} | {} | {:.3f} | {:.3f} ({:g}) | {} | {} |'.format(
            c['run'], c['metric'], c['published'], c['best'], c['best_images'] / 1e6, reached, trend))
    return '\n'.join(lines) + '\n'


def summary_table(results):
    """One row per objective and dataset of the gathers: of its settings with the most seeds, the one with
    the best median MIG; then the published figures of the objectives that have them."""
    lines = ['| method | dataset | setting | seeds | M images | MIG | DCI | FactorVAE score |', '|---' * 8 + '|']
    published = []
    for result in results:
        best = collections.OrderedDict()
        for name, m in result['medians'].items():
            mine = best.get(m['objective'])
            if 'mig' in m and (mine is None or (m['seeds'], m['mig']) > (mine[1]['seeds'], mine[1]['mig'])):
                best[m['objective']] = (name, m)
        titles = result.get('titles', {})
        for objective, (name, m) in best.items():
            setting = ' '.join(word for word in name.split() if not word.startswith('objective=')) or 'defaults'
            lines.append('| {} | {} | {} | {} | {} | {} |'.format(
                titles.get(objective, objective), result['dataset'], setting, m['seeds'], millions(m.get('images')),
                ' | '.join(number(m[key]) for key in ('mig', 'dci', 'factor_vae'))))
        published += [(titles.get(objective, objective), result['dataset'], p)
                      for objective, p in result['published'].items()]
    for title, dataset, p in published:
        lines.append('| {}, published: {} | {} | | | {} | {} |'.format(title, p['source'], dataset, millions(p['images']),
                                                                     ' | '.join(number(p['scores'].get(key), 2)
                                                                                for key in ('mig', 'dci', 'factor_vae'))))
    return '\n'.join(lines + ['', 'Medians over the seeds; M images: millions of images each run trained on.']) + '\n'


def render(results, view):
    """The markdown of one block: the provenance line of each file, a blank line, then the view's table."""
    if view == 'overview':
        body = summary_table(results)
    elif len(results) > 1:
        raise KeyError('only the overview view joins files with +')
    else:
        body = view_of(results[0], view)
    return '\n\n'.join(provenance(result.get('header') or {}) for result in results) + '\n\n' + body


def view_of(result, view):
    if view == 'study':
        return study_table(result['runs'], result.get('selected_per_setting', {}), result)
    if view == 'medians':
        return '\n'.join(medians_lines(result) + ['', UNITS]) + '\n'
    if view == 'carriers':
        return carriers_table(result)
    if view == 'curves':
        return curves_table(result['points'], result['against_published'])
    tables = result.get('tables', {})
    if view not in tables:
        raise KeyError('no table {!r} (it has {})'.format(view, ', '.join(sorted(tables)) or 'none'))
    return table_markdown(tables[view])


def read_result(results_dir, name):
    with open(os.path.join(results_dir, name)) as f:
        return json.load(f)


def rendered(text, results_dir):
    """`text` with every results block rendered from the JSON in results_dir."""
    def replace(match):
        names = match.group('file').split('+')
        try:
            body = render([read_result(results_dir, name) for name in names], match.group('view') or 'main')
        except KeyError as error:
            raise SystemExit('error: {}: {}'.format(os.path.join(results_dir, match.group('file')), error.args[0]))
        return match.group(1) + body + match.group(5)
    return BLOCK.sub(replace, text)


# ---- the prose's figures against the JSON ----

DECIMAL = re.compile(r'(?<![\w.])\d[\d,]*\.\d+(?![\w.]*\d)')
CODE = (re.compile(r'```.*?```', re.S), re.compile(r'`[^`]*`'))
VERSIONS = (re.compile(r'\b(?:Python|TensorFlow|tensorflow|TF|numpy|scikit-learn|PyTorch|arXiv)[\s=<>≥≤]*\d+(?:\.\d+)*'),
            re.compile(r'\d+(?:\.\d+)+\+'))   # TensorFlow 2.16+
NOT_PROSE = (BLOCK,) + CODE + (re.compile(r'<!--.*?-->', re.S), re.compile(r'\]\([^)\s]*\)')) + VERSIONS
SCALES = (1, 1e-3, 1e-6, 1e-9, 100, 1 / 60.0, 1 / 3600.0)   # as is, thousands, millions, billions, %, min, h


def numbers_in(value):
    """Every number a JSON value holds, those written inside its strings too (a table's cells are strings)."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [n for item in value for n in numbers_in(item)]
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, (int, float)):
        return [abs(float(value))]
    return [float(text.replace(',', '')) for text in re.findall(r'\d[\d,]*(?:\.\d+)?', str(value))]


def settings_numbers():
    return numbers_in([value for name, value in sorted(vars(config).items())
                       if not name.startswith('_') and isinstance(value, (int, float, list, tuple, dict))])


def printed(numbers):
    """{decimals: the set of the numbers' texts at that many decimals, at every scale of SCALES}."""
    return {digits: {'{:.{}f}'.format(n * scale, digits) for n in numbers for scale in SCALES}
            for digits in range(1, 7)}


def prose_of(text):
    """The page with its blocks, code, comments and link targets blanked out, line numbers kept."""
    for pattern in NOT_PROSE:
        text = pattern.sub(lambda match: '\n' * match.group().count('\n'), text)
    return text


def sources_of(text):
    """The JSON a page's figures come from: its blocks' files, then those its `figures` lines name (outside code)."""
    names = [name for match in BLOCK.finditer(text) for name in match.group('file').split('+')]
    for pattern in CODE:
        text = pattern.sub('', text)
    return list(collections.OrderedDict.fromkeys(
        names + [name for match in FIGURES.finditer(text) for name in match.group('files').split()]))


def unbacked_figures(text, results_dir):
    """(the page's JSON files, [(line, figure)] for every figure with a decimal point in its prose that none
    of them holds)."""
    names = sources_of(text)
    known = printed(settings_numbers() + numbers_in([read_result(results_dir, name) for name in names]))
    prose = prose_of(text)
    found = []
    for match in DECIMAL.finditer(prose):
        figure = match.group().replace(',', '')
        if figure not in known[min(6, len(figure.split('.')[1]))]:
            found.append((prose.count('\n', 0, match.start()) + 1, match.group()))
    return names, found


def pages(root):
    """The README, the guides and the results pages."""
    return [os.path.join(root, 'README.md')] + sorted(glob.glob(os.path.join(root, 'docs', '*.md'))) + sorted(
        glob.glob(os.path.join(root, RESULTS, '*.md')))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--check', action='store_true', help='change nothing; exit 1 where a page is stale or its '
                        'prose quotes a figure that its JSON does not hold')
    parser.add_argument('--root', default=ROOT, help='the project folder (default: this one)')
    args = parser.parse_args(argv)
    stale = []
    for page in pages(args.root):
        if not os.path.isfile(page):
            continue
        with open(page, encoding='utf-8') as f:
            text = f.read()
        new = rendered(text, os.path.join(args.root, RESULTS))
        if new != text:
            stale.append(os.path.relpath(page, args.root))
            if not args.check:
                with open(page, 'w', encoding='utf-8') as f:
                    f.write(new)
    if args.check and stale:
        print('stale: {} (run python report.py)'.format(', '.join(stale)), file=sys.stderr)
        return 1
    if args.check and not figures_backed(args.root):
        return 1
    print('{}: {}'.format('checked' if args.check else 'rewrote', ', '.join(stale) or 'nothing to change'))
    return 0


def figures_backed(root):
    """Prints each figure of the pages' prose that their JSON does not hold; True where there is none."""
    backed = True
    for page in pages(root):
        if os.path.isfile(page):
            with open(page, encoding='utf-8') as f:
                try:
                    names, unbacked = unbacked_figures(f.read(), os.path.join(root, RESULTS))
                except OSError as error:
                    raise SystemExit('error: {} names results it can not read: {}'.format(page, error))
            for line, figure in unbacked:
                print('{}:{}: {} is in none of {}'.format(os.path.relpath(page, root), line, figure,
                                                         ', '.join(names + ['config.py'])), file=sys.stderr)
            backed = backed and not unbacked
    return backed


if __name__ == '__main__':
    sys.exit(main())
