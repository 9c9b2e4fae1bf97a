"""Weak supervision from pairs: the shared-dim choices and the two averages against answers written here,
the pair sampler's rule, the pair pipeline, and the one-line errors. The registry walk in test_objectives.py
trains, resumes and evaluates every weak objective."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import data
import objectives
import settings
import terms
import training
import vae
from common import SettingsError
from conftest import ROOT, TINY_DSPRITES, train_from_scratch
from datasets import open_ground_truth
from datasets.groundtruth import GroundTruth
from datasets.pairs import changeable, sample_pairs, step_pairs
from kit.graphs import binary_images, training_batch
from kit.runs import folder_flags

tf.disable_v2_behavior()


def run(tensors):
    with tf.Graph().as_default():
        with tf.Session() as sess:
            return sess.run(tensors())


def constant(values):
    return tf.constant(np.asarray(values, np.float32))


# ---- which dims are shared ----

def test_the_adaptive_threshold_is_halfway_between_the_smallest_and_largest_kl():
    kl = [[0.0, 1.0, 4.9, 5.0, 10.0],      # threshold 5.0: 5.0 itself is not below it
           [2.0, 2.0, 2.0, 2.0, 2.0],      # all equal: nothing tells the dims apart, all shared
           [0.1, 0.1, 7.0, 0.1, 0.1],      # one changed dim
           [3.0, 3.0, 3.0, 3.0, 3.5]]      # threshold 3.25
    shared = run(lambda: terms.adaptive_shared(constant(kl)))
    np.testing.assert_array_equal(shared, [[True, True, True, False, False],
                                           [True, True, True, True, True],
                                           [True, True, False, True, True],
                                           [True, True, True, True, False]])


def test_given_k_the_dims_with_the_largest_kl_are_the_pairs_own():
    kl = [[0.5, 9.0, 0.1, 3.0],
          [0.5, 9.0, 0.1, 3.0],
          [1.0, 1.0, 1.0, 1.0]]             # ties go to the lower dim
    shared = run(lambda: terms.known_shared(constant(kl), tf.constant([1, 2, 2])))
    np.testing.assert_array_equal(shared, [[True, False, True, True],
                                           [True, False, True, False],
                                           [False, False, True, True]])


def test_the_kl_between_a_pairs_posteriors_by_hand():
    """KL(N(1, 1) || N(0, 4)) = 0.5 (1/4 + 1/4 - 1 + log 4); identical posteriors give 0."""
    kl = run(lambda: terms.pair_kl(constant([[1.0, 0.3]]), constant([[0.0, -0.2]]),
                                   constant([[0.0, 0.3]]), constant([[np.log(4.0), -0.2]])))
    np.testing.assert_allclose(kl, [[0.5 * (0.25 + 0.25 - 1.0 + np.log(4.0)), 0.0]], atol=1e-6)


# ---- the averaged posteriors ----

def test_the_group_average_is_the_mean_of_the_means_and_of_the_variances():
    """Means (1, -2) and (3, 4): (2, 1). Variances (1, 4) and (3, 2): (2, 3)."""
    mean, logvar = run(lambda: terms.group_average(constant([[1.0, -2.0]]), constant(np.log([[1.0, 4.0]])),
                                                   constant([[3.0, 4.0]]), constant(np.log([[3.0, 2.0]]))))
    np.testing.assert_allclose(mean, [[2.0, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(np.exp(logvar), [[2.0, 3.0]], rtol=1e-6)


def test_the_ml_average_is_precision_weighted_with_the_harmonic_mean_of_the_variances():
    """Variances (1, 4) and (3, 2): harmonic means 2*1*3/4 = 1.5 and 2*4*2/6 = 8/3. Means (1, -2) and (3, 4)
    weighed by precision: (1*1 + 3/3) / (1 + 1/3) = 1.5 and (-2/4 + 4/2) / (1/4 + 1/2) = 2."""
    mean, logvar = run(lambda: terms.ml_average(constant([[1.0, -2.0]]), constant(np.log([[1.0, 4.0]])),
                                                constant([[3.0, 4.0]]), constant(np.log([[3.0, 2.0]]))))
    np.testing.assert_allclose(mean, [[1.5, 2.0]], rtol=1e-6)
    np.testing.assert_allclose(np.exp(logvar), [[1.5, 8.0 / 3.0]], rtol=1e-6)


def test_the_shared_dims_take_the_average_and_the_others_keep_their_own():
    """One pair, dim 0 far apart (KL 8) and dims 1, 2 close: dim 0 keeps each image's posterior."""
    cfg = settings.resolve('dsprites', [('latent_dim', '3')])
    means = [[4.0, 0.1, 0.0], [0.0, 0.0, 0.2]]     # the first image, then its partner
    logvars = [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    mean, logvar, logged = run(lambda: objectives.get('ada_gvae').posterior(constant(means), constant(logvars),
                                                                         None, cfg))
    np.testing.assert_allclose(mean, [[4.0, 0.05, 0.1], [0.0, 0.05, 0.1]], rtol=1e-6)
    np.testing.assert_allclose(logvar, 0.0, atol=1e-6)
    assert logged['pairs/shared_dims'] == 2.0 and logged['pairs/kl_between/00'] == pytest.approx(8.0)


def test_the_pair_loss_is_the_mean_over_both_images_of_rec_plus_beta_kl_over_n():
    # Two pairs (first images, then partners), three dims; every image's KL sum differs, so a sum over the
    # wrong axis or a pair's images dropped changes the answer.
    reconstruction = [0.1, 0.3, 0.2, 0.4]
    kl_per_dim = [[1.0, 2.0, 0.0], [3.0, 0.0, 1.0], [0.5, 0.0, 0.0], [2.0, 2.0, 2.0]]
    loss = run(lambda: terms.pair_elbo_loss(constant(reconstruction), constant(kl_per_dim), 4.0, 100))
    kl_sums = [3.0, 4.0, 0.5, 6.0]
    assert loss == pytest.approx(sum(r + 4.0 * k / 100 for r, k in zip(reconstruction, kl_sums)) / 4)


@pytest.mark.parametrize('name', ['ada_gvae', 'ada_mlvae', 'gvae_labels', 'mlvae_labels'])
@pytest.mark.parametrize('precision', ['float32', 'bfloat16'])
def test_each_weak_objective_learns_in_each_precision(name, precision):
    cfg = settings.resolve('dsprites', [('objective', name), ('precision', precision), ('batch_size', '4'),
                                        ('filters', '8,8,8,8'), ('hidden_units', '16,16'), ('learning_rate', '1e-3')])
    with tf.Graph().as_default():
        tf.set_random_seed(0)
        graph = training.build_training(training_batch(cfg, binary_images(cfg), changed=tf.constant([1, 2, 1, 3])), cfg)
        first, last, step = train_from_scratch(graph, 15)
    assert step == 15 and np.isfinite(last) and last < first


# ---- the sampler ----

class Grid(GroundTruth):
    """A grid with a constant factor (0) and one the metrics leave out (4), like SmallNORB's instance."""
    factor_sizes = (1, 3, 4, 5, 6, 2)
    unscored = (4,)


def test_a_pair_differs_in_at_most_the_factors_drawn_and_the_counts_follow_simple_dynamics():
    grid = Grid()
    pairs = sample_pairs(grid, np.random.RandomState(0), 40000)
    scored = changeable(grid, 0)
    assert scored == [1, 2, 3, 5]
    differ = (pairs.first[:, scored] != pairs.second[:, scored]).sum(axis=1)
    assert (differ <= pairs.changed).all() and (pairs.first[:, 0] == 0).all() and (pairs.second[:, 0] == 0).all()
    # k uniform in 1..3, then 1 or k with probability 1/2: P(1) = 1/2 + 1/6, P(2) = P(3) = 1/6.
    counts = np.bincount(pairs.changed, minlength=4)[1:] / 40000.0
    np.testing.assert_allclose(counts, [2 / 3.0, 1 / 6.0, 1 / 6.0], atol=0.01)
    # Every factor that varies gets changed; the left-out one is drawn anew for every partner.
    for factor in scored:
        assert (pairs.first[:, factor] != pairs.second[:, factor]).any()
    assert np.mean(pairs.first[:, 4] != pairs.second[:, 4]) == pytest.approx(5 / 6.0, abs=0.01)


def test_a_fixed_k_changes_one_or_k_factors_half_the_time_each():
    pairs = sample_pairs(Grid(), np.random.RandomState(1), 20000, k=3)
    assert set(np.unique(pairs.changed)) == {1, 3}
    assert np.mean(pairs.changed == 3) == pytest.approx(0.5, abs=0.015)


def test_a_steps_pairs_depend_on_the_seed_and_step_alone():
    grid = Grid()
    once, again = step_pairs(grid, 7, 1234, 64), step_pairs(grid, 7, 1234, 64)
    for a, b in zip(once, again):
        np.testing.assert_array_equal(a, b)
    assert (step_pairs(grid, 7, 1235, 64).first != once.first).any()
    assert (step_pairs(grid, 8, 1234, 64).first != once.first).any()


def test_k_out_of_range_is_refused():
    with pytest.raises(SettingsError, match='weak_k must be 0'):
        sample_pairs(Grid(), np.random.RandomState(0), 4, k=4)


# ---- the pipeline ----

def pair_batch(cfg, start_step, batches):
    with tf.Graph().as_default():
        batch = tf.data.make_one_shot_iterator(data.pair_batches(cfg, start_step=start_step)).get_next()
        batch = batch['images'], batch['changed']
        with tf.Session() as sess:
            return [sess.run(batch) for _ in range(batches)]


def test_pair_batches_are_the_sampled_pairs_images_and_resume_exactly():
    cfg = settings.resolve('dsprites', [('batch_size', '4'), ('seed', '3')])
    stream = pair_batch(cfg, 0, 3)
    resumed = pair_batch(cfg, 2, 1)[0]
    np.testing.assert_array_equal(resumed[0], stream[2][0])
    np.testing.assert_array_equal(resumed[1], stream[2][1])
    ground_truth = open_ground_truth(cfg)
    pairs = step_pairs(ground_truth, 3, 2, 4)
    images, changed = stream[2]
    assert images.shape == (8, 64, 64, 1)
    np.testing.assert_array_equal(images, ground_truth.images(np.concatenate([pairs.first, pairs.second])))
    np.testing.assert_array_equal(changed, pairs.changed)


def test_on_color_dsprites_each_image_of_a_pair_takes_its_own_colour():
    # As disentanglement_lib draws the colour for every observation: it is no factor, so a pair shares none.
    cfg = settings.resolve('color_dsprites', [('batch_size', '4'), ('seed', '3')])
    images, _ = pair_batch(cfg, 0, 1)[0]
    pairs = step_pairs(open_ground_truth(cfg), 3, 0, 4)
    sprites = open_ground_truth(settings.resolve('dsprites', [])).images(np.concatenate([pairs.first, pairs.second]))
    np.testing.assert_array_equal(images.max(axis=-1) > 0, sprites[..., 0] > 0)
    colours = np.array([image[sprite[..., 0] > 0].mean(axis=0) for image, sprite in zip(images, sprites)])
    assert ((colours >= 0.5) & (colours <= 1.0)).all()
    assert np.abs(colours[:4] - colours[4:]).max(axis=1).min() > 0.01, colours


# ---- what a user sees ----

def cli(args, tmp_path):
    dirs = folder_flags(tmp_path)
    done = subprocess.run([sys.executable, os.path.join(ROOT, 'vae.py'), '--train', '--steps', '1'] + args + dirs,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, cwd=str(tmp_path))
    return done.returncode, [line for line in done.stderr.splitlines() if line.startswith('error')]


def test_a_budget_in_images_counts_a_pair_as_two_and_a_count_behind_the_checkpoint_is_one_line(tmp_path, capsys):
    dirs = folder_flags(tmp_path) + ['--objective', 'ada_gvae']
    # 8 pairs a step are 16 images, so 48 images are 3 steps (6 for an objective of single images).
    assert vae.main(['--train', '--images', '0.000048'] + TINY_DSPRITES + dirs) == 0
    assert 'step 3/3' in capsys.readouterr().out
    assert vae.main(['--train', '--images', '0.000016'] + TINY_DSPRITES + dirs) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        'error: the checkpoint in {} is at step 3, past --images 1.6e-05 (step 1): give a larger count or another '
        'checkpoint_dir'.format(tmp_path / 'ck')]


@pytest.mark.parametrize('dataset', ['celeba', 'folder'])
def test_a_weak_objective_without_factors_is_one_line_saying_why(dataset, tmp_path):
    code, errors = cli(['--dataset', dataset, '--objective', 'ada_gvae', '--data_dir_path', str(tmp_path)], tmp_path)
    assert code != 0 and len(errors) == 1, errors
    assert 'pairs of images that differ in a few known factors' in errors[0] and dataset in errors[0]
    assert not (tmp_path / 'ck').exists()


def test_a_bad_k_is_one_line(tmp_path):
    code, errors = cli(TINY_DSPRITES + ['--objective', 'ada_mlvae', '--weak_k', '5'], tmp_path)
    assert code != 0 and errors == ['error: weak_k must be 0 (k drawn for each pair) or 1 to 4 (DSprites has 5 '
                                    'factors that vary), got 5'], errors
