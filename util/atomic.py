"""Writing a file atomically: the one helper every writer in the project goes through.

A file is written under a temporary name in the same folder and renamed over its destination
(`os.replace`, atomic within a file system), so a reader (a browser on the training page, a
`--continue_train`, a conversion that skips finished outputs) sees the old file or the new one,
never half of one, and a run killed mid-write leaves no file that looks finished. When writing
fails the temporary file is removed and the old file stays as it was.

    write_text(path, text)            write_bytes(path, data)
    write_with(path, write)           # write(binary file object), e.g. torch.save
    with replacing(path) as tmp:      # any writer that wants a path: PIL, matplotlib, copy2
        image.save(tmp, format='PNG')

`durable=True` also fsyncs the file before the rename and the folder after it, so the new file
survives a power cut (checkpoints want that; pages and plots do not pay for it). Files get the
permissions a plain `open()` would give them (the umask decides), not mkstemp's private 0600.
The default temporary name is `.<name>.<pid>.<random>.tmp`; a writer whose leftovers are
recognised by name (`.<name>.partial` of conversions, `.prepare-<pid>.tmp` of data preparation)
passes its own with `tmp=`.
"""
import os
import secrets


def write_text(path, text, durable=False, encoding='utf-8'):
    """Write `text` to `path` atomically."""
    write_bytes(path, text.encode(encoding), durable=durable)


def write_bytes(path, data, durable=False):
    """Write `data` to `path` atomically."""
    write_with(path, lambda f: f.write(data), durable=durable)


def write_with(path, write, durable=False):
    """Call write(binary file object) on a new temporary file beside `path`, then rename it over
    `path`."""
    with replacing(path, durable=durable) as tmp:
        with open(tmp, 'xb') as f:
            write(f)


def replacing(path, tmp=None, durable=False):
    """A `Replacement` of `path`: `with replacing(path) as tmp:` write to the path `tmp`; a clean
    exit renames it over `path`, an exception removes it (and propagates)."""
    return Replacement(path, tmp=tmp, durable=durable)


class Replacement:
    """A temporary path `tmp` beside `path` that becomes `path` on `commit()` and disappears on
    `discard()`. As a context manager it yields `tmp` and does one or the other on exit; a writer
    that spans several calls (a video encoder) calls `commit()` and `discard()` itself.

    The folder of `path` is created if missing. `tmp` is only named here, not created: the writer
    creates it (so a symbolic link or a copy can be placed there too)."""

    def __init__(self, path, tmp=None, durable=False):
        self.path = os.fspath(path)
        self.folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(self.folder, exist_ok=True)
        self.tmp = os.fspath(tmp) if tmp is not None else os.path.join(
            self.folder, f'.{os.path.basename(self.path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp')
        self.durable = durable

    def commit(self):
        """Rename the temporary file over `path` (flushing both to disk first when durable)."""
        if self.durable:
            fsync(self.tmp)
        os.replace(self.tmp, self.path)
        if self.durable:
            fsync(self.folder)  # make the rename itself durable

    def discard(self):
        """Remove the temporary file if it is there (a dangling link too); the old file stays."""
        if os.path.lexists(self.tmp):
            os.remove(self.tmp)

    def __enter__(self):
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.commit()
        finally:
            self.discard()  # after a commit there is nothing left to remove
        return False


def fsync(path):
    """Flush a file or a folder (the names in it) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
