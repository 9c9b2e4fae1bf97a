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
import email.utils
import errno
import hashlib
import os
import re
import sys
import time
import zipfile
from html.parser import HTMLParser
from urllib.parse import urljoin

import requests

DRIVE_URL = 'https://drive.google.com/uc'   # Drive's download endpoint; --drive_url overrides it
CHUNK_BYTES = 1 << 16                       # bytes per read: what a cut connection can lose
TIMEOUT_SECONDS = 60                        # connect and read timeout of each request
RETRY_DELAYS = (1, 2, 4, 8, 16, 32)         # seconds to wait before each retry (at least Retry-After's)
MAX_HTML_BYTES = 1 << 20                    # more than this is not a Drive interstitial page
MAX_HOPS = 4                                # confirmation pages followed before giving up
RETRY_STATUS = frozenset([429, 500, 502, 503, 504])   # "try again later" answers
SIGN_IN_HOSTS = ('accounts.google.com',)    # where Drive sends requests for files that are not public
HEADERS = {'Accept-Language': 'en-US,en;q=0.8'}   # English pages where Drive obliges; any language still works
# A cut connection or a timeout: worth another try from the .part file.
RETRYABLE = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)

DriveFile = collections.namedtuple('DriveFile', 'name drive_id md5')
CELEBA_FILES = (
    DriveFile('img_align_celeba.zip', '0B7EVK8r0v71pZjFTYXZWM3FlRnM', '00d2c5bc6d35e252742224ab0c1e8fcb'),
    DriveFile('list_attr_celeba.txt', '0B7EVK8r0v71pblRyaVFSWGxPY0U', '75e246fa4810816ffd6ee81facbd244c'),
    DriveFile('list_eval_partition.txt', '0B7EVK8r0v71pY0NSMzRuSXJEVkk', 'd32c9cbf5e040fd4025c592c306e6668'),
)
CELEBA_PAGE = 'https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html'


class DownloadError(RuntimeError):
    """A file could not be fetched; the message says what happened and what to do."""


class TryLater(Exception):
    """The server asked to come back later (429 or 5xx); `seconds` is its Retry-After, if any."""

    def __init__(self, message, seconds=None):
        Exception.__init__(self, message)
        self.seconds = seconds


class Restart(Exception):
    """The .part can not be continued from this answer: it was removed, the next try starts afresh."""


class BadChecksum(DownloadError):
    """The finished file's md5 is wrong; the .part was removed."""


def by_hand(target):
    return 'download it by hand from {} and put it at {}'.format(CELEBA_PAGE, target)


# ---- Google Drive's pages ----

class DrivePage(HTMLParser):
    """What an HTML answer holds: the `download-form` of the "can't scan this file for viruses" page
    (its action and hidden fields), and the texts of Drive's error elements, whatever their language."""

    def __init__(self, page):
        HTMLParser.__init__(self)
        self.form_found = False
        self.action = None
        self.fields = {}
        self.caption = None        # uc-error-caption: what went wrong
        self.subcaption = None     # uc-error-subcaption: only on the quota page (try again later)
        self._in_form = False
        self._reading = None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get('class') or '').split()
        if tag == 'form' and attrs.get('id') == 'download-form':
            self._in_form, self.form_found = True, True
            self.action = attrs.get('action') or ''
        elif tag == 'input' and self._in_form and (attrs.get('type') or '').lower() == 'hidden' and attrs.get('name'):
            self.fields[attrs['name']] = attrs.get('value') or ''
        elif 'uc-error-caption' in classes:
            self._reading, self.caption = 'caption', ''
        elif 'uc-error-subcaption' in classes:
            self._reading, self.subcaption = 'subcaption', ''

    def handle_endtag(self, tag):
        if tag == 'form':
            self._in_form = False
        if tag in ('p', 'div', 'span'):
            self._reading = None

    def handle_data(self, text):
        if self._reading:
            setattr(self, self._reading, (getattr(self, self._reading) + text).strip())


def page_error(page, status, target):
    """The DownloadError an HTML answer with no way on means: quota, permission or not found, told
    apart by the page's structure and the status, quoting Drive's own words."""
    parsed = page if isinstance(page, DrivePage) else DrivePage(page)
    said = ' '.join(part for part in (parsed.caption, parsed.subcaption) if part)
    quoted = ' ("{}")'.format(said) if said else ''
    name = os.path.basename(target)
    if parsed.subcaption is not None:
        return DownloadError('Google Drive refuses {}: its download quota is exceeded{}. Try again in a day, or '
                             '{}'.format(name, quoted, by_hand(target)))
    if status in (401, 403):
        return DownloadError('Google Drive denies access to {} (HTTP {}){}: the file is not public. '
                             'Check the file id, or {}'.format(name, status, quoted, by_hand(target)))
    if status == 404 or parsed.caption is not None:
        return DownloadError('Google Drive has no file {} at this id (HTTP {}){}. Check the file id, or {}'.format(
            name, status, quoted, by_hand(target)))
    return DownloadError('Google Drive sent an HTML page instead of {} (HTTP {}): check the id or URL, or {}'.format(
        name, status, by_hand(target)))


def next_request(page, cookies, url, params, target, status=200):
    """Where Drive's HTML page says to go next, (url, params), or a DownloadError saying why not.

    A relative or empty form action is resolved against the page's own URL.
    """
    parsed = DrivePage(page)
    if parsed.form_found:
        return urljoin(url, parsed.action), parsed.fields
    token = next((value for name, value in cookies.items() if name.startswith('download_warning')), None)
    if token and params.get('confirm') != token:
        return url, dict(params, confirm=token)
    raise page_error(parsed, status, target)


def is_file(response, first_bytes=b''):
    """A file, not a page: it says so with Content-Disposition or with a type other than HTML, and
    does not start like an HTML document."""
    kind = response.headers.get('Content-Type', '').lower()
    head = first_bytes.lstrip()[:15].lower()
    if head.startswith(b'<!doctype html') or head.startswith(b'<html'):
        return False
    return bool(response.headers.get('Content-Disposition')) or bool(kind and not kind.startswith('text/html'))


def retry_after(response):
    """Seconds from a Retry-After header (a number or an HTTP date), or None."""
    value = response.headers.get('Retry-After', '').strip()
    if value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0, int(when.timestamp() - time.time()))


def content_range(response):
    """(first byte, last byte or None, total or None) from a Content-Range header: 'bytes 100-199/200' or
    'bytes */200'; a DownloadError when it is missing or malformed."""
    spec = response.headers.get('Content-Range', '').strip()
    match = re.match(r'^bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)$', spec)
    if not match:
        raise DownloadError('{} answered HTTP {} with {} Content-Range header ({!r}): run again, or use --url with '
                            'a mirror'.format(response.url, response.status_code,
                                              'a malformed' if spec else 'no', spec))
    first, last, total = match.groups()
    return (int(first) if first else None, int(last) if last else None, int(total) if total.isdigit() else None)


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


def part_size(part):
    return os.path.getsize(part) if os.path.exists(part) else 0


def read_page(response, first=b''):
    """The (start of the) HTML body of a response, decoded; the response is closed."""
    page = first
    for chunk in response.iter_content(CHUNK_BYTES):
        page += chunk
        if len(page) > MAX_HTML_BYTES:
            break
    response.close()
    return page.decode('utf-8', 'replace')


class Source(object):
    """Where one file comes from: the first URL, and the file's own URL once a request has led to it.

    Range goes only on requests for the file itself (the file's own URL, or where a confirmation page
    leads), never on Drive's `uc` hop: a `uc` answer that turns out to be the file is closed after its
    headers and asked for again from the .part's end."""

    def __init__(self, url, params):
        self.first = (url, dict(params))
        self.final = None


def open_file(session, source, part, target):
    """The response carrying the file, from the .part's end where the server allows it; None when a
    416 says the .part is already the whole file."""
    url, params = source.final or source.first
    after_page = False     # the request a confirmation page leads to is the file's own
    for _ in range(MAX_HOPS + 2):
        offset = part_size(part)
        ranged = bool(offset) and (after_page or source.final == (url, params))
        headers = dict(HEADERS, Range='bytes={}-'.format(offset)) if ranged else HEADERS
        response = session.get(url, params=params, headers=headers, stream=True, timeout=TIMEOUT_SECONDS)
        if response.status_code in RETRY_STATUS:
            response.close()
            raise TryLater('{} answered HTTP {}'.format(os.path.basename(target), response.status_code),
                           retry_after(response))
        if any(response.url.split('/')[2].split(':')[0].endswith(host) for host in SIGN_IN_HOSTS):
            response.close()
            raise DownloadError('Google Drive asks to sign in for {}: the file is not public. Check the file id, '
                                'or {}'.format(os.path.basename(target), by_hand(target)))
        if response.status_code == 416 and ranged:
            _, _, total = content_range(response)
            response.close()
            if total == offset:
                return None              # a complete .part, e.g. from a run stopped during its md5 check
            os.remove(part)
            continue
        if response.status_code >= 400:
            raise page_error(read_page(response), response.status_code, target)
        if response.status_code not in (200, 206):
            response.close()
            raise DownloadError('{} answered HTTP {} for {}: check the id or URL, or try again later'.format(
                response.url, response.status_code, os.path.basename(target)))
        chunks = response.iter_content(CHUNK_BYTES)
        first = next(chunks, b'') if not response.headers.get('Content-Disposition') else b''
        if is_file(response, first):
            if offset and not ranged:    # the file's own URL is known now: ask it again from the .part's end
                response.close()
                source.final = (url, params)
                continue
            source.final = (url, params)
            return response, first, chunks
        url, params = next_request(read_page(response, first), session.cookies, url, params, target)
        after_page = True
    raise DownloadError('Google Drive kept answering with confirmation pages for {}: {}'.format(
        os.path.basename(target), by_hand(target)))


def stream_once(session, source, part, target):
    """One attempt: appends to the .part (or rewrites it when the server sent the whole file); returns
    the file's total size (None when the server did not say)."""
    opened = open_file(session, source, part, target)
    if opened is None:
        return part_size(part)
    response, first, chunks = opened
    try:
        offset = part_size(part)
        if response.status_code == 206:
            start, _, total = content_range(response)
            if start != offset:
                os.remove(part)
                raise Restart('{}: the server resumed at byte {}, not {}; starting afresh'.format(
                    os.path.basename(target), start, offset))
        else:
            length = response.headers.get('Content-Length')
            start, total = 0, (int(length) if length and length.isdigit() else None)
        progress = Progress(os.path.basename(target), start, total)
        done = start
        try:
            with open(part, 'ab' if start else 'wb') as f:
                f.write(first)
                done += len(first)
                for chunk in chunks:
                    f.write(chunk)
                    done += len(chunk)
                    progress.update(done)
        except OSError as error:
            # requests' errors are OSErrors too: a cut connection goes on to be retried as it is
            if isinstance(error, requests.RequestException) or error.filename is not None:
                raise
            raise OSError(error.errno, error.strerror, part)   # a failed write() names no file: name the .part
        progress.update(done, final=True)
        return total
    finally:
        response.close()


def download(session, source, part, target):
    """Streams the file into the .part, retrying cut connections, 429 and 5xx answers with backoff;
    returns its announced total size."""
    problem, wait = None, 0
    for delay in (0,) + tuple(RETRY_DELAYS):
        if problem:
            wait = max(delay, wait)
            print('{}; retrying in {} s'.format(problem, wait), file=sys.stderr)
            time.sleep(wait)
        wait = 0
        try:
            total = stream_once(session, source, part, target)
        except TryLater as later:
            problem, wait = str(later), later.seconds or 0
            continue
        except Restart as restart:
            problem = str(restart)
            continue
        except RETRYABLE as error:
            problem = '{}: connection lost ({})'.format(os.path.basename(target), error)
            continue
        size = part_size(part)
        if total is None or size >= total:
            return total
        problem = '{}: stopped at {} of {} bytes'.format(os.path.basename(target), size, total)
    raise DownloadError('{}; gave up after {} tries: run the same command again to resume from {}'.format(
        problem, len(RETRY_DELAYS) + 1, part))


def fetch(session, url, params, target, md5=None):
    """Downloads to target via target.part; renames only after the size and md5 checks pass. A wrong
    md5 gets one fresh download before it is an error."""
    if md5 and os.path.isfile(target) and md5_of(target) == md5:
        print('{} is already complete (md5 ok)'.format(target))
        return
    part = target + '.part'
    source = Source(url, params)
    for attempt in range(2):
        total = download(session, source, part, target)
        try:
            verify(part, target, total, md5)
            break
        except BadChecksum as error:
            if attempt:
                raise
            print('{}; downloading it once more'.format(error), file=sys.stderr)
    os.replace(part, target)
    print('{}: {} bytes{}'.format(target, os.path.getsize(target), ', md5 ok' if md5 else ''))


def verify(part, target, total, md5):
    size = os.path.getsize(part)
    if total is not None and size != total:
        os.remove(part)
        raise DownloadError('{} has {} bytes but the server announced {}: removed it, run again'.format(
            part, size, total))
    if md5:
        actual = md5_of(part)
        if actual != md5:
            os.remove(part)
            raise BadChecksum('{} has md5 {}, expected {}: the download is corrupt and was removed; run again, '
                              'or {}'.format(os.path.basename(target), actual, md5, by_hand(target)))


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
    session.headers.update(HEADERS)
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
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            print('error: no space left on device, writing {}: what was downloaded is kept; free space and run the '
                  'same command again to resume'.format(error.filename or args.dir), file=sys.stderr)
        else:
            print('error: {}'.format(error), file=sys.stderr)
        return 1
    except (DownloadError, zipfile.BadZipFile) as error:
        print('error: {}'.format(error), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('\ninterrupted: run the same command again to resume from the .part files', file=sys.stderr)
        return 130
    return 0


if __name__ == '__main__':
    sys.exit(main())
