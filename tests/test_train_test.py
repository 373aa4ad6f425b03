"""End-to-end: train.py then test.py on the real day/night photos, at tiny sizes on the CPU."""
import pytest
import torch
from PIL import Image

import train
from conftest import AU_GAN_LOSSES, TINY, VISUALS, assert_finite_losses, page_images, read_losses, run_cli
from util.checkpoint import load_network

@pytest.mark.slow
@pytest.mark.parametrize('norm', ['instance', 'none'])
@pytest.mark.parametrize('netD', ['basic', 'ms3'])
def test_train_then_test(tmp_path, daynight, norm, netD):
    ckpt, results = tmp_path / 'checkpoints', tmp_path / 'results'
    common = ['--dataroot', daynight, '--name', 'run', '--model', 'au_gan', '--norm', norm, '--netD', netD,
              '--n_layers_D', '2', '--checkpoints_dir', ckpt, *TINY]
    run_cli('train.py', *common, '--load_size', '72', '--crop_size', '64', '--max_dataset_size', '3',
            '--n_epochs', '1', '--n_epochs_decay', '1', '--print_freq', '2', '--display_freq', '2')
    run_dir = ckpt / 'run'
    for net in ['G_A', 'G_B', 'D_A', 'D_B']:
        assert (run_dir / f'latest_net_{net}.pth').is_file()
    assert (run_dir / 'train_opt.txt').read_text().count('norm') >= 1
    assert_finite_losses(run_dir / 'loss_log.txt', AU_GAN_LOSSES)
    train_page = run_dir / 'web' / 'index.html'
    assert train_page.is_file() and all(p.is_file() for p in page_images(train_page))

    proc = run_cli('test.py', *common, '--results_dir', results, '--preprocess', 'scale_height',
                   '--load_size', '48', '--num_test', '2')
    page = results / 'run' / 'test_latest' / 'index.html'
    assert str(page) in proc.stdout
    images = page_images(page)
    assert len(images) == 2 * len(VISUALS)
    for visual in VISUALS:
        assert sum(p.name.endswith(f'_{visual}.png') for p in images) == 2, visual
    for p in images:
        w, h = Image.open(p).size
        assert h == 48 and w % 4 == 0 and w > 48  # full processed frames: height 48, wider than tall


@pytest.mark.slow
def test_training_resumes_with_continue_train(tmp_path, daynight):
    common = ['--dataroot', daynight, '--name', 'resume', '--checkpoints_dir', tmp_path, *TINY,
              '--load_size', '40', '--crop_size', '32', '--max_dataset_size', '2', '--n_epochs', '1',
              '--n_epochs_decay', '0', '--print_freq', '1']
    run_cli('train.py', *common)
    first = (tmp_path / 'resume' / 'latest_net_G_A.pth').read_bytes()
    proc = run_cli('train.py', *common, '--continue_train', '--epoch', 'latest')
    assert 'loaded G_A' in proc.stdout and 'already finished' in proc.stdout
    assert (tmp_path / 'resume' / 'latest_net_G_A.pth').read_bytes() == first
    longer = common + ['--n_epochs', '2']  # the last --n_epochs wins
    proc = run_cli('train.py', *longer, '--continue_train', '--epoch', 'latest')
    assert 'resuming at epoch 2, iteration 2' in proc.stdout
    assert (tmp_path / 'resume' / 'latest_net_G_A.pth').read_bytes() != first


@pytest.mark.slow
def test_compile_trains_like_eager_reports_its_time_and_saves_plain_checkpoints(tmp_path, daynight, monkeypatch, capsys):
    """--compile wraps every network (dynamo with its eager backend here: inductor compiles these nets
    for minutes on the CPU); the run's losses equal an uncompiled run's, the first iteration's time is
    reported as compile time, and the checkpoints hold the plain networks' keys."""
    compiled = []
    real_compile = torch.compile

    def compile_eagerly(net, **kwargs):
        compiled.append(type(net).__name__)
        return real_compile(net, backend='eager', **kwargs)

    monkeypatch.setattr(torch, 'compile', compile_eagerly)
    args = ['--dataroot', str(daynight), '--checkpoints_dir', str(tmp_path), *TINY, '--load_size', '40',
            '--crop_size', '32', '--max_dataset_size', '2', '--n_epochs', '1', '--n_epochs_decay', '0',
            '--print_freq', '1', '--serial_batches', '--no_flip', '--amp', 'off']
    train.main([*args, '--name', 'eager'])
    assert compiled == [] and '--compile:' not in capsys.readouterr().out
    train.main([*args, '--name', 'compiled', '--compile'])
    assert len(compiled) == 4  # G_A, G_B, D_A, D_B
    assert '--compile: the first iteration took' in capsys.readouterr().out
    assert read_losses(tmp_path / 'compiled' / 'loss_log.txt') == read_losses(tmp_path / 'eager' / 'loss_log.txt')
    state, _, _ = load_network(tmp_path / 'compiled' / 'latest_net_G_A.pth')
    eager_state, _, _ = load_network(tmp_path / 'eager' / 'latest_net_G_A.pth')
    assert state.keys() == eager_state.keys() and not any(k.startswith('_orig_mod') for k in state)


@pytest.mark.slow
def test_plateau_policy_steps_on_the_epochs_logged_losses(tmp_path, daynight):
    from util.checkpoint import load_training_state
    run_cli('train.py', '--dataroot', daynight, '--name', 'plateau', '--checkpoints_dir', tmp_path, *TINY,
            '--load_size', '32', '--crop_size', '32', '--max_dataset_size', '3', '--n_epochs', '1',
            '--n_epochs_decay', '0', '--print_freq', '1', '--lr_policy', 'plateau')
    rows = read_losses(tmp_path / 'plateau' / 'loss_log.txt')
    expected = sum(sum(row.values()) for row in rows) / len(rows)
    best = load_training_state(tmp_path / 'plateau' / 'latest_state.pth')['schedulers'][0]['best']
    assert expected > 1 and best == pytest.approx(expected, abs=0.01 * len(rows[0]))


@pytest.mark.smoke
def test_smoke_train_then_test_in_process(tmp_path):
    """The fast lane's one end-to-end pass: train.py then test.py, in this process, on 2 images
    per domain made here (the real photos are not needed), 32 px, 2 iterations."""
    import test as test_script
    for folder in ('trainA', 'trainB', 'testA', 'testB'):
        (tmp_path / 'data' / folder).mkdir(parents=True)
        for i in range(2):
            Image.new('RGB', (48, 40), (60 * i, 90, 30 if 'A' in folder else 200)).save(
                tmp_path / 'data' / folder / f'{i}.png')
    common = ['--dataroot', str(tmp_path / 'data'), '--name', 'smoke', '--checkpoints_dir', str(tmp_path / 'ck'), *TINY]
    train.main([*common, '--load_size', '36', '--crop_size', '32', '--max_iters', '2', '--n_layers_D', '2',
                '--print_freq', '1'])
    assert len(assert_finite_losses(tmp_path / 'ck' / 'smoke' / 'loss_log.txt', AU_GAN_LOSSES)) == 2
    test_script.main(['--dataroot', str(tmp_path / 'data'), '--name', 'smoke', '--checkpoints_dir',
                      str(tmp_path / 'ck'), '--results_dir', str(tmp_path / 'res'), '--gpu_ids', '-1',
                      '--num_threads', '0', '--load_size', '32'])
    page = tmp_path / 'res' / 'smoke' / 'test_latest' / 'index.html'
    images = page_images(page)
    assert len(images) == 2 * len(VISUALS) and all(p.is_file() for p in images)
