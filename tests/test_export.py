"""scripts/export.py: TorchScript and ONNX exports of a tiny trained AU-GAN give PyTorch's outputs,
also at input sizes and batch sizes other than those they were exported with."""
import numpy as np
import onnxruntime
import pytest
import torch

from conftest import SHARED_DATA, TINY, run_cli, train_tiny
from models import create_model
from options.test_options import TestOptions

# TorchScript loading is deprecated in recent PyTorch, and exactly what is tested here.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp('checkpoints'))


def eager_generator(ckpt, name):
    opt = TestOptions().parse(['--dataroot', str(SHARED_DATA), '--name', 'tiny', '--checkpoints_dir', str(ckpt),
                               *TINY])
    model = create_model(opt)
    model.setup(opt)
    return getattr(model, 'net' + name).cpu().eval()


def assert_exports_match(out_dir, net, sizes):
    script = torch.jit.load(out_dir / f'{net[0]}_latest.pt')
    session = onnxruntime.InferenceSession(str(out_dir / f'{net[0]}_latest.onnx'), providers=['CPUExecutionProvider'])
    for n, h, w in sizes:
        x = torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(h)) * 2 - 1
        with torch.no_grad():
            expected = net[1].translate(x)
            assert (script(x) - expected).abs().max() < 1e-4
        assert np.abs(session.run(None, {'image': x.numpy()})[0] - expected.numpy()).max() < 1e-4


@pytest.mark.slow
def test_export_AtoB_dynamo(tiny_run, tmp_path):
    proc = run_cli('scripts/export.py', '--dataroot', SHARED_DATA, '--name', 'tiny', '--checkpoints_dir', tiny_run,
                   *TINY, '--load_size', '40', '--results_dir', tmp_path)
    assert 'ONNX, dynamo exporter' in proc.stdout and 'exports match PyTorch' in proc.stdout
    assert proc.stdout.count('max |diff|') == 4  # TorchScript and ONNX Runtime, at two sizes each
    # Sizes and batches unlike the 40-px-high image the export was traced with.
    assert_exports_match(tmp_path, ('G_A', eager_generator(tiny_run, 'G_A')), [(1, 40, 56), (1, 64, 44), (3, 36, 52)])


@pytest.mark.slow
def test_export_BtoA_legacy_and_tolerance(tiny_run, tmp_path):
    image = sorted((SHARED_DATA / 'testB').iterdir())[0]
    common = ['scripts/export.py', '--name', 'tiny', '--checkpoints_dir', tiny_run, *TINY, '--load_size', '40',
              '--results_dir', tmp_path, '--direction', 'BtoA', '--image', image, '--onnx_exporter', 'legacy']
    # No tolerance at all: ONNX Runtime's float rounding differs from PyTorch's, so the check fails.
    proc = run_cli(*common, '--tolerance', '0', check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'FAILED' in proc.stdout and 'differs from PyTorch' in proc.stderr
    assert f'check on {image}' in proc.stdout
    assert_exports_match(tmp_path, ('G_B', eager_generator(tiny_run, 'G_B')), [(1, 40, 60), (2, 48, 36)])


@pytest.mark.slow
def test_export_needs_an_image_source(tmp_path):
    proc = run_cli('scripts/export.py', '--name', 'tiny', '--checkpoints_dir', tmp_path, check=False)
    assert proc.returncode == 2 and 'pass --dataroot' in proc.stderr and 'Traceback' not in proc.stderr
