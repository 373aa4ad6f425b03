"""Measure how fast a model trains and converts, on the CPU or a GPU, on synthetic images.

    python benchmarks/benchmark.py --model au_gan --crop_size 128 --steps 10
    python benchmarks/benchmark.py --model cycle_gan --crop_size 128 --amp bf16 --channels_last --json
    python benchmarks/benchmark.py --model au_gan --crop_size 128 --compare

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

`--versus FLAGS` times another configuration of this project beside this one, same process,
steps alternated (e.g. `--model au_gan --ngf 16 --ndf 16 --versus "--model cycle_gan"`: the
command's flags, then these): it adds versus_s_per_step, versus_gflop_per_step and time_ratio_vs
(this step's time over the other's, the median of the per-round ratios) -- how two models compare
at equal compute, measured so that the machine's load falls on both alike.
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
import shlex  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from data.base_dataset import parse_size, size_hw  # noqa: E402
from inference import Translator, generator_name  # noqa: E402
from models import create_model  # noqa: E402
from models.discriminators import check_input_size  # noqa: E402
from models.layers import CHECKPOINT_LEVELS  # noqa: E402
from options.base_options import require_at_least  # noqa: E402
from options.train_options import TrainOptions  # noqa: E402
from util import distributed  # noqa: E402
from util.errors import UserError, exit_on_user_error  # noqa: E402
from models.memory import MB, fake_step_memory, step_memory  # noqa: E402
from util.precision import AMP_MODES, bf16_supported  # noqa: E402
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
        parser.add_argument('--versus', default='',
                            help='flags of another configuration, added to this command\'s (e.g. "--model '
                                 'cycle_gan"): its steps are timed alternately with ours, and the ratio reported')
        parser.add_argument('--compare_axes', default='amp,channels_last,compile',
                            help='what --compare varies, of amp, channels_last, compile (the rest as given)')
        parser.add_argument('--checkpoint_cost', action='store_true',
                            help='also run each configuration with --checkpoint_activations flipped, its steps '
                                 'alternated with the others: a row for each, and their time ratio')
        parser.add_argument('--memory_table', action='store_true',
                            help='no timing: the memory of a step at each of --sizes, in each of --table_amps, '
                                 'without and with activation checkpointing, counted on shapes alone (models/memory.py '
                                 'fake_step_memory), so sizes this machine could never run are measured too')
        parser.add_argument('--sizes', default='256,256x512,512x1024,1024x2048',
                            help='--memory_table: the sizes, N or HxW, separated by commas')
        parser.add_argument('--table_amps', default='off,bf16', help='--memory_table: the precisions')
        parser.add_argument('--time_sizes', default='',
                            help='--memory_table: sizes at which to also time real steps, without and with '
                                 'checkpointing alternated, in fp32 (and bf16 where the device runs it natively)')
        parser.add_argument('--json_out', default='', help='also write the results as JSON to this file')
        parser.add_argument('--markdown', default='', help='also write the results as a Markdown table to this file')
        parser.set_defaults(dataroot='(synthetic)', crop_size=128, load_size=128, pool_size=50, name='benchmark',
                            checkpoints_dir='/tmp/au_gan_benchmark', print_freq=1)
        return parser

    def validate(self, opt):
        super().validate(opt)
        require_at_least(opt, 1, 'steps')
        require_at_least(opt, 0, 'warmup')
        axes = [a for a in opt.compare_axes.split(',') if a]
        unknown = set(axes) - set(COMPARE_AXES)
        if unknown:
            raise UserError(f'--compare_axes {opt.compare_axes}: unknown {", ".join(sorted(unknown))}; '
                            f'use some of {", ".join(COMPARE_AXES)}')
        opt.compare_axes = axes
        opt.sizes = list_of_sizes(opt.sizes, '--sizes')
        opt.time_sizes = list_of_sizes(opt.time_sizes, '--time_sizes')
        for amp in opt.table_amps.split(','):
            if amp not in AMP_MODES:
                raise UserError(f'--table_amps {opt.table_amps}: {amp!r} is not one of {", ".join(AMP_MODES)}')
        for size in opt.sizes + opt.time_sizes:
            h, w = size_hw(size)
            if h % 4 or w % 4:
                raise UserError(f'size {h}x{w}: the generators need multiples of 4')
            check_input_size(opt.netD, opt.n_layers_D, h, w, flag='--sizes')
        if opt.reference_dir:
            if opt.model != 'cycle_gan':
                raise UserError(f'--reference_dir times the reference CycleGAN: use it with --model cycle_gan, '
                                f'not {opt.model}')
            if not os.path.isfile(os.path.join(opt.reference_dir, 'models', 'cycle_gan_model.py')):
                raise UserError(f'--reference_dir {opt.reference_dir}: no models/cycle_gan_model.py there; '
                                f'point it at a checkout of junyanz/pytorch-CycleGAN-and-pix2pix')


COMPARE_AXES = ('amp', 'channels_last', 'compile')


def list_of_sizes(text, flag):
    try:
        return [parse_size(part) for part in text.split(',') if part.strip()]
    except argparse.ArgumentTypeError as e:
        raise UserError(f'{flag} {text}: {e}')


def synthetic_batch(opt):
    gen = torch.Generator().manual_seed(0)
    size = (opt.batch_size, 3, *size_hw(opt.crop_size))
    images = [torch.rand(size, generator=gen) * 2 - 1 for _ in range(2)]
    return {'A': images[0], 'B': images[1], 'A_paths': ['synthetic'] * opt.batch_size,
            'B_paths': ['synthetic'] * opt.batch_size}


def timed(fn, device, steps, warmup):
    """Median seconds of fn() over `steps` calls after `warmup` calls, and the first call's time."""
    return timed_together({'fn': fn}, device, steps, warmup)['fn']


def timed_together(fns, device, steps, warmup, record=None, label=None):
    """{name: (median seconds, first call's seconds)} of the functions in `fns`, called in turn,
    one call each per round, so that slow phases of the machine fall on all of them alike.
    `record`, a dict, receives every timed call's seconds, by name, round by round; with a
    `label`, each round's times are printed as it ends (rounds of big steps take minutes)."""
    times = {name: [] for name in fns}
    for i in range(warmup + steps):
        for name, fn in fns.items():
            distributed.synchronize(device)
            start = time.perf_counter()
            fn()
            distributed.synchronize(device)
            times[name].append(time.perf_counter() - start)
        if label:
            kind = 'warm-up' if i < warmup else 'timed'
            print(f'  {label}: round {i + 1}/{warmup + steps} ({kind}): '
                  + ', '.join(f'{name or "off"} {t[-1]:.2f} s' for name, t in times.items()), flush=True)
    if record is not None:
        record.update({name: t[warmup:] for name, t in times.items()})
    return {name: (statistics.median(t[warmup:]), t[0]) for name, t in times.items()}


def ratio_by_rounds(record, name, base):
    """The median over rounds of name's time over base's in the same round: on a shared machine,
    whose load changes from minute to minute, steadier than a ratio of two medians."""
    return statistics.median(a / b for a, b in zip(record[name], record[base]))


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


def build(opt):
    """The model `opt` describes, set up as train.py sets it up (same seed every time)."""
    seed_everything(opt.seed)
    model = create_model(opt)
    model.setup(opt)
    return model


def training_step(model, batch):
    """One full training iteration of `model` on `batch`, as train.py runs it."""
    def step():
        model.set_input(batch)
        model.optimize_parameters()
        model.precision.end_iteration()
    return step


def counted_step(model, batch):
    """Run one training step of `model` alone and count it: FLOPs (all, convolutions), the bytes
    models.memory counts (saved activations at their peak, parameters, gradients, optimizer state)
    and the peak memory: on a GPU the step's own (max allocated during it, less what was allocated
    before it, plus its model's parameters, gradients and Adam state: other models the benchmark
    holds do not count); on the CPU the process's peak RSS. Call it after a warm-up step."""
    device = model.device
    if device.type == 'cuda':
        distributed.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
    with FlopCounterMode(display=False) as counter:
        memory = step_memory(model, batch, lambda m, b: training_step(m, b)())
    if device.type == 'cuda':
        distributed.synchronize(device)
        state = memory['params'] + memory['grads'] + memory['optimizer']
        peak_mem = (torch.cuda.max_memory_allocated(device) - before + state) / MB
    else:
        peak_mem = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    conv_flops = sum(n for op, n in counter.get_flop_counts()['Global'].items()
                     if str(op) in {'aten.' + name for name in CONV_OPS})
    return {'flops': counter.get_total_flops(), 'conv_flops': conv_flops, 'peak_mem_mb': peak_mem,
            'saved_mb': memory['saved_peak'] / MB, 'state_mb': (memory['total'] - memory['saved_peak']) / MB,
            'step_mem_mb': memory['total'] / MB}


def measure(opt, reference=None, versus=None):
    """Build the model as `opt` says and measure one configuration; returns a list of result
    dicts: one, or with --checkpoint_cost two (without and with activation checkpointing, their
    steps alternated in one timing loop).
    `reference`: the reference's CycleGANModel class, timed alongside (see load_reference_model);
    `versus`: the options of another configuration of this project (--versus), timed alongside."""
    model = build(opt)
    device = model.device
    batch = synthetic_batch(opt)
    train_step = training_step(model, batch)

    # the conv peak's calls alternate with the steps: the machine's slow and fast moments fall on both
    peak_step, peak_flops = conv_peak_step(device, model.precision.dtype, opt.channels_last)
    steps = {'ours': train_step, 'peak': peak_step}
    if reference is not None:
        steps['reference'] = reference_step(reference, opt, device, batch)
    if versus is not None:
        versus_model = build(versus)
        versus_batch = synthetic_batch(versus)
        steps['versus'] = training_step(versus_model, versus_batch)
    other = None
    if opt.checkpoint_cost:  # the same configuration with checkpointing flipped, same weights and noise
        other_opt = copy.copy(opt)
        other_opt.checkpoint_activations = None if opt.checkpoint_activations else 'all'
        other = build(other_opt)
        steps['other'] = training_step(other, batch)
    record = {}
    times = timed_together(steps, device, opt.steps, opt.warmup, record)
    s_per_step, first = times['ours']
    peak = peak_flops / times['peak'][0]
    del steps['peak'], peak_step  # frees the peak conv's tensors before the memory is read
    counts = counted_step(model, batch)
    flops, conv_flops = counts['flops'], counts['conv_flops']
    compared = {}
    if versus is not None:
        compared = {'versus': opt.versus, 'versus_s_per_step': times['versus'][0],
                    'versus_gflop_per_step': counted_step(versus_model, versus_batch)['flops'] / 1e9,
                    'time_ratio_vs': ratio_by_rounds(record, 'ours', 'versus')}
        del steps['versus'], versus_model
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
    h, w = size_hw(opt.crop_size)

    def result(checkpointed, s_per_step, first, counts):
        flops = counts['flops']
        return {'model': opt.model, 'device': str(device), 'amp': model.precision.mode,
                'channels_last': opt.channels_last, 'compile': opt.compile, 'checkpoint_activations': checkpointed,
                'crop_size': f'{h}x{w}', 'batch_size': opt.batch_size,
                's_per_step': s_per_step, 'first_step_s': first, 'images_per_s': opt.batch_size / s_per_step,
                'gflop_per_step': flops / 1e9, 'gflops': flops / s_per_step / 1e9, 'peak_gflops': peak / 1e9,
                'utilization': flops / s_per_step / peak, 'peak_mem_mb': counts['peak_mem_mb'],
                'saved_mb': counts['saved_mb'], 'state_mb': counts['state_mb'], 'step_mem_mb': counts['step_mem_mb'],
                'inference_images_per_s': opt.batch_size / s_convert,
                'naive_inference_images_per_s': opt.batch_size / s_naive,
                'reference_s_per_step': times['reference'][0] if reference is not None else None,
                'speedup_vs_reference': times['reference'][0] / s_per_step if reference is not None else None}

    results = [{**result(opt.checkpoint_activations, s_per_step, first, counts), **profiled, **compared}]
    if other is not None:
        results.append(result(other_opt.checkpoint_activations, *times['other'], counted_step(other, batch)))
        results.sort(key=lambda r: bool(r['checkpoint_activations']))
        ratio = ratio_by_rounds(record, 'other', 'ours')
        ratio = ratio if opt.checkpoint_activations is None else 1 / ratio
        for r in results:
            r['checkpoint_time_ratio'] = ratio
    return results


def grid(device, opt):
    """The configurations --compare runs: precisions x channels_last x compile, where they make
    sense, along --compare_axes (an axis left out keeps the command line's value)."""
    amps = ['off'] + (['bf16'] if bf16_supported(device) else []) + (['fp16'] if device.type == 'cuda' else [])
    if 'bf16' not in amps and 'amp' in opt.compare_axes:
        # emulated bf16 runs tens of times slower than fp32: a grid with it would take hours at 128 px
        print(f"bf16 left out: this {'GPU' if device.type == 'cuda' else 'CPU'} has no bf16 instructions "
              f'(--amp bf16 measures it anyway)')
    compiles = [False, True] if device.type == 'cuda' else [False]  # inductor on the CPU compiles for minutes
    amps = amps if 'amp' in opt.compare_axes else [opt.amp]
    layouts = (False, True) if 'channels_last' in opt.compare_axes else (opt.channels_last,)
    compiles = compiles if 'compile' in opt.compare_axes else [opt.compile]
    return [(a, cl, c) for a in amps for cl in layouts for c in compiles]


def row(r):
    return (f"{r['model']:>9} {r['amp']:>5} {str(r['channels_last']):>6} {str(r['compile']):>6} "
            f"{r['checkpoint_activations'] or 'off':>6} "
            f"{r['s_per_step']:9.3f} {r['images_per_s']:8.2f} {r['gflop_per_step']:8.1f} {r['gflops']:8.1f} "
            f"{r['utilization']:6.1%} {r['step_mem_mb']:8.0f} {r['peak_mem_mb']:8.0f} {r['inference_images_per_s']:8.2f} "
            f"{r['naive_inference_images_per_s']:8.2f} {r['first_step_s']:8.2f}"
            + (f" {r['reference_s_per_step']:9.3f} {r['speedup_vs_reference']:7.2f}x"
               if r['reference_s_per_step'] else ''))


HEADER = (f"{'model':>9} {'amp':>5} {'c_last':>6} {'compile':>6} {'ckpt':>6} {'s/step':>9} {'img/s':>8} "
          f"{'GFLOP':>8} {'GFLOP/s':>8} {'util':>6} {'step MB':>8} {'peak MB':>8} {'conv/s':>8} {'test/s':>8} "
          f"{'first s':>8}")
REFERENCE_HEADER = f" {'ref s/step':>9} {'speedup':>8}"


def quiet_build(opt):
    with contextlib.redirect_stdout(None):  # the per-network messages, for every cell of a table
        return build(opt)


def memory_table(opt, machine):
    """--memory_table: a row per size x precision x checkpointing, counted on shapes alone; and,
    at --time_sizes, real steps without and with checkpointing alternated (their times, and the
    bytes the real step counted, which equal the shape count)."""
    rows = []
    native = ['off'] + (['bf16'] if bf16_supported(distributed.device()) else [])
    for size in opt.sizes:
        h, w = size_hw(size)
        for amp in opt.table_amps.split(','):
            for checkpointed in LEVELS:
                run = copy.copy(opt)
                run.crop_size = run.load_size = size
                run.amp, run.checkpoint_activations = amp, checkpointed
                model = quiet_build(run)
                counted = fake_step_memory(model, opt.batch_size, h, w, (opt.input_nc, opt.output_nc))
                rows.append({'model': opt.model, 'device': str(model.device), 'crop_size': f'{h}x{w}',
                             'batch_size': opt.batch_size, 'amp': model.precision.mode,
                             'checkpoint_activations': checkpointed,
                             'saved_mb': counted['saved_peak'] / MB,
                             'state_mb': (counted['total'] - counted['saved_peak']) / MB,
                             'step_mem_mb': counted['total'] / MB, 'machine': machine})
                del model
                print(memory_row(rows[-1]), flush=True)
    for size in opt.time_sizes:
        for amp in native:
            run = copy.copy(opt)
            run.crop_size = run.load_size = size
            run.amp = amp
            rows.extend(checkpoint_time(run, machine))
            for r in rows[-len(LEVELS):]:
                print(memory_row(r), flush=True)
    return rows


LEVELS = (None,) + CHECKPOINT_LEVELS  # no checkpointing, then each level


def checkpoint_time(opt, machine):
    """A row per checkpointing level (none, stages, all): seconds per step (medians; one step of
    each level per round), the bytes a real step counts, and the time over the plain step's."""
    models = [quiet_build(argparse.Namespace(**{**vars(opt), 'checkpoint_activations': c})) for c in LEVELS]
    batch = synthetic_batch(opt)
    device = models[0].device
    record = {}
    h, w = size_hw(opt.crop_size)
    times = timed_together({c: training_step(m, batch) for c, m in zip(LEVELS, models)}, device,
                           opt.steps, opt.warmup, record, label=f'{opt.model} {h}x{w} {opt.amp} checkpointing')
    print(f'  {opt.model} {h}x{w}: counting one step per checkpointing level', flush=True)
    rows = []
    for checkpointed, model in zip(LEVELS, models):
        counts = counted_step(model, batch)
        rows.append({'model': opt.model, 'device': str(device), 'crop_size': f'{h}x{w}', 'batch_size': opt.batch_size,
                     'amp': model.precision.mode, 'checkpoint_activations': checkpointed,
                     'saved_mb': counts['saved_mb'], 'state_mb': counts['state_mb'],
                     'step_mem_mb': counts['step_mem_mb'], 'peak_mem_mb': counts['peak_mem_mb'],
                     's_per_step': times[checkpointed][0], 'steps': opt.steps,
                     'checkpoint_time_ratio': ratio_by_rounds(record, checkpointed, None), 'machine': machine})
    return rows


def memory_row(r):
    timed = f" {r['s_per_step']:9.2f} {r['checkpoint_time_ratio']:6.2f}x" if 's_per_step' in r else ''
    return (f"{r['model']:>9} {r['crop_size']:>9} {r['amp']:>5} {r['checkpoint_activations'] or 'off':>6} "
            f"{r['saved_mb']:9.0f} {r['state_mb']:8.0f} {r['step_mem_mb']:8.0f}" + timed)


MEMORY_HEADER = (f"{'model':>9} {'size':>9} {'amp':>5} {'ckpt':>6} {'saved MB':>9} {'state MB':>8} {'step MB':>8}"
                 f" {'s/step':>9} {'ratio':>7}")


def markdown(results):
    """The results as a Markdown table (a memory table's, or the timing runs')."""
    def yes(flag):
        return flag if isinstance(flag, str) else 'on' if flag else 'off'

    if results and 'utilization' not in results[0]:
        lines = ['| model | size | batch | amp | checkpointing | saved activations GB | params+grads+Adam GB | '
                 'step GB | GPU max allocated GB | how | s/step | time ratio |', '|' + '---|' * 12]
        for r in results:
            how = 'real step' if 's_per_step' in r else 'shapes (fake tensors)'
            timed = (f"{r['s_per_step']:.2f} | {r['checkpoint_time_ratio']:.2f}x" if 's_per_step' in r else ' | ')
            gb = [f'{r[k] / 1024:.3g}' for k in ('saved_mb', 'state_mb', 'step_mem_mb')]
            gpu = r['peak_mem_mb'] / 1024 if 's_per_step' in r and r['device'].startswith('cuda') else None
            lines.append(f"| {r['model']} | {r['crop_size']} | {r['batch_size']} | {r['amp']} | "
                         f"{yes(r['checkpoint_activations'])} | {' | '.join(gb)} | {f'{gpu:.3g}' if gpu else ''} | "
                         f"{how} | {timed} |")
        return '\n'.join(lines) + '\n'
    lines = ['| model | size | amp | channels_last | compile | checkpointing | s/step | time ratio (ckpt/plain) | '
             'GFLOP/s | utilisation | saved activations MB | step MB (saved+state) | peak MB | conversion img/s |',
             '|' + '---|' * 14]
    for r in results:
        ratio = f"{r['checkpoint_time_ratio']:.2f}x" if r.get('checkpoint_time_ratio') else ''
        lines.append(f"| {r['model']} | {r['crop_size']} | {r['amp']} | {yes(r['channels_last'])} | {yes(r['compile'])} | "
                     f"{yes(r['checkpoint_activations'])} | {r['s_per_step']:.3f} | {ratio} | {r['gflops']:.1f} | "
                     f"{r['utilization']:.0%} | {r['saved_mb']:.0f} | {r['step_mem_mb']:.0f} | {r['peak_mem_mb']:.0f} | "
                     f"{r['inference_images_per_s']:.2f} |")
    gpu = bool(results) and results[0]['device'].startswith('cuda')
    peak = 'max allocated on the GPU during one step' if gpu else "the process's peak RSS"
    machine = results[0]['machine'] if results else ''
    lines += ['', f'{machine}. peak MB: {peak}; step MB: saved activations + parameters + gradients + Adam '
                  f'state (models/memory.py)']
    return '\n'.join(lines) + '\n'


@exit_on_user_error
def main(args=None):
    opt = BenchmarkOptions().parse(args)
    device = distributed.setup(opt.gpu_ids)
    machine = f'{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads'
    if device.type == 'cuda':
        machine = torch.cuda.get_device_name(device)
    print(f'benchmark on {machine}, torch {torch.__version__}')
    if opt.memory_table:
        print(MEMORY_HEADER)
        results = memory_table(opt, machine)
        report(opt, results, results)
        return
    configs = grid(device, opt) if opt.compare else [(opt.amp, opt.channels_last, opt.compile)]
    reference = load_reference_model(opt.reference_dir) if opt.reference_dir else None
    versus = versus_options(opt, sys.argv[1:] if args is None else args)
    results = []
    print(HEADER + (REFERENCE_HEADER if reference else ''))
    for amp, channels_last, compile_ in configs:
        run = copy.copy(opt)
        run.amp, run.channels_last, run.compile = amp, channels_last, compile_
        for result in measure(run, reference, versus and versus_in(versus, run)):
            result['machine'] = machine
            results.append(result)
            print(row(result), flush=True)
            if 'versus' in result:
                print(f"versus {result['versus']}: {result['versus_s_per_step']:.3f} s/step, "
                      f"{result['versus_gflop_per_step']:.1f} GFLOP; this step takes {result['time_ratio_vs']:.2f}x "
                      f"its time for {result['gflop_per_step'] / result['versus_gflop_per_step']:.2f}x its FLOPs",
                      flush=True)
            if opt.profile and 'profiled_step_s' in result:
                print('\n'.join(profile_lines(result)), flush=True)
    report(opt, results, results if opt.compare or opt.checkpoint_cost else results[0])


def versus_options(opt, args):
    """The options of --versus: this command's flags, then its own (the later flag wins); None without it."""
    if not opt.versus:
        return None
    try:
        extra = shlex.split(opt.versus)
    except ValueError as e:
        raise UserError(f'--versus: cannot split {opt.versus!r} into flags ({e})')
    with contextlib.redirect_stdout(None):
        try:
            return BenchmarkOptions().parse([str(a) for a in args] + extra + ['--versus', ''], save=False)
        except SystemExit:
            raise UserError(f'--versus {opt.versus!r}: the other configuration refuses these flags with this '
                            f'command\'s (give only flags both models have, e.g. the sizes and widths)')


def versus_in(versus, run):
    """--versus's options in a --compare cell: the cell's precision, layout and compile setting."""
    other = copy.copy(versus)
    other.amp, other.channels_last, other.compile = run.amp, run.channels_last, run.compile
    return other


def report(opt, results, printed):
    """JSON on the last line (with --json, --compare, --checkpoint_cost, --memory_table), and the files asked for."""
    if opt.json or opt.compare or opt.checkpoint_cost or opt.memory_table:
        print(json.dumps(printed))
    if opt.json_out:
        Path(opt.json_out).write_text(json.dumps(results, indent=1) + '\n')
    if opt.markdown:
        Path(opt.markdown).write_text(markdown(results))


if __name__ == '__main__':
    main()
