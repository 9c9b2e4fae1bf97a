"""A full disk, made real (a small tmpfs): a one-line error, no partial files, nothing complete lost, and the
same command resumes once there is space."""
import os
import subprocess
import sys

import checkpoints
import inference
import settings
import vae
from conftest import ROOT, TINY_DSPRITES
from test_download import payload, run, drive  # noqa: F401  (drive: the fake Drive fixture)

TINY = TINY_DSPRITES


def test_a_save_on_a_full_disk_is_one_line_keeps_the_last_checkpoint_and_resumes(small_disk, tmp_path):
    folders = ['--checkpoint_dir', os.path.join(small_disk.path, 'ck'), '--results_dir', str(tmp_path / 'res'),
               '--summary_dir', str(tmp_path / 'sum')]
    command = [sys.executable, os.path.join(ROOT, 'vae.py'), '--train', '--steps', '4'] + TINY + folders
    assert vae.main(['--train', '--steps', '2'] + TINY + folders) == 0
    small_disk.fill(leave_bytes=40000)      # a checkpoint of this model takes about 145 kB

    full = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert full.returncode != 0
    lines = full.stderr.strip().splitlines()
    assert lines[0].startswith('warning: {} has '.format(folders[1])) and 'fewer than two checkpoints' in lines[0]
    assert len(lines) == 2 and lines[1].startswith('error: no space left on device in {}: step 4 could not be '
                                                   'saved'.format(folders[1])), full.stderr
    assert 'the last complete checkpoint is {} (kept)'.format(os.path.join(folders[1], 'model.ckpt-2')) in lines[1]
    assert 'a checkpoint needs about 0.1' in lines[1]
    assert sorted(os.listdir(folders[1])) == ['checkpoint', 'model.ckpt-2.config.json',
                                              'model.ckpt-2.data-00000-of-00001', 'model.ckpt-2.index',
                                              'training.lock']
    cfg = settings.resolve('dsprites', settings.parse_overrides(TINY[2:] + folders))
    assert inference.Restored(cfg).step == 2

    small_disk.free()
    resumed = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True)
    assert resumed.returncode == 0 and 'resumed from {} at step 2'.format(
        os.path.join(folders[1], 'model.ckpt-2')) in resumed.stdout, resumed.stderr
    assert checkpoints.step_of(checkpoints.latest(folders[1])) == 4


def test_pictures_and_metrics_on_a_full_disk_are_one_line(small_disk, tmp_path, capsys):
    folders = ['--checkpoint_dir', str(tmp_path / 'ck'), '--results_dir', os.path.join(small_disk.path, 'res'),
               '--summary_dir', str(tmp_path / 'sum')]
    assert vae.main(['--train', '--steps', '1'] + TINY + folders) == 0
    small_disk.fill(leave_bytes=0)
    capsys.readouterr()
    assert vae.main(['--generate'] + TINY + folders) == 2
    error = capsys.readouterr().err.strip()
    assert error == ('error: no space left on device, writing {}: free space and run the same command again (the '
                     'latest complete checkpoint is kept)'.format(os.path.join(folders[3], 'randomFakeGrid.jpg')))
    assert [name for name in os.listdir(folders[3]) if '.tmp' in name] == []    # no half-written picture


def test_a_download_on_a_full_disk_keeps_its_part_and_the_same_command_resumes(drive, small_disk, capsys):  # noqa: F811
    data = payload(600000)
    drive.add('abc', data, 'plain')
    dest = os.path.join(small_disk.path, 'file.bin')
    small_disk.fill(leave_bytes=200000)
    assert run(drive, 'abc', dest) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == ('error: no space left on device, writing {}.part: what was downloaded is kept; free space and '
                     'run the same command again to resume'.format(dest))
    kept = os.path.getsize(dest + '.part')
    assert 0 < kept < len(data) and not os.path.exists(dest)

    small_disk.free()
    assert run(drive, 'abc', dest) == 0
    with open(dest, 'rb') as f:
        assert f.read() == data
    assert drive.requests[-1][2] == 'bytes={}-'.format(kept)     # went on from the .part's end
