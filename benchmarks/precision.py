"""Does reduced precision keep the dSprites loss within the noise of float32?

    python -m benchmarks.precision [--precision bfloat16] [--seeds 3] [--steps 1500] [--json ...]

Trains the dSprites model once per seed in float32 and once per seed in the reduced precision
(each seed its own initial weights and data order), takes each run's mean loss over its last third,
and compares the two precisions' means against their seed-to-seed spread. About 11 minutes on a
2-core CPU with TensorFlow 2.x; prints a table and writes JSON.
"""
import argparse
import os
import shutil
import tempfile

from hardware import import_tensorflow

tf = import_tensorflow()

import numpy as np  # noqa: E402


import figures  # noqa: E402
import settings  # noqa: E402
import vae  # noqa: E402
from benchmarks import harness  # noqa: E402
from kit import runs  # noqa: E402


def final_loss(cfg, steps):
    """Mean of the run's logged total loss over its last third of steps."""
    vae.train(cfg, steps)
    logged_steps, losses = figures.read_scalars(cfg.summary_dir)['loss/total']
    return float(losses[logged_steps > steps * 2 // 3].mean())


def within_noise(reference, candidate, z=2.0):
    """Compares two sets of per-seed losses: (difference of means, its standard error, whether the
    difference is within z standard errors, i.e. not distinguishable from seed-to-seed noise)."""
    reference, candidate = np.asarray(reference, np.float64), np.asarray(candidate, np.float64)
    difference = candidate.mean() - reference.mean()
    standard_error = np.sqrt(reference.var(ddof=1) / len(reference) + candidate.var(ddof=1) / len(candidate))
    return float(difference), float(standard_error), bool(abs(difference) <= z * standard_error)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--precision', default='bfloat16', choices=['bfloat16', 'float16'])
    parser.add_argument('--seeds', type=int, default=3, help='runs per precision (>= 2)')
    parser.add_argument('--steps', type=int, default=1500, help='training steps per run (a multiple of 50)')
    parser.add_argument('--json', default=harness.default_path('precision'))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='beta_vae_precision_')
    losses = {'float32': [], args.precision: []}
    try:
        for seed in range(max(2, args.seeds)):
            for precision in losses:
                run_dir = os.path.join(work, '{}_{}'.format(precision, seed))
                cfg = settings.resolve('dsprites', [('precision', precision), ('seed', str(seed))]
                                       + runs.run_folders(run_dir))
                losses[precision].append(final_loss(cfg, args.steps))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    difference, standard_error, ok = within_noise(losses['float32'], losses[args.precision])
    print('dSprites loss over the last third of {} steps, per seed:'.format(args.steps))
    for precision, values in losses.items():
        print('{:<9} {}  mean {:.5f} ± {:.5f} (seed std)'.format(
            precision, ' '.join('{:.5f}'.format(v) for v in values), np.mean(values), np.std(values, ddof=1)))
    print('{} - float32 = {:+.5f} ± {:.5f} (standard error): {}'.format(
        args.precision, difference, standard_error, 'within noise' if ok else 'NOT within noise (> 2 s.e.)'))
    rows = [[precision, ' '.join('{:.5f}'.format(v) for v in values),
             '{:.5f} ± {:.5f}'.format(np.mean(values), np.std(values, ddof=1))] for precision, values in losses.items()]
    rows.append(['{} − float32'.format(args.precision), '', '{:+.5f} ± {:.5f} (s.e.): {}'.format(
        difference, standard_error, 'within noise' if ok else 'not within noise')])
    table = {'columns': ['precision', 'loss per seed (last third of {} steps)'.format(args.steps),
                         'mean ± seed std'], 'rows': rows}
    harness.write_result({'steps': args.steps, 'losses': losses, 'difference': difference,
                          'standard_error': standard_error, 'within_noise': ok, 'tables': {'main': table}},
                         args.json)


if __name__ == '__main__':
    main()
