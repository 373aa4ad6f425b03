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
    append_text(path, line)           # a log: appended, not atomic; only its full disk is handled

`durable=True` also fsyncs the file before the rename and the folder after it, so the new file
survives a power cut (checkpoints want that; pages and plots do not pay for it). Files get the
permissions a plain `open()` would give them (the umask decides), not mkstemp's private 0600.
The default temporary name is `.<name>.<pid>.<random>.tmp`; a writer whose leftovers are
recognised by name (`.<name>.partial` of conversions, `.prepare-<pid>.tmp` of data preparation)
passes its own with `tmp=`.

A write that finds no room (a full disk, a used-up quota, or a file-size limit: ENOSPC, EDQUOT,
EFBIG, also when torch.save reports it as its own RuntimeError) removes its temporary file and
raises `NoSpaceError`: one line naming the file, why, what it needs and what is free.
"""
import errno
import os
import secrets
import shutil

from util.errors import UserError

# Why a write found no room, by errno. (A process over its file-size limit gets SIGXFSZ, which
# kills it unless ignored: the entry points ignore it, util.errors.exit_on_user_error, so that the
# write fails with EFBIG instead.)
NO_SPACE = {errno.ENOSPC: 'the disk is full', errno.EDQUOT: 'the disk quota is used up',
            errno.EFBIG: 'the file-size limit (ulimit -f) is reached'}


class NoSpaceError(UserError):
    """A write that found no room. Exit status 74 (EX_IOERR): what was there before is intact, and
    the command can go on once there is room."""

    exit_status = 74

    def __init__(self, what, folder, reason, need, then='run the command again'):
        """`what` could not be written into `folder` for `reason` (a NO_SPACE value); `need`
        says how much it needs ('about 12.3 MB'); `then` is what to do once there is room."""
        free = shutil.disk_usage(folder).free if os.path.isdir(folder) else 0
        fix = 'raise the limit' if reason == NO_SPACE[errno.EFBIG] else 'make room there'
        super().__init__(f'could not write {what}: {reason} (it needs {need}, {size_text(free)} free in {folder}): '
                         f'{fix} and {then}')
        self.reason = reason


def append_text(path, text, encoding='utf-8'):
    """Append `text` to `path`: a log, which grows and is not replaced, so not atomic; but a full
    disk is a NoSpaceError here too."""
    try:
        with open(path, 'a', encoding=encoding) as f:
            f.write(text)
    except OSError as error:
        reason = no_space_reason(error)
        if reason is None:
            raise
        need = f'{size_text(len(text.encode(encoding)))} more'
        raise NoSpaceError(path, os.path.dirname(os.path.abspath(path)), reason, need) from error


def no_space_reason(error):
    """Why `error` (or an error it was raised from or during) found no room, or None when it is
    another error."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError) and error.errno in NO_SPACE:
            return NO_SPACE[error.errno]
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def size_text(n):
    """`n` bytes for people: '812 B', '3.4 MB', '1.2 GB'."""
    for unit in ('B', 'kB', 'MB', 'GB'):
        if n < 1000 or unit == 'GB':
            return f'{n:.0f} {unit}' if unit == 'B' else f'{n:.1f} {unit}'
        n /= 1000


def file_size(path):
    """The size of the file at `path`, 0 when there is none."""
    return os.path.getsize(path) if os.path.isfile(path) else 0


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
        except OSError as error:  # a full disk may show only when the file is flushed
            self._fail(error)
            raise
        if exc is not None:
            self._fail(exc)
        self.discard()  # after a commit there is nothing left to remove
        return False

    def _fail(self, error):
        """Remove the temporary file; a write that found no room becomes a NoSpaceError."""
        written = file_size(self.tmp)
        self.discard()
        reason = no_space_reason(error)
        if reason is not None:
            # What the file needs: about its previous version's size, else more than was written.
            previous = file_size(self.path)
            need = f'about {size_text(previous)}' if previous else f'more than {size_text(written)}'
            raise NoSpaceError(self.path, self.folder, reason, need) from error


def fsync(path):
    """Flush a file or a folder (the names in it) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
