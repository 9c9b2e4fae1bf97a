"""The trained model for inference: the latest checkpoint's encoder and decoder, rebuilt from the settings it
was trained with, encoding and decoding numpy batches; what --generate, --traverse, --evaluate and --explore
run."""
import numpy as np
import tensorflow.compat.v1 as tf

import checkpoints
import data
import model
from hardware import session_config

tf.disable_v2_behavior()


def for_inference(cfg, trained):
    """This run's settings with the model settings of `trained`, the settings a checkpoint was trained with."""
    return cfg.replace(**{key: getattr(trained, key) for key in checkpoints.MODEL_KEYS})


class Restored(object):
    """The latest checkpoint's encoder and decoder, rebuilt from its saved settings (batch norm on its
    moving averages); encodes and decodes numpy batches."""

    def __init__(self, cfg):
        self.checkpoint = checkpoints.latest_or_error(cfg)
        self.trained_cfg = checkpoints.saved_config(self.checkpoint)   # every setting as trained, for the record
        self.cfg = for_inference(cfg, self.trained_cfg)
        self.step = checkpoints.step_of(self.checkpoint)
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.images = tf.placeholder(tf.float32, [None] + list(self.cfg.img_shape), name='images')
            z_mean, self.z_logvar = model.encode(self.images, self.cfg, training=False)
            self.z_mean = model.code(z_mean, self.cfg)
            self.z = tf.placeholder(tf.float32, [None, self.cfg.latent_dim], name='z')
            self.samples = model.build_sampler(self.z, self.cfg)
            self.z_code = model.code(self.z, self.cfg)
        self.sess = tf.Session(graph=self.graph, config=session_config())
        with self.graph.as_default():
            checkpoints.restore(self.sess, self.checkpoint)
            # [latent_dim, latent_values], each row ascending: the values a quantized latent takes; else None
            self.values = (np.sort(self.sess.run(model.codebooks(self.cfg)), axis=1)
                           if model.is_quantized(self.cfg) else None)
        print('restored {}'.format(self.checkpoint))

    @property
    def quantized(self):
        """Whether the model's latents take learnt values (model.is_quantized)."""
        return self.values is not None

    def to_code(self, z):
        """z [n, latent_dim] as the decoder's input would be coded: each dim rounded to its nearest learnt value
        where the latents are quantized, else z itself."""
        return self.sess.run(self.z_code, {self.z: z}) if self.quantized else z

    def close(self):
        """Closes the session; the model can not be used after this."""
        self.sess.close()

    def decode(self, z):
        """Latents [n, latent_dim] -> images [n, H, W, C] in [0, 1], in one session run."""
        return self.sess.run(self.samples, {self.z: z})

    def encode_dataset(self, make_dataset):
        """(z_mean, z_logvar), each [n, latent_dim], of every image of the tf.data dataset of image batches that
        make_dataset() builds, z_mean the code (model.code); the images never leave the graph."""
        with self.graph.as_default():
            batch = tf.data.make_one_shot_iterator(data.without_autotuning(make_dataset())).get_next()
            z_mean, z_logvar = model.encode(batch, self.cfg, training=False)
            z_mean = model.code(z_mean, self.cfg)
        parts = []
        while True:
            try:
                parts.append(self.sess.run([z_mean, z_logvar]))
            except tf.errors.OutOfRangeError:
                return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def encode(self, images, batch_size=512):
        """Images [n, H, W, C] -> (z_mean, z_logvar), each [n, latent_dim]; z_mean is the code (model.code)."""
        parts = [self.sess.run([self.z_mean, self.z_logvar], {self.images: images[i:i + batch_size]})
                 for i in range(0, len(images), batch_size)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def encode_held_out(self, count):
        """(file names or None, z_mean, z_logvar) of the first `count` held-out images."""
        names, z_mean, z_logvar, _ = self.encode_held_out_keeping_images(count, 0)
        return names, z_mean, z_logvar

    def encode_held_out_keeping_images(self, count, keep):
        """encode_held_out's three, and the first `keep` of those images themselves [<= keep, H, W, C],
        from one pass over the held-out data."""
        names, means, logvars, kept = [], [], [], []
        num_kept = 0
        for batch_names, images in data.held_out_batches(self.cfg, count):
            z_mean, z_logvar = self.encode(images)
            names += batch_names or []
            means.append(z_mean)
            logvars.append(z_logvar)
            kept.append(images[:max(0, keep - num_kept)])
            num_kept += len(kept[-1])
        images = np.concatenate(kept) if kept else np.zeros([0] + list(self.cfg.img_shape), np.float32)
        return names or None, np.concatenate(means), np.concatenate(logvars), images
