"""--explore: the latent space in the browser. One page and a small JSON API on a threaded HTTP server.

    GET  /                     the page (explorer_page/: plain HTML, JS and CSS, nothing fetched from elsewhere)
    GET  /api/dims             dims ordered by held-out KL, their KL, names, the start points
    POST /api/decode {"z": []} the decoded image of z, as PNG (batch norm on its moving averages)
    GET  /api/heldout?index=k  held-out image k: its encoder mean z and the image itself

Every request is checked before it reaches TensorFlow; a bad one gets a 4xx and a one-line JSON error.
Only the page's own files are served, read once at start-up: no path from a request touches the disk.
"""
import base64
import io
import ipaddress
import json
import math
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
from PIL import Image

import console
import evaluate
import figures
import images
import metrics
import pictures
from common import SettingsError

PAGE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'explorer_page')
PAGE_FILES = {'/': ('index.html', 'text/html; charset=utf-8'),
              '/explorer.js': ('explorer.js', 'text/javascript; charset=utf-8'),
              '/explorer.css': ('explorer.css', 'text/css; charset=utf-8')}
Z_LIMIT = 10.0              # |z| above this is refused: far outside anything the prior or the encoder gives
MAX_BODY_BYTES = 1 << 16    # a decode request is a few hundred bytes; anything over this is refused
DRAIN_SECONDS = 5.0         # on stop, how long requests in flight may take to finish before they are cut off
CLIENT_TIMEOUT = 10.0       # seconds a client may stall mid-request before its connection is dropped
POLL_SECONDS = 0.1          # how often the accept loop and the main thread look for a stop


def is_loopback(host):
    """Whether `host` only accepts connections from this machine: 'localhost' or any address of
    127.0.0.0/8 or ::1."""
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:     # a host name: it may resolve to anything
        return False


class BadRequest(Exception):
    """A request the explorer refuses: its HTTP status and a one-line reason."""

    def __init__(self, status, message):
        Exception.__init__(self, message)
        self.status = status


def png_bytes(image):
    """[H, W, C] floats in [0, 1] -> PNG bytes, quantised as every grid of --traverse is."""
    pixels = images.make_grid(image[None], (1, 1))
    buffer = io.BytesIO()
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(buffer, format='PNG')
    return buffer.getvalue()


def parse_z(body, latent_dim):
    """A decode request's body -> z [latent_dim] float32; BadRequest (400) unless it is {"z": [numbers]}
    of the right length, finite and within [-Z_LIMIT, Z_LIMIT]."""
    try:
        values = json.loads(body.decode('utf-8'))['z']
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise BadRequest(400, 'the body must be JSON {"z": [numbers]}')
    if not isinstance(values, list) or len(values) != latent_dim:
        raise BadRequest(400, 'z must be a list of {} numbers, got {}'.format(
            latent_dim, len(values) if isinstance(values, list) else type(values).__name__))
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise BadRequest(400, 'z must hold numbers only')
    if not all(math.isfinite(v) for v in values):
        raise BadRequest(400, 'z must be finite: no NaN or infinity')
    if any(abs(v) > Z_LIMIT for v in values):
        raise BadRequest(400, 'z values must lie in [-{0:g}, {0:g}]'.format(Z_LIMIT))
    return np.asarray(values, np.float32)


class Explorer(object):
    """What the page explores: a restored model, its dims ordered by the information each carries on held-out
    data (KL, or the entropy of a quantized dim), their names,
    and the start points (the traversal seeds and the first held-out images with their codes)."""

    def __init__(self, restored, num_images):
        self.restored = restored
        cfg = restored.cfg
        self.latent_dim = cfg.latent_dim
        try:
            _, z_mean, z_logvar, self.images = restored.encode_held_out_keeping_images(
                cfg.traverse_kl_images, num_images)
            self.kl = metrics.information_per_dim(z_mean, z_logvar, restored.quantized)
            self.codes = z_mean[:len(self.images)]
        except SettingsError as missing:
            print('no held-out images: dims in index order, no KL and no held-out start points ({})'.format(missing))
            self.kl, self.images = None, np.zeros([0] + list(cfg.img_shape), np.float32)
            self.codes = np.zeros((0, cfg.latent_dim), np.float32)
        self.names = evaluate.attribute_names(cfg.results_dir, restored.step)
        self.seeds = restored.to_code(pictures.prior_seeds(cfg.latent_dim))
        self._decoding = threading.Condition()   # guards the two below
        self._running = 0                         # decodes inside TensorFlow now
        self._closed = False

    def dims(self):
        """The page's set-up: dims in KL order (index order without held-out data), which are active."""
        cfg = self.restored.cfg
        if self.kl is None:
            order, active = list(range(cfg.latent_dim)), list(range(cfg.latent_dim))
        else:
            active, inactive = figures.rank_dims(self.kl, cfg.inactive_kl)
            order = active + inactive
        return {'latent_dim': cfg.latent_dim, 'order': order, 'active': active,
                'kl': None if self.kl is None else [float(v) for v in self.kl],
                'information': metrics.information_label(self.restored.quantized),
                'values': None if not self.restored.quantized else self.restored.values.tolist(),
                'inactive_kl': cfg.inactive_kl, 'names': {str(d): name for d, name in self.names.items()},
                'seeds': self.seeds.tolist(), 'held_out': len(self.images), 'img_shape': list(cfg.img_shape),
                'z_limit': Z_LIMIT, 'dataset': cfg.dataset, 'step': self.restored.step}

    def decode_png(self, z):
        with self._decoding:
            if self._closed:
                raise BadRequest(503, 'the explorer is stopping')
            self._running += 1
        try:
            return png_bytes(self.restored.decode(z[None])[0])
        finally:
            with self._decoding:
                self._running -= 1
                self._decoding.notify_all()

    def close(self, timeout=DRAIN_SECONDS):
        """Refuses new decodes, waits (at most `timeout` s) for those inside TensorFlow, closes the
        session and lets go of the model.

        Call it from the main thread: the model's session must be closed and freed there. Freed by a
        request thread while the interpreter shuts down, TF_DeleteSession would return into a thread
        that Python has already ended, and glibc aborts the process.
        """
        with self._decoding:
            self._closed = True
            self._decoding.wait_for(lambda: self._running == 0, timeout)
        self.restored.close()
        self.restored = None

    def held_out(self, query):
        """Held-out image k of ?index=k: its encoder mean and the image as a data URL; BadRequest otherwise."""
        text = query.get('index', [''])[0]
        if not text.isdigit():
            raise BadRequest(400, 'index must be a whole number, got {!r}'.format(text))
        index = int(text)
        if index >= len(self.images):
            raise BadRequest(404, 'no held-out image {}: there are {}'.format(index, len(self.images)))
        encoded = base64.b64encode(png_bytes(self.images[index])).decode('ascii')
        return {'index': index, 'z': self.codes[index].tolist(), 'image': 'data:image/png;base64,' + encoded}


def read_page_files():
    """{url path: (bytes, content type)} of the page, read once."""
    files = {}
    for route, (name, kind) in PAGE_FILES.items():
        with open(os.path.join(PAGE_DIR, name), 'rb') as f:
            files[route] = (f.read(), kind)
    return files


class Handler(BaseHTTPRequestHandler):
    """Routes by exact path to the page's files and the API; answers errors as one-line JSON."""
    server_version = 'beta-vae-explorer'
    # HTTP/1.1 for `Expect: 100-continue`, with one request per connection (Connection: close), so a
    # stop never waits on an idle keep-alive connection.
    protocol_version = 'HTTP/1.1'
    timeout = CLIENT_TIMEOUT

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.answer(self.get)

    def do_POST(self):
        self.answer(self.post)

    def get(self, path, query):
        if path in self.server.page_files:
            return self.server.page_files[path]
        if path == '/api/dims':
            return json.dumps(self.server.explorer.dims()).encode('utf-8'), 'application/json'
        if path == '/api/heldout':
            return json.dumps(self.server.explorer.held_out(query)).encode('utf-8'), 'application/json'
        raise BadRequest(404, 'no such page: {}'.format(path[:100]))

    def post(self, path, query):
        if path != '/api/decode':
            raise BadRequest(404, 'no such page: {}'.format(path[:100]))
        length = self.headers.get('Content-Length', '')
        if not length.isdigit():
            raise BadRequest(411, 'a decode request needs a Content-Length')
        if int(length) > MAX_BODY_BYTES:
            raise BadRequest(413, 'the body is {} bytes; at most {} are read'.format(length, MAX_BODY_BYTES))
        z = parse_z(self.rfile.read(int(length)), self.server.explorer.latent_dim)
        return self.server.explorer.decode_png(z), 'image/png'

    def answer(self, route):
        url = urlparse(self.path)
        try:
            body, kind = route(url.path, parse_qs(url.query))
            status = 200
        except BadRequest as refused:
            self.close_connection = refused.status in (411, 413)   # its body was not read
            body, kind, status = json.dumps({'error': str(refused)}).encode('utf-8'), 'application/json', \
                refused.status
        self.send_response(status)
        self.send_header('Content-Type', kind)
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Cache-Control', 'no-store')
        self.send_header('Connection', 'close')
        self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    """A thread per request, each one tracked so that a stop can wait for the requests in flight.

    The threads are daemons: a client that never finishes its request can not keep the process alive.
    """
    daemon_threads = True

    def __init__(self, address, explorer):
        ThreadingHTTPServer.__init__(self, address, Handler)
        self.explorer = explorer
        self.page_files = read_page_files()
        self.in_flight = set()
        self.in_flight_lock = threading.Lock()

    def process_request(self, request, client_address):
        thread = threading.Thread(target=self._handle_and_forget, args=(request, client_address))
        thread.daemon = True
        with self.in_flight_lock:
            self.in_flight.add(thread)
        thread.start()

    def _handle_and_forget(self, request, client_address):
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self.in_flight_lock:
                self.in_flight.discard(threading.current_thread())

    def drain(self, timeout):
        """Waits up to `timeout` s for the requests in flight; returns how many are still running."""
        deadline = time.time() + timeout
        with self.in_flight_lock:
            threads = list(self.in_flight)
        for thread in threads:
            thread.join(max(0.0, deadline - time.time()))
        return sum(thread.is_alive() for thread in threads)


def make_server(explorer, host, port):
    """A threaded HTTP server for `explorer`, bound to (host, port); port 0 takes a free one."""
    return Server((host, port), explorer)


def serve(restored, host, port):
    """Serves the explorer until SIGINT or SIGTERM, then stops in order; returns 0.

    The order: stop accepting connections; let the requests in flight finish (at most DRAIN_SECONDS);
    close the TensorFlow session, here in the main thread; say `explorer stopped`.
    """
    explorer = Explorer(restored, restored.cfg.explore_images)
    server = make_server(explorer, host, port)
    if not is_loopback(host):
        print('warning: serving on {}: anyone who can reach port {} can use the explorer'.format(
            host, server.server_address[1]), file=sys.stderr)
    print('exploring {} at http://{}:{}/ (Ctrl-C stops)'.format(
        restored.checkpoint, 'localhost' if host in ('0.0.0.0', '::') else host, server.server_address[1]), flush=True)
    # The signal only sets a flag. Raised as an exception in the accept loop instead, it could land
    # while a new connection is handed to its thread, and socketserver would then shut that
    # connection down under the running request.
    # A second signal during the bounded stop changes nothing, and from the stop on, signals are ignored
    # until the process exits.
    signals = console.StopSignals(abort_on_second=False).install()
    loop = threading.Thread(target=server.serve_forever, args=(POLL_SECONDS,), name='accept', daemon=True)
    loop.start()
    try:
        while signals.received is None:
            time.sleep(POLL_SECONDS)
    finally:
        signals.ignore_from_now()
        server.shutdown()          # the accept loop ends; no connection is taken after this
        server.server_close()
        cut_off = server.drain(DRAIN_SECONDS)
        explorer.close()
    if cut_off:
        print('{} requests did not finish within {:g} s and were cut off'.format(cut_off, DRAIN_SECONDS),
              file=sys.stderr)
    print('explorer stopped', flush=True)
    return 0
