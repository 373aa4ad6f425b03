"""Mixed precision and guarded optimizer steps, in one place.

`Precision` gives a model three calls: `autocast()` around forward passes and losses,
`backward(loss)` and `step(optimizer)`; the training loop calls `end_iteration()` once per
iteration. In fp16 a GradScaler scales the losses (one scaler for all optimizers: every
optimizer is stepped through it, and it is updated once per iteration, PyTorch's documented
pattern). In every mode a step whose gradients are not finite is skipped, so a NaN never reaches
the weights; skips are counted, and too many in a row stop training with a clear message.

`ComputeConfig` holds the flags of how the networks compute (precision, memory layout, compiling).
"""
from dataclasses import dataclass

import torch

from util.config import flag
from util.errors import UserError

AMP_MODES = ('off', 'fp16', 'bf16')


@dataclass(frozen=True)
class ComputeConfig:
    """How the networks compute: each field is the flag of its name (util/config.py). None of them
    changes a checkpoint: a run may be resumed or tested with others."""
    amp: str = flag('auto', 'mixed precision: auto trains in bf16 on a GPU that runs it natively, else in fp32 (on '
                            'every CPU, so that results do not depend on the CPU), and runs inference in fp32 '
                            'everywhere (exact outputs); bf16/fp16 ask for speed', ('auto', *AMP_MODES))
    channels_last: bool = flag(False, 'channels-last memory format for networks and images (faster on tensor cores)')
    compile: bool = flag(False, 'torch.compile the networks (slow first step)')


def bf16_supported(device):
    if device.type == 'cuda':
        try:  # pre-Ampere GPUs emulate bf16, slowly: that does not count
            return torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # PyTorch < 2.3 has no such argument and counts native bf16 only
            return torch.cuda.is_bf16_supported()
    if device.type == 'cpu':
        # Native bf16 on the CPU (AVX512-BF16/AMX); without it bf16 is emulated and slower than fp32.
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def auto_amp(device):
    """What --amp auto trains in: bf16 on a GPU that runs it natively, fp32 elsewhere. Never bf16
    on the CPU by itself: only some CPUs run it natively, and a run's results must not depend on
    which CPU it ran on (docs/results.md measured what bf16 training does to quality)."""
    return 'bf16' if device.type == 'cuda' and bf16_supported(device) else 'off'


def resolve_amp(mode, device, training=True):
    """The precision --amp `mode` runs in. 'auto' is auto_amp(device) for training and fp32 for
    inference everywhere (test.py, convert, export, evaluate, samples): outputs are exact unless
    --amp bf16/fp16 asks for speed (docs/conversion.md has what that costs)."""
    if mode in (None, 'auto'):
        return auto_amp(device) if training else 'off'
    if mode not in AMP_MODES:
        raise UserError(f'unknown --amp {mode!r}: use off, fp16, bf16 or auto')
    if mode == 'fp16' and device.type == 'cpu' and not hasattr(torch.amp, 'GradScaler'):
        raise UserError('--amp fp16 on the CPU needs PyTorch 2.3 or newer: use --amp bf16 or off')
    return mode


class Precision:
    def __init__(self, mode, device, max_skipped_steps=25, training=True):
        self.mode = resolve_amp(mode, device, training)
        self.device = device
        self.dtype = {'off': None, 'fp16': torch.float16, 'bf16': torch.bfloat16}[self.mode]
        self.scaler = torch.amp.GradScaler(device.type) if self.mode == 'fp16' else None
        self.max_skipped_steps = max_skipped_steps
        # Counters live on the device, so that guarding a step never waits for the device.
        zero = torch.zeros((), device=device)
        self._skipped = zero.clone()      # skipped optimizer steps in the whole run
        self._consecutive = zero.clone()  # iterations in a row with a skipped step
        self._skipped_now = zero.clone()  # 1 once a step of this iteration was skipped
        self._host = self._copied = None  # CUDA: a pinned copy of _consecutive, and its event

    @property
    def name(self):
        """What the networks compute in, for people and records: fp32, bf16 or fp16."""
        return 'fp32' if self.mode == 'off' else self.mode

    @property
    def skipped_steps(self):
        return int(self._skipped.item())

    @property
    def consecutive_skips(self):
        return int(self._consecutive.item())

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None)

    def backward(self, loss):
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def step(self, optimizer):
        """Step `optimizer` unless its gradients hold a NaN or an infinity. The test runs on the
        device, and fused optimizers (and the fp16 scaler with them) skip on the device too: no
        host-device sync. A non-fused optimizer has to ask the host, which costs one sync."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)
        grads = [p.grad for group in optimizer.param_groups for p in group['params'] if p.grad is not None]
        if not grads:
            return
        found_inf = (~torch.stack(torch._foreach_norm(grads)).isfinite().all()).float()
        self._skipped = self._skipped + found_inf
        self._skipped_now = torch.maximum(self._skipped_now, found_inf)
        if self.scaler is not None:
            self.scaler.step(optimizer)  # skips by the same test (non-finite unscaled gradients)
        elif optimizer.defaults.get('fused'):
            optimizer.found_inf = found_inf  # fused kernels leave weights and state alone when it is 1
            try:
                optimizer.step()
            finally:
                del optimizer.found_inf
        elif not found_inf.item():
            optimizer.step()

    def end_iteration(self):
        if self.scaler is not None:
            self.scaler.update()
        self._consecutive = (self._consecutive + 1) * self._skipped_now
        self._skipped_now = torch.zeros_like(self._skipped_now)
        self._check_consecutive_skips()

    def _check_consecutive_skips(self):
        # On a GPU the count is read from a copy made an iteration or so earlier, once that copy
        # has landed: the limit is enforced a step late, but the training loop never waits.
        if self.device.type != 'cuda':
            self._stop_if_too_many(self.consecutive_skips)
            return
        if self._copied is not None and not self._copied.query():
            return
        if self._copied is not None:
            self._stop_if_too_many(int(self._host.item()))
        else:
            self._host = torch.zeros((), pin_memory=True)
        self._host.copy_(self._consecutive, non_blocking=True)
        self._copied = torch.cuda.Event()
        self._copied.record(torch.cuda.current_stream(self.device))  # the stream the copy was queued on

    def _stop_if_too_many(self, consecutive):
        if consecutive >= self.max_skipped_steps:
            raise UserError(f'training stopped: {consecutive} iterations in a row had non-finite losses '
                            f'or gradients (all skipped, weights untouched since); the last saved checkpoint is '
                            f'intact: lower --lr, try --amp off or bf16, or check the data')

    def state_dict(self):
        return {'mode': self.mode, 'skipped_steps': self.skipped_steps,
                'scaler': self.scaler.state_dict() if self.scaler is not None else {}}

    def load_state_dict(self, state):
        self._skipped = torch.full((), float(state.get('skipped_steps', 0)), device=self.device)
        if self.scaler is not None and state.get('scaler'):
            self.scaler.load_state_dict(state['scaler'])
