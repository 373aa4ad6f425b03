"""The memory of a training step, measured the same way on any device.

One step holds

    parameters + gradients + optimizer state          (the model's state)
  + the activations autograd keeps for the backward pass, at their peak in the step

`SavedTensors` measures the second term with torch.autograd.graph.saved_tensors_hooks: every
tensor autograd saves passes through its pack hook, and is counted from then until autograd
lets it go (the end of the backward pass that uses it); `peak` is the most held at once. A
storage counts once however many ops save it or views of it, at its full size; parameters are
left out (they are the state's). Under activation checkpointing a checkpointed segment saves
only its inputs, which are counted; the activations it recomputes in the backward pass, one
segment at a time, go to torch.utils.checkpoint's own hooks and are not.

Not counted: the backward pass's transients (gradients of activations, one recomputed
segment, kernels' workspaces) and the allocator's rounding and fragmentation. On a GPU
`torch.cuda.max_memory_allocated` sees all of that; benchmarks/benchmark.py reports both.

`step_memory(model, batch)` runs one real training step under the meter. `fake_step_memory`
runs the same step on FakeTensors (shapes and dtypes, no data): the same numbers (tested) for
any size and precision, without the memory or the time, so that 1024x2048 can be measured on a
machine that could never run it. The counts follow the autocast op lists of the device the
model is on (the CPU's and CUDA's differ a little).

`fake_step_flops` counts the FLOPs of the same FakeTensor step (torch.utils.flop_counter): what
a training step computes, at no cost, for the study's compute columns.

`optimize_or_explain(model, opt)` runs a training step and turns running out of memory into a
one-line UserError: the size, batch and flags that failed, and which of activation
checkpointing and half precision are estimated (by fake_step_memory) to fit.
"""
import os

import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from util.errors import UserError

MB = 2 ** 20


def storage_key(t):
    """An identity of the memory under `t`, shared by all its views (the storage's C++ address)."""
    return t.untyped_storage()._cdata


def storage_bytes(t):
    return t.untyped_storage().nbytes()


class _Held:
    """What the pack hook gives autograd in place of a saved tensor: the tensor itself, plus a
    count that autograd's release of it (when this object dies) takes back."""
    __slots__ = ('meter', 'key', 'tensor')

    def __init__(self, meter, key, tensor):
        self.meter, self.key, self.tensor = meter, key, tensor

    def __del__(self):
        self.meter._release(self.key)


class SavedTensors:
    """Context that counts the bytes autograd saves for backward: `current` held now, `peak`
    the most held at once, `total` every storage ever saved (each once). Tensors sharing a
    storage with one of `exclude` (the parameters) are not counted."""

    def __init__(self, exclude=()):
        self.exclude = {storage_key(t) for t in exclude}
        self._live = {}  # storage key -> [bytes, holders]
        self.current = self.peak = self.total = 0

    def __enter__(self):
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self._hooks.__exit__(*exc)

    def _pack(self, t):
        key = storage_key(t)
        if key in self.exclude:
            return t
        entry = self._live.get(key)
        if entry is None:
            nbytes = storage_bytes(t)
            self._live[key] = [nbytes, 1]
            self.current += nbytes
            self.total += nbytes
            self.peak = max(self.peak, self.current)
        else:
            entry[1] += 1
        return _Held(self, key, t)

    @staticmethod
    def _unpack(packed):
        return packed.tensor if isinstance(packed, _Held) else packed

    def _release(self, key):
        entry = self._live.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if not entry[1]:
            self.current -= entry[0]
            del self._live[key]


def _unique_bytes(tensors):
    seen = {}
    for t in tensors:
        seen.setdefault(storage_key(t), storage_bytes(t))
    return sum(seen.values())


def state_bytes(model):
    """{'params', 'grads', 'optimizer'}: bytes of every network's parameters, of the gradients
    they hold now, and of the optimizers' state (Adam: two moments per parameter and a step)."""
    from util.distributed import unwrap
    params = [p for _, net in model.networks() for p in unwrap(net).parameters()]
    grads = [p.grad for p in params if p.grad is not None]
    state = [v for o in model.optimizers for s in o.state.values() for v in s.values() if torch.is_tensor(v)]
    return {'params': _unique_bytes(params), 'grads': _unique_bytes(grads), 'optimizer': _unique_bytes(state)}


def _train_step(model, batch):
    model.set_input(batch)
    model.optimize_parameters()
    model.precision.end_iteration()


def step_memory(model, batch, step=_train_step):
    """Run one training step of `model` on `batch` and measure it. Returns bytes:
    saved_peak (activations), params, grads, optimizer (after the step: every network has its
    gradients and Adam its state, as in every later step) and their sum, total."""
    from util.distributed import unwrap
    params = [p for _, net in model.networks() for p in unwrap(net).parameters()]
    with SavedTensors(exclude=params) as saved:
        step(model, batch)
    result = {'saved_peak': saved.peak, 'saved_total': saved.total, **state_bytes(model)}
    result['total'] = result['saved_peak'] + result['params'] + result['grads'] + result['optimizer']
    return result


def _fake_tensors(model, mode):
    """Replace every network's parameters and buffers by FakeTensors of the same shape, dtype and
    device (the optimizers follow their parameters)."""
    from util.distributed import unwrap
    fakes = {}
    for _, net in model.networks():
        for module in unwrap(net).modules():
            for name, p in module._parameters.items():
                if p is not None:
                    if p not in fakes:
                        fakes[p] = torch.nn.Parameter(mode.from_tensor(p.detach()), requires_grad=p.requires_grad)
                    module._parameters[name] = fakes[p]
            for name, b in module._buffers.items():
                if b is not None:
                    module._buffers[name] = mode.from_tensor(b)
    for optimizer in model.optimizers:
        for group in optimizer.param_groups:
            group['params'] = [fakes[p] for p in group['params']]


def _fake_train_step(model, batch):
    model.set_input(batch)
    model.optimize_parameters()  # not end_iteration: it reads the skip counter, which has no value here


def fake_step_memory(model, batch_size, height, width, channels=(3, 3), step=_fake_train_step):
    """`step_memory` of a step on batches of `batch_size` images of height x width (`channels`: of
    domain A, of domain B) with no data behind the tensors: `model` (built as usual; it is spent
    afterwards) gets FakeTensors for its weights, the step runs on a fake random batch, and the
    counts are those of a real step (saved tensors are counted by their shapes and dtypes; the ops
    and their order are the same)."""
    mode = getattr(model, '_fake_mode', None)
    if mode is None:  # the first count on this model: its weights become fake, once
        mode = model._fake_mode = FakeTensorMode(allow_non_fake_inputs=True)
        _fake_tensors(model, mode)
    for optimizer in model.optimizers:
        optimizer.state.clear()  # a real state (a model that already stepped) would be updated in place
    with mode:
        images = [torch.rand(batch_size, c, height, width) * 2 - 1 for c in channels]
        batch = {'A': images[0], 'B': images[1], 'A_paths': ['synthetic'] * batch_size,
                 'B_paths': ['synthetic'] * batch_size}
        return step_memory(model, batch, step)


def fake_step_flops(model, batch_size, height, width, channels=(3, 3)):
    """The FLOPs of one training step of `model` on batches of `batch_size` images of height x
    width, counted on FakeTensors (`fake_step_memory`'s step: `model` is spent afterwards)."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        fake_step_memory(model, batch_size, height, width, channels)
    return counter.get_total_flops()


# The share of the device a step's count may take and still be said to fit: the rest is left for
# what the count leaves out (the backward pass's transients, the allocator's rounding).
FITS = 0.85


def capacity(device):
    """Bytes of memory on `device`: the GPU's, or the machine's RAM."""
    if device.type == 'cuda':
        return torch.cuda.get_device_properties(device).total_memory
    return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')


def _gib(n):
    return f'{n / 2 ** 30:.1f} GiB'


def out_of_memory_error(model, opt, batch_shape, limit):
    """The UserError for a training step of `model` on images of `batch_shape` (N, C, H, W) that
    ran out of `limit` bytes: what failed, and the flags (--checkpoint_activations stages or all,
    a half precision) whose step fake_step_memory counts at most FITS * limit, cheapest first.
    Spends `model` (its weights become fake)."""
    from models.layers import set_checkpointing
    from util.distributed import unwrap
    from util.precision import Precision, bf16_supported
    n, _, h, w = batch_shape
    device = model.device
    amp, level = model.precision.mode, opt.checkpoint_activations
    half = 'bf16' if bf16_supported(device) else 'fp16'
    levels = [None, 'stages', 'all']
    more = levels[levels.index(level):]  # this run's level and the ones that recompute more
    # cheapest first: more recomputation before a change of precision (which may cost accuracy)
    candidates = [(amp, c) for c in more] + ([(half, c) for c in more] if amp == 'off' else [])

    def flags(a, c):
        parts = [f'--amp {a}'] if a != amp else []
        if c != level:
            parts.append('--checkpoint_activations' + (' stages' if c == 'stages' else ''))
        return ' '.join(parts)

    counts = {}
    for a, c in candidates:
        for _, net in model.networks():
            set_checkpointing(unwrap(net), c)
        model.precision = Precision(a, device)
        counts[(a, c)] = fake_step_memory(model, n, h, w, (opt.input_nc, opt.output_nc))['total']
    where = 'GPU' if device.type == 'cuda' else 'machine'
    now = f'--checkpoint_activations {level}' if level else 'no --checkpoint_activations'
    failed = (f'out of memory in a training step at {h}x{w} px, batch {n} per process (--amp {amp}, {now}) '
              f'on a {_gib(limit)} {where}: a step counts {_gib(counts[(amp, level)])} (models/memory.py)')
    fitting = [f'{flags(a, c)} ({_gib(size)})' for (a, c), size in counts.items()
               if (a, c) != (amp, level) and size <= FITS * limit]
    if fitting:
        advice = '; estimated to fit: ' + ', '.join(fitting)
    else:
        advice = (f'; even the least of these flags give counts {_gib(min(counts.values()))}: '
                  f'lower --batch_size or --crop_size')
    return UserError(failed + advice + ' (to translate large frames: scripts/convert.py --tile 512)')


def optimize_or_explain(model, opt):
    """model.optimize_parameters() (its losses); when it runs out of memory, a UserError from
    out_of_memory_error instead of the allocator's traceback."""
    try:
        return model.optimize_parameters()
    except torch.OutOfMemoryError:
        pass
    # out of the except block: the traceback, and with it the failed step's tensors, are gone
    if model.device.type == 'cuda':
        torch.cuda.empty_cache()
    shape = tuple(model.real_A.shape)
    raise out_of_memory_error(model, opt, shape, capacity(model.device))
