"""Throughput on this machine: matmul peak, training images/s and MFU, input pipelines, generate/traverse,
and the same training step in PyTorch (benchmarks/torch_twin.py) for comparison.

    python -m benchmarks.throughput [--json results/throughput.json] [--torch_python PATH | --no_torch]

Prints a table and writes the figures as JSON. Takes about 10 minutes on a 2-core CPU; every figure comes
from the same run on the same machine. PyTorch runs in its own interpreter: --torch_python, else the
virtualenv .torch-venv/ at the project's root, made and filled with pip on first use (a large download).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from hardware import import_tensorflow

tf = import_tensorflow()

import numpy as np  # noqa: E402

import data  # noqa: E402
import hardware  # noqa: E402
import imagefiles  # noqa: E402
import model  # noqa: E402
import settings  # noqa: E402
import training  # noqa: E402
import vae  # noqa: E402
from benchmarks import harness  # noqa: E402
from kit import standins  # noqa: E402
from kit import runs  # noqa: E402
from benchmarks.harness import timed  # noqa: E402
from kit.graphs import random_images, training_batch  # noqa: E402


def matmul_peak_gflops(dtype='float32', size=4096, seconds=5.0):
    """Matrix-multiply GFLOP/s through TensorFlow in `dtype`: the machine's practical peak."""
    with tf.Graph().as_default():
        a = tf.Variable(tf.random_normal([size, size]))
        b = tf.Variable(tf.random_normal([size, size]))
        product = tf.reduce_sum(tf.cast(tf.matmul(tf.cast(a, dtype), tf.cast(b, dtype)), tf.float32))
        with tf.Session(config=hardware.session_config()) as sess:
            sess.run(tf.global_variables_initializer())
            per_call = timed(lambda: sess.run(product), seconds)
    return 2.0 * size ** 3 / per_call / 1e9


def forward_flops_per_image(cfg):
    """FLOPs of one image through encoder and decoder, counted from the layer shapes (2 per multiply-add)."""
    with tf.Graph().as_default() as graph:
        z_mean, z_logvar = model.encode(tf.zeros([1] + list(cfg.img_shape)), cfg, training=True)
        model.decode(model.reparameterize(z_mean, z_logvar), cfg, training=True)
        macs = 0
        for op in graph.get_operations():
            if op.type == 'Conv2D':
                kernel = op.inputs[1].shape.as_list()
                macs += np.prod(op.outputs[0].shape.as_list()[1:3]) * np.prod(kernel)
            elif op.type == 'Conv2DBackpropInput':          # a transposed conv: one MAC per input pixel x kernel
                kernel = op.inputs[1].shape.as_list()
                macs += np.prod(op.inputs[2].shape.as_list()[1:3]) * np.prod(kernel)
            elif op.type == 'MatMul':
                macs += np.prod(op.inputs[1].shape.as_list())
    return 2.0 * float(macs)


def constant_batch(cfg):
    """A fixed in-memory data.Batch of random pixels: the training step with no input pipeline."""
    return training_batch(cfg, random_images(cfg))


def open_step(cfg, batch, with_summaries=False):
    """(open session, callable running one training step) of a new graph on the data.Batch `batch()` (with
    cfg.xla_jit)."""
    graph = tf.Graph()
    with graph.as_default():
        step = training.build_training(batch(), cfg)
        fetches = [step.train_op, step.summaries] if with_summaries else step.train_op
        sess = tf.Session(graph=graph, config=hardware.session_config(cfg.xla_jit))
        sess.run(tf.global_variables_initializer())
    return sess, lambda: sess.run(fetches)


def bare_training_rate(cfg, seconds):
    """Images/s of the training op alone, on a constant in-memory batch."""
    sess, step = open_step(cfg, lambda: constant_batch(cfg))
    with sess:
        return cfg.batch_size / timed(step, seconds)


def real_loop_rate(cfg, steps, first_measured_step):
    """(images/s of `vae.py --train` itself, seconds its fakes snapshot adds to a step), from the wall
    times of its own loss summaries; `steps` must be a multiple of cfg.summary_freq.

    The rate is the steady state's (runs.steady_rate): its window stops at the last summary
    before the last step, which always writes a fakes grid (the loop does that once per
    image_snapshot_freq steps); that grid's cost is returned apart.
    """
    vae.train(cfg, steps)
    times = runs.step_wall_times(cfg.summary_dir)
    rate, end = runs.steady_rate(cfg.summary_dir, cfg.batch_size, first_measured_step, steps)
    step_seconds = cfg.batch_size / rate
    print('{} {}: steady state over steps {}..{}: {:.4f} s per step (median interval)'.format(
        cfg.dataset, cfg.precision, first_measured_step, end, step_seconds))
    return rate, times[steps] - times[end] - (steps - end) * step_seconds


def pipeline_rate(dataset, batch_size, seconds=5.0):
    with tf.Graph().as_default():
        batch = tf.data.make_one_shot_iterator(dataset()).get_next()
        with tf.Session(config=hardware.session_config()) as sess:
            per_batch = timed(lambda: sess.run(batch), seconds)
    return batch_size / per_batch


def write_photo_folder(folder, count, seed=0):
    """`count` photos of mixed sizes (300 to 2000 px on the long side) and kinds, as a user's folder holds:
    mostly JPEG, every fifth a PNG, every seventh grayscale, in two nested folders."""
    from PIL import Image
    rng = np.random.RandomState(seed)
    for i in range(count):
        long_side = rng.randint(300, 2001)
        short_side = int(long_side * rng.uniform(0.6, 1.0))
        width, height = (long_side, short_side) if i % 2 else (short_side, long_side)
        small = rng.randint(0, 256, (12, 12, 3)).astype(np.uint8)
        photo = Image.fromarray(small).resize((width, height), Image.BILINEAR)
        if i % 7 == 0:
            photo = photo.convert('L')
        sub = os.path.join(folder, 'trip{}'.format(i % 2))
        os.makedirs(sub, exist_ok=True)
        if i % 5 == 0:
            photo.save(os.path.join(sub, '{:04d}.png'.format(i)))
        else:
            photo.save(os.path.join(sub, '{:04d}.jpg'.format(i)), quality=90)


def pil_rate(paths, crop):
    """Images/s of a plain PIL loop: decode, crop, scale to [0, 1]."""
    from PIL import Image
    top, left, height, width = crop
    start = time.time()
    for path in paths:
        with Image.open(path) as image:
            np.asarray(image.convert('RGB').crop((left, top, left + width, top + height)), np.float32) / 255.0
    return len(paths) / (time.time() - start)


def low_precision():
    """The reduced precision worth measuring here: float16 on a GPU, bfloat16 on a CPU that has fast
    kernels for it, else None."""
    if hardware.training_device() is not None:
        return 'float16'
    return 'bfloat16' if hardware.fast_cpu_bfloat16() else None


def loop_steps(cfg, images_per_s, seconds, first_measured_step):
    """Steps of a real-loop run whose measured window lasts about `seconds`: whole summary intervals,
    at least 3, then one more (the last step writes a fakes snapshot and is timed apart)."""
    intervals = max(3, int(round(seconds * images_per_s / cfg.batch_size / cfg.summary_freq)))
    return first_measured_step + (intervals + 1) * cfg.summary_freq


TORCH_VENV = os.path.join(harness.ROOT, '.torch-venv')


def torch_python(given=None):
    """An interpreter with PyTorch: `given`, else .torch-venv/'s, made and filled with pip on first use."""
    if given:
        return given
    python = os.path.join(TORCH_VENV, 'bin', 'python')
    if not os.path.isfile(python):
        print('installing PyTorch into {} for the comparison (once)'.format(TORCH_VENV), flush=True)
        subprocess.run([sys.executable, '-m', 'venv', TORCH_VENV], check=True)
        subprocess.run([python, '-m', 'pip', 'install', '-q', 'torch'], check=True)
    return python


def model_parameters(cfg):
    """The number of trained weights of cfg's encoder and decoder."""
    with tf.Graph().as_default():
        z_mean, z_logvar = model.encode(tf.zeros([2] + list(cfg.img_shape)), cfg, training=True)
        model.decode(z_mean, cfg, training=True)
        return int(sum(np.prod(v.shape.as_list()) for v in tf.trainable_variables()))


def run_twin(cfg, python, warmup, steps, *extra):
    """The JSON line of one run of the PyTorch twin of cfg's training step (benchmarks/torch_twin.py)."""
    args = ['--architecture', cfg.architecture, '--img_shape', ','.join(map(str, cfg.img_shape)),
            '--filters', ','.join(map(str, cfg.filters)), '--hidden_units', ','.join(map(str, cfg.hidden_units)),
            '--latent_dim', str(cfg.latent_dim), '--batch_size', str(cfg.batch_size), '--likelihood', cfg.likelihood,
            '--kl_weight', str(cfg.kl_weight), '--learning_rate', str(cfg.learning_rate), '--beta1', str(cfg.beta1),
            '--beta2', str(cfg.beta2), '--momentum', str(cfg.momentum), '--epsilon', str(cfg.epsilon),
            '--precision', cfg.precision, '--warmup', str(warmup), '--steps', str(steps)] + list(extra)
    done = subprocess.run([python, '-m', 'benchmarks.torch_twin'] + args, check=True, stdout=subprocess.PIPE,
                          universal_newlines=True, cwd=harness.ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def torch_rate(cfg, python, seconds):
    """(images/s of the PyTorch twin of cfg's training step in steady state, its JSON line): about `seconds`
    of timed steps after a warm-up, sized from a first short run."""
    probe, parameters = run_twin(cfg, python, 2, 3), model_parameters(cfg)
    if probe['parameters'] != parameters:
        raise RuntimeError('the PyTorch twin has {} parameters and the model {}: it is not the same network'.format(
            probe['parameters'], parameters))
    steps = max(5, int(round(seconds / probe['median_step_seconds'])))
    measured = run_twin(cfg, python, max(3, steps // 5), steps)
    print('{} {} PyTorch {}: steady state over {} steps after {}: {:.4f} s per step (median)'.format(
        cfg.dataset, cfg.precision, measured['torch'], measured['timed_steps'], measured['warmup_steps'],
        measured['median_step_seconds']))
    return measured['images_per_s'], measured


def measure_model(cfg, peak_gflops, bare_seconds, loop=None, torch=None):
    """Bare and, given loop = (seconds, first measured step), real-loop rates of one model at
    cfg.precision, with MFU against that precision's matmul peak; given torch = (python, seconds), the
    PyTorch twin's rate too."""
    flops = 3.0 * forward_flops_per_image(cfg)     # forward + backward (twice the forward)
    bare = bare_training_rate(cfg, bare_seconds)
    row = {'batch_size': cfg.batch_size, 'precision': cfg.precision, 'train_gflop_per_image': flops / 1e9,
           'bare_images_per_s': bare, 'bare_mfu': bare * flops / (peak_gflops * 1e9)}
    if torch is not None:
        row['torch_images_per_s'], row['torch_run'] = torch_rate(cfg, *torch)
    if loop is not None:
        loop_seconds, first_measured_step = loop
        steps = loop_steps(cfg, bare, loop_seconds, first_measured_step)
        loop_rate, snapshot_seconds = real_loop_rate(cfg, steps, first_measured_step)
        row.update(loop_steps=steps, loop_images_per_s=loop_rate, loop_mfu=loop_rate * flops / (peak_gflops * 1e9),
                   loop_vs_bare=loop_rate / bare, snapshot_seconds=snapshot_seconds,
                   snapshot_share=snapshot_seconds * loop_rate / (cfg.batch_size * cfg.image_snapshot_freq))
        if torch is not None:
            row['loop_vs_torch'] = loop_rate / row['torch_images_per_s']
    return row


def resolved_in(work):
    """resolved(name, precision, *overrides): a dataset's settings with its outputs in their own folder of `work`."""
    def resolved(name, precision, *extra):
        outputs = runs.run_folders(os.path.join(work, name, precision))
        return settings.resolve(name, outputs + [('precision', precision)] + list(extra))
    return resolved


def celeba_overrides(folder):
    """A synthetic CelebA in `folder`, and summaries on every step (50x the default: a conservative loop)
    to time single steps."""
    return [('data_dir_path', folder), ('holdout_percent', '10'), ('summary_freq', '1')]


def run(work, torch=None):
    folder = os.path.join(work, 'CelebA', 'img_align_celeba')
    standins.write_celeba_folder(folder, 512)
    paths = sorted(os.path.join(folder, n) for n in os.listdir(folder))
    resolved, celeba_data = resolved_in(work), celeba_overrides(folder)
    celeba, dsprites = resolved('celeba', 'float32', *celeba_data), resolved('dsprites', 'float32')
    low = low_precision()
    peaks = {'float32': matmul_peak_gflops()}
    report = {'matmul_peak_gflops': peaks, 'device': hardware.training_device() or 'cpu', 'models': {},
              'pipelines': {}, 'commands_seconds': {}}

    report['models']['celeba float32'] = measure_model(celeba, peaks['float32'], 15, loop=(20, 2), torch=torch)
    report['models']['dsprites float32'] = measure_model(dsprites, peaks['float32'], 15, loop=(40, 100), torch=torch)
    if low is not None:
        peaks[low] = matmul_peak_gflops(low)
        twin = torch if low == 'bfloat16' else None      # torch.autocast's CPU bfloat16
        report['models']['celeba ' + low] = measure_model(resolved('celeba', low, *celeba_data), peaks[low], 15,
                                                          loop=(20, 2), torch=twin)
        report['models']['dsprites ' + low] = measure_model(resolved('dsprites', low), peaks[low], 15)
    else:   # measured anyway: how slow it is here is what `vae.py --train` warns about
        report['models']['dsprites bfloat16'] = measure_model(resolved('dsprites', 'bfloat16'), peaks['float32'], 3)
    # XLA on the small model only: compiling the CelebA graph on a CPU takes minutes.
    report['dsprites_bare_xla_images_per_s'] = bare_training_rate(dsprites.replace(xla_jit=True), 10)

    # CelebA at 64x64 (the 128x128 crop resized): the setting other beta-VAE projects report.
    report['models']['celeba64 float32'] = measure_model(resolved('celeba', 'float32', *celeba_data + [
        ('img_shape', '64,64,3')]), peaks['float32'], 15)

    split = imagefiles.split_celeba(folder, 0.0)
    celeba_files = data.FileList(split.train, split, celeba)
    report['pipelines']['celeba_decode_crop'] = pipeline_rate(
        lambda: data.on_host_cores(data.image_batches(celeba_files, celeba)), celeba.batch_size)
    photos = os.path.join(work, 'photos')
    write_photo_folder(photos, 96)
    folder_cfg = resolved('folder', 'float32', ('data_dir_path', photos))
    photo_split = imagefiles.split_folder(photos, 0.0)
    report['pipelines']['folder_mixed_photos'] = pipeline_rate(
        lambda: data.on_host_cores(data.image_batches(data.FileList(photo_split.train, photo_split, folder_cfg),
                                                      folder_cfg)), folder_cfg.batch_size)
    report['pipelines']['celeba_pil_loop'] = pil_rate(paths, celeba.data_crop)
    report['pipelines']['dsprites_render'] = pipeline_rate(
        lambda: data.on_host_cores(data.factor_batches(dsprites)), dsprites.batch_size)

    for name, cfg in (('celeba', celeba), ('dsprites', dsprites)):
        args = ['--dataset', name, '--checkpoint_dir', cfg.checkpoint_dir, '--results_dir', cfg.results_dir,
                '--data_dir_path', folder, '--holdout_percent', '10']
        report['commands_seconds'][name + ' --generate'] = runs.vae_seconds('--generate', *args)
    report['commands_seconds']['dsprites --traverse'] = runs.vae_seconds(
        '--traverse', '--dataset', 'dsprites', '--checkpoint_dir', dsprites.checkpoint_dir,
        '--results_dir', dsprites.results_dir)
    return report


def tables(report):
    """The report's figures as the tables the results pages render (report.py): the models, then the
    pipelines, the xla switch and the commands."""
    models = {'columns': ['model', 'batch', 'GFLOP/img', 'bare img/s', 'bare MFU', 'loop img/s', 'loop MFU',
                          'loop/bare', 'PyTorch img/s', 'loop/PyTorch'], 'rows': []}
    for name, m in sorted(report['models'].items()):
        loop = (['{:.1f}'.format(m['loop_images_per_s']), '{:.1%}'.format(m['loop_mfu']),
                 '{:.1%}'.format(m['loop_vs_bare'])] if 'loop_images_per_s' in m else ['—'] * 3)
        loop += (['{:.1f}'.format(m['torch_images_per_s']), '{:.2f}x'.format(m['loop_vs_torch'])]
                 if 'loop_vs_torch' in m else ['—'] * 2)
        models['rows'].append([name, m['batch_size'], '{:.3f}'.format(m['train_gflop_per_image']),
                               '{:.1f}'.format(m['bare_images_per_s']), '{:.1%}'.format(m['bare_mfu'])] + loop)
    training = report['models']['celeba float32']['bare_images_per_s']
    rates = {'columns': ['what', 'figure'], 'rows': [
        ['matmul peak, ' + dtype, '{:.1f} GFLOP/s'.format(gflops)]
        for dtype, gflops in sorted(report['matmul_peak_gflops'].items())]}
    rates['rows'] += [['pipeline ' + name, '{:.1f} img/s ({:.0f}x CelebA float32 training)'.format(rate, rate / training)]
                      for name, rate in sorted(report['pipelines'].items())]
    rates['rows'].append(['dsprites bare op with xla_jit', '{:.1f} img/s'.format(report['dsprites_bare_xla_images_per_s'])])
    rates['rows'] += [[name, '{:.1f} s'.format(seconds)] for name, seconds in sorted(report['commands_seconds'].items())]
    return {'models': models, 'rates': rates}


def print_table(report):
    peaks = ', '.join('{} {:.1f} GFLOP/s'.format(dtype, gflops)
                      for dtype, gflops in sorted(report['matmul_peak_gflops'].items()))
    print('TensorFlow {}, Python {}, {} cores, training on {}; matmul peak {}'.format(
        tf.__version__, sys.version.split()[0], hardware.usable_cores(), report['device'], peaks))
    print('{:<18}{:>6}{:>11}{:>12}{:>10}{:>12}{:>10}{:>11}{:>16}'.format(
        'model', 'batch', 'GFLOP/img', 'bare img/s', 'bare MFU', 'loop img/s', 'loop MFU', 'loop/bare',
        'fakes snapshot'))
    for name, m in sorted(report['models'].items()):
        loop = ('{:>12.1f}{:>10.1%}{:>11.1%}{:>9.2f} s{:>5.1%}'.format(
            m['loop_images_per_s'], m['loop_mfu'], m['loop_vs_bare'], m['snapshot_seconds'], m['snapshot_share'])
            if 'loop_images_per_s' in m else '')
        print('{:<18}{:>6}{:>11.3f}{:>12.1f}{:>10.1%}'.format(
            name, m['batch_size'], m['train_gflop_per_image'], m['bare_images_per_s'], m['bare_mfu']) + loop)
        if 'loop_vs_torch' in m:
            print('{:<18}PyTorch twin {:.1f} img/s: the loop is {:.2f}x PyTorch, the bare graph {:.2f}x'.format(
                '', m['torch_images_per_s'], m['loop_vs_torch'], m['bare_images_per_s'] / m['torch_images_per_s']))
    print("(MFU against the matmul peak of the row's precision, float32's where it has no fast kernels; "
          "fakes snapshot: the extra time of a step that writes one, and its share of the loop at one per "
          "image_snapshot_freq steps)")
    xla, plain = report['dsprites_bare_xla_images_per_s'], report['models']['dsprites float32']['bare_images_per_s']
    print('dsprites bare training op with xla_jit: {:.1f} img/s ({:+.0%})'.format(xla, xla / plain - 1))
    training = report['models']['celeba float32']['bare_images_per_s']
    for name, rate in sorted(report['pipelines'].items()):
        print('pipeline {:<22}{:>10.1f} img/s  ({:.0f}x the default model\'s training rate)'.format(
            name, rate, rate / training))
    for name, seconds in sorted(report['commands_seconds'].items()):
        print('{:<31}{:>10.1f} s'.format(name, seconds))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--json', default=harness.default_path('throughput'))
    parser.add_argument('--torch_python', help='an interpreter with PyTorch (default: .torch-venv/, made on demand)')
    parser.add_argument('--no_torch', action='store_true', help='leave out the PyTorch comparison')
    args = parser.parse_args()
    torch = None if args.no_torch else (torch_python(args.torch_python), 20.0)
    work = tempfile.mkdtemp(prefix='beta_vae_bench_')
    try:
        report = run(work, torch)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(report)
    harness.write_result(dict(report, tables=tables(report)), args.json)


if __name__ == '__main__':
    main()
