"""Build the Alderley rainy night->day dataset of ForkGAN and AU-GAN from the Alderley Day/Night download.

    python scripts/prepare_alderley.py --alderley_root /data/alderley --out datasets/alderley
    python scripts/prepare_alderley.py --alderley_root /data/alderley --out datasets/alderley --copy

The download (QUT) holds two frame sequences of the same drive: FRAMESA (a rainy night) and
FRAMESB (a sunny day), frames named like Image00001.jpg. As ForkGAN and AU-GAN did, the first four
fifths of each sequence in frame order (--train_fraction, rounded to the nearest frame) are for
training and the rest for testing: FRAMESA -> trainA and testA, FRAMESB -> trainB and testB, as
relative symbolic links or copies (--copy). Frames are ordered by the number in their name, so
Image9 comes before Image10 also without zero padding. Other folder names: --night_dir, --day_dir.

Files without a frame number are skipped and summed up. Frames already in place are kept, so a
second run changes nothing; anything else in the four folders is refused unless --overwrite, which
replaces only the files this command makes. Details: docs/datasets.md.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402

from data.dataset_layout import Skipped, add_layout_options, build_layout, print_counts  # noqa: E402
from data.image_folder import is_image_file  # noqa: E402
from util.errors import UserError, exit_on_user_error  # noqa: E402

# The last training frame of each sequence in ForkGAN's README (AU-GAN used its split).
PUBLISHED_LAST_TRAIN = {'night': 'Image13800.jpg', 'day': 'Image11686.jpg'}
FRAME_NUMBER = re.compile(r'(\d+)\D*$')  # the last run of digits in the file name


def frames(folder, skipped):
    """[(number, name)] of the image files directly in `folder`, in frame order."""
    found = []
    for entry in os.scandir(folder):
        if entry.name.startswith('.') or not entry.is_file() or not is_image_file(entry.name):
            continue
        match = FRAME_NUMBER.search(os.path.splitext(entry.name)[0])
        if match:
            found.append((int(match.group(1)), entry.name))
        else:
            skipped.add('images without a frame number in their name', entry.name)
    found.sort()
    return found


def split_sequence(root, folder_name, fraction, option):
    """(train, test): lists of (name, path) of one sequence, split in frame order."""
    folder = os.path.join(root, folder_name)
    if not os.path.isdir(folder):
        raise UserError(f'frame folder {folder} does not exist: --alderley_root should hold the {folder_name} '
                        f'folder of the Alderley download (or name the folder with {option})')
    skipped = Skipped(folder)
    sequence = frames(folder, skipped)
    skipped.report()
    if not sequence:
        raise UserError(f'no image frames in {folder}: unpack the Alderley frames there '
                        f'(files like Image00001.jpg), or name another folder with {option}')
    numbers = [n for n, _ in sequence]
    repeated = len(numbers) - len(set(numbers))
    if repeated:
        print(f'warning: {folder}: {repeated:,} frames share their number with another one; '
              f'those are ordered by name', file=sys.stderr)
    n_train = math.floor(len(sequence) * fraction + 0.5)
    if not 0 < n_train < len(sequence):
        raise UserError(f'{folder} has {len(sequence)} frames: too few to split with --train_fraction {fraction} '
                        f'(both parts need a frame); unpack the whole sequence or change --train_fraction')
    entries = [(name, os.path.join(folder, name)) for _, name in sequence]
    return entries[:n_train], entries[n_train:]


def parse_args(args):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--alderley_root', required=True,
                        help='Alderley download: the folder holding the night and day frame folders')
    parser.add_argument('--out', required=True, help='dataset folder to fill with trainA, trainB, testA, testB')
    parser.add_argument('--night_dir', default='FRAMESA', help='folder of the rainy night frames (-> A)')
    parser.add_argument('--day_dir', default='FRAMESB', help='folder of the day frames (-> B)')
    parser.add_argument('--train_fraction', type=float, default=0.8,
                        help='share of each sequence, from its first frame on, used for training')
    return add_layout_options(parser, 'frames').parse_args(args)


@exit_on_user_error
def main(args=None):
    opt = parse_args(args)
    if not 0 < opt.train_fraction < 1:
        raise UserError(f'--train_fraction {opt.train_fraction} is not between 0 and 1: '
                        f'pass the share of each sequence used for training, e.g. 0.8')
    if not os.path.isdir(opt.alderley_root):
        raise UserError(f'--alderley_root {opt.alderley_root} is not a folder: pass the folder of the Alderley '
                        f'download (the one holding {opt.night_dir} and {opt.day_dir})')
    night = split_sequence(opt.alderley_root, opt.night_dir, opt.train_fraction, '--night_dir')
    day = split_sequence(opt.alderley_root, opt.day_dir, opt.train_fraction, '--day_dir')
    plan = {'trainA': night[0], 'trainB': day[0], 'testA': night[1], 'testB': day[1]}
    stats = build_layout(opt.out, plan, opt.copy, opt.overwrite)

    def span(entries):
        return f'{entries[0][0]} .. {entries[-1][0]}'

    rows = []
    for folder, (entries, source, side) in {
            'trainA': (night[0], opt.night_dir, 'night'), 'trainB': (day[0], opt.day_dir, 'day'),
            'testA': (night[1], opt.night_dir, 'night'), 'testB': (day[1], opt.day_dir, 'day')}.items():
        published = None
        if folder.startswith('train'):
            last, expected = entries[-1][0], PUBLISHED_LAST_TRAIN[side]
            published = f'published: up to {expected}' + ('' if last == expected else ' (differs)')
        rows.append((folder, f'{source} {span(entries)}', len(entries), published))
    print_counts('Alderley rainy night -> day', opt.out, stats, opt.copy, rows)
    if any(r[3] and r[3].endswith('(differs)') for r in rows):
        print('note: the split differs from ForkGAN\'s (its README trains on night Image00001-Image13800 and '
              'day Image00001-Image11686): other frame counts or another --train_fraction')
    return 0


if __name__ == '__main__':
    sys.exit(main())
