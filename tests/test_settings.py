"""Command-line overrides and the checks on settings."""
import os
import re
import subprocess
import sys

import pytest

import config
import model
import objectives
import settings
from common import SettingsError
from conftest import ROOT


def test_overrides_are_typed_from_defaults():
    cfg = settings.resolve('celeba', settings.parse_overrides(
        ['--kl_weight', '2', '--filters', '32,64,128,256', '--grid_size=2,16', '--results_dir', 'out/']))
    assert cfg.kl_weight == 2.0 and isinstance(cfg.kl_weight, float)
    assert cfg.filters == [32, 64, 128, 256]
    assert cfg.grid_size == (2, 16)
    assert cfg.results_dir == 'out/'
    assert cfg.latent_dim == config.latent_dim


def test_dataset_defaults_replace_celeba_ones():
    cfg = settings.resolve('dsprites')
    assert (cfg.latent_dim, cfg.batch_size, cfg.architecture, cfg.likelihood) == (10, 64, 'burgess', 'bernoulli')
    assert tuple(cfg.img_shape) == (64, 64, 1)


@pytest.mark.parametrize('args, message', [
    (['--no_such_constant', '1'], 'unknown setting --no_such_constant'),
    (['--latent_dim', 'many'], '--latent_dim takes int values'),
    (['--filters', '32,x'], '--filters takes int values'),
    (['--latent_dim', '0'], 'latent_dim must be >= 1'),
    (['--batch_size', '0'], 'batch_size must be >= 1'),
    (['--learning_rate', '0'], 'learning_rate must be > 0'),
    (['--data_crop', '100,21,128,128'], 'must lie inside the 218x178'),
    (['--data_crop', '57,21,120,128'], 'data_crop 120x128 must have the aspect ratio of img_shape'),
    (['--train_images', 'some'], "train_images must be 'split' or 'all'"),
    (['--num_gen_imgs', '10'], 'grid_size 4x8 must hold num_gen_imgs = 10'),
    (['--latent_dim'], '--latent_dim needs a value'),
])
def test_bad_settings_give_one_line_errors(args, message):
    with pytest.raises(SettingsError) as error:
        settings.resolve('celeba', settings.parse_overrides(args))
    assert message in str(error.value)
    assert '\n' not in str(error.value)


def test_unknown_dataset():
    with pytest.raises(SettingsError, match='unknown dataset'):
        settings.resolve('mnist')


def test_saved_config_round_trips(tmp_path):
    cfg = settings.resolve('dsprites', [('latent_dim', '7')])
    path = str(tmp_path / 'c.json')
    settings.save(cfg, path)
    loaded = settings.load(path)
    assert loaded.as_dict() == cfg.as_dict()
    assert isinstance(loaded.img_shape, tuple)


@pytest.mark.parametrize('overrides, message', [
    ([('filters', '8,8,8,8,8,8,8,8')], 'filters: 8 stride-2 layers need img_shape height and width divisible by 256'),
    # 32 -> 14 -> 5 -> 1 -> nothing: divisible by 16, but the fourth VALID 5x5 conv has no input left
    ([('img_shape', '32,32,3'), ('data_crop', '0,0,32,32'), ('filters', '4,4,4,4')],
     'filters: 4 VALID 5x5 stride-2 convs shrink 32x32 to nothing'),
    ([('architecture', 'resnet')], "architecture must be one of burgess, original, got 'resnet'"),
    ([('likelihood', 'laplace')], "likelihood must be one of bernoulli, gaussian, got 'laplace'"),
])
def test_the_model_checks_its_own_settings(overrides, message):
    cfg = settings.resolve('celeba', overrides)      # fine as settings: only the model can tell
    with pytest.raises(SettingsError) as error:
        model.check_settings(cfg)
    assert message in str(error.value) and '\n' not in str(error.value)


@pytest.mark.parametrize('overrides, message', [
    ([('objective', 'vq')], "objective must be one of ada_gvae, ada_mlvae, beta, capacity, dip_i, dip_ii, factor, gvae_labels, mlvae_labels, qlae, qlvae, s2_beta, s2_dip_i, s2_dip_ii, s2_factor, s2_tcvae, supervised, tcvae, got 'vq'"),
    ([('objective', 'tcvae'), ('batch_size', '1')], 'batch_size must be >= 2'),
    ([('kl_weight', '-1')], 'kl_weight must be >= 0'),
    # every objective's own settings are checked, whichever objective trains
    ([('tcvae_beta', '-1')], 'tcvae_beta must be >= 0'),
    ([('dip_lambda_od', '-2')], 'dip_lambda_od must be >= 0'),
    ([('objective', 'dip_ii'), ('dip_ii_lambda_d_factor', '-1')], 'dip_ii_lambda_d_factor must be >= 0'),
    ([('tcvae_estimator', 'exact')], "tcvae_estimator must be one of bank, minibatch, got 'exact'"),
    ([('capacity_steps', '0')], 'capacity_steps must be >= 1'),
])
def test_the_objectives_check_their_own_settings(overrides, message):
    cfg = settings.resolve('celeba', overrides)
    with pytest.raises(SettingsError) as error:
        objectives.check_settings(cfg)
    assert message in str(error.value) and '\n' not in str(error.value)
    model.check_settings(settings.resolve('celeba', [('img_shape', '32,32,3'), ('data_crop', '0,0,32,32'),
                                                     ('filters', '4,4,4')]))   # 32 -> 14 -> 5 -> 1 still fits


def test_help_lists_every_setting_with_its_default_and_comment_under_config_pys_groups():
    done = subprocess.run([sys.executable, os.path.join(ROOT, 'vae.py'), '--help'], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    assert done.returncode == 0, done.stderr
    listed = re.findall(r'^  --(\w+) ', done.stdout, re.M)
    assert sorted(set(name for name in listed if name in vars(config))) == settings.constant_names()
    text = done.stdout.split('\nmodel:\n')[1]
    assert text.startswith('  --architecture \'original\': \'original\': the project\'s CelebA net')
    assert "\n  --kl_weight 0.7: loss per image = mean over pixels" in done.stdout   # the comment block above it
    assert "--data_crop [57, 21, 128, 128]: [top, left, height, width] in pixels inside the 218x178 image, resized" \
        in done.stdout   # a comment continued on the next line


def test_help_skips_a_group_of_tables_and_joins_continued_comments():
    source = ('# ---- one ----\nseed = 0   # seeds\n        # everything\n# ---- tables ----\nX = {}\n'
              '# ---- two ----\n# said above\nbatch_size = 32\n')
    assert settings.settings_help(source) == ("one:\n  --seed 0: seeds everything\n\n"
                                              "two:\n  --batch_size 32: said above\n")


def test_an_objectives_defaults_lie_between_the_datasets_and_the_flags():
    assert settings.resolve('dsprites').latent_values == 0
    assert settings.resolve('dsprites', [('objective', 'qlae')]).latent_values == 10
    assert settings.resolve('dsprites', [('latent_values', '4'), ('objective', 'qlvae')]).latent_values == 4
    assert settings.resolve('celeba', [('objective', 'qlae')]).latent_dim == 32     # only what the objective names
