"""A trained generator as a function from images to images, outside the training data pipeline.

- `generator_name`: which of a model's generators translates in a --direction;
- `image_transform`, `to_image`, `resize_map`: PIL image -> generator input (sides rounded to
  multiples of 4, optionally scaled by height) and back to the input's exact size;
- `Translator`: a generator under inference mode and autocast, on whole frames or on tiles
  (`inference.tiling`), padding inputs thinner than the generator's minimum;
- `prefetch`: loading the next inputs on threads while the current ones translate.
"""
import contextlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F
from PIL import Image

from data.base_dataset import Geometry, get_transform
from inference.tiling import translate_tiled
from util.errors import UserError
from util.util import tensor2im

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
    return get_transform(Geometry(load_size, load_size, preprocess, no_flip=True))


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
