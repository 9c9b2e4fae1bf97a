"""What glibc's handling of freed memory costs a dSprites training step: hardware.keep_freed_memory against
glibc's defaults (GLIBC_MALLOC_DEFAULTS=1), alternating, with the machine's page faults counted.

    python -m benchmarks.page_faults [--steps 600] [--rounds 2] [--json results/page_faults.json]

Each round trains a fresh float32 dSprites run with each setting and reads its images/s off the last
progress line; /proc/vmstat's pgfault over the run counts the page faults (of the whole machine, so
run it alone). Linux only.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from benchmarks import harness

VARIANTS = (('keep_freed_memory', '0'), ('glibc defaults', '1'))


def page_faults():
    with open('/proc/vmstat') as f:
        return next(int(line.split()[1]) for line in f if line.startswith('pgfault '))


def train(steps, defaults):
    """(images/s of the run's last progress line, page faults, seconds) of one fresh dSprites run."""
    folder = tempfile.mkdtemp()
    try:
        env = dict(os.environ, GLIBC_MALLOC_DEFAULTS=defaults)
        before, started = page_faults(), time.time()
        out = subprocess.run([sys.executable, harness.VAE, '--train', '--dataset', 'dsprites',
                              '--steps', str(steps), '--checkpoint_dir', os.path.join(folder, 'ck'),
                              '--results_dir', os.path.join(folder, 'res'), '--summary_dir', os.path.join(folder, 'sum')],
                             stdout=subprocess.PIPE, universal_newlines=True, env=env, check=True).stdout
        faults, seconds = page_faults() - before, time.time() - started
        rate = float(re.findall(r'\| ([\d.]+) img/s', out)[-1])
        return rate, faults, seconds
    finally:
        shutil.rmtree(folder)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--steps', type=int, default=600)
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--json', default=harness.default_path('page_faults'))
    args = parser.parse_args(argv)
    def measure(name):
        rate, faults, seconds = train(args.steps, dict(VARIANTS)[name])
        print('{:<18} {:>7.1f} img/s {:>12,} page faults ({:,.0f}/s)'.format(name, rate, faults, faults / seconds),
              flush=True)
        return {'images_per_second': rate, 'page_faults': faults, 'seconds': seconds}

    results = harness.alternate([name for name, _ in VARIANTS], args.rounds, measure, reverse_odd=True)
    print('\n{:<18}{:>12}{:>20}'.format('', 'img/s (best)', 'page faults / s'))
    for name, runs in results.items():
        best = max(runs, key=lambda r: r['images_per_second'])
        print('{:<18}{:>12.1f}{:>20,.0f}'.format(name, best['images_per_second'], best['page_faults'] / best['seconds']))
    harness.write_result({'steps': args.steps, 'runs': results}, args.json)
    return 0


if __name__ == '__main__':
    sys.exit(main())
