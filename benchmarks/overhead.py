"""The CelebA loop's input and summary overhead, measured without the machine's drift.

    python -m benchmarks.overhead [--precision float32] [--rounds 3] [--seconds 10]

Keeps two training sessions open in one process: the step on a constant in-memory batch, and the
step on the real tf.data pipeline (decode + crop of JPEGs) with the summaries fetched every step.
It times them alternately, `rounds` times each, so a slow spell of a shared machine hits both
alike, and prints each round and the median ratio. About 2 minutes on a 2-core CPU.
"""
import argparse
import os
import shutil
import tempfile

from hardware import import_tensorflow

tf = import_tensorflow()

import numpy as np  # noqa: E402

import data  # noqa: E402
import model  # noqa: E402
import settings  # noqa: E402
from benchmarks import harness, throughput  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--precision', default='float32', choices=sorted(model.COMPUTE_DTYPES))
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--seconds', type=float, default=10.0, help='timed per measurement')
    parser.add_argument('--json', default=harness.default_path('overhead'))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='beta_vae_overhead_')
    try:
        folder = os.path.join(work, 'img_align_celeba')
        harness.write_celeba_folder(folder, 512)
        cfg = settings.resolve('celeba', [('data_dir_path', folder), ('holdout_percent', '10'),
                                          ('precision', args.precision)])
        variants = {
            'constant batch': throughput.open_step(cfg, lambda: throughput.constant_batch(cfg)),
            'tf.data + summaries': throughput.open_step(
                cfg, lambda: tf.data.make_one_shot_iterator(data.training_data(cfg)[0]).get_next(),
                with_summaries=True)}
        rates = harness.alternate(sorted(variants), args.rounds,
                                  lambda name: cfg.batch_size / harness.timed(variants[name][1], args.seconds))
        for name in sorted(rates):
            print('{:<22}'.format(name) + ', '.join('{:.2f}'.format(rate) for rate in rates[name]) + ' img/s')
        for sess, _ in variants.values():
            sess.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = np.median(np.array(rates['tf.data + summaries']) / np.array(rates['constant batch']))
    print('CelebA {}: real input + summaries run at {:.1%} of the constant-batch step (median of {} rounds)'.format(
        args.precision, ratio, len(rates['constant batch'])))
    table = {'columns': ['CelebA {} step'.format(args.precision), 'img/s per round'],
             'rows': [[name, ', '.join('{:.2f}'.format(rate) for rate in rates[name])] for name in sorted(rates)]}
    table['rows'].append(['real input + summaries / constant batch', '{:.1%} (median of the rounds)'.format(ratio)])
    harness.write_result({'precision': args.precision, 'images_per_second': rates, 'median_ratio': float(ratio),
                          'tables': {'main': table}}, args.json)


if __name__ == '__main__':
    main()
