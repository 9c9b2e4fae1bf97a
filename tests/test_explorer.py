"""--explore: the JSON API against bad input, the PNG against Restored.decode, the dims' order, a real browser."""
import base64
import http.client
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from PIL import Image

import checkpoints
import inference
import data
import explorer
import images
import pictures
import settings
import vae
from kit import explorer as client
from kit.runs import folder_flags
from devtools import Browser, find_chromium
from conftest import TINY_DSPRITES

tf.disable_v2_behavior()

TINY = TINY_DSPRITES + ['--traverse_kl_images', '50', '--explore_images', '6']
LATENT_DIM = 10   # dSprites' default, which TINY keeps
# The KL each dim of the hand-set checkpoint has: z_mean is the bias, log-variance 0, so KL = mean^2 / 2.
SET_MEANS = np.array([0.0, 2.0, 0.5, 3.0, 0.0, 1.0, 0.0, 0.0, 1.5, 0.0], np.float32)


def set_means_and_save(cfg):
    """A new checkpoint of the latest one whose encoder outputs z_mean = SET_MEANS and log-variance 0
    for every image: the last layer's kernel zeroed, its bias set."""
    restored = inference.Restored(cfg)
    with restored.graph.as_default():
        kernel = [v for v in tf.global_variables() if v.op.name == 'encoder/z_params/kernel'][0]
        bias = [v for v in tf.global_variables() if v.op.name == 'encoder/z_params/bias'][0]
        step = tf.train.get_or_create_global_step()
        restored.sess.run([tf.assign(kernel, tf.zeros_like(kernel)),
                           tf.assign(bias, np.concatenate([SET_MEANS, np.zeros(10, np.float32)]))])
        restored.sess.run(step.initializer)
        restored.sess.run(tf.assign(step, restored.step + 1))
        checkpoints.save(restored.sess, tf.train.Saver(max_to_keep=checkpoints.KEEP), restored.cfg, restored.step + 1)


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp('explore')
    assert vae.main(['--train', '--steps', '2'] + TINY + folder_flags(folder)) == 0
    cfg = settings.resolve('dsprites', settings.parse_overrides(TINY[2:] + folder_flags(folder)))
    set_means_and_save(cfg)
    restored = inference.Restored(cfg)
    assert restored.step == 3
    httpd = explorer.make_server(explorer.Explorer(restored, cfg.explore_images), '127.0.0.1', 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.restored = restored
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    assert httpd.drain(explorer.DRAIN_SECONDS) == 0
    httpd.explorer.close()


def request(server, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection('127.0.0.1', server.server_address[1], timeout=30)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    content = response.read()
    connection.close()
    return response.status, response.getheader('Content-Type'), content


def decode_request(server, z):
    return request(server, 'POST', '/api/decode', json.dumps({'z': z}), {'Content-Type': 'application/json'})


@pytest.mark.parametrize('body, status, message', [
    ({'z': [0.0] * 9}, 400, 'z must be a list of 10 numbers, got 9'),
    ({'z': [0.0] * 9 + ['x']}, 400, 'z must hold numbers only'),
    ({'z': [0.0] * 9 + [True]}, 400, 'z must hold numbers only'),
    ({'z': [0.0] * 9 + [float('nan')]}, 400, 'z must be finite'),
    ({'z': [0.0] * 9 + [float('inf')]}, 400, 'z must be finite'),
    ({'z': [0.0] * 9 + [10.5]}, 400, 'z values must lie in [-10, 10]'),
    ({'w': [0.0] * 10}, 400, 'the body must be JSON {"z": [numbers]}'),
    ({'z': 'zeros'}, 400, 'z must be a list of 10 numbers, got str'),
])
def test_bad_decode_requests_get_a_4xx_and_one_line(server, body, status, message):
    code, kind, content = request(server, 'POST', '/api/decode', json.dumps(body), {'Content-Type': 'application/json'})
    assert (code, kind) == (status, 'application/json')
    error = json.loads(content.decode('utf-8'))['error']
    assert message in error and '\n' not in error


def test_other_bad_requests(server):
    assert request(server, 'POST', '/api/decode', b'not json')[0] == 400
    status, _, content = request(server, 'POST', '/api/decode', b'x' * (explorer.MAX_BODY_BYTES + 1))
    assert status == 413 and 'at most' in json.loads(content.decode())['error']
    for path, status in (('/api/heldout?index=6', 404), ('/api/heldout?index=-1', 400), ('/api/heldout', 400),
                         ('/nowhere', 404), ('/../config.py', 404), ('/explorer_page/index.html', 404),
                         ('/%2e%2e/vae.py', 404)):
        code, kind, content = request(server, 'GET', path)
        assert (code, kind) == (status, 'application/json'), path
        assert json.loads(content.decode())['error']
    assert request(server, 'POST', '/api/dims', b'{}')[0] == 404


def test_the_page_and_its_files_are_served(server):
    for path, kind in (('/', 'text/html'), ('/explorer.js', 'text/javascript'), ('/explorer.css', 'text/css')):
        status, got, content = request(server, 'GET', path)
        assert status == 200 and got.startswith(kind) and content


def test_decode_gives_the_pixels_of_restored_decode(server):
    z = np.random.RandomState(0).uniform(-3, 3, 10).astype(np.float32)
    status, kind, content = decode_request(server, z.tolist())
    assert (status, kind) == (200, 'image/png')
    with Image.open(io.BytesIO(content)) as picture:
        pixels = np.asarray(picture)
    expected = images.make_grid(server.restored.decode(z[None]), (1, 1))[..., 0]
    np.testing.assert_array_equal(pixels, expected)


def test_dims_are_ordered_by_held_out_kl(server):
    status, _, content = request(server, 'GET', '/api/dims')
    dims = json.loads(content.decode('utf-8'))
    expected_kl = SET_MEANS.astype(np.float64) ** 2 / 2
    np.testing.assert_allclose(dims['kl'], expected_kl, atol=1e-5)
    assert dims['active'] == [3, 1, 8, 5, 2]           # KL 4.5, 2, 1.125, 0.5, 0.125; the rest 0 < inactive_kl
    assert dims['order'] == [3, 1, 8, 5, 2, 0, 4, 6, 7, 9]
    assert dims['held_out'] == 6 and len(dims['seeds']) == 5 and dims['step'] == 3


def test_held_out_start_points_carry_their_code_and_image(server):
    status, _, content = request(server, 'GET', '/api/heldout?index=2')
    answer = json.loads(content.decode('utf-8'))
    assert status == 200 and answer['index'] == 2
    np.testing.assert_allclose(answer['z'], SET_MEANS, atol=1e-6)      # what this encoder says of any image
    with Image.open(io.BytesIO(base64.b64decode(answer['image'].split(',')[1]))) as picture:
        assert picture.size == (64, 64)


class PixelMeanEncoder(inference.Restored):
    """A stand-in for Restored: z_mean is each image's mean pixel in every dim, z_logvar its negative."""

    def __init__(self, cfg):   # no checkpoint: the held-out readers are the ones Restored inherits
        self.cfg = cfg

    def encode(self, images):
        mean = np.repeat(images.mean(axis=(1, 2, 3))[:, None], self.cfg.latent_dim, axis=1)
        return mean, -mean


def test_start_points_read_the_held_out_data_once(monkeypatch):
    cfg = settings.resolve('dsprites', settings.parse_overrides([]))
    encoder = PixelMeanEncoder(cfg)
    expected_mean, expected_logvar = encoder.encode_held_out(300)[1:]
    expected_images = data.held_out_images(cfg, 260)
    reads, read_batches = [], data.held_out_batches

    def counted_batches(*args, **kwargs):
        reads.append(args)
        return read_batches(*args, **kwargs)

    monkeypatch.setattr(data, 'held_out_batches', counted_batches)
    _, z_mean, z_logvar, kept = encoder.encode_held_out_keeping_images(300, 260)
    assert len(reads) == 1
    np.testing.assert_array_equal(z_mean, expected_mean)
    np.testing.assert_array_equal(z_logvar, expected_logvar)
    np.testing.assert_array_equal(kept, expected_images)
    assert len(encoder.encode_held_out_keeping_images(5, 64)[3]) == 5    # no more images than were read


def test_concurrent_clients_are_all_answered(server):
    results = []

    def client(seed):
        rng = np.random.RandomState(seed)
        for _ in range(10):
            results.append(decode_request(server, rng.uniform(-2, 2, 10).tolist())[0])

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 40


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp('cli')
    assert vae.main(['--train', '--steps', '1'] + TINY + folder_flags(folder)) == 0
    return folder


# Each case is a new process: the abort this guards against came at interpreter exit, in 1 stop of 6 under
# load. The stress test below runs such cycles 200 times.
@pytest.mark.parametrize('stop', [signal.SIGINT, signal.SIGTERM] * 3)
def test_explorer_stops_cleanly_with_a_decode_in_flight(trained, stop):
    process, host, port = client.start(TINY + folder_flags(trained))
    try:
        connection = http.client.HTTPConnection(host, port, timeout=30)
        connection.request('GET', '/api/dims')
        assert connection.getresponse().status == 200
        connection.close()
        response = client.stop_while_decoding(process, host, port, stop, LATENT_DIM)
    except BaseException:
        process.kill()
        process.communicate()
        raise
    out, err = process.communicate(timeout=60)
    head, _, png = response.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 200') and b'Content-Type: image/png' in head, (head, err)
    Image.open(io.BytesIO(png)).verify()
    assert process.returncode == 0 and out.rstrip().endswith('explorer stopped'), (process.returncode, err)
    assert 'anyone who can reach port' not in err      # 127.0.0.2 is loopback, as all of 127.0.0.0/8
    assert 'terminate called' not in err and 'FATAL' not in err, err


def test_more_signals_while_stopping_and_exiting_change_nothing(trained):
    process, host, port = client.start(TINY + folder_flags(trained))
    try:
        response = client.stop_while_decoding(process, host, port, signal.SIGTERM, LATENT_DIM)
        process.send_signal(signal.SIGINT)      # while it closes: noted, not a second stop
        said = ''
        while 'explorer stopped' not in said:
            said = process.stdout.readline() or 'explorer stopped (the pipe closed)'
        # and on through the interpreter's exit, which puts back the default handlers that kill
        while process.poll() is None:
            process.send_signal(signal.SIGINT)
            time.sleep(0.002)
    except BaseException:
        process.kill()
        process.communicate()
        raise
    _, err = process.communicate(timeout=60)
    assert response.startswith(b'HTTP/1.1 200')
    assert process.returncode == 0 and said == 'explorer stopped\n', (process.returncode, said, err)


def stop_cycle(folder, signum):
    """One start, serve, stop cycle with decodes in flight: what went wrong, or ''."""
    process, host, port = client.start(TINY + folder_flags(folder))
    problem, signalled = '', False
    try:
        status, _ = client.request(host, port, 'GET', '/api/dims')
        problem = '' if status.endswith(b'200 OK') else 'dims: {}'.format(status)
        for value in range(3):   # complete decodes, fired just before the signal
            threading.Thread(target=client.request, daemon=True, args=(
                host, port, 'POST', '/api/decode', client.decode_body(LATENT_DIM, value))).start()
        response = client.stop_while_decoding(process, host, port, signum, LATENT_DIM)
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
    return problem


@pytest.mark.slow
def test_200_stops_under_load_are_all_clean(trained):
    """The stress test: 200 cycles, SIGINT and SIGTERM in turn, every core kept busy by other processes."""
    load = [subprocess.Popen([sys.executable, '-c', 'while True: pass']) for _ in range(os.cpu_count() or 1)]
    try:
        problems = [(k, stop_cycle(trained, (signal.SIGINT, signal.SIGTERM)[k % 2])) for k in range(200)]
    finally:
        for process in load:
            process.kill()
            process.wait()
    assert [(k, problem) for k, problem in problems if problem] == []


def test_only_loopback_addresses_count_as_local():
    for host in ('127.0.0.1', '127.0.0.2', '127.255.255.254', '::1', 'localhost'):
        assert explorer.is_loopback(host), host
    for host in ('0.0.0.0', '::', '192.168.1.5', '10.0.0.1', 'example.org', '128.0.0.1'):
        assert not explorer.is_loopback(host), host


@pytest.mark.skipif(find_chromium() is None, reason='Chromium is not installed (apt-get install chromium); '
                                                     '.ci/run installs it')
def test_a_real_browser_moves_a_slider_and_sees_the_new_decode(server):
    browser = Browser('http://127.0.0.1:{}/'.format(server.server_address[1]))
    try:
        browser.wait_for("document.getElementById('decoded').dataset.z !== undefined")
        start = json.loads(browser.evaluate("document.getElementById('decoded').dataset.z"))
        np.testing.assert_allclose(start, pictures.prior_seeds(10)[0], atol=1e-6)     # traversal seed 1
        first_dim = browser.evaluate("Number(document.querySelector('#sliders input').dataset.dim)")
        assert first_dim == 3                                           # the highest KL first
        box = browser.evaluate("JSON.parse(JSON.stringify(document.querySelector('#sliders input')"
                               ".getBoundingClientRect()))")
        middle = box['top'] + box['height'] / 2
        browser.drag((box['left'] + box['width'] / 2, middle), (box['left'] + box['width'] * 0.9, middle))
        browser.wait_for("JSON.parse(document.getElementById('decoded').dataset.z)[3] !== {}".format(
            json.dumps(start[3])))
        browser.wait_for("JSON.parse(document.getElementById('decoded').dataset.z)[3] === "
                         "Number(document.getElementById('slider-3').value)")
        shown_z = json.loads(browser.evaluate("document.getElementById('decoded').dataset.z"))
        assert shown_z[3] > 2.0 and shown_z[:3] == start[:3] and shown_z[4:] == start[4:]
        png = base64.b64decode(browser.evaluate(
            "fetch(document.getElementById('decoded').src).then(r => r.arrayBuffer())"
            ".then(b => { let s = ''; new Uint8Array(b).forEach(c => s += String.fromCharCode(c)); return btoa(s); })"))
    finally:
        browser.close()
    with Image.open(io.BytesIO(png)) as picture:
        shown = np.asarray(picture)
    expected = images.make_grid(server.restored.decode(np.array([shown_z], np.float32)), (1, 1))[..., 0]
    np.testing.assert_array_equal(shown, expected)
