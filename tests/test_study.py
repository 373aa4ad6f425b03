"""scripts/study.py and the study package: a tiny two-configuration study on the real day/night
photos (4 training images, 32 px crops, 4 iterations, evaluated at 2 and 4 on 4 test images),
interrupted and resumed, and its one-line errors.

The study runs with OMP_NUM_THREADS=1: on two cores shared with other work, PyTorch's thread pool
makes the tiny networks' calls ten times slower, not faster.
"""
import csv
import importlib.util
import json
import math
import shutil

import pytest
from PIL import Image

from conftest import REPO, run_cli
from options.run_options import save_record
from study import report
from study.configs import eval_points
from study.runner import schedule
from util.errors import UserError

# the command-line entry point, main(), as users run it
spec = importlib.util.spec_from_file_location('study_script', REPO / 'scripts' / 'study.py')
cli = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cli)

CONFIGS = [{'name': 'au_gan_tiny', 'flags': ['--n_blocks_enc', '1', '--n_blocks_T', '1', '--n_blocks_dec', '1']},
           {'name': 'cycle_gan_tiny', 'model': 'cycle_gan', 'flags': ['--netG', 'resnet_6blocks']}]
COMMON = '--ngf 4 --ndf 4 --load_size 40 --crop_size 32 --max_dataset_size 4 --amp off'
SIZE, SAMPLES = 32, 2
FINITE = ['fid', 'kid', 'kid_std', 'psnr_A', 'ssim_A', 'psnr_B', 'ssim_B', 'cycle_l1_A']


def study_args(daynight, out, configs, *extra):
    return ['--dataroot', daynight, '--out', out, '--configs', configs, '--iters', '4', '--eval_at', '2,4',
            '--gpu_ids', '-1', '--num_threads', '0', '--num_test', '4', '--eval_size', str(SIZE),
            '--sample_size', str(SIZE), '--num_samples', str(SAMPLES), '--common', COMMON, *extra]


def read_rows(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def checkpoint_times(run_dir):
    return {p.name: p.stat().st_mtime_ns for p in run_dir.glob('*.pth')}


def test_schedule_and_eval_points():
    assert schedule(1200, 120) == (5, 5)  # 10 epochs: 5 constant, 5 decaying to the budget
    assert schedule(1000, 120) == (5, 4)  # 9 epochs, the last one cut at 1000 iterations
    assert schedule(4, 4) == (1, 0)
    assert eval_points('400,800', 1200) == [400, 800, 1200]  # the budget is always evaluated
    assert eval_points(None, 1200) == [300, 600, 900, 1200]


@pytest.mark.slow
def test_study_end_to_end_and_resume(daynight, tmp_path, monkeypatch):
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    configs = tmp_path / 'configs.json'
    configs.write_text(json.dumps(CONFIGS))
    out = tmp_path / 'study'
    args = ['scripts/study.py', *study_args(daynight, out, configs)]
    first, second = (out / 'runs' / c['name'] for c in CONFIGS)

    # An interrupted study: only the first configuration was run.
    run_cli(*args, '--only', 'au_gan_tiny')
    assert [(r['config'], r['iteration']) for r in read_rows(out / 'study.csv')] == [('au_gan_tiny', '2'),
                                                                                       ('au_gan_tiny', '4')]
    times = checkpoint_times(first)
    assert {'iter_2_net_G_A.pth', 'iter_4_net_G_A.pth', 'latest_net_G_A.pth'} <= set(times)
    first_rows = (out / 'study.csv').read_text().splitlines()

    # The same command without --only completes it, leaving the first configuration alone.
    proc = run_cli(*args)
    assert 'au_gan_tiny: trained (4 iterations), not training again' in proc.stdout
    assert 'training config 2/2 cycle_gan_tiny: iterations 0 -> 4' in proc.stdout
    assert 'evaluating config 1/2' not in proc.stdout and 'evaluating config 2/2' in proc.stdout
    assert checkpoint_times(first) == times
    assert (first / 'study_train.log').read_text().count('=== ') == 1  # train.py ran once for it
    lines = (out / 'study.csv').read_text().splitlines()
    assert lines[:3] == first_rows
    rows = read_rows(out / 'study.csv')
    assert [(r['config'], int(r['iteration'])) for r in rows] == [(c['name'], i) for c in CONFIGS for i in (2, 4)]
    assert set(rows[0]) == set(report.CSV_COLUMNS)
    for row in rows:
        assert all(math.isfinite(float(row[c])) for c in FINITE), row
        assert int(row['n_fake']) == int(row['n_real']) == 4 and int(row['kid_subset_size']) == 2
        assert float(row['kid_std']) > 0  # subsets of half the images differ: a real spread
    assert math.isfinite(float(rows[0]['sigma_A'])) and math.isnan(float(rows[2]['sigma_A']))  # cycle_gan has no sigma
    # the schedule: one epoch of the 4 images, all at the constant rate; iter_<n> at every eval point
    record = json.loads((second / 'study_train.json').read_text())
    assert ' '.join(record['flags']).endswith('--seed 0 --max_iters 4 --n_epochs 1 --n_epochs_decay 0 '
                                              '--save_latest_freq 2 --save_by_iter')

    markdown = (out / 'study.md').read_text()
    assert '## At iteration 4' in markdown and '## Every evaluation' in markdown
    assert 'scripts/study.py --dataroot' in markdown and 'torch ' in markdown and 'CPUs' in markdown
    summary = markdown.split('## At iteration 4')[1].split('\n## ')[0]
    assert summary.count('| au_gan_tiny |') == 1 and summary.count('| cycle_gan_tiny |') == 1
    with Image.open(out / 'kid.png') as image:
        assert image.width > 300 and image.height > 200
    for name in ('samples.png', 'samples_BtoA.png'):
        with Image.open(out / name) as image:
            width, height = image.size
        columns = (width - report.PAD) / (report.tile_width(SIZE) + report.PAD)
        rows_drawn = (height - report.HEADER) / (SIZE + report.PAD)
        assert (columns, rows_drawn) == (1 + len(CONFIGS), SAMPLES), (name, image.size)

    # Interrupted again, this time while training the second configuration at iteration 2 (its
    # latest checkpoint is then iteration 2's), before its last row was written.
    for path in second.glob('iter_4_*'):
        path.unlink()
    for path in second.glob('iter_2_*'):
        shutil.copy(path, second / path.name.replace('iter_2_', 'latest_'))
    (out / 'study.csv').write_text('\n'.join(lines[:-1]) + '\n')
    proc = run_cli(*args)
    assert 'training config 2/2 cycle_gan_tiny: iterations 2 -> 4' in proc.stdout
    assert 'resuming at epoch 1, iteration 2' in proc.stdout
    assert 'evaluating config 2/2 cycle_gan_tiny (cycle_gan) at iterations 4\n' in proc.stdout
    assert 'evaluating config 1/2' not in proc.stdout and checkpoint_times(first) == times
    resumed = read_rows(out / 'study.csv')
    assert (out / 'study.csv').read_text().splitlines()[:-1] == lines[:-1]
    assert (resumed[-1]['config'], resumed[-1]['iteration']) == ('cycle_gan_tiny', '4')
    # train.py resumes exactly and each row is evaluated under a fresh seed: the same numbers
    for c in FINITE:
        assert float(resumed[-1][c]) == pytest.approx(float(rows[-1][c]), rel=1e-5, abs=1e-9), c


@pytest.mark.slow
@pytest.mark.parametrize('content, message', [
    ('[{"name": "a", "flags": []', 'is not valid JSON'),
    ('{"name": "a"}', 'must hold a non-empty JSON list'),
    ('[{"name": "a b", "flags": []}]', '"name" must be a folder-safe string'),
    ('[{"name": "a", "flags": "--ngf 8"}]', '"flags" must be a list of strings'),
    ('[{"name": "a"}, {"name": "a", "model": "cycle_gan"}]', 'names a twice'),
    ('[{"name": "a", "flags": ["--max_iters", "9"]}]', 'gives --max_iters, which the study sets itself'),
    ('[{"name": "a", "flags": ["--no_such_flag", "1"]}]', 'train.py refuses its flags (unrecognized arguments'),
    ('[{"name": "a", "model": "cycle_gan", "flags": ["--preset", "official"]}]', '--preset official configures'),
])
def test_bad_config_file_is_a_one_line_error(daynight, tmp_path, capsys, content, message):
    configs = tmp_path / 'configs.json'
    configs.write_text(content)
    out = tmp_path / 'study'
    with pytest.raises(SystemExit) as exit_info:
        cli.main(study_args(daynight, out, configs))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: ') and '\n' not in err and message in err, err
    assert not (out / 'runs').exists()  # checked before anything trains


@pytest.mark.slow
def test_bad_config_file_from_the_command_line(daynight, tmp_path):
    configs = tmp_path / 'configs.json'
    configs.write_text('[{"name": "a", "flags": ["--dilation"]}]')
    proc = run_cli('scripts/study.py', *study_args(daynight, tmp_path / 'study', configs), check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ('error: configuration a: train.py refuses its flags '
                                   '(argument --dilation: expected one argument)'), proc.stderr


@pytest.mark.slow
def test_dry_run_prints_the_commands_and_writes_nothing(daynight, tmp_path, capsys):
    configs = tmp_path / 'configs.json'
    configs.write_text(json.dumps(CONFIGS))
    out = tmp_path / 'study'
    cli.main(study_args(daynight, out, configs, '--dry_run'))
    printed = capsys.readouterr().out
    assert printed.count('train.py --dataroot') == 2 and '--max_iters 4 --n_epochs 1 --n_epochs_decay 0' in printed
    assert 'would evaluate at [2, 4]' in printed
    assert not out.exists()


def test_a_row_cut_short_by_an_interruption_is_dropped(tmp_path):
    path = tmp_path / 'study.csv'
    row = {c: '1' for c in report.CSV_COLUMNS} | {'config': 'a', 'iteration': '2', 'checkpoint': 'iter_2'}
    report.append_result(path, row)
    with open(path, 'a') as f:
        f.write('a,4,iter_4,4,4,51')  # killed while writing the next row
    assert list(report.read_results(path)) == [('a', 2)]
    assert path.read_text().splitlines()[1:] == [','.join(row[c] for c in report.CSV_COLUMNS)]
    path.write_text('config,iteration\n')
    with pytest.raises(UserError, match='other columns'):
        report.read_results(path)


def test_the_recorded_command_names_no_machines_folders(tmp_path, monkeypatch):
    repo = tmp_path / 'repo'
    repo.mkdir()
    monkeypatch.chdir(repo)
    command = cli.recorded_command(['--dataroot', str(tmp_path / 'shared' / 'daynight'), '--out', 'studies/x',
                                    '--common', '--ngf 16'])
    assert command == "python scripts/study.py --dataroot ../shared/daynight --out studies/x --common '--ngf 16'"


def test_a_training_stopped_by_a_signal_is_one_line_that_says_how_to_continue(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from study import runner
    from util import stopping
    monkeypatch.setattr(runner, 'run_train', lambda cmd, log_path: (stopping.EXIT_STOPPED, 'stopped by SIGTERM'))
    monkeypatch.setattr(runner, 'step_gflop', lambda opt, config: 1.0)
    opt = SimpleNamespace(runs_dir=str(tmp_path), iters=4, eval_at=[2, 4], common=[], seed=0, dataroot=str(tmp_path),
                          gpu_ids='-1', num_threads=0, print_freq=1, dry_run=False)
    with pytest.raises(UserError, match='stopped by a signal on configuration au_gan at iteration 0 and saved '
                                        'there: rerun the same command'):
        runner.train({'name': 'au_gan', 'flags': []}, 1, 1, opt, epoch_iters=2)


def test_a_run_trained_under_other_defaults_is_refused_not_reported_as_today(tmp_path):
    """The same flags name another run once a default changed (as --uncertainty did): the run's
    train_opt.json tells, and the study stops before it trains or evaluates anything."""
    from types import SimpleNamespace

    from study import runner
    from study.configs import train_options
    opt = SimpleNamespace(runs_dir=str(tmp_path / 'runs'), dataroot=str(tmp_path), common=['--ngf', '4'],
                          iters=4, eval_at=[2, 4], seed=0)
    config = {'name': 'au_gan', 'flags': []}
    flags = runner.study_flags(opt, epoch_iters=2)
    options = train_options(config, opt, *flags)
    run_dir = tmp_path / 'runs' / 'au_gan'
    run_dir.mkdir(parents=True)
    options.num_threads = 7  # how a run executes may differ
    save_record(options, run_dir / 'train_opt.json', world_size=1)  # as train.py writes it
    runner.check_defaults(str(run_dir), 'au_gan', train_options(config, opt, *flags))  # the same: accepted
    record = json.loads((run_dir / 'train_opt.json').read_text())
    record['uncertainty'] = 'exp'
    (run_dir / 'train_opt.json').write_text(json.dumps(record))
    with pytest.raises(UserError, match=r'au_gan was trained with --uncertainty exp, but its flags give '
                                        r'--uncertainty gengauss today .* delete .*runs/au_gan to retrain it'):
        runner.check_defaults(str(run_dir), 'au_gan', train_options(config, opt, *flags))
