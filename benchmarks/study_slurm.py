"""What Slurm adds to a study: the wall time of `study.py --slurm --wait` against its runs' own time.

    python -m benchmarks.study_slurm results/study_tcvae --dataset dsprites --steps 6000 \
        --grid objective=tcvae tcvae_beta=1,2,6,10 seed=0-2 --throttle 1 [--json results/study_slurm.json]

Every argument but --json goes to study.py, which is run with --slurm --wait. Without SLURM_CONF in the
environment it starts a one-node cluster on this machine for the length of the study (Debian's munged,
slurmctld and slurmd, as the tests do; root only), and stops it by pid after. Each run's own time is
the span from its task's start line in its slurm.log to its metrics.json; with --throttle 1 the tasks
run one after another, so the wall time less their sum is what submitting, scheduling and gathering
added. Runs finished before this submission are not counted; re-running it resumes the study, and
times only what it submits.
"""
import argparse
import os
import sys
import tempfile
import time

import common
from benchmarks import harness
from kit import runs
from kit.slurm import SlurmCluster, Unavailable
from studies import grid, slurm


def run_spans(folder, after):
    """{run: seconds from its task's start to its metrics.json} for the runs this submission finished."""
    definition = common.read_json(os.path.join(folder, grid.DEFINITION_FILE))
    spans = {}
    for run in grid.runs_of(definition, folder):
        done = os.path.join(run.folder, 'results', 'metrics.json')
        started = slurm.task_started(os.path.join(run.folder, slurm.TASK_LOG), after)
        if started is not None and os.path.isfile(done) and grid.result(run, definition) is not None:
            spans[run.name] = os.path.getmtime(done) - started
    return spans


def timed(args, environment):
    """(exit code, wall seconds) of `python study.py ARGS`."""
    return runs.command_seconds([sys.executable, os.path.join(harness.ROOT, 'study.py')] + args, env=environment)


def measure(folder, study_args, environment):
    submitted = time.time()
    code, wall = timed([folder] + study_args + ['--slurm', '--wait'], environment)
    spans = run_spans(folder, submitted - 1)
    _, gather = timed([folder, '--gather'], environment)   # the gather alone, outside Slurm
    trained = sum(spans.values())
    return {'exit_code': code, 'runs': len(spans), 'wall_seconds': wall, 'runs_seconds': trained,
            'overhead_seconds': wall - trained, 'overhead_per_run_seconds': (wall - trained) / max(len(spans), 1),
            'gather_seconds': gather, 'run_seconds': spans}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('folder', help='the study\'s folder')
    parser.add_argument('--json', default=harness.default_path('study_slurm'))
    args, study_args = parser.parse_known_args(argv)
    if os.environ.get('SLURM_CONF'):
        figures = measure(args.folder, study_args, dict(os.environ))
    else:
        with tempfile.TemporaryDirectory(prefix='slurm-') as scratch:
            cluster = SlurmCluster(scratch)
            try:
                cluster.start()
                figures = measure(args.folder, study_args, cluster.environment)
            except Unavailable as error:
                print('error: no Slurm cluster to measure on: {}'.format(error), file=sys.stderr)
                return 2
            finally:
                cluster.stop()
    print('{:<36}{:>12}'.format('runs timed', figures['runs']))
    for key, name in (('wall_seconds', 'study.py --slurm --wait, min'), ('runs_seconds', 'the runs\' own, min'),
                      ('overhead_seconds', 'added by Slurm and the gather, min'),
                      ('gather_seconds', 'the gather alone, min')):
        print('{:<36}{:>12.2f}'.format(name, figures[key] / 60.0))
    print('{:<36}{:>12.1f}'.format('added per run, s', figures['overhead_per_run_seconds']))
    harness.write_result(figures, args.json)
    return figures['exit_code']


if __name__ == '__main__':
    sys.exit(main())
