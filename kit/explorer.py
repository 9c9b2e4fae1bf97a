"""`vae.py --explore` as a user's browser meets it: started as a process, asked over HTTP, and stopped by a
signal while a decode is in flight."""
import json
import signal
import socket
import subprocess
import sys
import urllib.parse

from kit.runs import ROOT, VAE


def ignore_sigint():
    """As a shell's background job starts: SIGINT ignored, so only the explorer's own handling can stop it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def start(args, host='127.0.0.2'):
    """(process, host, port) of `vae.py --explore ARGS` on `host`, once it serves."""
    process = subprocess.Popen([sys.executable, VAE, '--explore', '--port', '0', '--host', host] + list(args),
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                               preexec_fn=ignore_sigint)
    for line in process.stdout:
        if ' at http://' in line:
            address = urllib.parse.urlsplit(line.split(' at ', 1)[1].strip())
            return process, address.hostname, address.port
    process.kill()
    raise RuntimeError('the explorer did not start: ' + process.communicate()[1])


def read_until(connection, marker):
    """Bytes from the socket up to and including `marker`, or (marker None) until the server closes."""
    received = b''
    while marker is None or marker not in received:
        chunk = connection.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def decode_body(latent_dim, value=0.5):
    return json.dumps({'z': [value] * latent_dim}).encode('utf-8')


def request(host, port, method, path, body=b''):
    """One request on its own connection: (status line, body bytes)."""
    with socket.create_connection((host, port), timeout=30) as connection:
        connection.sendall('{} {} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n'.format(
            method, path, host, len(body)).encode('ascii') + body)
        head, _, content = read_until(connection, None).partition(b'\r\n\r\n')
    return head.split(b'\r\n')[0], content


def stop_while_decoding(process, host, port, signum, latent_dim):
    """Sends a decode's headers with `Expect: 100-continue`, so that its handler is running when `signum`
    reaches the process, then its body. The raw bytes of the answer."""
    body = decode_body(latent_dim)
    head = 'POST /api/decode HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n'
    with socket.create_connection((host, port), timeout=30) as connection:
        connection.sendall(head.format(host, len(body)).encode('ascii'))
        interim = read_until(connection, b'\r\n\r\n')
        if not interim.startswith(b'HTTP/1.1 100 Continue'):
            raise RuntimeError('no 100 Continue from the explorer: {!r}'.format(interim[:40]))
        process.send_signal(signum)
        connection.sendall(body)
        return read_until(connection, None)
