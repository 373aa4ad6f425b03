"""Measure how fast a model trains and converts, on the CPU or a GPU, on synthetic images.

    python scripts/benchmark.py --model au_gan --crop_size 128 --steps 10
    python scripts/benchmark.py --model cycle_gan --crop_size 128 --amp bf16 --channels_last --json
    python scripts/benchmark.py --model au_gan --crop_size 128 --compare

Training: the median time of `--steps` full iterations (every forward, backward and optimizer step
of the model) after `--warmup` ones; images/s counts both domains' batches as one image each;
FLOPs of one iteration are counted with torch.utils.flop_counter.FlopCounterMode, and the
utilisation compares the achieved FLOP/s with a peak measured in the same run: a large 3x3 conv's
forward and backward in the same dtype and memory format. Peak memory: max allocated on a GPU,
the process's peak RSS on the CPU. Conversion: images/s of the A->B generator in eval mode with
the run's precision and memory format, beside the naive path (float32, default layout) that a
plain test.py loop takes. A training "image" is one sample: an A image and a B image. `--json` prints one JSON object on the last line; `--compare` runs a grid
(precisions x channels_last x compile where supported) in one process and prints a table and JSON.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import copy  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from models import create_model  # noqa: E402
from options.train_options import TrainOptions  # noqa: E402
from util.errors import UserError, exit_on_user_error  # noqa: E402
from util.precision import bf16_supported  # noqa: E402
from util.seeding import seed_everything  # noqa: E402


class BenchmarkOptions(TrainOptions):
    def initialize(self, parser):
        parser = super().initialize(parser)
        parser.add_argument('--steps', type=int, default=10, help='timed training iterations')
        parser.add_argument('--warmup', type=int, default=3, help='untimed iterations first')
        parser.add_argument('--json', action='store_true', help='print the result as JSON on the last line')
        parser.add_argument('--compare', action='store_true',
                            help='run a grid of precisions, memory formats and compile settings')
        parser.set_defaults(dataroot='(synthetic)', crop_size=128, load_size=128, pool_size=50, name='benchmark',
                            checkpoints_dir='/tmp/au_gan_benchmark', print_freq=1)
        return parser

    def validate(self, opt):
        if opt.steps < 1 or opt.warmup < 0:
            raise UserError('--steps must be at least 1 and --warmup at least 0')


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def synthetic_batch(opt):
    gen = torch.Generator().manual_seed(0)
    size = (opt.batch_size, 3, opt.crop_size, opt.crop_size)
    images = [torch.rand(size, generator=gen) * 2 - 1 for _ in range(2)]
    return {'A': images[0], 'B': images[1], 'A_paths': ['synthetic'] * opt.batch_size,
            'B_paths': ['synthetic'] * opt.batch_size}


def timed(fn, device, steps, warmup):
    """Median seconds of fn() over `steps` calls after `warmup` calls, and the first call's time."""
    times = []
    for i in range(warmup + steps):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times[warmup:]), times[0]


def conv_peak(device, dtype, channels_last, steps=5):
    """FLOP/s of a large 3x3 conv's forward + backward: what this device reaches on the models' main op."""
    size, channels = (64, 128) if device.type == 'cpu' else (128, 256)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(4, channels, size, size, device=device).to(memory_format=fmt).requires_grad_()
    w = torch.randn(channels, channels, 3, 3, device=device).to(memory_format=fmt).requires_grad_()

    def step():
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            y = F.conv2d(x, w, padding=1)
        y.float().sum().backward()

    seconds, _ = timed(step, device, steps, 2)
    flops = 3 * 2 * x.shape[0] * channels * channels * 9 * size * size  # forward + two backward convs
    return flops / seconds


def measure(opt):
    """Build the model as `opt` says and measure one configuration; returns a dict of results."""
    seed_everything(opt.seed)
    model = create_model(opt)
    model.setup(opt)
    device = model.device
    batch = synthetic_batch(opt)

    def train_step():
        model.set_input(batch)
        model.optimize_parameters()
        model.precision.end_iteration()

    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    s_per_step, first = timed(train_step, device, opt.steps, opt.warmup)
    with FlopCounterMode(display=False) as counter:
        train_step()
    flops = counter.get_total_flops()
    peak = conv_peak(device, model.precision.dtype, opt.channels_last)
    if device.type == 'cuda':
        peak_mem = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak_mem = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    generator = model.netG_A if 'G_A' in model.model_names else model.netG
    generator.eval()
    x = model.to_device(batch['A'])

    def convert():
        with torch.inference_mode(), model.autocast():
            generator(x, reconstruct=False, uncertainty=False)

    s_convert, _ = timed(convert, device, opt.steps, 1)
    plain = copy.deepcopy(generator)
    plain = plain.to(memory_format=torch.contiguous_format).float()
    x_plain = batch['A'].to(device)

    def naive_convert():
        with torch.no_grad():
            plain(x_plain, reconstruct=False, uncertainty=False)

    s_naive, _ = timed(naive_convert, device, opt.steps, 1)
    return {'model': opt.model, 'device': str(device), 'amp': model.precision.mode, 'channels_last': opt.channels_last,
            'compile': opt.compile, 'crop_size': opt.crop_size, 'batch_size': opt.batch_size,
            's_per_step': s_per_step, 'first_step_s': first, 'images_per_s': opt.batch_size / s_per_step,
            'gflop_per_step': flops / 1e9, 'gflops': flops / s_per_step / 1e9, 'peak_gflops': peak / 1e9,
            'utilization': flops / s_per_step / peak, 'peak_mem_mb': peak_mem,
            'inference_images_per_s': opt.batch_size / s_convert,
            'naive_inference_images_per_s': opt.batch_size / s_naive}


def grid(device):
    amps = ['off'] + (['bf16'] if bf16_supported(device) or device.type == 'cpu' else [])
    amps += ['fp16'] if device.type == 'cuda' else []
    compiles = [False, True] if device.type == 'cuda' else [False]  # inductor on the CPU compiles for minutes
    return [(a, cl, c) for a in amps for cl in (False, True) for c in compiles]


def row(r):
    return (f"{r['model']:>9} {r['amp']:>5} {str(r['channels_last']):>6} {str(r['compile']):>6} "
            f"{r['s_per_step']:9.3f} {r['images_per_s']:8.2f} {r['gflop_per_step']:8.1f} {r['gflops']:8.1f} "
            f"{r['utilization']:6.1%} {r['peak_mem_mb']:8.0f} {r['inference_images_per_s']:8.2f} "
            f"{r['naive_inference_images_per_s']:8.2f} {r['first_step_s']:8.2f}")


HEADER = (f"{'model':>9} {'amp':>5} {'c_last':>6} {'compile':>6} {'s/step':>9} {'img/s':>8} {'GFLOP':>8} "
          f"{'GFLOP/s':>8} {'util':>6} {'peak MB':>8} {'conv/s':>8} {'naive/s':>8} {'first s':>8}")


@exit_on_user_error
def main(args=None):
    opt = BenchmarkOptions().parse(args)
    machine = f'{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads'
    if torch.cuda.is_available() and opt.gpu_ids:
        machine = torch.cuda.get_device_name()
    configs = grid(torch.device('cuda' if torch.cuda.is_available() and opt.gpu_ids else 'cpu')) if opt.compare \
        else [(opt.amp, opt.channels_last, opt.compile)]
    results = []
    print(f'benchmark on {machine}, torch {torch.__version__}')
    print(HEADER)
    for amp, channels_last, compile_ in configs:
        run = copy.copy(opt)
        run.amp, run.channels_last, run.compile = amp, channels_last, compile_
        result = measure(run)
        result['machine'] = machine
        results.append(result)
        print(row(result), flush=True)
    if opt.json or opt.compare:
        print(json.dumps(results if opt.compare else results[0]))


if __name__ == '__main__':
    main()
