"""The benchmark runs for every model and reports every field (a smoke test: no timing assertions),
and the speed options leave results unchanged."""
import json

import pytest
import torch

from conftest import run_cli
from models.discriminators import define_D
from models.generators import ForkGenerator, ResnetGenerator

FIELDS = {'model', 'amp', 'channels_last', 's_per_step', 'images_per_s', 'gflop_per_step', 'gflops', 'utilization',
          'peak_mem_mb', 'inference_images_per_s', 'naive_inference_images_per_s'}
SMALL = {'au_gan': ['--n_blocks_enc', '1', '--n_blocks_T', '1', '--n_blocks_dec', '1'],
         'fork_gan': ['--n_blocks_enc', '1', '--n_blocks_dec', '1'], 'cycle_gan': ['--netG', 'resnet_6blocks'],
         'template': []}


@pytest.mark.parametrize('model', ['au_gan', 'fork_gan', 'cycle_gan', 'template'])
def test_benchmark_reports_every_field(tmp_path, model):
    proc = run_cli('scripts/benchmark.py', '--model', model, '--crop_size', '64', '--ngf', '4', '--ndf', '4',
                   '--n_layers_D', '2', '--steps', '2', '--warmup', '1', '--gpu_ids', '-1', '--channels_last',
                   '--checkpoints_dir', tmp_path, '--json', *SMALL[model])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert FIELDS <= set(result)
    assert result['model'] == model and result['channels_last'] is True
    assert result['s_per_step'] > 0 and result['gflop_per_step'] > 0 and 0 < result['utilization']


@pytest.mark.parametrize('net', [lambda: ForkGenerator(3, 3, 8, 'instance', 1, 1, 1, 2, True),
                                 lambda: ForkGenerator(3, 3, 8, 'none', 1, 1, 0, 1, False, upsample='transposed'),
                                 lambda: ResnetGenerator(3, 3, 8, 'instance', 2),
                                 lambda: define_D(3, 8, 'ms2', 2)])
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
