"""Checkpoints survive anything: exact resume, kills during a save, foreign or malicious files."""
import os
import pickle
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import REPO, TINY, run_cli
from util.checkpoint import load_network, load_training_state, save_network
from util.errors import UserError

NETS = ['G_A', 'G_B', 'D_A', 'D_B']


def train_args(root, ckpt, name, *extra):
    # 4 images per epoch, 2 epochs: iteration 6 is in the second epoch
    return ['train.py', '--dataroot', root, '--checkpoints_dir', ckpt, '--name', name, *TINY, '--num_threads', '1',
            '--load_size', '40', '--crop_size', '32', '--max_dataset_size', '4', '--n_epochs', '1',
            '--n_epochs_decay', '1', '--amp', 'off', *extra]


def train(root, ckpt, name, *extra):
    return run_cli(*train_args(root, ckpt, name, *extra))


@pytest.mark.slow
@pytest.mark.parametrize('stop_at', [3, 4])  # mid-epoch, and exactly at the epoch boundary
def test_resume_is_exact(tmp_path, daynight, stop_at):
    train(daynight, tmp_path, 'straight', '--max_iters', '6')
    train(daynight, tmp_path, 'split', '--max_iters', str(stop_at))
    state = load_training_state(tmp_path / 'split' / 'latest_state.pth')
    assert state['progress']['total_iters'] == stop_at
    resumed = train(daynight, tmp_path, 'split', '--max_iters', '6', '--continue_train')
    assert f'resuming at epoch {1 if stop_at < 4 else 2}, iteration {stop_at}' in resumed.stdout
    assert_same_latest(tmp_path / 'straight', tmp_path / 'split')


def assert_same_latest(one, two):
    """The `latest` saves of run folders `one` and `two` hold identical weights, progress and
    learning-rate schedules (a resumed run against an uninterrupted one)."""
    for net in NETS:
        a = load_network(one / f'latest_net_{net}.pth')[0]
        b = load_network(two / f'latest_net_{net}.pth')[0]
        for key in a:
            assert torch.equal(a[key], b[key]), (net, key)
    straight = load_training_state(one / 'latest_state.pth')
    assert straight['progress'] == load_training_state(two / 'latest_state.pth')['progress']
    assert straight['schedulers'] == load_training_state(two / 'latest_state.pth')['schedulers']


@pytest.mark.slow
def test_resume_refuses_networks_from_another_save(tmp_path, daynight):
    train(daynight, tmp_path, 'mixed', '--max_iters', '2', '--save_epoch_freq', '1')
    run_dir = tmp_path / 'mixed'
    train(daynight, tmp_path, 'other', '--max_iters', '3')
    # a crash between two renames could leave networks of one save beside the state of another
    os.replace(tmp_path / 'other' / 'latest_net_D_A.pth', run_dir / 'latest_net_D_A.pth')
    proc = run_cli(
        'train.py', '--dataroot', daynight, '--checkpoints_dir', tmp_path, '--name', 'mixed', *TINY,
        '--load_size', '40', '--crop_size', '32', '--max_dataset_size', '4', '--continue_train', check=False)
    assert proc.returncode == 2 and 'a save was interrupted' in proc.stderr and 'D_A' in proc.stderr


KILLER = '''
import sys, torch
sys.path.insert(0, {repo!r})
from models.generators import ForkGenerator, ForkGeneratorConfig
from util.checkpoint import save_network
net = ForkGenerator(3, 3, ForkGeneratorConfig(ngf=32))
i = 0
while True:
    i += 1
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(i)
    save_network({path!r}, 'G_A', net.state_dict(), {{'ngf': 32}}, i)
    print(i, flush=True)
'''


@pytest.mark.slow
def test_sigkill_during_saves_leaves_a_loadable_checkpoint(tmp_path):
    path = str(tmp_path / 'latest_net_G_A.pth')
    script = tmp_path / 'saver.py'
    script.write_text(KILLER.format(repo=str(REPO), path=path))
    for delay in [0.05, 0.11, 0.17, 0.23, 0.31]:
        proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
        proc.stdout.readline()  # the first save is complete
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state, arch, iteration = load_network(path)
        assert arch == {'ngf': 32} and iteration >= 1
        # a whole save: every tensor holds the same iteration's value
        assert all(torch.all(t == iteration) for k, t in state.items() if t.is_floating_point()), iteration


class Payload:
    def __reduce__(self):
        return (os.system, (f'touch {Payload.marker}',))


@pytest.mark.parametrize('writer', ['pickle', 'torch.save'])
def test_pickle_payload_is_refused_and_never_runs(tmp_path, writer):
    Payload.marker = tmp_path / 'pwned'
    path = tmp_path / 'latest_net_G_A.pth'
    if writer == 'pickle':
        path.write_bytes(pickle.dumps({'state_dict': Payload()}))
    else:
        torch.save({'format': 'au_gan_pytorch.network', 'state_dict': {'w': Payload()}}, path)
    with pytest.raises(UserError, match='not a network checkpoint'):
        load_network(path)
    with pytest.raises(UserError, match='not a training state'):
        load_training_state(path)
    assert not Payload.marker.exists()


def test_prefixed_and_bare_state_dicts_load(tmp_path):
    from models.generators import ForkGenerator, ForkGeneratorConfig
    config = ForkGeneratorConfig(ngf=4, n_blocks_enc=1, n_blocks_dec=1)
    net = ForkGenerator(3, 3, config)
    torch.save({'module.' + k: v for k, v in net.state_dict().items()}, tmp_path / 'old.pth')
    state, arch, iteration = load_network(tmp_path / 'old.pth')
    ForkGenerator(3, 3, config).load_state_dict(state)
    assert arch == {} and iteration is None
    save_network(tmp_path / 'new.pth', 'G_A', net.state_dict(), {'ngf': 4})
    assert load_network(tmp_path / 'new.pth')[1] == {'ngf': 4}


@pytest.mark.slow
def test_training_killed_at_random_moments_always_resumes(tmp_path, daynight):
    """A run saving every iteration, SIGKILLed at random instants, then resumed each time: every
    save found is whole (networks and state from one iteration) and --continue_train goes on."""
    import random
    from util.checkpoint import finish_saves
    run_dir = tmp_path / 'ck' / 'killed'
    args = [sys.executable, str(REPO / 'train.py'), '--dataroot', str(daynight), '--name', 'killed',
            '--checkpoints_dir', str(tmp_path / 'ck'), *TINY, '--load_size', '32', '--crop_size', '32',
            '--max_dataset_size', '4', '--n_epochs', '50', '--n_epochs_decay', '0', '--save_latest_freq', '1',
            '--print_freq', '1000', '--display_freq', '1000', '--no_html']
    rng = random.Random(7)
    reached = []
    for trial in range(6):
        log = tmp_path / f'trial{trial}.log'
        with open(log, 'w') as out:
            state = run_dir / 'latest_state.pth'
            saved = state.exists()
            before = state.stat().st_mtime_ns if saved else None
            proc = subprocess.Popen(args + (['--continue_train'] if saved else []), stdout=out,
                                    stderr=subprocess.STDOUT)
            deadline = time.time() + 120
            while 'images per epoch' not in log.read_text() and proc.poll() is None and time.time() < deadline:
                time.sleep(0.05)  # until it trains
            while (not state.exists() or state.stat().st_mtime_ns == before) and proc.poll() is None \
                    and time.time() < deadline:
                time.sleep(0.05)  # and has saved once itself (a slow machine); then kill it at a random instant
            assert proc.poll() is None, log.read_text()[-2000:]
            time.sleep(rng.uniform(0.2, 2.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        finish_saves(run_dir)  # what every loader does first
        if not (run_dir / 'latest_state.pth').exists():
            continue  # killed before its first save: the next trial starts afresh
        step = load_training_state(run_dir / 'latest_state.pth')['progress']['total_iters']
        for net in ('G_A', 'G_B', 'D_A', 'D_B'):
            assert load_network(run_dir / f'latest_net_{net}.pth')[2] == step, (trial, net)
        assert not reached or step >= reached[-1]
        reached.append(step)
    assert len(reached) >= 3 and reached[-1] > reached[0]
    done = run_cli(*args[1:], '--continue_train', '--max_iters', str(reached[-1] + 2))
    assert 'resuming at epoch' in done.stdout and 'done: checkpoints' in done.stdout
