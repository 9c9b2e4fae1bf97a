"""The training step: the forward pass, the objective's loss, Adam on the encoder and decoder (with
dynamic loss scaling in float16), and the step's TensorBoard summaries."""
import collections

import tensorflow.compat.v1 as tf

import data
import model
import objectives
from checkpoints import LOSS_SCALE_SCOPE

tf.disable_v2_behavior()

TrainingStep = collections.namedtuple('TrainingStep', 'train_op global_step total reconstruction kl summaries '
                                                 'image_summaries')


def images_per_step(cfg):
    """Images one training step reads (data.images_read), for the objective cfg names."""
    return data.images_read(objectives.get(cfg.objective).reads, cfg.batch_size)


def images_trained_per_step(cfg):
    """Images the model's loss sees a step (data.images_trained), the unit of image budgets."""
    return data.images_trained(objectives.get(cfg.objective).reads, cfg.batch_size)


def build_training(batch, cfg):
    """The training step on one data.Batch: losses, Adam update, BN updates and summaries.

    The model trains on batch.images (a pair objective's are the first images then their partners); the
    objective reads the rest of the record (a second batch, the pairs' changes, the training set's size)
    in its posterior, loss and step.
    """
    objective = objectives.get(cfg.objective)
    images = batch.images
    pairs = objective.reads in (data.PAIRS, data.PAIRS_AND_CHANGES)
    assert images.shape.as_list()[0] in (None, cfg.batch_size * (2 if pairs else 1)), images.shape
    global_step = tf.train.get_or_create_global_step()
    with model.collected_updates() as model_updates:
        encoded, z_logvar = model.encode(images, cfg, training=True)
        z_mean, z_logvar, posterior_terms = objective.posterior(encoded, z_logvar, batch, cfg)
        z = model.reparameterize(z_mean, z_logvar) if objective.variational else z_mean
        logits = model.decode(z, cfg, training=True)

    with tf.name_scope('objective'):
        reconstruction = model.reconstruction_loss(images, logits, cfg.likelihood)
        kl_per_dim = model.gaussian_kl(z_mean, z_logvar) if objective.variational else tf.zeros_like(z_mean)
        forward = objectives.Forward(batch, logits, encoded, z, z_mean, z_logvar, reconstruction, kl_per_dim,
                                     global_step)
        loss, terms = objective.loss(forward, cfg)
        terms.update(posterior_terms)
        total = tf.identity(loss, name='total')
        mean_reconstruction = tf.reduce_mean(reconstruction, name='reconstruction')
        mean_kl_per_dim = tf.reduce_mean(kl_per_dim, axis=0, name='kl_per_dim')
        mean_kl = tf.reduce_mean(mean_kl_per_dim, name='kl')

    model_variables = [v for scope in ('encoder', 'decoder', model.CODEBOOK_SCOPE) + tuple(objective.scopes)
                       for v in tf.trainable_variables(scope)]
    optimizer = tf.train.AdamOptimizer(cfg.learning_rate, beta1=cfg.beta1, beta2=cfg.beta2)
    with tf.control_dependencies(model_updates):
        if cfg.precision == 'float16':
            model_step = minimize_with_loss_scale(optimizer, total, global_step, var_list=model_variables)
        else:
            model_step = minimize_with_weight_decay(optimizer, total, global_step, model_variables,
                                                    cfg.learning_rate, objective.weight_decay(cfg))
    train_op, step_terms = objective.step(model_step, forward, cfg)
    terms.update(step_terms)

    summaries = [tf.summary.scalar('loss/total', total),
                 tf.summary.scalar('loss/reconstruction', mean_reconstruction),
                 tf.summary.scalar('loss/kl', mean_kl),
                 tf.summary.histogram('z_mean', z_mean),
                 tf.summary.histogram('z_logvar', z_logvar)]
    summaries += [tf.summary.scalar('kl_per_dim/{:02d}'.format(d), mean_kl_per_dim[d])
                  for d in range(cfg.latent_dim)]
    summaries += [tf.summary.scalar(tag, value) for tag, value in sorted(terms.items())]
    image_summaries = [tf.summary.image('reals', images, max_outputs=8),
                       tf.summary.image('reconstructions', tf.sigmoid(logits), max_outputs=8)]
    return TrainingStep(train_op, global_step, total, mean_reconstruction, mean_kl, tf.summary.merge(summaries),
                      image_summaries)


# ---- decoupled weight decay (Loshchilov & Hutter 2019, AdamW), as Hsu et al. 2023 train the quantized objectives ----

def decayed(variables):
    """The weights that decay: the layers' kernels. Biases, batch norm's scale and offset and the learnt
    latent values keep their size, as in Hsu et al. 2023's code."""
    return [v for v in variables if v.op.name.endswith('/kernel')]


def decoupled_weight_decay(variables, learning_rate, weight_decay):
    """The op that shrinks each variable by learning_rate * weight_decay of itself, apart from Adam's
    moments: AdamW's decay (Loshchilov & Hutter 2019, Algorithm 2, line 12, with the schedule multiplier 1)."""
    return tf.group(*[tf.assign_sub(v, learning_rate * weight_decay * v) for v in variables])


def minimize_with_weight_decay(optimizer, loss, global_step, variables, learning_rate, weight_decay):
    """One Adam step on loss; with weight_decay > 0, AdamW's: the gradients are taken, then the kernels decay,
    then Adam steps, so w <- w - learning_rate * (adam_direction + weight_decay * w), w as it was."""
    if not weight_decay:
        return optimizer.minimize(loss, global_step=global_step, var_list=variables, name='train_op')
    gradients = optimizer.compute_gradients(loss, var_list=variables)
    with tf.control_dependencies([g for g, _ in gradients if g is not None]):
        decay = decoupled_weight_decay(decayed(variables), learning_rate, weight_decay)
    with tf.control_dependencies([decay]):
        return optimizer.apply_gradients(gradients, global_step=global_step, name='train_op')


# ---- float16: dynamic loss scaling (Micikevicius et al. 2018, section 3.2) ----

LOSS_SCALE_INITIAL = 2.0 ** 15     # first scale of the loss before backprop
LOSS_SCALE_GROWTH_STEPS = 2000     # finite steps in a row after which the scale doubles


def next_loss_scale(scale, good_steps, finite, growth_steps):
    """(scale, good_steps) after a step: halved (at least 1) on non-finite gradients, doubled after
    growth_steps finite steps in a row."""
    good_steps = tf.where(finite, good_steps + 1, tf.zeros_like(good_steps))
    grow = good_steps >= growth_steps
    scale = tf.where(finite, tf.where(grow, scale * 2.0, scale), tf.maximum(scale / 2.0, 1.0))
    return scale, tf.where(grow, tf.zeros_like(good_steps), good_steps)


def minimize_with_loss_scale(optimizer, loss, global_step, var_list=None,
                            growth_steps=LOSS_SCALE_GROWTH_STEPS):
    """One step on loss * scale, so small float16 gradients do not flush to zero; the gradients are
    unscaled in float32, and a step whose gradients overflowed is skipped (the weights and Adam's
    state stay as they were) but still counts, so the step keeps matching the data position."""
    with tf.variable_scope(LOSS_SCALE_SCOPE):
        scale = tf.get_variable('scale', [], initializer=tf.constant_initializer(LOSS_SCALE_INITIAL),
                                trainable=False)
        good_steps = tf.get_variable('good_steps', [], tf.int32, initializer=tf.zeros_initializer(),
                                     trainable=False)
    scaled = optimizer.compute_gradients(loss * scale, var_list=var_list)
    grads_and_vars = [(grad / scale, var) for grad, var in scaled if grad is not None]
    finite = tf.reduce_all([tf.reduce_all(tf.is_finite(grad)) for grad, _ in grads_and_vars])

    def apply():
        with tf.name_scope(None):   # Adam's variables get the names of a float32 run's, not cond/...
            update = optimizer.apply_gradients(grads_and_vars)
        with tf.control_dependencies([update]):
            return tf.constant(True)

    applied = tf.cond(finite, apply, lambda: tf.constant(False))
    new_scale, new_good_steps = next_loss_scale(scale, good_steps, applied, growth_steps)
    return tf.group(tf.assign(scale, new_scale), tf.assign(good_steps, new_good_steps),
                    tf.assign_add(global_step, 1), name='train_op')


