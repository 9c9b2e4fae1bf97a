"""How fast does --explore answer? Decode latency with concurrent clients, for each model.

    python -m benchmarks.explorer_latency [--clients 4] [--requests 100] [--json results/explorer_latency.json]

For the dSprites and the CelebA model (freshly initialised: a decode costs the same whatever the
weights), and the CelebA model in bfloat16 where this CPU has fast kernels for it, serves the explorer on 127.0.0.1 and has `--clients` threads each send `--requests` decode
requests of random z, one after another. Prints p50, p95 and requests/s per model and writes JSON.
"""
import argparse
import http.client
import json
import os
import sys
import tempfile
import threading
import time

from hardware import import_tensorflow

tf = import_tensorflow()

import numpy as np  # noqa: E402

import checkpoints  # noqa: E402
import inference  # noqa: E402
import explorer  # noqa: E402
import hardware  # noqa: E402
import settings  # noqa: E402
import training  # noqa: E402
from benchmarks import harness  # noqa: E402
from kit import runs  # noqa: E402
from kit.graphs import training_batch  # noqa: E402


TARGETS_MS = {'dsprites': 100.0, 'celeba': 250.0}   # p95 the explorer should stay within on a 2-core CPU


def fresh_checkpoint(name, folder, precision='float32'):
    """Settings of `name` writing into folder, with a freshly initialised checkpoint saved there."""
    cfg = settings.resolve(name, runs.run_folders(folder) + [('data_dir_path', os.path.join(folder, 'no_data')),
                                                          ('precision', precision)])
    with tf.Graph().as_default():
        training.build_training(training_batch(cfg, tf.zeros([cfg.batch_size] + list(cfg.img_shape))), cfg)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            checkpoints.save(sess, tf.train.Saver(), cfg, 0)
    return cfg


def latencies(port, latent_dim, clients, requests):
    """Seconds of every decode request, and the wall time of all of them."""
    times = []

    def client(seed):
        rng = np.random.RandomState(seed)
        connection = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
        for _ in range(requests):
            body = json.dumps({'z': rng.uniform(-3, 3, latent_dim).tolist()})
            start = time.time()
            connection.request('POST', '/api/decode', body, {'Content-Type': 'application/json'})
            response = connection.getresponse()
            response.read()
            assert response.status == 200, response.status
            times.append(time.time() - start)
        connection.close()

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(clients)]
    started = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return np.array(times), time.time() - started


def measure(name, clients, requests, folder, precision='float32'):
    cfg = fresh_checkpoint(name, os.path.join(folder, name + precision), precision)
    restored = inference.Restored(cfg)
    server = explorer.make_server(explorer.Explorer(restored, 0), '127.0.0.1', 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        latencies(server.server_address[1], cfg.latent_dim, 1, 5)    # warm-up
        times, wall = latencies(server.server_address[1], cfg.latent_dim, clients, requests)
    finally:
        server.shutdown()
        server.server_close()
    return {'p50_ms': float(np.percentile(times, 50) * 1000), 'p95_ms': float(np.percentile(times, 95) * 1000),
            'requests_per_s': len(times) / wall, 'requests': len(times), 'clients': clients,
            'target_p95_ms': TARGETS_MS[name], 'precision': precision}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--clients', type=int, default=4)
    parser.add_argument('--requests', type=int, default=100, help='requests per client')
    parser.add_argument('--json', default=harness.default_path('explorer_latency'))
    args = parser.parse_args(argv)
    report = {'models': {}}
    with tempfile.TemporaryDirectory() as folder:
        for name in ('dsprites', 'celeba'):
            report['models'][name] = measure(name, args.clients, args.requests, folder)
        if hardware.fast_cpu_bfloat16():   # `--explore --precision bfloat16` decodes in bfloat16
            report['models']['celeba bfloat16'] = measure('celeba', args.clients, args.requests, folder, 'bfloat16')
    print('{:<17}{:>9}{:>10}{:>10}{:>12}{:>14}'.format('model', 'clients', 'p50 ms', 'p95 ms', 'requests/s',
                                                      'p95 target'))
    for name, row in report['models'].items():
        print('{:<17}{:>9}{:>10.1f}{:>10.1f}{:>12.1f}{:>11.0f} ms {}'.format(
            name, row['clients'], row['p50_ms'], row['p95_ms'], row['requests_per_s'], row['target_p95_ms'],
            'met' if row['p95_ms'] <= row['target_p95_ms'] else 'MISSED'))
    harness.write_result(report, args.json)
    return 0


if __name__ == '__main__':
    sys.exit(main())
