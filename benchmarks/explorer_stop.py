"""Does `vae.py --explore` stop cleanly every time? Start, serve, stop with decodes in flight, many times.

    python -m benchmarks.explorer_stop                      # 200 cycles, both cores loaded by 2 busy processes
    python -m benchmarks.explorer_stop --cycles 20 --no-load

Each cycle starts the explorer on a tiny dSprites checkpoint (trained once, 1 step), waits until it
serves, asks for the dims, opens one decode whose handler is reading its body (`Expect: 100-continue`)
and fires a few more, then sends SIGINT or SIGTERM (alternating) and sends the held body. A cycle is
clean when the held decode is answered with a PNG and the process exits 0 with `explorer stopped`.
Prints the counts and writes results/explorer_stop.json.
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from benchmarks import harness
from hardware import import_tensorflow

TINY = ['--dataset', 'dsprites', '--batch_size', '8', '--filters', '8,8,8,8', '--hidden_units', '16,16',
        '--traverse_kl_images', '50', '--explore_images', '6']
LATENT_DIM = 10               # dSprites' default, which TINY keeps
EXTRA_DECODES = 3             # complete decode requests fired just before the signal


def folders(root):
    return ['--checkpoint_dir', os.path.join(root, 'ck'), '--results_dir', os.path.join(root, 'res'),
            '--summary_dir', os.path.join(root, 'sum')]


def start_explorer(root, host='127.0.0.2'):
    """`vae.py --explore` on `host`, started as a shell's background job would be: SIGINT ignored
    (Ctrl-C must still stop it). (process, host, port) once it serves."""
    process = subprocess.Popen([sys.executable, harness.VAE, '--explore', '--port', '0',
                                '--host', host] + TINY + folders(root), cwd=harness.ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, universal_newlines=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    line = ''
    while 'exploring' not in line:
        line = process.stdout.readline()
        if not line:
            process.kill()
            raise RuntimeError('the explorer did not start: ' + process.communicate()[1])
    address, port = line.split(' at http://')[1].split('/')[0].split(':')
    return process, address, int(port)


def read_until(client, marker):
    """Bytes from the socket up to and including `marker`, or (marker None) until the server closes."""
    received = b''
    while marker is None or marker not in received:
        chunk = client.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def decode_body(value=0.5):
    return json.dumps({'z': [value] * LATENT_DIM}).encode('utf-8')


def http_request(host, port, method, path, body=b''):
    """One request on its own connection: (status line, body bytes)."""
    with socket.create_connection((host, port), timeout=30) as client:
        client.sendall('{} {} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n'.format(
            method, path, host, len(body)).encode('ascii') + body)
        head, _, content = read_until(client, None).partition(b'\r\n\r\n')
    return head.split(b'\r\n')[0], content


def stop_with_a_decode_in_flight(process, host, port, signum):
    """Opens a decode whose handler is running and waiting for its body, sends `signum`, then the body.
    Returns the raw response to that decode."""
    body = decode_body()
    with socket.create_connection((host, port), timeout=30) as client:
        client.sendall('POST /api/decode HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nExpect: 100-continue'
                       '\r\n\r\n'.format(host, len(body)).encode('ascii'))
        if not read_until(client, b'\r\n\r\n').startswith(b'HTTP/1.1 100 Continue'):
            raise RuntimeError('no 100 Continue from the explorer')
        process.send_signal(signum)
        client.sendall(body)
        return read_until(client, None)


def cycle(root, signum):
    """One start/serve/stop cycle: (clean, what went wrong or '')."""
    process, host, port = start_explorer(root)
    problem, signalled = '', False
    try:
        status, _ = http_request(host, port, 'GET', '/api/dims')
        if not status.endswith(b'200 OK'):
            problem = 'dims: {}'.format(status)
        extra = [threading.Thread(target=http_request, args=(host, port, 'POST', '/api/decode', decode_body(v)),
                                  daemon=True) for v in range(EXTRA_DECODES)]
        for thread in extra:
            thread.start()
        response = stop_with_a_decode_in_flight(process, host, port, signum)
        signalled = True
        if not (response.startswith(b'HTTP/1.1 200') and b'image/png' in response.split(b'\r\n\r\n')[0]):
            problem = problem or 'held decode answered {!r}'.format(response[:40])
    except (OSError, RuntimeError) as error:
        problem = 'client: {}'.format(error)
    finally:
        if not signalled and process.poll() is None:
            process.send_signal(signum)
        out, err = process.communicate(timeout=120)
    if process.returncode != 0 or not out.rstrip().endswith('explorer stopped'):
        problem = 'exit code {}: {}'.format(process.returncode, err.strip().splitlines()[-1:] or '')
    return not problem, problem


def busy_cores(count):
    """`count` processes that keep a core busy each, as other work on the machine would."""
    return [subprocess.Popen([sys.executable, '-c', 'while True: pass']) for _ in range(count)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--cycles', type=int, default=200)
    parser.add_argument('--no-load', dest='load', action='store_false', help='do not load the cores meanwhile')
    parser.add_argument('--json', default=harness.default_path('explorer_stop'))
    args = parser.parse_args(argv)
    version = import_tensorflow().VERSION
    root = tempfile.mkdtemp(prefix='explorer_stop_')
    subprocess.check_call([sys.executable, harness.VAE, '--train', '--steps', '1'] + TINY
                          + folders(root), cwd=harness.ROOT, stdout=subprocess.DEVNULL)
    load = busy_cores(os.cpu_count() or 1) if args.load else []
    failures, started = [], time.time()
    try:
        for i in range(args.cycles):
            signum = (signal.SIGINT, signal.SIGTERM)[i % 2]
            clean, problem = cycle(root, signum)
            if not clean:
                failures.append({'cycle': i, 'signal': signal.Signals(signum).name, 'problem': problem})
                print('cycle {} ({}): {}'.format(i, signal.Signals(signum).name, problem), flush=True)
    finally:
        for process in load:
            process.kill()
    minutes = (time.time() - started) / 60.0
    print('{:<12}{:>8}{:>8}{:>10}{:>10}'.format('tensorflow', 'cycles', 'clean', 'load', 'minutes'))
    print('{:<12}{:>8}{:>8}{:>10}{:>10.1f}'.format(version, args.cycles,
                                                   args.cycles - len(failures), len(load), minutes))
    harness.write_result({'cycles': args.cycles, 'clean': args.cycles - len(failures), 'busy_processes': len(load),
                          'minutes': minutes, 'failures': failures}, args.json)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
