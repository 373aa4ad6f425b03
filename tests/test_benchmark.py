"""The benchmark runs for every model and reports every field (a smoke test: no timing assertions),
and the speed options leave results unchanged."""
import json
from dataclasses import replace

import pytest
import torch

from conftest import run_cli
from models.discriminators import DiscriminatorConfig, define_D
from models.generators import ForkGenerator, ForkGeneratorConfig, ResnetGenerator
from util.precision import bf16_supported

FIELDS = {'model', 'amp', 'channels_last', 's_per_step', 'images_per_s', 'gflop_per_step', 'gflops', 'utilization',
          'peak_mem_mb', 'inference_images_per_s', 'naive_inference_images_per_s', 'saved_mb', 'state_mb',
          'step_mem_mb', 'checkpoint_activations'}
SMALL = {'au_gan': ['--n_blocks_enc', '1', '--n_blocks_T', '1', '--n_blocks_dec', '1'],
         'fork_gan': ['--n_blocks_enc', '1', '--n_blocks_dec', '1'], 'cycle_gan': ['--netG', 'resnet_6blocks'],
         'template': []}


@pytest.mark.slow
@pytest.mark.parametrize('model', ['au_gan', 'fork_gan', 'cycle_gan', 'template'])
def test_benchmark_reports_every_field(tmp_path, model):
    proc = run_cli('benchmarks/benchmark.py', '--model', model, '--crop_size', '64', '--ngf', '4', '--ndf', '4',
                   '--n_layers_D', '2', '--steps', '2', '--warmup', '1', '--gpu_ids', '-1', '--channels_last',
                   '--checkpoints_dir', tmp_path, '--json', '--profile', *SMALL[model])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert FIELDS <= set(result)
    assert result['model'] == model and result['channels_last'] is True
    assert result['s_per_step'] > 0 and result['gflop_per_step'] > 0 and 0 < result['utilization']
    # --profile: every model's step runs forward and backward convolutions, and other ops beside them
    assert 0 < result['conv_forward_share'] < 1 and 0 < result['conv_backward_share'] < 1
    assert result['conv_forward_share'] + result['conv_backward_share'] < 1
    assert result['conv_gflops'] > 0 and result['top_other_ops']
    # an op inside a convolution (its kernels, its layout copies) is counted once, as the convolution's
    conv_share = result['conv_forward_share'] + result['conv_backward_share']
    assert conv_share + sum(share for _, share in result['top_other_ops']) <= 1
    assert 'convolutions ran at' in proc.stdout


SMALL_G = ForkGeneratorConfig(ngf=8, n_blocks_enc=1, n_blocks_dec=1, dilation=2)


@pytest.mark.parametrize('net', [lambda: ForkGenerator(3, 3, SMALL_G, n_blocks_T=1, uncertainty=True),
                                 lambda: ForkGenerator(3, 3, replace(SMALL_G, norm='none', dilation=1, upsample='transposed')),
                                 lambda: ResnetGenerator(3, 3, 8, 'instance', 2),
                                 lambda: define_D(3, DiscriminatorConfig(8, 'ms2', 2))])
def test_channels_last_gives_the_same_results(net):
    torch.manual_seed(0)
    a = net().eval()
    b = net().eval()
    b.load_state_dict(a.state_dict())
    b.to(memory_format=torch.channels_last)
    x = torch.rand(2, 3, 64, 48) * 2 - 1
    out_a, out_b = a(x), b(x.contiguous(memory_format=torch.channels_last))
    pairs = zip(out_a, out_b) if isinstance(out_a, (list, tuple)) else [(out_a, out_b)]
    for ta, tb in pairs:
        if ta is not None:
            assert torch.allclose(ta, tb, atol=1e-5), (ta - tb).abs().max()


STAND_IN_MODEL = '''
import os
import torch
from util.image_pool import ImagePool  # the reference's own util package, not ours


class CycleGANModel:
    def __init__(self, opt):
        print('initialize network with normal')
        self.opt, self.pool = opt, ImagePool(opt.pool_size)
        self.net = torch.nn.Conv2d(opt.input_nc, opt.output_nc, 3, padding=1)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))

    def set_input(self, input):
        self.real_A, self.real_B = input['A'], input['B']

    def optimize_parameters(self):
        self.optimizer.zero_grad()
        (self.net(self.real_A) - self.real_B).abs().mean().backward()
        self.optimizer.step()
        with open(os.path.join(os.path.dirname(__file__), 'calls.txt'), 'a') as f:
            f.write(f'{tuple(self.real_A.shape)} ngf={self.opt.ngf} netG={self.opt.netG}\\n')
'''


@pytest.mark.slow
def test_benchmark_times_the_reference_code_beside_ours(tmp_path):
    """A stand-in with the reference's layout and interface (its own `models` and `util` packages,
    whose names clash with ours): its steps run alternately with ours and both are reported."""
    ref = tmp_path / 'ref'
    (ref / 'models').mkdir(parents=True)
    (ref / 'util').mkdir()
    (ref / 'models' / '__init__.py').write_text('')
    (ref / 'util' / '__init__.py').write_text('')
    (ref / 'util' / 'image_pool.py').write_text('class ImagePool:\n    def __init__(self, size):\n        self.size = size\n')
    (ref / 'models' / 'cycle_gan_model.py').write_text(STAND_IN_MODEL)
    proc = run_cli('benchmarks/benchmark.py', '--model', 'cycle_gan', '--crop_size', '32', '--ngf', '4', '--ndf', '4',
                   '--netG', 'resnet_6blocks', '--steps', '3', '--warmup', '1', '--gpu_ids', '-1',
                   '--checkpoints_dir', tmp_path / 'ck', '--reference_dir', ref, '--json')
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (ref / 'models' / 'calls.txt').read_text().splitlines() == ['(1, 3, 32, 32) ngf=4 netG=resnet_6blocks'] * 4
    assert result['gflop_per_step'] > 0.01  # our cycle_gan ran, not the stand-in's one conv
    assert result['reference_s_per_step'] > 0
    assert result['speedup_vs_reference'] == pytest.approx(result['reference_s_per_step'] / result['s_per_step'])
    assert 'initialize network' not in proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize('args, message', [
    (['--model', 'au_gan', '--reference_dir', '.'], 'use it with --model cycle_gan'),
    (['--model', 'cycle_gan', '--reference_dir', 'docs'], 'no models/cycle_gan_model.py there')])
def test_benchmark_reference_dir_errors_name_the_fix(tmp_path, args, message):
    proc = run_cli('benchmarks/benchmark.py', *args, '--gpu_ids', '-1', '--checkpoints_dir', tmp_path, check=False)
    assert proc.returncode == 2
    assert message in proc.stdout + proc.stderr


@pytest.mark.slow
def test_benchmark_compare_runs_the_grid_in_one_process(tmp_path):
    proc = run_cli('benchmarks/benchmark.py', '--model', 'cycle_gan', '--crop_size', '32', '--ngf', '4', '--ndf', '4',
                   '--netG', 'resnet_6blocks', '--n_layers_D', '2', '--steps', '1', '--warmup', '0', '--gpu_ids', '-1',
                   '--checkpoints_dir', tmp_path, '--compare')
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    # the CPU grid: no fp16, no compile, and bf16 only where the CPU has bf16 instructions
    native_bf16 = bf16_supported(torch.device('cpu'))
    amps = ('off', 'bf16') if native_bf16 else ('off',)
    assert {(r['amp'], r['channels_last'], r['compile']) for r in results} == \
        {(amp, cl, False) for amp in amps for cl in (False, True)}
    assert ('bf16 left out: this CPU has no bf16 instructions' in proc.stdout) != native_bf16
    assert all(FIELDS <= set(r) for r in results)
    table = [ln for ln in proc.stdout.splitlines() if ln.lstrip().startswith('cycle_gan')]
    assert len(table) == 2 * len(amps)



@pytest.mark.slow
def test_benchmark_times_another_configuration_beside_this_one(tmp_path):
    common = ['--crop_size', '32', '--ngf', '4', '--ndf', '4', '--n_layers_D', '2', '--steps', '2', '--warmup', '1',
              '--gpu_ids', '-1', '--checkpoints_dir', tmp_path]
    proc = run_cli('benchmarks/benchmark.py', '--model', 'au_gan', *common, '--json',
                   '--versus', '--model cycle_gan --netG resnet_6blocks')
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result['model'] == 'au_gan' and result['versus'] == '--model cycle_gan --netG resnet_6blocks'
    assert result['versus_s_per_step'] > 0 and result['time_ratio_vs'] > 0
    # the other model's FLOPs, as its own benchmark counts them
    alone = run_cli('benchmarks/benchmark.py', '--model', 'cycle_gan', '--netG', 'resnet_6blocks', *common, '--json')
    assert result['versus_gflop_per_step'] == pytest.approx(json.loads(alone.stdout.strip().splitlines()[-1])['gflop_per_step'])
    assert result['versus_gflop_per_step'] != pytest.approx(result['gflop_per_step'])
    assert 'versus --model cycle_gan' in proc.stdout and 'its time for' in proc.stdout
    refused = run_cli('benchmarks/benchmark.py', '--model', 'au_gan', '--n_blocks_T', '1', *common,
                      '--versus', '--model cycle_gan', check=False)
    assert refused.returncode == 2 and 'the other configuration refuses these flags' in refused.stdout + refused.stderr
