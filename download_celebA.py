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
import os
import sys
import zipfile
from html.parser import HTMLParser
from urllib.parse import urljoin

import requests

from fetching import (CHUNK_BYTES, RETRY_STATUS, TIMEOUT_SECONDS, BadChecksum, DownloadError, check_part,
                      content_range, download, exit_code, is_file, md5_of, part_size, read_page, try_later)

DRIVE_URL = 'https://drive.google.com/uc'   # Drive's download endpoint; --drive_url overrides it
MAX_HOPS = 4                                # confirmation pages followed before giving up
SIGN_IN_HOSTS = ('accounts.google.com',)    # where Drive sends requests for files that are not public
HEADERS = {'Accept-Language': 'en-US,en;q=0.8'}   # English pages where Drive obliges; any language still works

DriveFile = collections.namedtuple('DriveFile', 'name drive_id md5')
CELEBA_FILES = (
    DriveFile('img_align_celeba.zip', '0B7EVK8r0v71pZjFTYXZWM3FlRnM', '00d2c5bc6d35e252742224ab0c1e8fcb'),
    DriveFile('list_attr_celeba.txt', '0B7EVK8r0v71pblRyaVFSWGxPY0U', '75e246fa4810816ffd6ee81facbd244c'),
    DriveFile('list_eval_partition.txt', '0B7EVK8r0v71pY0NSMzRuSXJEVkk', 'd32c9cbf5e040fd4025c592c306e6668'),
)
CELEBA_PAGE = 'https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html'


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


# ---- one Drive file ----

def drive_opener(url, params):
    """The opener (fetching.download's) of one file from Drive's `uc` endpoint, or from a mirror's URL.

    Range goes only on requests for the file itself (the file's own URL, or where a confirmation page
    leads), never on Drive's `uc` hop: a `uc` answer that turns out to be the file is closed after its
    headers and asked for again from the .part's end. The file's own URL, once found, is kept for retries."""
    first, found = (url, dict(params)), []

    def open_file(session, part, target):
        url, params = found[0] if found else first
        after_page = False     # the request a confirmation page leads to is the file's own
        for _ in range(MAX_HOPS + 2):
            offset = part_size(part)
            ranged = bool(offset) and (after_page or found[:1] == [(url, params)])
            headers = dict(HEADERS, Range='bytes={}-'.format(offset)) if ranged else HEADERS
            response = session.get(url, params=params, headers=headers, stream=True, timeout=TIMEOUT_SECONDS)
            if response.status_code in RETRY_STATUS:
                raise try_later(response, target)
            refuse_sign_in(response, target)
            if response.status_code == 416 and ranged:
                _, _, total = content_range(response)
                response.close()
                if total == offset:
                    return None              # a complete .part, e.g. from a run stopped during its md5 check
                os.remove(part)
                continue
            refuse_status(response, target)
            chunks = response.iter_content(CHUNK_BYTES)
            head = next(chunks, b'') if not response.headers.get('Content-Disposition') else b''
            if is_file(response, head):
                found[:] = [(url, params)]
                if offset and not ranged:    # the file's own URL is known now: ask it again from the .part's end
                    response.close()
                    continue
                return response, head, chunks
            url, params = next_request(read_page(response, head), session.cookies, url, params, target)
            after_page = True
        raise DownloadError('Google Drive kept answering with confirmation pages for {}: {}'.format(
            os.path.basename(target), by_hand(target)))
    return open_file


def refuse_sign_in(response, target):
    if any(response.url.split('/')[2].split(':')[0].endswith(host) for host in SIGN_IN_HOSTS):
        response.close()
        raise DownloadError('Google Drive asks to sign in for {}: the file is not public. Check the file id, '
                            'or {}'.format(os.path.basename(target), by_hand(target)))


def refuse_status(response, target):
    """A DownloadError for an answer that is neither the file nor a page that leads to it."""
    if response.status_code >= 400:
        raise page_error(read_page(response), response.status_code, target)
    if response.status_code not in (200, 206):
        response.close()
        raise DownloadError('{} answered HTTP {} for {}: check the id or URL, or try again later'.format(
            response.url, response.status_code, os.path.basename(target)))


def fetch(session, url, params, target, md5=None):
    """Downloads to target via target.part; renames only after the size and md5 checks pass. A wrong
    md5 gets one fresh download before it is an error."""
    if md5 and os.path.isfile(target) and md5_of(target) == md5:
        print('{} is already complete (md5 ok)'.format(target))
        return
    part = target + '.part'
    opener = drive_opener(url, params)
    for attempt in range(2):
        total = download(session, opener, part, target)
        try:
            check_part(part, target, total, md5, 'run again, or ' + by_hand(target))
            break
        except BadChecksum as error:
            if attempt:
                raise
            print('{}; downloading it once more'.format(error), file=sys.stderr)
    os.replace(part, target)
    print('{}: {} bytes{}'.format(target, os.path.getsize(target), ', md5 ok' if md5 else ''))


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
    return exit_code(lambda: fetch_celeba(session, args), args.dir, (DownloadError, zipfile.BadZipFile))


def fetch_celeba(session, args):
    if args.file_id:
        directory = os.path.dirname(args.dest)
        if directory:
            os.makedirs(directory, exist_ok=True)
        url, params = _source(args, os.path.basename(args.dest), args.file_id)
        return fetch(session, url, params, args.dest, args.md5)
    os.makedirs(args.dir, exist_ok=True)
    for item in CELEBA_FILES:
        url, params = _source(args, item.name, item.drive_id)
        fetch(session, url, params, os.path.join(args.dir, item.name), item.md5)
    if not args.no_extract:
        extract_images(os.path.join(args.dir, CELEBA_FILES[0].name), args.dir)

if __name__ == '__main__':
    sys.exit(main())
