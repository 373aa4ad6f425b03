"""Running a trained generator on whole images and videos, outside the training data pipeline.

scripts/convert.py is built from these pieces; evaluation and export can reuse them:

- `generator_name`: which of a model's generators translates in a --direction;
- `find_inputs`: the images and videos that an --input names (a file, a folder searched
  recursively, a .txt list of paths), each with the relative name its outputs take;
- `output_path`: where an output goes under a results folder, refusing any path that leaves it;
- `image_transform`, `to_image`, `resize_map`: PIL image -> generator input (sides rounded to
  multiples of 4, optionally scaled by height) and back to the input's exact size;
- `Translator`, `translate_tiled`: a generator under inference mode and autocast, on whole frames
  or on overlapping tiles blended with linear ramps;
- `VideoReader`, `VideoWriter`: frame-by-frame decoding and encoding with PyAV;
- `save_image_atomic`, `save_npy_atomic`, `prefetch`.
"""
import contextlib
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from types import SimpleNamespace
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from data.base_dataset import get_transform
from data.image_folder import IMG_EXTENSIONS, is_image_file
from util.errors import UserError
from util.util import tensor2im

VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.mov')
LIST_EXTENSIONS = ('.txt',)


# ----- inputs and outputs -----
class Input(NamedTuple):
    path: str    # where to read it
    rel: str     # its name under a results folder: relative, without '..'
    video: bool


def is_video_file(filename):
    return str(filename).lower().endswith(VIDEO_EXTENSIONS)


def _input(path, rel):
    return Input(path, rel, is_video_file(path))


def find_inputs(input_path, exclude=None):
    """The images and videos named by `input_path`, as `Input`s in a reproducible order.

    A file is taken alone (named by its file name); a folder is searched recursively (hidden files
    and folders left out, as in make_dataset; names keep the sub-folders); a .txt file lists one
    path a line (see `_list_inputs`). `exclude`, a folder, is never searched: the results folder,
    when it lies inside the input folder, so that a second run does not convert its own outputs.
    """
    path = os.path.abspath(input_path)
    if os.path.isdir(path):
        items, where = _folder_inputs(path, exclude), f'folder {input_path} (searched recursively)'
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


def _folder_inputs(folder, exclude):
    skip = os.path.realpath(exclude) if exclude else None
    found = []
    for root, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = [d for d in dirnames
                       if not d.startswith('.') and os.path.realpath(os.path.join(root, d)) != skip]
        found += [os.path.join(root, f) for f in filenames
                  if not f.startswith('.') and (is_image_file(f) or is_video_file(f))]
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


# ----- sizes -----
def image_transform(load_size=0):
    """PIL image -> generator input, a (C, H, W) tensor in [-1, 1] with H and W multiples of 4.

    load_size 0 keeps the full resolution (--preprocess none), N scales to height N keeping the
    aspect ratio (--preprocess scale_height), a pair (H, W) resizes to exactly H x W (--preprocess
    resize, how the official AU-GAN code feeds its test frames); all then round the sides, as
    training does.
    """
    if isinstance(load_size, tuple):
        preprocess = 'resize'
    else:
        preprocess = 'scale_height' if load_size else 'none'
    opt = SimpleNamespace(preprocess=preprocess, load_size=load_size, crop_size=load_size, no_flip=True)
    return get_transform(opt)


def to_image(tensor, size):
    """A (C, H, W) tensor in [-1, 1] as an RGB PIL image of `size` (w, h), resized bicubically."""
    image = Image.fromarray(tensor2im(tensor))
    return image if image.size == tuple(size) else image.resize(tuple(size), Image.BICUBIC)


def resize_map(x, size):
    """A (N, 1, h, w) map as float32 at `size` (w, h), bilinearly (so it stays non-negative)."""
    x = x.float()
    if tuple(x.shape[-2:]) == (size[1], size[0]):
        return x
    return F.interpolate(x, size=(size[1], size[0]), mode='bilinear', align_corners=False)


# ----- translation -----
GENERATORS = {'AtoB': 'G_A', 'BtoA': 'G_B'}


def generator_name(model, direction):
    """The name (G_A, G_B, or G of a one-generator model such as --model template, A->B only) of
    the generator of `model` that translates in `direction`; a UserError when it has none."""
    name = GENERATORS[direction]
    if name in model.model_names:
        return name
    if direction == 'AtoB' and 'G' in model.model_names:
        return 'G'
    raise UserError(f'--model {model.opt.model} has no generator {name} for --direction {direction}: '
                    f'its networks are {", ".join(model.model_names)}')



def tile_starts(length, tile, overlap):
    """Start offsets of the fewest tiles of `tile` px that cover `length` px with neighbours
    overlapping by at least `overlap`, spread evenly from edge to edge. All are multiples of 4
    when the arguments are, so every tile sits on the whole frame's pixel grid."""
    if length <= tile:
        return [0]
    span, stride = (length - tile) // 4, (tile - overlap) // 4  # in steps of 4 px
    gaps = -(-span // stride)
    return [4 * (i * span // gaps) for i in range(gaps + 1)]


def tile_ramp(length, start, size, overlap, device=None):
    """Blending weights of a tile along one axis: 1 inside, falling linearly over `overlap` px
    towards each side that has a neighbour, never 0. Where two tiles overlap by exactly `overlap`
    their weights add up to 1; elsewhere the blend divides by the sum of weights."""
    i = torch.arange(size, dtype=torch.float32, device=device)
    weight = torch.ones(size, device=device)
    if start > 0:
        weight = torch.minimum(weight, (i + 1) / (overlap + 1))
    if start + size < length:
        weight = torch.minimum(weight, (size - i) / (overlap + 1))
    return weight


def translate_tiled(fn, x, tile=0, overlap=0):
    """Apply `fn` ((N, C, h, w) -> tuple of (N, c, h, w) tensors or None) to `x` (N, C, H, W),
    whole when tile is 0 or x fits in one tile, else tile by tile, blending the tiles' outputs
    with `tile_ramp` weights. Network memory is that of one tile; the outputs are float32.

    With normalisation that has no per-image statistics (--norm none, or batch norm in eval mode)
    tiles agree with the whole frame away from their borders; instance norm normalises each tile
    by its own statistics, so their tones may differ (the blending hides the seams).
    """
    H, W = x.shape[-2:]
    if not tile or (H <= tile and W <= tile):
        return tuple(None if out is None else out.float() for out in fn(x))
    th, tw = min(tile, H), min(tile, W)
    sums, total = None, torch.zeros(H, W, device=x.device)
    columns = [(x0, tile_ramp(W, x0, tw, overlap, x.device)[None, :]) for x0 in tile_starts(W, tw, overlap)]
    for y in tile_starts(H, th, overlap):
        wy = tile_ramp(H, y, th, overlap, x.device)[:, None]
        for x0, wx in columns:
            weight = wy * wx
            outs = fn(x[..., y:y + th, x0:x0 + tw].contiguous())  # convolutions run slower on a view
            if sums is None:
                sums = [None if out is None else torch.zeros(*out.shape[:2], H, W, device=x.device)
                        for out in outs]
            for acc, out in zip(sums, outs):
                if out is not None:
                    acc[..., y:y + th, x0:x0 + tw] += out.float() * weight
            total[y:y + th, x0:x0 + tw] += weight
    return tuple(None if acc is None else acc / total for acc in sums)


class Translator:
    """A generator as a function of a batch: `translator(x)` -> (fake, sigma), float32, where
    x is (N, C, H, W) in [-1, 1] on the generator's device with H and W multiples of 4.

    sigma, the per-pixel uncertainty (N, 1, H, W), comes only with `uncertainty=True` and a
    generator that has an uncertainty head (AU-GAN's G_A); otherwise it is None and the generator
    runs its plain `translate`. `autocast` is a context factory (BaseModel.autocast for --amp).
    """

    def __init__(self, net, autocast=contextlib.nullcontext, tile=0, overlap=0, uncertainty=False):
        self.net, self.autocast, self.tile, self.overlap = net, autocast, tile, overlap
        self.uncertainty = uncertainty and getattr(net, 'sigma_head', None) is not None

    def _run(self, x):
        # A side below the generator's minimum (a thin strip of an image) is padded by repeating
        # its edge pixels and the outputs cut back, so every readable image converts at its size.
        h, w = x.shape[-2:]
        least = getattr(self.net, 'min_size', 4)
        pad_h, pad_w = max(0, least - h), max(0, least - w)
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode='replicate')
        with self.autocast():
            if self.uncertainty:
                out = self.net(x, reconstruct=False)
                fake, sigma = out.fake, out.sigma
            else:
                fake, sigma = self.net.translate(x), None
        if pad_h or pad_w:
            fake, sigma = fake[..., :h, :w], None if sigma is None else sigma[..., :h, :w]
        return fake, sigma

    @torch.inference_mode()
    def __call__(self, x):
        return translate_tiled(self._run, x, self.tile, self.overlap)


# ----- files -----
def _write_atomic(path, write):
    # A temporary name beside the target, renamed into place: a run stopped mid-write leaves no
    # file that a later run would take for a finished output and skip.
    folder, name = os.path.split(path)
    os.makedirs(folder or '.', exist_ok=True)
    tmp = os.path.join(folder, f'.{name}.partial')
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_image_atomic(image, path):
    """Write a PIL image, in the format of the extension (JPEG at quality 95), atomically."""
    fmt = Image.registered_extensions().get(os.path.splitext(path)[1].lower())
    options = {'quality': 95} if fmt == 'JPEG' else {}
    _write_atomic(path, lambda tmp: image.save(tmp, format=fmt, **options))


def save_npy_atomic(array, path):
    def write(tmp):
        with open(tmp, 'wb') as f:  # a file object, or np.save would append '.npy' to the name
            np.save(f, array)
    _write_atomic(path, write)


def prefetch(fn, items, workers):
    """fn(item) for each item, in order, computed on `workers` threads up to 2 * workers items
    ahead (decoding images releases the GIL); workers 0 computes each when it is asked for.
    `fn` should return its failures rather than raise them."""
    if workers <= 0:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(workers) as pool:
        pending = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


# ----- video -----
def _av():
    import av  # imported when a video comes: image-only runs need no FFmpeg
    return av


def _reason(error):
    # FFmpeg's message without the file name that ours already gives.
    return getattr(error, 'strerror', None) or type(error).__name__


class VideoReader:
    """The frames of a file's first video stream as RGB PIL images, decoded as they are iterated.

    `size` (w, h), `rate` (frames per second, a Fraction) and `count` (frames, 0 when the
    container does not say) describe the stream. Unreadable files raise UserError. Audio and
    other streams are ignored.
    """

    def __init__(self, path):
        av = _av()
        self.path = path
        try:
            self.container = av.open(path)
        except (av.error.FFmpegError, OSError) as e:
            raise UserError(f'cannot read video {path} ({_reason(e)}): replace or delete the file') from e
        if not self.container.streams.video:
            self.container.close()
            raise UserError(f'cannot read video {path} (it has no video stream): replace or delete the file')
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = 'AUTO'
        self.size = (self.stream.codec_context.width, self.stream.codec_context.height)
        self.rate = self.stream.average_rate or self.stream.guessed_rate or Fraction(25)
        self.count = self.stream.frames or 0

    def __iter__(self):
        av = _av()
        try:
            for frame in self.container.decode(self.stream):
                yield frame.to_image()
        except av.error.FFmpegError as e:
            raise UserError(f'cannot decode video {self.path} ({_reason(e)}): replace or delete the file') from e

    def close(self):
        self.container.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class VideoWriter:
    """Encodes PIL frames into a video at `path` (container from the extension) at a constant
    `rate`, the size of `size`. libx264 at CRF 18 for .mp4/.mkv/.mov when both sides are even
    and this FFmpeg build has it; otherwise (and for .avi) MPEG-4 part 2 at qscale 3, which
    every player reads and which takes odd sizes. The file is written under a temporary name and
    renamed on a clean exit from the `with` block, removed when it ends with an exception.
    """

    def __init__(self, path, size, rate):
        av = _av()
        self.path, self.size = path, tuple(size)
        folder, name = os.path.split(path)
        os.makedirs(folder or '.', exist_ok=True)
        stem, ext = os.path.splitext(name)
        self.tmp = os.path.join(folder, f'.{stem}.partial{ext}')  # keeps the extension: it picks the container
        codec = _video_codec(ext, self.size)
        # Denominators up to 1001 keep NTSC rates exact and MPEG-4's 16-bit time base valid.
        rate = Fraction(rate).limit_denominator(1001)
        self.container = av.open(self.tmp, 'w')
        self.stream = self.container.add_stream(codec, rate=rate,
                                                options={'crf': '18'} if codec == 'libx264' else {})
        self.stream.width, self.stream.height = self.size
        self.stream.pix_fmt = 'yuv420p'
        if codec == 'mpeg4':
            self.stream.codec_context.qscale = 3
        self.frames = 0

    def write(self, image):
        if image.size != self.size:
            image = image.resize(self.size, Image.BICUBIC)
        frame = _av().VideoFrame.from_image(image.convert('RGB'))
        frame.pts = self.frames
        self.frames += 1
        self.container.mux(self.stream.encode(frame))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        try:
            if exc_type is None:
                self.container.mux(self.stream.encode())  # flush the encoder
            self.container.close()
            if exc_type is None:
                os.replace(self.tmp, self.path)
        finally:
            if os.path.exists(self.tmp):
                os.remove(self.tmp)


def _video_codec(ext, size):
    av = _av()
    if ext.lower() != '.avi' and size[0] % 2 == 0 and size[1] % 2 == 0:
        try:
            av.codec.Codec('libx264', 'w')
            return 'libx264'
        except av.codec.codec.UnknownCodecError:
            pass
    return 'mpeg4'
