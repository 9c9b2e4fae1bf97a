"""What every benchmark shares: the result file with the header that says where its figures come from,
timing a function, and alternating rounds. What tests share with them is in `kit`.

A result is JSON: {"header": {command, commit, date, cpu, cores, python, tensorflow, ...}, ...figures}.
`python report.py` renders the kept ones in docs/results/ into the results pages.
"""
import os
import sys
import time

import common
import provenance

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---- where a result comes from ----

def header(argv=None):
    """Where a result comes from: the command (as run from the project's root), commit, date, machine."""
    argv = sys.argv if argv is None else argv
    module = os.path.splitext(os.path.relpath(os.path.abspath(argv[0]), ROOT))[0].replace(os.sep, '.')
    return provenance.result_header(' '.join(['python -m ' + module] + list(argv[1:])))


def write_result(figures, path):
    """Writes `figures` as JSON with the header first; prints where."""
    common.write_json(dict([('header', header())] + sorted(figures.items())), path)
    print('wrote {}'.format(path))


def default_path(name):
    return os.path.join('results', name + '.json')


# ---- timing ----

def timed(function, seconds):
    """Seconds per call of function(), over at least `seconds` (and 2 calls) after one warm-up call."""
    function()
    start, calls = time.time(), 0
    while calls < 2 or time.time() - start < seconds:
        function()
        calls += 1
    return (time.time() - start) / calls


def alternate(names, rounds, measure, reverse_odd=False):
    """{name: [figure per round]}: measure(name) for each name in turn, round after round, so that a slow
    spell of a shared machine falls on every variant alike. reverse_odd runs odd rounds backwards, for
    measurements that warm the machine for the next one."""
    figures = dict((name, []) for name in names)
    for round_index in range(max(1, rounds)):
        order = list(names)[::-1] if reverse_odd and round_index % 2 else list(names)
        for name in order:
            figures[name].append(measure(name))
    return figures
