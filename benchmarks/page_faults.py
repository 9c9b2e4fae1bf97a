"""What glibc's handling of freed memory costs a dSprites training step: hardware.keep_freed_memory against
glibc's defaults (GLIBC_MALLOC_DEFAULTS=1), alternating, with the machine's page faults counted.

    python benchmarks/page_faults.py [--steps 600] [--rounds 2] [--json results/page_faults.json]

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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import common  # noqa: E402

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
        out = subprocess.run([sys.executable, os.path.join(ROOT, 'vae.py'), '--train', '--dataset', 'dsprites',
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
    parser.add_argument('--json', default=os.path.join('results', 'page_faults.json'))
    args = parser.parse_args(argv)
    results = {name: [] for name, _ in VARIANTS}
    for round_number in range(args.rounds):
        for name, defaults in VARIANTS if round_number % 2 == 0 else VARIANTS[::-1]:
            rate, faults, seconds = train(args.steps, defaults)
            results[name].append({'images_per_second': rate, 'page_faults': faults, 'seconds': seconds})
            print('round {} {:<18} {:>7.1f} img/s {:>12,} page faults ({:,.0f}/s)'.format(
                round_number + 1, name, rate, faults, faults / seconds), flush=True)
    print('\n{:<18}{:>12}{:>20}'.format('', 'img/s (best)', 'page faults / s'))
    for name, runs in results.items():
        best = max(runs, key=lambda r: r['images_per_second'])
        print('{:<18}{:>12.1f}{:>20,.0f}'.format(name, best['images_per_second'], best['page_faults'] / best['seconds']))
    common.write_json({'steps': args.steps, 'runs': results}, args.json)
    print('wrote {}'.format(args.json))
    return 0


if __name__ == '__main__':
    sys.exit(main())
