"""What every part of the study shares: its `[study]` log lines, quiet option parsing and model
building, and text files written atomically and readable by everyone."""
import contextlib
import io
import os

from util.checkpoint import atomic_write_text


def write_text(path, text):
    """Write a text file atomically, readable by everyone (as a plain open() would make it)."""
    atomic_write_text(path, text)
    os.chmod(path, 0o644)


def log(message):
    print(f'[study] {message}', flush=True)


@contextlib.contextmanager
def quiet():
    """Keep the chatter of option parsing, model building and loading out of the study's output."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield
