"""CelebA listing, splitting and cropping; the dSprites factor grid and renderer."""
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from PIL import Image

import data
import imagefiles
from datasets import dsprites
import settings
from kit.standins import write_jpeg
from common import SettingsError

tf.disable_v2_behavior()


def evaluate(tensor):
    with tf.Session() as sess:
        return sess.run(tensor)


def test_jpeg_size_reads_the_header_and_spots_bad_files(celeba_dir):
    assert imagefiles.jpeg_size(str(celeba_dir / '000001.jpg')) == (218, 178)
    for name, reason in (('000041.jpg', 'truncated JPEG'), ('000042.jpg', 'not a JPEG'), ('000043.jpg', 'empty file')):
        with pytest.raises(imagefiles.UnusableImage, match=reason):
            imagefiles.jpeg_size(str(celeba_dir / name))
    assert imagefiles.celeba_image_problem(str(celeba_dir / '000001.jpg')) is None
    assert imagefiles.celeba_image_problem(str(celeba_dir / '000043.jpg')) == 'empty file'


def test_split_skips_bad_files_and_holds_out_a_fixed_share(celeba_dir):
    write_jpeg(str(celeba_dir / 'small.jpg'), height=100, width=100)
    split = imagefiles.split_celeba(str(celeba_dir), 20.0)
    assert sorted(name for name, _ in split.skipped) == ['000041.jpg', '000042.jpg', '000043.jpg', 'small.jpg']
    assert len(split.train) + len(split.holdout) == 40
    assert 0 < len(split.holdout) < 20
    again = imagefiles.split_celeba(str(celeba_dir), 20.0)
    assert again.holdout == split.holdout


def test_partition_file_decides_the_split(celeba_dir):
    lines = ['{:06d}.jpg {}'.format(i + 1, 0 if i < 30 else 1 + i % 2) for i in range(40)]
    (celeba_dir.parent / imagefiles.PARTITION_FILE).write_text('\n'.join(lines) + '\n')
    split = imagefiles.split_celeba(str(celeba_dir), 5.0)
    assert [os.path.basename(p) for p in split.train] == ['{:06d}.jpg'.format(i + 1) for i in range(30)]
    assert len(split.holdout) == 10


def counting(monkeypatch, name):
    """Replaces imagefiles.`name` with a version that notes each path it is called with; returns the notes."""
    calls, original = [], getattr(imagefiles, name)

    def counted(path, *args):
        calls.append(os.path.basename(path))
        return original(path, *args)
    monkeypatch.setattr(imagefiles, name, counted)
    return calls


def test_train_checks_each_file_once_per_state_of_the_folder(celeba_dir, tmp_path, monkeypatch):
    """The listing and header checks are kept by each file's stat: an unchanged folder opens no file, and a
    file added, removed or replaced (rewritten in place, or another moved over it) is seen."""
    cfg = settings.resolve('celeba', [('data_dir_path', str(celeba_dir)), ('checkpoint_dir', str(tmp_path / 'ck'))])
    saved = str(tmp_path / 'ck' / imagefiles.CHECKS_FILE)

    def split():
        del opened[:]
        result = imagefiles.split_images(cfg, imagefiles.FileChecks(saved))
        return sorted(os.path.basename(p) for p in result.train + result.holdout), dict(result.skipped)

    opened = counting(monkeypatch, 'jpeg_size')
    first = split()
    assert len(opened) == 43 and sorted(first[1]) == ['000041.jpg', '000042.jpg', '000043.jpg']
    assert split() == first and opened == []                       # unchanged: no file opened

    write_jpeg(str(celeba_dir / '000044.jpg'), seed=44)            # added
    (celeba_dir / '000002.jpg').unlink()                           # removed
    good = (celeba_dir / '000003.jpg').read_bytes()
    (celeba_dir / '000003.jpg').write_bytes(good[:100])            # replaced in place by a cut copy
    four = bytearray((celeba_dir / '000004.jpg').read_bytes())
    four[len(four) // 2] ^= 0xFF
    (tmp_path / 'other.jpg').write_bytes(bytes(four))
    os.replace(str(tmp_path / 'other.jpg'), str(celeba_dir / '000004.jpg'))   # another file moved over it, same size
    five = celeba_dir / '000005.jpg'
    with open(str(five), 'r+b') as f:                              # rewritten in place, same size, not usable now
        f.write(b'\x00\x00')
    names, skipped = split()
    assert sorted(opened) == ['000003.jpg', '000004.jpg', '000005.jpg', '000044.jpg']
    assert '000044.jpg' in names and '000002.jpg' not in names and '000004.jpg' in names
    assert set(skipped) == {'000003.jpg', '000005.jpg', '000041.jpg', '000042.jpg', '000043.jpg'}
    assert split() == (names, skipped) and opened == []


def photo_folder(tmp_path, count, every, bad_name):
    """tmp_path/photos: `count` 60x80 JPEGs, every `every`-th at the top and the others nested, and a
    broken PNG named `bad_name`."""
    folder = tmp_path / 'photos'
    (folder / 'nested').mkdir(parents=True)
    for i in range(count):
        write_jpeg(str(folder / ('nested' if i % every else '') / '{:03d}.jpg'.format(i)), height=60, width=80, seed=i)
    (folder / bad_name).write_bytes(b'not a png')
    return folder


def test_a_folder_of_your_own_is_checked_once_per_state_too(tmp_path, monkeypatch):
    folder = photo_folder(tmp_path, 6, 2, '009.png')
    checks = str(tmp_path / imagefiles.CHECKS_FILE)
    opened = counting(monkeypatch, 'inspect_image')
    first = imagefiles.split_folder(str(folder), 30.0, checks=imagefiles.FileChecks(checks))
    assert len(opened) == 7 and len(first.skipped) == 1
    again = imagefiles.split_folder(str(folder), 30.0, checks=imagefiles.FileChecks(checks))
    assert len(opened) == 7 and (again.train, again.holdout, again.details) == (first.train, first.holdout,
                                                                                 first.details)
    write_jpeg(str(folder / 'nested' / '001.jpg'), height=90, width=80, seed=1)   # rewritten: another size
    assert imagefiles.split_folder(str(folder), 30.0, checks=imagefiles.FileChecks(checks)).details[
        str(folder / 'nested' / '001.jpg')] == ('jpeg', (90, 80)) and opened[7:] == ['001.jpg']


def test_a_folder_holds_out_the_same_files_however_its_path_is_spelt(tmp_path, monkeypatch):
    """The held-out files are chosen by the crc32 of their path inside the folder: a known answer, the
    same for a trailing slash or a relative path, so a run resumes on the files it held out before."""
    for inside in ['', 'sub', os.path.join('sub', 'deeper')]:
        (tmp_path / 'photos' / inside).mkdir(parents=True, exist_ok=True)
        for i in range(6):
            write_jpeg(str(tmp_path / 'photos' / inside / '{:02d}.jpg'.format(i)), height=20, width=20, seed=i)
    held_out = ['02.jpg', '03.jpg', '05.jpg', 'sub/00.jpg', 'sub/01.jpg', 'sub/02.jpg', 'sub/deeper/02.jpg',
                'sub/deeper/05.jpg']
    monkeypatch.chdir(tmp_path)
    for spelt in [str(tmp_path / 'photos'), str(tmp_path / 'photos') + os.sep, 'photos', os.path.join('.', 'photos')]:
        split = imagefiles.split_folder(spelt, 40.0)
        assert [os.path.relpath(p, spelt).replace(os.sep, '/') for p in split.holdout] == held_out
        assert all(os.path.isfile(p) for p in split.train + split.holdout) and len(split.train) == 10
        assert imagefiles.first_held_out(settings.resolve('folder', [('data_dir_path', spelt), ('holdout_percent', '40'),
                                                               ('img_shape', '16,16,3')]), 3).holdout == split.holdout[:3]


def test_resumed_train_opens_no_image_file_to_list_an_unchanged_folder(celeba_dir, tiny_overrides, monkeypatch):
    import vae
    args = ['--data_dir_path', str(celeba_dir)] + tiny_overrides
    assert vae.main(['--train', '--steps', '1'] + args) == 0
    opened = counting(monkeypatch, 'jpeg_size')
    assert vae.main(['--train', '--steps', '2'] + args) == 0
    assert opened == []


@pytest.mark.parametrize('with_partitions', [True, False])
def test_held_out_images_open_only_the_files_they_use(celeba_dir, monkeypatch, with_partitions):
    """The first held-out images are the full split's first ones, found by opening no other file; with
    list_eval_partition.txt the folder is not even listed."""
    if with_partitions:   # held out: 31 to 43, of which 41-43 are unusable; 44 is listed but missing
        lines = ['{:06d}.jpg {}'.format(i, 0 if i <= 30 else 1 + i % 2) for i in range(1, 45)]
        (celeba_dir.parent / imagefiles.PARTITION_FILE).write_text('\n'.join(lines) + '\n')
    cfg = settings.resolve('celeba', [('data_dir_path', str(celeba_dir)), ('holdout_percent', '30')])
    full = imagefiles.split_celeba(cfg.data_dir_path, cfg.holdout_percent).holdout
    opened = counting(monkeypatch, 'jpeg_size')
    listed = counting(monkeypatch, 'celeba_names')
    count = 4
    names = [name for batch_names, _ in data.held_out_batches(cfg, count) for name in batch_names]
    assert names == [os.path.basename(p) for p in full[:count]]
    assert opened == names                                  # the files it uses, no other
    assert listed == ([] if with_partitions else [os.path.basename(cfg.data_dir_path)])
    many = [name for batch_names, _ in data.held_out_batches(cfg, 100) for name in batch_names]
    assert many == [os.path.basename(p) for p in full]      # all of them, the unusable and missing ones left out


def test_held_out_images_of_a_folder_open_only_the_files_they_use(tmp_path, monkeypatch):
    folder = photo_folder(tmp_path, 30, 3, '000.png')
    cfg = settings.resolve('folder', [('data_dir_path', str(folder)), ('holdout_percent', '40'),
                                      ('img_shape', '32,32,3')])
    full = imagefiles.split_folder(cfg.data_dir_path, cfg.holdout_percent).holdout
    opened = counting(monkeypatch, 'inspect_image')
    images = data.held_out_images(cfg, 3)
    assert len(images) == 3 and len(opened) == 3 + sum(1 for name in opened if name.endswith('.png'))
    assert [name for name in opened if name.endswith('.jpg')] == [os.path.basename(p) for p in full[:3]]


def test_missing_or_empty_folder_names_the_download_command(tmp_path):
    with pytest.raises(SettingsError, match='does not exist: run `python download_celebA.py`'):
        imagefiles.split_celeba(str(tmp_path / 'nothing'), 5.0)
    with pytest.raises(SettingsError, match='has no .jpg files'):
        imagefiles.split_celeba(str(tmp_path), 5.0)


def test_crop_is_folded_into_the_decode_at_the_right_place(tmp_path):
    pixels = np.zeros((218, 178, 3), np.uint8)
    pixels[57:57 + 128, 21:21 + 128] = 200          # the crop window is bright, the rest black
    path = str(tmp_path / 'a.jpg')
    Image.fromarray(pixels).save(path, quality=100)
    with tf.Graph().as_default():
        crop = evaluate(data.decode_celeba(path, [57, 21, 128, 128], (128, 128, 3)))
        shifted = evaluate(data.decode_celeba(path, [0, 0, 128, 128], (128, 128, 3)))
        small = evaluate(data.decode_celeba(path, [57, 21, 128, 128], (64, 64, 3)))   # CelebA at 64x64
    assert small.shape == (64, 64, 3) and abs(small[2:-2, 2:-2].mean() - 200 / 255.0) < 0.02
    assert crop.shape == (128, 128, 3) and crop.dtype == np.float32
    assert abs(crop[4:-4, 4:-4].mean() - 200 / 255.0) < 0.02
    assert shifted[:50].mean() < 0.02


def test_celeba_batches_decode_grayscale_as_rgb(celeba_dir):
    write_jpeg(str(celeba_dir / '000044.jpg'), seed=3, mode='L')
    cfg = settings.resolve('celeba', [('batch_size', '8')])
    split = imagefiles.split_celeba(str(celeba_dir), 0.0)
    with tf.Graph().as_default():
        files = data.FileList(split.train, split, cfg)
        batch = evaluate(tf.data.make_one_shot_iterator(data.image_batches(files, cfg)).get_next())
    assert batch.shape == (8, 128, 128, 3)
    assert 0.0 <= batch.min() and batch.max() <= 1.0


def test_dsprites_grid_has_every_factor_combination_once():
    assert dsprites.NUM_DSPRITES == 737280
    classes = dsprites.factor_classes(np.arange(dsprites.NUM_DSPRITES))
    assert classes.shape == (737280, 6)
    assert len(np.unique(np.ravel_multi_index(classes.T, dsprites.FACTOR_SIZES))) == 737280
    np.testing.assert_array_equal(classes[:3, 5], [0, 1, 2])   # posY varies fastest
    values = dsprites.factors_to_values(classes[[0, -1]])
    np.testing.assert_allclose(values[0], [1, 1, 0.5, 0, 0, 0])
    np.testing.assert_allclose(values[1], [1, 3, 1.0, 2 * np.pi, 1, 1])


def test_dsprites_held_out_images_are_the_same_whatever_the_count():
    cfg = settings.resolve('dsprites', settings.parse_overrides([]))
    few, many = data.held_out_images(cfg, 20), data.held_out_images(cfg, 300)
    np.testing.assert_array_equal(few, many[:20])
    assert len(np.unique(many.reshape(300, -1), axis=0)) > 290    # a sample of the grid, not one sprite


def _render(shape, scale, orientation, pos_x, pos_y):
    with tf.Graph().as_default():
        classes = tf.constant([[0, shape, scale, orientation, pos_x, pos_y]])
        return evaluate(dsprites.render_dsprites(classes))[0, ..., 0]


def test_square_lands_where_expected():
    image = _render(shape=0, scale=5, orientation=0, pos_x=0, pos_y=31)
    rows, cols = np.nonzero(image)
    margin, half = dsprites.SPRITE_MARGIN, dsprites.SPRITE_HALF_SIZE
    # x = 0 puts the centre at the left margin; y = 1 at the bottom margin (rows grow downwards).
    assert cols.min() == int(np.ceil(margin - half - 0.5)) and cols.max() == int(np.floor(margin + half - 0.5))
    bottom = 64 - margin
    assert rows.min() == int(np.ceil(bottom - half - 0.5)) and rows.max() == int(np.floor(bottom + half - 0.5))
    assert image.sum() == (cols.max() - cols.min() + 1) * (rows.max() - rows.min() + 1)   # a filled square


def test_every_shape_stays_inside_the_image_at_the_corners():
    for shape in range(3):
        for orientation in (0, 5, 13):
            for pos in (0, 31):
                image = _render(shape, 5, orientation, pos, pos)
                assert image.sum() > 20
                assert not (image[0].any() or image[-1].any() or image[:, 0].any() or image[:, -1].any())


def test_a_batch_of_every_shape_renders_each_sprite_as_it_renders_alone():
    # The renderer splits a batch by shape and stitches it back: each image must return to its own row.
    rows = [[0, shape, scale, orientation, x, y] for shape, scale, orientation, x, y in
            [(2, 5, 3, 7, 9), (0, 1, 20, 30, 2), (2, 0, 39, 0, 31), (1, 4, 11, 16, 16), (0, 5, 0, 0, 31)]]
    with tf.Graph().as_default():
        batch = evaluate(dsprites.render_dsprites(tf.constant(rows)))[..., 0]
    for row, image in zip(rows, batch):
        np.testing.assert_array_equal(image, _render(*row[1:]))
    assert len({image.tobytes() for image in batch}) == len(rows)


def test_the_rendered_grid_keeps_its_pixels():
    # A fixed sample across the grid: 369 images, 123 of each shape. Its on-pixel count pins the renderer, so
    # that runs trained before and after a change of its code see the same images (20 pixels of slack,
    # 0.03%, for boundary pixels that the last bit of a sine on another CPU can flip).
    indices = np.arange(0, dsprites.NUM_DSPRITES, 1999)
    with tf.Graph().as_default():
        images = evaluate(dsprites.render_dsprites(dsprites.factor_classes(indices)))
    assert abs(int(images.sum()) - 60527) <= 20


def test_npz_file_is_used_when_present(tmp_path, monkeypatch):
    monkeypatch.setattr(dsprites.DSprites, 'factor_sizes', (1, 1, 1, 1, 2, 3))   # a grid of 6 images
    images = np.zeros((6, 64, 64), np.uint8)
    images[:, 10, 20] = 1
    path = str(tmp_path / 'd.npz')
    np.savez(path, imgs=images, latents_classes=np.zeros((6, 6), np.int64))
    cfg = settings.resolve('dsprites', [('batch_size', '3'), ('dsprites_npz_path', path)])
    with tf.Graph().as_default():
        batch = evaluate(tf.data.make_one_shot_iterator(data.factor_batches(cfg)).get_next())
    assert batch.shape == (3, 64, 64, 1)
    assert (batch[:, 10, 20, 0] == 1).all() and batch.sum() == 3


def test_index_stream_resumes_exactly_and_visits_every_item_each_epoch():
    stream = data.index_batches(10, 4, seed=3)
    first = np.concatenate([next(stream) for _ in range(10)])        # 40 items = 4 epochs
    for epoch in range(4):
        assert sorted(first[epoch * 10:(epoch + 1) * 10]) == list(range(10))
    assert not np.array_equal(first[:10], first[10:20])               # reshuffled every epoch
    resumed = data.index_batches(10, 4, seed=3, start=3 * 4)
    np.testing.assert_array_equal(np.concatenate([next(resumed) for _ in range(7)]), first[12:])
    np.testing.assert_array_equal(next(data.index_batches(10, 4, seed=3, shuffle=False)), [0, 1, 2, 3])


def test_host_thread_pool_and_device_prefetch_keep_the_batches():
    cfg = settings.resolve('dsprites', [('batch_size', '3')])
    with tf.Graph().as_default():
        plain = tf.data.make_one_shot_iterator(data.factor_batches(cfg)).get_next()
        tuned = data.prefetched_to(data.on_host_cores(data.factor_batches(cfg), cores=2), '/cpu:0')
        batch = tf.data.make_one_shot_iterator(tuned).get_next()
        with tf.Session() as sess:
            for _ in range(3):
                expected, got = sess.run([plain, batch])
                np.testing.assert_array_equal(got, expected)


def autotuned(dataset):
    options = dataset.options()
    return options.autotune.enabled if hasattr(options, 'autotune') else options.experimental_optimization.autotune


def test_the_pipelines_run_without_the_autotuning_thread_that_closing_a_session_waits_for(celeba_dir):
    # Its sleep doubles up to a minute, and a session's close waits for it: runs ended up to a minute late.
    cfg = settings.resolve('dsprites', [('batch_size', '3')])
    celeba = settings.resolve('celeba', [('batch_size', '8')])
    split = imagefiles.split_celeba(str(celeba_dir), 0.5)
    with tf.Graph().as_default():
        assert autotuned(data.factor_batches(cfg)) is not False   # TensorFlow's default: on
        for reads in data.READS:
            assert autotuned(data.training_input(cfg, reads).dataset) is False, reads
        assert autotuned(data.named_batches(data.FileList(split.holdout, split, celeba), 8)) is False
