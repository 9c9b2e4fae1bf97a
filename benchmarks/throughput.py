"""Throughput on this machine: matmul peak, training images/s and MFU, input pipelines, generate/traverse.

    python benchmarks/throughput.py [--json results/benchmark.json] [--celeba_steps 6]

Prints a table and writes the figures as JSON. Takes about 5 minutes on a 2-core CPU; every
figure comes from the same run on the same machine.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

tf.logging.set_verbosity(tf.logging.ERROR)

import checkpoints  # noqa: E402
import data  # noqa: E402
import figures  # noqa: E402
import model  # noqa: E402
import settings  # noqa: E402
import vae  # noqa: E402

tf.disable_v2_behavior()


def timed(function, repeats):
    """Seconds per call of function(), after one warm-up call."""
    function()
    start = time.time()
    for _ in range(repeats):
        function()
    return (time.time() - start) / repeats


def matmul_peak_gflops(size=4096, repeats=10):
    """fp32 matrix-multiply GFLOP/s through TensorFlow: the machine's practical peak."""
    with tf.Graph().as_default():
        a = tf.Variable(tf.random_normal([size, size]))
        b = tf.Variable(tf.random_normal([size, size]))
        product = tf.reduce_sum(tf.matmul(a, b))
        with tf.Session(config=checkpoints.session_config()) as sess:
            sess.run(tf.global_variables_initializer())
            seconds = timed(lambda: sess.run(product), repeats)
    return 2.0 * size ** 3 / seconds / 1e9


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


def bare_training_rate(cfg, steps):
    """Images/s of the training op alone, on a constant in-memory batch (with cfg.xla_jit)."""
    with tf.Graph().as_default():
        batch = np.random.RandomState(0).rand(*([cfg.batch_size] + list(cfg.img_shape))).astype(np.float32)
        graph = model.build_training(tf.constant(batch), cfg)
        with tf.Session(config=checkpoints.session_config(cfg.xla_jit)) as sess:
            sess.run(tf.global_variables_initializer())
            seconds = timed(lambda: sess.run(graph.train_op), steps)
    return cfg.batch_size / seconds


def real_loop_rate(cfg, steps, first_measured_step):
    """Images/s of `vae.py --train` itself, from the wall times of its own loss summaries."""
    vae.train(cfg, steps)
    events = []
    for path in sorted(os.listdir(cfg.summary_dir)):
        for event in figures.read_events(os.path.join(cfg.summary_dir, path)):
            if any(v.tag == 'loss/total' for v in event.summary.value):
                events.append((event.step, event.wall_time))
    window = [(s, t) for s, t in events if s >= first_measured_step]
    (step_a, time_a), (step_b, time_b) = window[0], window[-1]
    return (step_b - step_a) * cfg.batch_size / (time_b - time_a)


def pipeline_rate(dataset, batch_size, batches):
    with tf.Graph().as_default():
        batch = tf.data.make_one_shot_iterator(dataset()).get_next()
        with tf.Session(config=checkpoints.session_config()) as sess:
            seconds = timed(lambda: sess.run(batch), batches)
    return batch_size / seconds


def write_celeba_folder(folder, count):
    from PIL import Image
    os.makedirs(folder)
    rng = np.random.RandomState(0)
    for i in range(count):
        small = rng.randint(0, 256, (15, 12, 3)).astype(np.uint8)
        noise = rng.randint(0, 40, (218, 178, 3)).astype(np.uint8)
        face = np.asarray(Image.fromarray(small).resize((178, 218), Image.BILINEAR)) // 2 + noise
        Image.fromarray(face).save(os.path.join(folder, '{:06d}.jpg'.format(i + 1)), quality=90)


def pil_rate(paths, crop):
    """Images/s of a plain PIL loop: decode, crop, scale to [0, 1]."""
    from PIL import Image
    top, left, height, width = crop
    start = time.time()
    for path in paths:
        with Image.open(path) as image:
            np.asarray(image.convert('RGB').crop((left, top, left + width, top + height)), np.float32) / 255.0
    return len(paths) / (time.time() - start)


def command_seconds(*args):
    start = time.time()
    subprocess.run([sys.executable, os.path.join(ROOT, 'vae.py')] + list(args), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.time() - start


def run(work, celeba_steps):
    folder = os.path.join(work, 'CelebA', 'img_align_celeba')
    write_celeba_folder(folder, 512)
    paths = sorted(os.path.join(folder, n) for n in os.listdir(folder))

    def outputs(name):
        return [('checkpoint_dir', os.path.join(work, name, 'ck')), ('results_dir', os.path.join(work, name, 'res')),
                ('summary_dir', os.path.join(work, name, 'sum'))]

    celeba = settings.resolve('celeba', outputs('celeba') + [('data_dir_path', folder), ('summary_freq', '1'),
                                                             ('holdout_percent', '10')])
    dsprites = settings.resolve('dsprites', outputs('dsprites'))
    peak = matmul_peak_gflops()
    report = {'matmul_peak_gflops': peak, 'tensorflow': tf.__version__, 'python': sys.version.split()[0],
              'cores': os.cpu_count(), 'models': {}, 'pipelines': {}, 'commands_seconds': {}}

    for name, cfg, bare_steps, loop_steps, first in (('celeba', celeba, 3, celeba_steps, 2),
                                                     ('dsprites', dsprites, 300, 1100, 100)):
        flops = 3.0 * forward_flops_per_image(cfg)     # forward + backward (twice the forward)
        bare = bare_training_rate(cfg, bare_steps)
        loop = real_loop_rate(cfg, loop_steps, first)
        report['models'][name] = {
            'batch_size': cfg.batch_size, 'train_gflop_per_image': flops / 1e9,
            'bare_images_per_s': bare, 'loop_images_per_s': loop,
            'bare_mfu': bare * flops / (peak * 1e9), 'loop_mfu': loop * flops / (peak * 1e9),
            'loop_vs_bare': loop / bare}
    # XLA on the small model only: compiling the CelebA graph on a CPU takes minutes.
    report['dsprites_bare_xla_images_per_s'] = bare_training_rate(dsprites.replace(xla_jit=True), 30)

    report['pipelines']['celeba_decode_crop'] = pipeline_rate(
        lambda: data.celeba_dataset(paths, celeba), celeba.batch_size, 40)
    report['pipelines']['celeba_pil_loop'] = pil_rate(paths, celeba.data_crop)
    report['pipelines']['dsprites_render'] = pipeline_rate(
        lambda: data.dsprites_dataset(dsprites), dsprites.batch_size, 100)

    for name, cfg in (('celeba', celeba), ('dsprites', dsprites)):
        args = ['--dataset', name, '--checkpoint_dir', cfg.checkpoint_dir, '--results_dir', cfg.results_dir,
                '--data_dir_path', folder, '--holdout_percent', '10']
        report['commands_seconds'][name + ' --generate'] = command_seconds('--generate', *args)
    report['commands_seconds']['dsprites --traverse'] = command_seconds(
        '--traverse', '--dataset', 'dsprites', '--checkpoint_dir', dsprites.checkpoint_dir,
        '--results_dir', dsprites.results_dir)
    return report


def print_table(report):
    print('TensorFlow {}, Python {}, {} cores; fp32 matmul peak {:.1f} GFLOP/s'.format(
        report['tensorflow'], report['python'], report['cores'], report['matmul_peak_gflops']))
    print('{:<10}{:>7}{:>12}{:>12}{:>10}{:>12}{:>10}{:>10}'.format(
        'model', 'batch', 'GFLOP/img', 'bare img/s', 'bare MFU', 'loop img/s', 'loop MFU', 'loop/bare'))
    for name, m in sorted(report['models'].items()):
        print('{:<10}{:>7}{:>12.3f}{:>12.1f}{:>10.1%}{:>12.1f}{:>10.1%}{:>10.1%}'.format(
            name, m['batch_size'], m['train_gflop_per_image'], m['bare_images_per_s'], m['bare_mfu'],
            m['loop_images_per_s'], m['loop_mfu'], m['loop_vs_bare']))
    xla, plain = report['dsprites_bare_xla_images_per_s'], report['models']['dsprites']['bare_images_per_s']
    print('dsprites bare training op with xla_jit: {:.1f} img/s ({:+.0%})'.format(xla, xla / plain - 1))
    for name, rate in sorted(report['pipelines'].items()):
        print('pipeline {:<22}{:>10.1f} img/s'.format(name, rate))
    for name, seconds in sorted(report['commands_seconds'].items()):
        print('{:<31}{:>10.1f} s'.format(name, seconds))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--json', default=os.path.join(ROOT, 'results', 'benchmark.json'))
    parser.add_argument('--celeba_steps', type=int, default=6, help='steps of the real CelebA loop (>= 3)')
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='beta_vae_bench_')
    try:
        report = run(work, max(3, args.celeba_steps))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(report)
    settings.write_json(report, args.json)
    print('wrote {}'.format(args.json))


if __name__ == '__main__':
    main()
