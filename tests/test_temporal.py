"""--temporal (inference/temporal.py) and the robust flow it follows (util/flow.py) on constructed
clips with known answers: frame-wise noise on a still or panning scene is averaged away, a clean
pan passes unchanged, a thing that moves on its own leaves no trail, a scene cut restarts the
filter, strength 0 is the translation itself; the robust flow finds a known shift under fresh
streaks in every frame; convert.py writes a filtered video and refuses settings out of range in one
line."""
import numpy as np
import pytest
import scipy.ndimage
import torch

from inference.temporal import TemporalFilter, filter_frames
from metrics.aliasing import Motion, temporal_change
from options.convert_options import TEMPORAL_CUT, TEMPORAL_FLOW_SIZE, TEMPORAL_STRENGTH, TEMPORAL_TOLERANCE
from test_aliasing_figure import study  # noqa: F401  (the fixture)
from util.flow import global_shift, robust_flow

H, W = 48, 64


def texture(shape, sigma=2.0, seed=0, contrast=40.0):
    """A smooth random image around mid-grey (float grey levels)."""
    rng = np.random.default_rng(seed)
    x = scipy.ndimage.gaussian_filter(rng.normal(size=shape), [sigma, sigma] + [0] * (len(shape) - 2))
    return 128 + contrast * x / x.std()


def pan_clip(frames, pan, noise, seed=0):
    """(noisy frames, clean frames): windows of a texture panning `pan` px a frame to the right."""
    big = texture((H, W + pan * frames, 3), seed=seed)
    clean = np.stack([big[:, pan * t:pan * t + W] for t in range(frames)])
    rng = np.random.default_rng(seed + 1)
    return clean + rng.normal(0, noise, clean.shape), clean


def run(temporal, inputs, outputs):
    return np.stack([temporal(x, y) for x, y in zip(inputs, outputs)])


def default_filter(**changes):
    settings = dict(strength=TEMPORAL_STRENGTH, tolerance=TEMPORAL_TOLERANCE, cut=TEMPORAL_CUT,
                    flow_size=TEMPORAL_FLOW_SIZE)
    return TemporalFilter(**{**settings, **changes})


@pytest.mark.parametrize('pan', [0, 1, 3])
def test_frame_wise_noise_is_averaged_along_the_motion(pan):
    noisy, clean = pan_clip(10, pan, noise=6.0)
    motions = [Motion(1.0, 0.0, float(pan))] * 9
    temporal = default_filter()
    out = run(temporal, noisy, noisy)  # the translation carries the input's noise
    assert temporal.cuts == 0
    before, after = temporal_change(noisy, motions), temporal_change(out, motions)
    assert after < 0.5 * before
    # averaged, not smeared: the last frames are nearer the clean scene than the noisy ones
    assert np.abs(out[5:] - clean[5:]).mean() < 0.7 * np.abs(noisy[5:] - clean[5:]).mean()


def test_a_clean_pan_passes_unchanged():
    _, clean = pan_clip(8, 2, noise=0.0, seed=3)
    out = run(default_filter(), clean, clean)
    assert np.abs(out - clean)[:, 8:-8, 8:-8].mean() < 1.0


@pytest.mark.parametrize('step', [1, 2, 4])
def test_a_thing_moving_on_its_own_leaves_no_trail(step):
    rng = np.random.default_rng(4)
    scene = texture((H, W, 3), seed=4)
    frames, places = [], []
    for t in range(10):
        frame = scene.copy()
        frame[16:32, 4 + step * t:20 + step * t] = (230, 40, 30)  # a red square moving `step` px a frame
        frames.append(frame)
        places.append((slice(16, 32), slice(4 + step * t, 20 + step * t)))
    frames = np.stack(frames)
    noisy = frames + rng.normal(0, 4.0, frames.shape)
    gated = run(default_filter(), noisy, noisy)
    blind = run(default_filter(tolerance=1e9), noisy, noisy)  # follows the camera only
    trail = np.zeros((H, W), dtype=bool)
    trail[places[6]] = True
    trail[places[9]] = False  # where the square was in the last three frames and is no longer
    error = lambda out: np.abs(out[9][trail] - frames[9][trail]).mean()  # noqa: E731
    noise = error(noisy)  # about 3.2: the noise's mean size
    assert error(gated) < 1.5 * noise and error(blind) > 5 * noise


def test_a_scene_cut_restarts_the_filter():
    first, _ = pan_clip(4, 0, noise=3.0, seed=5)
    second, _ = pan_clip(4, 0, noise=3.0, seed=11)
    frames = np.concatenate([first, second])
    temporal = default_filter()
    out = run(temporal, frames, frames)
    assert temporal.cuts == 1 and temporal.frames == 8
    np.testing.assert_array_equal(out[4], frames[4])  # the first frame after the cut is its own translation
    assert not np.array_equal(out[5], frames[5])


def test_strength_zero_is_the_translation_itself():
    noisy, _ = pan_clip(4, 1, noise=6.0)
    out = run(default_filter(strength=0.0), noisy, noisy[:, :, :, ::-1])
    np.testing.assert_array_equal(out, noisy[:, :, :, ::-1])


def test_filter_frames_takes_and_gives_generator_tensors():
    noisy, _ = pan_clip(3, 0, noise=6.0)
    x = torch.from_numpy(noisy.clip(0, 255) / 127.5 - 1).permute(0, 3, 1, 2).float()
    out = filter_frames(default_filter(), x, x)
    assert out.shape == x.shape and out.dtype == torch.float32
    torch.testing.assert_close(out[0], x[0], atol=1e-5, rtol=0)  # the first frame is unchanged
    assert out.min() >= -1 and out.max() <= 1


def streaks(shape, seed, count=25):
    """Bright slanted lines at random places: fresh rain for each frame."""
    rng = np.random.default_rng(seed)
    layer = np.zeros(shape[:2])
    for _ in range(count):
        y, x = rng.integers(0, shape[0] - 12), rng.integers(0, shape[1] - 4)
        for k in range(12):
            layer[y + k, x + k // 4] = 1
    return layer


@pytest.mark.parametrize('shift', [(0, 2), (1, -3)])
def test_the_robust_flow_finds_a_shift_under_fresh_streaks(shift):
    big = texture((H + 16, W + 16), sigma=2.5, seed=7, contrast=20)
    first = big[8:8 + H, 8:8 + W]
    second = big[8 + shift[0]:8 + shift[0] + H, 8 + shift[1]:8 + shift[1] + W]
    a = np.where(streaks((H, W), 1), 250.0, first)
    b = np.where(streaks((H, W), 2), 250.0, second)
    assert global_shift(first, second) == shift
    flow, method = robust_flow(a, b)
    inner = flow[8:-8, 8:-8].reshape(-1, 2)
    assert np.abs(np.median(inner, axis=0) - shift).max() < 0.25
    assert np.mean(np.hypot(*(inner - shift).T) < 0.5) > 0.8
    assert 'global shift' in method


def test_settings_are_checked():
    for bad in (dict(strength=1.0), dict(strength=-0.1), dict(tolerance=0.0)):
        with pytest.raises(ValueError):
            default_filter(**bad)
    with pytest.raises(ValueError, match='one size'):
        default_filter()(np.zeros((8, 8, 3)), np.zeros((8, 9, 3)))


def test_the_study_measures_the_filter_on_a_tiny_study(study, tmp_path):
    """study/temporal.py on the tiny ground-truth study of test_aliasing_figure (untrained networks,
    48 px photos): a row per configuration, strength and clip, the flicker lowered, the picture drawn."""
    import csv

    from study import temporal as temporal_study
    out = tmp_path / 'temporal'
    temporal_study.main(['--study', str(study), '--configs', 'au_gan_tiny', '--photos', '1', '--frames', '8',
                         '--temporal_strengths', '0,0.75', '--out', str(out)])
    with open(out / 'temporal.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    kinds = ['still', 'pan 1', 'pan 2', 'pan 4', 'zoom', 'moving square', 'scene cut']
    ours = [r for r in rows if r['config'] == 'au_gan_tiny']
    assert sorted({(float(r['strength']), r['clip'].split(': ')[1]) for r in ours}) == sorted(
        (s, k) for s in (0.0, 0.75) for k in kinds)
    assert all(int(r['cuts']) == 0 for r in ours if float(r['strength']) == 0)  # strength 0: no filter, no cut
    still = {float(r['strength']): float(r['flicker']) for r in ours if r['clip'].endswith(': still')}
    assert still[0.75] < still[0.0]
    truth = [r for r in rows if r['config'] == '(truth)' and r['clip'].endswith(': pan 2')]
    assert float(truth[0]['flicker']) == 0
    assert '| au_gan_tiny | 0.75 |' in (out / 'temporal.md').read_text() and (out / 'temporal.png').is_file()


def test_the_robust_flow_of_large_frames_is_estimated_smaller_and_grown_back():
    shift = (2, -4)
    big = texture((112, 160), sigma=4.0, seed=9, contrast=30)
    first, second = big[8:104, 8:136], big[8 + shift[0]:104 + shift[0], 8 + shift[1]:136 + shift[1]]
    full, _ = robust_flow(first, second)
    small, _ = robust_flow(first, second, flow_size=64)  # 96x128 px: estimated on 2x2 block means
    assert small.shape == full.shape == (96, 128, 2)
    for flow in (full, small):
        assert np.abs(np.median(flow[12:-12, 12:-12].reshape(-1, 2), axis=0) - shift).max() < 0.2
