"""Mixed precision and guarded optimizer steps, in one place.

`Precision` gives a model three calls: `autocast()` around forward passes and losses,
`backward(loss)` and `step(optimizer)`; the training loop calls `end_iteration()` once per
iteration. In fp16 a GradScaler scales the losses (one scaler for all optimizers: every
optimizer is stepped through it, and it is updated once per iteration, PyTorch's documented
pattern). In every mode a step whose gradients are not finite is skipped, so a NaN never reaches
the weights; skips are counted, and too many in a row stop training with a clear message.
"""
import torch

from util.errors import UserError

AMP_MODES = ('off', 'fp16', 'bf16')


def bf16_supported(device):
    if device.type == 'cuda':
        return torch.cuda.is_bf16_supported()
    if device.type == 'cpu':
        # Native bf16 on the CPU (AVX512-BF16/AMX); without it bf16 is emulated and slower than fp32.
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def resolve_amp(mode, device):
    """'auto' -> bf16 where the device runs it natively, off elsewhere."""
    if mode in (None, 'auto'):
        return 'bf16' if bf16_supported(device) else 'off'
    if mode not in AMP_MODES:
        raise UserError(f'unknown --amp {mode!r}: use off, fp16, bf16 or auto')
    if mode == 'fp16' and device.type == 'cpu' and not hasattr(torch.amp, 'GradScaler'):
        raise UserError('--amp fp16 on the CPU needs PyTorch 2.3 or newer: use --amp bf16 or off')
    return mode


class Precision:
    def __init__(self, mode, device, max_skipped_steps=25):
        self.mode = resolve_amp(mode, device)
        self.device = device
        self.dtype = {'off': None, 'fp16': torch.float16, 'bf16': torch.bfloat16}[self.mode]
        self.scaler = torch.amp.GradScaler(device.type) if self.mode == 'fp16' else None
        self.max_skipped_steps = max_skipped_steps
        self.skipped_steps = 0       # in the whole run
        self.consecutive_skips = 0   # iterations in a row with a skipped step
        self._skipped_now = False

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None)

    def backward(self, loss):
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def step(self, optimizer):
        """Step `optimizer` unless its gradients hold a NaN or an infinity."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)
        grads = [p.grad for group in optimizer.param_groups for p in group['params'] if p.grad is not None]
        # One host-device sync per optimizer: the price of never applying a bad step.
        finite = not grads or bool(torch.stack(torch._foreach_norm(grads)).isfinite().all())
        if finite:
            if self.scaler is not None:
                self.scaler.step(optimizer)
            else:
                optimizer.step()
        else:
            self._skipped_now = True
            self.skipped_steps += 1

    def end_iteration(self):
        if self.scaler is not None:
            self.scaler.update()
        self.consecutive_skips = self.consecutive_skips + 1 if self._skipped_now else 0
        self._skipped_now = False
        if self.consecutive_skips >= self.max_skipped_steps:
            raise UserError(f'training stopped: {self.consecutive_skips} iterations in a row had non-finite losses '
                            f'or gradients (all skipped, weights untouched since); the last saved checkpoint is '
                            f'intact: lower --lr, try --amp off or bf16, or check the data')

    def state_dict(self):
        return {'mode': self.mode, 'skipped_steps': self.skipped_steps,
                'scaler': self.scaler.state_dict() if self.scaler is not None else {}}

    def load_state_dict(self, state):
        self.skipped_steps = int(state.get('skipped_steps', 0))
        if self.scaler is not None and state.get('scaler'):
            self.scaler.load_state_dict(state['scaler'])
