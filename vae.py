"""beta-VAE on CelebA (or dSprites): train, generate random images, traverse latent dimensions.

    python vae.py --train      [--dataset celeba|dsprites] [--steps N] [--NAME VALUE ...]
    python vae.py --generate   [--dataset ...]   # results/randomFakeGrid.jpg
    python vae.py --traverse   [--dataset ...]   # results/traverse_latentdim{d}[_seed{k}].jpg
    python vae.py --evaluate   [--dataset ...]   # results/metrics.json (and attributes.json on CelebA)
    python vae.py --plot       [--dataset ...]   # results/losses.png from the TensorBoard event files

--NAME VALUE overrides any constant of config.py for this run.
"""
import argparse
import os
import signal
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # keep TensorFlow's start-up chatter out of the log

import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

tf.logging.set_verbosity(tf.logging.ERROR)  # before the project's modules switch off v2 behaviour

import checkpoints  # noqa: E402
import config  # noqa: E402
import data  # noqa: E402
import evaluate  # noqa: E402
import figures  # noqa: E402
import images  # noqa: E402
import metrics  # noqa: E402
import model  # noqa: E402
import settings  # noqa: E402

tf.disable_v2_behavior()

FAKES_SEED = 2019                       # numpy seed of the fixed z behind every `fakes` grid
TRAVERSE_SEEDS = (42, 62, 1024, 72, 92)  # the original's seed vectors for --traverse
TRAVERSE_VALUES = np.linspace(-3.0, 3.0, 10)  # values one latent dim sweeps through


class Progress(object):
    """One status line: step, losses, images/s and ETA; redrawn in place on a terminal."""

    def __init__(self, start_step, max_steps, batch_size):
        self.start_step, self.max_steps, self.batch_size = start_step, max_steps, batch_size
        self.stream = sys.stdout
        self.started = time.time()
        self.last_draw = 0.0
        self.interactive = self.stream.isatty()

    def update(self, step, total, reconstruction, kl, force=False):
        now = time.time()
        if not force and now - self.last_draw < (0.5 if self.interactive else 30.0):
            return
        self.last_draw = now
        rate = (step - self.start_step) * self.batch_size / max(now - self.started, 1e-9)
        eta = (self.max_steps - step) * self.batch_size / rate if rate > 0 else 0.0
        line = 'step {}/{} | loss {:.5f} (rec {:.5f}, kl {:.4f}) | {:.1f} img/s | ETA {}'.format(
            step, self.max_steps, total, reconstruction, kl, rate, time.strftime('%H:%M:%S', time.gmtime(eta)))
        self.stream.write(('\r' + line) if self.interactive else (line + '\n'))
        self.stream.flush()

    def close(self):
        if self.interactive:
            self.stream.write('\n')


def describe_data(split, num_images):
    if split is None:
        return 'dSprites: {} images'.format(num_images)
    text = 'CelebA: {} training, {} held-out images'.format(len(split.train), len(split.holdout))
    if split.skipped:
        examples = ', '.join('{} ({})'.format(name, why) for name, why in split.skipped[:3])
        text += '; skipped {} unusable files: {}{}'.format(
            len(split.skipped), examples, ', ...' if len(split.skipped) > 3 else '')
    return text


class StopSignals(object):
    """SIGINT and SIGTERM ask the training loop to checkpoint and stop after the current step.

    A second signal aborts at once (KeyboardInterrupt), losing only the steps since the last checkpoint.
    """

    def __init__(self):
        self.received = None
        self._previous = {}

    def __enter__(self):
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum, frame):
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signum
        sys.stderr.write('\n{} received: saving a checkpoint after this step (send it again to abort)\n'.format(
            signal.Signals(signum).name))
        sys.stderr.flush()


def describe_objective(cfg):
    if cfg.objective == 'tcvae':
        return ('objective: rec + ({:g} MI + {:g} TC + {:g} dimension-wise KL)/N per image (beta-TCVAE, Chen et al. '
                '2018)'.format(cfg.tcvae_alpha, cfg.tcvae_beta, cfg.tcvae_gamma))
    if cfg.objective == 'factor':
        return ('objective: rec + ({:g} KL + {:g} TC)/N per image (FactorVAE, Kim & Mnih 2018), TC from a '
                'discriminator on a second batch'.format(cfg.factor_kl_weight, cfg.factor_gamma))
    if cfg.objective == 'capacity':
        return ('objective: rec + {:g}/N * |KL - C| per image (Burgess et al. 2018), C rising from 0 to {:g} nats '
                'over {} steps'.format(cfg.capacity_gamma, cfg.capacity_max, cfg.capacity_steps))
    return ('objective: rec + {:g}/{} * KL per image (kl_weight = {:g}), i.e. beta = {:.4g} in the usual units '
            '(summed error vs summed KL)'.format(cfg.kl_weight, model.KL_UNIT_BATCH, cfg.kl_weight,
                                                 model.equivalent_beta(cfg.kl_weight, cfg.img_shape, cfg.latent_dim)))


def describe_precision(precision, device):
    text = 'precision: {} convolutions and matmuls; float32 weights, losses and updates'.format(precision)
    if precision == 'float16':
        text += ', dynamic loss scaling'
        if device is None:
            text += ' (no GPU: CPUs emulate float16 slowly; bfloat16 is the fast choice on a CPU)'
    elif device is None and not fast_cpu_bfloat16():
        text += (' (slow here: fast CPU bfloat16 needs TensorFlow >= 2.9 and a CPU with AVX-512 BF16 or AMX; '
                 'TensorFlow 1.14 measured 9x slower than float32)')
    return text


def fast_cpu_bfloat16():
    """Whether oneDNN's bfloat16 kernels can run here: TensorFlow >= 2.9 on a CPU with BF16 instructions."""
    major, minor = (int(part) for part in tf.VERSION.split('.')[:2])
    try:
        with open('/proc/cpuinfo') as f:
            flags = f.read()
    except OSError:
        flags = ''
    return (major, minor) >= (2, 9) and ('avx512_bf16' in flags or 'amx_bf16' in flags)


def resume_point(cfg):
    """(latest checkpoint or None, its global step); refuses a checkpoint of other variable shapes."""
    checkpoint = checkpoints.latest(cfg.checkpoint_dir)
    if checkpoint is None:
        return None, 0
    checkpoints.check_compatible(checkpoints.saved_config(checkpoint), cfg, checkpoint)
    return checkpoint, checkpoints.step_of(checkpoint)


def train(cfg, steps=None):
    """Trains until `steps` (or num_epochs); returns the exit code: 0, or 128 + the signal that stopped it."""
    with tf.Graph().as_default():
        return _train(cfg, steps)


def _train(cfg, steps):
    # ---- data, from exactly where the latest checkpoint left off ----
    checkpoint, start_step = resume_point(cfg)
    # FactorVAE reads two batches a step; the data position stays step x images per step.
    images_per_step = cfg.batch_size * model.batches_per_step(cfg.objective)
    dataset, num_images, split = data.training_data(cfg.replace(batch_size=images_per_step), start_step)
    print(describe_data(split, num_images))
    max_steps = steps if steps is not None else cfg.num_epochs * num_images // cfg.batch_size
    print(describe_objective(cfg))
    if cfg.precision != 'float32':
        print(describe_precision(cfg.precision, data.training_device()))

    # ---- graph, built once: the training step and a moving-average sampler for fixed-z fakes ----
    tf.set_random_seed(cfg.seed)
    batch = tf.data.make_one_shot_iterator(dataset).get_next()
    graph = model.build_training(batch, cfg, dataset_size=num_images)
    fixed_z = np.random.RandomState(FAKES_SEED).standard_normal((cfg.num_gen_imgs, cfg.latent_dim))
    fakes = model.build_sampler(tf.constant(fixed_z, tf.float32), cfg)
    snapshot_summaries = tf.summary.merge(graph.image_summaries + [tf.summary.image('fakes', fakes, max_outputs=8)])
    weights_finite = tf.reduce_all([tf.reduce_all(tf.is_finite(v)) for v in tf.global_variables()
                                    if v.dtype.base_dtype == tf.float32])
    saver = tf.train.Saver(max_to_keep=checkpoints.KEEP)

    with tf.Session(config=checkpoints.session_config(cfg.xla_jit)) as sess, StopSignals() as stop:
        if checkpoint is None:
            sess.run(tf.global_variables_initializer())
        else:
            checkpoints.restore(sess, checkpoint)
            print('resumed from {} at step {}'.format(checkpoint, start_step))
        writer = tf.summary.FileWriter(cfg.summary_dir, sess.graph if checkpoint is None else None)
        # TensorBoard drops events past this step that a killed run left behind: no duplicated steps.
        writer.add_session_log(tf.SessionLog(status=tf.SessionLog.START), start_step)
        step = saved_step = start_step
        last_save = time.time()

        def save():
            if not sess.run(weights_finite):
                raise diverged('the weights', 'non-finite', step, cfg)
            checkpoints.save(sess, saver, cfg, step)

        progress = Progress(start_step, max_steps, cfg.batch_size)
        try:
            while step < max_steps and stop.received is None:
                # ---- step (summaries and the first reals ride along in the same run) ----
                fetches = {'train': graph.train_op, 'total': graph.total, 'rec': graph.reconstruction,
                           'kl': graph.kl}
                if (step + 1) % cfg.summary_freq == 0:
                    fetches['summary'] = graph.summaries
                if (step + 1) % cfg.image_snapshot_freq == 0 or step + 1 == max_steps:
                    fetches.update(fakes=fakes, snapshot=snapshot_summaries)
                if step == 0:
                    fetches['reals'] = batch
                out = sess.run(fetches)
                step += 1
                if not np.isfinite(out['total']):
                    raise diverged('the loss', out['total'], step, cfg)

                # ---- log ----
                for key in ('summary', 'snapshot'):
                    if key in out:
                        writer.add_summary(out[key], step)
                progress.update(step, out['total'], out['rec'], out['kl'], force=step == max_steps)

                # ---- snapshot ----
                if 'reals' in out:
                    images.save_grid(out['reals'][:cfg.num_gen_imgs], os.path.join(cfg.results_dir, 'reals.jpg'),
                                     cfg.grid_size)
                if 'fakes' in out:
                    images.save_grid(out['fakes'], os.path.join(
                        cfg.results_dir, 'fakes_step{:07d}.jpg'.format(step)), cfg.grid_size)

                # ---- checkpoint ----
                if time.time() - last_save >= cfg.checkpoint_every:
                    save()
                    saved_step, last_save = step, time.time()
            if step != saved_step:   # the end of the run, or a stop signal
                save()
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


def diverged(what, value, step, cfg):
    return FloatingPointError('{} became {} at step {}; stopped without saving, the last good checkpoint is {} '
                              '(kept): lower learning_rate or kl_weight and resume'.format(
                                  what, value, step, checkpoints.latest(cfg.checkpoint_dir) or 'none yet'))


def generate(restored):
    """randomFakeGrid.jpg: samples from N(0, I); reconstructions.jpg: held-out images over their reconstructions."""
    cfg = restored.cfg
    z = np.random.RandomState(cfg.seed).standard_normal((cfg.num_gen_imgs, cfg.latent_dim))
    path = os.path.join(cfg.results_dir, 'randomFakeGrid.jpg')
    images.save_grid(restored.decode(z), path, cfg.grid_size)
    print('wrote {}'.format(path))

    rows, cols = cfg.grid_size
    try:
        originals = evaluate.held_out_images(cfg, (rows + 1) // 2 * cols)
    except settings.SettingsError as missing:
        print('no reconstructions.jpg: {}'.format(missing))
        return
    reconstructions = restored.decode(restored.encode(originals)[0])
    pairs = []   # row pairs: a row of originals above the row of their reconstructions
    for start in range(0, len(originals), cols):
        pairs += [originals[start:start + cols], reconstructions[start:start + cols]]
    path = os.path.join(cfg.results_dir, 'reconstructions.jpg')
    images.save_grid(np.concatenate(pairs), path, (len(pairs), cols))
    print('wrote {}'.format(path))


def traversal_seeds(restored):
    """[5, latent_dim]: the original's seed vectors, or the means of 5 fixed held-out images."""
    cfg = restored.cfg
    if cfg.traverse_from == 'data':
        return restored.encode(evaluate.held_out_images(cfg, len(TRAVERSE_SEEDS)))[0]
    return np.stack([np.random.RandomState(seed).standard_normal(cfg.latent_dim) for seed in TRAVERSE_SEEDS])


def traversal_latents(seeds, dim):
    """[seeds * values, latent_dim]: each seed vector with `dim` swept over TRAVERSE_VALUES."""
    z = np.repeat(seeds, len(TRAVERSE_VALUES), axis=0)
    z[:, dim] = np.tile(TRAVERSE_VALUES, len(seeds))
    return z


def traverse(restored):
    """Per dim: a seeds x values grid, one row per seed, a GIF; and the KL-ranked overview of all dims.

    Returns the overview's active dims, most informative first (None without held-out data).
    """
    cfg = restored.cfg
    seeds = traversal_seeds(restored)
    per_row = len(TRAVERSE_VALUES)
    names = evaluate.attribute_names(cfg.results_dir, restored.step)
    first_rows = []
    for dim in range(cfg.latent_dim):
        decoded = restored.decode(traversal_latents(seeds, dim))   # one run per grid
        base = os.path.join(cfg.results_dir, 'traverse_latentdim{}'.format(dim))
        images.save_grid(decoded, base + '.jpg', (len(seeds), per_row), caption=names.get(dim))
        for k in range(len(seeds)):
            images.save_grid(decoded[k * per_row:(k + 1) * per_row], '{}_seed{}.jpg'.format(base, k + 1),
                             (1, per_row))
        figures.traversal_gif(decoded, len(seeds), base + '.gif')
        first_rows.append(images.make_grid(decoded[:per_row], (1, per_row)))
    print('wrote {} traversals ({} seeds) to {}'.format(cfg.latent_dim, cfg.traverse_from, cfg.results_dir))
    try:
        _, z_mean, z_logvar = evaluate.encode_held_out(restored, cfg.traverse_kl_images)
    except settings.SettingsError as missing:
        print('no traverse_overview.png (it ranks dims by KL on held-out images): {}'.format(missing))
        return None
    return write_overview(cfg, metrics.kl_per_dim(z_mean, z_logvar), first_rows, names)


def write_overview(cfg, kl_per_dim, rows, names):
    """traverse_overview.png: active dims by decreasing held-out KL, labelled; inactive ones in a note."""
    active, inactive = figures.rank_dims(kl_per_dim, cfg.inactive_kl)
    labels = ['dim {}  KL {:.2f}  {}'.format(d, kl_per_dim[d], names.get(d, '').split(' ~ ')[-1]) for d in active]
    note = 'inactive (KL < {:g}): dims {}'.format(cfg.inactive_kl, ', '.join(map(str, inactive))) if inactive else ''
    path = os.path.join(cfg.results_dir, 'traverse_overview.png')
    images.save_image(figures.overview([rows[d] for d in active], labels, note, rows[0].shape), path)
    print('wrote {}: {} active dims, most informative first'.format(path, len(active)))
    return active


def plot(cfg):
    scalars = figures.read_scalars(cfg.summary_dir)
    if 'loss/total' not in scalars:
        raise settings.SettingsError('no training losses in {}: train first, or set --summary_dir'.format(
            cfg.summary_dir))
    path = os.path.join(cfg.results_dir, 'losses.png')
    os.makedirs(cfg.results_dir, exist_ok=True)
    figures.plot_losses(scalars, path)
    print('wrote {} ({} points)'.format(path, len(scalars['loss/total'][0])))


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        epilog='Any constant of config.py can be overridden for one run: --NAME VALUE '
               '(lists as comma-separated values), e.g. --kl_weight 2.0 --filters 32,64,128,256.')
    parser.add_argument('--train', action='store_true', help='train, resuming from the latest checkpoint')
    parser.add_argument('--generate', action='store_true', help='write random samples to results/randomFakeGrid.jpg')
    parser.add_argument('--traverse', action='store_true', help='write latent traversals over [-3, 3]')
    parser.add_argument('--plot', action='store_true', help='plot the losses to results/losses.png')
    parser.add_argument('--evaluate', action='store_true',
                        help='disentanglement metrics (dSprites) or dims named by attributes (CelebA)')
    parser.add_argument('--dataset', default=config.dataset, choices=sorted(config.DATASET_DEFAULTS),
                        help='dataset and its defaults (default: %(default)s)')
    parser.add_argument('--steps', type=int, help='train until the global step reaches N (default: num_epochs)')
    args, rest = parser.parse_known_args(argv)
    if not (args.train or args.generate or args.traverse or args.evaluate or args.plot):
        parser.error('choose at least one of --train, --evaluate, --generate, --traverse, --plot')
    if args.steps is not None and args.steps < 1:
        parser.error('--steps must be >= 1')
    cfg = settings.resolve(args.dataset, settings.parse_overrides(rest))
    model.check_settings(cfg)
    return args, cfg


def main(argv=None):
    try:
        args, cfg = parse_args(sys.argv[1:] if argv is None else argv)
        if args.train:
            code = train(cfg, args.steps)
            if code:
                return code
        if args.plot:
            plot(cfg)
        if args.generate or args.traverse or args.evaluate:
            restored = checkpoints.Restored(cfg)
            if args.evaluate:
                evaluate.evaluate(restored)
            if args.generate:
                generate(restored)
            if args.traverse:
                traverse(restored)
    except (settings.SettingsError, checkpoints.CheckpointError, FloatingPointError) as error:
        print('error: {}'.format(error), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('\naborted: the latest complete checkpoint is kept', file=sys.stderr)
        return 130
    return 0


if __name__ == '__main__':
    sys.exit(main())
