"""The rainy-night rendering of the ground-truth task (data/ground_truth.py, task `rainy`): a day
photo rendered into a rainy night that *loses information locally*, and the mask of the pixels
whose content was hidden.

    global = GAIN * TINT * day ** GAMMA                       the night look (data/ground_truth.py)
    x      = drops(global)        inside each drop on the lens, the scene blurred (and a little brighter)
    x      = (1 - g) x + g GLOW   glare: a veil around the brightest regions, g cut to 0 below GLARE_CUT
    x      = (1 - a) x + a RAIN   rain streaks: slanted lines of opacity a
    rainy  = clip(x + n, 0, 1) in 8 bits,   n ~ N(0, SHOT * x + READ^2) per pixel (signal-dependent)

Every local effect has a compact support, and the mask is their union: outside it the noise-free
rendering is exactly the global night look (which `exact_inverse` undoes), inside it the scene was
blurred, veiled or covered. Sizes are fractions of the image height, so a set rendered at any
height looks alike once scaled. No exact inverse exists: the drops' blur and the streaks' cover
cannot be undone, and the noise is stronger where the image is brighter.

`render_rainy(day, seed)` -> (rainy uint8, mask bool); `render_rainy_parts` also returns the
noise-free rendering and the global part, for tests and pictures.
"""
import numpy as np
import scipy.ndimage
from PIL import Image, ImageDraw

from data.ground_truth import GAIN, GAMMA, TINT  # the night look of the night task: exact_inverse undoes it

SHOT, READ = 0.003, 0.01           # noise variance SHOT * x + READ^2: about 3 grey levels in the dark, 7 at x = 0.2
DROPS = (4, 9)                     # drops per image (uniform, inclusive)
DROP_RADIUS = (0.04, 0.10)         # of the height
DROP_BLUR = 0.5                    # Gaussian blur inside a drop: this fraction of its radius
DROP_LIGHT = 0.03                  # a drop scatters a little light
GLARE_QUANTILE = 0.97              # the brightest 3% of the night look glow
GLARE_RADIUS = 0.04                # Gaussian spread of the glow, of the height
GLARE_GAIN, GLARE_CUT = 3.0, 0.08  # g = min(1, GLARE_GAIN * glow), set to 0 below GLARE_CUT
GLOW = (0.95, 0.85, 0.6)           # sodium-lamp yellow
STREAKS = (40, 80)                 # rain streaks per image
STREAK_LENGTH = (0.06, 0.16)       # of the height
STREAK_ANGLE = (10, 25)            # degrees from vertical, leaning right; one angle per image (one wind)
STREAK_OPACITY = (0.45, 0.8)
RAIN = (0.75, 0.78, 0.85)          # lit rain


def global_part(day):
    """The night look of a day photo (HxWx3 uint8) in [0, 1], before any local effect or noise."""
    return GAIN * np.asarray(TINT) * (np.asarray(day, np.float64) / 255.0) ** GAMMA


def _blur(x, sigma):
    """A float HxWxC (or HxW) array blurred by a Gaussian of `sigma` px over its rows and columns."""
    return scipy.ndimage.gaussian_filter(x, sigma=(sigma, sigma) + (0,) * (x.ndim - 2), mode='nearest')


def _drops(x, rng):
    h, w = x.shape[:2]
    support = np.zeros((h, w), bool)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(int(rng.integers(DROPS[0], DROPS[1] + 1))):
        r = rng.uniform(*DROP_RADIUS) * h
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        disc = (yy - cy) ** 2 + ((xx - cx) / 1.1) ** 2 <= r * r  # a drop is a little wider than high
        blurred = _blur(x, DROP_BLUR * r) + DROP_LIGHT
        x = np.where(disc[..., None], blurred, x)
        support |= disc
    return x, support


def _glare(x):
    h = x.shape[0]
    luminance = x.mean(axis=-1)
    bright = np.maximum(luminance - np.quantile(luminance, GLARE_QUANTILE), 0.0)
    g = np.minimum(1.0, GLARE_GAIN * _blur(bright, GLARE_RADIUS * h) / max(bright.max(), 1e-6))
    g = np.where(g >= GLARE_CUT, g, 0.0)
    return (1 - g[..., None]) * x + g[..., None] * np.asarray(GLOW), g > 0


def _streaks(x, rng):
    h, w = x.shape[:2]
    alpha = Image.new('F', (w, h), 0.0)
    draw = ImageDraw.Draw(alpha)
    angle = np.deg2rad(rng.uniform(*STREAK_ANGLE))
    width = max(1, round(h / 256))
    for _ in range(int(rng.integers(STREAKS[0], STREAKS[1] + 1))):
        length = rng.uniform(*STREAK_LENGTH) * h
        x0, y0 = rng.uniform(-0.2 * w, w), rng.uniform(-0.2 * h, h)
        x1, y1 = x0 + length * np.sin(angle), y0 + length * np.cos(angle)
        draw.line([(x0, y0), (x1, y1)], fill=float(rng.uniform(*STREAK_OPACITY)), width=width)
    a = np.asarray(alpha, np.float64)
    return (1 - a[..., None]) * x + a[..., None] * np.asarray(RAIN), a > 0


def render_rainy_parts(day, seed):
    """(rainy uint8, mask bool HxW, noise-free rendering in [0, 1], global part in [0, 1]) of a day
    photo (HxWx3 uint8); the drops, streaks and noise are drawn from `seed`."""
    rng = np.random.default_rng(seed)
    base = global_part(day)
    x, drops = _drops(base, rng)
    x, glare = _glare(x)
    x, streaks = _streaks(x, rng)
    clean = np.clip(x, 0.0, 1.0)
    noisy = clean + rng.normal(0.0, 1.0, clean.shape) * np.sqrt(SHOT * clean + READ ** 2)
    rainy = (np.clip(noisy, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    return rainy, drops | glare | streaks, clean, base


def render_rainy(day, seed):
    """(rainy night HxWx3 uint8, mask HxW bool of the pixels whose content was hidden)."""
    rainy, mask, _, _ = render_rainy_parts(day, seed)
    return rainy, mask
