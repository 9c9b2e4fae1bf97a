"""The training loop against its bare graph and the PyTorch twin, alternated in rounds.

`throughput` takes each model's three figures once, minutes apart, and on a small machine the same
measurement drifts by several percent from one minute to the next. Here every round measures the bare op
on a constant batch, the real `vae.py --train` loop (its steady state, from its own summaries) and the
PyTorch twin back to back, odd rounds in the reverse order, and the verdict is the median of the rounds'
ratios, so it never rests on one draw.

    python -m benchmarks.loop_rounds [--models dsprites celeba] [--precision float32] [--rounds 3]
"""
import argparse
import os
import shutil
import sys
import tempfile

import numpy as np

from benchmarks import harness, throughput

BARE_SECONDS = 15.0
# (seconds of the loop's measured window, first step of it: past the warm-up) per model.
LOOP = {'dsprites': (40.0, 100), 'celeba': (20.0, 2)}
TORCH_SECONDS = 20.0
RATIOS = (('loop/bare', 'loop', 'bare'), ('loop/PyTorch', 'loop', 'torch'), ('bare/PyTorch', 'bare', 'torch'))


def model_rounds(cfg_of, name, rounds, torch):
    """{'bare' | 'loop' | 'torch': [img/s per round]} of one model; cfg_of(round) gives fresh output folders,
    since a second loop in the same folders would resume the first."""
    seconds, first = LOOP[name]
    done, steps = {}, []

    def measure(kind):
        cfg = cfg_of(done.get(kind, 0))
        done[kind] = done.get(kind, 0) + 1
        if kind == 'bare':
            return throughput.bare_training_rate(cfg, BARE_SECONDS)
        if kind == 'torch':
            return throughput.torch_rate(cfg, torch, TORCH_SECONDS)[0]
        if not steps:    # one window for every round, sized from a first bare figure
            steps.append(throughput.loop_steps(cfg, throughput.bare_training_rate(cfg, 5.0), seconds, first))
        return throughput.real_loop_rate(cfg, steps[0], first)[0]

    return harness.alternate(('bare', 'loop', 'torch') if torch else ('bare', 'loop'), rounds, measure,
                             reverse_odd=True)


def ratios(rates):
    """{ratio name: [per round]} of the kinds both measured."""
    return dict((label, [a / b for a, b in zip(rates[top], rates[bottom])]) for label, top, bottom in RATIOS
                if top in rates and bottom in rates)


def table(report):
    columns = ['model', 'round', 'bare img/s', 'loop img/s', 'PyTorch img/s'] + [label for label, _, _ in RATIOS]
    rows = []
    for name, m in sorted(report['models'].items()):
        rates, shares = m['rates'], m['ratios']
        count = len(rates['bare'])
        for r in range(count):
            rows.append([name, str(r + 1)] + ['{:.1f}'.format(rates[k][r]) if k in rates else '—'
                                             for k in ('bare', 'loop', 'torch')] +
                        ['{:.1%}'.format(shares[label][r]) if label in shares else '—' for label, _, _ in RATIOS])
        rows.append(['**' + name + '**', '**median**'] +
                    ['**{:.1f}**'.format(np.median(rates[k])) if k in rates else '—' for k in ('bare', 'loop', 'torch')] +
                    ['**{:.1%}**'.format(np.median(shares[label])) if label in shares else '—'
                     for label, _, _ in RATIOS])
    return {'columns': columns, 'rows': rows}


def run(work, models, precision, rounds, torch):
    report = {'models': {}}
    folder = os.path.join(work, 'CelebA', 'img_align_celeba')
    if 'celeba' in models:
        harness.write_celeba_folder(folder, 512)
    for name in models:
        extra = throughput.celeba_overrides(folder) if name == 'celeba' else []
        rates = model_rounds(lambda r: throughput.resolved_in(os.path.join(work, 'round{}'.format(r)))(
            name, precision, *extra), name, rounds, torch)
        report['models']['{} {}'.format(name, precision)] = {'rates': rates, 'ratios': ratios(rates)}
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--models', nargs='+', choices=sorted(LOOP), default=['dsprites', 'celeba'])
    parser.add_argument('--precision', choices=['float32', 'bfloat16'], default='float32')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--json', default=harness.default_path('loop_rounds'))
    parser.add_argument('--torch_python', help='an interpreter with PyTorch (default: .torch-venv/, made on demand)')
    parser.add_argument('--no_torch', action='store_true', help='leave out the PyTorch twin')
    args = parser.parse_args()
    if args.rounds < 1:
        sys.exit('--rounds {}: give at least 1'.format(args.rounds))
    torch = None if args.no_torch else throughput.torch_python(args.torch_python)
    work = tempfile.mkdtemp(prefix='beta_vae_rounds_')
    try:
        report = run(work, args.models, args.precision, args.rounds, torch)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report['tables'] = {'rounds': table(report)}
    for row in report['tables']['rounds']['rows']:
        print(' | '.join(str(cell).replace('*', '') for cell in row))
    harness.write_result(report, args.json)


if __name__ == '__main__':
    main()
