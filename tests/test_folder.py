"""Your own images: any folder of JPEG and PNG files, in every mode; CelebA at 64x64."""
import json
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from PIL import Image

import data
import imagefiles
import settings
import vae
from common import SettingsError
from conftest import run_cli
from kit.standins import write_jpeg
from kit.runs import folder_flags

tf.disable_v2_behavior()


def smooth_picture(width, height, seed=0):
    """A PIL image of smooth colour blobs: what JPEG keeps and a resize barely changes."""
    small = np.random.RandomState(seed).randint(0, 256, (6, 6, 3)).astype(np.uint8)
    return Image.fromarray(small).resize((width, height), Image.BICUBIC)


@pytest.fixture
def mixed_folder(tmp_path):
    """12 usable pictures of mixed sizes, formats and modes in nested folders, and 5 unusable files."""
    root = tmp_path / 'photos'
    (root / 'holiday' / 'day1').mkdir(parents=True)
    (root / 'portraits').mkdir()
    for i in range(6):
        smooth_picture(300 + 170 * i, 200 + 90 * i, seed=i).save(str(root / 'holiday' / '{}.jpg'.format(i)),
                                                                 quality=90)
    smooth_picture(640, 480, 6).convert('L').save(str(root / 'portraits' / 'gray.jpg'))
    smooth_picture(500, 700, 7).convert('RGBA').save(str(root / 'portraits' / 'alpha.png'))
    smooth_picture(400, 400, 8).convert('P').save(str(root / 'portraits' / 'palette.png'))
    smooth_picture(1200, 300, 9).save(str(root / 'holiday' / 'day1' / 'wide.PNG'))
    smooth_picture(256, 256, 10).convert('LA').save(str(root / 'holiday' / 'day1' / 'gray_alpha.png'))
    smooth_picture(333, 999, 11).save(str(root / 'holiday' / 'day1' / 'tall.jpeg'))
    good = (root / 'holiday' / '0.jpg').read_bytes()
    (root / 'holiday' / 'cut.jpg').write_bytes(good[:len(good) // 2])
    (root / 'notes.txt').write_text('not a picture')
    (root / 'portraits' / 'empty.jpg').write_bytes(b'')
    smooth_picture(100, 100).save(str(root / 'portraits' / 'really_a_png.jpg'), format='PNG')
    (root / 'holiday' / 'cut.png').write_bytes((root / 'portraits' / 'alpha.png').read_bytes()[:300])
    return root


def folder_args(tmp_path, folder, *extra):
    return ['--dataset', 'folder', '--data_dir_path', str(folder), '--img_shape', '32,32,3', '--filters', '4,4',
            '--latent_dim', '3', '--batch_size', '4', '--num_gen_imgs', '8', '--grid_size', '2,4',
            '--holdout_percent', '25', '--traverse_kl_images', '10', '--eval_attribute_images', '10',
            '--summary_freq', '1', *folder_flags(tmp_path)] + list(extra)


def test_a_mixed_folder_skips_and_counts_bad_files_and_trains_in_every_mode(mixed_folder, tmp_path, capsys):
    split = imagefiles.split_folder(str(mixed_folder), 25.0)
    assert len(split.train) + len(split.holdout) == 12
    assert sorted(split.skipped) == [
        (os.path.join('holiday', 'cut.jpg'), 'truncated JPEG (no end-of-image marker)'),
        (os.path.join('holiday', 'cut.png'), 'truncated PNG (no IEND chunk)'),
        ('notes.txt', 'not a JPEG or PNG image'),
        (os.path.join('portraits', 'empty.jpg'), 'empty file'),
        (os.path.join('portraits', 'really_a_png.jpg'), 'a PNG file named .jpg')]

    args = folder_args(tmp_path, mixed_folder)
    assert vae.main(['--train', '--steps', '3'] + args) == 0
    out = capsys.readouterr().out
    assert 'folder: {} training, {} held-out images; skipped 5 unusable files'.format(
        len(split.train), len(split.holdout)) in out
    assert vae.main(['--generate', '--traverse', '--evaluate', '--plot'] + args) == 0
    res = tmp_path / 'res'
    for name in ('reals.jpg', 'randomFakeGrid.jpg', 'reconstructions.jpg', 'traverse_latentdim2.jpg',
                 'traverse_overview.png', 'losses.png'):
        assert (res / name).exists(), name
    result = json.loads((res / 'metrics.json').read_text())
    assert len(result['kl_per_dim']) == 3 and 'mig' not in result


def test_every_kind_of_picture_becomes_an_img_shape_tensor(mixed_folder):
    split = imagefiles.split_folder(str(mixed_folder), 0.0)
    cfg = settings.resolve('folder', [('img_shape', '48,32,3')])
    files = data.FileList(split.train, split, cfg)
    with tf.Graph().as_default():
        batch = tf.data.make_one_shot_iterator(data.named_batches(files, 64)).get_next()
        with tf.Session() as sess:
            paths, images = sess.run(batch)
    assert images.shape == (12, 48, 32, 3) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    gray = images[[p.decode().endswith('gray.jpg') for p in paths].index(True)]
    assert np.abs(gray[..., 0] - gray[..., 1]).max() < 0.02     # grayscale spread over the three channels


def test_the_same_picture_at_two_sizes_gives_the_same_tensor(tmp_path):
    big = smooth_picture(1600, 1200, seed=3)
    big.save(str(tmp_path / 'big.jpg'), quality=95)
    big.resize((400, 300), Image.LANCZOS).save(str(tmp_path / 'small.png'))
    split = imagefiles.split_folder(str(tmp_path), 0.0)
    cfg = settings.resolve('folder', [('img_shape', '64,64,3')])
    assert imagefiles.jpeg_scales(np.array([split.details[str(tmp_path / 'big.jpg')][1]]), cfg.img_shape)[0] == 8   # DCT
    with tf.Graph().as_default():
        batch = tf.data.make_one_shot_iterator(data.named_batches(data.FileList(
            split.train, split, cfg), 2)).get_next()
        with tf.Session() as sess:
            _, (first, second) = sess.run(batch)
    assert np.abs(first - second).mean() < 0.01          # within resampling (and JPEG) error


def test_jpeg_scales_keep_twice_the_side_of_the_image():
    sizes = np.array([[1200, 1600], [1023, 5000], [512, 512], [511, 300], [255, 4000], [100, 100]])
    assert imagefiles.jpeg_scales(sizes, (64, 64, 3)).tolist() == [8, 4, 4, 2, 1, 1]
    assert imagefiles.jpeg_scales(np.zeros([0, 2], np.int64), (64, 64, 3)).tolist() == []


def test_image_files_give_each_path_back_from_the_graph(tmp_path):
    """The paths live in the graph as a common prefix, one joined string and offsets: every one, of any
    length and alphabet, comes back whole, a lone path too."""
    names = ['a.jpg', 'été/ß.png', 'x' * 200 + '.jpg', '日本.jpeg', 'a.jpg.png', os.fsdecode(b'caf\xe9.jpg')]
    paths = [str(tmp_path / name) for name in names]
    for chosen in [paths, paths[1:2]]:
        files = data.FileList(chosen, imagefiles.Split(chosen, []), settings.resolve('folder', []))
        with tf.Graph().as_default():
            index = tf.placeholder(tf.int64, [])
            path = files.path(index)
            with tf.Session() as sess:
                order = list(reversed(range(len(chosen))))
                assert [sess.run(path, {index: i}) for i in order] == [os.fsencode(chosen[i]) for i in order]


def test_a_resumed_folder_run_reads_exactly_the_images_it_would_have(mixed_folder):
    cfg = settings.resolve('folder', [('data_dir_path', str(mixed_folder)), ('img_shape', '32,32,3'),
                                      ('batch_size', '4'), ('holdout_percent', '0')])

    def batches(start_step, count):
        with tf.Graph().as_default():
            batch = tf.data.make_one_shot_iterator(data.training_input(cfg, data.ONE_BATCH, start_step).dataset).get_next()['images']
            with tf.Session() as sess:
                return [sess.run(batch) for _ in range(count)]

    straight = batches(0, 7)          # 28 images: past the end of the first epoch of 12
    resumed = batches(4, 3)
    for expected, got in zip(straight[4:], resumed):
        np.testing.assert_array_equal(expected, got)


def test_celeba_at_64x64_trains_and_traverses(celeba_dir, tiny_overrides, tmp_path):
    args = tiny_overrides + ['--data_dir_path', str(celeba_dir), '--img_shape', '64,64,3', '--holdout_percent', '50']
    assert vae.main(['--train', '--steps', '2', '--traverse', '--generate'] + args) == 0
    with Image.open(str(tmp_path / 'res' / 'traverse_latentdim0.jpg')) as grid:
        assert grid.size == (10 * 64, 5 * 64)
    with Image.open(str(tmp_path / 'res' / 'reconstructions.jpg')) as grid:
        assert grid.size == (4 * 64, 2 * 64)


def test_folder_errors_are_one_line(tmp_path, mixed_folder):
    empty = tmp_path / 'nothing_usable'
    empty.mkdir()
    (empty / 'readme.txt').write_text('hello')
    few = tmp_path / 'few'
    few.mkdir()
    write_jpeg(str(few / 'a.jpg'), 64, 64)
    cases = [
        (tmp_path / 'missing', 'image folder {} does not exist'.format(tmp_path / 'missing')),
        (empty, 'has no usable JPEG or PNG file (1 skipped, e.g. readme.txt (not a JPEG or PNG image))'),
        (few, 'batch_size 4 is larger than the 1 usable training images'),
    ]
    for folder, message in cases:
        run = run_cli('--train', '--steps', '1', *folder_args(tmp_path, folder, '--holdout_percent', '0'))
        assert run.returncode == 2 and message in run.stderr, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1


def test_folder_settings_are_checked():
    with pytest.raises(SettingsError, match='1 \\(gray\\) or 3 \\(RGB\\) channels'):
        settings.resolve('folder', [('img_shape', '32,32,4')])
