"""Checkpoints: saving them with their settings, finding the latest complete one, restoring it."""
import errno
import fcntl
import glob
import os
import shutil
import socket
import sys

import tensorflow.compat.v1 as tf

import settings

tf.disable_v2_behavior()

PREFIX = 'model.ckpt'
LOCK_FILE = 'training.lock'     # held by the one process training into the folder; says its host and pid
KEEP = 3                        # checkpoints kept; older ones are deleted
# Settings that decide the variables' shapes; a checkpoint only restores into the same ones.
ARCHITECTURE_KEYS = ('architecture', 'img_shape', 'latent_dim', 'latent_values', 'filters', 'hidden_units',
                     'discriminator_units')
# Settings that define the trained model and what it sees: --generate, --traverse and --evaluate
# take them from the checkpoint, everything else (where to write, sample sizes) from the current run.
MODEL_KEYS = ARCHITECTURE_KEYS + ('dataset', 'likelihood', 'epsilon', 'data_crop')
# The one scope of variables a checkpoint may lack: float16's loss-scale state (training.py), which a run
# resumed in float16 from another precision starts afresh.
LOSS_SCALE_SCOPE = 'loss_scale'


class CheckpointError(RuntimeError):
    """No usable checkpoint, or none could be written; the message says what to do."""


def is_disk_full(error):
    """Whether an OSError or a TensorFlow error says that the device (or the quota) is full."""
    return getattr(error, 'errno', None) in (errno.ENOSPC, errno.EDQUOT) or 'No space left on device' in str(error)


def checkpoint_bytes():
    """About how many bytes a checkpoint of the default graph's variables takes."""
    return sum(v.shape.num_elements() * v.dtype.base_dtype.size for v in tf.global_variables())


def megabytes(count):
    return '{:.2f} MB'.format(count / 1e6)


def free_bytes(folder):
    """Free bytes on the filesystem that holds `folder`, or would once it is made."""
    folder = os.path.abspath(folder)
    while not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    return shutil.disk_usage(folder).free


def warn_if_little_room(checkpoint_dir):
    """Says so on stderr when checkpoint_dir has room for fewer than two checkpoints of this graph."""
    need, free = checkpoint_bytes(), free_bytes(checkpoint_dir)
    if free < 2 * need:
        print('warning: {} has {} free, room for fewer than two checkpoints of about {} each: free space or set '
              '--checkpoint_dir, or training stops at a save'.format(checkpoint_dir, megabytes(free), megabytes(need)),
              file=sys.stderr)


class WriterLock(object):
    """One training process per checkpoint folder: an exclusive flock on LOCK_FILE, held while training.

    The kernel lets go of a flock when its process dies, so a lock left by kill -9 (or by a node
    that is gone, once its lease ends on a network filesystem) never blocks the next run. The
    file's text, `host pid`, only names the holder in the error the second process gets.
    """

    def __init__(self, checkpoint_dir):
        self.checkpoint_dir = checkpoint_dir
        self.file = None

    def __enter__(self):
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        handle = open(os.path.join(self.checkpoint_dir, LOCK_FILE), 'a+')
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().split()
            handle.close()
            raise CheckpointError('{} is being trained into by {}: wait for it or stop it, or train in another '
                                  '--checkpoint_dir'.format(self.checkpoint_dir, 'pid {} on host {}'.format(
                                      holder[1], holder[0]) if len(holder) == 2 else 'another process'))
        handle.seek(0)
        handle.truncate()
        handle.write('{} {}\n'.format(socket.gethostname(), os.getpid()))
        handle.flush()
        self.file = handle
        return self

    def __exit__(self, *exc_info):
        self.file.close()     # releases the flock
        self.file = None


def config_path(checkpoint):
    return checkpoint + '.config.json'


def is_complete(checkpoint):
    """All of a checkpoint's files are there: its index, its data shards and its settings."""
    return (os.path.isfile(checkpoint + '.index') and bool(glob.glob(checkpoint + '.data-*'))
            and os.path.isfile(config_path(checkpoint)))


def latest(checkpoint_dir):
    """The newest complete checkpoint prefix in checkpoint_dir, or None."""
    state = tf.train.get_checkpoint_state(checkpoint_dir) if os.path.isdir(checkpoint_dir) else None
    if state is None:
        return None
    candidates = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
    for checkpoint in reversed(candidates):    # get_checkpoint_state has joined them to checkpoint_dir
        if is_complete(checkpoint):
            return checkpoint
    return None


def step_of(checkpoint):
    """The global step stored in a checkpoint."""
    return int(tf.train.load_checkpoint(checkpoint).get_tensor('global_step'))


def save(sess, saver, cfg, step):
    """Saves a checkpoint at `step` with the settings beside it; written before the checkpoint is listed.

    A save that runs out of space removes what it had written and raises CheckpointError in one line;
    the complete checkpoints are kept.
    """
    prefix = os.path.join(cfg.checkpoint_dir, PREFIX)
    checkpoint = '{}-{}'.format(prefix, step)
    try:
        os.makedirs(cfg.checkpoint_dir, exist_ok=True)
        settings.save(cfg, config_path(checkpoint))
        saved = saver.save(sess, prefix, global_step=step, write_meta_graph=False)
    except (OSError, tf.errors.OpError) as error:
        if not is_disk_full(error):
            raise
        remove_partial(checkpoint)
        raise CheckpointError('no space left on device in {}: step {} could not be saved (its partial files are '
                              'removed); the last complete checkpoint is {} (kept); a checkpoint needs about {}: free '
                              'space there and run the same command to resume'.format(
                                  cfg.checkpoint_dir, step, latest(cfg.checkpoint_dir) or 'none yet',
                                  megabytes(checkpoint_bytes())))
    _drop_orphan_configs(cfg.checkpoint_dir)
    return saved


def remove_partial(checkpoint):
    """Removes every file a failed save of `checkpoint` may have left: its data, index and temporary
    shards, its settings, and a half-written `checkpoint` list."""
    folder = os.path.dirname(checkpoint)
    for path in (glob.glob(checkpoint + '.*') + glob.glob(checkpoint + '_temp*')
                 + glob.glob(os.path.join(folder, 'checkpoint.tmp*'))):
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.exists(path):
            os.remove(path)


def _drop_orphan_configs(checkpoint_dir):
    """Removes settings files whose checkpoint the Saver has deleted (it keeps KEEP)."""
    for path in glob.glob(os.path.join(checkpoint_dir, PREFIX + '-*.config.json')):
        checkpoint = path[:-len('.config.json')]
        if not os.path.exists(checkpoint + '.index'):
            os.remove(path)


def resume_point(cfg):
    """(latest checkpoint or None, its global step); refuses a checkpoint of other variable shapes."""
    checkpoint = latest(cfg.checkpoint_dir)
    if checkpoint is None:
        return None, 0
    check_compatible(saved_config(checkpoint), cfg, checkpoint)
    return checkpoint, step_of(checkpoint)


def check_compatible(saved, requested, checkpoint):
    """A one-line error when `requested` would build other variables than `saved` holds."""
    for key in ARCHITECTURE_KEYS:
        if list_like(getattr(saved, key)) != list_like(getattr(requested, key)):
            raise CheckpointError(
                '{} was trained with {} = {}, but this run asks for {}: train in another --checkpoint_dir '
                'or use the same settings'.format(checkpoint, key, getattr(saved, key), getattr(requested, key)))


def list_like(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def restore(sess, checkpoint):
    """Restores the graph's variables from `checkpoint`. A run switched to float16 finds no loss-scale
    state in a float32 or bfloat16 checkpoint: it starts that afresh; anything else missing is an error."""
    stored = set(name for name, _ in tf.train.list_variables(checkpoint))
    variables = tf.global_variables()
    missing = [v for v in variables if v.op.name not in stored]
    unexpected = [v.op.name for v in missing if not v.op.name.startswith(LOSS_SCALE_SCOPE + '/')]
    if unexpected:
        raise CheckpointError('{} has no {}: it was trained with another model; train in another '
                              '--checkpoint_dir'.format(checkpoint, ', '.join(unexpected[:3])))
    tf.train.Saver([v for v in variables if v.op.name in stored]).restore(sess, checkpoint)
    sess.run(tf.variables_initializer(missing))


def saved_config(checkpoint):
    path = config_path(checkpoint)
    if not os.path.isfile(path):
        raise CheckpointError('{} has no saved settings ({} is missing): it was not written by this '
                              'project'.format(checkpoint, path))
    return settings.load(path)


def latest_or_error(cfg):
    """The newest complete checkpoint in cfg.checkpoint_dir; CheckpointError saying what to do if none."""
    checkpoint = latest(cfg.checkpoint_dir)
    if checkpoint is None:
        raise CheckpointError('no checkpoint in {}: train one first with `python vae.py --train --dataset {}` '
                              'or set --checkpoint_dir'.format(cfg.checkpoint_dir, cfg.dataset))
    return checkpoint
