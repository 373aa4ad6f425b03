"""Does a translation hold still where the scene does, and is it free of a pattern fixed to the
pixel grid? Measures of aliasing on clips with a known answer, and on real videos.

Images and frames are arrays in grey levels (0-255, uint8 or float): an image is HxW or HxWxC,
a clip is a sequence of frames of one size (T, H, W[, C]). `grey_levels` (util/flow.py, shared
with the filter over time, re-exported here) turns a generator's (N, C, H, W) output in [-1, 1]
into that form.

Clips with a known answer (`make_clip`). A day photo (the truth) is cut into T windows of h x w
px that follow a known camera motion: still, a pan of k px a frame to the right (integer, so the
motion can be undone exactly), or a slow zoom in (each window `zoom` times smaller than the one
before, about the photo's centre, resampled to h x w). Each window is rendered into night by
data/ground_truth.py's `render` with a seed of its own, so every frame carries fresh sensor
noise; the truth frames are the same windows of the day photo. The motion between frames t and
t+1 is a `Motion` (scale s, offset (dy, dx)): pixel (i, j) of frame t+1 shows what frame t
shows at (s*i + dy, s*j + dx), pixel centres at integer coordinates.

Temporal stability (`temporal_change`): the mean absolute change between consecutive frames
after undoing the motion, on the pixels of frame t+1 whose point frame t also shows (the
overlap):

    change_t = mean over p in overlap_t and channels of |F_{t+1}(p) - F_t(s*p + d)|
    change   = mean over t = 0 .. T-2 of change_t                                 (grey levels)

F_t(s*p + d) is read exactly for an integer offset and scale 1 (a pan, a still camera), by
bilinear interpolation otherwise (a zoom: then even the truth clip changes a little, from the
interpolation). The truth clip of a pan scores 0; frames that differ from a still scene by
independent N(0, sigma^2) noise score E|X - Y| = 2*sigma/sqrt(pi) (X, Y independent N(0, sigma^2)).

Real videos (`estimated_temporal_change`): the motion is not known, so a dense optical flow is
estimated (util/flow.py `estimate_flow`: a classical pyramidal Lucas-Kanade in numpy/scipy, no learned
weights) and frame t is warped onto frame t+1 by it before measuring the same change; the
function says which method it used.

The checkerboard (`grid_power_share`, `checkerboard_ratio`): a pattern that repeats every 4 px
along both axes (which any pattern of period 2 or 4 px does: what two stride-2 stages leave) has
all its power at the frequencies (a/4, b/4) cycles/px, a, b in {0, 1, 2, 3}: the DFT bins
(round(a*H/4), round(b*W/4)) of an H x W image. The share of an image's power there is

    P(k) = sum over channels of |DFT(w * (x_c - mean(x_c)))(k)|^2,
           w = the periodic Hann window, w(i, j) = sin^2(pi*i/H) * sin^2(pi*j/W)
    G    = the bins (ky, kx) within `radius` bins (circularly, per axis) of a grid frequency
           (round(a*H/4), round(b*W/4)), (a, b) != (0, 0), minus those within `radius` of (0, 0)
    share = sum_{k in G} P(k) / sum_{k != (0, 0)} P(k)

The window stops the image's borders from spreading power along the axes, and spreads a pattern
that falls on a bin over exactly that bin and its neighbours (radius 1 collects all of it); the
neighbourhood also collects a grid pattern whose strength varies slowly over the scene.
`checkerboard_ratio(translations, truths)` is the mean share of the translations over the mean
share of the truths: 1 where a translation has no more grid power than the truth.

Broadband noise has power in the grid's bins too (white noise: its share is the bins' share of all
bins, about 15*9/(H*W)), so a noisier image has a larger share without any checkerboard: the
rendered night frames have about 10 times their truth's. `grid_peak_ratio` asks for a peak
instead: the mean power per bin in G over the mean power per bin in the ring R around it (the
bins within `radius + ring` of a grid frequency, outside G and away from (0, 0)),

    peak = mean_{k in G} P(k) / mean_{k in R} P(k),

about 1 for white noise, far above 1 for a pattern fixed to the grid that stands above the
noise; for a photo's own spectrum, which falls steeply and is curved near the axes, it is not 1
(0.7-1.8 on random-phase 1/f test images), so compare a translation's with its truth's.
"""
import math
from typing import NamedTuple

import numpy as np
from PIL import Image

from data.ground_truth import render
from util.flow import FLOW_METHOD, channels_last, estimate_flow, grey_levels, sample, warp_by_flow  # noqa: F401

GRID_PERIOD = 4  # px: two stride-2 stages


class Motion(NamedTuple):
    """Pixel (i, j) of frame t+1 shows what frame t shows at (scale*i + dy, scale*j + dx)."""
    scale: float
    dy: float
    dx: float


class Clip(NamedTuple):
    frames: np.ndarray   # (T, h, w, 3) uint8: the rendered night frames, fresh noise in each
    truth: np.ndarray    # (T, h, w, 3) uint8: the same windows of the day photo
    windows: list        # T (top, left, height, width) in the day photo's px (floats for a zoom)
    motions: list        # T-1 Motions, frame t -> frame t+1


def window_motion(previous, next, size):
    """The Motion from frame t to frame t+1 of windows `previous` and `next` (top, left, height,
    width) resampled to `size` (h, w): a pixel centre i of a frame of window (top, height) lies at
    top + (i + 0.5) * height / h in the photo."""
    h, w = size
    scale = next[2] / previous[2]
    if not math.isclose(next[3] / previous[3], scale, rel_tol=1e-9):
        raise ValueError(f'windows {previous} and {next} are not scaled alike along both axes')
    dy = (next[0] - previous[0]) * h / previous[2] + 0.5 * scale - 0.5
    dx = (next[1] - previous[1]) * w / previous[3] + 0.5 * scale - 0.5
    return Motion(scale, dy, dx)


def clip_windows(photo_size, frames, size, pan=0, zoom=1.0):
    """The T windows of a clip in a photo of `photo_size` (H, W): centred; `pan` px a frame to the
    right (an int), or each window `zoom` (> 1) times smaller than the one before about the photo's
    centre, the last one h x w. Raises ValueError when the photo is too small."""
    H, W = photo_size
    h, w = size
    if pan and zoom != 1.0:
        raise ValueError('a clip pans or zooms, not both')
    if int(pan) != pan or pan < 0:
        raise ValueError(f'pan must be a whole number of px >= 0 (the motion is then undone exactly), not {pan}')
    if zoom < 1.0:
        raise ValueError(f'zoom must be at least 1 (1: no zoom), not {zoom}')
    first = zoom ** (frames - 1)
    need = (math.ceil(h * first), math.ceil(w * first) + pan * (frames - 1))
    if need[0] > H or need[1] > W:
        raise ValueError(f'a clip of {frames} frames of {h}x{w} px (pan {pan}, zoom {zoom}) needs a photo of at least '
                         f'{need[0]}x{need[1]} px, not {H}x{W}: use a larger photo, smaller frames or fewer frames')
    if zoom == 1.0:
        top, left = (H - h) // 2, (W - need[1]) // 2
        return [(top, left + pan * t, h, w) for t in range(frames)]
    windows = []
    for t in range(frames):
        factor = zoom ** (frames - 1 - t)
        hh, ww = h * factor, w * factor
        windows.append(((H - hh) / 2, (W - ww) / 2, hh, ww))
    return windows


def cut(photo, window, size):
    """The window (top, left, height, width) of `photo` at `size` (h, w): a plain crop for a
    whole-pixel window of that size, a bicubic resampling of it otherwise."""
    top, left, height, width = window
    h, w = size
    if (height, width) == (h, w) and int(top) == top and int(left) == left:
        return np.array(photo[int(top):int(top) + h, int(left):int(left) + w])
    box = (left, top, left + width, top + height)
    return np.asarray(Image.fromarray(np.asarray(photo)).resize((w, h), Image.BICUBIC, box=box))


def make_clip(day, frames, size, pan=0, zoom=1.0, task='night', seed=0):
    """A clip of `frames` frames of `size` (h, w) from the day photo `day` (HxWx3 uint8), with the
    camera still, panning `pan` px a frame or zooming in by `zoom` a frame (module docstring);
    frame t is rendered for ground-truth `task` with seed `seed + t`."""
    day = np.asarray(day)
    windows = clip_windows(day.shape[:2], frames, size, pan, zoom)
    truth = np.stack([cut(day, window, size) for window in windows])
    night = np.stack([render(task, t_truth, seed + t)[0] for t, t_truth in enumerate(truth)])
    motions = [window_motion(a, b, size) for a, b in zip(windows, windows[1:])]
    return Clip(night, truth, windows, motions)


def undo_motion(previous, motion, size):
    """Frame t (`previous`, H x W[ x C]) brought onto the grid of frame t+1 of `size` (h, w) by
    `motion`, and the mask (h x w) of the overlap: the pixels whose point frame t shows."""
    previous = channels_last(previous)
    h, w = size
    scale, dy, dx = motion
    if scale == 1 and int(dy) == dy and int(dx) == dx:  # a whole-pixel shift: read exactly
        dy, dx = int(dy), int(dx)
        warped = np.zeros((h, w, previous.shape[-1]))
        inside = np.zeros((h, w), dtype=bool)
        ys, xs = slice(max(0, -dy), min(h, previous.shape[0] - dy)), slice(max(0, -dx), min(w, previous.shape[1] - dx))
        if ys.start < ys.stop and xs.start < xs.stop:
            warped[ys, xs] = previous[ys.start + dy:ys.stop + dy, xs.start + dx:xs.stop + dx]
            inside[ys, xs] = True
        return warped, inside
    i, j = np.mgrid[0:h, 0:w].astype(np.float64)
    return sample(previous, scale * i + dy, scale * j + dx)


def _change(warped, inside, next):
    if not inside.any():
        raise ValueError('consecutive frames do not overlap: the motion moves them apart entirely')
    return float(np.abs(next - warped)[inside].mean())


def frame_changes(frames, motions):
    """change_t (module docstring) for each pair of consecutive frames: T-1 values in grey levels."""
    if len(motions) != len(frames) - 1:
        raise ValueError(f'{len(frames)} frames need {len(frames) - 1} motions, not {len(motions)}')
    changes = []
    for previous, next, motion in zip(frames, frames[1:], motions):
        next = channels_last(next)
        changes.append(_change(*undo_motion(previous, motion, next.shape[:2]), next))
    return np.array(changes)


def temporal_change(frames, motions):
    """The clip's mean change between consecutive frames after undoing `motions` (grey levels;
    module docstring)."""
    return float(frame_changes(frames, motions).mean())


def clip_psnr(frames, truth):
    """The mean over frames of each frame's PSNR against its truth frame, in dB (peak 255)."""
    values = []
    for frame, true in zip(frames, truth):
        mse = np.mean((np.asarray(frame, dtype=np.float64) - np.asarray(true, dtype=np.float64)) ** 2)
        values.append(10 * math.log10(255.0 ** 2 / mse) if mse > 0 else math.inf)
    return float(np.mean(values))


# ----- real videos: the motion estimated (util/flow.py) -----

def estimated_temporal_change(frames):
    """A real video's mean change between consecutive frames (grey levels), each frame t warped
    onto frame t+1 by the estimated flow (`estimate_flow`) and measured on the pixels whose point
    frame t shows. Returns (change, the flow method used). The bilinear warp at fractional flows
    averages noise, so a noisy video reads lower than with its exact motion (docs/evaluation.md)."""
    if len(frames) < 2:
        raise ValueError('a temporal change needs at least 2 frames')
    flows = [estimate_flow(previous, next)[0] for previous, next in zip(frames, frames[1:])]
    return float(flow_changes(frames, flows).mean()), FLOW_METHOD


def flow_changes(frames, flows):
    """change_t of each pair of consecutive frames (T-1 values, grey levels), frame t warped onto
    frame t+1 by flows[t] (`estimate_flow`'s, H x W x 2) and measured on the pixels whose point
    lies inside frame t. The flows may be another clip's: a translation's change under the motion
    estimated on its input, which its own pattern cannot bend."""
    if len(flows) != len(frames) - 1:
        raise ValueError(f'{len(frames)} frames need {len(frames) - 1} flows, not {len(flows)}')
    return np.array([_change(*warp_by_flow(previous, flow), channels_last(next))
                     for previous, next, flow in zip(frames, frames[1:], flows)])


# ----- the checkerboard -----

def grid_bins(n, radius):
    """The DFT bins (of n) within `radius` of round(a*n/GRID_PERIOD), a = 0 .. GRID_PERIOD-1,
    circularly, as a boolean mask; and the mask of those within `radius` of 0."""
    radius = int(radius)
    k = np.arange(n)
    near = np.zeros(n, dtype=bool)
    for a in range(GRID_PERIOD):
        centre = round(a * n / GRID_PERIOD)
        distance = np.minimum((k - centre) % n, (centre - k) % n)
        near |= distance <= radius
        if a == 0:
            zero = distance <= radius
    return near, zero


def power_spectrum(image):
    """P (module docstring): the Hann-windowed power spectrum of `image` (HxW or HxWxC), summed over
    channels, each channel's mean removed."""
    x = channels_last(image)
    H, W = x.shape[:2]
    if min(H, W) < 4 * GRID_PERIOD:
        raise ValueError(f'an image of {H}x{W} px is too small for a spectrum at the 4-px grid (16 px at least)')
    window = np.outer(np.sin(np.pi * np.arange(H) / H) ** 2, np.sin(np.pi * np.arange(W) / W) ** 2)
    x = (x - x.mean(axis=(0, 1))) * window[..., None]
    return (np.abs(np.fft.fft2(x, axes=(0, 1))) ** 2).sum(axis=-1)


def grid_mask(shape, radius):
    """G (module docstring) for an H x W spectrum, as a boolean mask."""
    (rows, row_zero), (cols, col_zero) = grid_bins(shape[0], radius), grid_bins(shape[1], radius)
    return np.outer(rows, cols) & ~np.outer(row_zero, col_zero)


def grid_power_share(image, radius=1):
    """The share of `image`'s spectral power (HxW or HxWxC) at the pixel grid's periods, 2 and 4
    px (module docstring: G, P, share)."""
    power = power_spectrum(image)
    total = power.sum() - power[0, 0]
    return float(power[grid_mask(power.shape, radius)].sum() / total) if total > 0 else 0.0


def grid_peak_ratio(image, radius=1, ring=2):
    """The mean power per bin at the grid's frequencies over that of the ring of bins around them
    (module docstring: peak); about 1 for white noise."""
    power = power_spectrum(image)
    grid, wider = grid_mask(power.shape, radius), grid_mask(power.shape, radius + ring)
    (_, row_zero), (_, col_zero) = grid_bins(power.shape[0], radius + ring), grid_bins(power.shape[1], radius + ring)
    around = wider & ~grid & ~np.outer(row_zero, col_zero)
    floor = power[around].mean()
    return float(power[grid].mean() / floor) if floor > 0 else math.inf


def checkerboard_ratio(translations, truths, radius=1):
    """The mean grid power share of `translations` over that of `truths` (each a sequence of
    images): 1 where the translations have no more power at the grid's periods than the truth."""
    ours = np.mean([grid_power_share(x, radius) for x in translations])
    theirs = np.mean([grid_power_share(x, radius) for x in truths])
    if theirs <= 0:
        raise ValueError('the truth images have no power outside the mean: the ratio is undefined')
    return float(ours / theirs)
