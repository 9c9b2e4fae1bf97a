"""Writes the results pages from their JSON: every block between `<!-- results FILE.json VIEW -->` and
`<!-- /results -->` in README.md and docs/results/*.md is rendered anew from docs/results/FILE.json, with
the line that says where its figures come from (command, commit, date, machine).

    python report.py            # rewrites the blocks; running it twice changes nothing
    python report.py --check    # exit 1, naming the stale files, where a block differs from its JSON

VIEW is a table the JSON holds (its "tables": {name: {"columns": [...], "rows": [[...], ...]}}), or `study`,
`medians`, `carriers` or `curves` for what study.py's gather writes (results.json). The prose around a block is
the author's.
"""
import argparse
import glob
import json
import os
import re
import sys

import scores

ROOT = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join('docs', 'results')
BLOCK = re.compile(r'(<!-- results (?P<file>\S+?\.json)(?: (?P<view>[\w-]+))? -->\n)(?P<body>.*?)(<!-- /results -->)',
                   re.S)


def provenance(header):
    """One line: where the figures come from. A header with json_kept false marks figures reported at an
    earlier commit whose JSON was not kept: they are kept as reported, and say so."""
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
        line = 'From an earlier commit, JSON not kept: ' + line
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


def study_table(rows, selected, summary):
    """The study's table, the medians against the published figures, and what UDR chose."""
    keys = scored_keys(rows)
    lines = ['| run | step | train min | ' + ' | '.join(keys) + ' | active dims | UDR | selected |',
             '|---' * (len(keys) + 6) + '|']
    picked = set(selected.values())
    for r in rows:
        lines.append('| {} | {} | {:.1f} | {} | {} | {} | {} |'.format(
            r['run'], r['step'], r['train_minutes'], ' | '.join(number(r[key]) for key in keys),
            r['active_dims'], number(r['udr']), 'yes' if r['run'] in picked else ''))
    earlier = ['{} (commit {})'.format(r['run'], r['commit'] or 'unknown') for r in rows if 'commit' in r]
    if earlier:
        lines += ['', 'Kept from earlier gathers, with no UDR: ' + ', '.join(earlier) + '.']
    lines += [''] + medians_lines(summary, keys)
    if summary['rank_correlations']:
        lines += ['', 'Spearman rank correlation of UDR with each metric, across runs: ' + ', '.join(
            '{} {}'.format(key, number(rho, 2)) for key, rho in summary['rank_correlations'].items())]
    if summary.get('metric_correlations'):   # a study gathered before they were written has none
        lines += [''] + correlation_lines(summary['metric_correlations'])
    if selected:
        lines += ['', 'UDR-selected runs (mean) against the median run:', '',
                  '| metric | median run | UDR-selected |', '|---|---|---|']
        for key, pair in summary['selected_against_median'].items():
            lines.append('| {} | {:.3f} | {} |'.format(key, pair['median'], number(pair['selected'])))
    return '\n'.join(lines) + '\n'


def correlation_lines(correlations):
    """The metrics' rank correlations with each other, a markdown table."""
    keys = correlations['keys']
    lines = ["Spearman's rank correlation of the scores with each other, across runs:", '',
             '| | ' + ' | '.join(keys) + ' |', '|---' * (len(keys) + 1) + '|']
    for key, line in zip(keys, correlations['spearman']):
        lines.append('| {} | {} |'.format(key, ' | '.join(number(rho, 2) for rho in line)))
    return lines


def medians_lines(summary, keys=None):
    """The table of each setting's median over its seeds, with its objectives' published scores."""
    keys = keys or scored_keys(summary['runs'])
    lines = ['| setting | seeds | ' + ' | '.join(keys) + ' |', '|---' * (len(keys) + 2) + '|']
    for name, m in summary['medians'].items():
        lines.append('| {} (median) | {} | {} |'.format(name, m['seeds'], ' | '.join(number(m[key]) for key in keys)))
    for objective, p in summary['published'].items():
        lines.append('| {}, published: {} | | {} |'.format(objective, p['source'], ' | '.join(
            number(p['scores'].get(key), 2) for key in keys)))
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


def render(result, view):
    """The markdown of one block: the provenance line, a blank line, then the view's table."""
    if view == 'study':
        selected = result.get('selected_per_setting', {})
        body = study_table(result['runs'], selected, result)
    elif view == 'medians':
        body = '\n'.join(medians_lines(result)) + '\n'
    elif view == 'carriers':
        body = carriers_table(result)
    elif view == 'curves':
        body = curves_table(result['points'], result['against_published'])
    else:
        tables = result.get('tables', {})
        if view not in tables:
            raise KeyError('no table {!r} (it has {})'.format(view, ', '.join(sorted(tables)) or 'none'))
        body = table_markdown(tables[view])
    return provenance(result.get('header') or {}) + '\n\n' + body


def rendered(text, results_dir):
    """`text` with every results block rendered from the JSON in results_dir."""
    def replace(match):
        path = os.path.join(results_dir, match.group('file'))
        with open(path) as f:
            result = json.load(f)
        try:
            body = render(result, match.group('view') or 'main')
        except KeyError as error:
            raise SystemExit('error: {}: {}'.format(path, error.args[0]))
        return match.group(1) + body + match.group(5)
    return BLOCK.sub(replace, text)


def pages(root):
    return [os.path.join(root, 'README.md')] + sorted(glob.glob(os.path.join(root, RESULTS, '*.md')))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--check', action='store_true', help='change nothing; exit 1 where a page is stale')
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
    print('{}: {}'.format('checked' if args.check else 'rewrote', ', '.join(stale) or 'nothing to change'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
