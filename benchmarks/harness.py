"""What every benchmark shares: the result file with the header that says where its figures come from,
timing, alternating rounds, and a synthetic CelebA folder.

A result is JSON: {"header": {command, commit, date, cpu, cores, python, tensorflow, ...}, ...figures}.
`python -m benchmarks.results` turns the kept ones in docs/results/ into the results pages.
"""
import io
import os
import subprocess
import sys
import time

import numpy as np

import common
import provenance

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VAE = os.path.join(ROOT, 'vae.py')


# ---- where a result comes from ----

def header(argv=None):
    """Where a result comes from: the command (as run from the project's root), commit, date, machine."""
    argv = sys.argv if argv is None else argv
    module = os.path.splitext(os.path.relpath(os.path.abspath(argv[0]), ROOT))[0].replace(os.sep, '.')
    return provenance.result_header(' '.join(['python -m ' + module] + list(argv[1:])))


def write_result(figures, path):
    """Writes `figures` as JSON with the header first; prints where."""
    common.write_json(dict([('header', header())] + sorted(figures.items())), path)
    print('wrote {}'.format(path))


def default_path(name):
    return os.path.join('results', name + '.json')


# ---- timing ----

def timed(function, seconds):
    """Seconds per call of function(), over at least `seconds` (and 2 calls) after one warm-up call."""
    function()
    start, calls = time.time(), 0
    while calls < 2 or time.time() - start < seconds:
        function()
        calls += 1
    return (time.time() - start) / calls


def alternate(names, rounds, measure, reverse_odd=False):
    """{name: [figure per round]}: measure(name) for each name in turn, round after round, so that a slow
    spell of a shared machine falls on every variant alike. reverse_odd runs odd rounds backwards, for
    measurements that warm the machine for the next one."""
    figures = dict((name, []) for name in names)
    for round_index in range(max(1, rounds)):
        order = list(names)[::-1] if reverse_odd and round_index % 2 else list(names)
        for name in order:
            figures[name].append(measure(name))
    return figures


def command_seconds(args, env=None, quiet=False):
    """(exit code, wall seconds) of one command; quiet discards its output."""
    output = subprocess.DEVNULL if quiet else None
    start = time.time()
    code = subprocess.call(args, env=env, stdout=output, stderr=output)
    return code, time.time() - start


def vae_seconds(*args):
    """Wall seconds of one `python vae.py ARGS`, its output discarded; CalledProcessError if it fails."""
    command = [sys.executable, VAE] + list(args)
    code, seconds = command_seconds(command, quiet=True)
    if code:
        raise subprocess.CalledProcessError(code, command)
    return seconds


# ---- a synthetic CelebA ----

def celeba_jpeg(rng):
    """One aligned-CelebA-sized JPEG (218 x 178): smooth colour blobs with grain, as bytes."""
    from PIL import Image
    small = rng.randint(0, 256, (218 // 16 + 1, 178 // 16 + 1, 3)).astype(np.uint8)
    grain = rng.randint(0, 40, (218, 178, 3)).astype(np.uint8)
    face = np.asarray(Image.fromarray(small).resize((178, 218), Image.BILINEAR)) // 2 + grain
    buffer = io.BytesIO()
    Image.fromarray(face).save(buffer, format='JPEG', quality=90)
    return buffer.getvalue()


def write_celeba_folder(folder, count, distinct=None, seed=0):
    """folder/000001.jpg ... count of them; with `distinct`, only that many different files, repeated (a
    file system full of CelebA-sized files, made fast)."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.RandomState(seed)
    variants = [celeba_jpeg(rng) for _ in range(min(count, distinct or count))]
    names = ['{:06d}.jpg'.format(k + 1) for k in range(count)]
    for k, name in enumerate(names):
        with open(os.path.join(folder, name), 'wb') as f:
            f.write(variants[k % len(variants)])
    return names
