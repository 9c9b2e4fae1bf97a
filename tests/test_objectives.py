"""The objectives: each term of the ELBO and of each paper against a known answer, worked out by hand or in
plain numpy; every registered objective training, resuming exactly and evaluating."""
import json
import math

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import checkpoints
import data
import model
import objectives
import scores
import training
import settings
import terms
import vae
from conftest import TINY_DSPRITES, TINY_EVALUATION, train_from_scratch
from kit.graphs import binary_images, training_batch
from kit.runs import folder_flags

tf.disable_v2_behavior()


pytestmark = pytest.mark.usefixtures('fresh_graph')


def run(tensors, feed=None):
    with tf.Session() as sess:
        return sess.run(tensors, feed)


def test_stratified_weights_sum_to_one_and_weigh_the_own_image_1_over_n():
    weights = np.exp(terms.stratified_log_weights(8, 1000))
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
        densities = terms.tcvae_log_densities(
            tf.constant(z, tf.float32), tf.constant(np.repeat(mean, 6, 0), tf.float32),
            tf.constant(np.repeat(logvar, 6, 0), tf.float32), terms.stratified_log_weights(6, 500))
        log_qz_given_x, log_qz, log_prod_marginals, log_pz = run(densities)
    per_dim = -0.5 * (np.log(2 * np.pi) + logvar + (z - mean) ** 2 / np.exp(logvar))
    np.testing.assert_allclose(log_qz, per_dim.sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose(log_prod_marginals, per_dim.sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose(log_qz_given_x, per_dim.sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose(log_pz, (-0.5 * (np.log(2 * np.pi) + z ** 2)).sum(axis=1), rtol=1e-5)


def normal_log_pdf(x, mean, logvar):
    return -0.5 * (np.log(2 * np.pi) + logvar + (x - mean) ** 2 / np.exp(logvar))


def test_mi_tc_and_dimension_wise_kl_are_each_their_closed_form_on_a_two_image_dataset():
    """With N = B = 2 the stratified weights are exactly 1/2 each, so q(z) is the mixture of the two
    posteriors itself and each of Chen et al.'s three terms has a closed form at a given z."""
    mean = np.array([[0.5, -1.0, 2.0], [-0.5, 0.0, 1.0]])
    logvar = np.array([[0.0, -1.0, 0.5], [-0.5, 0.0, 0.0]])
    z = np.array([[0.3, -0.8, 1.7], [-1.0, 0.2, 0.4]])
    with tf.Graph().as_default():
        densities = terms.tcvae_log_densities(tf.constant(z, tf.float32), tf.constant(mean, tf.float32),
                                              tf.constant(logvar, tf.float32), terms.stratified_log_weights(2, 2))
        log_qz_given_x, log_qz, log_prod_marginals, log_pz = densities
        mi, tc, dim_kl = run([terms.index_code_mutual_information(log_qz_given_x, log_qz),
                              terms.total_correlation(log_qz, log_prod_marginals),
                              terms.dimension_wise_kl(log_prod_marginals, log_pz)])
    for i in range(2):
        per_dim = np.array([normal_log_pdf(z[i], mean[j], logvar[j]) for j in range(2)])   # [image j, dim]
        own = per_dim[i].sum()
        mixture = np.log(0.5 * np.exp(per_dim[0].sum()) + 0.5 * np.exp(per_dim[1].sum()))
        marginals = np.log(0.5 * np.exp(per_dim[0]) + 0.5 * np.exp(per_dim[1])).sum()
        prior = normal_log_pdf(z[i], 0.0, 0.0).sum()
        assert mi[i] == pytest.approx(own - mixture, abs=1e-5)
        assert tc[i] == pytest.approx(mixture - marginals, abs=1e-5)
        assert dim_kl[i] == pytest.approx(marginals - prior, abs=1e-5)


def test_permuting_dims_keeps_each_marginal_and_breaks_the_joint():
    z = np.arange(64 * 3, dtype=np.float32).reshape(64, 3)
    with tf.Graph().as_default():
        tf.set_random_seed(0)
        permuted = run(terms.permute_dims(tf.constant(z)))
    for d in range(3):
        np.testing.assert_array_equal(np.sort(permuted[:, d]), z[:, d])   # the same values in each dim
    rows = {tuple(row) for row in z}
    assert sum(tuple(row) in rows for row in permuted) < 8                 # most rows are new combinations


def test_discriminator_loss_and_tc_on_fixed_logits():
    logits_q, logits_permuted = np.array([[2.0, 0.0], [1.0, 1.0]]), np.array([[0.0, 1.0], [3.0, 0.0]])
    with tf.Graph().as_default():
        loss, tc = run([terms.discriminator_loss(tf.constant(logits_q), tf.constant(logits_permuted)),
                        terms.discriminator_tc(tf.constant(logits_q))])
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
        graph = training.build_training(training_batch(cfg, binary_images(cfg, seed=None)), cfg)
        first, last, step = train_from_scratch(graph, 15)
    assert step == 15 and np.isfinite(last) and last < first


def test_factor_vae_trains_on_celeba_with_its_second_batch(celeba_dir, tiny_overrides, tmp_path, capsys):
    args = tiny_overrides + ['--data_dir_path', str(celeba_dir), '--objective', 'factor', '--discriminator_units',
                             '16,16']
    assert vae.main(['--train', '--steps', '2'] + args) == 0
    assert 'FactorVAE' in capsys.readouterr().out


TINY = TINY_DSPRITES + ['--discriminator_units', '32,32', '--summary_freq', '1']


def checkpoint_values(checkpoint):
    reader = tf.train.load_checkpoint(checkpoint)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def restores_bit_for_bit(checkpoint_dir, cfg):
    """The latest checkpoint's values, once a new training graph of cfg has restored every one of them
    exactly (and has no variable the checkpoint lacks)."""
    saved = checkpoint_values(checkpoints.latest(checkpoint_dir))
    with tf.Graph().as_default():
        training.build_training(training_batch(cfg, tf.zeros([training.images_per_step(cfg), 64, 64, 1])), cfg)
        with tf.Session() as sess:
            checkpoints.restore(sess, checkpoints.latest(checkpoint_dir))
            restored = {v.op.name: sess.run(v) for v in tf.global_variables()}
    assert set(restored) == set(saved)
    for name, value in saved.items():
        np.testing.assert_array_equal(restored[name], value, err_msg=name)
    return saved


@pytest.mark.parametrize('objective', ['tcvae', 'factor'])
def test_resume_is_exact_for_both_objectives(objective, tmp_path):
    dirs = folder_flags(tmp_path) + ['--objective', objective]
    assert vae.main(['--train', '--steps', '3'] + TINY + dirs) == 0
    # Every variable of the step, the discriminator's and its Adam's included, restores bit for bit.
    saved = restores_bit_for_bit(str(tmp_path / 'ck'), settings.resolve('dsprites', settings.parse_overrides(
        TINY[2:] + dirs)))
    if objective == 'factor':
        assert any(name.startswith('discriminator/') and name.endswith('/discriminator_adam') for name in saved)

    # Both optimisers go on counting from the checkpoint: Adam's beta1^(t+1) after t steps.
    assert vae.main(['--train', '--steps', '5'] + TINY + dirs) == 0
    after = checkpoint_values(checkpoints.latest(str(tmp_path / 'ck')))
    powers = sorted(float(value) for name, value in after.items() if name.startswith('beta1_power'))
    expected = [0.9 ** 6] + ([0.5 ** 6] if objective == 'factor' else [])
    np.testing.assert_allclose(powers, sorted(expected), rtol=1e-5)


# ---- DIP-VAE ----

def test_a_dip_penalty_is_zero_at_the_identity_and_sums_squares_otherwise():
    cov = np.array([[2.0, 0.5, 0.0], [0.5, 0.3, -0.2], [0.0, -0.2, 1.0]])
    with tf.Graph().as_default():
        at_identity, penalty = run([terms.dip_regulariser(tf.eye(3), 5.0, 7.0),
                                    terms.dip_regulariser(tf.constant(cov), 5.0, 7.0)])
    assert at_identity == 0.0
    off_diagonal = 2 * 0.5 ** 2 + 2 * 0.2 ** 2
    diagonal = (2.0 - 1) ** 2 + (0.3 - 1) ** 2 + 0.0
    assert penalty == pytest.approx(5.0 * off_diagonal + 7.0 * diagonal)


def test_dip_covariances_by_hand():
    """Means (1, 0) and (3, 2): their covariance is [[1, 1], [1, 1]]; variances (1, 4) and (3, 2) average
    to (2, 3), which DIP-VAE-II adds on the diagonal: the mean of the per-image covariances."""
    z_mean = np.array([[1.0, 0.0], [3.0, 2.0]])
    z_logvar = np.log([[1.0, 4.0], [3.0, 2.0]])
    with tf.Graph().as_default():
        cov_i, cov_ii = run([terms.dip_i_covariance(tf.constant(z_mean), tf.constant(z_logvar)),
                             terms.dip_ii_covariance(tf.constant(z_mean), tf.constant(z_logvar))])
    np.testing.assert_allclose(cov_i, [[1.0, 1.0], [1.0, 1.0]])
    np.testing.assert_allclose(cov_ii, [[3.0, 1.0], [1.0, 4.0]])


# ---- beta-TCVAE's bank estimator ----

def mixture_log_densities(z, means, logvars):
    """Exact (log q(z), log prod_j q(z_j)) of the mixture (1/N) sum_n N(means_n, exp(logvars_n)), numpy."""
    per_dim = -0.5 * (np.log(2 * np.pi) + logvars[None] + (z[:, None, :] - means[None]) ** 2 / np.exp(logvars[None]))
    n = len(means)

    def logmeanexp(values, axis):
        top = values.max(axis=axis, keepdims=True)
        return (top + np.log(np.exp(values - top).sum(axis=axis, keepdims=True) / n)).squeeze(axis)
    return logmeanexp(per_dim.sum(axis=2), 1), logmeanexp(per_dim, 1).sum(axis=1)


def bank_estimate(z, batch_mean, batch_logvar, bank_mean, bank_logvar, filled, dataset_size):
    with tf.Graph().as_default():
        codes_mean = tf.constant(np.concatenate([batch_mean, bank_mean]), tf.float32)
        codes_logvar = tf.constant(np.concatenate([batch_logvar, bank_logvar]), tf.float32)
        weights = terms.bank_log_weights(len(batch_mean), tf.constant(filled), len(bank_mean), dataset_size)
        densities = terms.tcvae_log_densities(
            tf.constant(z, tf.float32), tf.constant(batch_mean, tf.float32), tf.constant(batch_logvar, tf.float32),
            weights, codes=(codes_mean, codes_logvar))
        return run(densities[1:3])     # log q(z), log prod_j q(z_j): what the bank changes


def test_a_bank_of_every_other_code_gives_the_exact_mixture():
    rng = np.random.RandomState(3)
    means, logvars = rng.randn(7, 3), rng.uniform(-1.0, 0.5, (7, 3))
    batch = 3
    z = means[:batch] + np.exp(0.5 * logvars[:batch]) * rng.randn(batch, 3)
    log_qz, log_prod = bank_estimate(z, means[:batch], logvars[:batch], means[batch:], logvars[batch:],
                                     filled=4, dataset_size=7)
    exact_qz, exact_prod = mixture_log_densities(z, means, logvars)
    np.testing.assert_allclose(log_qz, exact_qz, rtol=1e-5)
    np.testing.assert_allclose(log_prod, exact_prod, rtol=1e-5)


def test_an_empty_bank_is_minibatch_stratified_sampling():
    rng = np.random.RandomState(4)
    batch_mean, batch_logvar = rng.randn(6, 4), rng.uniform(-1.0, 0.5, (6, 4))
    z = batch_mean + np.exp(0.5 * batch_logvar) * rng.randn(6, 4)
    stale = rng.randn(10, 4)       # rows not yet written: they must weigh nothing
    log_qz, log_prod = bank_estimate(z, batch_mean, batch_logvar, stale, stale, filled=0, dataset_size=500)
    with tf.Graph().as_default():
        _, mss_qz, mss_prod, _ = run(terms.tcvae_log_densities(
            tf.constant(z, tf.float32), tf.constant(batch_mean, tf.float32), tf.constant(batch_logvar, tf.float32),
            terms.stratified_log_weights(6, 500)))
    np.testing.assert_allclose(log_qz, mss_qz, rtol=1e-6)
    np.testing.assert_allclose(log_prod, mss_prod, rtol=1e-6)


def test_the_bank_fills_in_order_and_resumes_exactly(tmp_path):
    bank = ['--objective', 'tcvae', '--tcvae_estimator', 'bank', '--tcvae_bank_size', '20']
    dirs = folder_flags(tmp_path) + bank
    assert vae.main(['--train', '--steps', '3'] + TINY + dirs) == 0
    saved = restores_bit_for_bit(str(tmp_path / 'ck'), settings.resolve('dsprites', settings.parse_overrides(
        TINY[2:] + dirs)))
    assert saved['tcvae_bank/filled'] == 20 and saved['tcvae_bank/position'] == 24 % 20   # 3 steps of 8 codes
    assert np.all(saved['tcvae_bank/logvars'] != 0.0)                                      # every row written

    assert vae.main(['--train', '--steps', '4'] + TINY + dirs) == 0     # the resumed step writes rows 4-11 only
    after = checkpoint_values(checkpoints.latest(str(tmp_path / 'ck')))
    assert after['tcvae_bank/position'] == 32 % 20
    written = np.arange(4, 12)
    kept = np.setdiff1d(np.arange(20), written)
    np.testing.assert_array_equal(after['tcvae_bank/means'][kept], saved['tcvae_bank/means'][kept])
    assert np.all(after['tcvae_bank/means'][written] != saved['tcvae_bank/means'][written])


# ---- the registry: every objective, end to end ----

@pytest.mark.parametrize('name', sorted(objectives.OBJECTIVES))
def test_every_registered_objective_trains_resumes_and_evaluates(name, tmp_path, capsys):
    """The only list of objectives outside the objectives/ package: whatever is registered is walked through."""
    dirs = folder_flags(tmp_path) + ['--objective', name]
    assert vae.main(['--train', '--steps', '2'] + TINY + dirs) == 0
    assert objectives.get(name).describe(settings.resolve('dsprites', [('objective', name)])) in \
        capsys.readouterr().out
    restores_bit_for_bit(str(tmp_path / 'ck'), settings.resolve('dsprites', settings.parse_overrides(TINY[2:] + dirs)))

    assert vae.main(['--train', '--evaluate', '--steps', '3'] + TINY + dirs + TINY_EVALUATION) == 0
    out = capsys.readouterr().out
    assert 'resumed from' in out and 'at step 2' in out
    result = json.loads((tmp_path / 'res' / 'metrics.json').read_text())
    assert result['step'] == 3 and result['config']['objective'] == name
    assert result['images'] == 3 * data.images_trained(objectives.get(name).reads, 8)   # TINY's 8 images or pairs
    # every score of every metric, but the sample efficiency: TINY_EVALUATION's downstream task has no 100 and
    # 10,000 codes to take its ratio of
    assert [key for key in scores.SHOWN_KEYS if key not in result] == ['sample_efficiency_logistic',
                                                                       'sample_efficiency_boosted_trees']
    assert [key for key in scores.SHOWN_KEYS if key in result and not np.isfinite(result[key])] == []
    assert all(np.isfinite(score) for score in result['few_labels']['40'].values())


def test_the_papers_settings_are_config_defaults():
    for objective in objectives.OBJECTIVES.values():
        for dataset, paper in objective.paper_settings.items():
            cfg = settings.resolve(dataset, [('objective', objective.name)])
            for setting, value in paper.items():
                assert getattr(cfg, setting) == pytest.approx(value), (objective.name, dataset, setting)


def test_published_scores_name_their_source_and_known_metrics():
    for objective in objectives.OBJECTIVES.values():
        for dataset, published in objective.published_scores.items():
            assert dataset in settings.config.DATASET_DEFAULTS and published.source and published.images > 1e6
            assert set(published.scores) <= {'beta_vae', 'factor_vae', 'mig', 'dci', 'sap'}, objective.name


# ---- the ELBO and the beta-VAE and capacity objectives ----

def test_kl_of_standard_normal_is_zero():
    kl = run(model.gaussian_kl(tf.zeros([2, 5]), tf.zeros([2, 5])))
    assert kl.shape == (2, 5)
    np.testing.assert_allclose(kl, 0.0, atol=1e-7)


def test_kl_of_known_gaussians():
    mean = np.array([[1.0, 0.0, -2.0]], np.float32)
    var = np.array([[1.0, 4.0, 0.25]], np.float32)
    # KL(N(m, v) || N(0, 1)) = 0.5 * (v + m^2 - 1 - ln v)
    expected = 0.5 * (var + mean ** 2 - 1.0 - np.log(var))
    kl = run(model.gaussian_kl(tf.constant(mean), tf.constant(np.log(var))))
    np.testing.assert_allclose(kl, expected, rtol=1e-5)
    np.testing.assert_allclose(kl[0, 0], 0.5)


def test_reconstruction_is_mean_squared_error_of_sigmoid():
    images = np.random.RandomState(0).rand(2, 4, 4, 3).astype(np.float32)
    logits = np.random.RandomState(1).randn(2, 4, 4, 3).astype(np.float32)
    expected = ((images - 1 / (1 + np.exp(-logits))) ** 2).mean(axis=(1, 2, 3))
    got = run(model.reconstruction_loss(tf.constant(images), tf.constant(logits), 'gaussian'))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_bernoulli_reconstruction_is_cross_entropy():
    images = np.array([[[[1.0], [0.0]]]], np.float32)
    logits = np.array([[[[0.0], [2.0]]]], np.float32)
    expected = (np.log(2.0) + np.log(1 + np.exp(2.0))) / 2
    got = run(model.reconstruction_loss(tf.constant(images), tf.constant(logits), 'bernoulli'))
    np.testing.assert_allclose(got, [expected], rtol=1e-5)


def _per_image_weights(batch, kl_weight):
    rec = tf.placeholder(tf.float32, [batch])
    kl = tf.placeholder(tf.float32, [batch, 4])
    loss = terms.beta_vae_loss(rec, kl, kl_weight)
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
    ours = run(terms.beta_vae_loss(tf.constant(rec), tf.constant(kl), 0.7))
    assert ours * 32 == pytest.approx(original, rel=1e-5)


def test_equivalent_beta_in_usual_units():
    assert terms.equivalent_beta(0.7, (128, 128, 3), 32) == pytest.approx(33.6)
    assert terms.equivalent_beta(0.3125, (64, 64, 1), 10) == pytest.approx(4.0)


def test_capacity_schedule_rises_linearly_then_holds():
    step = tf.placeholder(tf.int64, [])
    capacity = terms.capacity_schedule(step, 25.0, 1000)
    with tf.Session() as sess:
        values = [sess.run(capacity, {step: s}) for s in (0, 500, 1000, 5000)]
    np.testing.assert_allclose(values, [0.0, 12.5, 25.0, 25.0])


def test_capacity_loss_penalises_distance_from_the_target():
    rec = tf.constant([0.1, 0.3])
    kl = tf.constant([[1.0, 2.0], [3.0, 4.0]])        # 3 and 7 nats per image
    loss = terms.capacity_loss(rec, kl, 1000.0, 5.0, 100)
    # mean(rec) + 1000/100 * mean(|3 - 5|, |7 - 5|)
    assert run(loss) == pytest.approx(0.2 + 10.0 * 2.0)
