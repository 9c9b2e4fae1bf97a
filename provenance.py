"""Where a result comes from: the header every result file carries (the benchmarks' JSON, a study's
results.json), so that a figure can be traced to its command, commit, date, machine and versions."""
import datetime
import os
import platform
import subprocess

from hardware import cpu, tensorflow_version, usable_cores

ROOT = os.path.dirname(os.path.abspath(__file__))


def commit():
    """The checked-out commit, with '+changes' when the work tree differs from it; None outside git."""
    def git(*args):
        return subprocess.run(['git'] + list(args), cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True)
    head = git('rev-parse', '--short=10', 'HEAD')
    if head.returncode:
        return None
    dirty = git('status', '--porcelain', '--untracked-files=no').stdout.strip()
    return head.stdout.strip() + ('+changes' if dirty else '')


def portable(command, root=ROOT, here=None):
    """The command with the paths under the project (or the folder it was run in) made relative to it, so
    that anyone can run it again from the project's root."""
    for folder in (root, here or os.getcwd()):
        command = command.replace(os.path.join(os.path.abspath(folder), ''), '')
    return command


def result_header(command):
    """Where a measurement comes from, written at the top of every result file: the command (portable),
    the commit, the date, the CPU (model, core count, the flags that decide TensorFlow's kernels), Python
    and TensorFlow."""
    name, flags = cpu()
    return {'command': portable(command), 'commit': commit(), 'date': datetime.datetime.utcnow().strftime('%Y-%m-%d'),
            'cpu': name, 'cpu_flags': flags, 'cores': usable_cores(), 'python': platform.python_version(),
            'tensorflow': tensorflow_version()}
