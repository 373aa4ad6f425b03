"""The ground-truth task (data/ground_truth.py) and its scoring in the study (study/evaluation.py,
run by scripts/study.py): night images rendered from day photos by a known function, the exact
inverse as the ceiling and the untouched input as the floor, and a study row scored against the
truth. Tiny images made here, CPU only."""
import csv
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import metrics
from conftest import run_cli
from data import ground_truth as gt
from study import evaluation, report


def day_photo(seed, size=(48, 64)):
    """A day-like picture with structure: a bright sky, a darker skyline of blocks, some texture."""
    rng = np.random.default_rng(seed)
    h, w = size
    img = np.zeros((h, w, 3), np.float64)
    img[:] = (0.55, 0.7, 0.9)  # sky
    for x0 in range(0, w, 8):
        top = int(rng.integers(h // 4, 3 * h // 4))
        img[top:, x0:x0 + 6] = rng.uniform(0.2, 0.8, 3)
    img += rng.normal(0, 0.03, img.shape)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def make_source(root, n_train=6, n_test=4):
    for folder, n, offset in (('trainB', n_train, 0), ('testB', n_test, 100)):
        (root / folder).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(day_photo(offset + i)).save(root / folder / f'{folder}_{i}.jpg', quality=95)
    return root


def unit(array):
    return torch.from_numpy(np.asarray(array, np.float64) / 255).permute(2, 0, 1)[None]


def test_the_rendering_is_darker_bluer_and_its_inverse_undoes_it():
    day = day_photo(0)
    night = gt.render_night(day, seed=1)
    assert night.mean() < 0.45 * day.mean()
    assert night[..., 2].mean() > night[..., 0].mean()  # bluer
    assert np.array_equal(night, gt.render_night(day, seed=1))  # the noise is seeded
    assert not np.array_equal(night, gt.render_night(day, seed=2))
    back = gt.exact_inverse(night)
    assert back.dtype == np.uint8 and back.shape == day.shape
    floor, ceiling = float(metrics.psnr(unit(night), unit(day))), float(metrics.psnr(unit(back), unit(day)))
    assert ceiling > floor + 10, (floor, ceiling)
    # without the noise the inverse is exact up to the 8-bit quantisation
    clean = gt.GAIN * np.asarray(gt.TINT) * (day / 255.0) ** gt.GAMMA
    assert np.abs(gt.exact_inverse(clean) * 255 - day).max() < 1e-6
    # the tensor form agrees with the array form
    tensor = gt.exact_inverse(unit(night).float())
    assert torch.allclose(tensor, unit(gt.exact_inverse(night / 255.0) * 255).float(), atol=1e-5)


def test_edge_correlation_sees_structure_not_colour():
    day = unit(day_photo(3))
    assert float(metrics.edge_correlation(day, day)) == pytest.approx(1.0)
    # a global change of brightness and colour keeps the edges where they were
    assert float(metrics.edge_correlation(day, 0.3 * day * torch.tensor([0.8, 0.9, 1.2]).view(1, 3, 1, 1))) > 0.95
    # vertical stripes over the scene's mean colour do not
    stripes = day.mean(dim=(2, 3), keepdim=True) + 0.2 * torch.sin(torch.arange(day.shape[-1]) * 1.3).view(1, 1, 1, -1)
    assert abs(float(metrics.edge_correlation(day, stripes.expand_as(day)))) < 0.3
    assert float(metrics.edge_correlation(day, torch.full_like(day, 0.5))) == 0.0  # flat: no edges at all


def test_the_set_is_unpaired_for_training_and_paired_for_testing(tmp_path):
    source = make_source(tmp_path / 'source')
    counts = gt.make_ground_truth_set(source, tmp_path / 'set', height=32)
    assert counts == {'trainA': 3, 'trainB': 3, 'testA': 4, 'testB': 4}
    names = lambda d: sorted(p.stem for p in (tmp_path / 'set' / d).iterdir())  # noqa: E731
    assert not set(names('trainA')) & set(names('trainB'))  # no training night image has its day image
    assert names('testA') == names('testB')
    assert gt.is_ground_truth_set(tmp_path / 'set')
    record = json.loads((tmp_path / 'set' / gt.MARKER).read_text())
    assert (record['gain'], record['gamma'], record['height']) == (gt.GAIN, gt.GAMMA, 32)
    with Image.open(tmp_path / 'set' / 'testA' / 'testB_0.png') as night:
        assert night.height == 32
        expected = gt.render_night(gt.scaled(source / 'testB' / 'testB_0.jpg', 32), gt.image_seed('testB_0.jpg'))
        assert np.array_equal(np.asarray(night), expected)


@pytest.mark.slow
def test_a_ground_truth_study_scores_floor_ceiling_and_a_model(tmp_path, monkeypatch):
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    source = make_source(tmp_path / 'source')
    configs = tmp_path / 'configs.json'
    configs.write_text(json.dumps([{'name': 'au_gan_tiny', 'flags': ['--n_blocks_enc', '1', '--n_blocks_T', '1',
                                                                     '--n_blocks_dec', '1']}]))
    out = tmp_path / 'study'
    run_cli('scripts/study.py', '--dataroot', source, '--out', out, '--configs', configs, '--ground_truth',
            '--iters', '2', '--eval_at', '2', '--gpu_ids', '-1', '--num_threads', '0', '--num_test', '4',
            '--eval_size', '32', '--sample_size', '32', '--num_samples', '2',
            '--common', '--ngf 4 --ndf 4 --load_size 40 --crop_size 32 --amp off')
    assert gt.is_ground_truth_set(out / 'data')
    with open(out / 'study.csv', newline='') as f:
        rows = {r['config']: r for r in csv.DictReader(f)}
    assert set(rows) == {'(night input)', '(exact inverse)', 'au_gan_tiny'}
    floor, ceiling, model = rows['(night input)'], rows['(exact inverse)'], rows['au_gan_tiny']
    for column in evaluation.GT_COLUMNS:
        assert all(math.isfinite(float(r[column])) for r in (floor, ceiling, model)), column
    assert float(ceiling['gt_psnr']) > float(floor['gt_psnr']) + 10
    assert float(ceiling['gt_ssim']) > float(floor['gt_ssim'])
    assert float(ceiling['gt_edge']) > 0.5
    assert math.isfinite(float(model['fid'])) and model['iteration'] == '2'
    for column in evaluation.ALIASING_COLUMNS:
        assert all(math.isfinite(float(r[column])) for r in (floor, ceiling, model)), column
    # the input's own change is its fresh noise, whatever the pan: the motion is undone exactly
    input_flicker = [float(floor[c]) for c in evaluation.FLICKER_COLUMNS]
    assert min(input_flicker) > 1 and max(input_flicker) < 1.1 * min(input_flicker), input_flicker
    assert float(model['flicker_still']) > 0 and float(model['grid_ratio']) > 0
    markdown = (out / 'study.md').read_text()
    assert '| (exact inverse) | reference |' in markdown and 'PSNR vs truth' in markdown
    aliasing_table = markdown.split('## Aliasing')[1].split('\n## ')[0]
    assert all(f'| {name} | ' in aliasing_table for name in rows), aliasing_table
    assert (out / 'ground_truth.png').is_file()
    with Image.open(out / 'samples.png') as image:  # real night, true day, the one configuration
        columns = (image.width - report.PAD) / (report.tile_width(32) + report.PAD)
    assert columns == 3
