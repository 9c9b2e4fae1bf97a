"""Nothing lost: stop signals, SIGKILL, divergence and half-written checkpoints."""
import glob
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import checkpoints
import vae
from conftest import ROOT, TINY_DSPRITES
from kit.runs import folder_flags

tf.disable_v2_behavior()

TINY = TINY_DSPRITES + ['--summary_freq', '5', '--image_snapshot_freq', '100000']


def start_training(tmp_path, *extra):
    log = open(str(tmp_path / 'train.log'), 'w')
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, 'vae.py'), '--train', '--steps', '1000000']
                               + TINY + folder_flags(tmp_path) + list(extra),
                               cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    return process, log


def wait_for(condition, timeout=120):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, 'timed out'
        time.sleep(0.05)


def checkpoint_values(checkpoint):
    reader = tf.train.load_checkpoint(checkpoint)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def assert_consistent(checkpoint, step):
    """The checkpoint holds step `step`, and Adam's state says exactly `step` updates were made."""
    values = checkpoint_values(checkpoint)
    assert values['global_step'] == step
    assert values['beta1_power'] == pytest.approx(0.9 ** (step + 1), rel=1e-3)
    return values


@pytest.mark.parametrize('signum, code', [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_stop_signal_checkpoints_and_resumes_at_that_step(tmp_path, capsys, signum, code):
    process, log = start_training(tmp_path, '--checkpoint_every', '100000', '--image_snapshot_freq', '10')
    wait_for(lambda: (tmp_path / 'res' / 'fakes_step0000020.jpg').exists())   # mid-training, past step 20
    process.send_signal(signum)
    assert process.wait(timeout=60) == code
    log.close()
    text = (tmp_path / 'train.log').read_text()
    step = int(text.split('stopped by {} at step '.format(signal.Signals(signum).name))[1].split(';')[0])
    assert step >= 20
    checkpoint = checkpoints.latest(str(tmp_path / 'ck'))
    assert checkpoint.endswith('model.ckpt-{}'.format(step))
    before = assert_consistent(checkpoint, step)

    assert vae.main(['--train', '--steps', str(step + 2)] + TINY + folder_flags(tmp_path)) == 0
    assert 'resumed from {} at step {}'.format(checkpoint, step) in capsys.readouterr().out
    after = assert_consistent(checkpoints.latest(str(tmp_path / 'ck')), step + 2)
    kernel = 'decoder/to_pixels/kernel'
    # Two Adam steps of 5e-4 move each weight by at most ~1e-3: training went on from the saved weights.
    assert np.abs(after[kernel] - before[kernel]).max() < 3e-3


def test_sigkill_loses_only_steps_since_the_last_periodic_checkpoint(tmp_path, capsys):
    process, log = start_training(tmp_path, '--checkpoint_every', '1')
    wait_for(lambda: len(glob.glob(str(tmp_path / 'ck' / '*.index'))) >= 2)   # a second periodic checkpoint
    process.kill()
    process.wait(timeout=30)
    log.close()
    checkpoint = checkpoints.latest(str(tmp_path / 'ck'))
    step = checkpoints.step_of(checkpoint)
    assert_consistent(checkpoint, step)
    assert vae.main(['--train', '--steps', str(step + 1)] + TINY + folder_flags(tmp_path)) == 0
    assert 'at step {}'.format(step) in capsys.readouterr().out


def test_half_written_checkpoint_is_never_the_latest(tmp_path):
    assert vae.main(['--train', '--steps', '2'] + TINY + folder_flags(tmp_path)) == 0
    ck = str(tmp_path / 'ck')
    good = os.path.join(ck, 'model.ckpt-2')
    broken = os.path.join(ck, 'model.ckpt-3')
    open(broken + '.index', 'wb').close()          # killed before its data and settings were written
    tf.train.update_checkpoint_state(ck, broken, all_model_checkpoint_paths=[good, broken])
    assert checkpoints.latest(ck) == good


def test_divergence_stops_cleanly_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    assert vae.main(['--train', '--steps', '2'] + TINY + folder_flags(tmp_path)) == 0
    good = checkpoints.latest(str(tmp_path / 'ck'))
    capsys.readouterr()
    code = vae.main(['--train', '--steps', '200', '--learning_rate', '1e12'] + TINY + folder_flags(tmp_path))
    err = capsys.readouterr().err
    assert code == 2
    assert 'became' in err and 'at step' in err and 'the last good checkpoint is {} (kept)'.format(good) in err
    assert len(err.strip().splitlines()) == 1
    assert checkpoints.latest(str(tmp_path / 'ck')) == good
    for name, value in checkpoint_values(good).items():
        assert np.all(np.isfinite(value)), name


def test_batch_larger_than_the_dataset_is_an_error(celeba_dir, tiny_overrides, capsys):
    code = vae.main(['--train', '--steps', '1'] + tiny_overrides + ['--data_dir_path', str(celeba_dir),
                                                                    '--batch_size', '64'])
    assert code == 2
    assert 'batch_size 64 is larger than the 40 usable training images' in capsys.readouterr().err


# ---- one writer per checkpoint folder ----

def hold_the_lock(folder):
    """Another process that holds `folder`'s training lock until it is killed; returns once it holds it."""
    holder = subprocess.Popen([sys.executable, '-c', 'import sys, time; sys.path.insert(0, sys.argv[1]); '
                               'import checkpoints; lock = checkpoints.WriterLock(sys.argv[2]); lock.__enter__(); '
                               'print("held", flush=True); time.sleep(600)', ROOT, folder],
                              stdout=subprocess.PIPE, universal_newlines=True)
    assert holder.stdout.readline().strip() == 'held'
    return holder


def test_a_second_trainer_of_a_held_folder_gets_a_one_line_error(tmp_path):
    folder = str(tmp_path / 'ck')
    holder = hold_the_lock(folder)
    try:
        second = subprocess.run([sys.executable, os.path.join(ROOT, 'vae.py'), '--train', '--steps', '1']
                                + TINY + ['--checkpoint_dir', folder, '--results_dir', str(tmp_path / 'res'),
                                   '--summary_dir', str(tmp_path / 'sum')],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    finally:
        holder.kill()
        holder.wait()
    assert second.returncode == 2
    assert second.stderr.strip() == ('error: {} is being trained into by pid {} on host {}: wait for it or stop it, '
                                     'or train in another --checkpoint_dir'.format(folder, holder.pid,
                                                                                   socket.gethostname()))
    assert not [name for name in os.listdir(folder) if name.startswith('model.ckpt')]   # it wrote nothing


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path):
    folder = str(tmp_path / 'ck')
    holder = hold_the_lock(folder)
    holder.kill()        # SIGKILL: no chance to let go, and its pid stays in the lock file
    holder.wait()
    assert str(holder.pid) in open(os.path.join(folder, checkpoints.LOCK_FILE)).read()
    assert vae.main(['--train', '--steps', '1'] + TINY + ['--checkpoint_dir', folder, '--results_dir',
                    str(tmp_path / 'res'), '--summary_dir', str(tmp_path / 'sum')]) == 0
    assert checkpoints.step_of(checkpoints.latest(folder)) == 1
