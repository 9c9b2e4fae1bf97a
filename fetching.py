"""One file over HTTP, with the care both downloaders share (download_celebA.py, download_data.py): the
file streams to NAME.part, an interrupted download resumes from the .part with a Range request, cut
connections and "try again later" answers are retried with back-off that honours Retry-After, a page is
never taken for data, and nothing is renamed into place before its size and md5 are right.

A downloader hands `download` an opener: a function (session, part, target) that returns the response
carrying the file, from the .part's end where the server allows it, as (response, first bytes, chunks),
or None when the .part is already the whole file. `plain_opener` is the one for a file at its own URL.
"""
import email.utils
import errno
import hashlib
import os
import re
import sys
import time

import requests

CHUNK_BYTES = 1 << 16                       # bytes per read: what a cut connection can lose
TIMEOUT_SECONDS = 60                        # connect and read timeout of each request
RETRY_DELAYS = (1, 2, 4, 8, 16, 32)         # seconds to wait before each retry (at least Retry-After's)
MAX_HTML_BYTES = 1 << 20                    # the most of an HTML answer read to tell what it says
RETRY_STATUS = frozenset([429, 500, 502, 503, 504])   # "try again later" answers
# A cut connection or a timeout: worth another try from the .part file.
RETRYABLE = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


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


# ---- what an answer says ----

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


def read_page(response, first=b''):
    """The (start of the) HTML body of a response, decoded; the response is closed."""
    page = first
    for chunk in response.iter_content(CHUNK_BYTES):
        page += chunk
        if len(page) > MAX_HTML_BYTES:
            break
    response.close()
    return page.decode('utf-8', 'replace')


def try_later(response, target):
    """Closes a 429 or 5xx answer and says when to come back."""
    response.close()
    return TryLater('{} answered HTTP {}'.format(os.path.basename(target), response.status_code),
                    retry_after(response))


# ---- one file ----

def md5_of(path):
    digest = hashlib.md5()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(CHUNK_BYTES), b''):
            digest.update(block)
    return digest.hexdigest()


def part_size(part):
    return os.path.getsize(part) if os.path.exists(part) else 0


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


def connection_problem(error):
    """The short reason of a failed connection ('[Errno 111] Connection refused'), not requests' whole chain."""
    found = re.findall(r"\[Errno -?\d+\] [^'\")]+", str(error))
    return found[-1].strip() if found else type(error).__name__


def plain_opener(url, refused):
    """The opener of a file at its own URL. A 4xx answer, a page instead of data, or no connection at all
    before any byte of the file came is `refused(message)`, the exception the caller raises for a source
    that does not have the file; a connection lost with a .part begun is retried from it."""
    def open_file(session, part, target):
        for _ in range(2):
            offset = part_size(part)
            headers = {'Range': 'bytes={}-'.format(offset)} if offset else {}
            try:
                response = session.get(url, headers=headers, stream=True, timeout=TIMEOUT_SECONDS)
            except requests.ConnectionError as error:
                if offset:
                    raise
                raise refused('no connection ({})'.format(connection_problem(error)))
            if response.status_code in RETRY_STATUS:
                raise try_later(response, target)
            if response.status_code == 416 and offset:
                _, _, total = content_range(response)
                response.close()
                if total == offset:
                    return None          # a complete .part, e.g. from a run stopped during its checks
                os.remove(part)
                continue
            if response.status_code not in (200, 206):
                response.close()
                raise refused('HTTP {}'.format(response.status_code))
            chunks = response.iter_content(CHUNK_BYTES)
            first = next(chunks, b'')
            if not is_file(response, first):
                response.close()
                raise refused('an HTML page instead of the file')
            return response, first, chunks
        raise refused('it kept refusing the range of the .part')
    return open_file


def write_chunks(part, start, first, chunks, progress):
    """Appends the answer's bytes to the .part (rewrites it when the answer starts at 0)."""
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


def stream_once(session, opener, part, target):
    """One attempt: appends to the .part (or rewrites it when the server sent the whole file); returns
    the file's total size (None when the server did not say)."""
    opened = opener(session, part, target)
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
        write_chunks(part, start, first, chunks, Progress(os.path.basename(target), start, total))
        return total
    finally:
        response.close()


def download(session, opener, part, target):
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
            total = stream_once(session, opener, part, target)
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
    raise DownloadError('{}; gave up after {} tries: run the same command again{}'.format(
        problem, len(RETRY_DELAYS) + 1, ' to resume from {}'.format(part) if part_size(part) else ''))


def check_part(part, target, total, md5, hint):
    """The .part's size against the announced total and its md5 against the known one; a wrong .part is
    removed. `hint` says what to do about a wrong md5."""
    size = os.path.getsize(part)
    if total is not None and size != total:
        os.remove(part)
        raise DownloadError('{} has {} bytes but the server announced {}: removed it, run again'.format(
            part, size, total))
    if md5:
        actual = md5_of(part)
        if actual != md5:
            os.remove(part)
            raise BadChecksum('{} has md5 {}, expected {}: the download is corrupt and was removed; {}'.format(
                os.path.basename(target), actual, md5, hint))


def exit_code(work, where, failures=(DownloadError,)):
    """Runs `work()` for a downloader's command line: 0, or 1 with one line on stderr for a full disk, another
    OSError or one of `failures`, or 130 on Ctrl-C. The .part files stay for the same command to resume."""
    try:
        work()
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            print('error: no space left on device, writing {}: what was downloaded is kept; free space and run the '
                  'same command again to resume'.format(error.filename or where), file=sys.stderr)
        else:
            print('error: {}'.format(error), file=sys.stderr)
        return 1
    except failures as error:
        print('error: {}'.format(error), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('\ninterrupted: run the same command again to resume from the .part files', file=sys.stderr)
        return 130
    return 0
