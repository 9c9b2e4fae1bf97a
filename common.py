"""What every layer of the project shares and imports nothing of it: the settings error, CelebA's raw
geometry, writing a file so that a reader never sees half of it, and JSON files."""
import contextlib
import json
import os

RAW_CELEBA_SHAPE = (218, 178)   # (height, width) of every aligned CelebA image


class SettingsError(ValueError):
    """A setting or an input is wrong; the message says which and what to do."""


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path`, with its extension; renamed to `path` once the block ends
    without an error, removed otherwise. The folder is made when missing."""
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    root, ext = os.path.splitext(path)
    tmp = '{}.tmp{}'.format(root, ext)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as error:
        if error.filename is None:   # a failed write() names no file: name the one being written
            raise OSError(error.errno, error.strerror, path)
        raise
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def write_json(values, path):
    """Writes JSON atomically, keys sorted."""
    with atomic_path(path) as tmp:
        with open(tmp, 'w') as f:
            json.dump(values, f, indent=2, sort_keys=True)
