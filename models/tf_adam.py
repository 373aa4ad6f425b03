"""Adam as TensorFlow 1's AdamOptimizer steps it (what the official AU-GAN code trains with).

Both take the same moments, m <- b1 m + (1 - b1) g and v <- b2 v + (1 - b2) g^2, but they
put epsilon in different places:

    PyTorch:     p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    TensorFlow:  p -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)

i.e. TensorFlow's epsilon acts as eps / sqrt(1 - b2^t) in PyTorch's formula: about 32 times
larger at the first step, falling towards eps over a few thousand steps. For a weight whose
gradient is far above 1e-7 the two steps agree; for one with a tiny gradient they do not (at
the first step, a gradient of 1e-6 moves a weight by 0.99 lr in PyTorch, 0.76 lr in TensorFlow).
`--adam tensorflow` (set by `--preset official`) steps with this class.
"""
import math

import torch


class TFAdam(torch.optim.Optimizer):
    """Adam with TensorFlow 1's epsilon placement (see the module docstring); no weight decay,
    no amsgrad. Its state has PyTorch Adam's keys (step, exp_avg, exp_avg_sq)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            b1, b2 = group['betas']
            params, grads, ms, vs, scales = [], [], [], [], []
            for p in group['params']:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state['step'] = torch.tensor(0.0)
                    state['exp_avg'] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state['exp_avg_sq'] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state['step'] += 1
                t = float(state['step'])
                params.append(p)
                grads.append(p.grad)
                ms.append(state['exp_avg'])
                vs.append(state['exp_avg_sq'])
                scales.append(-group['lr'] * math.sqrt(1 - b2 ** t) / (1 - b1 ** t))
            if not params:
                continue
            torch._foreach_lerp_(ms, grads, 1 - b1)
            torch._foreach_lerp_(vs, torch._foreach_mul(grads, grads), 1 - b2)
            denoms = torch._foreach_sqrt(vs)
            torch._foreach_add_(denoms, group['eps'])
            torch._foreach_addcdiv_(params, ms, denoms, scales)
        return loss
