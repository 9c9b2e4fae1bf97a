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
import fetching

TOKEN = 'Zx1t'
UUID = '5f1c-uuid'
FORM_PAGE = '''<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>
<p>Google Drive can't scan this file for viruses.</p>
<form id="download-form" action="{action}" method="get">
<input type="submit" id="uc-download-link" value="Download anyway"/>
<input type="{hidden}" name="id" value="{file_id}"><input type="{hidden}" name="export" value="download">
<input type="{hidden}" name="confirm" value="t"><input type="{hidden}" name="uuid" value="{uuid}"></form></body></html>'''
COOKIE_PAGE = '<html><body>Google Drive can not scan this file. <a href="/uc?confirm={}">Download</a></body></html>'
# Drive's error pages: a caption, and on the quota page a subcaption too. The client never matches their English.
QUOTA_PAGE = ('<!DOCTYPE html><html><body><div id="uc-text"><p class="uc-error-caption">Sorry, you can&#39;t view '
              'or download this file at this time.</p><p class="uc-error-subcaption">Too many users have viewed or '
              'downloaded this file recently.</p></div></body></html>')
QUOTA_PAGE_FR = ('<!DOCTYPE html><html lang="fr"><body><p class="uc-error-caption">D&#233;sol&#233;, vous ne pouvez '
                 'pas afficher ni t&#233;l&#233;charger ce fichier.</p><p class="uc-error-subcaption">Trop '
                 'd&#39;utilisateurs ont consult&#233; ce fichier r&#233;cemment.</p></body></html>')
MISSING_PAGE = ('<!DOCTYPE html><html><body><p class="uc-error-caption">Sorry, the file you have requested does not '
                'exist.</p></body></html>')
DENIED_PAGE = '<!DOCTYPE html><html><body><p class="uc-error-caption">You need access</p></body></html>'
PAGES = {'missing': (404, MISSING_PAGE), 'quota': (200, QUOTA_PAGE), 'quota403': (403, QUOTA_PAGE),
         'quota_fr': (200, QUOTA_PAGE_FR), 'denied': (403, DENIED_PAGE)}


class Drive(object):
    """What the fake Drive serves: file id -> (bytes, behaviour); per file a script of one-off answers
    to its file requests ('429', '503', 'cut', 'whole', 'bad_start', 'no_content_range', '' for a normal
    one); a log of requests, their Accept-Language, and the bytes of file content sent (handed to the
    connection)."""

    def __init__(self):
        self.files = {}
        self.scripts = {}
        self.requests = []
        self.languages = []
        self.sent = {}

    def add(self, file_id, content, behaviour='plain', script=()):
        self.files[file_id] = (content, behaviour)
        self.scripts[file_id] = list(script)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        drive = self.server.drive
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        drive.requests.append((url.path, query, self.headers.get('Range')))
        drive.languages.append(self.headers.get('Accept-Language'))
        if url.path.startswith('/mirror/'):
            return self.send_file(drive, url.path, drive.files[url.path][0])
        if url.path == '/ServiceLogin':
            return self.send_html('<html><body>Sign in</body></html>')
        content, behaviour = drive.files.get(query.get('id'), (None, 'missing'))
        if behaviour in PAGES:
            return self.send_html(PAGES[behaviour][1], status=PAGES[behaviour][0])
        if behaviour == 'signin':       # Drive's answer for a file that is not public
            return self.send_bare(302, Location='http://localhost:{}/ServiceLogin?continue=x'.format(
                self.server.server_address[1]))
        if behaviour == 'not_a_file':   # 200, no Content-Disposition, no Content-Type
            return self.send_bare(200, body=b'maybe a page')
        if behaviour == 'cookie' and query.get('confirm') != TOKEN:
            return self.send_html(COOKIE_PAGE.format(TOKEN), cookie='download_warning_13058_{}={}'.format(
                query['id'], TOKEN))
        if behaviour.startswith('form') and query.get('uuid') != UUID:
            if url.path != '/uc':
                return self.send_html(MISSING_PAGE, status=404)
            base = 'http://127.0.0.1:{}'.format(self.server.server_address[1])
            action = {'form': base + '/download', 'form_relative': 'download', 'form_empty': ''}[behaviour]
            hidden = 'HIDDEN' if behaviour == 'form_relative' else 'hidden'
            return self.send_html(FORM_PAGE.format(action=action, hidden=hidden, file_id=query['id'], uuid=UUID))
        self.send_file(drive, query['id'], content)

    def send_bare(self, status, body=b'', **headers):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace('_', '-'), value)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_html(self, page, cookie=None, status=200):
        body = page.encode('utf-8')
        self.send_response(status)
        self.send_header('Content-Type', 'text/html; charset=utf-8')
        self.send_header('Content-Length', str(len(body)))
        if cookie:
            self.send_header('Set-Cookie', cookie + '; Path=/')
        self.end_headers()
        self.wfile.write(body)

    def send_file(self, drive, key, content):
        script = drive.scripts.setdefault(key, [])
        event = script.pop(0) if script else ''
        if event in ('429', '503'):
            return self.send_bare(int(event), Retry_After='0')
        start = 0
        requested = self.headers.get('Range')
        if requested and event != 'whole':
            start = int(requested.split('=')[1].split('-')[0])
            if start >= len(content):
                return self.send_bare(416, Content_Range='bytes */{}'.format(len(content)))
        sent_from = start // 2 if event == 'bad_start' else start
        body = content[sent_from:]
        self.send_response(206 if start else 200)
        self.send_header('Content-Type', 'application/octet-stream')
        self.send_header('Content-Disposition', 'attachment; filename="{}"'.format(os.path.basename(key)))
        self.send_header('Content-Length', str(len(body)))
        if start and event != 'no_content_range':
            self.send_header('Content-Range', 'bytes {}-{}/{}'.format(sent_from, len(content) - 1, len(content)))
        self.end_headers()
        if event == 'cut':
            body = body[:len(body) // 2]
            self.close_connection = True     # the connection drops halfway through the body
        # counted before the write: the client can finish, and the test read the count, before this
        # thread runs again after a write
        drive.sent[key] = drive.sent.get(key, 0) + len(body)
        try:
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return                           # the client hung up


@pytest.fixture
def drive(monkeypatch):
    server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    server.drive = Drive()
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(fetching, 'RETRY_DELAYS', (0, 0, 0))
    monkeypatch.setattr(dl, 'SIGN_IN_HOSTS', ('localhost',))   # the loopback stand-in for accounts.google.com
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


@pytest.mark.parametrize('behaviour', ['cookie', 'form', 'form_relative', 'form_empty', 'plain'])
def test_drive_flows_save_the_file(drive, tmp_path, behaviour):
    data = payload()
    drive.add('abc', data, behaviour)
    dest = tmp_path / 'out' / 'file.bin'
    assert run(drive, 'abc', str(dest), '--md5', md5(data)) == 0
    assert dest.read_bytes() == data
    assert not (tmp_path / 'out' / 'file.bin.part').exists()
    asked = {'id': 'abc', 'export': 'download', 'confirm': 't', 'uuid': UUID}
    # 'download' resolves against the page's URL .../uc; an empty action is the page's URL itself.
    path = {'form': '/download', 'form_relative': '/download', 'form_empty': '/uc'}.get(behaviour)
    if path:
        assert (path, asked, None) in drive.requests


@pytest.mark.parametrize('behaviour, message', [
    ('quota', 'quota is exceeded ("Sorry, you can\'t view or download this file at this time. Too many users'),
    ('quota403', 'quota is exceeded'),
    ('quota_fr', 'quota is exceeded ("D\u00e9sol\u00e9'),
    ('missing', 'has no file file.bin at this id (HTTP 404)'),
    ('denied', 'denies access to file.bin (HTTP 403) ("You need access"): the file is not public'),
    ('signin', 'asks to sign in for file.bin: the file is not public'),
    ('not_a_file', 'sent an HTML page instead of file.bin (HTTP 200)'),
])
def test_drive_pages_are_errors_never_files(drive, tmp_path, capsys, behaviour, message):
    drive.add('abc', b'', behaviour)
    dest = tmp_path / 'file.bin'
    assert run(drive, 'abc', str(dest)) == 1
    err = capsys.readouterr().err
    assert message in err and str(dest) in err and len(err.strip().splitlines()) == 1
    assert not dest.exists() and not (tmp_path / 'file.bin.part').exists()


def test_english_pages_are_asked_for(drive, tmp_path):
    drive.add('abc', payload(1000), 'cookie')
    assert run(drive, 'abc', str(tmp_path / 'file.bin')) == 0
    assert len(drive.languages) == 2 and all(language.startswith('en') for language in drive.languages)


def test_429_and_5xx_are_retried_then_a_one_line_error(drive, tmp_path, capsys):
    data = payload()
    drive.add('abc', data, 'form', script=['429', '503'])
    assert run(drive, 'abc', str(tmp_path / 'file.bin'), '--md5', md5(data)) == 0
    assert (tmp_path / 'file.bin').read_bytes() == data
    drive.add('never', data, 'plain', script=['503'] * 10)
    assert run(drive, 'never', str(tmp_path / 'other.bin')) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith('error: other.bin answered HTTP 503; gave up after 4 tries')


def test_cut_connection_resumes_with_range_on_the_file_request_only(drive, tmp_path):
    data = payload()
    drive.add('abc', data, 'form', script=['cut'])
    dest = tmp_path / 'file.bin'
    assert run(drive, 'abc', str(dest), '--md5', md5(data)) == 0
    assert dest.read_bytes() == data
    ranged = [(path, int(r[len('bytes='):-1])) for path, _, r in drive.requests if r]
    assert len(ranged) == 1 and ranged[0][0] == '/download'                 # never on the uc hop
    assert 0 < ranged[0][1] <= len(data) // 2                                # what arrived before the cut


def test_interrupted_run_resumes_from_part_file(drive, tmp_path):
    data = payload()
    drive.add('abc', data, 'plain')
    dest = tmp_path / 'file.bin'
    (tmp_path / 'file.bin.part').write_bytes(data[:1000])
    assert run(drive, 'abc', str(dest)) == 0
    assert dest.read_bytes() == data
    assert [r for _, _, r in drive.requests] == [None, 'bytes=1000-']   # the uc hop, then the file from byte 1000


@pytest.mark.parametrize('event', ['whole', 'bad_start'])
def test_answers_that_do_not_continue_the_part_restart_cleanly(drive, tmp_path, event):
    data = payload()
    drive.add('abc', data, 'plain', script=['', event])
    (tmp_path / 'file.bin.part').write_bytes(data[:1000])
    assert run(drive, 'abc', str(tmp_path / 'file.bin'), '--md5', md5(data)) == 0
    assert (tmp_path / 'file.bin').read_bytes() == data


def test_missing_content_range_is_a_one_line_error(drive, tmp_path, capsys):
    data = payload()
    drive.add('abc', data, 'plain', script=['', 'no_content_range'])
    (tmp_path / 'file.bin.part').write_bytes(data[:1000])
    assert run(drive, 'abc', str(tmp_path / 'file.bin')) == 1
    err = capsys.readouterr().err
    assert 'with no Content-Range header' in err and len(err.strip().splitlines()) == 1


def test_416_keeps_a_complete_part_and_restarts_a_longer_one(drive, tmp_path):
    data = payload()
    drive.add('abc', data, 'plain')
    (tmp_path / 'file.bin.part').write_bytes(data)          # complete: a run stopped during its md5 check
    assert run(drive, 'abc', str(tmp_path / 'file.bin'), '--md5', md5(data)) == 0
    assert (tmp_path / 'file.bin').read_bytes() == data
    (tmp_path / 'other.bin.part').write_bytes(data + b'extra')   # longer than the file: no prefix of it
    drive.add('other', data, 'plain')
    assert run(drive, 'other', str(tmp_path / 'other.bin'), '--md5', md5(data)) == 0
    assert (tmp_path / 'other.bin').read_bytes() == data


def test_wrong_md5_is_fetched_once_more_then_an_error(drive, tmp_path, capsys):
    data = payload()
    drive.add('abc', data, 'plain')
    dest = tmp_path / 'file.bin'
    assert run(drive, 'abc', str(dest), '--md5', '0' * 32) == 1
    err = capsys.readouterr().err
    assert 'downloading it once more' in err and err.strip().splitlines()[-1].count('expected 00000000') == 1
    assert drive.sent['abc'] == 2 * len(data)
    assert not dest.exists() and not (tmp_path / 'file.bin.part').exists()


def test_429_then_a_cut_then_a_416_on_the_complete_part(drive, tmp_path, monkeypatch):
    """The failures in a row a real 1.4 GB download meets: it still ends with the right md5, having
    fetched no byte more than once more than needed."""
    data = payload(400000)
    drive.add('abc', data, 'form', script=['429', 'cut'])
    dest = tmp_path / 'file.bin'
    real_md5 = fetching.md5_of

    def interrupted(path):
        monkeypatch.setattr(fetching, 'md5_of', real_md5)
        raise KeyboardInterrupt          # Ctrl-C during the md5 check of the complete .part
    monkeypatch.setattr(fetching, 'md5_of', interrupted)
    assert run(drive, 'abc', str(dest), '--md5', md5(data)) == 130
    assert (tmp_path / 'file.bin.part').read_bytes() == data
    assert run(drive, 'abc', str(dest), '--md5', md5(data)) == 0
    assert dest.read_bytes() == data
    assert len(data) <= drive.sent['abc'] <= 2 * len(data)
    file_requests = [r for path, _, r in drive.requests if path == '/download']
    assert file_requests[-1] == 'bytes={}-'.format(len(data))      # the second run: a 416 for the complete .part


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
