"""beta-TCVAE and FactorVAE: each term against a known answer, training on both objectives, exact resume,
and the disentanglement benchmark's skip-and-resume."""
import json
import math
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import checkpoints
import model
import settings
import vae
from conftest import train_from_scratch

tf.disable_v2_behavior()


def run(tensors, feed=None):
    with tf.Session() as sess:
        return sess.run(tensors, feed)


def test_stratified_weights_sum_to_one_and_weigh_the_own_image_1_over_n():
    weights = np.exp(model.stratified_log_weights(8, 1000))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.diag(weights), 1.0 / 1000)
    for row in range(8):   # one stratum image (N - B + 1) / (N (B - 1)), the other six 1 / (B - 1)
        others = sorted(np.delete(weights[row], row))
        np.testing.assert_allclose(others[0], (1000 - 8 + 1) / (1000.0 * 7))
        np.testing.assert_allclose(others[1:], 1.0 / 7)


def test_log_qz_of_identical_gaussians_is_that_gaussian():
    """Every q(z|x_j) = N(m, s^2): q(z) is N(m, s^2) itself, whatever the weights, since they sum to 1."""
    rng = np.random.RandomState(0)
    mean, logvar = rng.randn(1, 3), rng.randn(1, 3)
    z = rng.randn(6, 3)
    with tf.Graph().as_default():
        densities = model.tcvae_log_densities(
            tf.constant(z, tf.float32), tf.constant(np.repeat(mean, 6, 0), tf.float32),
            tf.constant(np.repeat(logvar, 6, 0), tf.float32), model.stratified_log_weights(6, 500))
        log_qz_given_x, log_qz, log_prod_marginals, log_pz = run(densities)
    per_dim = -0.5 * (np.log(2 * np.pi) + logvar + (z - mean) ** 2 / np.exp(logvar))
    np.testing.assert_allclose(log_qz, per_dim.sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose(log_prod_marginals, per_dim.sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose(log_qz_given_x, per_dim.sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose(log_pz, (-0.5 * (np.log(2 * np.pi) + z ** 2)).sum(axis=1), rtol=1e-5)


def test_mi_tc_and_dimension_wise_kl_add_up_to_the_kl():
    """MI + TC + dwKL = log q(z|x) - log p(z) for every sample; its mean over z ~ q(z|x) is the analytic KL."""
    rng = np.random.RandomState(1)
    batch, dims, draws = 16, 4, 4000
    mean, logvar = rng.randn(batch, dims), rng.uniform(-1.5, 0.5, (batch, dims))
    with tf.Graph().as_default():
        z_ph = tf.placeholder(tf.float32, [batch, dims])
        m, lv = tf.constant(mean, tf.float32), tf.constant(logvar, tf.float32)
        log_qz_given_x, log_qz, log_prod_marginals, log_pz = model.tcvae_log_densities(
            z_ph, m, lv, model.stratified_log_weights(batch, 10000))
        total = (model.index_code_mutual_information(log_qz_given_x, log_qz)
                 + model.total_correlation(log_qz, log_prod_marginals)
                 + model.dimension_wise_kl(log_prod_marginals, log_pz))
        sampled_kl = log_qz_given_x - log_pz
        with tf.Session() as sess:
            sums = np.zeros(batch)
            for _ in range(draws):
                z = mean + np.exp(0.5 * logvar) * rng.randn(batch, dims)
                parts, direct = sess.run([total, sampled_kl], {z_ph: z})
                np.testing.assert_allclose(parts, direct, rtol=1e-4, atol=1e-4)
                sums += parts
            analytic = sess.run(tf.reduce_sum(model.gaussian_kl(m, lv), axis=1))
    np.testing.assert_allclose(sums / draws, analytic, rtol=0.05, atol=0.05)


def test_permuting_dims_keeps_each_marginal_and_breaks_the_joint():
    z = np.arange(64 * 3, dtype=np.float32).reshape(64, 3)
    with tf.Graph().as_default():
        tf.set_random_seed(0)
        permuted = run(model.permute_dims(tf.constant(z)))
    for d in range(3):
        np.testing.assert_array_equal(np.sort(permuted[:, d]), z[:, d])   # the same values in each dim
    rows = {tuple(row) for row in z}
    assert sum(tuple(row) in rows for row in permuted) < 8                 # most rows are new combinations


def test_discriminator_loss_and_tc_on_fixed_logits():
    logits_q, logits_permuted = np.array([[2.0, 0.0], [1.0, 1.0]]), np.array([[0.0, 1.0], [3.0, 0.0]])
    with tf.Graph().as_default():
        loss, tc = run([model.discriminator_loss(tf.constant(logits_q), tf.constant(logits_permuted)),
                        model.discriminator_tc(tf.constant(logits_q))])
    from_q = (math.log(1 + math.exp(-2.0)) + math.log(2.0)) / 2          # -log p(class 0) of each q row
    from_permuted = (math.log(1 + math.exp(-1.0)) + math.log(1 + math.exp(3.0))) / 2   # -log p(class 1)
    assert loss == pytest.approx(0.5 * (from_q + from_permuted))
    np.testing.assert_allclose(tc, [2.0, 0.0])


@pytest.mark.parametrize('objective, precision', [('tcvae', 'float32'), ('factor', 'float32'),
                                                  ('tcvae', 'bfloat16'), ('factor', 'bfloat16')])
def test_both_objectives_train_on_dsprites(objective, precision):
    cfg = settings.resolve('dsprites', [('objective', objective), ('precision', precision), ('batch_size', '8'),
                                        ('filters', '8,8,8,8'), ('hidden_units', '16,16'),
                                        ('discriminator_units', '32,32'), ('learning_rate', '1e-3')])
    with tf.Graph().as_default():
        images = tf.cast(tf.random_uniform([8 * model.batches_per_step(objective), 64, 64, 1]) > 0.8, tf.float32)
        graph = model.build_training(images, cfg, dataset_size=737280)
        first, last, step = train_from_scratch(graph, 15)
    assert step == 15 and np.isfinite(last) and last < first


def test_factor_vae_trains_on_celeba_with_its_second_batch(celeba_dir, tiny_overrides, tmp_path, capsys):
    args = tiny_overrides + ['--data_dir_path', str(celeba_dir), '--objective', 'factor', '--discriminator_units',
                             '16,16']
    assert vae.main(['--train', '--steps', '2'] + args) == 0
    assert 'FactorVAE' in capsys.readouterr().out


TINY = ['--dataset', 'dsprites', '--batch_size', '8', '--filters', '8,8,8,8', '--hidden_units', '16,16',
        '--discriminator_units', '32,32', '--summary_freq', '1']


def checkpoint_values(checkpoint):
    reader = tf.train.load_checkpoint(checkpoint)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


@pytest.mark.parametrize('objective', ['tcvae', 'factor'])
def test_resume_is_exact_for_both_objectives(objective, tmp_path):
    dirs = ['--checkpoint_dir', str(tmp_path / 'ck'), '--results_dir', str(tmp_path / 'res'),
            '--summary_dir', str(tmp_path / 'sum'), '--objective', objective]
    assert vae.main(['--train', '--steps', '3'] + TINY + dirs) == 0
    saved = checkpoint_values(checkpoints.latest(str(tmp_path / 'ck')))
    # Every variable of the step, the discriminator's and its Adam's included, restores bit for bit.
    cfg = settings.resolve('dsprites', settings.parse_overrides(TINY[2:] + dirs))
    with tf.Graph().as_default():
        model.build_training(tf.zeros([8 * model.batches_per_step(objective), 64, 64, 1]), cfg, dataset_size=737280)
        with tf.Session() as sess:
            checkpoints.restore(sess, checkpoints.latest(str(tmp_path / 'ck')))
            restored = {v.op.name: sess.run(v) for v in tf.global_variables()}
    assert set(restored) == set(saved)
    for name, value in saved.items():
        np.testing.assert_array_equal(restored[name], value, err_msg=name)
    if objective == 'factor':
        assert any(name.startswith('discriminator/') and name.endswith('/discriminator_adam') for name in saved)

    # Both optimisers go on counting from the checkpoint: Adam's beta1^(t+1) after t steps.
    assert vae.main(['--train', '--steps', '5'] + TINY + dirs) == 0
    after = checkpoint_values(checkpoints.latest(str(tmp_path / 'ck')))
    powers = sorted(float(value) for name, value in after.items() if name.startswith('beta1_power'))
    expected = [0.9 ** 6] + ([0.5 ** 6] if objective == 'factor' else [])
    np.testing.assert_allclose(powers, sorted(expected), rtol=1e-5)


def test_benchmark_rerun_skips_finished_runs_and_resumes_unfinished_ones(tmp_path, capfd):
    import disentanglement   # benchmarks/disentanglement.py
    small = ['--batch_size', '8', '--filters', '8,8,8,8', '--hidden_units', '16,16', '--eval_num_train', '40',
             '--eval_num_eval', '20', '--eval_num_points', '200', '--eval_batch_size', '8']
    paths = ['--root', str(tmp_path / 'runs'), '--json', str(tmp_path / 'd.json'), '--figure', str(tmp_path / 'd.png')]
    assert disentanglement.main(['--runs', 'beta:0', '--steps', '2', '--no-evaluate'] + paths + small) == 0
    assert checkpoints.step_of(checkpoints.latest(str(tmp_path / 'runs' / 'beta_seed0' / 'checkpoints'))) == 2

    assert disentanglement.main(['--runs', 'beta:0', '--steps', '3'] + paths + small) == 0
    out = capfd.readouterr().out
    assert '=== beta seed 0' in out and 'at step 2' in out.split('resumed from')[1]   # went on from step 2
    result = json.loads((tmp_path / 'd.json').read_text())
    assert [(r['objective'], r['seed'], r['steps']) for r in result['runs']] == [('beta', 0, 3)]
    metrics_file = tmp_path / 'runs' / 'beta_seed0' / 'results' / 'metrics.json'
    assert json.loads(metrics_file.read_text())['step'] == 3 and os.path.exists(str(tmp_path / 'd.png'))

    stamp = metrics_file.stat().st_mtime
    assert disentanglement.main(['--runs', 'beta:0', '--steps', '3'] + paths + small) == 0
    assert '=== beta seed 0' not in capfd.readouterr().out     # finished: neither trained nor evaluated again
    assert metrics_file.stat().st_mtime == stamp
    listed = disentanglement.main(['--list', '--runs', 'beta:0', 'tcvae:1,2', '--steps', '3'] + paths + small)
    lines = capfd.readouterr().out.strip().splitlines()
    assert listed == 0 and len(lines) == 3 and all('--train --evaluate' in line and '--filters 8,8,8,8' in line
                                                   for line in lines)
