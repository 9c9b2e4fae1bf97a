"""A study's runs side by side: images a second of one `vae.py --train` on all the cores, against
several runs at once, each pinned to its own share of them (`study.py --parallel N`).

    python -m benchmarks.side_by_side [--dataset dsprites] [--objective tcvae] [--steps 1500] [--rounds 2]

Each rate is the steady state's, from the runs' own loss summaries (runs.steady_rate, after
--first steps); side by side it is the sum over the runs, which start together and train the same
steps. The wall rate counts every image trained over the whole time, start-up and saving included.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

import hardware
from benchmarks import harness
from studies import here
from kit import runs


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--dataset', default='dsprites')
    parser.add_argument('--objective', default='tcvae')
    parser.add_argument('--steps', type=int, default=1500, help='training steps of every run')
    parser.add_argument('--first', type=int, default=300, help='the first step of the measured window')
    parser.add_argument('--lanes', type=int, default=hardware.usable_cores(), help='runs side by side')
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--json', default=harness.default_path('side_by_side'))
    return parser.parse_args(argv)


def command(args, folder):
    return [sys.executable, runs.VAE, '--train', '--dataset', args.dataset, '--objective', args.objective,
            '--steps', str(args.steps), '--image_snapshot_freq', str(10 * args.steps), '--checkpoint_every',
            '36000'] + runs.folder_flags(folder)


def steady_rate(folder, args, batch_size):
    return runs.steady_rate(dict(runs.run_folders(folder))['summary_dir'], batch_size, args.first, args.steps)[0]


def measure(args, lanes, batch_size):
    """(steady images/s summed over the runs, wall images/s) of `lanes` runs started together."""
    scratch = tempfile.mkdtemp(prefix='side_by_side_')
    try:
        folders = [os.path.join(scratch, 'run{}'.format(k)) for k in range(lanes)]
        for folder in folders:
            os.makedirs(folder)
        start = time.time()
        if lanes == 1:     # on every core, as a study runs without --parallel
            codes = {'run0': runs.command_seconds(command(args, folders[0]), quiet=True)[0]}
        else:
            codes = here.side_by_side([('run{}'.format(k), command(args, folder), os.path.join(folder, here.TRAIN_LOG))
                                       for k, folder in enumerate(folders)], lanes, stopped=())
        wall = time.time() - start
        if any(codes.values()):
            raise SystemExit('a run failed: exit codes {}'.format(codes))
        steady = sum(steady_rate(folder, args, batch_size) for folder in folders)
        return steady, lanes * args.steps * batch_size / wall
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv=None):
    import settings
    args = parse(argv)
    batch_size = settings.resolve(args.dataset, [('objective', args.objective)]).batch_size
    names = ['1 run on {} cores'.format(hardware.usable_cores()), '{} runs side by side'.format(args.lanes)]
    rounds = harness.alternate(names, args.rounds, lambda name: measure(args, 1 if name == names[0] else args.lanes,
                                                                        batch_size))
    rows = []
    for name in names:
        steady = [figure[0] for figure in rounds[name]]
        wall = [figure[1] for figure in rounds[name]]
        rows.append([name, ' / '.join('{:.0f}'.format(x) for x in steady),
                     ' / '.join('{:.0f}'.format(x) for x in wall),
                     '{:.2f}x'.format(sum(steady) / sum(figure[0] for figure in rounds[names[0]]))])
        print('{}: steady {} img/s, wall {} img/s'.format(name, rows[-1][1], rows[-1][2]))
    table = {'columns': ['{} {}, {} steps each'.format(args.dataset, args.objective, args.steps),
                         'steady img/s (per round)', 'wall img/s (per round)', 'steady, against one run'],
             'rows': rows}
    harness.write_result({'tables': {'side_by_side': table}, 'rounds': rounds}, args.json)
    return 0


if __name__ == '__main__':
    sys.exit(main())
