"""Image and file helpers: tensors in [-1, 1] to uint8 arrays, uncertainty maps to colour
heat-maps, writing images to disk and creating folders.

Everything here is model-agnostic; the models hand over tensors in [-1, 1] and the
training reporter, the web pages and test.py turn them into pictures with these functions.
"""
import os

import numpy as np
import torch
from PIL import Image

from util import atomic

# Anchors of matplotlib's 'inferno' colour map at 17 evenly spaced points. They are only used
# when matplotlib cannot be imported; linear interpolation between them stays within a few
# 1/255 of the real map, which is plenty for a picture.
_INFERNO_ANCHORS = (
    (0.0015, 0.0005, 0.0139), (0.0423, 0.0281, 0.1411), (0.1293, 0.0473, 0.2908),
    (0.2383, 0.0366, 0.3964), (0.3415, 0.0623, 0.4294), (0.4412, 0.0993, 0.4316),
    (0.5409, 0.1347, 0.4151), (0.6401, 0.1714, 0.3811), (0.7357, 0.2159, 0.3302),
    (0.8224, 0.2752, 0.2661), (0.8943, 0.3534, 0.1936), (0.9470, 0.4492, 0.1153),
    (0.9784, 0.5579, 0.0349), (0.9879, 0.6753, 0.0653), (0.9746, 0.7977, 0.2063),
    (0.9476, 0.9174, 0.4107), (0.9884, 0.9984, 0.6449),
)
_LUT_SIZE = 256
_lut_cache = {}  # torch.device -> (256, 3) float32 lookup table in [0, 1]


def tensor2im(input_image):
    """Return the first image of a batch (N,C,H,W) or a single image (C,H,W) or (H,W) in
    [-1, 1] as an HxWx3 uint8 array. Values outside [-1, 1] are clamped, NaN becomes mid-grey
    rather than garbage, one channel is repeated to three. A numpy array is returned as is."""
    if isinstance(input_image, np.ndarray):
        return input_image
    if not torch.is_tensor(input_image):
        raise TypeError(f"tensor2im expects a torch.Tensor or numpy array, got {type(input_image).__name__}")
    t = input_image.detach()
    if t.dim() == 4:
        t = t[0]
    elif t.dim() == 2:
        t = t.unsqueeze(0)
    if t.dim() != 3:
        raise ValueError(f"tensor2im expects (N,C,H,W), (C,H,W) or (H,W), got shape {tuple(input_image.shape)}")
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1)
    elif t.shape[0] != 3:
        raise ValueError(f"tensor2im expects 1 or 3 channels, got {t.shape[0]}")
    t = torch.nan_to_num(t.float().cpu(), nan=0.0).clamp(-1.0, 1.0)
    # round() so that exactly -1 -> 0 and 1 -> 255 and mid-values are not biased down
    arr = ((t + 1.0) * 127.5).round().to(torch.uint8)
    return arr.permute(1, 2, 0).contiguous().numpy()


def _inferno_table():
    """The (256, 3) float32 CPU lookup table of the 'inferno' colour map, values in [0, 1]."""
    try:
        import matplotlib  # lazy: importing matplotlib costs time and we need it only here

        cmap = matplotlib.colormaps["inferno"]
        table = np.asarray(cmap(np.linspace(0.0, 1.0, _LUT_SIZE)))[:, :3]
    except Exception:  # no matplotlib (or an old one): interpolate the stored anchors
        anchors = np.asarray(_INFERNO_ANCHORS, dtype=np.float64)
        pos = np.linspace(0.0, 1.0, len(anchors))
        x = np.linspace(0.0, 1.0, _LUT_SIZE)
        table = np.stack([np.interp(x, pos, anchors[:, c]) for c in range(3)], axis=1)
    return torch.from_numpy(np.ascontiguousarray(table, dtype=np.float32))


def _colormap_lut(device):
    """The cached lookup table on `device`; sampled once per process, copied once per device."""
    device = torch.device(device)
    lut = _lut_cache.get(device)
    if lut is None:
        cpu = _lut_cache.get(torch.device("cpu"))
        if cpu is None:
            cpu = _lut_cache[torch.device("cpu")] = _inferno_table()
        lut = _lut_cache[device] = cpu.to(device)
    return lut


@torch.no_grad()
def heatmap(x, vmax=None):
    """Colour a non-negative map (N,1,H,W), e.g. an uncertainty sigma, with the 'inferno' map.

    Each image is scaled to [0, its max] (or to [0, vmax] when given, which makes colours
    comparable across images and iterations) and returned as a float32 (N,3,H,W) tensor in
    [-1, 1] on x's device, so it can be shown like any generated image. Zero maps and NaNs
    give the darkest colour instead of NaN.
    """
    if not torch.is_tensor(x) or x.dim() != 4 or x.shape[1] != 1:
        shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"heatmap expects a tensor of shape (N,1,H,W), got {shape}")
    v = torch.nan_to_num(x.detach().float(), nan=0.0, posinf=0.0, neginf=0.0).clamp_min(0.0)
    if vmax is None:
        scale = v.amax(dim=(1, 2, 3), keepdim=True)
    else:
        scale = torch.as_tensor(float(vmax), dtype=torch.float32, device=v.device).reshape(1, 1, 1, 1)
    # a zero scale (all-zero map, or vmax=0) would divide by zero; any positive number maps 0 to 0
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    idx = (v / scale).clamp(0.0, 1.0).mul(_LUT_SIZE - 1).round().long()
    colours = _colormap_lut(v.device)[idx[:, 0]]  # (N,H,W,3)
    return colours.permute(0, 3, 1, 2).mul(2.0).sub(1.0).contiguous()


def heatmap_css_gradient(stops=11):
    """The colour scale of `heatmap` as a CSS `linear-gradient`, 0 on the left, the max on the
    right: the colour bar of the pages' legends, drawn by the browser from the very table the
    heat-maps use, so it needs no image file."""
    lut = _colormap_lut("cpu")
    idx = np.linspace(0, _LUT_SIZE - 1, stops).round().astype(int)
    colours = ["#%02x%02x%02x" % tuple(int(round(c * 255)) for c in lut[i].tolist()) for i in idx]
    return "linear-gradient(to right, " + ", ".join(colours) + ")"


def save_image(image_numpy, image_path, aspect_ratio=1.0):
    """Write an HxWx3 (or HxW) uint8 array (a tensor is converted with tensor2im) to
    `image_path`; the format follows the extension. Parent folders are created.

    aspect_ratio > 1 stretches the width by that factor, < 1 stretches the height by its
    inverse, as CycleGAN's test pages do for non-square training crops.
    """
    if torch.is_tensor(image_numpy):
        image_numpy = tensor2im(image_numpy)
    image_pil = Image.fromarray(image_numpy)
    h, w = image_numpy.shape[:2]
    if aspect_ratio > 1.0:
        image_pil = image_pil.resize((int(round(w * aspect_ratio)), h), Image.BICUBIC)
    elif aspect_ratio < 1.0:
        image_pil = image_pil.resize((w, int(round(h / aspect_ratio))), Image.BICUBIC)
    # Written whole or not at all (a full disk is one line, util/atomic.py); the folder is made.
    with atomic.replacing(image_path) as tmp:
        image_pil.save(tmp, format=image_format(image_path))


def image_format(path):
    """PIL's name for the format of `path`'s extension ('PNG', 'JPEG'), None when it has none."""
    return Image.registered_extensions().get(os.path.splitext(path)[1].lower())


def mkdirs(paths):
    """Create each folder in `paths` (a list, or a single path) if it does not exist."""
    if isinstance(paths, (list, tuple)):
        for path in paths:
            mkdir(path)
    else:
        mkdir(paths)


def mkdir(path):
    """Create `path` and its parents if missing; an existing folder is fine."""
    os.makedirs(path, exist_ok=True)


def name_list(names, limit=4):
    """The first `limit` of `names`, comma-separated, then 'and N more': for one-line messages."""
    names = list(names)
    more = f' and {len(names) - limit} more' if len(names) > limit else ''
    return ', '.join(names[:limit]) + more
