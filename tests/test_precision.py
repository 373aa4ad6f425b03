"""Mixed precision on the CPU, and the guard that keeps non-finite steps out of the weights."""
import json
import math

import pytest
import torch

from conftest import AU_GAN_LOSSES, TINY, assert_finite_losses, make_domain, run_cli
from data import create_dataloader, create_dataset
from models import create_model
from models.losses import as_floats
from options.train_options import TrainOptions
from util import precision
from util.errors import UserError
from util.precision import Precision, resolve_amp


def tiny_model(tmp_path, *extra):
    make_domain(tmp_path / 'data' / 'trainA', [(20, 30, 60), (10, 10, 40)])
    make_domain(tmp_path / 'data' / 'trainB', [(200, 190, 150), (230, 220, 120)])
    opt = TrainOptions().parse(['--dataroot', str(tmp_path / 'data'), '--checkpoints_dir', str(tmp_path / 'ck'),
                                *TINY, '--load_size', '32', '--crop_size', '32', *extra])
    batch = next(iter(create_dataloader(opt, create_dataset(opt))))
    model = create_model(opt)
    model.setup(opt)
    return model, batch


def snapshot(model):
    return {f'{n}.{k}': v.clone() for n, net in model.networks() for k, v in net.state_dict().items()}


@pytest.mark.slow
def test_bf16_training_on_the_cpu(tmp_path, daynight):
    proc = run_cli('train.py', '--dataroot', daynight, '--checkpoints_dir', tmp_path, '--name', 'bf16', *TINY,
                   '--amp', 'bf16', '--load_size', '40', '--crop_size', '32', '--max_dataset_size', '3',
                   '--n_epochs', '1', '--n_epochs_decay', '0', '--print_freq', '1')
    assert 'precision bf16' in proc.stdout
    assert_finite_losses(tmp_path / 'bf16' / 'loss_log.txt', AU_GAN_LOSSES)
    # the run folder records the precision that ran, and the log says it on its first line
    assert json.loads((tmp_path / 'bf16' / 'train_opt.json').read_text())['precision'] == 'bf16'
    first = (tmp_path / 'bf16' / 'loss_log.txt').read_text().splitlines()[0]
    assert first.startswith('================ Training Loss (') and first.endswith(', precision bf16) ================')


@pytest.mark.parametrize('amp', ['bf16', 'fp16'])
def test_autocast_runs_convs_in_half_and_losses_in_float32(tmp_path, amp):
    model, batch = tiny_model(tmp_path, '--amp', amp)
    model.set_input(batch)
    with model.autocast():
        model.forward()
    assert model.fake_B.dtype == {'bf16': torch.bfloat16, 'fp16': torch.float16}[amp]
    losses = model.optimize_parameters()
    model.precision.end_iteration()
    assert losses['cycle_A'].dtype == torch.float32 and losses['G_A'].dtype == torch.float32
    assert all(math.isfinite(v) for v in as_floats(losses).values())
    if amp == 'fp16':
        assert model.precision.scaler is not None and model.precision.state_dict()['scaler']


def test_non_finite_step_is_skipped_counted_and_stops_training(tmp_path):
    model, batch = tiny_model(tmp_path, '--amp', 'off', '--max_skipped_steps', '3')
    before = snapshot(model)
    batch['A'][0, 0, 0, 0] = float('nan')  # one bad pixel poisons every loss that sees it
    model.set_input(batch)
    model.optimize_parameters()
    model.precision.end_iteration()
    assert model.precision.skipped_steps == 2  # the generator step and the discriminator step
    after = snapshot(model)
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights untouched
    model.optimize_parameters()
    model.precision.end_iteration()
    model.optimize_parameters()
    with pytest.raises(UserError, match='3 iterations in a row had non-finite'):
        model.precision.end_iteration()


def test_a_good_step_resets_the_run_of_skips(tmp_path):
    model, batch = tiny_model(tmp_path, '--amp', 'off', '--max_skipped_steps', '2')
    bad = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in batch.items()}
    bad['B'][0, 0, 0, 0] = float('inf')
    for b in [bad, batch, bad, batch]:
        model.set_input(b)
        model.optimize_parameters()
        model.precision.end_iteration()
    assert model.precision.consecutive_skips == 0 and model.precision.skipped_steps > 0


def test_amp_auto_and_bad_mode(monkeypatch):
    cpu = torch.device('cpu')
    # fp32 on every CPU, also one with native bf16: results must not depend on the CPU
    monkeypatch.setattr(torch.ops.mkldnn, '_is_mkldnn_bf16_supported', lambda: True)
    assert resolve_amp('auto', cpu) == 'off' and resolve_amp('bf16', cpu) == 'bf16'
    assert resolve_amp('off', cpu) == 'off'
    # inference: fp32 under auto wherever training would take bf16; bf16 only when asked for
    monkeypatch.setattr(precision, 'auto_amp', lambda device: 'bf16')
    assert resolve_amp('auto', cpu) == 'bf16' and resolve_amp('auto', cpu, training=False) == 'off'
    assert resolve_amp('bf16', cpu, training=False) == 'bf16'
    assert Precision('auto', cpu, training=False).name == 'fp32'
    with pytest.raises(UserError):
        Precision('fp8', cpu)


@pytest.mark.parametrize('amp', ['off', 'fp16'])
@pytest.mark.parametrize('fused', [True, False])
def test_a_non_finite_step_leaves_weights_and_adam_state_alone(amp, fused):
    p = torch.nn.Parameter(torch.ones(4))
    optimizer = torch.optim.Adam([p], lr=0.1, fused=fused)
    precision = Precision(amp, torch.device('cpu'), max_skipped_steps=3)

    def iteration(grad):
        optimizer.zero_grad()
        precision.backward((p * grad).sum())  # dL/dp = grad (times the loss scale in fp16)
        precision.step(optimizer)
        precision.end_iteration()

    iteration(torch.ones(4))
    weights, state = p.detach().clone(), {k: v.clone() for k, v in optimizer.state[p].items()}
    iteration(torch.tensor([1.0, float('nan'), 1.0, 1.0]))
    assert torch.equal(p.detach(), weights)
    assert all(torch.equal(optimizer.state[p][k], v) for k, v in state.items())  # step count included
    assert precision.skipped_steps == 1 and precision.consecutive_skips == 1
    iteration(torch.ones(4))
    assert not torch.equal(p.detach(), weights) and int(optimizer.state[p]['step']) == 2
    assert precision.skipped_steps == 1 and precision.consecutive_skips == 0


@pytest.mark.parametrize('fused', [True, False])
def test_guarding_a_fused_step_never_asks_the_host(monkeypatch, fused):
    """The finiteness test and the skip stay on the device for fused optimizers; a non-fused
    optimizer needs the answer on the host (a read per step at least)."""
    p = torch.nn.Parameter(torch.ones(4))
    optimizer = torch.optim.Adam([p], lr=0.1, fused=fused)
    precision = Precision('off', torch.device('cpu'))
    reads = []
    for name in ('item', 'tolist', 'cpu', '__bool__', '__int__', '__float__'):  # every way to the host
        original = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name,
                            lambda t, *a, _original=original, **k: reads.append(t) or _original(t, *a, **k))
    for grad in (torch.ones(4), torch.full((4,), float('inf'))):
        p.grad = grad
        precision.step(optimizer)
    monkeypatch.undo()
    assert len(reads) == 0 if fused else len(reads) >= 2


def test_models_use_fused_adam_where_pytorch_has_it(tmp_path):
    model, _ = tiny_model(tmp_path, '--amp', 'off')
    expected = torch.__version__ >= '2.4'  # the CPU's fused Adam came with 2.4
    assert [o.defaults['fused'] for o in model.optimizers] == [expected] * len(model.optimizers)


@pytest.mark.parametrize('has_argument', [True, False])
def test_bf16_on_a_gpu_counts_only_native_support(monkeypatch, has_argument):
    """A pre-Ampere GPU emulates bf16 (slower than fp32): --amp auto must not pick it there. PyTorch
    before 2.3 has no `including_emulation` argument and reports native support only."""
    from util.precision import bf16_supported, resolve_amp
    calls = []

    if has_argument:
        def is_bf16_supported(including_emulation=True):
            calls.append(including_emulation)
            return including_emulation  # an emulating GPU: True only when emulation counts
    else:
        def is_bf16_supported():
            calls.append('old')
            return False  # the old function on a pre-Ampere GPU

    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', is_bf16_supported)
    assert not bf16_supported(torch.device('cuda'))
    assert resolve_amp('auto', torch.device('cuda')) == 'off'
    assert calls == ([False, False] if has_argument else ['old', 'old'])
