"""Runs saved by earlier versions resume with today's names (models/legacy.py).

The fixture, tests/fixtures/cycle_gan_v2/, is a tiny cycle_gan run saved by the project before
discriminators were named by the domain they judge: its D_A judged domain B. Its make_fixture.py
says how it was made."""
import shutil
import sys

import pytest
import torch

from conftest import REPO, read_losses, run_cli
from models import create_model, legacy
from models.training_state import TrainingState
from options.train_options import TrainOptions
from util.checkpoint import load_network, load_training_state, save_network

FIXTURE = REPO / 'tests' / 'fixtures' / 'cycle_gan_v2'
sys.path.insert(0, str(FIXTURE))
from make_fixture import FLAGS  # noqa: E402  the flags the run was trained with


def old_run(tmp_path):
    shutil.copytree(FIXTURE / 'run', tmp_path / 'run')
    return tmp_path / 'run'


def resumed_model(tmp_path):
    opt = TrainOptions().parse(['--dataroot', str(FIXTURE / 'data'), '--checkpoints_dir', str(tmp_path),
                                '--name', 'run', '--continue_train', *FLAGS], save=False)
    model = create_model(opt)
    model.setup(opt)
    return model, TrainingState(model).load('latest')


def test_an_old_cycle_gan_run_is_read_with_its_discriminators_named_by_domain(tmp_path):
    run = old_run(tmp_path)
    old = {name: load_network(run / f'latest_net_{name}.pth')[0] for name in ('D_A', 'D_B')}
    saved_adam = load_training_state(run / 'latest_state.pth')['optimizers'][1]['state']
    model, progress = resumed_model(tmp_path)
    assert progress['total_iters'] == 4
    # the old D_A judged domain B: it is today's D_B, and the reverse
    for today, before in (('D_B', 'D_A'), ('D_A', 'D_B')):
        state = model.netD_A.state_dict() if today == 'D_A' else model.netD_B.state_dict()
        assert all(torch.equal(state[k], old[before][k]) for k in state), today
    # Adam's moments stay with their weights: the first of optimizer_D's is D_B's first weight
    first = next(model.netD_B.parameters())
    assert torch.equal(model.optimizer_D.state[first]['exp_avg'], saved_adam[0]['exp_avg'])
    # and the networks judge as their names say: a step trains on
    batch = {'A': torch.rand(1, 3, 32, 32) * 2 - 1, 'B': torch.rand(1, 3, 32, 32) * 2 - 1, 'A_paths': ['a']}
    model.set_input(batch)
    losses = model.optimize_parameters()
    assert {'D_A', 'D_B', 'G_A', 'G_B'} <= set(losses) and all(torch.isfinite(v) for v in losses.values())


def test_the_old_loss_log_is_translated_once(tmp_path):
    run = old_run(tmp_path)
    before = read_losses(FIXTURE / 'run' / 'loss_log.txt')
    resumed_model(tmp_path)
    after = read_losses(run / 'loss_log.txt')
    assert len(after) == len(before) == 4
    for old, new in zip(before, after):
        assert new['D_B'] == old['D_A'] and new['D_A'] == old['D_B'] and new['G_A'] == old['G_A']
    text = (run / 'loss_log.txt').read_text()
    assert text.count(legacy.NOTE) == 1
    resumed_model(tmp_path)  # a second resume leaves it alone
    assert (run / 'loss_log.txt').read_text() == text


def test_todays_files_and_other_models_are_read_as_named(tmp_path):
    net = torch.nn.Conv2d(3, 1, 3)
    path = lambda epoch, name: str(tmp_path / f'{epoch}_net_{name}.pth')  # noqa: E731
    for name in ('D_A', 'D_B'):
        save_network(path('latest', name), name, net.state_dict(), {})
    assert legacy.network_path('cycle_gan', path, 'latest', 'D_A') == path('latest', 'D_A')
    old = tmp_path / 'old'
    old.mkdir()
    for name in ('D_A', 'D_B'):
        shutil.copy(FIXTURE / 'run' / f'latest_net_{name}.pth', old / f'latest_net_{name}.pth')
    old_path = lambda epoch, name: str(old / f'{epoch}_net_{name}.pth')  # noqa: E731
    assert legacy.network_path('cycle_gan', old_path, 'latest', 'D_A') == old_path('latest', 'D_B')
    assert legacy.network_path('au_gan', old_path, 'latest', 'D_A') == old_path('latest', 'D_A')  # always by domain
    assert legacy.network_path('cycle_gan', old_path, 'latest', 'G_A') == old_path('latest', 'G_A')


@pytest.mark.slow
def test_train_continues_an_old_cycle_gan_run(tmp_path):
    run = old_run(tmp_path)
    proc = run_cli('train.py', '--dataroot', FIXTURE / 'data', '--checkpoints_dir', tmp_path, '--name', 'run',
                   '--continue_train', *FLAGS[:FLAGS.index('--n_epochs')], '--n_epochs', '2', '--n_epochs_decay', '1',
                   *FLAGS[FLAGS.index('--n_epochs_decay') + 2:])
    assert 'its D_A and D_B are read the other way round' in proc.stdout
    assert 'resuming at epoch 3, iteration 4' in proc.stdout
    rows = read_losses(run / 'loss_log.txt')
    assert len(rows) == 6 and all({'D_A', 'D_B'} <= set(r) for r in rows)
    assert load_network(run / 'latest_net_D_A.pth')[2] == 6
