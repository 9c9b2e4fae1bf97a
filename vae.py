"""beta-VAE on CelebA (or your own images, or a dataset with known factors): train, generate, traverse, evaluate,
explore.

    python vae.py --train      [--dataset celeba|folder|dsprites|shapes3d|...] [--steps N | --images MILLIONS]
                               [--NAME VALUE ...]
    python vae.py --generate   [--dataset ...]   # results/randomFakeGrid.jpg, reconstructions.jpg
    python vae.py --traverse   [--dataset ...]   # results/traverse_latentdim{d}[_seed{k}].jpg, overview, GIFs
    python vae.py --evaluate   [--dataset ...]   # results/metrics.json (and attributes.json on CelebA)
    python vae.py --plot       [--dataset ...]   # results/losses.png from the TensorBoard event files
    python vae.py --explore    [--dataset ...] [--port 8000] [--host 127.0.0.1]   # the latent space in a browser
    python vae.py --check      [--dataset ...] [--NAME VALUE ...]   # check the settings, run nothing
    python vae.py --check RUNS.json       # check each run a study lists: [{"name", "dataset", "settings"}]

--NAME VALUE overrides any constant of config.py for this run.
"""
import argparse
import collections
import os
import signal
import sys
import time

from hardware import import_tensorflow, session_config, training_device

tf = import_tensorflow()

import numpy as np  # noqa: E402

import checkpoints  # noqa: E402
import config  # noqa: E402
import console  # noqa: E402
import data  # noqa: E402
import evaluate  # noqa: E402
import explorer  # noqa: E402
import figures  # noqa: E402
import images  # noqa: E402
import inference  # noqa: E402
import model  # noqa: E402
import objectives  # noqa: E402
import pictures  # noqa: E402
import scores  # noqa: E402
import settings  # noqa: E402
import training  # noqa: E402
from common import SettingsError  # noqa: E402

TrainingGraph = collections.namedtuple('TrainingGraph', 'batch step fakes snapshot_summaries weights_finite saver')


def train(cfg, steps=None, millions=None):
    """Trains until `steps`, or until `millions` M images are seen, or for num_epochs; returns the exit code:
    0, or 128 + the signal that stopped it."""
    with tf.Graph().as_default(), checkpoints.WriterLock(cfg.checkpoint_dir):
        # ---- data, from exactly where the latest checkpoint left off ----
        checkpoint, start_step = checkpoints.resume_point(cfg)
        inputs = data.training_input(cfg, objectives.get(cfg.objective).reads, start_step)
        print(console.describe_data(cfg.dataset, inputs.split, inputs.count))
        if inputs.labelled:
            print(console.describe_labels(cfg, inputs.labelled))
        max_steps = budget(cfg, steps, millions, inputs.count, start_step)
        print(objectives.get(cfg.objective).describe(cfg))
        line = (console.describe_precision(cfg.precision, training_device()) if cfg.precision != 'float32'
                else console.bfloat16_hint(training_device()))
        if line:
            print(line)
        graph = build_training_graph(cfg, inputs)
        checkpoints.warn_if_little_room(cfg.checkpoint_dir)
        return run_training(cfg, graph, checkpoint, start_step, max_steps)


def budget(cfg, steps, millions, num_images, start_step):
    """The step training stops at: --steps, --images as a step, or num_epochs. A count of images the
    checkpoint is already past is an error, since a learning curve's point can not go back."""
    if millions is None:
        return steps if steps is not None else cfg.num_epochs * num_images // training.images_per_step(cfg)
    stop = settings.steps_at(millions, training.images_trained_per_step(cfg))
    if start_step > stop:
        raise SettingsError('the checkpoint in {} is at step {}, past --images {:g} (step {}): give a larger count or '
                            'another checkpoint_dir'.format(cfg.checkpoint_dir, start_step, millions, stop))
    return stop


def build_training_graph(cfg, inputs):
    """The training step on a data.TrainingInput, a moving-average sampler of the fixed-z fakes, a finiteness
    check, a Saver."""
    tf.set_random_seed(cfg.seed)
    batch = data.step_batch(tf.data.make_one_shot_iterator(inputs.dataset).get_next(), inputs.count,
                            inputs.labelled.sizes if inputs.labelled else None)
    step = training.build_training(batch, cfg)
    fakes = model.build_sampler(tf.constant(pictures.fixed_fakes_z(cfg), tf.float32), cfg)
    snapshot_summaries = tf.summary.merge(step.image_summaries + [tf.summary.image('fakes', fakes, max_outputs=8)])
    weights_finite = tf.reduce_all([tf.reduce_all(tf.is_finite(v)) for v in tf.global_variables()
                                    if v.dtype.base_dtype == tf.float32])
    return TrainingGraph(batch.images, step, fakes, snapshot_summaries, weights_finite,
                         tf.train.Saver(max_to_keep=checkpoints.KEEP))


def run_training(cfg, graph, checkpoint, start_step, max_steps):
    """The training loop: steps, logs, snapshots and checkpoints until max_steps or a stop signal."""
    with tf.Session(config=session_config(cfg.xla_jit)) as sess, console.StopSignals() as stop:
        if checkpoint is None:
            sess.run(tf.global_variables_initializer())
        else:
            checkpoints.restore(sess, checkpoint)
            print('resumed from {} at step {}'.format(checkpoint, start_step))
        writer = tf.summary.FileWriter(cfg.summary_dir, sess.graph if checkpoint is None else None)
        # TensorBoard drops the events at this step and later that a killed run left behind (the first
        # step this session writes), so no step shows twice; the checkpoint's own step is kept.
        writer.add_session_log(tf.SessionLog(status=tf.SessionLog.START), start_step + 1)
        step = saved_step = start_step
        last_save = time.time()
        progress = console.Progress(start_step, max_steps, training.images_per_step(cfg))
        try:
            while step < max_steps and stop.received is None:
                # ---- step (summaries, snapshots and the first reals ride along in the same run) ----
                out = sess.run(step_fetches(graph, cfg, step, max_steps))
                step += 1
                if not np.isfinite(out['total']):
                    raise divergence_error('the loss', out['total'], step, cfg)

                # ---- log and snapshot ----
                for key in ('summary', 'snapshot'):
                    if key in out:
                        writer.add_summary(out[key], step)
                progress.update(step, out['total'], out['rec'], out['kl'], force=step == max_steps)
                save_snapshots(out, cfg, step)

                # ---- checkpoint ----
                if time.time() - last_save >= cfg.checkpoint_every:
                    save_checkpoint(sess, graph, cfg, step)
                    saved_step, last_save = step, time.time()
            if step != saved_step:   # the end of the run, or a stop signal
                save_checkpoint(sess, graph, cfg, step)
        finally:
            progress.close()
            writer.close()
    if stop.received is not None:
        print('stopped by {} at step {}; the same command resumes from there'.format(
            signal.Signals(stop.received).name, step))
        return 128 + stop.received
    figures.training_gif(cfg.results_dir)
    print('trained to step {}; checkpoints in {}'.format(step, cfg.checkpoint_dir))
    return 0


def step_fetches(graph, cfg, step, max_steps):
    """What the session run of the step after `step` fetches: the update and its losses, and on their
    steps the summaries, the fixed-z fakes and (first step only) the real batch."""
    train = graph.step
    fetches = {'train': train.train_op, 'total': train.total, 'rec': train.reconstruction, 'kl': train.kl}
    if (step + 1) % cfg.summary_freq == 0:
        fetches['summary'] = train.summaries
    if (step + 1) % cfg.image_snapshot_freq == 0 or step + 1 == max_steps:
        fetches.update(fakes=graph.fakes, snapshot=graph.snapshot_summaries)
    if step == 0:
        fetches['reals'] = graph.batch
    return fetches


def save_snapshots(out, cfg, step):
    """The reals once, the fixed-z fakes every image_snapshot_freq steps, as image grids."""
    if 'reals' in out:
        images.save_grid(out['reals'][:cfg.num_gen_imgs], os.path.join(cfg.results_dir, 'reals.jpg'), cfg.grid_size)
    if 'fakes' in out:
        images.save_grid(out['fakes'], os.path.join(cfg.results_dir, 'fakes_step{:07d}.jpg'.format(step)),
                         cfg.grid_size)


def save_checkpoint(sess, graph, cfg, step):
    """Saves the step's checkpoint, unless the weights are no longer finite."""
    if not sess.run(graph.weights_finite):
        raise divergence_error('the weights', 'non-finite', step, cfg)
    checkpoints.save(sess, graph.saver, cfg, step)


def divergence_error(what, value, step, cfg):
    """The FloatingPointError a diverged run stops with."""
    return FloatingPointError('{} became {} at step {}; stopped without saving, the last good checkpoint is {} '
                              '(kept): lower learning_rate or kl_weight and resume'.format(
                                  what, value, step, checkpoints.latest(cfg.checkpoint_dir) or 'none yet'))


# ---- the command line ----

def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='Every setting of config.py, below with its default, can be set for one run as --NAME VALUE\n'
               '(lists as comma-separated values), e.g. --kl_weight 2.0 --filters 32,64,128,256.\n\n'
               + settings.settings_help())
    parser.add_argument('--train', action='store_true', help='train, resuming from the latest checkpoint')
    parser.add_argument('--generate', action='store_true', help='write random samples to results/randomFakeGrid.jpg')
    parser.add_argument('--traverse', action='store_true', help='write latent traversals over [-3, 3]')
    parser.add_argument('--plot', action='store_true', help='plot the losses to results/losses.png')
    parser.add_argument('--evaluate', action='store_true',
                        help='disentanglement metrics (dSprites) or dims named by attributes (CelebA)')
    parser.add_argument('--explore', action='store_true', help='explore the latent space in a browser, until Ctrl-C')
    parser.add_argument('--check', nargs='?', const='', metavar='RUNS_JSON',
                        help='check the settings and stop; given a file, the settings of each run it lists')
    parser.add_argument('--port', type=int, default=8000, help='--explore: port to serve on (0: any free one)')
    parser.add_argument('--host', default='127.0.0.1', help='--explore: address to bind (default: loopback only)')
    parser.add_argument('--dataset', default=config.dataset, choices=sorted(config.DATASET_DEFAULTS),
                        help='dataset and its defaults (default: %(default)s)')
    parser.add_argument('--steps', type=int, help='train until the global step reaches N (default: num_epochs)')
    parser.add_argument('--images', type=float, metavar='MILLIONS',
                        help='train until the model has seen this many million images (a pair counts as two)')
    args, rest = parser.parse_known_args(argv)
    if not (args.train or args.generate or args.traverse or args.evaluate or args.plot or args.explore
            or args.check is not None):
        parser.error('choose at least one of --train, --evaluate, --generate, --traverse, --plot, --explore, --check')
    if args.steps is not None and args.steps < 1:
        parser.error('--steps must be >= 1')
    if args.images is not None and not args.images > 0:
        parser.error('--images takes a count in millions above 0, not {:g}'.format(args.images))
    if args.images is not None and args.steps is not None:
        parser.error('--images and --steps both say where training stops: give one')
    return args, checked(args.dataset, settings.parse_overrides(rest))


def checked(dataset, overrides):
    """The run config of `dataset` with (name, text) overrides, checked by the settings, the model, the
    objective and the metric table; SettingsError otherwise."""
    cfg = settings.resolve(dataset, overrides)
    model.check_settings(cfg)
    objectives.check_settings(cfg)
    scores.check_settings(cfg)
    return cfg


def check_runs(path):
    """Checks each run a study lists in `path`, before any of them trains; SettingsError names the first
    bad one."""
    for run in settings.read_runs(path):
        try:
            checked(run['dataset'], [tuple(pair) for pair in run['settings']])
        except SettingsError as error:
            raise SettingsError('run {}: {}'.format(run['name'], error))
    print('settings ok')


def main(argv=None):
    try:
        args, cfg = parse_args(sys.argv[1:] if argv is None else argv)
        if args.check is not None:
            if args.check:
                check_runs(args.check)
            else:
                print('settings ok')
            return 0
        if args.train:
            code = train(cfg, args.steps, args.images)
            if code:
                return code
        if args.plot:
            pictures.plot(cfg)
        if args.generate or args.traverse or args.evaluate or args.explore:
            restored = inference.Restored(cfg)
            if args.evaluate:
                evaluate.evaluate(restored, training.images_trained_per_step(restored.trained_cfg))
            if args.generate:
                pictures.generate(restored)
            if args.traverse:
                pictures.traverse(restored)
            if args.explore:
                return explorer.serve(restored, args.host, args.port)
    except (SettingsError, checkpoints.CheckpointError, FloatingPointError) as error:
        print('error: {}'.format(error), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('\naborted: the latest complete checkpoint is kept', file=sys.stderr)
        return 130
    except (OSError, tf.errors.OpError) as error:
        if not checkpoints.is_disk_full(error):
            raise
        print('error: no space left on device, writing {}: free space and run the same command again (the latest '
              'complete checkpoint is kept)'.format(getattr(error, 'filename', None) or 'an output'), file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
