"""A study on Slurm: one job array of the unfinished runs and a gather job after it; the task log each run
keeps, and when its last task started."""
import calendar
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

from common import SettingsError
from studies.grid import train_command
from studies.here import TRAIN_LOG

SLURM_SCRIPT = 'study.sbatch'
TASK_LOG = 'slurm.log'            # in each run's folder: what its Slurm tasks printed
GATHER_LOG = 'gather.log'
DEFAULT_THROTTLE = 4              # Slurm array tasks running at once
STUDY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'study.py')

# The line each Slurm task of a study writes first into its run's log.
# The line each Slurm task of a study writes first into its run's log.
TASK_START = re.compile(r'^=== job \S+ on \S+ at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) ===$')




def slurm_script(runs, definition, folder):
    """A job-array script: task k trains runs[k], its output appended to that run's TASK_LOG."""
    cases = '\n'.join('  {}) folder={}; command=({}) ;;'.format(
        k, shlex.quote(run.folder), ' '.join(shlex.quote(word) for word in train_command(run, definition)))
        for k, run in enumerate(runs))
    return '''#!/bin/bash
# {folder}: one task per unfinished run, written by study.py; submit the study again rather than this.
case "$SLURM_ARRAY_TASK_ID" in
{cases}
  *) echo "no run for task $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;
esac
exec >>"$folder/{log}" 2>&1
echo "=== job ${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}} on $(hostname) at $(date -u +%FT%TZ) ==="
# exec: the trainer is the task's process, so Slurm's SIGTERM (time limit, preemption, scancel) reaches
# it, it saves its checkpoint, and its exit code is the task's.
exec "${{command[@]}}"
'''.format(folder=folder, cases=cases, log=TASK_LOG)


def sbatch_path():
    path = shutil.which('sbatch')
    if path is None:
        raise SettingsError('--slurm needs sbatch on PATH: run this on a Slurm login node, or use --list or no '
                            'option (here)')
    return path


def submit(runs, definition, folder, throttle, options, wait, gather_options=()):
    """Submits the runs as one job array and a gather job after it (afterany), which runs study.py --gather with
    `gather_options`. With wait, blocks until the gather ends and returns its exit code; else 0."""
    sbatch = sbatch_path()
    script = os.path.join(folder, SLURM_SCRIPT)
    with open(script, 'w') as f:
        f.write(slurm_script(runs, definition, folder))
    name = 'study-' + os.path.basename(os.path.abspath(folder))
    array = subprocess.run([sbatch, '--parsable', '--job-name', name, '--output', os.devnull,
                            '--array', '0-{}%{}'.format(len(runs) - 1, throttle)] + options + [script],
                           stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.strip().split(';')[0]
    print('submitted job array {}: {} runs, {} at a time; logs in each run\'s {}'.format(array, len(runs), throttle,
                                                                                      TASK_LOG))
    gather = [sys.executable, STUDY, os.path.abspath(folder), '--gather'] + list(gather_options)
    log = os.path.join(folder, GATHER_LOG)
    job = [sbatch, '--parsable', '--job-name', name + '-gather', '--output', log,
           '--dependency', 'afterany:' + array] + options + (['--wait'] if wait else []) + [
        '--wrap', ' '.join(shlex.quote(word) for word in gather)]
    if not wait:
        gather_id = subprocess.run(job, stdout=subprocess.PIPE, universal_newlines=True,
                                   check=True).stdout.strip().split(';')[0]
        print('submitted gather job {} after it; its output goes to {}'.format(gather_id, log))
        return 0
    print('waiting for the study to finish (gather output: {})'.format(log), flush=True)
    code = subprocess.run(job, stdout=subprocess.DEVNULL).returncode
    if os.path.isfile(log):
        with open(log) as f:
            sys.stdout.write(f.read())
    return code


def describe_missing(runs):
    logs = [[os.path.join(run.folder, name) for name in (TASK_LOG, TRAIN_LOG)] for run in runs]
    return ', '.join('{} (log: {})'.format(run.name, next((p for p in paths if os.path.isfile(p)), 'none'))
                     for run, paths in zip(runs, logs))


def task_started(log, after):
    """When the run's last task that began after `after` (epoch seconds) started, from its slurm.log;
    None if none did."""
    if not os.path.isfile(log):
        return None
    starts = []
    with open(log) as f:
        for line in f:
            match = TASK_START.match(line.strip())
            if match:
                starts.append(calendar.timegm(time.strptime(match.group(1), '%Y-%m-%dT%H:%M:%SZ')))
    starts = [t for t in starts if t >= int(after)]
    return starts[-1] if starts else None


