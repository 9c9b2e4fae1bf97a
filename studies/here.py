"""Running a study's training processes here: one at a time in the foreground, or several side by side,
each pinned to its own share of the cores. A small model's step does not keep two cores busy, so on a
CPU two one-core runs train more images a second than one two-core run (the performance results
measure it)."""
import contextlib
import os
import signal
import subprocess
import time

import hardware
from studies.grid import train_command

TRAIN_LOG = 'train.log'           # in each run's folder: what it printed, trained side by side with others
STOPPED = (130, 143)              # vae.py's exit after SIGINT or SIGTERM: it saved, and the study stops too
POLL_SECONDS = 0.5                # how often the side-by-side runner looks for a finished process


@contextlib.contextmanager
def forwarded_sigterm(live):
    """Within the block, a SIGTERM sent to the study alone (kill, timeout, a service manager) is passed on to
    its running processes (`live`, a list the caller keeps), which save and exit as after Ctrl-C, and the
    study then stops as it does after Ctrl-C. Without it the study would die and leave its run training
    with no one to wait for it."""
    def forward(signum, frame):
        for process in live:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
    previous = signal.signal(signal.SIGTERM, forward)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_to_the_end(args):
    """Runs one command; Ctrl-C reaches it too (same process group), and a SIGTERM to the study is passed on,
    so this waits while it saves its checkpoint, then passes its exit code on."""
    process = subprocess.Popen(args)
    with forwarded_sigterm([process]):
        while True:
            try:
                return process.wait()
            except KeyboardInterrupt:
                continue


def core_shares(cores, count):
    """`count` disjoint shares of `cores` (CPU ids), contiguous and as even as can be; one per core at most."""
    cores = sorted(cores)
    count = max(1, min(count, len(cores)))
    return [set(cores[k * len(cores) // count:(k + 1) * len(cores) // count]) for k in range(count)]


def start(command, log_path, share):
    log = open(log_path, 'a')
    pin = (lambda: os.sched_setaffinity(0, share)) if share else None
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=pin), log


def side_by_side(jobs, count, stopped):
    """Runs the jobs [(name, command, log path)] `count` at a time, each pinned to its own share of this
    process's cores, its output appended to its log. Once one exits with a code in `stopped` (a signal
    told it to save and stop), or Ctrl-C reaches them all, or a SIGTERM to the study is passed on to them, none
    is started and the running ones are waited for. Returns {name: exit code} of those that ran."""
    cores = hardware.core_ids()
    shares = core_shares(cores, count) if cores else [None] * count
    pending, free, running, codes = list(jobs), list(range(len(shares))), {}, {}
    interrupted, live = False, []
    with forwarded_sigterm(live):
        while running or (pending and not interrupted):
            while pending and free and not interrupted:
                (name, command, log_path), lane = pending.pop(0), free.pop(0)
                running[name] = start(command, log_path, shares[lane]) + (lane,)
                live.append(running[name][0])
                print('=== {} on cores {}: {} ({}) ==='.format(name, sorted(shares[lane] or []) or 'any', log_path,
                                                            time.strftime('%H:%M:%S')), flush=True)
            try:
                time.sleep(POLL_SECONDS)
            except KeyboardInterrupt:
                interrupted = True
            for name, (process, log, lane) in list(running.items()):
                if process.poll() is not None:
                    codes[name] = process.returncode
                    log.close()
                    free.append(lane)
                    del running[name]
                    print('{} ended with exit code {} ({})'.format(name, codes[name], time.strftime('%H:%M:%S')),
                          flush=True)
            interrupted = interrupted or bool(set(codes.values()) & set(stopped))
    return codes


def run_here(runs, definition, parallel=1):
    """Trains and evaluates each run, in turn in the foreground, or `parallel` side by side, each pinned to
    its share of the cores, its output in its folder's TRAIN_LOG. A failed run does not stop the others (the
    gather names it). Returns 0, or the exit code of a run that a signal stopped, which stops the study."""
    if parallel > 1:
        codes = side_by_side([(run.name, train_command(run, definition), os.path.join(run.folder, TRAIN_LOG))
                              for run in runs], parallel, STOPPED)
        stopped = [code for code in codes.values() if code in STOPPED]
        if stopped:
            print('stopped: the same command resumes the unfinished runs')
        return (stopped or [0])[0]
    for number, run in enumerate(runs):
        print('=== {} ({} of {}): {} ==='.format(run.name, number + 1, len(runs), time.strftime('%H:%M:%S')),
              flush=True)
        code = run_to_the_end(train_command(run, definition))
        if code in STOPPED:
            print('{} was stopped; the same command resumes it'.format(run.name))
            return code
    return 0


