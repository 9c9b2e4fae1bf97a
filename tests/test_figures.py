"""The KL-ranked overview, the traversal from data, and loss curves read back from event files."""
import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from PIL import Image

import checkpoints
import inference
import figures
import training
import pictures
import settings
import vae
from conftest import TINY_DSPRITES, gif_shown_ms
from kit import runs
from kit.graphs import training_batch

tf.disable_v2_behavior()

MEANS = np.array([0.0, 2.0, -0.5, 0.0, 1.0, 3.0, 0.1, 0.0, -1.5, 0.0])   # KL of dim d is means[d]^2 / 2


def dsprites_cfg(tmp_path, *extra):
    return settings.resolve('dsprites', [('batch_size', '8'), ('filters', '8,8,8,8'), ('hidden_units', '16,16'),
                                         ('checkpoint_dir', str(tmp_path / 'ck')),
                                         ('results_dir', str(tmp_path / 'res')),
                                         ('summary_dir', str(tmp_path / 'sum'))] + list(extra))


def write_known_kl_checkpoint(cfg):
    """An encoder that ignores its input: z_mean = MEANS, z_logvar = 0, so the KL per dim is known."""
    with tf.Graph().as_default():
        training.build_training(training_batch(cfg, tf.zeros([cfg.batch_size, 64, 64, 1])), cfg)
        with tf.variable_scope('encoder/z_params', reuse=True):
            kernel, bias = tf.get_variable('kernel'), tf.get_variable('bias')
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            sess.run([kernel.assign(tf.zeros_like(kernel)),
                      bias.assign(np.concatenate([MEANS, np.zeros(10)]).astype(np.float32))])
            checkpoints.save(sess, tf.train.Saver(), cfg, 1)


def test_overview_ranks_dims_by_held_out_kl(tmp_path):
    cfg = dsprites_cfg(tmp_path, ('traverse_kl_images', '64'))
    write_known_kl_checkpoint(cfg)
    active = pictures.traverse(inference.Restored(cfg))
    kl = MEANS ** 2 / 2
    assert active == [5, 1, 8, 4, 2]                       # KL 4.5, 2, 1.125, 0.5, 0.125; the rest < 0.05
    assert [kl[d] for d in active] == sorted(kl[kl >= 0.05], reverse=True)
    with Image.open(str(tmp_path / 'res' / 'traverse_overview.png')) as picture:
        assert picture.size == (figures.LABEL_WIDTH + 10 * 64, 5 * 64 + figures.NOTE_HEIGHT)


def test_traverse_from_data_sweeps_around_held_out_means(tmp_path):
    cfg = dsprites_cfg(tmp_path, ('traverse_from', 'data'), ('traverse_kl_images', '16'))
    write_known_kl_checkpoint(cfg)
    restored = inference.Restored(cfg)
    seeds = pictures.traversal_seeds(restored)
    np.testing.assert_allclose(seeds, np.tile(MEANS, (5, 1)), atol=1e-5)   # this encoder maps every image to MEANS
    pictures.traverse(restored)
    assert gif_shown_ms(str(tmp_path / 'res' / 'traverse_latentdim0.gif')) == ((5 * 64, 64), 18 * figures.GIF_FRAME_MS)


def test_gif_shows_every_frame_for_its_time_even_when_equal_neighbours_merge(tmp_path):
    dark, light = np.zeros((8, 16, 3), np.uint8), np.full((8, 16, 3), 200, np.uint8)
    figures.save_gif([dark, light, light, dark], str(tmp_path / 'a.gif'), frame_ms=100)
    assert gif_shown_ms(str(tmp_path / 'a.gif')) == ((16, 8), 400)
    with Image.open(str(tmp_path / 'a.gif')) as gif:
        gif.seek(1)
        assert gif.info['duration'] == 200 and np.asarray(gif.convert('L')).min() > 150


def test_read_scalars_drops_steps_a_killed_run_left_behind(tmp_path):
    with tf.Graph().as_default():
        value = tf.placeholder(tf.float32, [])
        summary = tf.summary.scalar('loss/total', value)
        with tf.Session() as sess:
            for run, (start, stop) in enumerate([(0, 6), (3, 8)]):      # killed at 6, resumed from its step-3 checkpoint
                writer = tf.summary.FileWriter(str(tmp_path / 'sum'), filename_suffix='.run{}'.format(run))
                writer.add_session_log(tf.SessionLog(status=tf.SessionLog.START), start + 1)
                for step in range(start + 1, stop + 1):
                    writer.add_summary(sess.run(summary, {value: 10.0 * run + step}), step)
                writer.close()
    steps, values = figures.read_scalars(str(tmp_path / 'sum'))['loss/total']
    np.testing.assert_array_equal(steps, [1, 2, 3, 4, 5, 6, 7, 8])
    np.testing.assert_array_equal(values, [1, 2, 3, 14, 15, 16, 17, 18])


def test_plot_reads_the_run_and_writes_losses_png(tmp_path):
    cfg = dsprites_cfg(tmp_path)
    args = TINY_DSPRITES + ['--summary_freq', '1', '--checkpoint_dir', cfg.checkpoint_dir, '--results_dir', cfg.results_dir,
            '--summary_dir', cfg.summary_dir]
    assert vae.main(['--train', '--steps', '4'] + args) == 0
    steps, _ = figures.read_scalars(cfg.summary_dir)['kl_per_dim/09']
    np.testing.assert_array_equal(steps, [1, 2, 3, 4])
    assert vae.main(['--plot'] + args) == 0
    with Image.open(str(tmp_path / 'res' / 'losses.png')) as picture:
        assert picture.size == (4 * 80 * 4, int(3.2 * 80))


def test_the_steady_step_time_leaves_out_warm_up_the_final_step_and_a_save():
    # Logged every 2 steps: 0.5 s per step in steady state, 3 s of warm-up before step 2, a 4 s checkpoint
    # save inside the interval 10..12, and a last step that draws its pictures (not in the window).
    times, clock = {}, 0.0
    for step in range(2, 21, 2):
        clock += 3.0 if step == 2 else 1.0 + (4.0 if step == 12 else 0.0)
        times[step] = clock
    times[21] = clock + 5.0
    assert runs.steady_step_seconds(times, first=2, last=20) == pytest.approx(0.5)
    # The mean over the same window takes the save in: 18 steps in 9 + 4 s.
    assert (times[20] - times[2]) / 18.0 == pytest.approx(13.0 / 18)


def test_a_window_too_short_to_be_steady_is_refused():
    times = {2: 0.0, 4: 1.0, 6: 2.0, 8: 3.0, 9: 9.0}
    assert runs.steady_step_seconds(times, first=2, last=8) == pytest.approx(0.5)
    with pytest.raises(ValueError, match='steps 4..8 hold 2 logged intervals, fewer than 3'):
        runs.steady_step_seconds(times, first=4, last=8)
