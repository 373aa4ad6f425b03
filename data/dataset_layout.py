"""Filling a dataset's trainA/trainB/testA/testB folders with links to (or copies of) images
kept elsewhere, safely and repeatably: what scripts/prepare_bdd100k.py and
scripts/prepare_alderley.py share.

- `build_layout`: make out/<folder>/<name> point at each source image; entries already right
  are kept (a second run changes nothing), anything else in the folders is refused unless
  `overwrite`, and every file appears under its final name only once complete;
- `Skipped`: records or files left out, counted by reason with a few example names;
- `print_counts`: the closing summary, one line per folder.
"""
import os
import re
import shutil
import sys
from collections import Counter

from tqdm import tqdm

from util import atomic
from util.errors import UserError

EXAMPLES = 5  # names quoted in a summary of skipped records


def add_layout_options(parser, what='images'):
    """The --copy and --overwrite flags every preparation script takes."""
    parser.add_argument('--copy', action='store_true',
                        help=f'copy the {what} instead of linking them (for file systems without symbolic links)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace what is in the way of the files this command makes (other files stay)')
    return parser
TMP_RE = re.compile(r'^\..+\.prepare-\d+\.tmp$')  # our temporary files, left by an interrupted run


# ----- what is skipped, summed up -----

class Skipped:
    """Records (or files) left out, by reason, with the first few names of each for the summary."""

    def __init__(self, source):
        self.source = source
        self.count = Counter()
        self.examples = {}

    def add(self, reason, example):
        self.count[reason] += 1
        examples = self.examples.setdefault(reason, [])
        if len(examples) < EXAMPLES:
            examples.append(str(example))

    def total(self):
        return sum(self.count.values())

    def report(self, file=None):
        for reason, n in self.count.items():
            examples = ', '.join(self.examples[reason]) + (', ...' if n > len(self.examples[reason]) else '')
            print(f'warning: {self.source}: skipped {reason} ({n:,}): {examples}', file=file or sys.stderr)


# ----- links and copies -----

def safe_relative(name):
    """True when `name` is a relative path that stays inside the folder it is relative to."""
    if not name or os.path.isabs(name) or '\\' in name or '\0' in name:
        return False
    parts = name.split('/')
    return all(p not in ('', '.', '..') for p in parts)


def _link_target(src, dest):
    """What a link at `dest` should hold to reach `src`: a path relative to the real folder of the
    link (which stays right when the output folder is reached through a symbolic link), or the
    absolute path where no relative one exists (another drive on Windows)."""
    try:
        return os.path.relpath(os.path.abspath(src), os.path.realpath(os.path.dirname(dest)))
    except ValueError:
        return os.path.abspath(src)


def _is_current(dest, src, copy):
    """True when `dest` is already what this run would make of `src`."""
    if not copy:
        return os.path.islink(dest) and os.path.realpath(dest) == os.path.realpath(src)
    if os.path.islink(dest) or not os.path.isfile(dest):
        return False
    a, b = os.stat(dest), os.stat(src)
    return a.st_size == b.st_size and abs(a.st_mtime - b.st_mtime) < 2  # copy2 keeps the time


def _place(src, dest, copy):
    """Make `dest` a link to (or a copy of) `src`, through a temporary name so that no half-made
    file ever carries the final name."""
    # a name TMP_RE knows, so a later run clears what a killed one left
    tmp = os.path.join(os.path.dirname(dest), f'.{os.path.basename(dest)}.prepare-{os.getpid()}.tmp')
    try:
        with atomic.replacing(dest, tmp=tmp):  # removes tmp on any failure
            if copy:
                shutil.copy2(src, tmp)
            else:
                os.symlink(_link_target(src, dest), tmp)
    except OSError as e:
        if copy:
            raise UserError(f'cannot copy {src} to {dest}: {e.strerror}: free some space or fix the permissions')
        raise UserError(f'cannot make a symbolic link at {dest} ({e.strerror}): rerun with --copy '
                        f'(e.g. on a file system without links), or fix the permissions')


def _existing(folder):
    """Paths (relative, '/'-separated) of the files and links under `folder`, hidden ones aside;
    our own temporary files left by an interrupted run are removed on the way."""
    found = set()
    for root, dirs, files in os.walk(folder):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            path = os.path.join(root, name)
            if TMP_RE.match(name):
                os.remove(path)
            elif not name.startswith('.'):
                found.add(os.path.relpath(path, folder).replace(os.sep, '/'))
        dirs[:] = [d for d in dirs if not d.startswith('.') and not os.path.islink(os.path.join(root, d))]
    return found


def build_layout(out, plan, copy=False, overwrite=False):
    """Fill out/<folder>/<name> with a link to (or a copy of) src for every (name, src) of
    plan[folder]. Entries already right are kept. Without `overwrite`, anything else in the
    folders stops the run before a file is touched; with it, the entries of the plan are replaced
    and other files are left alone (and reported). Returns {'made', 'kept', 'replaced'}."""
    out = os.path.abspath(out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f'--out {out} is a file, not a folder: pass a folder for the dataset')
    todo, kept, replaced, foreign = [], 0, 0, {}
    for folder, entries in plan.items():
        root = os.path.join(out, folder)
        if os.path.lexists(root) and not os.path.isdir(root):
            raise UserError(f'{root} is a file, not a folder: move it away or pick another --out')
        existing = _existing(root) if os.path.isdir(root) else set()
        differing = []
        for name, src in entries:
            dest = os.path.join(root, *name.split('/'))
            if os.path.isdir(dest) and not os.path.islink(dest):
                raise UserError(f'{dest} is a folder where this command puts an image: move it away '
                                f'or pick another --out')
            if not os.path.islink(dest) and os.path.realpath(dest) == os.path.realpath(src):
                raise UserError(f'{dest} is the source image itself ({root} leads into the download): '
                                f'pick an --out outside the downloaded image folders')
            existing.discard(name)
            if not os.path.lexists(dest):
                todo.append((src, dest))
            elif _is_current(dest, src, copy):
                kept += 1
            else:
                differing.append(name)
                todo.append((src, dest))
        replaced += len(differing)
        if (differing or existing) and not overwrite:
            what = []
            if differing:
                kind = 'copies' if copy else 'links to its sources'
                what.append(f'{len(differing):,} files where this command puts {kind} (e.g. {differing[0]})')
            if existing:
                what.append(f'{len(existing):,} files it does not make (e.g. {min(existing)})')
            raise UserError(f'{root} already holds {" and ".join(what)}: pass --overwrite to replace the ones it '
                            f'makes (others stay), or pick an empty --out')
        if existing:
            foreign[root] = sorted(existing)
    for root, names in foreign.items():
        more = ', ...' if len(names) > EXAMPLES else ''
        print(f'warning: {root} also holds {len(names):,} files this command did not make, left in place '
              f'(e.g. {", ".join(names[:EXAMPLES])}{more}): delete them unless they belong in the dataset',
              file=sys.stderr)
    for src, dest in tqdm(todo, desc='copying' if copy else 'linking', unit='file', disable=not todo):
        _place(src, dest, copy)
    return {'made': len(todo) - replaced, 'kept': kept, 'replaced': replaced}


def print_counts(title, out, stats, copy, rows):
    """The closing summary: a title line, then one line per folder (`rows`: (folder, text, count,
    published text or None))."""
    how = 'copies' if copy else 'symbolic links'
    print(f'{title} in {os.path.abspath(out)} ({how}: made {stats["made"]:,}, '
          f'kept {stats["kept"]:,} already in place, replaced {stats["replaced"]:,})')
    width = max(len(text) for _, text, _, _ in rows)
    for folder, text, count, published in rows:
        line = f'  {folder:<6}  {text:<{width}}  {count:>7,}'
        print(line + (f'   {published}' if published else ''))
