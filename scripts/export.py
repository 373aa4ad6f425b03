"""Export a trained generator to TorchScript and ONNX, then check both against PyTorch.

    python scripts/export.py --dataroot ./datasets/daynight --name daynight_augan --direction AtoB
    python scripts/export.py --name daynight_augan --image photo.jpg --direction BtoA

--direction AtoB exports G_A (A->B, e.g. night->day), BtoA exports G_B. Writes, in --results_dir
(default ./exported/<name>/):
  G_A_<epoch>.pt    TorchScript (torch.jit.trace of the generator's `translate`)
  G_A_<epoch>.onnx  ONNX, one self-contained file, with dynamic batch, height and width
Both take a float32 batch (N, C, H, W) in [-1, 1], H and W multiples of 4, and return the
translation, same size, in [-1, 1]; they run on the CPU as exported (TorchScript can be moved to
a GPU). The check runs each on a test image (the first of <dataroot>/<phase>A, or B for BtoA, or
--image) at its processed size and on a batch of two at another size, and compares with the
eager PyTorch output: any difference above --tolerance makes the exit status 1. The ONNX check
needs onnxruntime and is skipped with a message without it. Details: docs/evaluation.md.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import inspect  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import warnings  # noqa: E402
from dataclasses import replace  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from data.base_dataset import Geometry, get_transform, load_image, round_to_multiple  # noqa: E402
from data.image_folder import make_dataset  # noqa: E402
from inference import generator_name  # noqa: E402
from models import create_model  # noqa: E402
from options.test_options import TestOptions  # noqa: E402
from util import distributed  # noqa: E402
from util.config import from_options  # noqa: E402
from util.errors import UserError, exit_on_user_error  # noqa: E402

# torch.onnx.export's dynamo (torch.export-based) exporter appeared in PyTorch 2.5.
HAS_DYNAMO_EXPORTER = 'dynamo' in inspect.signature(torch.onnx.export).parameters


class ExportOptions(TestOptions):
    redefines = ('--results_dir',)  # means something else here

    def initialize(self, parser):
        parser = super().initialize(parser)
        parser.add_argument('--results_dir', type=str, default=None,
                            help='exported files go here; when not given, ./exported/<name>')
        parser.add_argument('--image', type=str, default=None,
                            help='image to check the exports on; when not given, the first of <dataroot>/<phase>A '
                                 '(<phase>B with --direction BtoA)')
        parser.add_argument('--onnx_exporter', type=str, default='dynamo' if HAS_DYNAMO_EXPORTER else 'legacy',
                            choices=['dynamo', 'legacy'],
                            help="torch.onnx's exporter: dynamo (torch.export based) or legacy (TorchScript based)")
        parser.add_argument('--opset', type=int, default=None, help="ONNX opset; when not given, the exporter's default")
        parser.add_argument('--tolerance', type=float, default=1e-4,
                            help='largest absolute difference from PyTorch accepted in the check')
        # The check image as test.py would show it: the whole frame at --load_size height.
        parser.set_defaults(preprocess='scale_height')
        return parser

    def require_input(self, opt):
        if opt.dataroot is None and opt.image is None:
            raise UserError('pass --dataroot (its test images check the export) or --image PATH')

    def validate(self, opt):
        super().validate(opt)
        if opt.onnx_exporter == 'dynamo' and not HAS_DYNAMO_EXPORTER:
            raise UserError(f'--onnx_exporter dynamo needs PyTorch 2.5 or newer (this is {torch.__version__}): '
                            f'use --onnx_exporter legacy')
        if opt.results_dir is None:
            # Resolved here so that the printed and saved options show it.
            opt.results_dir = os.path.join('./exported', opt.name)


class Translate(torch.nn.Module):
    """What is exported: a generator's `translate`, an image batch in, its translation out."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.translate(x)


def check_inputs(opt, min_size):
    """(path, the test image (1, C, H, W), a batch of two (2, C, H', W') at another size)."""
    channels = opt.input_nc if opt.direction == 'AtoB' else opt.output_nc
    path = opt.image
    if path is None:
        side = 'A' if opt.direction == 'AtoB' else 'B'
        path = make_dataset(os.path.join(opt.dataroot, opt.phase + side))[0]
    x = get_transform(replace(from_options(Geometry, opt), no_flip=True), grayscale=channels == 1)(load_image(path, channels))[None]
    h, w = x.shape[-2:]
    # Three quarters of the size (at least the generator's minimum), still multiples of 4.
    w2, h2 = round_to_multiple((max(min_size, w * 3 // 4), max(min_size, h * 3 // 4)))
    if (h2, w2) == (h, w):
        h2, w2 = h + 4, w + 4
    small = F.interpolate(x, size=(h2, w2), mode='bilinear', align_corners=False, antialias=True)
    return path, x, torch.cat([small, small.flip(-1)])


def export_onnx(module, example, path, opt, min_size):
    """Export with dynamic batch, height and width; returns a description of what was done."""
    if opt.onnx_exporter == 'legacy':
        axes = {0: 'batch', 2: 'height', 3: 'width'}
        torch.onnx.export(module, (example,), path, dynamo=False, input_names=['image'],
                          output_names=['translation'], dynamic_axes={'image': axes, 'translation': axes},
                          opset_version=opt.opset)
        return 'legacy exporter'
    # Sizes are multiples of 4 by construction, so the exported graph needs no size guards. A
    # batch of one would be specialised to 1, so the example is a batch of two.
    h = torch.export.Dim('h', min=math.ceil(min_size / 4))
    w = torch.export.Dim('w', min=math.ceil(min_size / 4))
    batch = torch.export.Dim('batch', min=1)
    torch.onnx.export(module, (example.expand(2, -1, -1, -1).contiguous(),), path, dynamo=True,
                      external_data=False, input_names=['image'], output_names=['translation'],
                      dynamic_shapes=({0: batch, 2: 4 * h, 3: 4 * w},), opset_version=opt.opset, verbose=False)
    return 'dynamo exporter'


def compare(name, run, inputs, reference, tolerance):
    """Print the largest difference of `run` from the reference per input; True when all pass."""
    ok = True
    for x, ref in zip(inputs, reference):
        diff = (torch.as_tensor(run(x)) - ref).abs().max().item()
        passed = diff <= tolerance
        ok &= passed
        print(f'  {name:12s} {"x".join(map(str, x.shape))}: max |diff| {diff:.2e}{"" if passed else "  FAILED"}')
    return ok


@exit_on_user_error
def main(args=None):
    opt = ExportOptions().parse(args)
    distributed.setup(opt.gpu_ids)
    model = create_model(opt)
    name = generator_name(model, opt.direction)
    model.setup(opt)
    # Exported on the CPU in eval mode: no device baked into the graph, no training-time noise or dropout.
    net = getattr(model, 'net' + name).float().cpu().eval()
    module = Translate(net).eval()
    min_size = getattr(net, 'min_size', 4)
    image_path, x, batch = check_inputs(opt, min_size)

    os.makedirs(opt.results_dir, exist_ok=True)
    stem = os.path.join(opt.results_dir, f'{name}_{opt.epoch}')
    ts_path, onnx_path = stem + '.pt', stem + '.onnx'
    with torch.no_grad(), warnings.catch_warnings():
        # Expected: the deprecation notices of both exporters, the tracer's remark that the
        # generator's Python-side size check is not part of the graph, and the legacy exporter's
        # notes on constant folding and on instance norm (which always uses the input's statistics).
        for category in (FutureWarning, DeprecationWarning, torch.jit.TracerWarning):
            warnings.simplefilter('ignore', category)
        warnings.filterwarnings('ignore', category=UserWarning, module=r'torch\.onnx')
        torch.jit.save(torch.jit.trace(module, x), ts_path)
        how = export_onnx(module, x, onnx_path, opt, min_size)
        print(f'exported {name} of {opt.name} (epoch {opt.epoch}):\n  {ts_path} (TorchScript, traced)\n'
              f'  {onnx_path} (ONNX, {how}, dynamic batch/height/width)')

        inputs = [x, batch]
        reference = [module(t) for t in inputs]
        print(f'check on {image_path} against eager PyTorch (tolerance {opt.tolerance:g}):')
        ok = compare('TorchScript', torch.jit.load(ts_path), inputs, reference, opt.tolerance)
    try:
        import onnxruntime
    except ImportError:
        print('  ONNX: not checked, onnxruntime is not installed (pip install onnxruntime)')
    else:
        session = onnxruntime.InferenceSession(onnx_path, providers=['CPUExecutionProvider'])
        ok &= compare('ONNX Runtime', lambda t: session.run(None, {'image': t.numpy()})[0], inputs, reference,
                      opt.tolerance)
    if not ok:
        print('error: an exported model differs from PyTorch by more than --tolerance', file=sys.stderr)
        sys.exit(1)
    print('exports match PyTorch')


if __name__ == '__main__':
    main()
