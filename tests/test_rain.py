"""The rainy ground-truth task (data/rain.py, data/ground_truth.py task 'rainy') on tiny images:
the mask covers exactly what the local effects changed, the set is unpaired for training and
paired (with a mask per test image) for testing, and a study on it scores the uncertainty."""
import csv
import json
import math
import re

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli
from data import ground_truth as gt
from data import rain
from study import evaluation, report
from test_ground_truth import day_photo, make_source
from util.errors import UserError


def test_the_mask_is_where_the_rendering_left_the_night_look():
    day = day_photo(0, size=(96, 128))
    rainy, mask, clean, base = rain.render_rainy_parts(day, seed=1)
    changed = np.abs(clean - np.clip(base, 0, 1)).max(axis=-1)
    assert np.all(changed[~mask] == 0)   # outside the mask: exactly the global night look
    assert (changed[mask] > 0).mean() > 0.95  # inside it: blurred, veiled or covered
    assert 0.03 < mask.mean() < 0.6
    assert rainy.dtype == np.uint8 and rainy.shape == day.shape and mask.shape == day.shape[:2]
    assert rainy.mean() < 0.5 * day.mean()  # a night
    # seeded: the same rain for the same seed, other rain for another
    again, again_mask = rain.render_rainy(day, seed=1)
    assert np.array_equal(again, rainy) and np.array_equal(again_mask, mask)
    assert not np.array_equal(rain.render_rainy(day, seed=2)[1], mask)


def test_the_noise_grows_with_the_signal():
    dark, bright = np.full((64, 64, 3), 40, np.uint8), np.full((64, 64, 3), 250, np.uint8)
    spreads = []
    for day in (dark, bright):
        rainy, mask, clean, _ = rain.render_rainy_parts(day, seed=3)
        spreads.append((rainy / 255.0 - clean)[~mask].std())
    assert spreads[1] > 1.5 * spreads[0]


def test_the_rainy_set_is_unpaired_for_training_and_paired_with_masks_for_testing(tmp_path):
    source = make_source(tmp_path / 'source')
    counts = gt.make_ground_truth_set(source, tmp_path / 'set', height=32, task='rainy')
    assert counts == {'trainA': 3, 'trainB': 3, 'testA': 4, 'testB': 4}
    names = lambda d: sorted(p.stem for p in (tmp_path / 'set' / d).iterdir())  # noqa: E731
    assert not set(names('trainA')) & set(names('trainB'))
    assert names('testA') == names('testB') == names(gt.MASKS)
    assert gt.task_of(tmp_path / 'set') == 'rainy'
    assert json.loads((tmp_path / 'set' / gt.MARKER).read_text())['task'] == 'rainy'
    night_path = tmp_path / 'set' / 'testA' / 'testB_0.png'
    day = gt.scaled(source / 'testB' / 'testB_0.jpg', 32)
    expected, expected_mask = rain.render_rainy(day, gt.image_seed('testB_0.jpg'))
    with Image.open(night_path) as night:
        assert np.array_equal(np.asarray(night), expected)
    assert np.array_equal(gt.hidden_mask(tmp_path / 'set', str(night_path)), expected_mask)
    # a night set has no masks, and cannot be taken for a rainy one
    gt.make_ground_truth_set(source, tmp_path / 'night', height=32)
    assert gt.hidden_mask(tmp_path / 'night', str(tmp_path / 'night' / 'testA' / 'testB_0.png')) is None
    with pytest.raises(UserError, match='holds the night ground-truth set'):
        gt.make_ground_truth_set(source, tmp_path / 'night', height=32, task='rainy')
    (tmp_path / 'set' / gt.MASKS / 'testB_1.png').unlink()
    with pytest.raises(UserError, match='has no mask'):
        gt.hidden_mask(tmp_path / 'set', str(tmp_path / 'set' / 'testA' / 'testB_1.png'))


def test_a_mask_is_scaled_by_the_share_it_covers():
    mask = np.zeros((8, 8), bool)
    mask[:4, :2] = True   # the top-left 2x2 block of 4x4 px is half hidden, the one below it not at all
    mask[:2, 2:4] = True  # its neighbour's top half
    scaled = evaluation.scaled_mask(mask, (2, 2))
    assert scaled.tolist() == [[True, False], [False, False]]
    assert evaluation.scaled_mask(mask, (8, 8)).tolist() == mask.tolist()


@pytest.mark.slow
def test_a_rainy_study_scores_the_uncertainty_of_each_model(tmp_path, monkeypatch):
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    source = make_source(tmp_path / 'source')
    configs = tmp_path / 'configs.json'
    configs.write_text(json.dumps([
        {'name': 'au_gan_tiny', 'flags': ['--n_blocks_enc', '1', '--n_blocks_T', '1', '--n_blocks_dec', '1']},
        {'name': 'cycle_gan_tiny', 'model': 'cycle_gan', 'flags': ['--n_layers_D', '1']}]))
    out = tmp_path / 'study'
    run_cli('scripts/study.py', '--dataroot', source, '--out', out, '--configs', configs, '--ground_truth', 'rainy',
            '--iters', '2', '--eval_at', '2', '--gpu_ids', '-1', '--num_threads', '0', '--num_test', '4',
            '--eval_size', '32', '--sample_size', '32', '--num_samples', '2',
            '--common', '--ngf 4 --ndf 4 --load_size 40 --crop_size 32 --amp off')
    assert gt.task_of(out / 'data') == 'rainy'
    with open(out / 'study.csv', newline='') as f:
        rows = {r['config']: r for r in csv.DictReader(f)}
    assert set(rows) == {'(night input)', '(global inverse)', 'au_gan_tiny', 'cycle_gan_tiny'}
    au, cycle = rows['au_gan_tiny'], rows['cycle_gan_tiny']
    for predictor in ('sigma', 'cycle', 'brightness', 'random'):
        for score in ('spearman', 'ause', 'auroc'):
            assert math.isfinite(float(au[f'unc_{predictor}_{score}'])), (predictor, score)
    assert math.isnan(float(cycle['unc_sigma_ause'])) and math.isfinite(float(cycle['unc_cycle_auroc']))
    assert abs(float(au['unc_random_auroc']) - 0.5) < 0.1
    # the compute columns: the run's seconds and FLOPs to reach the row
    record = json.loads((out / 'runs' / 'au_gan_tiny' / 'study_train.json').read_text())
    assert float(au['train_seconds']) == pytest.approx(record['train_seconds'])  # all 2 iterations
    assert float(au['train_tflop']) == pytest.approx(2 * record['step_gflop'] / 1e3)
    markdown = (out / 'study.md').read_text()
    assert '| (global inverse) | reference |' in markdown and '## At equal training time' in markdown
    # σ's row holds numbers (a two-iteration σ may rank pixels either way: r can be negative)
    assert re.search(r'\| au_gan_tiny \| -?\d\.\d+ \|', markdown.split('## Where is the translation wrong?')[1])
    assert (out / 'calibration.png').is_file()
    curves = json.loads((out / 'calibration.json').read_text())
    assert set(curves['au_gan_tiny']['2']) == {'sigma', 'cycle', 'brightness', 'random'}
    assert 'sigma' not in curves['cycle_gan_tiny']['2']
    # the picture: night, truth, both translations, then AU-GAN's true error, σ and the hidden pixels
    picture = tmp_path / 'figure.png'
    proc = run_cli('-m', 'study.figure', '--study', out, '--configs', 'au_gan_tiny,cycle_gan_tiny', '--num', '2',
                   '--size', '32', '--out', picture)
    assert 'hidden pixels' in proc.stdout
    with Image.open(picture) as image:
        assert (image.width - report.PAD) / (report.tile_width(32) + report.PAD) == 7
        assert (image.height - report.HEADER) / (32 + report.PAD) == 2
    refused = run_cli('-m', 'study.figure', '--study', tmp_path, '--out', picture, check=False)
    assert refused.returncode == 2 and 'has no study.json' in refused.stdout + refused.stderr


def test_the_paired_bound_trains_on_the_sets_own_rendering():
    from data.base_dataset import Geometry
    from study.paired_bound import to_tensor, training_pairs
    days = [Image.fromarray(day_photo(k, size=(32, 32))) for k in range(3)]
    geometry = Geometry(load_size=32, crop_size=32, preprocess='none', no_flip=True)
    night, day = next(training_pairs(days, geometry, np.random.default_rng(0), 'rainy'))
    rng = np.random.default_rng(0)  # the draws training_pairs makes: which photo, then the rendering's seed
    photo = np.asarray(days[rng.integers(len(days))])
    assert np.array_equal(day.numpy(), to_tensor(photo).numpy())
    assert np.array_equal(night.numpy(), to_tensor(rain.render_rainy(photo, int(rng.integers(2 ** 31)))[0]).numpy())


def test_the_compute_columns_and_the_equal_time_arithmetic():
    from types import SimpleNamespace

    from study import report, runner
    record = {'train_seconds': 300.0, 'trained_iters': 1200, 'step_gflop': 38.7}
    spent = runner.compute_spent(record, 600)
    assert spent['train_seconds'] == pytest.approx(150.0)
    assert spent['train_tflop'] == pytest.approx(600 * 38.7 / 1e3)
    assert math.isnan(runner.compute_spent({'train_seconds': 0.0, 'trained_iters': 0}, 600)['train_seconds'])
    # the slower run's whole time, spent at the faster one's rate
    assert report.equal_time_iters(300.0, 0.18) == 1667
    opt = SimpleNamespace(iters=1200)
    configs = [{'name': 'au_gan', 'flags': []}, {'name': 'cycle_gan', 'flags': ['--model', 'cycle_gan']}]
    records = {'au_gan': record, 'cycle_gan': {'train_seconds': 216.0, 'trained_iters': 1200}}
    lines = report.equal_time_lines(opt, configs, records, 'python scripts/study.py --iters 1200')
    assert 'au_gan took 300 s for 1200 iterations' in lines[2]
    assert '| cycle_gan | 0.180 | 1667 | 1.39 |' in lines and '| au_gan | 0.250 | 1200 | 1.00 |' in lines
    assert report.equal_time_lines(opt, configs, {'au_gan': record}, 'x') == []  # nothing to compare


@pytest.mark.parametrize('lacking', ['every later column', 'the aliasing columns'])
def test_a_study_csv_from_before_the_new_columns_is_read_and_rewritten(tmp_path, lacking):
    from study import report
    later = report.LATER_COLUMNS if lacking == 'every later column' else evaluation.ALIASING_COLUMNS
    older = [c for c in report.CSV_COLUMNS if c not in later]
    path = tmp_path / 'study.csv'
    row = {c: '1.5' for c in older}
    row.update(config='au_gan', iteration='600', checkpoint='iter_600')
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=older, lineterminator='\n')
        writer.writeheader()
        writer.writerow(row)
    rows = report.read_results(path)
    assert rows['au_gan', 600]['gt_psnr'] == 1.5
    assert all(math.isnan(rows['au_gan', 600][c]) for c in later)
    assert all(rows['au_gan', 600][c] == 1.5 for c in older if c not in ('config', 'iteration', 'checkpoint'))
    assert path.read_text().splitlines()[0].split(',') == report.CSV_COLUMNS  # appends now fit its header
    assert repr(report.read_results(path)) == repr(rows)  # and it reads the same again (NaN != NaN: by repr)
    with open(path, 'w') as f:
        f.write('config,iteration,something_else\n')
    with pytest.raises(UserError, match='other columns'):
        report.read_results(path)
