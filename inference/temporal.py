"""A video's translated frames filtered over time along the motion (`--temporal`): what differs in
every frame where the scene holds still (sensor noise or rain carried into the translation, a
texture the generator makes of them) is averaged away, while motion, moving things and scene
cuts are followed.

A motion-compensated recursive filter. Frame t's input x_t and translation y_t (grey levels, H x W
x C) give the output z_t; the filter keeps, beside z, the same average of the inputs, X:

    f      = the flow from x_{t-1} to x_t (util/flow.py `robust_flow`, on the INPUT frames, which
             the translation's own flicker cannot bend; on frames shrunk to `flow_size` px when
             they are larger, for speed)
    X~, z~ = X_{t-1} and z_{t-1} warped onto frame t by f (cubic interpolation, which blurs less
             than bilinear when the filter reads its own output again and again)
    d(p)   = |x_t - X~|, averaged over channels and smoothed by a Gaussian of DISAGREEMENT_SIGMA
             px: where the input disagrees with what the filter remembers of it (the memory, not
             just the last frame, so that nothing it still holds of a thing that moved away
             passes unseen)
    m      = the median of d over the overlap: the frame's typical change (its noise, its rain)
    w(p)   = strength * exp(-(max(0, d(p) - m) / tolerance)^2), 0 outside the overlap
    z_t    = y_t + w * (z~ - y_t),   X_t = x_t + w * (X~ - x_t)

So where the input changes no more than it typically does, the output is an exponential average
along the motion, weight `strength` on the past (0.75: the average of about 7 frames; frame-wise
noise's standard deviation falls to sqrt((1 - s) / (1 + s)) = 0.38 of its own); where the input
changes `tolerance` grey levels more than that (something moved on its own, was uncovered or the
flow failed) the past fades out and the frame's own translation shows. A scene cut restarts the
filter (z_t = y_t): the warped previous input overlaps less than MIN_OVERLAP of the frame, or the
two inputs' coarse layouts (the means of LAYOUT_BLOCKS x LAYOUT_BLOCKS blocks per channel, the
previous one warped, where rain and noise average out) differ, as the median over blocks, by more
than `cut` times the spread (standard deviation) of the current layout's blocks. A cut between two
views of like layout can pass unseen; the per-pixel weights then still keep what differs apart.

The first frame, and the first after a cut, is the translation itself.
"""
import numpy as np
import scipy.ndimage
import torch

from util.flow import channels_last, grey_levels, robust_flow, warp_by_flow

DISAGREEMENT_SIGMA = 2.0  # px: d is smoothed so that a single noisy pixel does not switch the filter off
LAYOUT_BLOCKS = 8         # a scene cut is judged on the frames' means over 8 x 8 blocks
MIN_OVERLAP = 0.5         # a flow that moves more than half the frame out of view is a cut


def _layout(frame):
    """The frame's coarse layout: the means of LAYOUT_BLOCKS x LAYOUT_BLOCKS blocks per channel,
    in which noise and thin streaks average out."""
    n = LAYOUT_BLOCKS
    h, w = frame.shape[0] // n, frame.shape[1] // n
    return frame[:h * n, :w * n].reshape(n, h, n, w, -1).mean(axis=(1, 3))


class TemporalFilter:
    """Filters one video's translated frames in order (module docstring); `frames` counts the
    frames seen, `cuts` the scene cuts found. One filter per video and direction. The settings'
    defaults are --temporal_strength, --temporal_tolerance, --temporal_cut and
    --temporal_flow_size's (options/convert_options.py)."""

    def __init__(self, strength, tolerance, cut, flow_size):
        if not 0 <= strength < 1:
            raise ValueError(f'strength must be in [0, 1), not {strength}')
        if tolerance <= 0:
            raise ValueError(f'tolerance must be above 0 grey levels, not {tolerance}')
        self.strength, self.tolerance, self.cut, self.flow_size = strength, tolerance, cut, flow_size
        self.previous = None  # (x_{t-1}, X_{t-1}, z_{t-1}): the last input, the memories of input and output
        self.frames, self.cuts = 0, 0

    def weights(self, input, flow=None):
        """(w (H x W), X~, z~) for the frame whose input is `input`, given its flow from the previous
        input (estimated when not given); (None, None, None) at the first frame and at a cut."""
        if self.previous is None:
            return None, None, None
        x_prev, x_memory, z_prev = self.previous
        if flow is None:
            flow, _ = robust_flow(x_prev, input, self.flow_size)
        x_warped, inside = warp_by_flow(x_prev, flow)
        if inside.mean() < MIN_OVERLAP:
            return None, None, None
        layout = _layout(input)
        if np.median(np.abs(_layout(np.where(inside[..., None], x_warped, input)) - layout)) > self.cut * layout.std():
            return None, None, None
        memory_warped, _ = warp_by_flow(x_memory, flow, order=3)
        d = scipy.ndimage.gaussian_filter(np.abs(input - memory_warped).mean(axis=-1), DISAGREEMENT_SIGMA)
        excess = np.maximum(d - np.median(d[inside]), 0) / self.tolerance
        w = self.strength * np.exp(-excess ** 2) * inside
        z_warped, _ = warp_by_flow(z_prev, flow, order=3)
        return w, memory_warped.clip(0, 255), z_warped.clip(0, 255)

    def __call__(self, input, output, flow=None):
        """The filtered translation z_t (H x W x C float64 grey levels) of a frame whose input is
        `input` and translation `output` (grey levels, H x W[ x C], of one size); `flow` (H x W x 2,
        `robust_flow(previous input, input)`) when it is known already."""
        x, y = channels_last(input), channels_last(output)
        if x.shape[:2] != y.shape[:2]:
            raise ValueError(f'the input ({x.shape[1]}x{x.shape[0]} px) and its translation '
                             f'({y.shape[1]}x{y.shape[0]} px) must have one size')
        w, memory_warped, z_warped = self.weights(x, flow)
        if w is None:
            self.cuts += self.frames > 0
            memory, z = x, y
        else:
            memory = x + w[..., None] * (memory_warped - x)
            z = y + w[..., None] * (z_warped - y)
        self.previous = (x, memory, z)
        self.frames += 1
        return z


def filter_frames(temporal, inputs, outputs):
    """Consecutive frames through `temporal`: generator inputs and their translations, (N, C, H, W)
    tensors in [-1, 1], give the filtered translations as such a tensor (float32, on the CPU)."""
    out = [temporal(x, y) for x, y in zip(grey_levels(inputs), grey_levels(outputs))]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 127.5 - 1
