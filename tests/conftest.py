import os
import sys

import pytest

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from kit.runs import folder_flags  # noqa: E402
from kit.standins import write_jpeg  # noqa: E402

# The tiny dSprites model every test that trains one uses: a step takes milliseconds.
TINY_DSPRITES = ['--dataset', 'dsprites', '--batch_size', '8', '--filters', '8,8,8,8', '--hidden_units', '16,16']
# Every metric of --evaluate on the smallest samples it runs on (the few-label scores on one set of 40 labels):
# a tiny model is scored in seconds, yet each score's code path runs.
TINY_EVALUATION = ['--eval_num_train', '40', '--eval_num_eval', '20', '--eval_num_points', '64', '--eval_batch_size', '8',
                   '--downstream_sizes', '10,20', '--task_codes', '40', '--fairness_points', '5', '--strong_experiments', '1',
                   '--selection_labels', '40']


def pytest_addoption(parser):
    parser.addoption('--slow', action='store_true', help='also run the stress tests (minutes each)')


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: a stress test of minutes; runs with pytest --slow')


def pytest_collection_modifyitems(config, items):
    if not config.getoption('--slow'):
        for item in items:
            if 'slow' in item.keywords:
                item.add_marker(pytest.mark.skip(reason='a stress test of minutes: run it with pytest --slow'))


@pytest.fixture
def fresh_graph():
    """Each test in a graph of its own, with graph-level seed 0. A module that builds graphs in every test
    asks for it once: pytestmark = pytest.mark.usefixtures('fresh_graph')."""
    import tensorflow.compat.v1 as tf
    with tf.Graph().as_default():
        tf.set_random_seed(0)
        yield


def run_cli(*args, cwd=ROOT):
    """`python vae.py ARGS` in a subprocess, as a user runs it: the CompletedProcess, its output as text."""
    import subprocess
    return subprocess.run([sys.executable, os.path.join(ROOT, 'vae.py')] + list(args), cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


@pytest.fixture
def celeba_dir(tmp_path):
    """A small aligned-CelebA folder: 40 good 178x218 JPEGs, a truncated one, a PNG named .jpg, an empty one."""
    from PIL import Image
    folder = tmp_path / 'CelebA' / 'img_align_celeba'
    folder.mkdir(parents=True)
    for i in range(40):
        write_jpeg(str(folder / '{:06d}.jpg'.format(i + 1)), seed=i)
    good = (folder / '000001.jpg').read_bytes()
    (folder / '000041.jpg').write_bytes(good[:len(good) // 2])
    Image.new('RGB', (178, 218)).save(str(folder / '000042.jpg'), format='PNG')
    (folder / '000043.jpg').write_bytes(b'')
    return folder


@pytest.fixture
def tiny_overrides(tmp_path):
    """Command-line overrides for a tiny, fast CelebA model writing into tmp_path."""
    return ['--filters', '4,4,4,4', '--latent_dim', '3', '--batch_size', '4', '--num_gen_imgs', '8',
            '--grid_size', '2,4', '--summary_freq', '1', '--image_snapshot_freq', '1'] + folder_flags(tmp_path)


def gif_shown_ms(path):
    """(size, milliseconds the animation runs) of a GIF. Pillow merges a frame identical to the one before
    into it, adding its time, so a tiny model's near-equal pictures can make fewer frames but never less time."""
    from PIL import Image
    with Image.open(path) as gif:
        shown = 0
        for frame in range(gif.n_frames):
            gif.seek(frame)
            shown += gif.info['duration']
        return gif.size, shown


def train_from_scratch(graph, steps):
    """(loss before, loss after, global step) of `steps` training steps of a training.TrainingStep from fresh weights."""
    import tensorflow.compat.v1 as tf
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        first = sess.run(graph.total)
        for _ in range(steps):
            sess.run(graph.train_op)
        return first, sess.run(graph.total), sess.run(graph.global_step)


class SmallDisk(object):
    """A real filesystem of a few MB (tmpfs) at `path`, that fill() makes full but for a few bytes."""

    def __init__(self, path):
        self.path = path
        self.filler = os.path.join(path, 'filler')

    def fill(self, leave_bytes):
        """Takes all the free space but `leave_bytes`."""
        free = os.statvfs(self.path).f_bavail * os.statvfs(self.path).f_frsize
        with open(self.filler, 'ab') as f:
            f.write(b'\0' * max(0, free - leave_bytes))

    def free(self):
        os.remove(self.filler)


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs mounted for the test (Python's open can not fake a full disk for TensorFlow's C++
    writers); skips, saying why, where it can not be mounted."""
    import subprocess
    path = str(tmp_path / 'disk')
    os.makedirs(path)
    if os.geteuid() != 0:
        pytest.skip('mounting a small tmpfs to fill up needs root (CI runs as root)')
    mounted = subprocess.call(['mount', '-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', path], stderr=subprocess.DEVNULL)
    if mounted != 0:
        pytest.skip('could not mount a tmpfs at {} (mount exited {})'.format(path, mounted))
    try:
        yield SmallDisk(path)
    finally:
        subprocess.call(['umount', '-l', path])
