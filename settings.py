"""Resolves config.py, the dataset's defaults and command-line overrides into one checked run config.

The checks here need nothing but the settings; the model and the objective check their own
(model.check_settings, objectives.check_settings).
"""
import json
import re

import config
from common import RAW_CELEBA_SHAPE, SettingsError, write_json


class Config(object):
    """The resolved settings of one run, read as attributes (cfg.latent_dim)."""

    def __init__(self, values):
        self.__dict__.update(values)

    def as_dict(self):
        return dict(self.__dict__)

    def replace(self, **changes):
        values = self.as_dict()
        values.update(changes)
        return Config(values)


def constant_names():
    return sorted(name for name in vars(config) if name.islower() and not name.startswith('_'))


GROUP = re.compile(r'^# ---- (.+?) ----$')
SETTING = re.compile(r'^([a-z_][a-z0-9_]*) *= *(?:[^#]*?)(?: *# *(.*))?$')
CONTINUED = re.compile(r'^ +# *(.*)$')


def settings_help(source=None):
    """Every config.py setting with its default and comment, under config.py's `# ---- group ----` headings,
    for `vae.py --help`. A setting with no comment of its own takes the comment lines just above it."""
    if source is None:
        with open(config.__file__.replace('.pyc', '.py'), encoding='utf-8') as f:
            source = f.read()
    lines, above, described = [], [], None
    for text in source.splitlines():
        group, setting, more = GROUP.match(text), SETTING.match(text), CONTINUED.match(text)
        if group:
            lines = without_empty_group(lines) + ['', group.group(1) + ':']
            above, described = [], None
        elif setting and setting.group(1) in vars(config):
            name = setting.group(1)
            comment = setting.group(2) or ' '.join(above)
            lines.append('  --{} {!r}{}'.format(name, getattr(config, name), ': ' + comment if comment else ''))
            above, described = [], name
        elif more and described:
            lines[-1] += ' ' + more.group(1)
        elif text.startswith('#'):
            above, described = above + [text.lstrip('# ')], None
        else:
            above, described = [], None
    return '\n'.join(without_empty_group(lines)).strip('\n') + '\n'


def without_empty_group(lines):
    """The help's lines without a last heading that no setting followed (a group of tables only)."""
    return lines[:-2] if lines and lines[-1].endswith(':') else lines


def has_factors(dataset):
    """Whether the dataset has known factors (the datasets/ package), rather than being files without labels."""
    return dataset in config.FACTOR_DATASETS


def defaults(dataset):
    """config.py's constants with the dataset's own defaults laid over them."""
    if dataset not in config.DATASET_DEFAULTS:
        raise SettingsError('unknown dataset {!r}: choose one of {}'.format(
            dataset, ', '.join(sorted(config.DATASET_DEFAULTS))))
    values = {name: getattr(config, name) for name in constant_names()}
    values.update(config.DATASET_DEFAULTS[dataset])
    values['dataset'] = dataset
    return values


def parse_value(name, text, default):
    """Parses `text` into the type of `default`; lists and tuples are comma-separated."""
    if isinstance(default, (list, tuple)):
        element = default[0] if default else ''
        items = [parse_value(name, part.strip(), element) for part in text.split(',') if part.strip()]
        return type(default)(items)
    kind = type(default)
    try:
        if kind is bool:
            lowered = text.lower()
            if lowered not in ('true', 'false', '1', '0'):
                raise ValueError(text)
            return lowered in ('true', '1')
        if kind is float:
            return float(text)
        if kind is int:
            return int(text)
        return text
    except ValueError:
        raise SettingsError('--{} takes {} values (like {!r}), got {!r}'.format(
            name, kind.__name__, default, text))


def parse_overrides(args):
    """['--name', 'value', ...] -> [(name, 'value'), ...]; flags without a value are errors."""
    pairs = []
    i = 0
    while i < len(args):
        flag = args[i]
        if not flag.startswith('--'):
            raise SettingsError('unexpected argument {!r}: settings are given as --name value'.format(flag))
        name, _, value = flag[2:].partition('=')
        if not _:
            if i + 1 >= len(args):
                raise SettingsError('--{} needs a value'.format(name))
            i += 1
            value = args[i]
        pairs.append((name, value))
        i += 1
    return pairs


def resolve(dataset, overrides=()):
    """The run config: defaults for `dataset`, those of the objective the overrides name, then the (name, text)
    overrides, then checked."""
    values = defaults(dataset)
    values.update(config.OBJECTIVE_DEFAULTS.get(dict(overrides).get('objective', values['objective']), {}))
    for name, text in overrides:
        if name not in values or name == 'dataset':
            raise SettingsError('unknown setting --{}: config.py has no constant of that name '
                                '(see python vae.py --help)'.format(name))
        values[name] = parse_value(name, text, values[name])
    cfg = Config(values)
    check_settings(cfg)
    return cfg


def _require(ok, message):
    if not ok:
        raise SettingsError(message)


def check_settings(cfg):
    """Checks each setting against its allowed range before any graph is built."""
    _require(len(cfg.img_shape) == 3 and min(cfg.img_shape) >= 1,
             'img_shape must be (height, width, channels), got {}'.format(cfg.img_shape))
    _require(cfg.latent_dim >= 1, 'latent_dim must be >= 1, got {}'.format(cfg.latent_dim))
    _require(cfg.batch_size >= 1, 'batch_size must be >= 1, got {}'.format(cfg.batch_size))
    for name in ('eval_batch_size', 'eval_num_train', 'eval_num_eval', 'eval_num_points', 'eval_attribute_images',
                 'udr_images'):
        _require(getattr(cfg, name) >= 2, '{} must be >= 2, got {}'.format(name, getattr(cfg, name)))
    _require(cfg.downstream_sizes and min(cfg.downstream_sizes) >= 1, 'downstream_sizes must be positive counts')
    _require(cfg.traverse_from in ('prior', 'data'), "traverse_from must be 'prior' or 'data', got {!r}".format(
        cfg.traverse_from))
    _require(cfg.train_images in ('split', 'all'), "train_images must be 'split' or 'all', got {!r}".format(
        cfg.train_images))
    _require(cfg.traverse_kl_images >= 1, 'traverse_kl_images must be >= 1')
    _require(cfg.representation in ('mean', 'sampled'), "representation must be 'mean' or 'sampled', got {!r}".format(
        cfg.representation))
    for name in ('fairness_points', 'task_codes', 'strong_experiments'):
        _require(getattr(cfg, name) >= 1, '{} must be >= 1, got {}'.format(name, getattr(cfg, name)))
    _require(all(count >= 10 for count in cfg.selection_labels),
             'selection_labels must be counts of at least 10 labelled images, got {}'.format(cfg.selection_labels))
    _require(cfg.explore_images >= 0, 'explore_images must be >= 0')
    _require(cfg.mig_bins >= 2, 'mig_bins must be >= 2, got {}'.format(cfg.mig_bins))
    for name in ('learning_rate', 'discriminator_learning_rate'):
        _require(getattr(cfg, name) > 0, '{} must be > 0, got {}'.format(name, getattr(cfg, name)))
    for name in ('beta1', 'beta2', 'discriminator_beta1', 'discriminator_beta2'):
        _require(0 <= getattr(cfg, name) < 1, '{} must be in [0, 1), got {}'.format(name, getattr(cfg, name)))
    _require(0 < cfg.momentum < 1, 'momentum must be in (0, 1), got {}'.format(cfg.momentum))
    _require(cfg.epsilon > 0, 'epsilon must be > 0, got {}'.format(cfg.epsilon))
    _require(cfg.filters and min(cfg.filters) >= 1, 'filters must be positive channel counts')
    _require(cfg.num_epochs >= 1, 'num_epochs must be >= 1, got {}'.format(cfg.num_epochs))
    _require(0 <= cfg.holdout_percent < 100, 'holdout_percent must be in [0, 100)')
    _require(cfg.checkpoint_every >= 0, 'checkpoint_every must be >= 0 seconds, got {}'.format(cfg.checkpoint_every))
    for name in ('image_snapshot_freq', 'summary_freq', 'num_gen_imgs'):
        _require(getattr(cfg, name) >= 1, '{} must be >= 1, got {}'.format(name, getattr(cfg, name)))
    rows, cols = cfg.grid_size
    _require(rows * cols == cfg.num_gen_imgs, 'grid_size {}x{} must hold num_gen_imgs = {} images'.format(
        rows, cols, cfg.num_gen_imgs))
    if cfg.dataset == 'celeba':
        check_crop(cfg.data_crop, cfg.img_shape)
    elif cfg.dataset == 'folder':
        _require(cfg.img_shape[2] in (1, 3), 'img_shape of a folder needs 1 (gray) or 3 (RGB) channels, got {}'.format(
            cfg.img_shape))
    else:
        shape = config.FACTOR_DATASETS[cfg.dataset][0]
        _require(tuple(cfg.img_shape) == shape, '{} images are {}, got img_shape {}'.format(
            cfg.dataset, shape, tuple(cfg.img_shape)))


def check_crop(crop, img_shape):
    """The crop [top, left, height, width] must lie inside the 218x178 image and have img_shape's aspect
    ratio; it is resized to img_shape when their sizes differ."""
    _require(len(crop) == 4, 'data_crop must be [top, left, height, width], got {}'.format(crop))
    top, left, height, width = crop
    raw_h, raw_w = RAW_CELEBA_SHAPE
    _require(top >= 0 and left >= 0 and top + height <= raw_h and left + width <= raw_w and height > 0 and width > 0,
             'data_crop {} must lie inside the {}x{} aligned CelebA image'.format(crop, raw_h, raw_w))
    _require(height * img_shape[1] == width * img_shape[0] and img_shape[2] == 3,
             'data_crop {}x{} must have the aspect ratio of img_shape {} (3 channels); it is resized to it'.format(
                 height, width, img_shape))


# ---- saved beside checkpoints ----

def save(cfg, path):
    write_json(cfg.as_dict(), path)


def load(path):
    """Reads a saved config, restoring tuples where config.py has tuples."""
    with open(path) as f:
        values = json.load(f)
    base = defaults(values.get('dataset', 'celeba'))
    for name, value in values.items():
        if isinstance(base.get(name), tuple):
            values[name] = tuple(value)
    merged = dict(base)
    merged.update(values)
    return Config(merged)


def steps_at(millions, images_per_step):
    """The training budget that counts `millions` M images: the step at which a run that trains on
    images_per_step images a step has seen them, rounded, and at least 1."""
    return max(1, int(round(millions * 1e6 / images_per_step)))


def read_runs(path):
    """The runs a study lists for checking: [{'name', 'dataset', 'settings': [[name, text], ...]}]."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        raise SettingsError('cannot read the runs to check from {}: {}'.format(path, error))
