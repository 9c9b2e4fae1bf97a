"""The datasets with known factors, on small stand-ins in each published format (kit/standins.py): the
image read for given factor indices is the one at the published index formula, the procedural dSprites draw
what they should, and every one trains, resumes and is scored."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import data
import scores
import settings
import vae
from common import SettingsError
from conftest import ROOT
from datasets import GROUND_TRUTH, cars3d, mpi3d, open_ground_truth, shapes3d, smallnorb
from kit import standins
from kit.runs import folder_flags

# Small grids in each file's layout: every factor kept, fewer values.
SMALL = {'shapes3d': (2, 2, 2, 2, 2, 3), 'mpi3d': (2, 2, 2, 3, 3, 2, 2), 'smallnorb': (2, 4, 2, 3, 2),
         'cars3d': (4, 24, 2)}


@pytest.fixture
def small_grids(monkeypatch):
    monkeypatch.setattr(shapes3d.Shapes3D, 'factor_sizes', SMALL['shapes3d'])
    monkeypatch.setattr(mpi3d, 'LAYOUTS', {int(np.prod(SMALL['mpi3d'])): SMALL['mpi3d'], 460800: mpi3d.LAYOUTS[460800]})
    monkeypatch.setattr(smallnorb.SmallNORB, 'factor_sizes', SMALL['smallnorb'])
    monkeypatch.setattr(cars3d.Cars3D, 'factor_sizes', SMALL['cars3d'])


def write_standin(name, folder, compressed=False):
    os.makedirs(folder, exist_ok=True)
    if name == 'shapes3d':
        standins.write_shapes3d(folder, SMALL['shapes3d'], compressed)
    elif name.startswith('mpi3d'):
        standins.write_mpi3d(folder, name, int(np.prod(SMALL['mpi3d'])), compressed)
    elif name == 'smallnorb':
        standins.write_smallnorb(folder, SMALL['smallnorb'])
    elif name == 'cars3d':
        standins.write_cars3d(folder, SMALL['cars3d'][2])
    elif name == 'scream_dsprites':
        standins.write_scream(folder)
    return folder


FILE_DATASETS = [('shapes3d', False), ('shapes3d', True), ('mpi3d_real', False), ('mpi3d_toy', True),
                 ('smallnorb', False), ('cars3d', False)]


@pytest.mark.parametrize('name, compressed', FILE_DATASETS)
def test_the_image_of_given_factors_is_the_one_at_the_published_index(name, compressed, small_grids, tmp_path):
    cfg = settings.resolve(name, [('data_dir_path', write_standin(name, str(tmp_path), compressed))])
    dataset = open_ground_truth(cfg)
    classes = dataset.sample(np.random.RandomState(0), 40)
    np.testing.assert_array_equal(standins.index_of(dataset.images(classes)), dataset.index(classes))
    with tf.Graph().as_default(), tf.Session() as sess:   # the training pipeline reads the same images
        indices = dataset.index(classes)
        in_graph = sess.run(dataset.images_tensor(tf.constant(indices), None))
    np.testing.assert_array_equal(in_graph, dataset.images(classes))
    assert in_graph.shape[1:] == tuple(cfg.img_shape) and in_graph.dtype == np.float32
    # a memory map where the file allows: the array is never copied into memory
    assert isinstance(dataset.array, np.memmap) == (name in ('shapes3d', 'mpi3d_real') and not compressed)


def test_index_formula_is_row_major_with_the_last_factor_fastest():
    cfg = settings.resolve('dsprites', [])
    dataset = open_ground_truth(cfg)
    assert dataset.index([[0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0], [0, 1, 0, 0, 0, 0]]).tolist() == [1, 32, 40 * 32 * 32 * 6]
    np.testing.assert_array_equal(dataset.classes(dataset.index([[0, 2, 5, 39, 31, 7]])), [[0, 2, 5, 39, 31, 7]])


def test_smallnorb_scores_every_factor_but_the_instance(small_grids, tmp_path):
    cfg = settings.resolve('smallnorb', [('data_dir_path', write_standin('smallnorb', str(tmp_path)))])
    dataset = open_ground_truth(cfg)
    assert dataset.factor_names[1] == 'instance' and dataset.scored == [0, 2, 3, 4]


def procedural(name, tmp_path, classes):
    cfg = settings.resolve(name, [('data_dir_path', write_standin(name, str(tmp_path)))])
    sprites = open_ground_truth(settings.resolve('dsprites', [])).images(classes)[..., 0] > 0.5
    return open_ground_truth(cfg, seed=5).images(classes), sprites


def test_color_dsprites_paint_each_sprite_one_colour_in_half_to_full_brightness(tmp_path):
    images, sprites = procedural('color_dsprites', tmp_path, np.array([[0, s, 5, 0, 16, 16] for s in range(3)] * 30))
    for image, sprite in zip(images, sprites):
        colour = image[sprite]
        assert (colour >= 0.5).all() and (colour <= 1.0).all() and np.ptp(colour, axis=0).max() == 0
        assert (image[~sprite] == 0).all()
    colours = np.array([image[sprite][0] for image, sprite in zip(images, sprites)])
    assert len(np.unique(colours, axis=0)) == len(colours)   # drawn anew for every image


def test_noisy_dsprites_put_a_white_sprite_on_uniform_noise(tmp_path):
    images, sprites = procedural('noisy_dsprites', tmp_path, np.array([[0, 0, 0, 0, 0, 0]] * 64))
    assert (images[sprites] == 1.0).all()
    background = images[~sprites]
    assert 0.0 <= background.min() < 0.01 and 0.99 < background.max() < 1.0
    assert abs(background.mean() - 0.5) < 0.005 and abs(background.var() - 1 / 12.0) < 0.002


def test_scream_dsprites_invert_the_patch_under_the_sprite(tmp_path):
    standins.write_scream(str(tmp_path))
    cfg = settings.resolve('scream_dsprites', [('data_dir_path', str(tmp_path))])
    dataset = open_ground_truth(cfg)
    with tf.Graph().as_default(), tf.Session() as sess:
        seed = tf.constant([3, 4], tf.int64)
        empty = sess.run(dataset.appearance(tf.zeros([16, 64, 64, 3]), seed))
        full = sess.run(dataset.appearance(tf.ones([16, 64, 64, 3]), seed))
    np.testing.assert_allclose(full, 1.0 - empty, atol=1e-6)
    # the background is a patch of the picture averaged with one colour per image: (patch + colour) / 2
    assert empty.min() >= 0 and empty.max() <= 1.0 and len(np.unique(empty.reshape(16, -1)[:, 0])) == 16


def test_training_batches_resume_exactly_with_their_random_appearance(tmp_path):
    standins.write_scream(str(tmp_path))
    for name in ('color_dsprites', 'noisy_dsprites', 'scream_dsprites'):
        cfg = settings.resolve(name, [('data_dir_path', str(tmp_path)), ('batch_size', '4')])
        with tf.Graph().as_default(), tf.Session() as sess:
            whole = tf.data.make_one_shot_iterator(data.factor_batches(cfg)).get_next()
            run = [sess.run(whole) for _ in range(3)]
            resumed = sess.run(tf.data.make_one_shot_iterator(data.factor_batches(cfg, start=2 * 4)).get_next())
        np.testing.assert_array_equal(resumed, run[2])
        assert not np.array_equal(run[0], run[1])


@pytest.mark.parametrize('name', sorted(GROUND_TRUTH))
def test_every_dataset_trains_resumes_and_is_scored(name, small_grids, tmp_path, capsys):
    folder = write_standin(name, str(tmp_path / 'data'))
    args = ['--dataset', name, '--data_dir_path', folder, '--batch_size', '8', '--filters', '8,8,8,8',
            '--hidden_units', '16,16', *folder_flags(tmp_path), '--eval_num_train', '50', '--eval_num_eval', '30', '--downstream_sizes', '10,50',
            '--task_codes', '50', '--fairness_points', '5', '--strong_experiments', '1', '--eval_num_points', '60', '--eval_batch_size', '4', '--udr_images', '40', '--selection_labels', '40',
            '--traverse_kl_images', '40', '--eval_attribute_images', '40', '--explore_images', '40']   # 40 held out
    assert vae.main(['--train', '--steps', '2'] + args) == 0
    assert re.search(r'^{}: \d+ images$'.format(name), capsys.readouterr().out, re.M)   # the start-up line names it
    assert vae.main(['--train', '--steps', '3', '--evaluate'] + args) == 0
    assert 'resumed from' in capsys.readouterr().out
    result = json.loads((tmp_path / 'res' / 'metrics.json').read_text())
    assert result['step'] == 3
    for key in ('beta_vae', 'factor_vae', 'mig', 'dci', 'sap', 'irs', 'modularity', 'explicitness'):
        assert 0.0 <= result[key] <= 1.0, key
    assert result['gaussian_total_correlation'] >= 0 and result['mutual_info_score'] >= 0
    assert sorted(result['downstream_logistic']) == sorted(result['downstream_boosted_trees']) == ['10', '50']
    assert sorted(result['seconds']) == sorted(tuple(scores.METRICS) + ('samples', 'classifiers', 'few_labels'))
    assert sorted(result['few_labels']['40']) == sorted(scores.FEW_LABEL_METRICS)   # the model choice from 40 labels
    scored = open_ground_truth(settings.resolve(name, [('data_dir_path', folder)])).scored
    assert len(result['factor_information']) == len(scored)


def test_smallnorb_labels_off_the_grid_are_one_error(small_grids, tmp_path):
    folder = write_standin('smallnorb', str(tmp_path))
    info = os.path.join(folder, smallnorb.FILES['testing'].format('info'))
    matrix = smallnorb.read_rows(info, np.int32, (48, 4))
    matrix[1] = matrix[0]                   # one combination twice, one missing
    standins.write_norb_matrix(info, matrix)
    with pytest.raises(SettingsError, match='labels do not match the factor grid 2x4x2x3x2'):
        open_ground_truth(settings.resolve('smallnorb', [('data_dir_path', folder)]))


def train_cli(name, folder, tmp_path):
    """stderr's last line of `vae.py --train` on `folder`, which must fail before training, touching nothing in it."""
    before = sorted((f, os.path.getmtime(os.path.join(folder, f)), os.path.getsize(os.path.join(folder, f)))
                    for f in os.listdir(folder))
    done = subprocess.run([sys.executable, os.path.join(ROOT, 'vae.py'), '--train', '--steps', '1', '--dataset', name,
                           '--data_dir_path', folder, *folder_flags(tmp_path)],
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert done.returncode == 2, done.stderr
    assert 'Traceback' not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    after = sorted((f, os.path.getmtime(os.path.join(folder, f)), os.path.getsize(os.path.join(folder, f)))
                   for f in os.listdir(folder))
    assert after == before
    return done.stderr.strip()


def fresh(tmp_path, name):
    folder = tmp_path / name
    folder.mkdir()
    return str(folder)


def truncate(path):
    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) // 2)


def test_bad_shapes3d_files_are_one_line_each(tmp_path):
    import h5py
    missing = train_cli('shapes3d', fresh(tmp_path, 'empty'), tmp_path)
    assert 'no {}'.format(os.path.join(str(tmp_path / 'empty'), '3dshapes.h5')) in missing and 'googleapis' in missing
    small = fresh(tmp_path, 'small')
    standins.write_shapes3d(small, SMALL['shapes3d'])
    assert 'expected images (480000, 64, 64, 3) uint8, found images (96, 64, 64, 3) uint8' in train_cli(
        'shapes3d', small, tmp_path)
    truncate(os.path.join(small, '3dshapes.h5'))
    assert 'is not a readable HDF5 file' in train_cli('shapes3d', small, tmp_path)
    keys = fresh(tmp_path, 'keys')
    with h5py.File(os.path.join(keys, '3dshapes.h5'), 'w') as f:
        f.create_dataset('imgs', data=np.zeros((2, 64, 64, 3), np.uint8))
    assert "expected keys 'images' and 'labels', found keys ['imgs']" in train_cli('shapes3d', keys, tmp_path)
    grid = fresh(tmp_path, 'grid')   # the full shape, never written: a small file that reads as zeros
    with h5py.File(os.path.join(grid, '3dshapes.h5'), 'w') as f:
        f.create_dataset('images', (480000, 64, 64, 3), np.uint8, chunks=(64, 64, 64, 3), compression='gzip')
        f.create_dataset('labels', (480000, 6), np.float64, chunks=(4096, 6), compression='gzip')
    assert 'its labels do not match the factor grid 10x10x10x8x4x15' in train_cli('shapes3d', grid, tmp_path)


def test_bad_mpi3d_files_are_one_line_each(tmp_path):
    missing = train_cli('mpi3d_realistic', fresh(tmp_path, 'empty'), tmp_path)
    assert 'mpi3d_realistic.npz' in missing and 'Final_Dataset/mpi3d_realistic.npz' in missing
    folder = fresh(tmp_path, 'size')
    standins.write_mpi3d(folder, 'mpi3d_toy', 288)
    assert 'expected one of the published sizes, 460,800 or 1,036,800 images, found 288 images' in train_cli(
        'mpi3d_toy', folder, tmp_path)
    truncate(os.path.join(folder, 'mpi3d_toy.npz'))
    assert 'is not a readable npz file' in train_cli('mpi3d_toy', folder, tmp_path)
    keys = fresh(tmp_path, 'keys')
    np.savez(os.path.join(keys, 'mpi3d_real.npz'), imgs=np.zeros((2, 64, 64, 3), np.uint8))
    assert "expected key 'images', found keys ['imgs']" in train_cli('mpi3d_real', keys, tmp_path)
    shape = fresh(tmp_path, 'shape')
    np.savez(os.path.join(shape, 'mpi3d_real.npz'), images=np.zeros((2, 32, 32, 3), np.float32))
    assert "found 'images' float32 (2, 32, 32, 3)" in train_cli('mpi3d_real', shape, tmp_path)


def test_bad_smallnorb_and_cars3d_files_and_a_missing_scream_are_one_line_each(tmp_path):
    missing = train_cli('smallnorb', fresh(tmp_path, 'empty'), tmp_path)
    assert smallnorb.FILES['training'].format('cat') in missing and 'ylclab' in missing
    small = fresh(tmp_path, 'small')
    standins.write_smallnorb(small, SMALL['smallnorb'])
    assert 'cat.mat is not the expected file: expected dimensions (24300,), found dimensions (48,)' in train_cli(
        'smallnorb', small, tmp_path)
    norb = fresh(tmp_path, 'norb')   # the published labels, and image files that are not byte matrices
    standins.write_smallnorb(norb, smallnorb.SmallNORB.factor_sizes, images=False)
    for part in smallnorb.PARTS:
        standins.write_norb_matrix(os.path.join(norb, smallnorb.FILES[part].format('dat')), np.zeros((3, 4), np.int32))
    assert 'expected a NORB uint8 matrix (magic 0x1e3d4c55), found magic 0x1e3d4c54' in train_cli(
        'smallnorb', norb, tmp_path)
    cars = fresh(tmp_path, 'cars')
    assert 'no .mat files in' in train_cli('cars3d', cars, tmp_path)
    standins.write_cars3d(cars, 2)
    assert 'expected 183 car files, found 2 .mat files' in train_cli('cars3d', cars, tmp_path)
    scream = train_cli('scream_dsprites', fresh(tmp_path, 'scream'), tmp_path)
    assert 'scream.jpg' in scream and 'The_Scream.jpg' in scream


def test_a_mat_file_without_its_key_is_one_error(tmp_path):
    from scipy.io import savemat
    savemat(str(tmp_path / 'car_000_mesh.mat'), {'img': np.zeros((2, 2), np.uint8)})
    with pytest.raises(SettingsError, match="expected key 'im', found keys \\['img'\\]"):
        cars3d.read_mesh(str(tmp_path / 'car_000_mesh.mat'), 64)
    (tmp_path / 'bad.mat').write_bytes(b'not matlab')
    with pytest.raises(SettingsError, match='is not a readable MATLAB file'):
        cars3d.read_mesh(str(tmp_path / 'bad.mat'), 64)
