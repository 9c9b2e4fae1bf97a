"""A few labels: the labellers and the labelled set, each supervised loss against numpy, the schedules of its
weight, the labelled batches a step reads, and the one-line errors of bad label settings."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import data
import scores
import settings
import terms
from conftest import TINY_DSPRITES, run_cli
from datasets import labels, open_ground_truth
from kit.runs import folder_flags

tf.disable_v2_behavior()


def run(tensors):
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        return sess.run(tensors)


# ---- the labellers and the labelled set ----

def test_binning_splits_a_factors_values_into_equal_ranges():
    values = np.arange(40, dtype=np.float32)[:, None]
    binned, sizes = labels.binned(np.hstack([values, values % 3]), [40, 3], 5)
    np.testing.assert_array_equal(binned[:, 0], np.repeat(np.arange(5), 8))     # 40 values, 8 a bin
    np.testing.assert_array_equal(binned[:, 1], values[:, 0] % 3)              # 3 <= 5 values: kept
    assert sizes == [5, 3]
    six, _ = labels.binned(np.arange(6, dtype=np.float32)[:, None], [6], 5)     # 6 / 5 = 1.2 values a bin
    np.testing.assert_array_equal(six[:, 0], [0, 0, 1, 2, 3, 4])


def test_the_noisy_labeller_redraws_its_share_of_labels():
    clean = np.zeros((20000, 2), np.float32)
    noisy, sizes = labels.noisy(clean, [2, 10], 0.1, np.random.RandomState(0))
    assert sizes == [2, 10]
    # a redrawn label keeps its value with probability 1 / size
    assert np.mean(noisy[:, 0] != 0) == pytest.approx(0.1 * (1 - 1 / 2.0), abs=0.01)
    assert np.mean(noisy[:, 1] != 0) == pytest.approx(0.1 * (1 - 1 / 10.0), abs=0.01)


def test_the_labelled_set_is_a_seeded_sample_of_training_images_labelled_as_asked(tmp_path):
    cfg = settings.resolve('dsprites', [('labelled_images', '300'), ('labeller', 'partial'),
                                        ('label_factors', 'scale,x')])
    ground_truth = open_ground_truth(cfg)
    chosen = labels.labelled_set(cfg, ground_truth)
    assert chosen.labels.shape == (300, 2) and chosen.names == ['scale', 'x'] and chosen.sizes == [6, 32]
    np.testing.assert_array_equal(chosen.labels, chosen.classes[:, [2, 4]])
    indices = ground_truth.index(chosen.classes)
    assert len(set(indices)) == 300
    held_out = ground_truth.index(ground_truth.held_out_classes(cfg.eval_seed, labels.held_out_count(cfg)))
    assert not set(indices) & set(held_out)
    again = labels.labelled_set(cfg, ground_truth)
    np.testing.assert_array_equal(again.classes, chosen.classes)
    other = labels.labelled_set(cfg.replace(label_seed=1), ground_truth)
    assert not np.array_equal(other.classes, chosen.classes)


def test_the_few_label_scores_tell_a_code_of_the_labels_from_noise_and_from_a_mix():
    rng = np.random.RandomState(0)
    labels = np.stack([rng.randint(size, size=600) for size in (3, 6, 10)], axis=1).astype(np.float32)
    own = labels / labels.max(axis=0) + 0.01 * rng.randn(600, 3)       # each label in a dim of its own
    perfect = scores.labelled_scores(own, labels, bins=20)
    noise = scores.labelled_scores(rng.randn(600, 5), labels, bins=20)
    mixed = scores.labelled_scores(np.hstack([own[:, :1] + own[:, 1:2], own[:, 1:2] + own[:, 2:], own[:, :1]]),
                                   labels, bins=20)
    assert perfect['dci'] > 0.9 and perfect['modularity'] > 0.9 and perfect['mig'] > 0.8 and perfect['sap'] > 0.15
    assert noise['dci'] < 0.2 and noise['mig'] < 0.05 and noise['sap'] < 0.05
    for key in ('dci', 'mig', 'modularity'):
        assert noise[key] < mixed[key] < perfect[key], key


def test_a_step_reads_the_labelled_set_in_order_with_its_labels():
    cfg = settings.resolve('dsprites', [('objective', 's2_beta'), ('labelled_images', '12'), ('batch_size', '8')])
    ground_truth = open_ground_truth(cfg)
    chosen = labels.labelled_set(cfg, ground_truth)
    with tf.Graph().as_default():
        element = tf.data.make_one_shot_iterator(data.training_input(cfg, data.LABELLED, 1).dataset).get_next()
        with tf.Session() as sess:
            first, second = sess.run(element), sess.run(element)
    rows = np.arange(8, 24) % 12                      # from step 1: rows 8..11, 0..3, then 4..11
    np.testing.assert_array_equal(np.concatenate([first['labels'], second['labels']]), chosen.labels[rows])
    np.testing.assert_array_equal(first['labelled'], ground_truth.images(chosen.classes[rows[:8]]))
    assert first['images'].shape == (8, 64, 64, 1)


# ---- the supervised losses and their weight ----

CODES = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5], [-2.0, 1.0, 0.0], [0.0, 0.5, 1.0]], np.float32)
LABELS = np.array([[0, 2], [1, 0], [2, 1], [1, 3]], np.float32)
SIZES = [3, 4]


def test_xent_is_the_sigmoid_cross_entropy_with_labels_over_values():
    p = LABELS / np.array(SIZES, np.float32)
    z = CODES[:, :2]
    expected = np.sum(np.maximum(z, 0) - z * p + np.log1p(np.exp(-np.abs(z))))
    with tf.Graph().as_default():
        assert run(terms.supervised_xent(tf.constant(CODES), tf.constant(LABELS), SIZES)) == pytest.approx(expected)


def test_l2_and_cov_by_hand():
    with tf.Graph().as_default():
        l2 = run(terms.supervised_l2(tf.constant(CODES), tf.constant(LABELS), tf.constant(2.0)))
        cov = run(terms.supervised_cov(tf.constant(CODES), tf.constant(LABELS)))
    assert l2 == pytest.approx(np.sum((CODES[:, :2] * 2.0 - LABELS) ** 2))
    covariance = ((CODES - CODES.mean(0))[:, :, None] * (LABELS - LABELS.mean(0))[:, None, :]).mean(0)
    covariance[0, 0] = covariance[1, 1] = 0.0
    assert cov == pytest.approx(np.sum(covariance ** 2), rel=1e-5)


def test_embed_is_the_softmax_cross_entropy_over_embedded_values():
    embeddings = [np.array([0.0, 1.0, 2.0], np.float32), np.array([-1.0, 0.0, 1.0, 2.0], np.float32)]
    expected = 0.0
    for k, embedding in enumerate(embeddings):
        logits = -((CODES[:, k:k + 1] - embedding[None]) * 0.5) ** 2
        log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        expected += -np.mean(log_softmax[np.arange(4), LABELS[:, k].astype(int)])
    with tf.Graph().as_default():
        got = run(terms.supervised_embed(tf.constant(CODES), tf.constant(LABELS),
                                         [tf.constant(e) for e in embeddings], 0.5))
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize('schedule, expected', [('fixed', [4, 4, 4, 4]), ('anneal', [0, 2, 4, 4]),
                                                ('fine_tune', [0, 0, 0, 4])])
def test_the_weights_schedules(schedule, expected):
    with tf.Graph().as_default():
        got = run([terms.supervised_weight(4.0, step, schedule, 10) for step in (0, 5, 10, 11)])
    np.testing.assert_allclose(got, expected)


# ---- bad label settings: one line each ----

@pytest.mark.parametrize('flags, message', [
    (['--objective', 's2_beta', '--labelled_images', '800000'], 'labelled_images must be 1 to 732280'),
    (['--objective', 's2_tcvae', '--labeller', 'partial', '--label_factors', 'colour'],
     'label_factors must name factors of the dataset (shape, scale, orientation, x, y), got colour'),
    (['--objective', 's2_beta', '--labeller', 'oracle'], 'labeller must be one of perfect, binned, noisy, partial'),
    (['--objective', 's2_beta', '--supervised_loss', 'hinge'], 'supervised_loss must be one of xent, l2, cov, embed'),
])
def test_bad_label_settings_get_one_line(flags, message, tmp_path):
    result = run_cli('--train', '--steps', '1', *(TINY_DSPRITES + flags + folder_flags(tmp_path)))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_labels_on_a_dataset_without_factors_get_one_line(tmp_path):
    result = run_cli('--train', '--steps', '1', '--objective', 'supervised', *folder_flags(tmp_path))
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1
    assert 'objective supervised learns from labels of known factors, and dataset celeba has none' in lines[0]
