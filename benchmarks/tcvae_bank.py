"""What does beta-TCVAE's bank estimate of q(z) cost? dSprites training steps, minibatch against bank sizes.

    python -m benchmarks.tcvae_bank                        # bank sizes 4096, 16384 (the default), 65536
    python -m benchmarks.tcvae_bank --sizes 16384 --seconds 20

Each variant's training step runs on a constant in-memory batch (no input pipeline), in turns
(minibatch, then each bank size, round after round), so load from elsewhere falls on all of them
alike. Prints ms per step and the ratio to the minibatch estimate; writes results/tcvae_bank.json.
"""
import argparse
import sys

from hardware import import_tensorflow

tf = import_tensorflow()

import settings  # noqa: E402
from benchmarks import harness, throughput  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=[4096, 16384, 65536], help='bank sizes K')
    parser.add_argument('--seconds', type=float, default=10.0, help='timing per variant and round')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--json', default=harness.default_path('tcvae_bank'))
    args = parser.parse_args(argv)
    variants = [('minibatch', [('tcvae_estimator', 'minibatch')])]
    variants += [('bank {}'.format(k), [('tcvae_estimator', 'bank'), ('tcvae_bank_size', str(k))]) for k in args.sizes]
    steps = {}
    for name, overrides in variants:
        cfg = settings.resolve('dsprites', [('objective', 'tcvae')] + overrides)
        steps[name] = throughput.open_step(cfg, lambda: throughput.constant_batch(cfg))[1]
    seconds = harness.alternate([name for name, _ in variants], args.rounds,
                                lambda name: harness.timed(steps[name], args.seconds))
    best = {name: min(times) for name, times in seconds.items()}     # the least disturbed round
    print('{:<14}{:>12}{:>14}'.format('estimator', 'ms / step', 'x minibatch'))
    for name, _ in variants:
        print('{:<14}{:>12.1f}{:>14.2f}'.format(name, 1000 * best[name], best[name] / best['minibatch']))
    harness.write_result({'batch_size': cfg.batch_size, 'latent_dim': cfg.latent_dim, 'seconds_per_step': seconds,
                          'best_ms_per_step': {name: 1000 * value for name, value in best.items()}}, args.json)
    return 0


if __name__ == '__main__':
    sys.exit(main())
