"""Known answers for each term of the objective."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import objectives

tf.disable_v2_behavior()


def run(tensor, feed=None):
    with tf.Session() as sess:
        return sess.run(tensor, feed)


@pytest.fixture(autouse=True)
def fresh_graph():
    with tf.Graph().as_default():
        yield


def test_kl_of_standard_normal_is_zero():
    kl = run(objectives.gaussian_kl(tf.zeros([2, 5]), tf.zeros([2, 5])))
    assert kl.shape == (2, 5)
    np.testing.assert_allclose(kl, 0.0, atol=1e-7)


def test_kl_of_known_gaussians():
    mean = np.array([[1.0, 0.0, -2.0]], np.float32)
    var = np.array([[1.0, 4.0, 0.25]], np.float32)
    # KL(N(m, v) || N(0, 1)) = 0.5 * (v + m^2 - 1 - ln v)
    expected = 0.5 * (var + mean ** 2 - 1.0 - np.log(var))
    kl = run(objectives.gaussian_kl(tf.constant(mean), tf.constant(np.log(var))))
    np.testing.assert_allclose(kl, expected, rtol=1e-5)
    np.testing.assert_allclose(kl[0, 0], 0.5)


def test_reconstruction_is_mean_squared_error_of_sigmoid():
    images = np.random.RandomState(0).rand(2, 4, 4, 3).astype(np.float32)
    logits = np.random.RandomState(1).randn(2, 4, 4, 3).astype(np.float32)
    expected = ((images - 1 / (1 + np.exp(-logits))) ** 2).mean(axis=(1, 2, 3))
    got = run(objectives.reconstruction_loss(tf.constant(images), tf.constant(logits), 'gaussian'))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_bernoulli_reconstruction_is_cross_entropy():
    images = np.array([[[[1.0], [0.0]]]], np.float32)
    logits = np.array([[[[0.0], [2.0]]]], np.float32)
    expected = (np.log(2.0) + np.log(1 + np.exp(2.0))) / 2
    got = run(objectives.reconstruction_loss(tf.constant(images), tf.constant(logits), 'bernoulli'))
    np.testing.assert_allclose(got, [expected], rtol=1e-5)


def _per_image_weights(batch, kl_weight):
    rec = tf.placeholder(tf.float32, [batch])
    kl = tf.placeholder(tf.float32, [batch, 4])
    loss = objectives.beta_vae_loss(rec, kl, kl_weight)
    d_rec, d_kl = tf.gradients(loss, [rec, kl])
    feed = {rec: np.ones(batch), kl: np.ones((batch, 4))}
    d_rec, d_kl = run([d_rec, d_kl], feed)
    return d_kl[0].sum() / d_rec[0]   # d loss / d mean-KL over d loss / d reconstruction, for one image


def test_trade_off_per_image_does_not_depend_on_batch_size():
    assert _per_image_weights(4, 0.7) == pytest.approx(0.7 / 32, rel=1e-6)
    assert _per_image_weights(64, 0.7) == pytest.approx(0.7 / 32, rel=1e-6)


def test_matches_the_original_objective_at_its_batch_of_32():
    rng = np.random.RandomState(0)
    rec, kl = rng.rand(32).astype(np.float32), rng.rand(32, 8).astype(np.float32)
    # The original: reconstruction summed over the batch, KL averaged over it, kl_weight = 0.7.
    original = rec.sum() + 0.7 * kl.mean(axis=1).mean()
    ours = run(objectives.beta_vae_loss(tf.constant(rec), tf.constant(kl), 0.7))
    assert ours * 32 == pytest.approx(original, rel=1e-5)


def test_equivalent_beta_in_usual_units():
    assert objectives.equivalent_beta(0.7, (128, 128, 3), 32) == pytest.approx(33.6)
    assert objectives.equivalent_beta(0.3125, (64, 64, 1), 10) == pytest.approx(4.0)


def test_capacity_schedule_rises_linearly_then_holds():
    step = tf.placeholder(tf.int64, [])
    capacity = objectives.capacity_schedule(step, 25.0, 1000)
    with tf.Session() as sess:
        values = [sess.run(capacity, {step: s}) for s in (0, 500, 1000, 5000)]
    np.testing.assert_allclose(values, [0.0, 12.5, 25.0, 25.0])


def test_capacity_loss_penalises_distance_from_the_target():
    rec = tf.constant([0.1, 0.3])
    kl = tf.constant([[1.0, 2.0], [3.0, 4.0]])        # 3 and 7 nats per image
    loss = objectives.capacity_loss(rec, kl, 1000.0, 5.0, 100)
    # mean(rec) + 1000/100 * mean(|3 - 5|, |7 - 5|)
    assert run(loss) == pytest.approx(0.2 + 10.0 * 2.0)
