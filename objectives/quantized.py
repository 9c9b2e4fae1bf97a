"""Latent quantization (Hsu, Dorrell, Whittington, Wu and Finn 2023, "Disentanglement via Latent Quantization"):
QLAE and QLVAE."""
import tensorflow.compat.v1 as tf

import model
from common import SettingsError
from objectives.base import Objective
from terms import commitment_loss, quantization_loss, quantized_ae_loss, quantized_vae_loss

tf.disable_v2_behavior()


class QuantizedObjective(Objective):
    """Hsu et al. 2023: each latent dim rounded to the nearest of its own few learnt values, the encoder trained
    through the rounding, the values and the codes pulled together, and the kernels under strong AdamW decay."""
    paper = 'Hsu et al. 2023'
    quantized = True
    nonnegative = ('quantization_weight', 'commitment_weight', 'weight_decay')
    paper_settings = {'dsprites': {'latent_dim': 10, 'latent_values': 10, 'quantization_weight': 0.01,
                                   'commitment_weight': 0.01, 'weight_decay': 0.1}}   # 10 latents: 2 x 5 factors

    def check_run(self, cfg):
        if cfg.precision == 'float16':
            raise SettingsError('objective {} steps with AdamW\'s weight decay, which float16\'s loss-scaled step does '
                                'not build: use --precision float32 or bfloat16'.format(self.name))

    def weight_decay(self, cfg):
        return cfg.weight_decay

    def posterior(self, z_mean, z_logvar, batch, cfg):
        """The mean rounded to the learnt values, with the mean's gradient (straight-through)."""
        quantized, index = model.nearest_values(z_mean, model.codebooks(cfg))
        used = tf.reduce_mean(tf.cast([tf.size(tf.unique(index[:, d])[0]) for d in range(cfg.latent_dim)], tf.float32))
        return model.straight_through(z_mean, quantized), z_logvar, {'codes/values_used_per_dim': used}

    def codebook_terms(self, forward, cfg):
        """(quantization loss, commitment loss), each [B], of the encoder's means and their rounded values."""
        quantized, _ = model.nearest_values(forward.encoded, model.codebooks(cfg))
        return quantization_loss(forward.encoded, quantized), commitment_loss(forward.encoded, quantized)


class QLAE(QuantizedObjective):
    name, title = 'qlae', 'QLAE'
    variational = False

    def describe(self, cfg):
        return ('objective: rec + {:g} quantization + {:g} commitment per image (QLAE, Hsu et al. 2023), {} latents '
                'of {} learnt values each, AdamW weight decay {:g}'.format(
                    cfg.quantization_weight, cfg.commitment_weight, cfg.latent_dim, cfg.latent_values,
                    cfg.weight_decay))

    def loss(self, forward, cfg):
        quantization, commitment = self.codebook_terms(forward, cfg)
        loss = quantized_ae_loss(forward.reconstruction, quantization, commitment, cfg.quantization_weight,
                                 cfg.commitment_weight)
        return loss, {'loss/quantization': tf.reduce_mean(quantization), 'loss/commitment': tf.reduce_mean(commitment)}


class QLVAE(QuantizedObjective):
    name, title = 'qlvae', 'QLVAE'
    nonnegative = QuantizedObjective.nonnegative + ('qlvae_kl_weight',)

    def describe(self, cfg):
        return ('objective: rec + {:g} KL / N + {:g} quantization + {:g} commitment per image (QLVAE, Hsu et al. '
                '2023), z sampled around the rounded mean, {} latents of {} learnt values each, AdamW weight decay '
                '{:g}'.format(cfg.qlvae_kl_weight, cfg.quantization_weight, cfg.commitment_weight, cfg.latent_dim,
                              cfg.latent_values, cfg.weight_decay))

    def loss(self, forward, cfg):
        quantization, commitment = self.codebook_terms(forward, cfg)
        loss = quantized_vae_loss(forward.reconstruction, quantization, commitment, forward.kl_per_dim,
                                  cfg.quantization_weight, cfg.commitment_weight, cfg.qlvae_kl_weight,
                                  model.num_pixels(cfg.img_shape))
        return loss, {'loss/quantization': tf.reduce_mean(quantization), 'loss/commitment': tf.reduce_mean(commitment)}

