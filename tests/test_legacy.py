"""Runs saved by earlier versions resume with today's names (models/legacy.py).

Until network file version 3, cycle_gan named its discriminators by the generator whose outputs
they judge: D_A judged domain B. `old_run` makes such a run here: it trains today's cycle_gan for
4 tiny steps, saves it, and writes the save in the version-2 layout: each discriminator's file
under the other name, every network file marked version 2, and the loss log's D_A and D_B
columns named as they were then. That layout was checked once against a run that commit 06a5d45
(the last with the old names) trained and saved: the same files, keys, versions, optimizer order
and log columns. (That run is not kept: it was half a megabyte of weights.)
"""
import pytest
import torch
from PIL import Image

from conftest import read_losses, run_cli
from models import create_model, legacy
from models.losses import as_floats
from models.training_state import TrainingState
from options.train_options import TrainOptions
from util import loss_log
from util.checkpoint import load_network, save_network

FLAGS = ['--model', 'cycle_gan', '--netG', 'resnet_6blocks', '--ngf', '2', '--ndf', '2', '--load_size', '32',
         '--crop_size', '32', '--n_epochs', '1', '--n_epochs_decay', '1', '--print_freq', '1',
         '--display_id', '0', '--no_html', '--gpu_ids', '-1', '--seed', '3', '--num_threads', '0']


def data(tmp_path):
    """Two 32x32 drawings per domain: a dark and a light colour, each with a patch of its opposite."""
    root = tmp_path / 'data'
    for domain, colours in (('trainA', [(20, 30, 90), (10, 10, 60)]), ('trainB', [(200, 180, 120), (150, 200, 230)])):
        (root / domain).mkdir(parents=True, exist_ok=True)
        for i, colour in enumerate(colours):
            image = Image.new('RGB', (32, 32), colour)
            image.paste(tuple(255 - c for c in colour), (8 * i, 8, 8 * i + 12, 20))
            image.save(root / domain / f'{i}.png')
    return root


def options(tmp_path, *extra, save=False):
    return TrainOptions().parse(['--dataroot', str(data(tmp_path)), '--checkpoints_dir', str(tmp_path), '--name', 'run',
                                 *FLAGS, *extra], save=save)


def old_run(tmp_path):
    """The folder of a cycle_gan run saved in the version-2 layout after 2 epochs of 2 steps."""
    opt = options(tmp_path, save=True)
    model = create_model(opt)
    model.setup(opt)
    run = tmp_path / 'run'
    lines = [loss_log.session_header('fp32')]
    for epoch in (1, 2):
        for i in range(2):
            model.set_input({'A': torch.rand(1, 3, 32, 32) * 2 - 1, 'B': torch.rand(1, 3, 32, 32) * 2 - 1,
                             'A_paths': [f'{i}.png']})
            losses = loss_log_names_then(model.optimize_parameters())
            lines.append(loss_log.format_line(epoch, 2 * epoch + i - 1, 0.5, 0.001, losses))
        model.update_learning_rate()
    TrainingState(model).save('latest', {'epoch': 3, 'epoch_iter': 0, 'total_iters': 4})
    (run / 'loss_log.txt').write_text('\n'.join(lines) + '\n')
    files = {name: torch.load(run / f'latest_net_{name}.pth', weights_only=True) for name in ('G_A', 'G_B', 'D_A', 'D_B')}
    for name, obj in files.items():
        then = legacy.SWAPPED.get(name, name)  # the name this network's file had then
        torch.save({**obj, 'name': then, 'version': 2}, run / f'latest_net_{then}.pth')
    return run


def loss_log_names_then(losses):
    """A step's losses as floats under the names, and in the order, that version 2 logged them."""
    then = {legacy.SWAPPED.get(k, k): v for k, v in as_floats(losses).items()}
    return {k: then[k] for k in ('D_A', 'G_A', 'cycle_A', 'idt_A', 'D_B', 'G_B', 'cycle_B', 'idt_B')}


def resumed_model(tmp_path):
    model = create_model(options(tmp_path, '--continue_train'))
    model.setup(model.opt)
    return model, TrainingState(model).load('latest')


def test_an_old_cycle_gan_run_is_read_with_its_discriminators_named_by_domain(tmp_path):
    run = old_run(tmp_path)
    old = {name: load_network(run / f'latest_net_{name}.pth')[0] for name in ('D_A', 'D_B')}
    saved_adam = torch.load(run / 'latest_state.pth', weights_only=True)['optimizers'][1]['state']
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
    before = read_losses(run / 'loss_log.txt')
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
    old = old_run(tmp_path / 'old')
    old_path = lambda epoch, name: str(old / f'{epoch}_net_{name}.pth')  # noqa: E731
    assert legacy.network_path('cycle_gan', old_path, 'latest', 'D_A') == old_path('latest', 'D_B')
    assert legacy.network_path('au_gan', old_path, 'latest', 'D_A') == old_path('latest', 'D_A')  # always by domain
    assert legacy.network_path('cycle_gan', old_path, 'latest', 'G_A') == old_path('latest', 'G_A')


@pytest.mark.slow
def test_train_continues_an_old_cycle_gan_run(tmp_path):
    run = old_run(tmp_path)
    proc = run_cli('train.py', '--dataroot', data(tmp_path), '--checkpoints_dir', tmp_path, '--name', 'run',
                   '--continue_train', *FLAGS[:FLAGS.index('--n_epochs')], '--n_epochs', '2', '--n_epochs_decay', '1',
                   *FLAGS[FLAGS.index('--n_epochs_decay') + 2:])
    assert 'its D_A and D_B are read the other way round' in proc.stdout
    assert 'resuming at epoch 3, iteration 4' in proc.stdout
    rows = read_losses(run / 'loss_log.txt')
    assert len(rows) == 6 and all({'D_A', 'D_B'} <= set(r) for r in rows)
    assert load_network(run / 'latest_net_D_A.pth')[2] == 6
