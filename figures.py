"""Figures for people: the KL-ranked traversal overview, animated GIFs, and loss curves from event files."""
import glob
import os

import numpy as np
from PIL import Image

import images
from common import atomic_path

LABEL_WIDTH = 240        # pixels of the label column of the overview
NOTE_HEIGHT = 20         # pixels of the overview's closing note row
GIF_FRAME_MS = 120       # milliseconds per GIF frame of a traversal
TRAINING_GIF_FRAME_MS = 400   # milliseconds per fakes snapshot in vae_training.gif


# ---- the traversal overview ----

def rank_dims(kl_per_dim, inactive_kl):
    """(active dims by decreasing KL, inactive dims ascending): the overview's row order."""
    order = np.argsort(-np.asarray(kl_per_dim), kind='stable')
    active = [int(d) for d in order if kl_per_dim[d] >= inactive_kl]
    inactive = sorted(int(d) for d in order if kl_per_dim[d] < inactive_kl)
    return active, inactive


def overview(rows, labels, note, strip_shape):
    """One image: each row a label beside its traversal strip of strip_shape (H, W, C); then `note`."""
    channels = strip_shape[2]
    width = LABEL_WIDTH + strip_shape[1]
    parts = [np.concatenate([images.text_strip(LABEL_WIDTH, row.shape[0], label, channels), row], axis=1)
             for row, label in zip(rows, labels)]
    if note:
        parts.append(images.text_strip(width, NOTE_HEIGHT, note, channels))
    return np.concatenate(parts, axis=0)


# ---- GIFs ----

def forth_and_back(count):
    """Frame order sweeping 0 .. count-1 and back, without repeating the ends."""
    return list(range(count)) + list(range(count - 2, 0, -1))


def save_gif(frames, path, frame_ms=GIF_FRAME_MS):
    """Writes uint8 [H, W, C] frames as a looping GIF, atomically."""
    pictures = [Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f) for f in frames]
    with atomic_path(path) as tmp:
        pictures[0].save(tmp, save_all=True, append_images=pictures[1:], duration=frame_ms, loop=0)


def traversal_gif(decoded, num_seeds, path):
    """decoded [seeds * values, H, W, C]: each frame shows every seed at one value, sweeping forth and back."""
    values = len(decoded) // num_seeds
    per_value = decoded.reshape((num_seeds, values) + decoded.shape[1:])
    frames = [images.make_grid(per_value[:, v], (1, num_seeds)) for v in forth_and_back(values)]
    save_gif(frames, path)


def training_gif(results_dir):
    """results/vae_training.gif from the fixed-z `fakes` grids written so far; returns the frame count."""
    paths = sorted(glob.glob(os.path.join(results_dir, 'fakes_step*.jpg')))
    if not paths:
        return 0
    frames = []
    for path in paths:
        with Image.open(path) as picture:
            frames.append(np.asarray(picture)[..., None] if picture.mode == 'L' else np.asarray(picture))
    save_gif(frames, os.path.join(results_dir, 'vae_training.gif'), frame_ms=TRAINING_GIF_FRAME_MS)
    return len(frames)


# ---- loss curves ----

def read_scalars(summary_dir):
    """{tag: (steps, values)} from a run's event files, oldest first.

    A resumed run marks its start with SessionLog.START at the first step it writes; points at that
    step and later that a killed run left behind are dropped, as TensorBoard does, so each step has
    one value.
    """
    points = {}
    for path in event_files(summary_dir):
        for event in read_events(path):
            if event.HasField('session_log') and event.session_log.status == event.session_log.START:
                for series in points.values():
                    series[:] = [(s, v) for s, v in series if s < event.step]
            for value in event.summary.value:
                if value.HasField('simple_value'):
                    points.setdefault(value.tag, []).append((event.step, value.simple_value))
    return {tag: (np.array([s for s, _ in series]), np.array([v for _, v in series]))
            for tag, series in points.items() if series}


def event_files(summary_dir):
    """A run's TensorBoard event files, oldest first (one per training session)."""
    return sorted(glob.glob(os.path.join(summary_dir, 'events.out.tfevents.*')))


def read_events(path):
    """The events of one file; a record still being written (or cut by a kill) ends the file."""
    import tensorflow.compat.v1 as tf
    try:
        for event in tf.train.summary_iterator(path):
            yield event
    except tf.errors.DataLossError:
        return


def pyplot():
    """matplotlib.pyplot drawing into files (Agg), so that no display is needed; imported on first use,
    as most commands draw nothing."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def plot_losses(scalars, path):
    """results/losses.png: total, reconstruction and KL against step, and KL per latent dim."""
    plt = pyplot()
    losses = [tag for tag in ('loss/total', 'loss/reconstruction', 'loss/kl', 'loss/capacity') if tag in scalars]
    per_dim = sorted(tag for tag in scalars if tag.startswith('kl_per_dim/'))
    figure, axes = plt.subplots(1, len(losses) + 1, figsize=(4 * (len(losses) + 1), 3.2))
    for ax, tag in zip(axes, losses):
        ax.plot(*scalars[tag])
        ax.set_title(tag)
        ax.set_xlabel('step')
    for tag in per_dim:
        axes[-1].plot(*scalars[tag], label=tag.split('/')[1], linewidth=1)
    axes[-1].set_title('KL per latent dim (nats)')
    axes[-1].set_xlabel('step')
    if per_dim:
        axes[-1].legend(fontsize=6, ncol=2)
    figure.tight_layout()
    save_figure(figure, path, dpi=80)


def save_figure(figure, path, dpi=100):
    """Writes a matplotlib figure atomically and closes it."""
    import matplotlib.pyplot as plt
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=dpi)
    plt.close(figure)
