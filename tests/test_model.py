"""Encoder and decoder shapes of both architectures; batch norm's two modes."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import model
import training
import settings
from conftest import train_from_scratch
from kit.graphs import training_batch

tf.disable_v2_behavior()


pytestmark = pytest.mark.usefixtures('fresh_graph')


def test_original_celeba_architecture_shapes():
    cfg = settings.resolve('celeba')
    images = tf.zeros([2, 128, 128, 3])
    z_mean, z_logvar = model.encode(images, cfg, training=True)
    assert z_mean.shape.as_list() == [2, 32] and z_logvar.shape.as_list() == [2, 32]
    convs = [op.outputs[0].shape.as_list()[1:] for op in tf.get_default_graph().get_operations()
             if op.type == 'Conv2D']
    assert convs == [[62, 62, 64], [29, 29, 128], [13, 13, 256], [5, 5, 512]]
    logits = model.decode(z_mean, cfg, training=True)
    assert logits.shape.as_list() == [2, 128, 128, 3]
    dense = tf.get_default_graph().get_tensor_by_name('decoder/dense/BiasAdd:0')
    assert dense.shape.as_list() == [2, 8 * 8 * 512]


def test_burgess_dsprites_architecture_shapes():
    cfg = settings.resolve('dsprites')
    z_mean, _ = model.encode(tf.zeros([3, 64, 64, 1]), cfg, training=True)
    assert z_mean.shape.as_list() == [3, 10]
    convs = [op.outputs[0].shape.as_list()[1:] for op in tf.get_default_graph().get_operations()
             if op.type == 'Conv2D']
    assert convs == [[32, 32, 32], [16, 16, 32], [8, 8, 64], [4, 4, 64]]
    assert model.decode(z_mean, cfg, training=False).shape.as_list() == [3, 64, 64, 1]
    batch_norms = [op for op in tf.get_default_graph().get_operations() if 'FusedBatchNorm' in op.type]
    assert not batch_norms


def test_batch_norm_trains_on_batch_statistics_and_infers_on_moving_averages():
    x = tf.constant(np.random.RandomState(0).randn(16, 3).astype(np.float32) * 5 + 10)
    trained = model.batch_norm(x, training=True, momentum=0.5, epsilon=1e-5, name='bn')
    with tf.variable_scope('', reuse=True):
        inferred = model.batch_norm(x, training=False, momentum=0.5, epsilon=1e-5, name='bn')
    updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        normalised = sess.run(trained)
        np.testing.assert_allclose(normalised.mean(0), 0, atol=1e-4)
        np.testing.assert_allclose(sess.run(inferred), sess.run(x) / np.sqrt(1 + 1e-5), rtol=1e-5)
        for _ in range(30):
            sess.run(updates)
        np.testing.assert_allclose(sess.run(inferred).mean(0), 0, atol=1e-3)


def test_training_graph_steps_and_names_its_tensors():
    cfg = settings.resolve('dsprites', [('batch_size', '4')])
    graph = training.build_training(training_batch(cfg, tf.zeros([4, 64, 64, 1])), cfg)
    for name in ('objective/total:0', 'objective/reconstruction:0', 'objective/kl:0', 'objective/kl_per_dim:0'):
        tf.get_default_graph().get_tensor_by_name(name)
    first, last, step = train_from_scratch(graph, 5)
    assert step == 5 and last < first
