"""The base class of every dataset, and the image preprocessing they share.

A dataset mode `foo` lives in data/foo_dataset.py as a class `FooDataset(BaseDataset)`; see
data/template_dataset.py for a commented example. This module also provides:

- `load_image`: open and fully decode one file, turning any failure into a one-line UserError;
- `get_params` / `get_transform`: the `--preprocess` pipeline (resize, crop, flip, to [-1, 1]);
- `round_to_multiple`: the final size rounding that lets the generator return the size it was given;
- `parse_size` / `size_hw`: --load_size and --crop_size as one number (a square) or HxW.
"""
import abc
import argparse
import math
import os
import random
import re
import sys
from dataclasses import dataclass
from typing import NamedTuple, Union

import torch.utils.data as data
import torchvision.transforms as transforms
from PIL import Image

from util.config import flag, from_options
from util.errors import UserError

BICUBIC = Image.BICUBIC

PREPROCESS_MODES = ('resize_and_crop', 'resize', 'crop', 'scale_width', 'scale_width_and_crop',
                    'scale_height', 'scale_height_and_crop', 'none')

# Two stride-2 downsamplings in the generator: sizes divisible by 4 come back unchanged.
SIZE_MULTIPLE = 4

# How many replacement images `--bad_images skip` tries before deciding a folder is unusable.
MAX_SUBSTITUTE_TRIES = 50


class ImageSize(NamedTuple):
    """A height and width in pixels, written HxW (286x572)."""
    h: int
    w: int

    def __str__(self):
        return f'{self.h}x{self.w}'


def parse_size(text):
    """The argparse type of --load_size/--crop_size: '256' (a square, kept as the int 256) or
    '256x512' (height x width, an ImageSize; a square written so is the int too)."""
    m = re.fullmatch(r'\s*(\d+)\s*(?:[xX×]\s*(\d+)\s*)?', str(text))
    if not m:
        raise argparse.ArgumentTypeError(f'{text!r} is not a size: give one number (a square) or HEIGHTxWIDTH, '
                                         f'e.g. 256 or 256x512')
    h, w = int(m.group(1)), int(m.group(2) or m.group(1))
    return h if h == w else ImageSize(h, w)


@dataclass(frozen=True)
class Geometry:
    """How an image is scaled, cropped and flipped before a network sees it (get_transform). Each
    field is the flag of its name (util/config.py); a size is an int (a square) or an ImageSize."""
    load_size: Union[int, ImageSize] = flag(286, 'scale images to this size: N (a square) or HEIGHTxWIDTH, '
                                                 'e.g. 286x572', parse=parse_size)
    crop_size: Union[int, ImageSize] = flag(256, 'then crop to this size: N (a square) or HEIGHTxWIDTH, e.g. '
                                                 '256x512', parse=parse_size)
    preprocess: str = flag('resize_and_crop', 'how images are scaled and cropped (resize: to --load_size, no '
                                              'crop); sizes are then rounded to multiples of 4', PREPROCESS_MODES)
    no_flip: bool = flag(False, 'do not flip images horizontally for augmentation')


def size_hw(size):
    """(height, width) of a size given as one number (a square) or as a pair."""
    if isinstance(size, (tuple, list)):
        return int(size[0]), int(size[1])
    return int(size), int(size)


def single_number(size, flag, why):
    """The one number a size must be where it scales one side; a HxW size is a UserError."""
    h, w = size_hw(size)
    if h != w:
        raise UserError(f'{flag} {h}x{w}: {why} takes one number, not HEIGHTxWIDTH')
    return h


class BaseDataset(data.Dataset, abc.ABC):
    """Abstract dataset: subclasses implement __init__, __len__, __getitem__ and may add options.

    __getitem__ returns a dict with at least 'A' (a tensor) and 'A_paths' (its file path);
    unpaired datasets add 'B' and 'B_paths'.
    """

    def __init__(self, opt):
        self.opt = opt
        self.root = opt.dataroot
        self.geometry = from_options(Geometry, opt)
        self._bad_paths = set()

    @staticmethod
    def modify_commandline_options(parser, is_train):
        """Add dataset-specific options or change defaults; returns the parser."""
        return parser

    @abc.abstractmethod
    def __len__(self):
        """Number of samples in the dataset."""

    @abc.abstractmethod
    def __getitem__(self, index):
        """A dict holding the sample's tensors and the paths they came from."""

    def folders(self, *subfolders):
        """The paths of these sub-folders of --dataroot (or --dataroot itself when none are
        named), with a one-line error naming what is missing."""
        need = ' and '.join(f'{name}/' for name in subfolders) or 'images'
        if not os.path.isdir(self.root):
            raise UserError(f"dataroot {self.root} does not exist: pass --dataroot pointing at a folder with {need} "
                            f"(get one with: bash datasets/download_dataset.sh daynight)")
        paths = [os.path.join(self.root, name) for name in subfolders]
        for path in paths:
            if not os.path.isdir(path):
                raise UserError(f"folder {path} is missing: --dataroot {self.root} needs {need} "
                                f"(check --dataroot and --phase)")
        return paths or [self.root]

    def load_image_at(self, paths, index, channels, folder):
        """Load paths[index] with `channels` channels, following `--bad_images`.

        Returns (image, path actually loaded). With 'error' (the default) an unreadable file raises
        UserError; with 'skip' it is reported once on stderr and a random other image of `paths`
        (the list of `folder`) is used instead.
        """
        path = paths[index]
        if self.opt.bad_images != 'skip':
            return load_image(path, channels), path
        bad = self.__dict__.setdefault('_bad_paths', set())
        last_error = None
        for _ in range(MAX_SUBSTITUTE_TRIES):
            if path not in bad:
                try:
                    return load_image(path, channels), path
                except UserError as e:
                    bad.add(path)
                    last_error = e
                    print(f"warning: {e} [--bad_images skip: using another image of {folder}]",
                          file=sys.stderr, flush=True)
            candidates = [p for p in paths if p not in bad]
            if not candidates:
                break
            path = random.choice(candidates)
        last = f" (last: {last_error})" if last_error else ""
        raise UserError(f"gave up looking for a readable image in {folder} after {len(bad)} unreadable "
                        f"files{last}: replace or delete the unreadable files")


def load_image(path, channels):
    """The image at `path` as a PIL image in mode 'RGB' (channels=3) or 'L' (channels=1).

    The pixels are decoded here, so corrupt or truncated files fail now with a UserError rather
    than later inside a transform with an obscure message.
    """
    modes = {1: 'L', 3: 'RGB'}
    if channels not in modes:
        raise UserError(f"cannot read {path} with {channels} channels: "
                        f"set --input_nc/--output_nc to 1 (grayscale) or 3 (RGB)")
    try:
        with Image.open(path) as img:
            img.load()
            # convert() copies even to the same mode: 10 ms for a 1920x1080 frame, a fifth of
            # a sample's loading, so an image already in the wanted mode is returned as decoded
            return img if img.mode == modes[channels] else img.convert(modes[channels])
    except Exception as e:  # PIL raises OSError, ValueError, SyntaxError, ... depending on the codec
        # PIL and the OS repeat the path in their messages; ours names it once.
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        reason = reason.replace(f"'{path}'", '').replace(str(path), '').strip(' :') or type(e).__name__
        raise UserError(f"cannot read image {path} ({reason}): replace or delete the file") from e


def round_to_multiple(size, base=SIZE_MULTIPLE):
    """(w, h) with each side rounded to the nearest multiple of `base` (halves round up), >= base."""
    return tuple(max(base, int(math.floor(s / base + 0.5)) * base) for s in size)


def _check_preprocess(preprocess):
    if preprocess not in PREPROCESS_MODES:
        raise UserError(f"unknown --preprocess {preprocess!r}: use one of {', '.join(PREPROCESS_MODES)}")


def _resized_size(preprocess, load_size, crop_size, size):
    """Size (w, h) after the resize step of `preprocess`, before cropping and rounding."""
    w, h = size
    if preprocess in ('resize_and_crop', 'resize'):
        h, w = size_hw(load_size)
    elif preprocess.startswith('scale_width'):
        load = single_number(load_size, '--load_size', f'--preprocess {preprocess}')
        w, h = load, max(1, round(load * h / w))
    elif preprocess.startswith('scale_height'):
        load = single_number(load_size, '--load_size', f'--preprocess {preprocess}')
        w, h = max(1, round(load * w / h)), load
    if preprocess.endswith('crop'):
        crop_h, crop_w = size_hw(crop_size)
        if w < crop_w or h < crop_h:
            # Too small to crop: enlarge keeping the aspect ratio instead of failing.
            scale = max(crop_w / w, crop_h / h)
            w, h = max(crop_w, round(w * scale)), max(crop_h, round(h * scale))
    return w, h


def get_params(geometry, size, keep=None):
    """Random crop position and flip for an image of `size` (w, h), to apply the same to several images.

    With `keep`, a box (x1, y1, x2, y2) in the image's pixels, the crop is chosen among those that
    contain the whole box when there are any. Returns {'crop_pos': (x, y), 'flip': bool}; pass it as
    `params` to get_transform (and to transform_box).
    """
    _check_preprocess(geometry.preprocess)
    w, h = _resized_size(geometry.preprocess, geometry.load_size, geometry.crop_size, size)
    crop_h, crop_w = size_hw(geometry.crop_size)
    ranges = [[0, max(0, w - crop_w)], [0, max(0, h - crop_h)]]
    if keep is not None:
        sx, sy = w / size[0], h / size[1]
        for axis, (lo, hi), scale, limit, crop in ((0, (keep[0], keep[2]), sx, w, crop_w),
                                                    (1, (keep[1], keep[3]), sy, h, crop_h)):
            first, last = max(0, int(hi * scale) - crop), min(limit - crop, int(lo * scale))
            if first <= last:
                ranges[axis] = [first, last]
    x = random.randint(*ranges[0])
    y = random.randint(*ranges[1])
    return {'crop_pos': (x, y), 'flip': random.random() > 0.5}


def transform_box(geometry, size, params, box):
    """Where the box (x1, y1, x2, y2) of an image of `size` lies after get_transform(geometry,
    params): the same resize, crop, rounding and flip, in the output's pixels; None when the crop
    cuts it out."""
    w, h = _resized_size(geometry.preprocess, geometry.load_size, geometry.crop_size, size)
    x1, y1, x2, y2 = box[0] * w / size[0], box[1] * h / size[1], box[2] * w / size[0], box[3] * h / size[1]
    if geometry.preprocess.endswith('crop'):
        ch, cw = size_hw(geometry.crop_size)
        cx, cy = min(params['crop_pos'][0], w - cw), min(params['crop_pos'][1], h - ch)
        x1, x2 = min(max(x1 - cx, 0), cw), min(max(x2 - cx, 0), cw)
        y1, y2 = min(max(y1 - cy, 0), ch), min(max(y2 - cy, 0), ch)
        w, h = cw, ch
    if x2 - x1 < 1 or y2 - y1 < 1:
        return None
    rw, rh = round_to_multiple((w, h))
    x1, x2, y1, y2 = x1 * rw / w, x2 * rw / w, y1 * rh / h, y2 * rh / h
    if not geometry.no_flip and params['flip']:
        x1, x2 = rw - x2, rw - x1
    return [x1, y1, x2, y2]


def _pil_method(method):
    # Accept torchvision's InterpolationMode too; PIL has no NEAREST_EXACT, its NEAREST matches it.
    if isinstance(method, transforms.InterpolationMode):
        name = 'NEAREST' if method.name == 'NEAREST_EXACT' else method.name
        return Image.Resampling[name]
    return method


class _ResizeCropRound:
    """Resize and crop as `preprocess` says, then round both sides to a multiple of SIZE_MULTIPLE."""

    def __init__(self, preprocess, load_size, crop_size, method, crop_pos=None):
        self.preprocess, self.load_size, self.crop_size = preprocess, load_size, crop_size
        self.method, self.crop_pos = method, crop_pos

    def __call__(self, img):
        size = _resized_size(self.preprocess, self.load_size, self.crop_size, img.size)
        if size != img.size:
            img = img.resize(size, self.method)
        if self.preprocess.endswith('crop'):
            ch, cw = size_hw(self.crop_size)
            w, h = img.size
            if self.crop_pos is None:
                x, y = random.randint(0, w - cw), random.randint(0, h - ch)
            else:
                x, y = min(self.crop_pos[0], w - cw), min(self.crop_pos[1], h - ch)
            img = img.crop((x, y, x + cw, y + ch))
        rounded = round_to_multiple(img.size)
        if rounded != img.size:
            img = img.resize(rounded, self.method)
        return img


class _HorizontalFlip:
    """Mirror the image: always/never when `flip` is a bool, with probability 1/2 when it is None."""

    def __init__(self, flip=None):
        self.flip = flip

    def __call__(self, img):
        flip = random.random() < 0.5 if self.flip is None else self.flip
        return img.transpose(Image.FLIP_LEFT_RIGHT) if flip else img


class _ToSymmetricRange:
    """[0, 1] -> [-1, 1] for any number of channels (same as Normalize(0.5, 0.5) per channel)."""

    def __call__(self, tensor):
        return tensor * 2 - 1


def get_transform(geometry, params=None, grayscale=False, method=BICUBIC, convert=True):
    """The preprocessing pipeline for one image, as a callable PIL image -> tensor in [-1, 1].

    `geometry` (a Geometry) says how to scale, crop and flip. With `params` (from get_params)
    crop and flip are fixed, otherwise random per call. The last geometric step always
    rounds height and width to multiples of 4. With convert=False the result stays a PIL image.
    """
    _check_preprocess(geometry.preprocess)
    steps = []
    if grayscale:
        steps.append(transforms.Grayscale(1))
    crop_pos = params['crop_pos'] if params is not None else None
    steps.append(_ResizeCropRound(geometry.preprocess, geometry.load_size, geometry.crop_size,
                                  _pil_method(method), crop_pos))
    if not geometry.no_flip:
        steps.append(_HorizontalFlip(params['flip'] if params is not None else None))
    if convert:
        steps += [transforms.ToTensor(), _ToSymmetricRange()]
    return transforms.Compose(steps)
