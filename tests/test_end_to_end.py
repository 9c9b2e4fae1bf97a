"""train -> checkpoint -> generate -> traverse, on a synthetic CelebA folder and on dSprites."""
import json
import os

from PIL import Image

import inference
import figures
import metrics
import settings
import vae
from conftest import gif_shown_ms, run_cli
from kit.runs import folder_flags


def image_size(path):
    with Image.open(path) as image:
        return image.size


def test_celeba_train_generate_traverse(celeba_dir, tiny_overrides, tmp_path, capsys):
    base = tiny_overrides + ['--data_dir_path', str(celeba_dir)]
    assert vae.main(['--train', '--steps', '2'] + base) == 0
    out = capsys.readouterr().out
    assert 'skipped 3 unusable files' in out and 'beta = ' in out

    ck, res = tmp_path / 'ck', tmp_path / 'res'
    assert (ck / 'model.ckpt-2.index').exists()
    saved = json.loads((ck / 'model.ckpt-2.config.json').read_text())
    assert saved['filters'] == [4, 4, 4, 4] and saved['latent_dim'] == 3
    assert image_size(str(res / 'reals.jpg')) == (4 * 128, 2 * 128)
    assert image_size(str(res / 'fakes_step0000002.jpg')) == (4 * 128, 2 * 128)
    assert os.listdir(str(tmp_path / 'sum'))

    # Resumes at step 2 and stops at the total of 3.
    assert vae.main(['--train', '--steps', '3'] + base) == 0
    assert 'resumed from' in capsys.readouterr().out
    assert (ck / 'model.ckpt-3.index').exists()

    # The saved settings rebuild the model, whatever this run's architecture settings say.
    outputs = ['--checkpoint_dir', str(ck), '--results_dir', str(res), '--num_gen_imgs', '8', '--grid_size', '2,4']
    assert vae.main(['--generate', '--traverse', '--data_dir_path', str(tmp_path / 'gone')] + outputs) == 0
    out = capsys.readouterr().out
    assert 'no reconstructions.jpg' in out and 'no traverse_overview.png' in out     # data is optional here
    assert vae.main(['--generate', '--traverse', '--data_dir_path', str(celeba_dir), '--holdout_percent', '50']
                    + outputs) == 0
    assert image_size(str(res / 'randomFakeGrid.jpg')) == (4 * 128, 2 * 128)
    for dim in range(3):
        assert image_size(str(res / 'traverse_latentdim{}.jpg'.format(dim))) == (10 * 128, 5 * 128)
        for seed in range(1, 6):
            assert image_size(str(res / 'traverse_latentdim{}_seed{}.jpg'.format(dim, seed))) == (10 * 128, 128)
    assert not (res / 'traverse_latentdim3.jpg').exists()
    assert image_size(str(res / 'reconstructions.jpg')) == (4 * 128, 2 * 128)
    assert gif_shown_ms(str(res / 'traverse_latentdim1.gif')) == ((5 * 128, 128), 18 * figures.GIF_FRAME_MS)
    assert gif_shown_ms(str(res / 'vae_training.gif'))[1] == 3 * figures.TRAINING_GIF_FRAME_MS   # the fakes of steps 1, 2 and 3
    # The overview has a 128-pixel row per dim whose held-out KL reaches inactive_kl, and a note row
    # when any dim falls short: count them from the checkpoint's own encoding of the held-out images.
    cfg = settings.resolve('celeba', settings.parse_overrides(
        outputs + ['--data_dir_path', str(celeba_dir), '--holdout_percent', '50']))
    _, z_mean, z_logvar = inference.Restored(cfg).encode_held_out(cfg.traverse_kl_images)
    active = int((metrics.kl_per_dim(z_mean, z_logvar) >= cfg.inactive_kl).sum())
    width, height = image_size(str(res / 'traverse_overview.png'))
    assert width == figures.LABEL_WIDTH + 10 * 128
    assert height == active * 128 + (figures.NOTE_HEIGHT if active < 3 else 0)
    assert not [name for name in os.listdir(str(res)) if '.tmp' in name]


def test_resume_with_other_architecture_is_a_clear_error(celeba_dir, tiny_overrides, capsys):
    base = tiny_overrides + ['--data_dir_path', str(celeba_dir)]
    assert vae.main(['--train', '--steps', '1'] + base) == 0
    assert vae.main(['--train', '--steps', '2'] + base + ['--latent_dim', '5']) == 2
    assert 'was trained with latent_dim = 3' in capsys.readouterr().err


def test_dsprites_cli_end_to_end_and_errors(tmp_path):
    dirs = folder_flags(tmp_path)
    missing = run_cli('--generate', '--dataset', 'dsprites', *dirs)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1].startswith('error: no checkpoint in ')
    assert '--train' in missing.stderr

    bad = run_cli('--train', '--dataset', 'dsprites', '--kl_wieght', '2', *dirs)
    assert bad.returncode == 2 and 'unknown setting --kl_wieght' in bad.stderr

    trained = run_cli('--train', '--dataset', 'dsprites', '--steps', '2', '--batch_size', '8', *dirs)
    assert trained.returncode == 0, trained.stderr
    assert 'beta = 4 in the usual units' in trained.stdout
    done = run_cli('--generate', '--traverse', '--dataset', 'dsprites', *dirs)
    assert done.returncode == 0, done.stderr
    # A quiet start-up: none of TensorFlow's chatter, no deprecation notes, on either stack.
    assert trained.stderr == '' and done.stderr == ''
    assert image_size(str(tmp_path / 'res' / 'randomFakeGrid.jpg')) == (8 * 64, 4 * 64)
    assert image_size(str(tmp_path / 'res' / 'traverse_latentdim9_seed5.jpg')) == (10 * 64, 64)
