"""Runs of `vae.py` made and measured from outside: scratch run folders, the wall time of a command, and
a run's steady training rate read back from its own loss summaries."""
import os
import subprocess
import sys
import time

import numpy as np

import figures

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VAE = os.path.join(ROOT, 'vae.py')
OUTPUTS = (('checkpoint_dir', 'ck'), ('results_dir', 'res'), ('summary_dir', 'sum'))   # a scratch run's folders


# ---- scratch run folders ----

def run_folders(root):
    """[(setting, folder)] of a run writing everything under `root`: checkpoints, results, summaries."""
    return [(key, os.path.join(str(root), sub)) for key, sub in OUTPUTS]


def folder_flags(root):
    """The same as vae.py flags: ['--checkpoint_dir', ROOT/ck, ...]."""
    return [word for key, folder in run_folders(root) for word in ('--' + key, folder)]


# ---- the wall time of a command ----

def command_seconds(args, env=None, quiet=False):
    """(exit code, wall seconds) of one command; quiet discards its output."""
    output = subprocess.DEVNULL if quiet else None
    start = time.time()
    code = subprocess.call(args, env=env, stdout=output, stderr=output)
    return code, time.time() - start


def vae_seconds(*args):
    """Wall seconds of one `python vae.py ARGS`, its output discarded; CalledProcessError if it fails."""
    command = [sys.executable, VAE] + list(args)
    code, seconds = command_seconds(command, quiet=True)
    if code:
        raise subprocess.CalledProcessError(code, command)
    return seconds


# ---- the steady rate, from a run's summaries ----

def step_wall_times(summary_dir, tag='loss/total'):
    """{step: wall time} of each step at which a run logged `tag`, from its event files."""
    times = {}
    for path in figures.event_files(summary_dir):
        for event in figures.read_events(path):
            if any(value.tag == tag for value in event.summary.value):
                times[event.step] = event.wall_time
    return times


def steady_step_seconds(times, first, last, min_intervals=3):
    """Seconds per training step in steady state, from {step: wall time} of the logged steps: the median,
    over the intervals between consecutive logged steps from `first` to `last`, of each interval's seconds
    over its steps. `first` leaves warm-up out and `last` the run's final step (its pictures and save);
    the median leaves out an interval that held a checkpoint or a snapshot. ValueError when the window
    holds fewer than min_intervals intervals: a short window picks up fixed costs, not speed."""
    steps = [step for step in sorted(times) if first <= step <= last]
    if len(steps) < min_intervals + 1:
        raise ValueError('steps {}..{} hold {} logged intervals, fewer than {}: train longer or log more '
                         'often'.format(first, last, max(0, len(steps) - 1), min_intervals))
    per_step = [(times[b] - times[a]) / (b - a) for a, b in zip(steps, steps[1:])]
    return float(np.median(per_step))


def steady_rate(summary_dir, batch_size, first, steps):
    """(images a second in steady state, its window's last step) of a run trained to `steps`: from `first`
    to the last summary before the final step, whose pictures and save are no part of a step's cost."""
    times = step_wall_times(summary_dir)
    last = max(step for step in times if step < steps)
    return batch_size / steady_step_seconds(times, first, last), last
