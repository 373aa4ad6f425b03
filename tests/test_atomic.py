"""Tests for util/atomic.py, the one atomic file-write helper: a write replaces the file whole,
a failing write leaves the old file as it was and no temporary file behind. In-process, fast."""
import errno
import os
import stat

import pytest

from util import atomic


def leftovers(folder):
    return sorted(p for p in os.listdir(folder) if p.startswith('.'))


def test_write_text_bytes_and_with_create_and_replace(tmp_path):
    path = tmp_path / 'sub' / 'f.txt'          # the folder is made
    atomic.write_text(path, 'one\n')
    assert path.read_text() == 'one\n'
    atomic.write_bytes(path, b'two')
    assert path.read_bytes() == b'two'
    atomic.write_with(path, lambda f: f.write(b'three'), durable=True)
    assert path.read_bytes() == b'three'
    assert leftovers(path.parent) == []


def test_new_files_get_the_permissions_of_a_plain_open(tmp_path):
    plain = tmp_path / 'plain'
    plain.write_text('x')
    atomic.write_text(tmp_path / 'atomic', 'x')
    mode = stat.S_IMODE(os.stat(tmp_path / 'atomic').st_mode)
    assert mode == stat.S_IMODE(os.stat(plain).st_mode)   # not mkstemp's private 0600


@pytest.mark.parametrize('durable', [False, True])
def test_a_failing_write_leaves_the_old_file_intact(tmp_path, durable):
    path = tmp_path / 'f.txt'
    path.write_text('old')

    def write(f):
        f.write(b'half of the new')
        raise RuntimeError('disk full')

    with pytest.raises(RuntimeError, match='disk full'):
        atomic.write_with(path, write, durable=durable)
    assert path.read_text() == 'old'
    assert leftovers(tmp_path) == []


def test_replacing_gives_a_path_for_writers_that_want_one(tmp_path):
    path = tmp_path / 'plot.png'
    path.write_bytes(b'old')
    with atomic.replacing(path) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path) and not os.path.exists(tmp)
        with open(tmp, 'wb') as f:   # e.g. fig.savefig(tmp, format='png')
            f.write(b'new')
        assert path.read_bytes() == b'old'           # not in place before the block ends
    assert path.read_bytes() == b'new' and leftovers(tmp_path) == []

    with pytest.raises(KeyError):
        with atomic.replacing(path) as tmp:
            with open(tmp, 'wb') as f:
                f.write(b'newer')
            raise KeyError('interrupted')
    assert path.read_bytes() == b'new' and leftovers(tmp_path) == []


def test_a_named_temporary_is_used_and_removed_even_as_a_dangling_link(tmp_path):
    dest = tmp_path / 'img.jpg'
    tmp = tmp_path / '.img.jpg.prepare-1.tmp'
    with pytest.raises(OSError):
        with atomic.replacing(dest, tmp=tmp) as t:
            assert t == str(tmp)
            os.symlink(tmp_path / 'missing', t)
            raise OSError('refused')
    assert not os.path.lexists(tmp) and not os.path.lexists(dest)
    with atomic.replacing(dest, tmp=tmp) as t:
        os.symlink('elsewhere.jpg', t)
    assert os.readlink(dest) == 'elsewhere.jpg' and not os.path.lexists(tmp)


def test_replacement_commit_and_discard_for_writers_spanning_calls(tmp_path):
    path = tmp_path / 'v.mp4'
    kept = atomic.replacing(path, tmp=tmp_path / '.v.partial.mp4')
    open(kept.tmp, 'wb').close()
    kept.commit()
    kept.discard()                                   # nothing left to remove: fine
    assert path.exists() and leftovers(tmp_path) == []

    dropped = atomic.replacing(tmp_path / 'w.mp4')
    open(dropped.tmp, 'wb').close()
    dropped.discard()
    assert not (tmp_path / 'w.mp4').exists() and leftovers(tmp_path) == []


def no_room(code):
    """A writer that writes part of its file, then finds no room as torch.save reports it: its own
    RuntimeError, raised while handling the OSError."""
    def write(f):
        f.write(b'part of the file')
        try:
            raise OSError(code, os.strerror(code))
        except OSError:
            raise RuntimeError('[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598')
    return write


@pytest.mark.parametrize('code, reason', [(errno.ENOSPC, 'the disk is full'),
                                          (errno.EFBIG, 'the file-size limit (ulimit -f) is reached')])
def test_no_room_is_one_line_naming_the_file_its_need_and_the_free_space(tmp_path, code, reason):
    path = tmp_path / 'f.pth'
    path.write_bytes(b'x' * 2500)
    with pytest.raises(atomic.NoSpaceError) as caught:
        atomic.write_with(path, no_room(code), durable=True)
    message = str(caught.value)
    assert '\n' not in message and caught.value.exit_status == 74
    assert f'could not write {path}: {reason} (it needs about 2.5 kB, ' in message
    assert f' free in {tmp_path}): ' in message
    assert path.read_bytes() == b'x' * 2500 and leftovers(tmp_path) == []
    # a new file: the need is what was written before the failure, a lower bound
    with pytest.raises(atomic.NoSpaceError, match=r'it needs more than 16 B'):
        atomic.write_with(tmp_path / 'new.pth', no_room(code))
    assert not (tmp_path / 'new.pth').exists() and leftovers(tmp_path) == []


def test_no_room_when_the_file_is_flushed_at_the_rename(tmp_path, monkeypatch):
    path = tmp_path / 'page.html'
    path.write_text('old page')

    def fsync(p):
        raise OSError(errno.EDQUOT, 'Disk quota exceeded')

    monkeypatch.setattr(atomic, 'fsync', fsync)
    with pytest.raises(atomic.NoSpaceError, match='the disk quota is used up'):
        atomic.write_text(path, 'new page', durable=True)
    assert path.read_text() == 'old page' and leftovers(tmp_path) == []


def test_the_result_pages_say_when_there_is_no_room(tmp_path, monkeypatch):
    from util import html
    page = html.HTML(str(tmp_path / 'web'), 'title')
    page.save()
    before = (tmp_path / 'web' / 'index.html').read_text()
    monkeypatch.setattr(atomic, 'write_bytes', lambda path, data, durable=False: atomic.write_with(
        path, no_room(errno.ENOSPC), durable=durable))
    page.add_header('more')
    with pytest.raises(atomic.NoSpaceError, match=r'index.html: the disk is full'):
        page.save()
    assert (tmp_path / 'web' / 'index.html').read_text() == before


def test_the_pages_images_say_when_there_is_no_room(tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    from util.util import save_image
    path = tmp_path / 'images' / 'epoch001_fake_B.png'
    save_image(np.zeros((4, 4, 3), np.uint8), str(path))
    before = path.read_bytes()

    def full_disk(image, fp, *args, **kwargs):
        with open(fp, 'xb') as f:
            no_room(errno.ENOSPC)(f)

    monkeypatch.setattr(Image.Image, 'save', full_disk)
    with pytest.raises(atomic.NoSpaceError, match=r'epoch001_fake_B.png: the disk is full'):
        save_image(np.ones((4, 4, 3), np.uint8), str(path))
    assert path.read_bytes() == before and leftovers(path.parent) == []


@pytest.mark.skipif(not os.path.exists('/dev/full'), reason='no /dev/full here')
def test_a_log_appended_on_a_full_disk_says_so_in_one_line():
    with pytest.raises(atomic.NoSpaceError, match=r'could not write /dev/full: the disk is full \(it needs 6 B more, '):
        atomic.append_text('/dev/full', 'a line')  # a real ENOSPC, from the device that is always full
