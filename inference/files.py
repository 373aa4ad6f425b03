"""Which files a conversion reads and where it writes them.

- `find_inputs`: the images and videos that an --input names (a file, a folder searched
  recursively, a .txt list of paths), each as an `Input` with the relative name its outputs take;
- `output_path`: where an output goes under a results folder, refusing any path that leaves it;
- `save_image_atomic`, `save_npy_atomic`: outputs written under a temporary name and renamed into
  place, so that a run stopped mid-write leaves no half-written file.
"""
import os
from typing import NamedTuple

import numpy as np
from PIL import Image

from data.image_folder import IMG_EXTENSIONS, is_image_file
from util import atomic
from util.errors import UserError
from util.util import image_format

VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.mov')
LIST_EXTENSIONS = ('.txt',)


# ----- inputs -----
class Input(NamedTuple):
    path: str    # where to read it
    rel: str     # its name under a results folder: relative, without '..'
    video: bool


def is_video_file(filename):
    return str(filename).lower().endswith(VIDEO_EXTENSIONS)


def _input(path, rel):
    return Input(path, rel, is_video_file(path))


def find_inputs(input_path, exclude=None, ignored=None):
    """The images and videos named by `input_path`, as `Input`s in a reproducible order.

    A file is taken alone (named by its file name); a folder is searched recursively (hidden files
    and folders left out, as in make_dataset; names keep the sub-folders); a .txt file lists one
    path a line (see `_list_inputs`). `exclude`, a folder, is never searched: the results folder,
    when it lies inside the input folder, so that a second run does not convert its own outputs.
    `ignored`, a list, receives the paths (relative to the folder) of a folder's files that are
    neither images nor videos, so that the caller can name them.
    """
    path = os.path.abspath(input_path)
    if os.path.isdir(path):
        items, where = _folder_inputs(path, exclude, ignored), f'folder {input_path} (searched recursively)'
    elif not os.path.exists(path):
        raise UserError(f'--input {input_path} does not exist: pass an image, a video, a folder or a .txt list')
    elif path.lower().endswith(LIST_EXTENSIONS):
        items, where = _list_inputs(path), f'list {input_path}'
    elif is_image_file(path) or is_video_file(path):
        items, where = [_input(path, os.path.basename(path))], None
    else:
        raise UserError(f'--input {input_path} is not an image ({" ".join(IMG_EXTENSIONS)}), a video '
                        f'({" ".join(VIDEO_EXTENSIONS)}), a folder or a .txt list of paths')
    if not items:
        raise UserError(f'no images or videos in {where}: looked for {" ".join(IMG_EXTENSIONS + VIDEO_EXTENSIONS)} '
                        f'in any letter case')
    return items


def _folder_inputs(folder, exclude, ignored=None):
    skip = os.path.realpath(exclude) if exclude else None
    found, other = [], []
    for root, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = [d for d in dirnames
                       if not d.startswith('.') and os.path.realpath(os.path.join(root, d)) != skip]
        for f in filenames:
            if not f.startswith('.'):
                (found if is_image_file(f) or is_video_file(f) else other).append(os.path.join(root, f))
    if ignored is not None:
        ignored += sorted(os.path.relpath(p, folder) for p in other)
    return [_input(p, os.path.relpath(p, folder)) for p in sorted(found)]


def _list_inputs(list_path):
    """The entries of a list file: one path a line, relative to the list's folder unless absolute;
    empty lines and lines starting with '#' are ignored, repeated entries taken once.

    Each output is named by its entry's path relative to the deepest folder that holds the list's
    folder and every entry. Entries inside the list's folder keep their relative path; absolute
    and '../' entries elsewhere keep the part below that common folder, never a '..'.
    """
    base = os.path.dirname(list_path)
    try:
        with open(list_path, encoding='utf-8') as f:
            lines = [line.strip() for line in f]
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f'cannot read the list {list_path} ({e}): pass a UTF-8 text file with one path a line')
    paths = list(dict.fromkeys(os.path.normpath(os.path.join(base, line))
                               for line in lines if line and not line.startswith('#')))
    if not paths:
        return []
    # normpath has removed every '..', so each path lies below this common folder.
    root = os.path.commonpath([base] + [os.path.dirname(p) for p in paths])
    return [_input(p, os.path.relpath(p, root)) for p in paths]


# ----- outputs -----
def output_path(results_dir, rel, suffix=None):
    """`results_dir`/`rel`, with rel's extension replaced by `suffix` when given.

    Refuses (UserError) a `rel` that is absolute or empty or has '.' or '..' parts, and a result
    that lies outside `results_dir` once symbolic links are followed: nothing is ever written
    outside the results folder, whatever names the inputs have.
    """
    parts = rel.split(os.sep)
    if not rel or os.path.isabs(rel) or any(p in ('', '.', '..') for p in parts):
        raise UserError(f'refusing the output name {rel!r}: it would not stay inside --results_dir {results_dir}')
    if suffix is not None:
        rel = os.path.splitext(rel)[0] + suffix
    path = os.path.join(results_dir, rel)
    root = os.path.realpath(results_dir)
    if os.path.commonpath([root, os.path.realpath(path)]) != root:
        raise UserError(f'refusing to write {path}: it leads outside --results_dir {results_dir} '
                        f'(through a symbolic link)')
    return path


def _write_atomic(path, write):
    # A temporary name beside the target, renamed into place: a run stopped mid-write leaves no
    # file that a later run would take for a finished output and skip.
    folder, name = os.path.split(path)
    with atomic.replacing(path, tmp=os.path.join(folder, f'.{name}.partial')) as tmp:
        write(tmp)


def save_image_atomic(image, path):
    """Write a PIL image, in the format of the extension (JPEG at quality 95), atomically."""
    fmt = image_format(path)
    options = {'quality': 95} if fmt == 'JPEG' else {}
    _write_atomic(path, lambda tmp: image.save(tmp, format=fmt, **options))


def save_npy_atomic(array, path):
    def write(tmp):
        with open(tmp, 'wb') as f:  # a file object, or np.save would append '.npy' to the name
            np.save(f, array)
    _write_atomic(path, write)
