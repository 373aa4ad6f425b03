"""metrics/aliasing.py on constructed clips and images with known answers: the truth clip scores
0 for every camera motion, frame-wise noise scores its expected level, the known motion is undone
exactly (and a wrong one is seen), the estimated flow finds a known shift, and a checkerboard added
to an image is detected while a smooth or shifted image is not."""
import math

import numpy as np
import pytest
import scipy.ndimage

from data.ground_truth import NOISE_STD, render_night
from metrics.aliasing import (Motion, checkerboard_ratio, clip_psnr, estimate_flow, estimated_temporal_change,
                              frame_changes, grey_levels, grid_peak_ratio,
                              grid_power_share, make_clip, temporal_change)

SIZE = (32, 40)


def texture(shape, sigma=2.0, seed=0, contrast=40.0):
    """A smooth random image around mid-grey (float grey levels)."""
    rng = np.random.default_rng(seed)
    x = scipy.ndimage.gaussian_filter(rng.normal(size=shape), [sigma, sigma] + [0] * (len(shape) - 2))
    return 128 + contrast * x / x.std()


def day_photo(h=64, w=80, seed=0):
    return texture((h, w, 3), seed=seed, contrast=50).clip(0, 255).round().astype(np.uint8)


def still(n):
    return [Motion(1.0, 0.0, 0.0)] * (n - 1)


@pytest.mark.parametrize('pan', [0, 1, 2, 3, 4])
def test_the_truth_clip_scores_zero_and_its_night_frames_carry_fresh_noise(pan):
    day = day_photo()
    clip = make_clip(day, 6, SIZE, pan=pan)
    assert clip.frames.shape == clip.truth.shape == (6, *SIZE, 3)
    assert clip.motions == [Motion(1.0, 0.0, float(pan))] * 5
    for (top, left, h, w), truth in zip(clip.windows, clip.truth):
        assert np.array_equal(truth, day[top:top + h, left:left + w])
    assert temporal_change(clip.truth, clip.motions) == 0
    # the night look of the window, with a seed of its own per frame
    assert np.array_equal(clip.frames[2], render_night(clip.truth[2], 2))
    noisy = temporal_change(clip.frames, clip.motions)
    assert 0 < noisy <= 2 * NOISE_STD * 255 / math.sqrt(math.pi) + 1  # at most the noise's level, with rounding
    if pan:  # the motion not undone: the truth changes
        assert temporal_change(clip.truth, still(6)) > 1


def test_frame_wise_noise_scores_its_level():
    sigma, n = 4.0, 5
    rng = np.random.default_rng(1)
    truth = texture((48, 48, 3))
    frames = [truth + rng.normal(0, sigma, truth.shape) for _ in range(n)]
    expected = 2 * sigma / math.sqrt(math.pi)  # E|X - Y|, X and Y independent N(0, sigma^2)
    assert temporal_change(frames, still(n)) == pytest.approx(expected, rel=0.03)
    # the same on a panning clip: the motion is undone before the frames are compared
    big = texture((48, 64, 3), seed=2)
    frames = [big[:, 3 * t:3 * t + 48] + rng.normal(0, sigma, (48, 48, 3)) for t in range(n)]
    changes = frame_changes(frames, [Motion(1.0, 0.0, 3.0)] * (n - 1))
    assert changes.shape == (n - 1,) and changes == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize('dy,dx', [(0, 1), (2, -3), (-4, 4)])
def test_a_shifted_copy_scores_zero(dy, dx):
    big = texture((60, 60), seed=3)
    first = big[10:42, 10:42]
    second = big[10 + dy:42 + dy, 10 + dx:42 + dx]  # pixel p of the second shows p + (dy, dx) of the first
    assert temporal_change([first, second], [Motion(1.0, dy, dx)]) == 0
    assert temporal_change([first, second], [Motion(1.0, dy, dx + 1)]) > 1
    assert temporal_change([first, second], still(2)) > 1


def test_the_zoom_is_undone_up_to_interpolation():
    clip = make_clip(day_photo(96, 112, seed=4), 5, SIZE, zoom=1.05)
    assert [round(m.scale, 6) for m in clip.motions] == [round(1 / 1.05, 6)] * 4
    h, w = SIZE
    assert clip.windows[-1][2:] == pytest.approx(SIZE) and clip.windows[0][2] == pytest.approx(h * 1.05 ** 4)
    undone, ignored = temporal_change(clip.truth, clip.motions), temporal_change(clip.truth, still(5))
    assert undone < 0.25 * ignored, (undone, ignored)
    assert clip_psnr(clip.truth, clip.truth) == math.inf
    assert clip_psnr(clip.frames, clip.truth) < 30


def test_a_photo_too_small_for_the_clip_is_refused():
    with pytest.raises(ValueError, match='needs a photo of at least 32x60 px, not 64x50'):
        make_clip(day_photo(64, 50), 6, SIZE, pan=4)
    with pytest.raises(ValueError, match='whole number'):
        make_clip(day_photo(), 3, SIZE, pan=1.5)


@pytest.mark.parametrize('shift', [(2.0, -3.0), (1.5, 0.5), (-5.0, 6.0)])
def test_the_estimated_flow_finds_a_known_shift(shift):
    big = texture((112, 112), sigma=2.5, seed=5)
    i, j = np.mgrid[0:80, 0:80].astype(float) + 16
    first = big[16:96, 16:96]
    second = scipy.ndimage.map_coordinates(big, [i + shift[0], j + shift[1]], order=3)
    flow, method = estimate_flow(first, second)
    inner = flow[12:-12, 12:-12]
    assert np.abs(np.median(inner.reshape(-1, 2), axis=0) - shift).max() < 0.1
    assert 'Lucas-Kanade' in method


def test_the_flow_compensated_change_of_a_real_video_without_known_motion():
    n, sigma = 4, 3.0
    big = texture((72, 96, 3), sigma=2.5, seed=6)
    truth = [big[:, 4 * t:4 * t + 72] for t in range(n)]
    change, method = estimated_temporal_change(truth)
    assert change < 0.1 * temporal_change(truth, still(n)) and method
    rng = np.random.default_rng(7)
    noisy = [f + rng.normal(0, sigma, f.shape) for f in truth]
    known = temporal_change(noisy, [Motion(1.0, 0.0, 4.0)] * (n - 1))
    assert estimated_temporal_change(noisy)[0] == pytest.approx(known, rel=0.15)


def natural_image(n=64, seed=8):
    """Random phases with a 1/f amplitude spectrum (power falling as 1/f^2, as photos' do)."""
    rng = np.random.default_rng(seed)
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(n), np.fft.fftfreq(n), indexing='ij'))
    spectrum = np.where(f > 0, 1 / np.maximum(f, 1e-9), 0) * np.exp(2j * np.pi * rng.random((n, n)))
    x = np.fft.ifft2(spectrum).real
    return 128 + 30 * x / x.std()


@pytest.mark.parametrize('period', [2, 4])
def test_a_checkerboard_is_detected_and_a_smooth_or_shifted_image_is_not(period):
    i, j = np.mgrid[0:64, 0:64]
    pattern = 4.0 * np.where((i // (period // 2) + j // (period // 2)) % 2, 1, -1)  # period-px checkerboard
    smooth = texture((64, 64, 3), sigma=3)
    assert grid_power_share(smooth) < 1e-4 and grid_power_share(smooth + pattern[..., None]) > 0.005
    assert checkerboard_ratio([smooth + pattern[..., None]], [smooth]) > 100
    # A photo-like image has power at the grid's frequencies of its own; a checkerboard of 1/50 of
    # its power more than doubles it, and the same image shifted by a pixel has the same.
    natural = natural_image()
    assert 0.001 < grid_power_share(natural) < 0.1
    assert checkerboard_ratio([natural + pattern], [natural]) > 1.5
    shifted = [np.roll(natural, 1, axis=1), np.roll(natural, 3, axis=0)]
    assert checkerboard_ratio(shifted, [natural]) == pytest.approx(1, abs=0.1)


@pytest.mark.parametrize('period', [2, 4])
def test_the_grid_peak_finds_a_checkerboard_under_noise_and_not_noise_itself(period):
    i, j = np.mgrid[0:64, 0:64]
    pattern = 4.0 * np.where((i // (period // 2) + j // (period // 2)) % 2, 1, -1)
    for seed in (9, 10):
        noise = np.random.default_rng(seed).normal(0, 8, (64, 64, 3))
        smooth = texture((64, 64, 3), sigma=3, seed=seed)
        assert grid_peak_ratio(noise) == pytest.approx(1, abs=0.3)
        assert grid_peak_ratio(smooth + noise) == pytest.approx(1, abs=0.3)
        assert grid_peak_ratio(smooth + noise + pattern[..., None]) > 4
        # noise alone raises the share, not the peak: why both exist
        assert checkerboard_ratio([smooth + noise], [smooth]) > 100


def test_generator_output_becomes_grey_levels():
    out = np.stack([np.full((3, 4, 5), -1.0), np.full((3, 4, 5), 1.0)])
    grey = grey_levels(out)
    assert grey.shape == (2, 4, 5, 3) and grey[0].max() == 0 and grey[1].min() == 255
