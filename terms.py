"""Every objective's terms as pure functions, each citing its paper: the ELBO's variants, beta-TCVAE's
decomposition, FactorVAE's discriminator, DIP-VAE's covariance penalty, the weak supervision of pairs, the codebook
losses of latent quantization and the supervised losses of a few labels.
The objectives/ package builds one small class per objective over them.

Every loss is per pixel: the mean pixel error of an image plus its regulariser divided by the number
of pixel values N, so weights are in the usual units (against the error summed over the image) and
the step size does not depend on the image size.
"""
import math

import numpy as np
import tensorflow.compat.v1 as tf

import model

tf.disable_v2_behavior()


# kl_weight's unit: the original weighed the KL against the reconstruction error summed over its
# 32-image batch, so the per-image weight is kl_weight / KL_UNIT_BATCH whatever batch_size is.
KL_UNIT_BATCH = 32


def equivalent_beta(kl_weight, img_shape, latent_dim):
    """beta in the usual units (summed error per image against summed KL): kl_weight/32 * N/M."""
    return kl_weight / KL_UNIT_BATCH * model.num_pixels(img_shape) / latent_dim


# ---- beta-VAE (Higgins et al. 2017) ----

def beta_vae_loss(reconstruction, kl_per_dim, kl_weight):
    """Higgins et al. 2017, eq. 4 normalised: mean over the batch of rec + kl_weight/32 * mean_dims(KL).

    reconstruction [B] is the per-pixel mean error, kl_per_dim [B, M] the per-latent KL; the per-image
    trade-off kl_weight/32 (beta_norm per 32 images) does not depend on the batch size.
    """
    kl = tf.reduce_mean(kl_per_dim, axis=1)
    return tf.reduce_mean(reconstruction + (kl_weight / KL_UNIT_BATCH) * kl)


# ---- capacity annealing (Burgess et al. 2018) ----

def capacity_schedule(step, capacity_max, capacity_steps):
    """Burgess et al. 2018, section 5: the KL target C rises linearly from 0 to capacity_max nats."""
    progress = tf.minimum(1.0, tf.cast(step, tf.float32) / float(capacity_steps))
    return tf.multiply(float(capacity_max), progress, name='capacity')


def capacity_loss(reconstruction, kl_per_dim, gamma, capacity, pixels):
    """Burgess et al. 2018, eq. 8, per pixel: mean over the batch of rec + gamma/N * |sum_dims(KL) - C|.

    gamma is in the usual units (against the summed error), C in nats per image.
    """
    kl = tf.reduce_sum(kl_per_dim, axis=1)
    return tf.reduce_mean(reconstruction + (gamma / pixels) * tf.abs(kl - capacity))


# ---- beta-TCVAE (Chen et al. 2018) ----

def log_normal(z, mean, logvar):
    """log N(z; mean, exp(logvar)) per element; broadcasts."""
    return -0.5 * (math.log(2.0 * math.pi) + logvar + tf.square(z - mean) * tf.exp(-logvar))


def stratified_log_weights(batch_size, dataset_size):
    """[B, B] log importance weights of minibatch-stratified sampling (Chen et al. 2018, Appendix C.2).

    Row i estimates q(z_i) = sum_j w_ij q(z_i | x_j): the image that drew z_i weighs 1/N, one other
    image (N - B + 1)/(N (B - 1)), the remaining B - 2 images 1/(B - 1) each. Every row sums to 1.
    """
    n, b = float(dataset_size), batch_size
    assert b >= 2 and dataset_size >= b, (batch_size, dataset_size)
    weights = np.full((b, b), 1.0 / (b - 1))
    weights[np.arange(b), (np.arange(b) + 1) % b] = (n - b + 1) / (n * (b - 1))
    weights[np.arange(b), np.arange(b)] = 1.0 / n
    return np.log(weights)


def aggregate_log_densities(pairwise, log_weights):
    """(log q(z), log prod_j q(z_j)), each [B], from pairwise = log q(z_i,d | code_k) [B, K, M] and
    log_weights [B, K] (each row's weights summing to 1): q(z_i) = sum_k w_ik q(z_i | code_k)."""
    log_qz = tf.reduce_logsumexp(log_weights + tf.reduce_sum(pairwise, axis=2), axis=1)
    log_prod_marginals = tf.reduce_sum(tf.reduce_logsumexp(log_weights[:, :, None] + pairwise, axis=1), axis=1)
    return log_qz, log_prod_marginals


def tcvae_log_densities(z, z_mean, z_logvar, log_weights, codes=None):
    """Chen et al. 2018, section 3: per image, the four log densities of the KL decomposition.

    Returns (log q(z|x), log q(z), log prod_j q(z_j), log p(z)), each [B], for a sample z [B, M] of
    q(z|x) = N(z_mean, exp(z_logvar)). q(z) and its marginals are estimated as mixtures of the K
    posteriors `codes` = (means [K, M], log-variances [K, M]), weighted by log_weights [B, K]: by
    default the minibatch's own, with stratified_log_weights.
    """
    codes_mean, codes_logvar = (z_mean, z_logvar) if codes is None else codes
    pairwise = log_normal(z[:, None, :], codes_mean[None, :, :], codes_logvar[None, :, :])  # log q(z_i,d | code_k)
    log_qz, log_prod_marginals = aggregate_log_densities(pairwise, tf.convert_to_tensor(log_weights, tf.float32))
    log_qz_given_x = tf.reduce_sum(log_normal(z, z_mean, z_logvar), axis=1)
    log_pz = tf.reduce_sum(log_normal(z, 0.0, 0.0), axis=1)
    return log_qz_given_x, log_qz, log_prod_marginals, log_pz


def bank_log_weights(batch_size, bank_filled, bank_size, dataset_size):
    """[B, B + K] log weights of q(z_i) over the batch's codes and then a bank of K stored codes.

    Stratified over the N training images: the image that drew z_i weighs 1/N (exact), each other
    image of the batch 1/N (exact), and the N - B images outside the batch are estimated by the
    `bank_filled` valid bank entries, (N - B) / (N * filled) each; the bank's other entries weigh 0.
    With an empty bank it is minibatch-stratified sampling (stratified_log_weights) itself; with a
    bank holding every other image's code it is the exact mixture (1/N) sum_n q(z | x_n).
    """
    b, n = batch_size, tf.cast(dataset_size, tf.float32)
    filled = tf.cast(bank_filled, tf.float32)
    in_batch = tf.fill([b, b], -tf.log(n))
    valid = tf.range(bank_size) < bank_filled
    bank = tf.where(valid, tf.fill([bank_size], tf.log(n - b) - tf.log(n) - tf.log(tf.maximum(filled, 1.0))),
                    tf.fill([bank_size], -np.inf))
    with_bank = tf.concat([in_batch, tf.tile(bank[None, :], [b, 1])], axis=1)
    stratified = tf.pad(tf.constant(stratified_log_weights(b, dataset_size), tf.float32), [[0, 0], [0, bank_size]],
                        constant_values=-np.inf)
    return tf.cond(bank_filled > 0, lambda: with_bank, lambda: stratified)


def index_code_mutual_information(log_qz_given_x, log_qz):
    """Chen et al. 2018, eq. 2, first term: I_q(z; n), per image [B]."""
    return log_qz_given_x - log_qz


def total_correlation(log_qz, log_prod_marginals):
    """Chen et al. 2018, eq. 2, second term: KL(q(z) || prod_j q(z_j)), per image [B]."""
    return log_qz - log_prod_marginals


def dimension_wise_kl(log_prod_marginals, log_pz):
    """Chen et al. 2018, eq. 2, third term: sum_j KL(q(z_j) || p(z_j)), per image [B]."""
    return log_prod_marginals - log_pz


def tcvae_loss(reconstruction, mutual_information, tc, dim_kl, alpha, beta, gamma, pixels):
    """Chen et al. 2018, eq. 4, per pixel: mean over the batch of rec + (alpha MI + beta TC + gamma dwKL) / N.

    The weights are in the usual units (against the summed error); alpha = beta = gamma = 1 is the VAE.
    """
    regulariser = alpha * mutual_information + beta * tc + gamma * dim_kl
    return tf.reduce_mean(reconstruction + regulariser / pixels)


# ---- FactorVAE (Kim & Mnih 2018) ----

def permute_dims(z):
    """Kim & Mnih 2018, Algorithm 1: each latent dim shuffled across the batch on its own.

    Keeps every dim's marginal and breaks the dependence between dims: samples of prod_j q(z_j).
    """
    return tf.stack([tf.random_shuffle(column) for column in tf.unstack(z, axis=1)], axis=1)


def discriminator(z, *, units, name='discriminator'):
    """Kim & Mnih 2018, Appendix: an MLP with leaky ReLU (0.2) -> 2 logits [B, 2]: (from q(z), permuted)."""
    with tf.variable_scope(name, reuse=tf.AUTO_REUSE):
        h = z
        for i, width in enumerate(units):
            h = tf.nn.leaky_relu(model.dense(h, units=width, name='dense{}'.format(i)), alpha=0.2)
        logits = model.dense(h, units=2, name='logits')
    assert logits.shape.as_list()[1:] == [2], logits
    return logits


def discriminator_tc(logits):
    """Kim & Mnih 2018, eq. 3: TC ~ log D(z) / (1 - D(z)) = logit_q - logit_permuted, per image [B]."""
    return logits[:, 0] - logits[:, 1]


def discriminator_loss(logits_q, logits_permuted):
    """Kim & Mnih 2018, Algorithm 2: cross-entropy of telling q(z) samples (class 0) from permuted ones (class 1)."""
    def cross_entropy(logits, label):
        labels = tf.fill(tf.shape(logits)[:1], label)
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    return 0.5 * (cross_entropy(logits_q, 0) + cross_entropy(logits_permuted, 1))


def factor_vae_loss(reconstruction, kl_per_dim, tc, kl_weight, gamma, pixels):
    """Kim & Mnih 2018, eq. 2, per pixel: mean over the batch of rec + (kl_weight sum_dims(KL) + gamma TC) / N.

    kl_weight and gamma are in the usual units; the paper has kl_weight 1.
    """
    kl = tf.reduce_sum(kl_per_dim, axis=1)
    return tf.reduce_mean(reconstruction + (kl_weight * kl + gamma * tc) / pixels)


# ---- DIP-VAE (Kumar et al. 2018) ----

def covariance(x):
    """The batch covariance of the rows of x [B, M], [M, M]: E[x x^T] - E[x] E[x]^T (divided by B)."""
    centred = x - tf.reduce_mean(x, axis=0, keepdims=True)
    return tf.matmul(centred, centred, transpose_a=True) / tf.cast(tf.shape(x)[0], x.dtype)


def dip_i_covariance(z_mean, z_logvar):
    """Kumar et al. 2018, eq. 6: DIP-VAE-I matches Cov_p(x)[mu(x)] to the identity."""
    del z_logvar
    return covariance(z_mean)


def dip_ii_covariance(z_mean, z_logvar):
    """Kumar et al. 2018, eq. 7: DIP-VAE-II matches Cov_q(z)[z] = E_p(x)[diag sigma^2(x)] + Cov_p(x)[mu(x)],
    the covariance of the aggregate posterior, to the identity."""
    return covariance(z_mean) + tf.matrix_diag(tf.reduce_mean(tf.exp(z_logvar), axis=0))


def dip_regulariser(cov, lambda_od, lambda_d):
    """Kumar et al. 2018, eq. 6-7: lambda_od sum_{i != j} C_ij^2 + lambda_d sum_i (C_ii - 1)^2."""
    diagonal = tf.matrix_diag_part(cov)
    off_diagonal = cov - tf.matrix_diag(diagonal)
    return lambda_od * tf.reduce_sum(tf.square(off_diagonal)) + lambda_d * tf.reduce_sum(tf.square(diagonal - 1.0))


def dip_vae_loss(reconstruction, kl_per_dim, regulariser, kl_weight, pixels):
    """Kumar et al. 2018, per pixel: mean over the batch of rec + kl_weight sum_dims(KL) / N, plus the
    batch's covariance penalty / N (one value for the batch, as in the paper)."""
    kl = tf.reduce_sum(kl_per_dim, axis=1)
    return tf.reduce_mean(reconstruction + kl_weight * kl / pixels) + regulariser / pixels


# ---- weak supervision from pairs (Locatello et al. 2020) ----
# A pair is two images that share all their factors but a few. Its posteriors are [2B, M]: the B first
# images, then their B partners in the same order.

def split_pairs(x):
    """[2B, ...] -> (first images' [B, ...], their partners' [B, ...])."""
    first, second = tf.split(x, 2)
    return first, second


def pair_kl(mean_1, logvar_1, mean_2, logvar_2):
    """Locatello et al. 2020, section 4.1: delta_d = KL(q(z_d | x1) || q(z_d | x2)) per pair and dim [B, M]."""
    return 0.5 * (tf.exp(logvar_1 - logvar_2) + tf.square(mean_2 - mean_1) * tf.exp(-logvar_2) - 1.0
                  + logvar_2 - logvar_1)


def adaptive_shared(kl_between):
    """Locatello et al. 2020, eq. 7: the dims judged shared, [B, M] bool: those whose delta lies below the
    threshold halfway between the pair's smallest and largest delta. Where every delta is equal, nothing
    tells a changed dim from a shared one, and the two images look the same to the encoder: all are shared."""
    low = tf.reduce_min(kl_between, axis=1, keepdims=True)
    high = tf.reduce_max(kl_between, axis=1, keepdims=True)
    return tf.logical_or(kl_between < 0.5 * (low + high), tf.equal(low, high))


def known_shared(kl_between, changed):
    """The paper's baselines given k (GVAE, ML-VAE with labels): of each pair's dims, the `changed` [B] with
    the largest delta are its own and the others are shared, [B, M] bool. Ties go to the lower dim."""
    delta_d, delta_e = kl_between[:, :, None], kl_between[:, None, :]       # [B, d, e]
    dims = tf.range(tf.shape(kl_between)[1])
    ahead = tf.logical_or(delta_e > delta_d, tf.logical_and(tf.equal(delta_e, delta_d),
                                                            (dims[None, :] < dims[:, None])[None]))
    rank = tf.reduce_sum(tf.cast(ahead, tf.int32), axis=2)     # dims ahead of d: 0 for the largest delta
    return rank >= tf.cast(changed, tf.int32)[:, None]


def group_average(mean_1, logvar_1, mean_2, logvar_2):
    """Hosoya 2019 (GVAE), as Locatello et al. 2020, section 4.1 use it: the arithmetic mean of the two
    means and of the two variances -> (mean, log-variance)."""
    logvar = tf.reduce_logsumexp(tf.stack([logvar_1, logvar_2]), axis=0) - math.log(2.0)
    return 0.5 * (mean_1 + mean_2), logvar


def ml_average(mean_1, logvar_1, mean_2, logvar_2):
    """Bouchacourt et al. 2018 (ML-VAE)'s product of experts as disentanglement_lib computes it: the
    precision-weighted mean, and the harmonic mean of the variances 2 v1 v2 / (v1 + v2), twice the exact
    product's variance -> (mean, log-variance)."""
    weight_1 = tf.sigmoid(logvar_2 - logvar_1)        # v2 / (v1 + v2): x1's share of the precision
    logvar = math.log(2.0) + logvar_1 + logvar_2 - tf.reduce_logsumexp(tf.stack([logvar_1, logvar_2]), axis=0)
    return weight_1 * mean_1 + (1.0 - weight_1) * mean_2, logvar


def pair_elbo_loss(reconstruction, kl_per_dim, beta, pixels):
    """Locatello et al. 2020, eq. 8, per pixel: over the pairs, the mean of the two images' reconstruction
    errors plus beta times the mean of their KLs under the shared posteriors; reconstruction [2B] and
    kl_per_dim [2B, M] of both images, beta in the usual units."""
    return tf.reduce_mean(reconstruction + beta * tf.reduce_sum(kl_per_dim, axis=1) / pixels)


# ---- latent quantization (Hsu et al. 2023) ----
# The rounding itself (codebooks, nearest values, the straight-through gradient) is the model's latent layer,
# model.py, since every restored model rounds its codes the same way; the losses that train it are here.

def quantization_loss(z, quantized):
    """Hsu et al. 2023, section 3 (VQ-VAE's codebook term, van den Oord et al. 2017): per image, the mean over
    dims of (sg(z) - q)^2, which moves each used value towards the codes rounded to it. [B]"""
    return tf.reduce_mean(tf.square(tf.stop_gradient(z) - quantized), axis=1)


def commitment_loss(z, quantized):
    """Hsu et al. 2023, section 3: per image, the mean over dims of (z - sg(q))^2, which keeps the encoder's
    codes near the values they are rounded to. [B]"""
    return tf.reduce_mean(tf.square(z - tf.stop_gradient(quantized)), axis=1)


def quantized_ae_loss(reconstruction, quantization, commitment, quantization_weight, commitment_weight):
    """QLAE's loss (Hsu et al. 2023, section 3): mean over the batch of the per-pixel reconstruction error plus
    the weighted quantization and commitment terms, all per image [B]."""
    return tf.reduce_mean(reconstruction + quantization_weight * quantization + commitment_weight * commitment)


def quantized_vae_loss(reconstruction, quantization, commitment, kl_per_dim, quantization_weight,
                       commitment_weight, kl_weight, pixels):
    """QLVAE's loss: QLAE's plus the ELBO's KL of the posterior around the rounded mean, kl_weight in the usual
    units (against the error summed over the image's N pixel values)."""
    kl = tf.reduce_sum(kl_per_dim, axis=1)
    return quantized_ae_loss(reconstruction + (kl_weight / pixels) * kl, quantization, commitment,
                             quantization_weight, commitment_weight)


# ---- a few labels (Locatello et al. 2020, "Disentangling Factors of Variation Using Few Labels") ----
# The supervised term ties latent k to the k-th labelled factor, over the first K latents, on a batch of the
# labelled set, as disentanglement_lib's semi_supervised_vae: summed over the batch and the factors.

def supervised_xent(codes, labels, sizes):
    """Sigmoid cross-entropy of the latent, as a logit, with the label scaled to [0, 1) (label / values)."""
    count = len(sizes)
    return tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(
        logits=codes[:, :count], labels=labels / np.asarray(sizes, np.float32)))


def supervised_l2(codes, labels, scale):
    """Squared distance of the latent times a learnt scale from the label (the label's index as it is)."""
    return tf.reduce_sum(tf.square(codes[:, :labels.shape.as_list()[1]] * scale - labels))


def supervised_cov(codes, labels):
    """Squared batch covariances of each latent with every factor but its own: a latent should follow its
    factor alone."""
    latents, factors = codes.shape.as_list()[1], labels.shape.as_list()[1]
    covariance = tf.reduce_mean((codes - tf.reduce_mean(codes, axis=0))[:, :, None] *
                                (labels - tf.reduce_mean(labels, axis=0))[:, None, :], axis=0)
    own = np.zeros((latents, factors), np.float32)
    own[np.arange(min(latents, factors)), np.arange(min(latents, factors))] = 1.0
    return tf.reduce_sum(tf.square(covariance * (1.0 - own)))


def supervised_embed(codes, labels, embeddings, sigma):
    """Per factor k, the softmax cross-entropy of the label among the factor's values embedded on a line
    (embeddings[k], learnt), the logit of value v being -((z_k - e_v) * sigma)^2; mean over the batch, summed
    over the factors."""
    total = 0.0
    for k, embedding in enumerate(embeddings):
        logits = -tf.square((codes[:, k:k + 1] - embedding[None]) * sigma)
        total += tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(
            labels=tf.one_hot(tf.cast(labels[:, k], tf.int32), embedding.shape.as_list()[0]), logits=logits))
    return total


def supervised_weight(gamma, step, schedule, steps):
    """gamma_sup at a step: 'fixed'; 'anneal', rising linearly from 0 to gamma over `steps`; 'fine_tune', 0
    until `steps`, then gamma (disentanglement_lib's annealers)."""
    step = tf.cast(step, tf.float32)
    if schedule == 'anneal':
        return tf.minimum(gamma, gamma * step / float(steps))
    if schedule == 'fine_tune':
        return gamma * tf.minimum(1.0, tf.maximum(0.0, step - float(steps)))
    return tf.constant(gamma, tf.float32)
