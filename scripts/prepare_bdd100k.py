r"""Build the BDD100K night->day dataset of ForkGAN and AU-GAN from a BDD100K download.

    python scripts/prepare_bdd100k.py --bdd_root /data/bdd100k --out datasets/bdd100k
    python scripts/prepare_bdd100k.py --bdd_root /data/bdd100k --out datasets/bdd100k --copy
    python scripts/prepare_bdd100k.py --bdd_root /data/bdd100k_images_100k/bdd100k \
        --labels_dir /data/bdd100k_labels_release/bdd100k/labels --out datasets/bdd100k

Reads the time of day of each image (`attributes.timeofday` of the records in the train and val
label files) and fills OUT/trainA (train split, night), trainB (train, daytime), testA (val, night)
and testB (val, daytime) with relative symbolic links to the images under
BDD_ROOT/images/100k/{train,val}, or with copies (--copy). 'dawn/dusk' and 'undefined' images are
left out. The labels are looked for in --labels_dir (default BDD_ROOT/labels), as
bdd100k_labels_images_{train,val}.json (the 2018 release, most likely the source of the published
counts) or det_20/det_{train,val}.json (the 2020 release).

Records without a name or a time of day, and images the labels list but the disk lacks, are skipped
and summed up with a few examples. Images already in place are kept, so a second run changes
nothing and an interrupted one resumes; anything else in the four folders is refused unless
--overwrite, which replaces only the files this command makes. The four counts are printed next to
the published ones. Details: docs/datasets.md.

The link and copy machinery is data/dataset_layout.py, shared with scripts/prepare_alderley.py.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import codecs  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
from collections import Counter  # noqa: E402

from tqdm import tqdm  # noqa: E402

from data.dataset_layout import Skipped, add_layout_options, build_layout, print_counts, safe_relative  # noqa: E402
from util.errors import UserError, exit_on_user_error  # noqa: E402

FOLDERS = ('trainA', 'trainB', 'testA', 'testB')
# folder -> (label split, time of day) and the counts published by ForkGAN and AU-GAN
BDD_SPLIT = {'trainA': ('train', 'night'), 'trainB': ('train', 'daytime'),
             'testA': ('val', 'night'), 'testB': ('val', 'daytime')}
PUBLISHED = {'trainA': 27971, 'trainB': 36728, 'testA': 3929, 'testB': 5258}
# label file names tried in --labels_dir, in order: the 2018 release (the papers') first
LABEL_NAMES = ('bdd100k_labels_images_{split}.json', os.path.join('det_20', 'det_{split}.json'),
               'det_{split}.json')
CHUNK = 1 << 20            # bytes read at a time from a label file
PROGRESS_BYTES = 16 << 20  # label files from this size on get a progress bar
NUMBER_CHARS = '0123456789.eE+-'


# ----- reading a JSON list one element at a time -----

class JsonListReader:
    """The elements of a JSON file whose top level is a list, one at a time.

    A BDD100K label file runs to hundreds of megabytes: parsed whole it would take several times
    that in memory. This decodes element after element from a sliding buffer, with a progress bar
    over the bytes read. Any syntax error raises a UserError naming the file, line and column.
    """

    def __init__(self, path):
        self.path = path
        self.file = None
        self.bar = None
        self.utf8 = codecs.getincrementaldecoder('utf-8-sig')()  # a byte-order mark is dropped
        self.decoder = json.JSONDecoder()
        self.buf, self.pos, self.eof = '', 0, False
        self.lines_before, self.column_base = 0, 0  # where self.buf starts in the file

    def __enter__(self):
        self.file = open(self.path, 'rb')
        size = os.path.getsize(self.path)
        self.bar = tqdm(total=size, unit='B', unit_scale=True, leave=False,
                        desc=f'reading {os.path.basename(self.path)}', disable=size < PROGRESS_BYTES)
        return self

    def __exit__(self, *exc):
        self.bar.close()
        self.file.close()

    # buffer handling
    def _more(self):
        """Append the next chunk to the buffer, dropping what was consumed; False at the end."""
        if self.eof:
            return False
        chunk = self.file.read(CHUNK)
        self.bar.update(len(chunk))
        try:
            text = self.utf8.decode(chunk, final=not chunk)
        except UnicodeDecodeError:
            raise UserError(f'{self.path} is not UTF-8 text, so not a BDD100K label file: '
                            f'download and unpack the labels again')
        done = self.buf[:self.pos]
        newline = done.rfind('\n')
        if newline >= 0:
            self.lines_before += done.count('\n')
            self.column_base = len(done) - newline - 1
        else:
            self.column_base += len(done)
        self.buf, self.pos = self.buf[self.pos:] + text, 0
        self.eof = not chunk
        return True

    def _peek(self):
        """The next character that is not white space ('' at the end of the file)."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in ' \t\r\n':
                self.pos += 1
            if self.pos < len(self.buf) or not self._more():
                return self.buf[self.pos:self.pos + 1]

    def _fail(self, what, pos=None):
        pos = self.pos if pos is None else pos
        newline = self.buf.rfind('\n', 0, pos)
        line = self.lines_before + self.buf.count('\n', 0, pos) + 1
        column = pos - newline if newline >= 0 else self.column_base + pos + 1
        raise UserError(f'{self.path} is not valid JSON ({what} at line {line} column {column}): '
                        f'the file is damaged or cut short; download and unpack the labels again')

    def _element(self):
        self._peek()
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as e:
                # The buffer may end inside this element: read on, unless the error lies well
                # before the end of the data (a real one) or the whole file is in.
                cut_short = e.pos >= len(self.buf) - 64 or e.msg.startswith('Unterminated string')
                if cut_short and self._more():
                    continue
                self._fail(e.msg.lower(), e.pos)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if (end == len(self.buf) or number and self.buf[end] in NUMBER_CHARS) and self._more():
                continue  # a number may go on in the next chunk ('0' of '0.5')
            self.pos = end
            return value

    def top_level(self):
        """'[' for a list, or the first character of whatever else the file holds."""
        return self._peek()

    def __iter__(self):
        if self._peek() != '[':
            self._fail("expected '['")
        self.pos += 1
        if self._peek() == ']':
            self.pos += 1
        else:
            while True:
                yield self._element()
                c = self._peek()
                self.pos += 1
                if c == ']':
                    break
                if c != ',':
                    self.pos -= 1
                    self._fail("expected ',' or ']'")
        if self._peek():
            self._fail('extra data after the list')


def read_records(path):
    """Iterate over the records of a label file: a JSON list (read incrementally) or a Scalabel
    object whose 'frames' is that list."""
    with JsonListReader(path) as reader:
        first = reader.top_level()
        if first == '[':
            yield from reader
            return
    if not first:
        raise UserError(f'{path} is empty: download and unpack the labels again')
    if first != '{':
        raise UserError(f'{path} does not hold a list of image records (it starts with {first!r}): '
                        f'pass the BDD100K image label files (bdd100k_labels_images_*.json or det_*.json)')
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f'{path} is not valid JSON ({e}): the file is damaged or cut short; '
                        f'download and unpack the labels again')
    frames = data.get('frames') if isinstance(data, dict) else None
    if not isinstance(frames, list):
        raise UserError(f'{path} holds a JSON object without a "frames" list, not a list of image records: '
                        f'pass the BDD100K image label files (bdd100k_labels_images_*.json or det_*.json)')
    yield from frames


def compare(count, published):
    """'published N', with how far `count` is from it when they differ."""
    if count == published:
        return f'published {published:,}'
    diff = count - published
    return f'published {published:,} ({abs(diff):,} {"more" if diff > 0 else "fewer"} here)'


# ----- BDD100K -----

def find_label_file(labels_dir, split, bdd_root):
    if not os.path.isdir(labels_dir):
        hint = ''
        nested = os.path.join(bdd_root, 'bdd100k', 'labels')
        if os.path.isdir(nested):
            hint = f' (there is one at {nested}: pass --labels_dir {nested})'
        raise UserError(f'label folder {labels_dir} does not exist{hint}: unpack the BDD100K labels so that '
                        f'it holds bdd100k_labels_images_{split}.json, or pass --labels_dir')
    for pattern in LABEL_NAMES:
        path = os.path.join(labels_dir, pattern.format(split=split))
        if os.path.isfile(path):
            return path
    raise UserError(f'no {split} label file {os.path.join(labels_dir, LABEL_NAMES[0].format(split=split))} '
                    f'(nor det_20/det_{split}.json there): unpack the BDD100K labels (bdd100k_labels_release.zip) '
                    f'into that folder, or pass --labels_dir with the folder that holds them')


def find_image_dir(bdd_root, split):
    path = os.path.join(bdd_root, 'images', '100k', split)
    if os.path.isdir(path):
        return path
    hint = ''
    nested = os.path.join(bdd_root, 'bdd100k')
    if os.path.isdir(os.path.join(nested, 'images', '100k', split)):
        hint = f' (there is one under {nested}: pass --bdd_root {nested})'
    raise UserError(f'image folder {path} does not exist{hint}: unpack the BDD100K 100k images so that '
                    f'--bdd_root holds images/100k/train and images/100k/val')


def select_images(label_path, image_dir, split):
    """{'night': [(name, path)], 'daytime': [...]} of the records of one label file whose image
    exists, a Counter of the times of day seen, and the Skipped records."""
    skipped = Skipped(label_path)
    times = Counter()
    chosen = {'night': [], 'daytime': []}
    seen, missing = set(), []
    on_disk = {e.name for e in os.scandir(image_dir) if e.is_file()}
    n = 0
    for n, record in enumerate(read_records(label_path), 1):
        index = f'record {n - 1}'
        if not isinstance(record, dict):
            skipped.add('records that are not JSON objects', index)
            continue
        name = record.get('name')
        attributes = record.get('attributes')
        timeofday = attributes.get('timeofday') if isinstance(attributes, dict) else None
        if not isinstance(name, str) or not name:
            skipped.add('records without "name"', index)
            continue
        if not isinstance(timeofday, str) or not timeofday:
            skipped.add('records without "attributes.timeofday"', name)
            continue
        times[timeofday] += 1
        if timeofday not in chosen:
            continue
        path = os.path.join(image_dir, *name.split('/'))
        if not safe_relative(name):
            skipped.add('records whose name leads out of the image folder', name)
        elif name in seen:
            skipped.add('records of an image listed before', name)
        elif not (name in on_disk or ('/' in name and os.path.isfile(path))):
            skipped.add(f'{timeofday} images missing from {image_dir}', name)
            missing.append(name)
        else:
            seen.add(name)
            chosen[timeofday].append((name, path))
    if n == 0:
        raise UserError(f'{label_path} holds no image records: download and unpack the labels again')
    if not times:
        raise UserError(f'{label_path}: none of its {n:,} records has a "name" and an "attributes.timeofday": '
                        f'pass the BDD100K image label files (bdd100k_labels_images_{split}.json)')
    if missing and not seen:
        raise UserError(f'none of the {len(missing):,} night and daytime images of {label_path} is in {image_dir} '
                        f'(e.g. {missing[0]}): point --bdd_root at the download whose {split} images '
                        f'these labels describe')
    return chosen, times, skipped


def parse_args(args):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--bdd_root', required=True,
                        help='BDD100K download: holds images/100k/train and images/100k/val (and labels/)')
    parser.add_argument('--out', required=True, help='dataset folder to fill with trainA, trainB, testA, testB')
    parser.add_argument('--labels_dir', default=None,
                        help='folder of bdd100k_labels_images_{train,val}.json or det_20/det_{train,val}.json '
                             '(default: BDD_ROOT/labels)')
    return add_layout_options(parser).parse_args(args)


@exit_on_user_error
def main(args=None):
    opt = parse_args(args)
    if not os.path.isdir(opt.bdd_root):
        raise UserError(f'--bdd_root {opt.bdd_root} is not a folder: pass the folder of the BDD100K download '
                        f'(the one holding images/100k)')
    labels_dir = opt.labels_dir or os.path.join(opt.bdd_root, 'labels')
    sources = {split: (find_label_file(labels_dir, split, opt.bdd_root), find_image_dir(opt.bdd_root, split))
               for split in ('train', 'val')}
    selected, skipped_total = {}, 0
    for split, (label_path, image_dir) in sources.items():
        print(f'{split}: labels {label_path}, images {image_dir}')
        chosen, times, skipped = select_images(label_path, image_dir, split)
        skipped.report()
        skipped_total += skipped.total()
        print(f'{split}: times of day ' + ', '.join(f'{t} {n:,}' for t, n in times.most_common()))
        for tod, entries in chosen.items():
            selected[split, tod] = entries
    plan = {folder: selected[BDD_SPLIT[folder]] for folder in FOLDERS}
    stats = build_layout(opt.out, plan, opt.copy, opt.overwrite)
    counts = {folder: len(plan[folder]) for folder in FOLDERS}
    print_counts('BDD100K night -> day', opt.out, stats, opt.copy,
                 [(f, f'{BDD_SPLIT[f][0]} {BDD_SPLIT[f][1]}', counts[f], compare(counts[f], PUBLISHED[f]))
                  for f in FOLDERS])
    if counts != PUBLISHED:
        why = [f'{skipped_total:,} records skipped (see the warnings above)'] if skipped_total else []
        if any('det_' in os.path.basename(path) for path, _ in sources.values()):
            why.append('the 2020 det_20 labels may list other images than the 2018 release the papers used')
        print('note: the counts differ from the published ones (ForkGAN, AU-GAN)'
              + (': ' + '; '.join(why) if why else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
