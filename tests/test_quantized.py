"""Quantized latents (QLAE, QLVAE; Hsu et al. 2023): the rounding, the straight-through gradient, the codebook
losses and AdamW's decay against hand-worked values; a trained model's pictures, explorer and scores reading
its learnt values; the bad settings' one-line errors."""
import json

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import explorer
import inference
import metrics
import model
import pictures
import settings
import terms
import training
import vae
from conftest import TINY_DSPRITES, run_cli
from devtools import Browser, find_chromium
from kit.runs import folder_flags

tf.disable_v2_behavior()


def run(tensors, feed=None):
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        return sess.run(tensors, feed)


# ---- the pure terms ----

def test_rounding_picks_each_dims_nearest_own_value(fresh_graph):
    values = tf.constant([[-1.0, 0.0, 2.0], [10.0, 20.0, 30.0]])
    z = tf.constant([[0.4, 26.0], [1.2, -5.0], [-3.0, 14.0]])
    quantized, index = run(model.nearest_values(z, values))
    np.testing.assert_array_equal(quantized, [[0.0, 30.0], [2.0, 10.0], [-1.0, 10.0]])
    np.testing.assert_array_equal(index, [[1, 2], [2, 0], [0, 0]])


def test_codebooks_start_evenly_over_minus_a_half_to_a_half(fresh_graph):
    cfg = settings.resolve('dsprites', [('objective', 'qlae'), ('latent_values', '5')])
    values = run(model.codebooks(cfg))
    assert values.shape == (10, 5)
    np.testing.assert_allclose(values, np.tile([-0.5, -0.25, 0.0, 0.25, 0.5], (10, 1)))


def test_straight_through_has_the_rounded_value_and_the_identitys_gradient(fresh_graph):
    z = tf.constant([[0.3, -0.7]])
    quantized = tf.constant([[0.5, -1.0]])
    weights = tf.constant([[2.0, -3.0]])
    passed = model.straight_through(z, quantized)
    value, gradient = run([passed, tf.gradients(tf.reduce_sum(weights * passed), z)[0]])
    np.testing.assert_allclose(value, [[0.5, -1.0]])
    np.testing.assert_allclose(gradient, [[2.0, -3.0]])          # d/dz of sum(w * z): w


def test_quantization_and_commitment_losses_on_two_codes(fresh_graph):
    """Two images, two dims: both losses are the mean squared distance per image; the quantization loss moves
    only the values, the commitment loss only the codes."""
    z = tf.constant([[0.3, -0.2], [1.0, 0.0]])
    quantized = tf.constant([[0.5, 0.0], [0.5, 0.5]])
    quantization = terms.quantization_loss(z, quantized)
    commitment = terms.commitment_loss(z, quantized)
    losses = run([quantization, commitment])
    for loss in losses:   # ((0.3 - 0.5)^2 + 0.2^2) / 2 and (0.5^2 + 0.5^2) / 2
        np.testing.assert_allclose(loss, [0.04, 0.25], rtol=1e-6)
    dq = tf.gradients(tf.reduce_sum(quantization), [z, quantized])
    dc = tf.gradients(tf.reduce_sum(commitment), [z, quantized])
    assert dq[0] is None and dc[1] is None
    np.testing.assert_allclose(run(dq[1]), [[0.2, 0.2], [-0.5, 0.5]], rtol=1e-6)    # -2 (z - q) / 2
    np.testing.assert_allclose(run(dc[0]), [[-0.2, -0.2], [0.5, -0.5]], rtol=1e-6)


def test_the_qlvae_loss_adds_the_kl_in_the_usual_units(fresh_graph):
    reconstruction = tf.constant([0.5, 0.25])
    quantization, commitment = tf.constant([0.04, 0.25]), tf.constant([0.04, 0.25])
    kl_per_dim = tf.constant([[1.0, 3.0], [0.0, 2.0]])
    qlae = terms.quantized_ae_loss(reconstruction, quantization, commitment, 0.01, 0.02)
    qlvae = terms.quantized_vae_loss(reconstruction, quantization, commitment, kl_per_dim, 0.01, 0.02, 4.0, 64)
    got = run([qlae, qlvae])
    expected_qlae = np.mean([0.5 + 0.03 * 0.04, 0.25 + 0.03 * 0.25])
    np.testing.assert_allclose(got[0], expected_qlae, rtol=1e-6)
    np.testing.assert_allclose(got[1], expected_qlae + np.mean([4.0 * 4 / 64, 4.0 * 2 / 64]), rtol=1e-6)


def test_adamw_step_matches_numpy(fresh_graph):
    """One step on loss = sum(g * w): the kernel moves by Adam's first step and shrinks by lr * decay of
    itself; the bias takes Adam's step alone."""
    lr, decay, beta1, beta2, epsilon = 0.01, 0.1, 0.9, 0.999, 1e-8
    start = {'layer/kernel': np.array([1.0, -2.0, 0.5], np.float32), 'layer/bias': np.array([3.0], np.float32)}
    slopes = {'layer/kernel': np.array([0.3, -0.1, 0.0], np.float32), 'layer/bias': np.array([0.2], np.float32)}
    with tf.variable_scope('layer'):
        variables = [tf.get_variable(name.split('/')[1], initializer=start[name]) for name in sorted(start)]
    loss = tf.add_n([tf.reduce_sum(slopes[v.op.name] * v) for v in variables])
    optimizer = tf.train.AdamOptimizer(lr, beta1=beta1, beta2=beta2, epsilon=epsilon)
    step = training.minimize_with_weight_decay(optimizer, loss, tf.train.get_or_create_global_step(), variables,
                                               lr, decay)
    assert [v.op.name for v in training.decayed(variables)] == ['layer/kernel']
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(step)
        after = dict(zip([v.op.name for v in variables], sess.run(variables)))
    step_size = lr * np.sqrt(1 - beta2) / (1 - beta1)      # TF's Adam: the bias corrections in the step size
    for name, w in start.items():
        g = slopes[name]
        adam = step_size * ((1 - beta1) * g) / (np.sqrt((1 - beta2) * g * g) + epsilon)
        shrink = lr * decay * w if name.endswith('kernel') else 0.0
        np.testing.assert_allclose(after[name], w - shrink - adam, rtol=1e-5, atol=1e-7)


def test_information_per_dim_of_a_quantized_code_is_the_entropy_of_its_values():
    codes = np.array([[0.5, 1.0], [0.5, 1.0], [-0.5, 1.0], [-0.5, 1.0]])
    np.testing.assert_allclose(metrics.information_per_dim(codes, None, quantized=True), [np.log(2), 0.0])
    assert metrics.information_label(True) == 'H' and metrics.information_label(False) == 'KL'


# ---- a trained quantized model ----

TINY = TINY_DSPRITES + ['--objective', 'qlae', '--traverse_kl_images', '50', '--explore_images', '4']


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp('qlae')
    flags = TINY + folder_flags(folder)
    assert vae.main(['--train', '--steps', '2'] + flags) == 0
    cfg = settings.resolve('dsprites', settings.parse_overrides(flags[2:]))
    with tf.Graph().as_default():
        restored = inference.Restored(cfg)
    yield restored, flags, folder
    restored.close()


def test_the_learnt_values_train_and_the_codes_take_them(trained):
    restored, _, _ = trained
    assert restored.quantized and restored.values.shape == (10, 10)
    assert np.all(np.diff(restored.values, axis=1) > 0)
    assert not np.allclose(restored.values, np.linspace(-0.5, 0.5, 10))   # the used values moved
    images = np.random.RandomState(0).rand(6, 64, 64, 1).astype(np.float32)
    codes = restored.encode(images)[0]
    for dim in range(10):
        assert set(codes[:, dim]) <= set(restored.values[dim])
    z = np.random.RandomState(1).randn(3, 10)
    snapped = restored.to_code(z)
    for dim in range(10):
        nearest = restored.values[dim][np.abs(z[:, dim, None] - restored.values[dim]).argmin(axis=1)]
        np.testing.assert_array_equal(snapped[:, dim], nearest)


def test_traverse_steps_through_each_dims_learnt_values(trained):
    restored, _, folder = trained
    for dim in (0, 7):
        np.testing.assert_array_equal(pictures.sweep(restored, dim), restored.values[dim])
    seeds = pictures.traversal_seeds(restored)
    latents = pictures.traversal_latents(seeds, 7, pictures.sweep(restored, 7))
    np.testing.assert_array_equal(latents[:10, 7], restored.values[7])
    for dim in range(10):
        assert set(latents[:, dim]) <= set(restored.values[dim])
    sample = pictures.prior_sample(restored, 40, np.random.RandomState(0))
    for dim in range(10):
        assert set(sample[:, dim]) <= set(restored.values[dim])
    active = pictures.traverse(restored)
    assert (folder / 'res' / 'traverse_latentdim9.jpg').exists() and (folder / 'res' / 'traverse_overview.png').exists()
    assert set(active) <= set(range(10))


def test_evaluate_scores_the_codes_as_discrete(trained, capsys):
    _, flags, folder = trained
    small = ['--eval_num_train', '40', '--eval_num_eval', '20', '--eval_num_points', '64', '--eval_batch_size', '8',
             '--eval_metrics', 'infomec,mig']
    assert vae.main(['--evaluate'] + flags + small) == 0
    assert 'H per dim' in capsys.readouterr().out
    result = json.loads((folder / 'res' / 'metrics.json').read_text())
    assert all(0 <= result[key] <= 1 for key in ('infom', 'infoe', 'infoc', 'mig'))
    entropy = np.array(result['kl_per_dim'])
    assert np.all(entropy >= 0) and np.all(entropy <= np.log(10) + 1e-9)


def test_the_explorer_offers_the_learnt_values(trained):
    restored, _, _ = trained
    page = explorer.Explorer(restored, 4)
    dims = page.dims()
    np.testing.assert_allclose(dims['values'], restored.values)
    assert dims['information'] == 'H'
    for dim in range(10):
        assert set(np.array(dims['seeds'])[:, dim]) <= set(restored.values[dim].tolist())


@pytest.mark.skipif(find_chromium() is None, reason='Chromium is not installed (apt-get install chromium); '
                                                     '.ci/run installs it')
def test_a_real_browser_slides_a_quantized_dim_through_its_values(trained):
    restored, _, _ = trained
    httpd = explorer.make_server(explorer.Explorer(restored, 4), '127.0.0.1', 0)
    import threading
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    browser = Browser('http://127.0.0.1:{}/'.format(httpd.server_address[1]))
    try:
        browser.wait_for("document.getElementById('decoded').dataset.z !== undefined")
        dim = browser.evaluate("Number(document.querySelector('#sliders input').dataset.dim)")
        assert browser.evaluate("document.getElementById('slider-{}').max".format(dim)) == '9'
        box = browser.evaluate("JSON.parse(JSON.stringify(document.querySelector('#sliders input')"
                               ".getBoundingClientRect()))")
        middle = box['top'] + box['height'] / 2
        browser.drag((box['left'] + box['width'] / 2, middle), (box['left'] + box['width'] + 20, middle))
        top = float(restored.values[dim][-1])
        browser.wait_for("Math.abs(JSON.parse(document.getElementById('decoded').dataset.z)[{}] - {!r}) < 1e-6".format(
            dim, top))
    finally:
        browser.close()
        httpd.shutdown()
        httpd.server_close()


# ---- bad settings: one line each, from the command line ----

@pytest.mark.parametrize('flags, message', [
    (['--objective', 'qlae', '--latent_values', '0'], 'latent_values must be >= 2, got 0'),
    (['--objective', 'qlvae', '--latent_values', '1'], 'latent_values must be 0 (continuous latents) or a count'),
    (['--objective', 'qlae', '--commitment_weight', '-1'], 'commitment_weight must be >= 0, got -1.0'),
    (['--objective', 'qlae', '--weight_decay', '-0.1'], 'weight_decay must be >= 0, got -0.1'),
    (['--objective', 'qlae', '--precision', 'float16'], 'use --precision float32 or bfloat16'),
    (['--objective', 'beta', '--latent_values', '10'], 'latent_values = 10 quantizes the latents, which only qlae, '
                                                       'qlvae train'),
])
def test_bad_quantized_settings_get_one_line(flags, message, tmp_path):
    result = run_cli('--train', '--steps', '1', *(TINY_DSPRITES + flags + folder_flags(tmp_path)))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / 'ck').exists() or not list((tmp_path / 'ck').iterdir())
