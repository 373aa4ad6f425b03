"""Activation checkpointing and the memory count: checkpointed steps give the plain steps'
losses and weights (every model, instance and no norm, AMP, torch.compile, resume, DDP), noise
and dropout draw the same values when recomputed, the saved-tensor count shrinks with
checkpointing and counts the same on fake tensors as on real ones, and running out of memory
names the size and the flags that would fit."""
import contextlib
import copy
import io
import json

import pytest
import torch
import torch.nn as nn

from conftest import TINY, assert_same_first_step, make_domain, run_cli
from models import create_model
from models.discriminators import DiscriminatorConfig, define_D
from models.generators import ForkGenerator, ForkGeneratorConfig, ResnetGenerator
from models.losses import as_floats
from models.layers import Checkpointable, GaussianNoise, recompute, set_checkpointing
from models.persistence import describe
from options.train_options import TrainOptions
from util.checkpoint import load_network
from util.errors import UserError
from models.memory import SavedTensors, fake_step_memory, optimize_or_explain, step_memory
from util.precision import bf16_supported

SMALL_G = ForkGeneratorConfig(ngf=4, n_blocks_enc=1, n_blocks_dec=1, dilation=2)  # a fork generator to test layers on

# the tiny networks of each model, and a crop every discriminator takes
SMALL = {'au_gan': ['--n_blocks_enc', '1', '--n_blocks_T', '1', '--n_blocks_dec', '1'],
         'fork_gan': ['--n_blocks_enc', '1', '--n_blocks_dec', '1'],
         'cycle_gan': ['--netG', 'resnet_6blocks']}


def build(tmp_path, model, *extra, checkpointed=False):
    args = ['--dataroot', str(tmp_path), '--checkpoints_dir', str(tmp_path / 'ck'), '--model', model,
            '--gpu_ids', '-1', '--ngf', '4', '--ndf', '4', '--n_layers_D', '2', '--crop_size', '64',
            '--load_size', '64', '--amp', 'off', *SMALL[model], *extra]
    with contextlib.redirect_stdout(io.StringIO()):
        level = ['--checkpoint_activations'] + ([checkpointed] if isinstance(checkpointed, str) else [])
        opt = TrainOptions().parse(args + (level if checkpointed else []), save=False)
        torch.manual_seed(0)
        m = create_model(opt)
        m.setup(opt)
    return m, opt


def batches(n, size=(64, 64), batch=1):
    gen = torch.Generator().manual_seed(1)
    return [{'A': torch.rand(batch, 3, *size, generator=gen) * 2 - 1,
             'B': torch.rand(batch, 3, *size, generator=gen) * 2 - 1, 'A_paths': ['a'] * batch} for _ in range(n)]


def train(m, data):
    losses = []
    torch.manual_seed(2)  # the same noise and pool draws for both runs
    for batch in data:
        m.set_input(batch)
        step_losses = m.optimize_parameters()
        m.precision.end_iteration()
        losses.append(as_floats(step_losses))
    return losses


def recomputing(m):
    return sum(getattr(mod, 'checkpointing', False) for _, net in m.networks() for mod in net.modules())


def assert_same_training(plain, checkpointed, data, atol=1e-5):
    assert recomputing(plain) == 0 and recomputing(checkpointed) > 0
    for a, b in zip(train(plain, data), train(checkpointed, data)):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=1e-5, abs=atol), k
    for (name, net_a), (_, net_b) in zip(plain.networks(), checkpointed.networks()):
        for (key, va), vb in zip(net_a.state_dict().items(), net_b.state_dict().values()):
            assert torch.allclose(va, vb, atol=atol), (name, key, (va - vb).abs().max())


@pytest.mark.parametrize('norm', ['instance', 'none'])
@pytest.mark.parametrize('model', ['au_gan', 'fork_gan', 'cycle_gan'])
def test_checkpointed_steps_equal_plain_steps(tmp_path, model, norm):
    plain, _ = build(tmp_path, model, '--norm', norm)
    checkpointed, _ = build(tmp_path, model, '--norm', norm, checkpointed=True)
    assert_same_training(plain, checkpointed, batches(3))


@pytest.mark.parametrize('model', ['au_gan', 'cycle_gan'])
def test_checkpointed_stages_equal_plain_steps(tmp_path, model):
    plain, _ = build(tmp_path, model)
    checkpointed, _ = build(tmp_path, model, checkpointed='stages')
    assert_same_training(plain, checkpointed, batches(2))


@pytest.mark.parametrize('extra', [['--netD', 'augan', '--t_net_concat', '--uncertainty', 'laplace'],
                                   ['--uncertainty', 'gengauss', '--input_skip'], ['--preset', 'official']])
def test_checkpointed_official_layers_equal_plain(tmp_path, extra):
    """The two-path discriminators, the join block, TensorFlow padding and affine norms."""
    plain, _ = build(tmp_path, 'au_gan', *extra)
    checkpointed, _ = build(tmp_path, 'au_gan', *extra, checkpointed=True)
    assert_same_training(plain, checkpointed, batches(2, (64, 128)))


def test_checkpointed_bf16_steps_equal_plain_bf16_steps(tmp_path):
    plain, _ = build(tmp_path, 'au_gan', '--amp', 'bf16')
    checkpointed, _ = build(tmp_path, 'au_gan', '--amp', 'bf16', checkpointed=True)
    assert_same_training(plain, checkpointed, batches(2, (32, 32)), atol=1e-4)


class NoisyBlock(Checkpointable, nn.Module):
    """A segment that draws noise inside it, as a decoder with GaussianNoise in a block would."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.noise = GaussianNoise(0.5)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return recompute(self, lambda x: self.drop(torch.relu(self.noise(self.conv(x)))), x)


@pytest.mark.parametrize('net', [NoisyBlock, lambda: ResnetGenerator(3, 3, 4, 'instance', 2, use_dropout=True)])
def test_recomputed_noise_and_dropout_draw_what_the_first_run_drew(net):
    """Gradients equal to the plain run's only if the recomputation drew the same noise and masks;
    and the random generator ends where the plain run left it (the next draws are the same)."""
    torch.manual_seed(0)
    plain = net().train()
    checkpointed = copy.deepcopy(plain)
    assert set_checkpointing(checkpointed) > 0
    x = torch.rand(2, 3, 16, 16)
    results = []
    for m in (plain, checkpointed):
        torch.manual_seed(5)
        out = m(x)
        out = out.fake if hasattr(out, 'fake') else out
        grads = torch.autograd.grad(out.square().sum(), list(m.parameters()))
        results.append((out, grads, torch.rand(3)))
    (out_a, grads_a, next_a), (out_b, grads_b, next_b) = results
    assert torch.equal(out_a, out_b) and torch.equal(next_a, next_b)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(grads_a, grads_b))
    # and the noise is really there: another draw gives other gradients
    torch.manual_seed(6)
    out = checkpointed(x)
    out = out.fake if hasattr(out, 'fake') else out
    other = torch.autograd.grad(out.square().sum(), list(checkpointed.parameters()))
    assert not all(torch.allclose(a, b) for a, b in zip(grads_a, other))


@pytest.mark.slow  # compiling takes 20-30 s on the CPU
def test_checkpointed_generator_under_torch_compile():
    torch.manual_seed(0)
    plain = ForkGenerator(3, 3, SMALL_G, n_blocks_T=1, uncertainty=True).train()
    compiled = copy.deepcopy(plain)
    set_checkpointing(compiled)
    compiled = torch.compile(compiled, backend='aot_eager')
    x = torch.rand(1, 3, 32, 32)
    grads = []
    for m in (plain, compiled):
        torch.manual_seed(3)
        out = m(x)
        loss = out.fake.square().mean() + out.rec.abs().mean() + out.sigma.mean()
        grads.append(torch.autograd.grad(loss, list(m.parameters())))
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(*grads))


def test_checkpointing_is_a_runtime_switch_not_part_of_the_network():
    """Checkpoints of a checkpointed run load in a plain one and back: same description, same keys;
    a nested block stays off under a parent that recomputes it (no segment runs three times)."""
    net = ForkGenerator(3, 3, SMALL_G, n_blocks_T=1, uncertainty=True)
    before, keys = describe(net), list(net.state_dict())
    assert set_checkpointing(net) > 0
    assert describe(net) == before and list(net.state_dict()) == keys
    assert not net.decoder.blocks[0].checkpointing and net.decoder.checkpointing  # the decoder runs its blocks
    assert net.t_net[0].checkpointing  # the T-net is a plain Sequential: its blocks are their own segments
    assert set_checkpointing(net, 'all') == set_checkpointing(net, 'stages')  # the same modules switch...
    assert net.t_net[0].checkpointing and not net.t_net[0].checkpoint_blocks  # ...but stages keeps the blocks
    with SavedTensors() as stages:
        net(torch.rand(1, 3, 32, 32))
    set_checkpointing(net, 'all')
    with SavedTensors() as everything:
        net(torch.rand(1, 3, 32, 32))
    assert everything.peak < stages.peak
    with pytest.raises(ValueError, match='unknown checkpointing level'):
        set_checkpointing(net, 'some')
    assert set_checkpointing(net, None) == 0
    assert not any(getattr(m, 'checkpointing', False) for m in net.modules())


def test_discriminators_recompute_only_where_their_input_needs_a_gradient():
    d = define_D(3, DiscriminatorConfig(16, 'ms2', 2))
    set_checkpointing(d)
    x = torch.rand(1, 3, 64, 64)
    with SavedTensors(exclude=list(d.parameters())) as detached:
        out = d(x)  # the discriminator step: parameters need gradients, the images do not
    with SavedTensors(exclude=list(d.parameters())) as through:
        out2 = d(x.clone().requires_grad_())  # the generator step: the gradient goes through to the images
    assert detached.peak > 4 * through.peak  # kept in the first, recomputed in the second
    del out, out2


@pytest.mark.parametrize('model', ['au_gan', 'fork_gan', 'cycle_gan'])
def test_saved_bytes_shrink_with_checkpointing_and_fake_counts_equal_real(tmp_path, model):
    counts = {}
    for checkpointed in (None, 'stages', 'all'):
        m, _ = build(tmp_path, model, checkpointed=checkpointed)
        real = step_memory(m, batches(1, (64, 64))[0])
        fresh, _ = build(tmp_path, model, checkpointed=checkpointed)
        fake = fake_step_memory(fresh, 1, 64, 64)
        assert fake == real  # shapes alone count what a real step counts
        assert real['params'] > 0 and real['grads'] == real['params'] and real['optimizer'] >= 2 * real['params']
        counts[checkpointed] = real
    assert counts['all']['saved_peak'] < 0.35 * counts[None]['saved_peak']
    assert counts['all']['saved_peak'] <= counts['stages']['saved_peak'] < 0.8 * counts[None]['saved_peak']
    assert counts['all']['params'] == counts[None]['params']


@pytest.mark.slow
def test_benchmark_memory_table_on_tiny_sizes(tmp_path):
    proc = run_cli('benchmarks/benchmark.py', '--model', 'au_gan', '--memory_table', '--sizes', '32,32x64',
                   '--table_amps', 'off', '--time_sizes', '32', '--steps', '1', '--warmup', '0', *TINY,
                   '--n_layers_D', '2', '--checkpoints_dir', tmp_path, '--markdown', tmp_path / 't.md',
                   '--json_out', tmp_path / 't.json')
    rows = json.loads((tmp_path / 't.json').read_text())
    assert rows == json.loads(proc.stdout.strip().splitlines()[-1])
    counted = {(r['crop_size'], r['amp'], r['checkpoint_activations'], 's_per_step' in r): r for r in rows}
    native = ['off'] + (['bf16'] if bf16_supported(torch.device('cpu')) else [])  # what real steps are timed in
    assert len(counted) == len(rows) == 6 + 3 * len(native)  # 2 sizes x 3 levels counted, 1 size x 3 levels run
    for size in ('32x32', '32x64'):
        assert counted[(size, 'off', 'all', False)]['saved_mb'] < 0.5 * counted[(size, 'off', None, False)]['saved_mb']
    for level in (None, 'stages', 'all'):  # real steps count what the shapes count
        assert counted[('32x32', 'off', level, True)]['saved_mb'] == counted[('32x32', 'off', level, False)]['saved_mb']
    assert counted[('32x32', 'off', None, True)]['checkpoint_time_ratio'] == 1
    assert counted[('32x32', 'off', 'all', True)]['checkpoint_time_ratio'] > 0
    table = (tmp_path / 't.md').read_text()
    assert table.count('| au_gan | 32x64 |') == 3 and table.count('real step') == 3 * len(native)


@pytest.mark.slow
def test_benchmark_checkpoint_cost_rows(tmp_path):
    proc = run_cli('benchmarks/benchmark.py', '--model', 'cycle_gan', '--crop_size', '32', '--ngf', '4', '--ndf', '4',
                   '--netG', 'resnet_6blocks', '--n_layers_D', '2', '--steps', '1', '--warmup', '0', '--gpu_ids', '-1',
                   '--checkpoints_dir', tmp_path, '--checkpoint_cost', '--markdown', tmp_path / 'c.md')
    plain, checkpointed = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (plain['checkpoint_activations'], checkpointed['checkpoint_activations']) == (None, 'all')
    assert checkpointed['saved_mb'] < plain['saved_mb']
    assert checkpointed['gflop_per_step'] > plain['gflop_per_step']  # the recomputation is counted
    assert plain['checkpoint_time_ratio'] == checkpointed['checkpoint_time_ratio'] > 0
    assert (tmp_path / 'c.md').read_text().count('| cycle_gan | 32x32 |') == 2


def run_out_of_memory_once(m):
    real_step = m.optimize_parameters

    def out_of_memory():
        m.optimize_parameters = real_step  # the estimates then run the real step, on fake tensors
        raise torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB')

    m.optimize_parameters = out_of_memory


@pytest.mark.slow  # counts a step at several settings: over 10 s on 2 cores
def test_running_out_of_memory_names_the_size_and_the_flags_that_fit(tmp_path, monkeypatch):
    import models.memory
    m, opt = build(tmp_path, 'au_gan')
    m.set_input(batches(1, (256, 512), batch=2)[0])
    run_out_of_memory_once(m)
    plain = fake_step_memory(build(tmp_path, 'au_gan')[0], 2, 256, 512)['total']
    checkpointed = fake_step_memory(build(tmp_path, 'au_gan', checkpointed='stages')[0], 2, 256, 512)['total']
    monkeypatch.setattr(models.memory, 'capacity', lambda device: (plain + checkpointed) / 2 / models.memory.FITS)
    with pytest.raises(UserError) as e:
        optimize_or_explain(m, opt)
    message = str(e.value)
    assert f'a step counts {plain / 2 ** 30:.1f} GiB' in message
    assert 'at 256x512 px, batch 2' in message and 'no --checkpoint_activations' in message
    assert 'estimated to fit: --checkpoint_activations stages (' in message
    assert '\n' not in message


def test_out_of_memory_with_nothing_that_fits_says_to_shrink(tmp_path, monkeypatch):
    import models.memory
    m, opt = build(tmp_path, 'cycle_gan', checkpointed=True)
    m.set_input(batches(1, (64, 64))[0])
    run_out_of_memory_once(m)
    monkeypatch.setattr(models.memory, 'capacity', lambda device: 2 ** 20)
    with pytest.raises(UserError, match='lower --batch_size or --crop_size'):
        optimize_or_explain(m, opt)


@pytest.mark.slow
def test_resume_with_checkpointing_is_exact_and_crosses_to_plain(tmp_path):
    make_domain(tmp_path / 'data' / 'trainA', [(20, 30, 60), (10, 10, 40), (40, 20, 20), (5, 50, 5)])
    make_domain(tmp_path / 'data' / 'trainB', [(200, 190, 150), (230, 220, 120), (180, 200, 240), (90, 250, 90)])

    def train_run(name, *extra):
        return run_cli('train.py', '--dataroot', tmp_path / 'data', '--checkpoints_dir', tmp_path, '--name', name,
                       *TINY, '--load_size', '32', '--crop_size', '32', '--n_epochs', '1', '--n_epochs_decay', '1',
                       '--amp', 'off', '--save_latest_freq', '100', *extra)

    straight = train_run('straight', '--max_iters', '5', '--checkpoint_activations')
    assert 'activation checkpointing' in straight.stdout
    train_run('split', '--max_iters', '3', '--checkpoint_activations')
    train_run('split', '--max_iters', '5', '--checkpoint_activations', '--continue_train')
    train_run('crossed', '--max_iters', '3', '--checkpoint_activations')
    train_run('crossed', '--max_iters', '5', '--continue_train')  # a checkpointed run's files, trained on plainly
    for net in ['G_A', 'G_B', 'D_A', 'D_B']:
        a = load_network(tmp_path / 'straight' / f'latest_net_{net}.pth')[0]
        b = load_network(tmp_path / 'split' / f'latest_net_{net}.pth')[0]
        c = load_network(tmp_path / 'crossed' / f'latest_net_{net}.pth')[0]
        for key in a:
            assert torch.equal(a[key], b[key]), (net, key)
            assert torch.allclose(a[key], c[key], atol=1e-5), (net, key)


@pytest.mark.slow
def test_two_checkpointed_processes_equal_one(tmp_path, daynight):
    common = ['--dataroot', daynight, '--checkpoints_dir', tmp_path, *TINY, '--load_size', '32', '--crop_size', '32',
              '--max_dataset_size', '2', '--n_epochs', '1', '--n_epochs_decay', '0', '--amp', 'off', '--batch_size', '2',
              '--serial_batches', '--no_flip', '--noise_std', '0', '--pool_size', '0', '--max_iters', '1',
              '--checkpoint_activations']
    run_cli('-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', 'train.py', '--name', 'two', *common)
    run_cli('train.py', '--name', 'one', *[str(c) for c in common])
    for net in ['G_A', 'G_B']:
        one = load_network(tmp_path / 'one' / f'latest_net_{net}.pth')[0]
        two = load_network(tmp_path / 'two' / f'latest_net_{net}.pth')[0]
        assert_same_first_step(one, two)  # the gradient is summed in another order across two processes
