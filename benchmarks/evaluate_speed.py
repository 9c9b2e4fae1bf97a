"""How long `--evaluate` takes with every metric, metric by metric: a trained checkpoint scored at the study's
full sample sizes, run as a user runs it (a process of its own), so the wall time includes start-up.

    python -m benchmarks.evaluate_speed --checkpoint_dir RUN/checkpoints [--dataset dsprites] [--json PATH]

The per-metric seconds are the ones --evaluate records in metrics.json ('seconds'): 'samples' is drawing and
encoding the samples the metrics share, 'classifiers' fitting DCI's and the downstream task's classifiers in
one parallel pass, each metric the rest of its own time. Run it on an idle machine.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import config
from benchmarks import harness
from kit import runs

TARGET_SECONDS = 360.0     # every metric on dSprites within 6 minutes on a 2-core CPU


def evaluate_once(checkpoint_dir, dataset, metrics):
    """(wall seconds of the whole command, metrics.json) of one --evaluate of the checkpoint."""
    with tempfile.TemporaryDirectory() as scratch:
        command = [sys.executable, runs.VAE, '--evaluate', '--dataset', dataset, '--checkpoint_dir', checkpoint_dir,
                   '--results_dir', os.path.join(scratch, 'results'), '--summary_dir', os.path.join(scratch, 'sum'),
                   '--eval_metrics', ','.join(metrics)]
        start = time.time()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall = time.time() - start
        with open(os.path.join(scratch, 'results', 'metrics.json')) as f:
            return wall, json.load(f)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--checkpoint_dir', required=True, help='a trained run\'s checkpoints')
    parser.add_argument('--dataset', default='dsprites')
    parser.add_argument('--json', default=harness.default_path('evaluate_speed'))
    args = parser.parse_args(argv)
    metrics = list(config.eval_metrics)
    wall, result = evaluate_once(args.checkpoint_dir, args.dataset, metrics)
    seconds = result['seconds']
    print('--evaluate on {} at step {}: {:.0f} s in all (target {:.0f} s)'.format(args.dataset, result['step'], wall,
                                                                                 TARGET_SECONDS))
    for name, value in sorted(seconds.items(), key=lambda item: -item[1]):
        print('  {:<14} {:7.1f} s'.format(name, value))
    table = [[name, '{:.1f}'.format(value)] for name, value in sorted(seconds.items(), key=lambda item: -item[1])]
    table.append(['whole command (start-up, restore, writing included)', '{:.1f}'.format(wall)])
    harness.write_result({'dataset': args.dataset, 'step': result['step'], 'metrics': metrics, 'wall_seconds': wall,
                          'metric_seconds': seconds, 'target_seconds': TARGET_SECONDS,
                          'tables': {'evaluate_speed': {'columns': ['part', 'seconds'], 'rows': table}}}, args.json)
    return 0


if __name__ == '__main__':
    sys.exit(main())
