"""Measure how fast a model trains and converts, on the CPU or a GPU, on synthetic images.

    python scripts/benchmark.py --model au_gan --crop_size 128 --steps 10
    python scripts/benchmark.py --model cycle_gan --crop_size 128 --amp bf16 --channels_last --json
    python scripts/benchmark.py --model au_gan --crop_size 128 --compare

Training: the median time of `--steps` full iterations (every forward, backward and optimizer step
of the model) after `--warmup` ones; images/s counts both domains' batches as one image each;
FLOPs of one iteration are counted with torch.utils.flop_counter.FlopCounterMode, and the
utilisation compares the achieved FLOP/s with a peak measured in the same run: a large 3x3 conv's
forward and backward in the same dtype and memory format, its calls alternated with the training
steps (medians of both), so that the machine's drift moves both alike. Peak memory: max allocated on a GPU during one
step, the process's peak RSS on the CPU (a whole-process figure: with --reference_dir it includes the
reference model, and in --compare the configurations run before). A training "image" is one sample: an A image and a B image.

Conversion: images/s of scripts/convert.py's path (the A->B generator alone, in eval and inference
mode, with the run's precision and memory format), beside test.py's loop run naively (the model's
whole test-time forward per image, float32, default layout, which also computes the B->A side and
the reconstructions that test.py's pages show).

`--reference_dir DIR` (with --model cycle_gan) also times the reference CycleGAN code, a checkout of
junyanz/pytorch-CycleGAN-and-pix2pix, in this process at the same sizes, alternating its steps
with ours so that the machine's drift hits both alike; it adds reference_s_per_step and
speedup_vs_reference. `--json` prints one JSON object on the last line; `--compare` runs a grid
(precisions x channels_last x compile where supported) in one process and prints a table and JSON.
`--profile` also profiles one step: the convolutions' share of its time, the FLOP/s they ran at
(against the same conv peak), and the costliest other ops -- what limits the step.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import contextlib  # noqa: E402
import copy  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from models import create_model  # noqa: E402
from options.base_options import require_at_least  # noqa: E402
from options.train_options import TrainOptions  # noqa: E402
from util import distributed  # noqa: E402
from util.errors import UserError, exit_on_user_error  # noqa: E402
from util.inference import Translator, generator_name  # noqa: E402
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
        parser.add_argument('--profile', action='store_true',
                            help="also profile one step: the convolutions' share of it and their FLOP/s, "
                                 'and the costliest other ops')
        parser.add_argument('--reference_dir', default='',
                            help='a checkout of junyanz/pytorch-CycleGAN-and-pix2pix: time its cycle_gan step '
                                 'beside ours (with --model cycle_gan)')
        parser.set_defaults(dataroot='(synthetic)', crop_size=128, load_size=128, pool_size=50, name='benchmark',
                            checkpoints_dir='/tmp/au_gan_benchmark', print_freq=1)
        return parser

    def validate(self, opt):
        super().validate(opt)
        require_at_least(opt, 1, 'steps')
        require_at_least(opt, 0, 'warmup')
        if opt.reference_dir:
            if opt.model != 'cycle_gan':
                raise UserError(f'--reference_dir times the reference CycleGAN: use it with --model cycle_gan, '
                                f'not {opt.model}')
            if not os.path.isfile(os.path.join(opt.reference_dir, 'models', 'cycle_gan_model.py')):
                raise UserError(f'--reference_dir {opt.reference_dir}: no models/cycle_gan_model.py there; '
                                f'point it at a checkout of junyanz/pytorch-CycleGAN-and-pix2pix')


def synthetic_batch(opt):
    gen = torch.Generator().manual_seed(0)
    size = (opt.batch_size, 3, opt.crop_size, opt.crop_size)
    images = [torch.rand(size, generator=gen) * 2 - 1 for _ in range(2)]
    return {'A': images[0], 'B': images[1], 'A_paths': ['synthetic'] * opt.batch_size,
            'B_paths': ['synthetic'] * opt.batch_size}


def timed(fn, device, steps, warmup):
    """Median seconds of fn() over `steps` calls after `warmup` calls, and the first call's time."""
    return timed_together({'fn': fn}, device, steps, warmup)['fn']


def timed_together(fns, device, steps, warmup):
    """{name: (median seconds, first call's seconds)} of the functions in `fns`, called in turn,
    one call each per round, so that slow phases of the machine fall on all of them alike."""
    times = {name: [] for name in fns}
    for i in range(warmup + steps):
        for name, fn in fns.items():
            distributed.synchronize(device)
            start = time.perf_counter()
            fn()
            distributed.synchronize(device)
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(t[warmup:]), t[0]) for name, t in times.items()}


# The top-level packages of this project, which the reference code's have the same names as.
_PACKAGES = ('models', 'util', 'data', 'options')


def load_reference_model(reference_dir):
    """The reference's CycleGANModel class, imported from `reference_dir` beside our own packages:
    ours are set aside while it imports, its modules are then kept under `reference.*` names."""
    def ours(name):
        return name.split('.')[0] in _PACKAGES

    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if ours(name)}
    sys.path.insert(0, os.path.abspath(reference_dir))
    try:
        return importlib.import_module('models.cycle_gan_model').CycleGANModel
    except Exception as e:
        raise UserError(f'--reference_dir {reference_dir}: cannot import its models/cycle_gan_model.py '
                        f'({type(e).__name__}: {e})') from e
    finally:
        sys.path.remove(os.path.abspath(reference_dir))
        for name in [n for n in sys.modules if ours(n)]:
            sys.modules['reference.' + name] = sys.modules.pop(name)
        sys.modules.update(saved)


def reference_step(model_class, opt, device, batch):
    """One training iteration of the reference CycleGAN, built with the same sizes as ours."""
    ref_opt = argparse.Namespace(
        gpu_ids=[device.index or 0] if device.type == 'cuda' else [], isTrain=True, checkpoints_dir=opt.checkpoints_dir,
        name='reference', preprocess='resize_and_crop', input_nc=opt.input_nc, output_nc=opt.output_nc,
        ngf=opt.ngf, ndf=opt.ndf, netG=opt.netG, netD=opt.netD, n_layers_D=opt.n_layers_D, norm=opt.norm,
        no_dropout=True, init_type='normal', init_gain=0.02, lambda_identity=opt.lambda_identity,
        lambda_A=opt.lambda_A, lambda_B=opt.lambda_B, pool_size=opt.pool_size, gan_mode=opt.gan_mode, lr=opt.lr,
        beta1=opt.beta1, direction='AtoB')
    with contextlib.redirect_stdout(None):  # its per-network init messages
        model = model_class(ref_opt)

    def step():
        model.set_input(batch)
        model.optimize_parameters()
    return step


def conv_peak_step(device, dtype, channels_last, min_seconds=0.5):
    """A large 3x3 conv's forward + backward in the run's dtype and memory format (the models' main
    op at a size the backend runs well), repeated for at least `min_seconds` (one short call would
    catch a passing fast or slow moment), and the FLOPs of those calls: timed between training
    steps, it gives the peak that the step's FLOP/s are compared with, under the same conditions.
    Its inputs are made once (drawing them per call would be timed too) and no gradient is kept:
    dropping the returned function frees all it holds."""
    size, channels = (64, 128) if device.type == 'cpu' else (128, 256)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(4, channels, size, size, device=device).to(memory_format=fmt).requires_grad_()
    w = torch.randn(channels, channels, 3, 3, device=device).to(memory_format=fmt).requires_grad_()

    def step():
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            y = F.conv2d(x, w, padding=1)
        torch.autograd.grad(y.float().sum(), (x, w))

    repeats = max(1, math.ceil(min_seconds / timed(step, device, 1, 1)[0]))

    def repeated():
        for _ in range(repeats):
            step()

    flops = 3 * 2 * 4 * channels * channels * 9 * size * size  # forward + two backward convs, batch 4
    return repeated, repeats * flops


# The convolution ops, as aten names: 'aten::NAME' in the profiler, 'aten.NAME' in FlopCounterMode.
CONV_OPS = ('convolution', 'convolution_backward')


def profile_step(step, device, conv_flops, peak, top=6):
    """Where one step's time goes: the convolutions' share of it (forward and backward, device time
    on a GPU) with their achieved FLOP/s, and the `top` costliest other ops by their own time (ops
    that run inside a convolution, its backend's kernels and layout copies, count as the convolution's)."""
    from torch.profiler import ProfilerActivity, profile
    cuda = device.type == 'cuda'
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        distributed.synchronize(device)  # the profiler's own start and stop stay outside the timed step
        start = time.perf_counter()
        step()
        distributed.synchronize(device)
        wall = time.perf_counter() - start
    conv_names = {'aten::' + op: op for op in CONV_OPS}

    def inside_conv(event):
        parent = event.cpu_parent
        while parent is not None:
            if parent.name in conv_names:
                return True
            parent = parent.cpu_parent
        return False

    conv_s, own = dict.fromkeys(CONV_OPS, 0.0), {}
    for e in prof.events():
        if not e.name.startswith('aten::') or inside_conv(e):
            continue
        if e.name in conv_names:
            conv_s[conv_names[e.name]] += (e.device_time_total if cuda else e.cpu_time_total) / 1e6
        else:
            own[e.name] = own.get(e.name, 0.0) + (e.self_device_time_total if cuda else e.self_cpu_time_total) / 1e6
    others = sorted(((s, k) for k, s in own.items() if s > 0), reverse=True)[:top]
    total_conv_s = sum(conv_s.values())
    return {'profiled_step_s': wall,
            'conv_forward_share': conv_s['convolution'] / wall,
            'conv_backward_share': conv_s['convolution_backward'] / wall,
            'conv_gflops': conv_flops / total_conv_s / 1e9 if total_conv_s else None,
            'conv_utilization': conv_flops / total_conv_s / peak if total_conv_s else None,
            'top_other_ops': [(k.removeprefix('aten::'), s / wall) for s, k in others]}


def profile_lines(p):
    lines = [f"  profile of one step ({p['profiled_step_s']:.2f} s under the profiler): convolutions "
             f"{p['conv_forward_share'] + p['conv_backward_share']:.0%} of it (forward "
             f"{p['conv_forward_share']:.0%}, backward {p['conv_backward_share']:.0%})"]
    if p['conv_gflops']:
        lines.append(f"  convolutions ran at {p['conv_gflops']:.1f} GFLOP/s, {p['conv_utilization']:.0%} of the conv peak")
    lines.append('  costliest other ops: ' + ', '.join(f'{name} {share:.1%}' for name, share in p['top_other_ops']))
    return lines


def measure(opt, reference=None):
    """Build the model as `opt` says and measure one configuration; returns a dict of results.
    `reference`: the reference's CycleGANModel class, timed alongside (see load_reference_model)."""
    seed_everything(opt.seed)
    model = create_model(opt)
    model.setup(opt)
    device = model.device
    batch = synthetic_batch(opt)

    def train_step():
        model.set_input(batch)
        model.optimize_parameters()
        model.precision.end_iteration()

    # the conv peak's calls alternate with the steps: the machine's slow and fast moments fall on both
    peak_step, peak_flops = conv_peak_step(device, model.precision.dtype, opt.channels_last)
    steps = {'ours': train_step, 'peak': peak_step}
    if reference is not None:
        steps['reference'] = reference_step(reference, opt, device, batch)
    times = timed_together(steps, device, opt.steps, opt.warmup)
    s_per_step, first = times['ours']
    peak = peak_flops / times['peak'][0]
    del steps['peak'], peak_step  # frees the peak conv's tensors before the memory is read
    if device.type == 'cuda':  # a step of ours alone: not the reference's nor the conv peak's memory
        torch.cuda.reset_peak_memory_stats(device)
    with FlopCounterMode(display=False) as counter:
        train_step()
    if device.type == 'cuda':
        peak_mem = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak_mem = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    flops = counter.get_total_flops()
    conv_flops = sum(n for op, n in counter.get_flop_counts()['Global'].items()
                     if str(op) in {'aten.' + name for name in CONV_OPS})
    profiled = profile_step(train_step, device, conv_flops, peak) if opt.profile else {}

    model.eval()
    generator = getattr(model, 'net' + generator_name(model, 'AtoB'))
    translate = Translator(generator, model.autocast)  # what scripts/convert.py runs
    x = model.to_device(batch['A'])
    s_convert, _ = timed(lambda: translate(x), device, opt.steps, 1)

    # test.py's loop as it comes: float32, default layout, the whole test-time forward per image
    naive_opt = copy.copy(opt)
    naive_opt.amp, naive_opt.channels_last, naive_opt.compile = 'off', False, False
    naive = create_model(naive_opt)
    naive.setup(naive_opt)
    naive.eval()

    def test_loop_step():
        naive.set_input(batch)
        naive.test()

    s_naive, _ = timed(test_loop_step, device, opt.steps, 1)
    return {'model': opt.model, 'device': str(device), 'amp': model.precision.mode, 'channels_last': opt.channels_last,
            'compile': opt.compile, 'crop_size': opt.crop_size, 'batch_size': opt.batch_size,
            's_per_step': s_per_step, 'first_step_s': first, 'images_per_s': opt.batch_size / s_per_step,
            'gflop_per_step': flops / 1e9, 'gflops': flops / s_per_step / 1e9, 'peak_gflops': peak / 1e9,
            'utilization': flops / s_per_step / peak, 'peak_mem_mb': peak_mem,
            'inference_images_per_s': opt.batch_size / s_convert,
            'naive_inference_images_per_s': opt.batch_size / s_naive,
            'reference_s_per_step': times['reference'][0] if reference is not None else None,
            'speedup_vs_reference': times['reference'][0] / s_per_step if reference is not None else None,
            **profiled}


def grid(device):
    """The configurations --compare runs: precisions x channels_last x compile, where they make sense."""
    amps = ['off'] + (['bf16'] if bf16_supported(device) else []) + (['fp16'] if device.type == 'cuda' else [])
    if 'bf16' not in amps:
        # emulated bf16 runs tens of times slower than fp32: a grid with it would take hours at 128 px
        print(f"bf16 left out: this {'GPU' if device.type == 'cuda' else 'CPU'} has no bf16 instructions "
              f'(--amp bf16 measures it anyway)')
    compiles = [False, True] if device.type == 'cuda' else [False]  # inductor on the CPU compiles for minutes
    return [(a, cl, c) for a in amps for cl in (False, True) for c in compiles]


def row(r):
    return (f"{r['model']:>9} {r['amp']:>5} {str(r['channels_last']):>6} {str(r['compile']):>6} "
            f"{r['s_per_step']:9.3f} {r['images_per_s']:8.2f} {r['gflop_per_step']:8.1f} {r['gflops']:8.1f} "
            f"{r['utilization']:6.1%} {r['peak_mem_mb']:8.0f} {r['inference_images_per_s']:8.2f} "
            f"{r['naive_inference_images_per_s']:8.2f} {r['first_step_s']:8.2f}"
            + (f" {r['reference_s_per_step']:9.3f} {r['speedup_vs_reference']:7.2f}x"
               if r['reference_s_per_step'] else ''))


HEADER = (f"{'model':>9} {'amp':>5} {'c_last':>6} {'compile':>6} {'s/step':>9} {'img/s':>8} {'GFLOP':>8} "
          f"{'GFLOP/s':>8} {'util':>6} {'peak MB':>8} {'conv/s':>8} {'test/s':>8} {'first s':>8}")
REFERENCE_HEADER = f" {'ref s/step':>9} {'speedup':>8}"


@exit_on_user_error
def main(args=None):
    opt = BenchmarkOptions().parse(args)
    device = distributed.device()  # chosen by parse(), from --gpu_ids
    machine = f'{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads'
    if device.type == 'cuda':
        machine = torch.cuda.get_device_name(device)
    configs = grid(device) if opt.compare else [(opt.amp, opt.channels_last, opt.compile)]
    reference = load_reference_model(opt.reference_dir) if opt.reference_dir else None
    results = []
    print(f'benchmark on {machine}, torch {torch.__version__}')
    print(HEADER + (REFERENCE_HEADER if reference else ''))
    for amp, channels_last, compile_ in configs:
        run = copy.copy(opt)
        run.amp, run.channels_last, run.compile = amp, channels_last, compile_
        result = measure(run, reference)
        result['machine'] = machine
        results.append(result)
        print(row(result), flush=True)
        if opt.profile:
            print('\n'.join(profile_lines(result)), flush=True)
    if opt.json or opt.compare:
        print(json.dumps(results if opt.compare else results[0]))


if __name__ == '__main__':
    main()
