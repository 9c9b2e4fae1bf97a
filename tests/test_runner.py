"""runner.py: the cores shared out, and processes side by side, each pinned to its share."""
import json
import os
import sys

import pytest

import hardware
from studies import here


def test_cores_are_shared_out_in_disjoint_contiguous_even_shares():
    assert here.core_shares({0, 1}, 2) == [{0}, {1}]
    assert here.core_shares({4, 0, 2, 3, 1}, 2) == [{0, 1}, {2, 3, 4}]
    assert here.core_shares({0, 1, 2, 3}, 1) == [{0, 1, 2, 3}]
    assert here.core_shares({5}, 3) == [{5}]          # never more shares than cores
    assert here.core_shares({0, 1, 2}, 0) == [{0, 1, 2}]


PRINT_CORES = 'import os, sys; print(sorted(os.sched_getaffinity(0))); sys.exit(int(sys.argv[1]))'


def test_processes_side_by_side_each_run_on_their_own_share_and_write_their_logs(tmp_path):
    if hardware.core_ids() is None or len(hardware.core_ids()) < 2:
        pytest.skip('needs CPU affinity and 2 cores, to pin two processes apart')
    jobs = [(name, [sys.executable, '-c', PRINT_CORES, code], str(tmp_path / (name + '.log')))
            for name, code in (('a', '0'), ('b', '3'), ('c', '0'))]
    assert here.side_by_side(jobs, 2, stopped=(130, 143)) == {'a': 0, 'b': 3, 'c': 0}
    seen = {name: json.loads((tmp_path / (name + '.log')).read_text()) for name in 'abc'}
    shares = here.core_shares(hardware.core_ids(), 2)
    assert all(set(cores) in shares for cores in seen.values()) and seen['a'] != seen['b']


def test_a_process_stopped_by_a_signal_stops_the_rest_from_starting(tmp_path):
    jobs = [(name, [sys.executable, '-c', PRINT_CORES, code], str(tmp_path / (name + '.log')))
            for name, code in (('a', '143'), ('b', '0'))]
    assert here.side_by_side(jobs, 1, stopped=(130, 143)) == {'a': 143}
    assert not os.path.exists(str(tmp_path / 'b.log'))
