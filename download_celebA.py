"""Fetches CelebA from Google Drive into CelebA/: verified, resumable, and never an HTML page saved as data.

    python download_celebA.py                      # img_align_celeba.zip (extracted), list_attr_celeba.txt,
                                                   # list_eval_partition.txt into CelebA/, md5-checked
    python download_celebA.py FILE_ID DEST         # one Drive file (the original form; size check only)
    python download_celebA.py --url URL            # the same files from a mirror: URL/img_align_celeba.zip ...

Every file is streamed to DEST.part and renamed only once its size (and md5, where known) is right;
an interrupted run resumes from the .part with an HTTP Range request.
"""
import argparse
import collections
import hashlib
import os
import sys
import time
import zipfile
from html.parser import HTMLParser

import requests

DRIVE_URL = 'https://drive.google.com/uc'   # Drive's download endpoint; --drive_url overrides it
CHUNK_BYTES = 1 << 16                       # bytes per read: what a cut connection can lose
TIMEOUT_SECONDS = 60                        # connect and read timeout of each request
RETRY_DELAYS = (1, 2, 4, 8, 16, 32)         # seconds to wait before each retry after a connection error
MAX_HTML_BYTES = 1 << 20                    # more than this is not a Drive interstitial page
# A cut connection or a timeout: worth another try from the .part file.
RETRYABLE = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)

DriveFile = collections.namedtuple('DriveFile', 'name drive_id md5')
CELEBA_FILES = (
    DriveFile('img_align_celeba.zip', '0B7EVK8r0v71pZjFTYXZWM3FlRnM', '00d2c5bc6d35e252742224ab0c1e8fcb'),
    DriveFile('list_attr_celeba.txt', '0B7EVK8r0v71pblRyaVFSWGxPY0U', '75e246fa4810816ffd6ee81facbd244c'),
    DriveFile('list_eval_partition.txt', '0B7EVK8r0v71pY0NSMzRuSXJEVkk', 'd32c9cbf5e040fd4025c592c306e6668'),
)
CELEBA_PAGE = 'https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html'
QUOTA_TEXT = 'Too many users have viewed or downloaded this file recently'


class DownloadError(RuntimeError):
    """A file could not be fetched; the message says what happened and what to do."""


# ---- Google Drive's pages ----

class _DownloadFormParser(HTMLParser):
    """Finds the `download-form` of Drive's "can't scan this file for viruses" page."""

    def __init__(self):
        HTMLParser.__init__(self)
        self.action = None
        self.fields = {}
        self._in_form = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == 'form' and attrs.get('id') == 'download-form':
            self._in_form = True
            self.action = attrs.get('action')
        elif tag == 'input' and self._in_form and attrs.get('type') == 'hidden' and attrs.get('name'):
            self.fields[attrs['name']] = attrs.get('value', '')

    def handle_endtag(self, tag):
        if tag == 'form':
            self._in_form = False


def next_request(page, cookies, url, params, target):
    """Where Drive's HTML page says to go next: (url, params), or a DownloadError saying why not."""
    form = _DownloadFormParser()
    form.feed(page)
    if form.action:
        return form.action, form.fields
    token = next((value for name, value in cookies.items() if name.startswith('download_warning')), None)
    if token and params.get('confirm') != token:
        return url, dict(params, confirm=token)
    if QUOTA_TEXT.lower() in page.lower():
        raise DownloadError('Google Drive refuses {}: its download quota is exceeded ("{}"). Try again in a day, '
                            'or download it by hand from {} and put it at {}'.format(
                                os.path.basename(target), QUOTA_TEXT, CELEBA_PAGE, target))
    raise DownloadError('Google Drive sent an HTML page instead of {} (no permission, or no such file?). '
                        'Check the file id, or download it by hand from {} and put it at {}'.format(
                            os.path.basename(target), CELEBA_PAGE, target))


def _is_html(response, first_bytes):
    if response.headers.get('Content-Type', '').lower().startswith('text/html'):
        return True
    head = first_bytes.lstrip()[:15].lower()
    return head.startswith(b'<!doctype html') or head.startswith(b'<html')


# ---- one file ----

def md5_of(path):
    digest = hashlib.md5()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(CHUNK_BYTES), b''):
            digest.update(block)
    return digest.hexdigest()


class Progress(object):
    """Bytes, rate and ETA on one line of stderr, at most a few times a second."""

    def __init__(self, name, done, total):
        self.name, self.start_done, self.total = name, done, total
        self.started = self.last = time.time()
        self.tty = sys.stderr.isatty()

    def update(self, done, final=False):
        now = time.time()
        if not final and now - self.last < (0.5 if self.tty else 10.0):
            return
        self.last = now
        rate = (done - self.start_done) / max(now - self.started, 1e-6)
        if self.total:
            eta = (self.total - done) / rate if rate > 0 else 0
            text = '{}: {:.1f}/{:.1f} MB ({:.0%}) {:.2f} MB/s ETA {}'.format(
                self.name, done / 1e6, self.total / 1e6, done / self.total, rate / 1e6,
                time.strftime('%H:%M:%S', time.gmtime(eta)))
        else:
            text = '{}: {:.1f} MB {:.2f} MB/s'.format(self.name, done / 1e6, rate / 1e6)
        sys.stderr.write(('\r' + text + ('\n' if final else '')) if self.tty else text + '\n')
        sys.stderr.flush()


def _open(session, url, params, part, target):
    """GETs the file (resuming at the .part's size), following Drive's confirmation pages."""
    for _ in range(4):
        offset = os.path.getsize(part) if os.path.exists(part) else 0
        headers = {'Range': 'bytes={}-'.format(offset)} if offset else {}
        response = session.get(url, params=params, headers=headers, stream=True, timeout=TIMEOUT_SECONDS)
        if response.status_code == 416:       # the .part is no prefix of this file: start again
            response.close()
            os.remove(part)
            continue
        if response.status_code not in (200, 206):
            response.close()
            raise DownloadError('{} answered HTTP {} for {}: check the id or URL, or try again later'.format(
                response.url, response.status_code, os.path.basename(target)))
        chunks = response.iter_content(CHUNK_BYTES)
        first = next(chunks, b'')
        if not _is_html(response, first):
            return response, first, chunks
        page = first
        for chunk in chunks:
            page += chunk
            if len(page) > MAX_HTML_BYTES:
                break
        response.close()
        url, params = next_request(page.decode('utf-8', 'replace'), session.cookies, url, params, target)
    raise DownloadError('Google Drive kept answering with confirmation pages for {}: download it by hand from {} '
                        'and put it at {}'.format(os.path.basename(target), CELEBA_PAGE, target))


def _content_range(response):
    """(first byte, total size or None) of a response, from Content-Range or Content-Length."""
    if response.status_code == 206:
        spec = response.headers.get('Content-Range', '')          # bytes 100-199/200
        first, _, total = spec.replace('bytes ', '').partition('/')
        return int(first.split('-')[0]), (int(total) if total.isdigit() else None)
    length = response.headers.get('Content-Length')
    return 0, (int(length) if length and length.isdigit() else None)


def _stream_once(session, url, params, part, target):
    """One attempt: appends to the .part (or rewrites it if the server ignored Range); returns the total."""
    response, first, chunks = _open(session, url, params, part, target)
    try:
        start, total = _content_range(response)
        offset = os.path.getsize(part) if os.path.exists(part) else 0
        if start != offset:
            start = 0        # the server sent the whole file: start again rather than append
        progress = Progress(os.path.basename(target), start, total)
        done = start
        with open(part, 'ab' if start else 'wb') as f:
            f.write(first)
            done += len(first)
            for chunk in chunks:
                f.write(chunk)
                done += len(chunk)
                progress.update(done)
        progress.update(done, final=True)
        return total
    finally:
        response.close()


def fetch(session, url, params, target, md5=None):
    """Downloads to target via target.part; renames only after the size and md5 checks pass."""
    if md5 and os.path.isfile(target) and md5_of(target) == md5:
        print('{} is already complete (md5 ok)'.format(target))
        return
    part = target + '.part'
    problem = None
    for delay in (0,) + tuple(RETRY_DELAYS):
        if problem:
            print('{}; retrying in {} s'.format(problem, delay), file=sys.stderr)
            time.sleep(delay)
        try:
            total = _stream_once(session, url, params, part, target)
        except RETRYABLE as error:
            problem = '{}: connection lost ({})'.format(os.path.basename(target), error)
            continue
        size = os.path.getsize(part)
        if total is None or size >= total:
            break
        problem = '{}: stopped at {} of {} bytes'.format(os.path.basename(target), size, total)
    else:
        raise DownloadError('{}; gave up after {} tries: run the same command again to resume from {}'.format(
            problem, len(RETRY_DELAYS) + 1, part))
    _verify(part, target, total, md5)
    os.replace(part, target)
    print('{}: {} bytes{}'.format(target, os.path.getsize(target), ', md5 ok' if md5 else ''))


def _verify(part, target, total, md5):
    size = os.path.getsize(part)
    if total is not None and size != total:
        os.remove(part)
        raise DownloadError('{} has {} bytes but the server announced {}: removed it, run again'.format(
            part, size, total))
    if md5:
        actual = md5_of(part)
        if actual != md5:
            os.remove(part)
            raise DownloadError('{} has md5 {}, expected {}: the download is corrupt and was removed; run again, '
                                'or download it by hand from {} and put it at {}'.format(
                                    os.path.basename(target), actual, md5, CELEBA_PAGE, target))


# ---- the zip ----

def extract_images(zip_path, directory):
    """Extracts the zip into directory, skipping files already complete; refuses members outside it."""
    root = os.path.realpath(directory)
    with zipfile.ZipFile(zip_path) as archive:
        members = [m for m in archive.infolist() if not m.filename.endswith('/')]
        for member in members:
            path = os.path.realpath(os.path.join(root, member.filename))
            if not path.startswith(root + os.sep):
                raise DownloadError('{} holds {!r}, which would land outside {}: refusing to extract it'.format(
                    zip_path, member.filename, directory))
        extracted = 0
        for member in members:
            path = os.path.join(root, member.filename)
            if os.path.isfile(path) and os.path.getsize(path) == member.file_size:
                continue
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with archive.open(member) as source, open(path + '.part', 'wb') as out:
                for block in iter(lambda: source.read(CHUNK_BYTES), b''):
                    out.write(block)
            os.replace(path + '.part', path)
            extracted += 1
    images = sum(1 for m in members if m.filename.lower().endswith('.jpg'))
    print('{}: {} images in {} ({} files extracted now)'.format(zip_path, images, directory, extracted))
    return images


# ---- command line ----

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('file_id', nargs='?', help='one Drive file id (the original form)')
    parser.add_argument('dest', nargs='?', help='where to save that file')
    parser.add_argument('--md5', help='expected md5 of FILE_ID (default: size check only)')
    parser.add_argument('--dir', default='CelebA', help='folder for the CelebA files (default: %(default)s)')
    parser.add_argument('--no-extract', action='store_true', help='keep img_align_celeba.zip zipped')
    parser.add_argument('--url', help='mirror: fetch URL/NAME instead of Drive (with FILE_ID DEST: URL itself)')
    parser.add_argument('--drive_url', default=DRIVE_URL, help='Drive download endpoint (default: %(default)s)')
    args = parser.parse_args(argv)
    if args.file_id and not args.dest:
        parser.error('the original form takes both FILE_ID and DEST')
    return args


def _source(args, name, drive_id):
    """(url, params) of one file: the mirror's URL, or Drive's endpoint with the file id."""
    if args.url:
        return (args.url if args.file_id else args.url.rstrip('/') + '/' + name), {}
    return args.drive_url, {'export': 'download', 'id': drive_id}


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    session = requests.Session()
    try:
        if args.file_id:
            directory = os.path.dirname(args.dest)
            if directory:
                os.makedirs(directory, exist_ok=True)
            url, params = _source(args, os.path.basename(args.dest), args.file_id)
            fetch(session, url, params, args.dest, args.md5)
            return 0
        os.makedirs(args.dir, exist_ok=True)
        for item in CELEBA_FILES:
            url, params = _source(args, item.name, item.drive_id)
            fetch(session, url, params, os.path.join(args.dir, item.name), item.md5)
        if not args.no_extract:
            extract_images(os.path.join(args.dir, CELEBA_FILES[0].name), args.dir)
    except (DownloadError, zipfile.BadZipFile, OSError) as error:
        print('error: {}'.format(error), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('\ninterrupted: run the same command again to resume from the .part files', file=sys.stderr)
        return 130
    return 0


if __name__ == '__main__':
    sys.exit(main())
