"""download_data.py against a real HTTP server on 127.0.0.1 serving format-exact stand-ins of every dataset's
published files, with the table's sources, sizes and sums replaced by the server's: each dataset lands
where `--dataset` reads it and trains; cuts resume, failing sources give way, and every failure is one line
that leaves nothing where a dataset reads."""
import gzip
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

import download_data
import fetching
import vae
from conftest import ROOT, folder_flags
from datasets import dsprites
from kit import standins
from test_datasets import small_grids, write_standin  # noqa: F401  (small_grids: the fixture)


class Mirror(object):
    """What the server holds: path -> bytes, and per path a script of one-off answers ('cut', '429',
    '404', '403', 'html'); a log of (path, Range) requests."""

    def __init__(self):
        self.files, self.scripts, self.requests = {}, {}, []

    def add(self, path, content, script=()):
        self.files[path] = content
        self.scripts[path] = list(script)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        mirror = self.server.mirror
        mirror.requests.append((self.path, self.headers.get('Range')))
        script = mirror.scripts.get(self.path, [])
        event = script.pop(0) if script else ''
        if event == 'html' or (self.path not in mirror.files and event == ''):
            status = 200 if event == 'html' else 404
            return self.answer(status, b'<!DOCTYPE html><html><body>Not here</body></html>', 'text/html')
        if event in ('404', '403'):
            return self.answer(int(event), b'no', 'text/plain')
        if event == '429':
            return self.answer(429, b'', 'text/plain', Retry_After='1')
        content = mirror.files[self.path]
        start = int(self.headers['Range'].split('=')[1].split('-')[0]) if self.headers.get('Range') else 0
        if start >= len(content) and start:
            return self.answer(416, b'', 'text/plain', Content_Range='bytes */{}'.format(len(content)))
        body = content[start:]
        extra = {'Content_Range': 'bytes {}-{}/{}'.format(start, len(content) - 1, len(content))} if start else {}
        if event == 'cut':
            self.close_connection = True
        self.answer(206 if start else 200, body, 'application/octet-stream', cut=event == 'cut', **extra)

    def answer(self, status, body, kind, cut=False, **headers):
        self.send_response(status)
        self.send_header('Content-Type', kind)
        self.send_header('Content-Length', str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace('_', '-'), value)
        self.end_headers()
        try:
            self.wfile.write(body[:len(body) // 2] if cut else body)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def mirror(monkeypatch):
    server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    server.mirror = Mirror()
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(fetching, 'RETRY_DELAYS', (0, 0, 0))
    server.mirror.url = 'http://127.0.0.1:{}'.format(server.server_address[1])
    yield server.mirror
    server.shutdown()
    server.server_close()


def md5(data):
    return hashlib.md5(data).hexdigest()


def published_standins(name, tmp_path):
    """{published file name: bytes} of a dataset's stand-in, in the form its sources publish it."""
    folder = write_standin(name, str(tmp_path / 'standin' / name)) if name != 'dsprites' else None
    if name == 'dsprites':
        buffer = io.BytesIO()
        np.savez(buffer, imgs=np.zeros((6, 64, 64), np.uint8), latents_classes=np.zeros((6, 6), np.int64))
        return {download_data.DSPRITES_NPZ: buffer.getvalue()}
    if name == 'cars3d':
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode='w:gz') as tar:
            for file_name in sorted(os.listdir(folder)):
                tar.add(os.path.join(folder, file_name), 'data/cars/' + file_name)
        return {'nips2015-analogy-data.tar.gz': buffer.getvalue()}
    published = {}
    for file_name in os.listdir(folder):
        data = open(os.path.join(folder, file_name), 'rb').read()
        published[file_name + '.gz' if name == 'smallnorb' else file_name] = gzip.compress(data) \
            if name == 'smallnorb' else data
    if name == 'scream_dsprites':
        published = {'The_Scream.jpg': published['scream.jpg']}
    return published


def closed_port():
    """A port on 127.0.0.1 that nothing listens on: a connection to it is refused."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def serve(monkeypatch, mirror, name, tmp_path, prefix='/files/', origin=None):
    """Serves the stand-in under its published names and points the table at it: at the server, or with
    `origin` at that base URL, the server then standing in for a mirror under `prefix`."""
    published = published_standins(name, tmp_path)
    for file_name, data in published.items():
        mirror.add(prefix + file_name, data)
    items = []
    for item in download_data.FILES[name]:
        source = item.sources[0]
        file_name = os.path.basename(source.url)
        items.append(item._replace(sources=[source._replace(url=(origin or mirror.url + prefix) + file_name,
                                                            size=len(published[file_name]),
                                                            md5=md5(published[file_name]))]))
    monkeypatch.setitem(download_data.FILES, name, items)
    return published


@pytest.mark.parametrize('name', sorted(download_data.FILES))
def test_each_dataset_lands_where_its_dataset_reads_it_and_trains(name, mirror, small_grids, monkeypatch,  # noqa: F811
                                                                   tmp_path, capsys):
    # the sources of the table can not be reached; a mirror serves each file under its published name
    serve(monkeypatch, mirror, name, tmp_path, prefix='/lab/', origin='http://127.0.0.1:{}/'.format(closed_port()))
    monkeypatch.chdir(tmp_path)
    assert download_data.main([name, '--url', mirror.url + '/lab/']) == 0
    out = capsys.readouterr().out
    assert '{} is ready: python vae.py --train --dataset {}\n'.format(name, name) in out
    folder = download_data.folder_of(name)
    assert not [f for f in os.listdir(folder) if f.endswith(('.part', '.from', '.gz'))]   # nothing half-done left
    if name == 'dsprites':   # DeepMind's file holds all 737,280 sprites: the stand-in is checked as it is read
        images, classes = dsprites.load_dsprites_npz(os.path.join(folder, download_data.DSPRITES_NPZ), 6)
        assert images.shape == (6, 64, 64) and classes.shape == (6, 6)
        return
    flags = ['--dataset', name, '--batch_size', '4', '--filters', '4,4,4,4', '--hidden_units', '8,8']
    assert vae.main(['--train', '--steps', '2'] + flags + folder_flags(tmp_path)) == 0


def test_a_cut_download_resumes_from_its_part_and_a_second_run_fetches_nothing(mirror, monkeypatch, tmp_path,
                                                                               capsys):
    published = serve(monkeypatch, mirror, 'shapes3d', tmp_path)
    mirror.scripts['/files/3dshapes.h5'] = ['cut']
    target = tmp_path / 'data' / '3dshapes.h5'
    assert download_data.main(['shapes3d', '--data_dir_path', str(tmp_path / 'data')]) == 0
    assert target.read_bytes() == published['3dshapes.h5']
    ranges = [r[1] for r in mirror.requests]
    resumed_at = int(ranges[1].split('=')[1].rstrip('-'))   # what reached the .part before the cut
    assert ranges[0] is None and 0 < resumed_at <= len(published['3dshapes.h5']) // 2
    assert 'connection lost' in capsys.readouterr().err
    assert download_data.main(['shapes3d', '--data_dir_path', str(tmp_path / 'data')]) == 0
    assert len(mirror.requests) == 2 and 'is already in place' in capsys.readouterr().out


def test_a_refused_source_gives_way_to_the_next_saying_why(mirror, monkeypatch, tmp_path, capsys):
    published = serve(monkeypatch, mirror, 'mpi3d_toy', tmp_path)
    good = download_data.FILES['mpi3d_toy'][0].sources[0]
    nobody = 'http://127.0.0.1:{}/x.npz'.format(closed_port())
    bad = [good._replace(url=nobody), good._replace(url=mirror.url + '/gone/mpi3d_toy.npz'),
           good._replace(url=mirror.url + '/denied/x.npz'), good._replace(url=mirror.url + '/page/x.npz')]
    mirror.scripts.update({'/gone/mpi3d_toy.npz': ['404'], '/denied/x.npz': ['403'], '/page/x.npz': ['html']})
    monkeypatch.setitem(download_data.FILES, 'mpi3d_toy', [download_data.FILES['mpi3d_toy'][0]._replace(
        sources=bad + [good])])
    assert download_data.main(['mpi3d_toy', '--data_dir_path', str(tmp_path)]) == 0
    assert (tmp_path / 'mpi3d_toy.npz').read_bytes() == published['mpi3d_toy.npz']
    err = capsys.readouterr().err.splitlines()[:-1]   # the last: the progress line of the file fetched
    assert err == ['mpi3d_toy.npz: {} failed: no connection ([Errno 111] Connection refused); trying the next '
                   'source'.format(nobody),
                   'mpi3d_toy.npz: {}/gone/mpi3d_toy.npz failed: HTTP 404; trying the next source'.format(mirror.url),
                   'mpi3d_toy.npz: {}/denied/x.npz failed: HTTP 403; trying the next source'.format(mirror.url),
                   'mpi3d_toy.npz: {}/page/x.npz failed: an HTML page instead of the file; trying the next '
                   'source'.format(mirror.url)]


def test_a_mirror_is_tried_first_and_an_unreachable_one_gives_way_to_the_sources(mirror, monkeypatch, tmp_path, capsys):
    published = serve(monkeypatch, mirror, 'smallnorb', tmp_path)
    items = download_data.FILES['smallnorb']
    nobody = 'http://127.0.0.1:{}'.format(closed_port())
    assert download_data.main(['smallnorb', '--url', nobody, '--data_dir_path', str(tmp_path / 'data')]) == 0
    for item in items:
        assert (tmp_path / 'data' / item.name).read_bytes() == gzip.decompress(published[item.name + '.gz'])
    assert sorted(os.listdir(str(tmp_path / 'data'))) == sorted(item.name for item in items)   # the .gz are gone
    tried = [line for line in capsys.readouterr().err.splitlines() if 'failed' in line]
    assert tried == ['{}: {}/{}.gz failed: no connection ([Errno 111] Connection refused); trying the next '
                     'source'.format(item.name, nobody, item.name) for item in items]


def test_an_archive_left_by_a_cut_off_unpacking_is_unpacked_not_fetched_again(mirror, monkeypatch, tmp_path):
    published = serve(monkeypatch, mirror, 'smallnorb', tmp_path)
    first = download_data.FILES['smallnorb'][0]
    (tmp_path / (first.name + '.gz')).write_bytes(published[first.name + '.gz'])   # complete, md5 right
    assert download_data.main(['smallnorb', '--data_dir_path', str(tmp_path)]) == 0
    assert (tmp_path / first.name).read_bytes() == gzip.decompress(published[first.name + '.gz'])
    assert '/files/' + first.name + '.gz' not in [path for path, _ in mirror.requests]
    assert len(mirror.requests) == 5 and not (tmp_path / (first.name + '.gz')).exists()


def test_retry_after_is_honoured(mirror, monkeypatch, tmp_path):
    serve(monkeypatch, mirror, 'scream_dsprites', tmp_path)
    mirror.scripts['/files/The_Scream.jpg'] = ['429']
    started = time.time()
    assert download_data.main(['scream_dsprites', '--data_dir_path', str(tmp_path)]) == 0
    assert time.time() - started >= 1.0 and (tmp_path / 'scream.jpg').is_file()


# ---- one-line errors, read off a real process ----

DRIVER = '''import json, os, sys
import download_data as d
for name, items in json.loads(os.environ['TABLE']).items():
    d.FILES[name] = [d.DataFile(i['name'], [d.Source(*s) for s in i['sources']], i['unpack'], tuple(i['format']))
                     for i in items]
sys.exit(d.main(sys.argv[1:]))
'''


def run_cli(monkeypatch, name, *args):
    """download_data.py in a process of its own, with the table the test set: (exit code, stderr)."""
    table = {name: [dict(item._asdict(), sources=[list(s) for s in item.sources])
                    for item in download_data.FILES[name]]}
    done = subprocess.run([sys.executable, '-c', DRIVER, name] + list(args), cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=300,
                          env=dict(os.environ, TABLE=json.dumps(table)))
    return done.returncode, done.stderr


def leftovers(folder):
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_html_from_every_source_and_a_wrong_md5_are_one_line_and_leave_nothing(mirror, monkeypatch, tmp_path):
    serve(monkeypatch, mirror, 'shapes3d', tmp_path)
    source = download_data.FILES['shapes3d'][0].sources[0]
    mirror.scripts['/files/3dshapes.h5'] = ['html'] * 8
    code, err = run_cli(monkeypatch, 'shapes3d', '--data_dir_path', str(tmp_path / 'a'))
    assert code == 1 and err.splitlines()[-1] == (
        'error: 3dshapes.h5: every source failed ({}): try again later, use --url with a mirror, or put the file at '
        '{} by hand'.format(source.url, tmp_path / 'a' / '3dshapes.h5'))
    assert leftovers(str(tmp_path / 'a')) == []
    mirror.scripts['/files/3dshapes.h5'] = []
    monkeypatch.setitem(download_data.FILES, 'shapes3d', [download_data.FILES['shapes3d'][0]._replace(
        sources=[source._replace(md5='0' * 32)])])
    code, err = run_cli(monkeypatch, 'shapes3d', '--data_dir_path', str(tmp_path / 'b'))
    lines = err.splitlines()   # the file's progress line, why the source failed, then the error
    assert code == 1 and len(lines) == 3 and 'expected {}'.format('0' * 32) in lines[1]
    assert lines[-1].startswith('error: 3dshapes.h5: every source failed')
    assert leftovers(str(tmp_path / 'b')) == []


def test_a_wrong_file_in_place_is_named_and_kept_unless_forced(mirror, monkeypatch, tmp_path):
    published = serve(monkeypatch, mirror, 'scream_dsprites', tmp_path)
    (tmp_path / 'scream.jpg').write_bytes(b'not a picture')
    code, err = run_cli(monkeypatch, 'scream_dsprites', '--data_dir_path', str(tmp_path))
    assert code == 1 and err.count('\n') == 1 and err.startswith('error: {} is in place but is not a readable '
                                                                 'picture file'.format(tmp_path / 'scream.jpg'))
    assert err.rstrip().endswith('move it away, or run again with --force to replace it')
    assert (tmp_path / 'scream.jpg').read_bytes() == b'not a picture' and mirror.requests == []
    code, err = run_cli(monkeypatch, 'scream_dsprites', '--data_dir_path', str(tmp_path), '--force')
    assert code == 0, err
    assert (tmp_path / 'scream.jpg').read_bytes() == published['The_Scream.jpg']


def test_a_full_disk_is_one_line_keeps_the_part_and_the_same_command_resumes(mirror, monkeypatch, small_disk,
                                                                           tmp_path):
    data = standins.jpeg_bytes(np.random.RandomState(0), 1200, 1000, grain=255)
    assert len(data) > 600000
    mirror.add('/files/The_Scream.jpg', data)
    item = download_data.FILES['scream_dsprites'][0]
    monkeypatch.setitem(download_data.FILES, 'scream_dsprites', [item._replace(sources=[item.sources[0]._replace(
        url=mirror.url + '/files/The_Scream.jpg', md5=md5(data))])])
    small_disk.fill(leave_bytes=200000)
    code, err = run_cli(monkeypatch, 'scream_dsprites', '--data_dir_path', small_disk.path)
    part = os.path.join(small_disk.path, 'scream.jpg.part')
    assert code == 1 and err.splitlines()[-1] == (
        'error: no space left on device, writing {}: what was downloaded is kept; free space and run the '
        'same command again to resume'.format(part))
    kept = os.path.getsize(part)
    assert 0 < kept < len(data) and not os.path.exists(os.path.join(small_disk.path, 'scream.jpg'))
    small_disk.free()
    code, err = run_cli(monkeypatch, 'scream_dsprites', '--data_dir_path', small_disk.path)
    assert code == 0, err
    assert open(os.path.join(small_disk.path, 'scream.jpg'), 'rb').read() == data
    assert mirror.requests[-1] == ('/files/The_Scream.jpg', 'bytes={}-'.format(kept))


def test_list_names_every_file_and_fetches_nothing_and_a_bad_name_is_one_line(capsys):
    assert download_data.main(['--list']) == 0
    listed = capsys.readouterr().out
    for name, items in download_data.FILES.items():
        for item in items:
            assert '{} -> {}'.format(name, os.path.join(download_data.folder_of(name), item.name)) in listed
            assert all(source.url in listed for source in item.sources)
    done = subprocess.run([sys.executable, os.path.join(ROOT, 'download_data.py'), 'celeba'], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert done.returncode == 2 and done.stderr.splitlines()[-1].startswith(
        'download_data.py: error: no files to fetch for celeba: choose from cars3d, dsprites,')
