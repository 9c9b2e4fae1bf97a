"""The datasets with known factors at their published sizes: peak memory of `vae.py --train`, its
steady-state training rate, and the input pipeline's rate, on stand-in files in each published format.

    python -m benchmarks.datasets [--json results/datasets.json] [--work DIR] [--only NAME ...]

The stand-ins (datasets/standins.py) have the real files' sizes and layouts, so memory and reading cost
are the real ones; their pixels are not. The Scream is a stand-in picture. Writing the files takes about
25 GB of disk in --work (removed afterwards) and most of the run's time.
"""
import argparse
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
import settings  # noqa: E402
from benchmarks import harness  # noqa: E402
from kit import runs, standins  # noqa: E402
from benchmarks.throughput import pipeline_rate  # noqa: E402
from datasets import GROUND_TRUTH, shapes3d, smallnorb  # noqa: E402

STEPS = 400            # training steps of each --train run; its summaries every SUMMARY_FREQ give the rate
SUMMARY_FREQ = 50


# Images in each file-backed stand-in at its published size (MPI3D: the toy file's layout and the authors').
COUNTS = {'shapes3d': 480000, 'shapes3d_gzip': 480000, 'mpi3d_toy': 460800, 'mpi3d_real': 1036800,
          'smallnorb': 48600, 'cars3d': 17568}


def write_files(name, folder):
    """The stand-in files of `name` at the published size in `folder`; their image array's bytes (0 for
    datasets rendered in the graph)."""
    os.makedirs(folder, exist_ok=True)
    if name.startswith('shapes3d'):
        standins.write_shapes3d(folder, shapes3d.Shapes3D.factor_sizes, compressed=name.endswith('gzip'))
    elif name.startswith('mpi3d'):
        standins.write_mpi3d(folder, name, COUNTS[name])
    elif name == 'smallnorb':
        standins.write_smallnorb(folder, smallnorb.SmallNORB.factor_sizes)
    elif name == 'cars3d':
        standins.write_cars3d(folder, 183)
    elif name == 'scream_dsprites':
        standins.write_scream(folder)
    return COUNTS.get(name, 0) * int(np.prod(GROUND_TRUTH[dataset_of(name)].img_shape))


def dataset_of(name):
    return 'shapes3d' if name == 'shapes3d_gzip' else name


def memory_mb(pid):
    """{VmHWM, RssAnon, RssFile} of a running process in MB, from /proc; {} once it is gone."""
    try:
        with open('/proc/{}/status'.format(pid)) as f:
            lines = f.read().splitlines()
    except OSError:
        return {}
    fields = dict(line.split(':', 1) for line in lines if ':' in line)
    return {key: int(fields[key].split()[0]) / 1024.0 for key in ('VmHWM', 'RssAnon', 'RssFile') if key in fields}


def train_peak(name, folder, work):
    """({peak_mb, anon_mb, file_mb}, steady-state images/s) of `vae.py --train` on the files in `folder`.

    The peaks come from /proc while it runs, not from getrusage: Linux carries ru_maxrss over exec from
    the forking process, which here has mapped every earlier dataset. VmHWM is the process's own peak;
    RssAnon and RssFile split it into its own memory and the file pages it has mapped (a memory map's
    pages are the page cache, held once however many times they are read)."""
    out = os.path.join(work, 'run_' + name)
    command = [sys.executable, runs.VAE, '--train', '--steps', str(STEPS), '--dataset', dataset_of(name),
               '--data_dir_path', folder] + runs.folder_flags(out) + [
               '--summary_freq', str(SUMMARY_FREQ), '--image_snapshot_freq', '100000', '--checkpoint_every', '100000']
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peaks = {}
    while child.poll() is None:
        for key, value in memory_mb(child.pid).items():
            peaks[key] = max(peaks.get(key, 0.0), value)
        time.sleep(0.1)
    if child.returncode:
        raise RuntimeError('{} failed: {}'.format(' '.join(command), child.stderr.read().decode()[-2000:]))
    cfg = settings.resolve(dataset_of(name), [])
    rate = runs.steady_rate(os.path.join(out, 'sum'), cfg.batch_size, 100, STEPS)[0]   # from 100: past warm-up
    shutil.rmtree(out, ignore_errors=True)
    memory = {'peak_mb': peaks['VmHWM'], 'anon_mb': peaks['RssAnon'], 'file_mb': peaks['RssFile']}
    return memory, rate


def measure(name, work):
    folder = os.path.join(work, 'data_' + name)
    array_bytes = write_files(name, folder)
    memory, training = train_peak(name, folder, work)
    cfg = settings.resolve(dataset_of(name), [('data_dir_path', folder)])
    pipeline = pipeline_rate(lambda: data.on_host_cores(data.factor_batches(cfg)), cfg.batch_size)
    shutil.rmtree(folder, ignore_errors=True)
    return dict(memory, array_mb=array_bytes / 2.0 ** 20, training_images_per_s=training, pipeline_images_per_s=pipeline)


NAMES = ['dsprites', 'color_dsprites', 'noisy_dsprites', 'scream_dsprites', 'shapes3d', 'shapes3d_gzip',
         'mpi3d_toy', 'mpi3d_real', 'smallnorb', 'cars3d']


def tables(report):
    """One row per dataset: the image array; the peak memory, split into the process's own (anonymous)
    memory and mapped file pages, and its peak above dSprites' (TensorFlow and the model, no array) over the
    array; the training and pipeline rates."""
    base = report['datasets']['dsprites']['peak_mb']
    rows = []
    for name in NAMES:
        if name not in report['datasets']:
            continue
        m = report['datasets'][name]
        above = m['peak_mb'] - base
        rows.append([name, '{:,.0f}'.format(m['array_mb']), '{:,.0f}'.format(m['peak_mb']),
                     '{:,.0f}'.format(m['anon_mb']), '{:,.0f}'.format(m['file_mb']),
                     '{:.2f}'.format(above / m['array_mb']) if m['array_mb'] else '—',
                     '{:,.0f}'.format(m['training_images_per_s']), '{:,.0f}'.format(m['pipeline_images_per_s']),
                     '{:.0f}x'.format(m['pipeline_images_per_s'] / m['training_images_per_s'])])
    return {'datasets': {'columns': ['dataset', 'image array MB', 'peak MB', 'own MB', 'mapped file MB',
                                     '(peak - dSprites\' peak) / array', 'training img/s', 'pipeline img/s',
                                     'pipeline / training'], 'rows': rows}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--json', default=harness.default_path('datasets'))
    parser.add_argument('--work', help='folder for the stand-in files (default: a temporary one)')
    parser.add_argument('--only', nargs='+', choices=NAMES, help='these datasets (dsprites is always measured)')
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='beta_vae_datasets_', dir=args.work)
    report = {'steps': STEPS, 'datasets': {}}
    try:
        for name in ['dsprites'] + [n for n in NAMES[1:] if not args.only or n in args.only]:
            report['datasets'][name] = measure(name, work)
            print('{:<16}{}'.format(name, ', '.join('{} {:,.1f}'.format(k, v) for k, v in
                                                    sorted(report['datasets'][name].items()))), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    harness.write_result(dict(report, tables=tables(report)), args.json)


if __name__ == '__main__':
    main()
