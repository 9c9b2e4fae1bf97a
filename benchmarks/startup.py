"""How long full-size CelebA commands take to start: a folder of 202,599 aligned-CelebA-sized JPEGs, warm and
cold page cache, CelebA's layout and the same files as `--dataset folder`.

    python -m benchmarks.startup [--root /tmp/startup] [--json results/startup.json]   # as root, for cold

It makes the folder once (img_align_celeba/ with list_eval_partition.txt and list_attr_celeba.txt beside
it, about 1.5 GB; re-runs reuse it), trains a --batch_size 8 checkpoint of each dataset for one step
(the first --train, which checks every file), then times each command from its start to the moment it
is ready: --train to the progress line of its first step, --generate and --traverse to their exit. Each is
timed --repeat times (3) and the median reported, with the range: on a shared VM one cold start can be
seconds off the next.
"Cold" drops the page cache first (`echo 3 > /proc/sys/vm/drop_caches`, root only), as after a reboot
or on a network filesystem: TensorFlow's own files are read again too.
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np

from studies import grid
from benchmarks import harness
from kit import standins
from kit import runs

NUM_IMAGES = 202599                       # CelebA's aligned images
PARTITIONS = (162770, 19867, 19962)       # list_eval_partition.txt: train, validation, test
VARIANTS = 97                             # distinct JPEGs, repeated: the file system sees 202,599 files
TARGETS = {'celeba --generate, cold': 12.0, 'celeba --train resumed, cold': 20.0,
           'folder --generate, cold': 12.0, 'folder --train resumed, cold': 20.0}


def make_folder(root):
    """root/img_align_celeba/000001.jpg ... 202599.jpg (218 x 178), and CelebA's two list files beside
    it. Kept when already complete."""
    images = os.path.join(root, 'img_align_celeba')
    done = os.path.join(root, 'complete')
    if os.path.isfile(done):
        return images
    names = standins.write_celeba_folder(images, NUM_IMAGES, distinct=VARIANTS)
    bounds = np.cumsum(PARTITIONS)
    with open(os.path.join(root, 'list_eval_partition.txt'), 'w') as f:
        f.writelines('{} {}\n'.format(name, int(np.searchsorted(bounds, k, side='right')))
                     for k, name in enumerate(names))
    attributes = ['Attribute{}'.format(a) for a in range(40)]
    signs = np.random.RandomState(0).choice(['-1', ' 1'], size=(NUM_IMAGES, 40))
    with open(os.path.join(root, 'list_attr_celeba.txt'), 'w') as f:
        f.write('{}\n{}\n'.format(NUM_IMAGES, ' '.join(attributes)))
        f.writelines('{} {}\n'.format(name, ' '.join(row)) for name, row in zip(names, signs))
    open(done, 'w').close()
    return images


def drop_caches():
    """Empties the page cache; False where that is not allowed (not root)."""
    try:
        subprocess.run(['sync'], check=True)
        with open('/proc/sys/vm/drop_caches', 'w') as f:
            f.write('3\n')
        return True
    except OSError:
        return False


def seconds_until(args, ready=None):
    """Seconds from starting `python vae.py ARGS` until it prints a line containing `ready`, or until it
    exits when `ready` is None; the command is always run to its end."""
    started = time.time()
    process = subprocess.Popen([sys.executable, runs.VAE] + args, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, universal_newlines=True)
    at, output = None, []
    for line in process.stdout:
        output.append(line)
        if at is None and ready is not None and ready in line:
            at = time.time() - started
    if process.wait() != 0:
        raise RuntimeError('vae.py {} failed:\n{}'.format(' '.join(args), ''.join(output[-20:])))
    return at if ready is not None else time.time() - started


def measure(dataset, images, run, cold, repeat):
    """{command: [seconds, ...]} of one dataset's commands, each timed `repeat` times (--traverse once), on
    a checkpoint this makes with the first --train."""
    args = ['--dataset', dataset, '--data_dir_path', images, '--batch_size', '8'] + runs.folder_flags(run)

    def train():
        """Seconds until --train, resumed from the latest checkpoint, has done its first step. It is run
        to two steps, so that its first is an ordinary step, not the last one with its end-of-run pictures."""
        first = grid.latest_step(os.path.join(run, 'ck')) + 1
        return seconds_until(['--train', '--steps', str(first + 1)] + args, 'step {}/'.format(first))

    def generate():
        return seconds_until(['--generate'] + args)

    def cold_run(command):
        drop_caches()
        return command()

    times = {}
    if not os.path.isdir(os.path.join(run, 'ck')):
        times['--train, first (checks every file)'] = [train()]
    else:
        train()   # untimed: it reads what the warm figures below find in the page cache
    times['--train resumed, warm'] = [train() for _ in range(repeat)]
    times['--generate, warm'] = [generate() for _ in range(repeat)]
    times['--traverse, warm'] = [seconds_until(['--traverse'] + args)]
    if cold:
        times['--train resumed, cold'] = [cold_run(train) for _ in range(repeat)]
        times['--generate, cold'] = [cold_run(generate) for _ in range(repeat)]
    return {'{} {}'.format(dataset, label): values for label, values in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--root', default=os.path.join('results', 'startup'), help='where the folder and runs go')
    parser.add_argument('--json', default=harness.default_path('startup'))
    parser.add_argument('--repeat', type=int, default=3, help='timings of each command; the median is reported')
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error('--repeat {} is not a number of timings: give 1 or more'.format(args.repeat))
    started = time.time()
    images = make_folder(os.path.join(args.root, 'CelebA'))
    print('folder of {} images ready in {:.0f} s'.format(NUM_IMAGES, time.time() - started), flush=True)
    cold = os.access('/proc/sys/vm/drop_caches', os.W_OK)
    if not cold:
        print('not root: the page cache can not be dropped, so only warm figures are measured')
    runs = {}
    for dataset in ('celeba', 'folder'):
        runs.update(measure(dataset, images, os.path.join(args.root, 'run_' + dataset), cold, args.repeat))
    medians = {label: float(np.median(values)) for label, values in runs.items()}
    print('\n{:<52}{:>10}{:>16}{:>10}'.format('command', 'median s', 'range', 'target'))
    for label, values in runs.items():
        target = TARGETS.get(label)
        print('{:<52}{:>10.1f}{:>16}{:>10}'.format(label, medians[label], '{:.1f}-{:.1f}'.format(min(values), max(values)),
                                                  '<= {:.0f}'.format(target) if target else ''))
    harness.write_result({'images': NUM_IMAGES, 'seconds': medians, 'runs': runs, 'targets': TARGETS, 'cold': cold,
                          'repeat': args.repeat}, args.json)
    return 0


if __name__ == '__main__':
    sys.exit(main())
