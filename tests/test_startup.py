"""A quiet start-up: TensorFlow's start-up chatter is filtered from stderr, real errors are not."""
import importlib
import os
import platform
import subprocess
import sys

import pytest

from conftest import ROOT

CHATTER_AND_A_REAL_ERROR = r'''
import os, hardware, provenance
with hardware.stderr_without_chatter():
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
    os.write(2, b"I0000 00:00:1.1 2886 port.cc:153] oneDNN custom operations are on. You may see slightly ...\n")
    os.write(2, b"I0000 00:00:1.2 2886 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU ...\n")
    os.write(2, b"E0000 00:00:1.3 2886 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\n")
    os.write(2, b"E0000 00:00:1.4 2886 some_kernel.cc:9] Out of memory allocating 1GB\n")
    sys_note = "a Python warning\n"
    import sys; sys.stderr.write(sys_note)
'''


def test_chatter_is_dropped_and_everything_else_is_kept():
    run = subprocess.run([sys.executable, '-c', CHATTER_AND_A_REAL_ERROR], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True)
    assert run.returncode == 0
    assert run.stderr == 'E0000 00:00:1.4 2886 some_kernel.cc:9] Out of memory allocating 1GB\na Python warning\n'


def test_an_import_error_still_shows():
    code = 'import hardware\nwith hardware.stderr_without_chatter():\n    import no_such_module_here\n'
    run = subprocess.run([sys.executable, '-c', code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True)
    assert run.returncode == 1 and "No module named 'no_such_module_here'" in run.stderr


KEEPS_MEMORY = r'''
import hardware
print(hardware.keep_freed_memory())
'''


def test_glibc_is_told_to_keep_freed_memory_unless_asked_not_to():
    if platform.system() != 'Linux' or platform.libc_ver()[0] != 'glibc':
        pytest.skip('mallopt is glibc\'s: {} {}'.format(platform.system(), platform.libc_ver()))
    for defaults, expected in (('0', 'True'), ('1', 'False')):
        run = subprocess.run([sys.executable, '-c', KEEPS_MEMORY], cwd=ROOT, stdout=subprocess.PIPE,
                             universal_newlines=True, env=dict(os.environ, GLIBC_MALLOC_DEFAULTS=defaults))
        assert run.stdout.strip() == expected


def test_modules_hidden_while_tensorflow_loads_are_importable_after():
    import hardware
    assert 'json.tool' not in sys.modules
    with hardware.hidden_modules(['json.tool', 'os']):
        with pytest.raises(ImportError):
            importlib.import_module('json.tool')
        assert importlib.import_module('os') is os    # already imported: never hidden
    assert importlib.import_module('json.tool') is sys.modules['json.tool']


PINNED = r'''
import os, hardware, provenance
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
config = hardware.session_config()
print(hardware.usable_cores(), config.intra_op_parallelism_threads, config.inter_op_parallelism_threads,
      provenance.result_header('pinned')['cores'])
'''


def test_a_process_pinned_to_one_core_runs_one_op_thread_and_says_one_core():
    if not hasattr(os, 'sched_setaffinity'):
        pytest.skip('this system has no CPU affinity to pin a process with')
    run = subprocess.run([sys.executable, '-c', PINNED], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ['1', '1', '1', '1']
