"""download_celebA.py against a real HTTP server on 127.0.0.1 that plays Google Drive."""
import hashlib
import io
import os
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

import download_celebA as dl

TOKEN = 'Zx1t'
UUID = '5f1c-uuid'
FORM_PAGE = '''<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>
<p>Google Drive can't scan this file for viruses.</p>
<form id="download-form" action="{base}/download" method="get">
<input type="submit" id="uc-download-link" value="Download anyway"/>
<input type="hidden" name="id" value="{file_id}"><input type="hidden" name="export" value="download">
<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="{uuid}"></form></body></html>'''
COOKIE_PAGE = '<html><body>Google Drive can not scan this file. <a href="/uc?confirm={}">Download</a></body></html>'
QUOTA_PAGE = ('<!DOCTYPE html><html><body><p>Sorry, you can\'t view or download this file at this time.</p>'
              '<p>Too many users have viewed or downloaded this file recently. Please try accessing the file '
              'again later.</p></body></html>')
MISSING_PAGE = '<!DOCTYPE html><html><body>Sorry, the file you have requested does not exist.</body></html>'


class Drive(object):
    """What the fake Drive serves: file id -> (bytes, behaviour), and a log of requests."""

    def __init__(self):
        self.files = {}
        self.requests = []
        self.cut_once = set()

    def add(self, file_id, content, behaviour='plain'):
        self.files[file_id] = (content, behaviour)
        if behaviour in ('cut', 'ignores_range'):
            self.cut_once.add(file_id)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        drive = self.server.drive
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        drive.requests.append((url.path, query, self.headers.get('Range')))
        if url.path.startswith('/mirror/'):
            return self.send_file(drive, url.path, drive.files[url.path][0], honour_range=True)
        content, behaviour = drive.files.get(query.get('id'), (None, 'missing'))
        if behaviour == 'missing':
            return self.send_html(MISSING_PAGE)
        if behaviour == 'quota':
            return self.send_html(QUOTA_PAGE)
        if behaviour == 'cookie' and query.get('confirm') != TOKEN:
            return self.send_html(COOKIE_PAGE.format(TOKEN), cookie='download_warning_13058_{}={}'.format(
                query['id'], TOKEN))
        if behaviour == 'form' and url.path != '/download':
            base = 'http://127.0.0.1:{}'.format(self.server.server_address[1])
            return self.send_html(FORM_PAGE.format(base=base, file_id=query['id'], uuid=UUID))
        if behaviour == 'form' and query.get('uuid') != UUID:
            return self.send_html(MISSING_PAGE)
        self.send_file(drive, query['id'], content, honour_range=behaviour != 'ignores_range')

    def send_html(self, page, cookie=None):
        body = page.encode('utf-8')
        self.send_response(200)
        self.send_header('Content-Type', 'text/html; charset=utf-8')
        self.send_header('Content-Length', str(len(body)))
        if cookie:
            self.send_header('Set-Cookie', cookie + '; Path=/')
        self.end_headers()
        self.wfile.write(body)

    def send_file(self, drive, key, content, honour_range):
        start = 0
        requested = self.headers.get('Range')
        if requested and honour_range:
            start = int(requested.split('=')[1].split('-')[0])
        body = content[start:]
        self.send_response(206 if start else 200)
        self.send_header('Content-Type', 'application/octet-stream')
        self.send_header('Content-Length', str(len(body)))
        if start:
            self.send_header('Content-Range', 'bytes {}-{}/{}'.format(start, len(content) - 1, len(content)))
        self.end_headers()
        if key in drive.cut_once:
            drive.cut_once.discard(key)
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True     # the connection drops halfway through the body
            return
        self.wfile.write(body)


@pytest.fixture
def drive(monkeypatch):
    server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    server.drive = Drive()
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(dl, 'RETRY_DELAYS', (0, 0, 0))
    server.drive.url = 'http://127.0.0.1:{}'.format(server.server_address[1])
    yield server.drive
    server.shutdown()
    server.server_close()


def payload(size=300000, seed=1):
    return bytes(bytearray((i * 7 + seed) % 251 for i in range(size)))


def run(drive, *args):
    return dl.main(list(args) + ['--drive_url', drive.url + '/uc'])


def md5(data):
    return hashlib.md5(data).hexdigest()


@pytest.mark.parametrize('behaviour', ['cookie', 'form', 'plain'])
def test_drive_flows_save_the_file(drive, tmp_path, behaviour):
    data = payload()
    drive.add('abc', data, behaviour)
    dest = tmp_path / 'out' / 'file.bin'
    assert run(drive, 'abc', str(dest), '--md5', md5(data)) == 0
    assert dest.read_bytes() == data
    assert not (tmp_path / 'out' / 'file.bin.part').exists()
    if behaviour == 'form':
        assert ('/download', {'id': 'abc', 'export': 'download', 'confirm': 't', 'uuid': UUID}, None) in drive.requests


@pytest.mark.parametrize('behaviour, message', [
    ('quota', 'quota is exceeded'),
    ('missing', 'sent an HTML page instead of file.bin'),
])
def test_html_pages_are_errors_never_files(drive, tmp_path, capsys, behaviour, message):
    drive.add('abc', b'', behaviour)
    dest = tmp_path / 'file.bin'
    assert run(drive, 'abc', str(dest)) == 1
    err = capsys.readouterr().err
    assert message in err and str(dest) in err and len(err.strip().splitlines()) == 1
    assert not dest.exists() and not (tmp_path / 'file.bin.part').exists()


def test_cut_connection_resumes_with_range(drive, tmp_path):
    data = payload()
    drive.add('abc', data, 'cut')
    dest = tmp_path / 'file.bin'
    assert run(drive, 'abc', str(dest), '--md5', md5(data)) == 0
    assert dest.read_bytes() == data
    ranges = [r for _, _, r in drive.requests if r]
    assert len(ranges) == 1 and 0 < int(ranges[0][len('bytes='):-1]) <= len(data) // 2


def test_interrupted_run_resumes_from_part_file(drive, tmp_path):
    data = payload()
    drive.add('abc', data, 'plain')
    dest = tmp_path / 'file.bin'
    (tmp_path / 'file.bin.part').write_bytes(data[:1000])
    assert run(drive, 'abc', str(dest)) == 0
    assert dest.read_bytes() == data
    assert drive.requests[0][2] == 'bytes=1000-'


def test_server_that_ignores_range_restarts_cleanly(drive, tmp_path):
    data = payload()
    drive.add('abc', data, 'ignores_range')
    dest = tmp_path / 'file.bin'
    assert run(drive, 'abc', str(dest), '--md5', md5(data)) == 0
    assert dest.read_bytes() == data


def test_wrong_md5_leaves_no_file(drive, tmp_path, capsys):
    drive.add('abc', payload(), 'plain')
    dest = tmp_path / 'file.bin'
    assert run(drive, 'abc', str(dest), '--md5', '0' * 32) == 1
    assert 'expected 00000000' in capsys.readouterr().err
    assert not dest.exists() and not (tmp_path / 'file.bin.part').exists()


def zip_bytes(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w') as archive:
        for name, content in members:
            archive.writestr(name, content)
    return buffer.getvalue()


def celeba_files(monkeypatch, drive, zip_content):
    """Points CELEBA_FILES at test files served by the fake Drive."""
    contents = {'img_align_celeba.zip': zip_content, 'list_attr_celeba.txt': b'attrs\n',
                'list_eval_partition.txt': b'000001.jpg 0\n'}
    files = []
    for i, (name, content) in enumerate(sorted(contents.items())):
        drive.add('id{}'.format(i), content, 'form' if name.endswith('.zip') else 'cookie')
        drive.files['/mirror/' + name] = (content, 'plain')
        files.append(dl.DriveFile(name, 'id{}'.format(i), md5(content)))
    monkeypatch.setattr(dl, 'CELEBA_FILES', tuple(sorted(files, key=lambda f: not f.name.endswith('.zip'))))


def test_default_run_fetches_verifies_and_extracts_once(drive, tmp_path, monkeypatch, capsys):
    images = [('img_align_celeba/{:06d}.jpg'.format(i), payload(500, i)) for i in range(1, 6)]
    celeba_files(monkeypatch, drive, zip_bytes(images))
    target = tmp_path / 'CelebA'
    assert run(drive, '--dir', str(target)) == 0
    assert sorted(os.listdir(str(target / 'img_align_celeba'))) == ['{:06d}.jpg'.format(i) for i in range(1, 6)]
    assert (target / 'list_eval_partition.txt').read_bytes() == b'000001.jpg 0\n'
    assert '5 images' in capsys.readouterr().out

    served = len(drive.requests)
    assert run(drive, '--dir', str(target)) == 0
    assert len(drive.requests) == served          # complete files are not fetched again
    out = capsys.readouterr().out
    assert out.count('already complete') == 3 and '0 files extracted now' in out


def test_mirror_url(drive, tmp_path, monkeypatch):
    celeba_files(monkeypatch, drive, zip_bytes([('img_align_celeba/000001.jpg', b'x')]))
    assert dl.main(['--dir', str(tmp_path), '--url', drive.url + '/mirror/', '--no-extract']) == 0
    assert (tmp_path / 'img_align_celeba.zip').exists() and not (tmp_path / 'img_align_celeba').exists()
    assert all(path.startswith('/mirror/') for path, _, _ in drive.requests)


def test_zip_member_outside_the_folder_is_refused(drive, tmp_path, monkeypatch, capsys):
    celeba_files(monkeypatch, drive, zip_bytes([('img_align_celeba/000001.jpg', b'x'), ('../evil.txt', b'x')]))
    target = tmp_path / 'CelebA'
    assert run(drive, '--dir', str(target)) == 1
    assert "'../evil.txt', which would land outside" in capsys.readouterr().err
    assert not (tmp_path / 'evil.txt').exists() and not (target / 'img_align_celeba').exists()
