"""study/paired_bound.py: a fresh copy of a run's generator, trained on rendered (night, day)
pairs, learns the ground-truth task and is scored as the study scores a model. Tiny images
(drawn by tests/test_ground_truth.py's day_photo), a 4-channel generator, CPU only."""
import csv
import json

import pytest
import torch
from PIL import Image

from data import ground_truth as gt
from models.generators import ForkGenerator, ForkGeneratorConfig
from models.persistence import describe
from study import report
from study.evaluation import score_pairs
from study.paired_bound import fresh_generator, main, run_generator, scored_pairs
from test_ground_truth import make_source
from util.checkpoint import load_network, save_network

TINY = ForkGeneratorConfig(ngf=4, n_blocks_enc=1, n_blocks_dec=1, dilation=1, upsample='transposed')


@pytest.fixture
def run(tmp_path):
    """(ground-truth set, checkpoints dir): a tiny set and a run folder holding an AU-GAN-like G_A
    file and the train_opt.json that says how the run read its images."""
    dataroot = tmp_path / 'set'
    gt.make_ground_truth_set(make_source(tmp_path / 'source'), dataroot, height=32)
    net = ForkGenerator(3, 3, TINY, n_blocks_T=1, uncertainty=True)
    runs = tmp_path / 'runs'
    (runs / 'tiny').mkdir(parents=True)
    save_network(runs / 'tiny' / 'latest_net_G_A.pth', 'G_A', net.state_dict(), describe(net))
    (runs / 'tiny' / 'train_opt.json').write_text(json.dumps({'load_size': 40, 'crop_size': 32, 'lr': 0.002}))
    return dataroot, runs


def test_the_generator_is_the_runs_architecture_with_new_weights(run):
    _, runs = run
    saved, _, _ = load_network(str(runs / 'tiny' / 'latest_net_G_A.pth'))
    fresh = fresh_generator(run_generator(str(runs / 'tiny'), 'latest')[0], {}).state_dict()
    assert {k: v.shape for k, v in fresh.items()} == {k: v.shape for k, v in saved.items()}
    weights = [k for k in saved if k.endswith('weight')]
    assert weights and not any(torch.equal(fresh[k], saved[k]) for k in weights)


def test_trained_on_pairs_it_learns_the_task_and_writes_its_table_and_samples(run, tmp_path, capsys):
    dataroot, runs = run
    out = tmp_path / 'bound'
    main(['--dataroot', str(dataroot), '--checkpoints_dir', str(runs), '--name', 'tiny', '--iters', '150',
          '--eval_at', '1,150', '--eval_size', '32', '--num_samples', '2', '--out', str(out)])
    with open(out / 'bound.csv', newline='') as f:
        run_row, first, last = list(csv.DictReader(f))
    assert run_row['model'] == 'tiny latest (unpaired)' and not run_row['train_seconds']
    first, last = [{k: float(v) for k, v in r.items() if k != 'model'} for r in (first, last)]
    assert (first['iteration'], last['iteration']) == (1, 150)
    floor = score_pairs(scored_pairs(str(dataroot), 32), lambda night: night)  # the untouched input
    assert last['gt_psnr'] > first['gt_psnr'] + 3 and last['gt_psnr'] > floor['gt_psnr'] + 5
    assert last['gt_ssim'] > first['gt_ssim']
    assert '| 150 |' in capsys.readouterr().out
    # The run's own G_A (random weights here) scores as a translation by those weights does
    untrained, _ = run_generator(str(runs / 'tiny'), 'latest')
    untrained.load_state_dict(load_network(str(runs / 'tiny' / 'latest_net_G_A.pth'))[0])
    with torch.no_grad():
        expected = score_pairs(scored_pairs(str(dataroot), 32), untrained.eval().translate)
    assert float(run_row['gt_psnr']) == pytest.approx(expected['gt_psnr'], abs=1e-6)
    with Image.open(out / 'samples.png') as image:  # night, true day, the run's and the bound's translations
        assert (image.width - report.PAD) / (report.tile_width(32) + report.PAD) == 4


@pytest.mark.parametrize('extra, message', [
    (['--eval_at', '5', '--iters', '4'], 'must lie in 1..--iters'),
    (['--eval_at', 'x'], 'is not a list of iterations'),
])
def test_bad_arguments_are_one_line_errors(run, tmp_path, capsys, extra, message):
    dataroot, runs = run
    with pytest.raises(SystemExit) as e:
        main(['--dataroot', str(dataroot), '--checkpoints_dir', str(runs), '--name', 'tiny', '--out', str(tmp_path),
              *extra])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_a_folder_that_is_not_a_ground_truth_set_is_refused(run, tmp_path, capsys):
    _, runs = run
    with pytest.raises(SystemExit) as e:
        main(['--dataroot', str(tmp_path / 'source'), '--checkpoints_dir', str(runs), '--name', 'tiny',
              '--out', str(tmp_path / 'out')])
    assert e.value.code == 2 and 'is not a ground-truth set' in capsys.readouterr().err


def test_a_set_without_test_images_is_refused(run, tmp_path, capsys):
    dataroot, runs = run
    for image in (dataroot / 'testA').iterdir():
        image.unlink()
    with pytest.raises(SystemExit) as e:
        main(['--dataroot', str(dataroot), '--checkpoints_dir', str(runs), '--name', 'tiny', '--iters', '2',
              '--out', str(tmp_path / 'out')])
    assert e.value.code == 2 and 'no night images in' in capsys.readouterr().err
