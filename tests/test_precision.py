"""Mixed precision: low-precision math on float32 state, and float16's dynamic loss scaling."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

import checkpoints
import console
import hardware
import model
from common import SettingsError
import settings
import training
import vae
from conftest import train_from_scratch
from kit.graphs import training_batch
from kit.runs import folder_flags

tf.disable_v2_behavior()

TINY = [('batch_size', '4'), ('filters', '4,4,4,4'), ('hidden_units', '8,8')]


pytestmark = pytest.mark.usefixtures('fresh_graph')


def sprites(batch=4):
    return tf.constant((np.random.RandomState(0).rand(batch, 64, 64, 1) > 0.7).astype(np.float32))


@pytest.mark.parametrize('precision, tolerance', [('bfloat16', 0.05), ('float16', 0.005)])
def test_low_precision_computes_what_float32_does_on_the_same_weights(precision, tolerance):
    float32 = settings.resolve('dsprites', TINY)
    images = sprites()
    reference = model.decode(model.encode(images, float32, training=False)[0], float32, training=False)
    low = float32.replace(precision=precision)
    logits = model.decode(model.encode(images, low, training=False)[0], low, training=False)   # same variables
    convs = [op.get_attr('T') for op in tf.get_default_graph().get_operations() if op.type == 'Conv2D']
    assert tf.as_dtype(precision) in convs and logits.dtype == tf.float32
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        expected, got = sess.run([reference, logits])
    assert np.abs(got - expected).max() < tolerance * np.abs(expected).max()


@pytest.mark.parametrize('precision', ['bfloat16', 'float16'])
def test_low_precision_training_keeps_float32_state_and_learns(precision):
    cfg = settings.resolve('celeba', [('precision', precision), ('filters', '4,4,4,4'), ('latent_dim', '3'),
                                      ('batch_size', '4'), ('learning_rate', '1e-2')])
    images = tf.constant(np.random.RandomState(0).rand(4, 128, 128, 3).astype(np.float32))
    graph = training.build_training(training_batch(cfg, images), cfg)
    assert {v.dtype.base_dtype for v in tf.global_variables()} <= {tf.float32, tf.int32, tf.int64}
    first, last, step = train_from_scratch(graph, 10)
    assert step == 10 and last < 0.9 * first


def test_loss_scale_halves_on_overflow_and_doubles_after_a_run_of_finite_steps():
    scale, good = tf.placeholder(tf.float32, []), tf.placeholder(tf.int32, [])
    finite = tf.placeholder(tf.bool, [])
    new = training.next_loss_scale(scale, good, finite, growth_steps=3)
    with tf.Session() as sess:
        def step(s, g, ok):
            return tuple(sess.run(new, {scale: s, good: g, finite: ok}))
        assert step(8.0, 0, True) == (8.0, 1)
        assert step(8.0, 2, True) == (16.0, 0)
        assert step(8.0, 2, False) == (4.0, 0)
        assert step(1.0, 0, False) == (1.0, 0)


def test_overflowing_step_is_skipped_but_counted():
    weight = tf.get_variable('w', [2], initializer=tf.ones_initializer())
    global_step = tf.train.get_or_create_global_step()
    size = tf.placeholder(tf.float32, [])
    # Gradient `size` per weight: times the 2^15 loss scale, 1e35 overflows float32 and 1 does not.
    train_op = training.minimize_with_loss_scale(tf.train.AdamOptimizer(0.1), tf.reduce_sum(weight) * size,
                                              global_step, growth_steps=2)
    scale = tf.get_default_graph().get_tensor_by_name('loss_scale/scale:0')
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train_op, {size: 1e35})
        assert sess.run(global_step) == 1 and sess.run(scale) == training.LOSS_SCALE_INITIAL / 2
        np.testing.assert_array_equal(sess.run(weight), [1.0, 1.0])
        beta1_power = [v for v in tf.global_variables() if 'beta1_power' in v.op.name][0]
        assert sess.run(beta1_power) == pytest.approx(0.9)       # Adam made no update
        sess.run(train_op, {size: 1.0})
        sess.run(train_op, {size: 1.0})
        assert sess.run(global_step) == 3 and sess.run(scale) == training.LOSS_SCALE_INITIAL
        np.testing.assert_allclose(sess.run(weight), [0.8, 0.8], rtol=1e-5)   # two Adam steps of 0.1


def test_runs_switch_precision_on_resume_both_ways(tmp_path, capsys):
    base = ['--dataset', 'dsprites', '--filters', '4,4,4,4', '--hidden_units', '8,8', '--batch_size', '4',
            *folder_flags(tmp_path)]
    assert vae.main(['--train', '--steps', '2'] + base) == 0
    assert vae.main(['--train', '--steps', '3', '--precision', 'float16'] + base) == 0
    assert 'dynamic loss scaling' in capsys.readouterr().out
    reader = tf.train.load_checkpoint(checkpoints.latest(str(tmp_path / 'ck')))
    assert reader.get_tensor('global_step') == 3 and reader.get_tensor('loss_scale/good_steps') == 1
    assert vae.main(['--train', '--steps', '4', '--precision', 'bfloat16'] + base) == 0
    assert tf.train.load_checkpoint(checkpoints.latest(str(tmp_path / 'ck'))).get_tensor('global_step') == 4


def test_restoring_a_checkpoint_without_a_model_variable_is_a_clear_error(tmp_path):
    tf.get_variable('kept', [1])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        saved = tf.train.Saver().save(sess, str(tmp_path / 'model.ckpt'))
        tf.get_variable('encoder/new', [1])
        with pytest.raises(checkpoints.CheckpointError, match='has no encoder/new'):
            checkpoints.restore(sess, saved)


def test_unknown_precision_is_a_settings_error():
    with pytest.raises(SettingsError, match="precision must be one of"):
        model.check_settings(settings.resolve('dsprites', [('precision', 'float8')]))


@pytest.mark.parametrize('flags, version, native', [
    (['avx2', 'avx512f', 'avx512_bf16', 'amx_bf16'], '2.21.0', 'AMX'),
    (['avx2', 'avx512f', 'avx512_bf16'], '2.16.1', 'AVX-512 BF16'),
    (['avx2', 'avx512f', 'avx512_bf16'], '1.14.0', None),     # TensorFlow before 2.9 emulates bfloat16
    (['avx2', 'fma', 'avx512f'], '2.21.0', None),
])
def test_native_bfloat16_is_read_off_the_cpu_flags_and_the_tensorflow_version(flags, version, native):
    assert hardware.native_bfloat16(flags, version) == native


def test_a_float32_run_is_told_of_bfloat16_only_where_the_cpu_computes_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(hardware, 'tensorflow_version', lambda: '2.21.0')
    args = ['--train', '--steps', '1', '--dataset', 'dsprites', '--filters', '4,4,4,4', '--hidden_units', '8,8',
            '--batch_size', '4', *folder_flags(tmp_path)]
    monkeypatch.setattr(hardware, 'cpu', lambda: ('a CPU with BF16', ['avx2', 'avx512f', 'avx512_bf16']))
    assert vae.main(args) == 0
    hints = [line for line in capsys.readouterr().out.splitlines() if line.startswith('hint:')]
    assert len(hints) == 1 and hints[0].startswith(
        'hint: this CPU computes bfloat16 natively (AVX-512 BF16): --precision bfloat16 trains faster here')
    assert console.bfloat16_hint('/gpu:0') is None          # a GPU's precision is another question
    monkeypatch.setattr(hardware, 'cpu', lambda: ('a CPU without', ['avx2', 'avx512f']))
    assert vae.main(args[:2] + ['2'] + args[3:]) == 0
    assert 'hint:' not in capsys.readouterr().out
