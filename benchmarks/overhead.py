"""The training loop's input and summary overhead, measured without the machine's drift.

    python -m benchmarks.overhead [--dataset celeba|dsprites] [--precision float32] [--rounds 3] [--seconds 10]

Keeps three training sessions open in one process: the step on a constant in-memory batch, the
step on the real tf.data pipeline (decode + crop of CelebA JPEGs, or dSprites rendered), and the
same with every summary fetched every step. It times them in turns, `rounds` times each, so a slow
spell of a shared machine hits all alike, and prints each round and the median ratios to the constant
batch. About 3 minutes on a 2-core CPU.
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

NAMES = {'celeba': 'CelebA', 'dsprites': 'dSprites'}


def open_variants(cfg):
    """{name: (session, step)}: the step on a constant batch, on the real pipeline, and on the real
    pipeline with every summary fetched."""
    def real():
        inputs = data.training_input(cfg, data.ONE_BATCH)
        return data.step_batch(tf.data.make_one_shot_iterator(inputs.dataset).get_next(), inputs.count)
    return {'constant batch': throughput.open_step(cfg, lambda: throughput.constant_batch(cfg)),
            'tf.data': throughput.open_step(cfg, real),
            'tf.data + summaries': throughput.open_step(cfg, real, with_summaries=True)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--dataset', default='celeba', choices=sorted(NAMES))
    parser.add_argument('--precision', default='float32', choices=sorted(model.COMPUTE_DTYPES))
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--seconds', type=float, default=10.0, help='timed per measurement')
    parser.add_argument('--json', default=harness.default_path('overhead'))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='beta_vae_overhead_')
    try:
        overrides = [('precision', args.precision)]
        if args.dataset == 'celeba':
            folder = os.path.join(work, 'img_align_celeba')
            harness.write_celeba_folder(folder, 512)
            overrides += [('data_dir_path', folder), ('holdout_percent', '10')]
        cfg = settings.resolve(args.dataset, overrides)
        variants = open_variants(cfg)
        rates = harness.alternate(sorted(variants), args.rounds,
                                  lambda name: cfg.batch_size / harness.timed(variants[name][1], args.seconds))
        for sess, _ in variants.values():
            sess.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    what = '{} {}'.format(NAMES[args.dataset], args.precision)
    table = {'columns': ['{} step'.format(what), 'img/s per round'],
             'rows': [[name, ', '.join('{:.2f}'.format(rate) for rate in rates[name])] for name in sorted(rates)]}
    ratios = {}
    for name in ('tf.data', 'tf.data + summaries'):
        ratios[name] = float(np.median(np.array(rates[name]) / np.array(rates['constant batch'])))
        table['rows'].append(['{} / constant batch'.format(name), '{:.1%} (median of the rounds)'.format(ratios[name])])
    print('\n'.join(' | '.join(row) for row in [table['columns']] + table['rows']))
    harness.write_result({'dataset': args.dataset, 'precision': args.precision, 'images_per_second': rates,
                          'median_ratio': ratios['tf.data + summaries'], 'median_ratios': ratios,
                          'tables': {'main': table}}, args.json)


if __name__ == '__main__':
    main()
