"""The CUDA paths, on a GPU: fp16 with its GradScaler, bf16, fused Adam skipping a non-finite step
on the device, NCCL with one process, --compile with inductor, cudnn.benchmark, channels_last,
and activation checkpointing's memory on the device. Every test here is marked `cuda` and skips,
saying why, where there is no GPU; scripts/gpu_check.sh runs them (`pytest -m cuda`)."""
import contextlib
import io
import math
import os
import socket

import pytest
import torch

from models import create_model
from models.generators import ForkGenerator, ForkGeneratorConfig
from models.losses import as_floats
from options.train_options import TrainOptions
from util import distributed
from models.memory import FITS, step_memory
from util.precision import Precision, bf16_supported

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(),
                                 reason='no CUDA device here (torch.cuda.is_available() is False): '
                                        'scripts/gpu_check.sh runs these on a machine with a GPU')]

TINY_NETS = ['--ngf', '8', '--ndf', '8', '--n_blocks_enc', '1', '--n_blocks_T', '1', '--n_blocks_dec', '1',
             '--n_layers_D', '2']


def gpu_model(tmp_path, *extra, size=64):
    args = ['--dataroot', str(tmp_path), '--checkpoints_dir', str(tmp_path / 'ck'), '--gpu_ids', '0',
            '--crop_size', str(size), '--load_size', str(size), *extra]
    with contextlib.redirect_stdout(io.StringIO()):
        opt = TrainOptions().parse(args, save=False)
        torch.manual_seed(0)
        model = create_model(opt)
        model.setup(opt)
    assert model.device.type == 'cuda'
    return model


def batch(size=64, n=1):
    gen = torch.Generator().manual_seed(1)
    return {'A': torch.rand(n, 3, size, size, generator=gen) * 2 - 1,
            'B': torch.rand(n, 3, size, size, generator=gen) * 2 - 1, 'A_paths': ['a'] * n}


def steps(model, data, n=3):
    for _ in range(n):
        model.set_input(data)
        losses = model.optimize_parameters()
        model.precision.end_iteration()
    return as_floats(losses)


def test_cuda_build_runs_kernels():
    assert torch.version.cuda and torch.backends.cudnn.is_available()
    x = torch.randn(64, 64, device='cuda')
    assert torch.allclose((x @ x).cpu(), x.cpu() @ x.cpu(), atol=1e-3)


def test_fp16_with_grad_scaler(tmp_path):
    model = gpu_model(tmp_path, '--amp', 'fp16', *TINY_NETS)
    assert model.precision.scaler is not None and model.precision.scaler.is_enabled()
    losses = steps(model, batch())
    assert all(math.isfinite(v) for v in losses.values())
    assert model.fake_B.dtype == torch.float16
    assert model.precision.state_dict()['scaler']['scale'] > 0


def test_bf16(tmp_path):
    if not bf16_supported(torch.device('cuda')):
        pytest.skip('this GPU has no native bf16 (pre-Ampere)')
    model = gpu_model(tmp_path, '--amp', 'bf16', *TINY_NETS)
    losses = steps(model, batch())
    assert all(math.isfinite(v) for v in losses.values()) and model.fake_B.dtype == torch.bfloat16


def test_fused_adam_skips_a_non_finite_step_on_the_device():
    p = torch.nn.Parameter(torch.ones(1000, device='cuda'))
    optimizer = torch.optim.Adam([p], lr=0.1, fused=True)
    precision = Precision('off', torch.device('cuda'))
    p.grad = torch.ones_like(p)
    precision.step(optimizer)
    weights, state = p.detach().clone(), {k: v.clone() for k, v in optimizer.state[p].items()}
    p.grad = torch.ones_like(p)
    p.grad[7] = float('nan')
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode('error')  # any host-device synchronisation in the guarded step fails
    try:
        precision.step(optimizer)
    finally:
        torch.cuda.set_sync_debug_mode('default')
    assert torch.equal(p.detach(), weights)
    assert all(torch.equal(optimizer.state[p][k], v) for k, v in state.items())
    assert precision.skipped_steps == 1


def test_nccl_with_one_process():
    import torch.distributed as dist
    if not dist.is_nccl_available():
        pytest.skip('this PyTorch build has no NCCL')
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('nccl', rank=0, world_size=1, device_id=torch.device('cuda', 0))
    try:
        t = torch.ones(4, device='cuda')
        dist.all_reduce(t)
        assert t.tolist() == [1.0] * 4
        net = distributed.wrap(ForkGenerator(3, 3, ForkGeneratorConfig(ngf=8, n_blocks_enc=1, n_blocks_dec=1, dilation=1)).cuda())
        net(torch.rand(1, 3, 32, 32, device='cuda')).fake.mean().backward()
        assert all(p.grad is not None for p in net.parameters() if p.requires_grad)
    finally:
        dist.destroy_process_group()


def test_compile_with_inductor_matches_eager_with_and_without_checkpointing():
    from models.layers import set_checkpointing
    torch.manual_seed(0)
    config = ForkGeneratorConfig(ngf=8, n_blocks_enc=1, n_blocks_dec=1, dilation=2, noise_std=0)
    eager = ForkGenerator(3, 3, config, n_blocks_T=1, uncertainty=True).cuda().train()
    x = torch.rand(1, 3, 64, 64, device='cuda')
    for level in (None, 'all'):
        set_checkpointing(eager, level)
        compiled = torch.compile(eager)  # inductor, the default backend
        results = []
        for net in (eager, compiled):
            out = net(x)
            loss = out.fake.square().mean() + out.rec.abs().mean() + out.sigma.mean()
            results.append((loss, torch.autograd.grad(loss, list(eager.parameters()))))
        (la, ga), (lb, gb) = results
        assert torch.allclose(la, lb, rtol=1e-3, atol=1e-4)
        assert all(torch.allclose(a, b, rtol=1e-2, atol=1e-4) for a, b in zip(ga, gb))


def test_cudnn_benchmark_gives_the_same_results(tmp_path):
    losses = []
    for bench in (False, True):
        torch.backends.cudnn.benchmark = bench
        try:
            losses.append(steps(gpu_model(tmp_path, '--amp', 'off', '--noise_std', '0', *TINY_NETS), batch(), 2))
        finally:
            torch.backends.cudnn.benchmark = False
    assert losses[0] == pytest.approx(losses[1], rel=1e-3, abs=1e-4)


def test_channels_last_gives_the_same_results(tmp_path):
    losses = [steps(gpu_model(tmp_path, '--amp', 'off', '--noise_std', '0', *TINY_NETS, *extra), batch(), 2)
              for extra in ([], ['--channels_last'])]
    assert losses[0] == pytest.approx(losses[1], rel=1e-3, abs=1e-4)


@pytest.mark.parametrize('model_name', ['au_gan', 'fork_gan', 'cycle_gan'])
def test_checkpointing_on_the_gpu_same_losses_less_memory_and_the_count_holds(tmp_path, model_name):
    """max_memory_allocated of a step falls with checkpointing, and stays within the count of
    models/memory.py divided by FITS (the margin the out-of-memory advice assumes)."""
    results = {}
    for level in (None, 'all'):
        extra = ['--checkpoint_activations'] if level else []
        model = gpu_model(tmp_path, '--model', model_name, '--amp', 'off', '--noise_std', '0', *extra, size=256)
        data = batch(256)
        losses = steps(model, data, 1)  # Adam's state exists from here on, as in every later step
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        counted = step_memory(model, data)
        torch.cuda.synchronize()
        results[level] = (losses, torch.cuda.max_memory_allocated(), counted['total'])
        del model
        torch.cuda.empty_cache()
    (plain_losses, plain_peak, plain_count), (ckpt_losses, ckpt_peak, ckpt_count) = results[None], results['all']
    assert plain_losses == pytest.approx(ckpt_losses, rel=1e-3, abs=1e-4)
    assert ckpt_peak < 0.8 * plain_peak
    for peak, count in ((plain_peak, plain_count), (ckpt_peak, ckpt_count)):
        assert peak <= count / FITS, f'peak {peak / 2**20:.0f} MB, count {count / 2**20:.0f} MB'
