"""The CelebA loop's input and summary overhead, measured without the machine's drift.

    python benchmarks/overhead.py [--precision float32] [--rounds 3] [--seconds 10]

Keeps two training sessions open in one process: the step on a constant in-memory batch, and the
step on the real tf.data pipeline (decode + crop of JPEGs) with the summaries fetched every step.
It times them alternately, `rounds` times each, so a slow spell of a shared machine hits both
alike, and prints each round and the median ratio. About 2 minutes on a 2-core CPU.
"""
import argparse
import os
import shutil
import tempfile

import numpy as np

import throughput  # beside this file; importing it puts the project on sys.path for the imports below
import data
import model
import settings
import tensorflow.compat.v1 as tf

tf.disable_v2_behavior()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--precision', default='float32', choices=sorted(model.COMPUTE_DTYPES))
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--seconds', type=float, default=10.0, help='timed per measurement')
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='beta_vae_overhead_')
    try:
        folder = os.path.join(work, 'img_align_celeba')
        throughput.write_celeba_folder(folder, 512)
        cfg = settings.resolve('celeba', [('data_dir_path', folder), ('holdout_percent', '10'),
                                          ('precision', args.precision)])
        variants = [
            ('constant batch', throughput.open_step(cfg, lambda: throughput.constant_batch(cfg))),
            ('tf.data + summaries', throughput.open_step(
                cfg, lambda: tf.data.make_one_shot_iterator(data.training_data(cfg)[0]).get_next(),
                with_summaries=True)),
        ]
        rates = {name: [] for name, _ in variants}
        for round_index in range(max(1, args.rounds)):
            for name, (_, step) in variants:
                rates[name].append(cfg.batch_size / throughput.timed(step, args.seconds))
            print('round {}: {}'.format(round_index + 1, ', '.join(
                '{} {:.2f} img/s'.format(name, rates[name][-1]) for name, _ in variants)))
        for _, (sess, _) in variants:
            sess.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = np.median(np.array(rates['tf.data + summaries']) / np.array(rates['constant batch']))
    print('CelebA {}: real input + summaries run at {:.1%} of the constant-batch step (median of {} rounds)'.format(
        args.precision, ratio, len(rates['constant batch'])))


if __name__ == '__main__':
    main()
