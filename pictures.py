"""--generate, --traverse and --plot: the pictures a restored model and its event files make."""
import os

import numpy as np

import data
import evaluate
import figures
import images
import metrics
from common import SettingsError

FAKES_SEED = 2019                        # numpy seed of the fixed z behind every `fakes` grid
TRAVERSE_SEEDS = (42, 62, 1024, 72, 92)  # the original's seed vectors for --traverse
TRAVERSE_VALUES = np.linspace(-3.0, 3.0, 10)  # values one latent dim sweeps through


def fixed_fakes_z(cfg):
    """[num_gen_imgs, latent_dim]: the same z for every `fakes` grid of a run, and of every run."""
    return np.random.RandomState(FAKES_SEED).standard_normal((cfg.num_gen_imgs, cfg.latent_dim))


def seen_note(cfg):
    """Said beside pictures of held-out images when the run trained on them too (train_images 'all')."""
    return ' (these images were seen in training: train_images all)' if cfg.train_images == 'all' else ''


def prior_sample(restored, count, rng):
    """[count, latent_dim] codes drawn from the prior: N(0, I), or for quantized latents each dim's learnt values
    drawn uniformly (as Hsu et al. 2023 sample)."""
    if not restored.quantized:
        return rng.standard_normal((count, restored.cfg.latent_dim))
    choice = rng.randint(restored.values.shape[1], size=(count, restored.cfg.latent_dim))
    return restored.values[np.arange(restored.cfg.latent_dim)[None], choice]


def generate(restored):
    """randomFakeGrid.jpg: samples from the prior; reconstructions.jpg: held-out images over their reconstructions."""
    cfg = restored.cfg
    z = prior_sample(restored, cfg.num_gen_imgs, np.random.RandomState(cfg.seed))
    path = os.path.join(cfg.results_dir, 'randomFakeGrid.jpg')
    images.save_grid(restored.decode(z), path, cfg.grid_size)
    print('wrote {}'.format(path))

    rows, cols = cfg.grid_size
    try:
        originals = data.held_out_images(cfg, (rows + 1) // 2 * cols)
    except SettingsError as missing:
        print('no reconstructions.jpg: {}'.format(missing))
        return
    reconstructions = restored.decode(restored.encode(originals)[0])
    pairs = []   # row pairs: a row of originals above the row of their reconstructions
    for start in range(0, len(originals), cols):
        pairs += [originals[start:start + cols], reconstructions[start:start + cols]]
    path = os.path.join(cfg.results_dir, 'reconstructions.jpg')
    images.save_grid(np.concatenate(pairs), path, (len(pairs), cols))
    print('wrote {}{}'.format(path, seen_note(cfg)))


def traversal_seeds(restored):
    """[5, latent_dim]: the original's seed vectors (rounded to the learnt values of quantized latents), or the
    codes of 5 fixed held-out images."""
    cfg = restored.cfg
    if cfg.traverse_from == 'data':
        return restored.encode(data.held_out_images(cfg, len(TRAVERSE_SEEDS)))[0]
    return restored.to_code(prior_seeds(cfg.latent_dim))


def prior_seeds(latent_dim):
    """[5, latent_dim]: the original's seed vectors, numpy seeds TRAVERSE_SEEDS."""
    return np.stack([np.random.RandomState(seed).standard_normal(latent_dim) for seed in TRAVERSE_SEEDS])


def sweep(restored, dim):
    """The values a traversal steps `dim` through: TRAVERSE_VALUES, or a quantized dim's learnt values in order."""
    return TRAVERSE_VALUES if not restored.quantized else restored.values[dim]


def traversal_latents(seeds, dim, values):
    """[seeds * values, latent_dim]: each seed vector with `dim` swept over `values`."""
    z = np.repeat(seeds, len(values), axis=0)
    z[:, dim] = np.tile(values, len(seeds))
    return z


def traverse(restored):
    """Per dim: a seeds x values grid, one row per seed, a GIF; and the overview of all dims, ranked by the
    information each carries (metrics.information_per_dim).

    Returns the overview's active dims, most informative first ([] without held-out data).
    """
    cfg = restored.cfg
    seeds = traversal_seeds(restored)
    names = evaluate.attribute_names(cfg.results_dir, restored.step)
    first_rows = []
    for dim in range(cfg.latent_dim):
        values = sweep(restored, dim)
        per_row = len(values)
        decoded = restored.decode(traversal_latents(seeds, dim, values))   # one run per grid
        base = os.path.join(cfg.results_dir, 'traverse_latentdim{}'.format(dim))
        images.save_grid(decoded, base + '.jpg', (len(seeds), per_row), caption=names.get(dim))
        for k in range(len(seeds)):
            images.save_grid(decoded[k * per_row:(k + 1) * per_row], '{}_seed{}.jpg'.format(base, k + 1),
                             (1, per_row))
        figures.traversal_gif(decoded, len(seeds), base + '.gif')
        first_rows.append(images.make_grid(decoded[:per_row], (1, per_row)))
    print('wrote {} traversals ({} seeds) to {}'.format(cfg.latent_dim, cfg.traverse_from, cfg.results_dir))
    try:
        _, z_mean, z_logvar = restored.encode_held_out(cfg.traverse_kl_images)
    except SettingsError as missing:
        print('no traverse_overview.png (it ranks dims by information on held-out images): {}'.format(missing))
        return []
    return write_overview(cfg, metrics.information_per_dim(z_mean, z_logvar, restored.quantized), first_rows, names,
                          metrics.information_label(restored.quantized))


def write_overview(cfg, nats, rows, names, label='KL'):
    """traverse_overview.png: active dims by decreasing held-out information `nats` (KL, or H of a quantized
    code), labelled; inactive ones in a note."""
    active, inactive = figures.rank_dims(nats, cfg.inactive_kl)
    labels = ['dim {}  {} {:.2f}  {}'.format(d, label, nats[d], names.get(d, '').split(' ~ ')[-1]) for d in active]
    note = 'inactive ({} < {:g}): dims {}'.format(label, cfg.inactive_kl, ', '.join(map(str, inactive))) if inactive \
        else ''
    path = os.path.join(cfg.results_dir, 'traverse_overview.png')
    images.save_image(figures.overview([rows[d] for d in active], labels, note, rows[0].shape), path)
    print('wrote {}: {} active dims, most informative first{}'.format(path, len(active), seen_note(cfg)))
    return active


def plot(cfg):
    """results/losses.png from the run's TensorBoard event files."""
    scalars = figures.read_scalars(cfg.summary_dir)
    if 'loss/total' not in scalars:
        raise SettingsError('no training losses in {}: train first, or set --summary_dir'.format(cfg.summary_dir))
    path = os.path.join(cfg.results_dir, 'losses.png')
    figures.plot_losses(scalars, path)
    print('wrote {} ({} points)'.format(path, len(scalars['loss/total'][0])))
