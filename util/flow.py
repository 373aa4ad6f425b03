"""Dense optical flow between two frames, classical and free of learned weights, and warping by it.

Two estimates: `estimate_flow` (plain pyramidal Lucas-Kanade) measures a real video's flicker
(metrics/aliasing.py, scripts/evaluate.py --video); `robust_flow` (a robust global shift, then
Cauchy-weighted Lucas-Kanade) is what the filter over time at conversion follows
(inference/temporal.py), since rain and glare drawn anew in every frame mislead the plain one.
They share the Lucas-Kanade core (`_lucas_kanade`) and the pyramid (`_pyramid`).

Frames are arrays in grey levels, HxW or HxWxC. A flow (H x W x 2: dy, dx) from frame t to frame
t+1 says where each pixel of frame t+1 was in frame t: next(p) ~= previous(p + flow(p)).
"""
import numpy as np
import scipy.ndimage

FLOW_METHOD = 'pyramidal Lucas-Kanade (numpy/scipy; window sigma 3 px, 5 iterations per level)'
FLOW_WINDOW = 3.0        # px: the Gaussian window over which the flow is taken as constant
FLOW_ITERATIONS = 5      # Gauss-Newton steps per pyramid level
FLOW_MIN_LEVEL = 16      # px: the coarsest level's shorter side is at least this
# x the mean gradient energy: keeps the flow near its coarser estimate where there is no texture
FLOW_REGULARISER = 1e-2
# robust_flow's settings, chosen on the rainy ground-truth clips (docs/conversion.md)
ROBUST_MEDIAN = 5         # px
ROBUST_WINDOW = 8.0       # px
ROBUST_REGULARISER = 1.0
SEARCH_RADIUS = 4         # px at the level searched: global_shift's range
SEARCH_LEVEL = 32         # px: the shorter side of the level searched is at least this
ROBUST_LOSS = 1.0         # the Cauchy loss's scale, in robust standard deviations of the residual
ROBUST_FLOW_METHOD = ('a median-matched global shift, then robust pyramidal Lucas-Kanade (numpy/scipy; median 5 px, '
                      'window sigma 8 px, Cauchy-weighted)')


def grey_levels(images):
    """Generator output (N, C, H, W) or (C, H, W) in [-1, 1], a torch tensor or an array, as
    (N, H, W, C) or (H, W, C) float64 grey levels 0-255."""
    x = images.detach().cpu().double().numpy() if hasattr(images, 'detach') else np.asarray(images, dtype=np.float64)
    return np.moveaxis((x.clip(-1, 1) + 1) * 127.5, -3, -1)


def channels_last(frame):
    """`frame` as float64 H x W x C (a channel axis added to an H x W frame)."""
    frame = np.asarray(frame, dtype=np.float64)
    return frame[..., None] if frame.ndim == 2 else frame


def sample(frame, ys, xs, order=1):
    """frame (H, W, C) read at the points (ys, xs) by spline interpolation of `order` (1: bilinear),
    and which points lie inside it."""
    H, W = frame.shape[:2]
    inside = (ys >= 0) & (ys <= H - 1) & (xs >= 0) & (xs <= W - 1)
    values = np.stack([scipy.ndimage.map_coordinates(frame[..., c], [ys, xs], order=order, mode='nearest')
                       for c in range(frame.shape[-1])], axis=-1)
    return values, inside


def _grey(frame):
    return channels_last(frame).mean(axis=-1)


def _window(x, sigma):
    return scipy.ndimage.gaussian_filter(x, sigma)


def _pyramid(a, b, min_side):
    """[(a, b), ...]: both frames, then each level Gaussian-blurred (sigma 1) and subsampled by 2
    (pixel k of a level is pixel 2k of the one before), while the shorter side stays >= min_side."""
    levels = [(a, b)]
    while min(levels[-1][0].shape) >= 2 * min_side:
        levels.append(tuple(scipy.ndimage.gaussian_filter(x, 1.0)[::2, ::2] for x in levels[-1]))
    return levels


def _lucas_kanade(a, b, window, regulariser, robust=0.0, shift=(0.0, 0.0)):
    """The pyramidal Lucas-Kanade flow from grey frame a to grey frame b (`estimate_flow`), started
    from the global `shift` (dy, dx); `robust` > 0 weights each pixel's equation by
    1 / (1 + (e / c)^2), c = robust * 1.4826 * median |e| (iteratively reweighted least squares
    with a Cauchy loss), so that what differs between the frames besides the motion (rain, a
    moving thing) counts little."""
    if a.shape != b.shape:
        raise ValueError(f'frames of {a.shape} and {b.shape} px: a video has one frame size')
    pyramid = _pyramid(a, b, FLOW_MIN_LEVEL)
    flow = None
    for a, b in reversed(pyramid):
        i, j = np.mgrid[0:a.shape[0], 0:a.shape[1]].astype(np.float64)
        if flow is None:
            flow = np.zeros(a.shape + (2,))
            flow[...] = np.asarray(shift, dtype=np.float64) / 2 ** (len(pyramid) - 1)
        else:  # pixel k of the coarser level is pixel 2k here
            flow = 2 * np.stack([scipy.ndimage.map_coordinates(flow[..., c], [i / 2, j / 2], order=1, mode='nearest')
                                 for c in range(2)], axis=-1)
        gy_b, gx_b = np.gradient(b)
        for _ in range(FLOW_ITERATIONS):
            ys, xs = i + flow[..., 0], j + flow[..., 1]
            warped = scipy.ndimage.map_coordinates(a, [ys, xs], order=1, mode='nearest')
            gy_a, gx_a = np.gradient(warped)
            gy, gx, e = (gy_a + gy_b) / 2, (gx_a + gx_b) / 2, warped - b
            if robust:  # each product below then carries the weight once
                root = np.sqrt(1 / (1 + (e / (robust * 1.4826 * float(np.median(np.abs(e))) + 1e-6)) ** 2))
                gy, gx, e = root * gy, root * gx, root * e
            energy = float(np.mean(gx * gx + gy * gy))
            syy, sxy, sxx = _window(gy * gy, window), _window(gx * gy, window), _window(gx * gx, window)
            sye, sxe = _window(gy * e, window), _window(gx * e, window)
            reg = regulariser * energy + 1e-12
            syy, sxx = syy + reg, sxx + reg
            det = syy * sxx - sxy * sxy
            flow[..., 0] -= (sxx * sye - sxy * sxe) / det
            flow[..., 1] -= (syy * sxe - sxy * sye) / det
    return flow


def estimate_flow(previous, next):
    """The dense flow (H x W x 2: dy, dx) with next(p) ~= previous(p + flow(p)), by pyramidal
    Lucas-Kanade on the frames' mean over channels: at each level, coarse to fine, Gauss-Newton
    steps solve, per pixel,

        sum_q w(q - p) g(q) g(q)^T du = -sum_q w(q - p) g(q) e(q),
        e = previous(q + flow(q)) - next(q),   g = the mean of both frames' gradients,

    w a Gaussian window of FLOW_WINDOW px, with FLOW_REGULARISER times the mean gradient energy
    added to the diagonal. Returns (flow, FLOW_METHOD)."""
    return _lucas_kanade(_grey(previous), _grey(next), FLOW_WINDOW, FLOW_REGULARISER), FLOW_METHOD


def _median_match(a, b, centre, radius):
    """The whole-pixel shift within `radius` of `centre` minimising the median of |a(p + s) - b(p)|
    over the overlap (ties: the one nearest the centre)."""
    H, W = a.shape
    best, shift = np.inf, centre
    for dy in range(centre[0] - radius, centre[0] + radius + 1):
        for dx in range(centre[1] - radius, centre[1] + radius + 1):
            if abs(dy) >= H // 2 or abs(dx) >= W // 2:
                continue
            cost = float(np.median(np.abs(a[max(0, dy):H + min(0, dy), max(0, dx):W + min(0, dx)]
                                          - b[max(0, -dy):H + min(0, -dy), max(0, -dx):W + min(0, -dx)])))
            nearer = abs(dy - centre[0]) + abs(dx - centre[1]) < abs(shift[0] - centre[0]) + abs(shift[1] - centre[1])
            if cost < best - 1e-9 or (cost <= best + 1e-9 and nearer):
                best, shift = cost, (dy, dx)
    return shift


def global_shift(a, b):
    """The whole-pixel shift (dy, dx) with b(p) ~= a(p + shift) that the most pixels agree on: the
    one minimising the median of |a(p + s) - b(p)| over the overlap, searched within
    SEARCH_RADIUS px on the coarsest level of a Gaussian pyramid whose shorter side is at least
    SEARCH_LEVEL px (so the range grows with the frame), then within 1 px at each finer level. The
    median ignores whatever covers less than half the frame (rain, a thing moving on its own)."""
    pyramid = _pyramid(a, b, SEARCH_LEVEL)
    shift = _median_match(*pyramid[-1], (0, 0), SEARCH_RADIUS)
    for a, b in reversed(pyramid[:-1]):
        shift = _median_match(a, b, (2 * shift[0], 2 * shift[1]), 1)
    return float(shift[0]), float(shift[1])


def _shrink(frame, k):
    """A grey frame's means over k x k blocks (the last rows and columns that fill no block dropped)."""
    H, W = frame.shape[0] // k * k, frame.shape[1] // k * k
    return frame[:H, :W].reshape(H // k, k, W // k, k).mean(axis=(1, 3))


def _grow(flow, k, shape):
    """A flow estimated on k x k block means, as the flow of the full frame of `shape` (H, W):
    resampled bilinearly at each pixel's place on the coarse grid and scaled by k."""
    i, j = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    ys, xs = (i + 0.5) / k - 0.5, (j + 0.5) / k - 0.5
    return k * np.stack([scipy.ndimage.map_coordinates(flow[..., c], [ys, xs], order=1, mode='nearest')
                         for c in range(2)], axis=-1)


def robust_flow(previous, next, flow_size=0):
    """A flow like `estimate_flow`'s, made for frames that differ by more than their motion (heavy
    noise, rain, glare): the frames' mean over channels is median-filtered (ROBUST_MEDIAN px: thin
    streaks and single-pixel noise go), the camera's global shift is found by a robust search
    (`global_shift`), and pyramidal Lucas-Kanade refines it from there with a wide window
    (ROBUST_WINDOW px), a strong pull towards the coarser estimate (ROBUST_REGULARISER) and each
    pixel weighted by a Cauchy loss of its residual (ROBUST_LOSS; `_lucas_kanade`). Returns (flow,
    ROBUST_FLOW_METHOD). With `flow_size`, frames whose longer side is above it are estimated on
    block means k times smaller (k the smallest integer that brings them within it) and the flow
    grown back (`_grow`): about k^2 times faster, its detail k times coarser."""
    a, b = _grey(previous), _grey(next)
    k = -(-max(a.shape) // flow_size) if flow_size else 1
    if k > 1:
        a, b = _shrink(a, k), _shrink(b, k)
    a, b = (scipy.ndimage.median_filter(x, ROBUST_MEDIAN) for x in (a, b))
    flow = _lucas_kanade(a, b, ROBUST_WINDOW, ROBUST_REGULARISER, ROBUST_LOSS, global_shift(a, b))
    return (_grow(flow, k, previous.shape[:2]) if k > 1 else flow), ROBUST_FLOW_METHOD


def warp_by_flow(previous, flow, order=1):
    """Frame t brought onto frame t+1's grid by a flow of `estimate_flow` (spline interpolation of
    `order`, 1: bilinear), and the mask of the pixels whose point lies inside frame t."""
    h, w = flow.shape[:2]
    i, j = np.mgrid[0:h, 0:w].astype(np.float64)
    return sample(channels_last(previous), i + flow[..., 0], j + flow[..., 1], order)
