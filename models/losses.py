"""Loss functions. All of them compute in float32, whatever precision the networks ran in:
exp(-sigma) and squared errors overflow or lose too much in half precision."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class GANLoss(nn.Module):
    """Adversarial loss against a real/fake target, for 'lsgan' (MSE) or 'vanilla' (BCE on logits).

    `prediction` is a discriminator output: a tensor, or a list with one tensor per scale, in
    which case the per-scale losses are averaged (a sum would scale the GAN weight by the number
    of scales).
    """

    def __init__(self, gan_mode='lsgan'):
        super().__init__()
        if gan_mode == 'lsgan':
            self.criterion = F.mse_loss
        elif gan_mode == 'vanilla':
            self.criterion = F.binary_cross_entropy_with_logits
        else:
            raise ValueError(f'unknown gan_mode {gan_mode!r}')
        self.gan_mode = gan_mode

    def forward(self, prediction, target_is_real, weights=None):
        """With `weights` (N,), each sample's loss is weighted and the result divided by their sum
        (samples of weight 0 count for nothing, yet every network still runs: what DDP needs)."""
        preds = prediction if isinstance(prediction, (list, tuple)) else [prediction]
        target = 1.0 if target_is_real else 0.0
        if weights is None:
            losses = [self.criterion(p.float(), torch.full_like(p, target, dtype=torch.float32)) for p in preds]
        else:
            losses = [weighted_mean(self.criterion(p.float(), torch.full_like(p, target, dtype=torch.float32),
                                                   reduction='none').flatten(1).mean(1), weights) for p in preds]
        return sum(losses) / len(losses)


def l1(a, b):
    return F.l1_loss(a.float(), b.float())


def weighted_mean(per_sample, weights):
    return (per_sample * weights).sum() / weights.sum().clamp(min=1.0)


def weighted_l1(a, b, weights):
    return weighted_mean((a.float() - b.float()).abs().flatten(1).mean(1), weights)


def uncertainty_cycle_loss(real, cycled, sigma, mode='exp', residual_weight=5.0):
    """Cycle loss weighted by the predicted uncertainty sigma (N, 1, H, W), broadcast over channels.

    exp:      mean(exp(-sigma) * w * |r| + sigma / 2)   (AU-GAN's loss; w = residual_weight, 5 in the
              official code, 1 in its first upload)
    laplace:  mean(2 |r| / (sigma + 1e-7) + log(2 sigma + 1e-7))  (the official code's unused variant)
    gengauss: `sigma` is the pair (scale, shape) of a generalized Gaussian: gen_gaussian_nll
    Pixels the generator marks as uncertain cost less, at the price of the sigma penalty.
    """
    r = (real.float() - cycled.float()).abs()
    if mode == 'gengauss':
        return gen_gaussian_nll(r, *sigma)
    sigma = sigma.float()
    if mode == 'exp':
        return (torch.exp(-sigma) * residual_weight * r + sigma / 2).mean()
    if mode == 'laplace':
        return (r * 2.0 / (sigma + 1e-7) + torch.log(2.0 * sigma + 1e-7)).mean()
    raise ValueError(f'unknown uncertainty mode {mode!r}')


def gen_gaussian_nll(r, scale, shape):
    """The negative log-likelihood of residuals |r| under a zero-mean generalized Gaussian of
    per-pixel `scale` a and `shape` b (N, 1, H, W), up to the constant log 2 (UGAC, Upadhyay et al.,
    NeurIPS 2021):

        mean((|r| / a) ** b - log b + log a + lgamma(1 / b))

    b = 2 is a Gaussian, b = 1 a Laplacian; a per-pixel shape lets heavy-tailed errors (what a
    hidden region leaves) cost less than a Gaussian would charge.

    |r| is raised to the smallest normal float32 first: at an exact 0 (a black pixel reconstructed
    exactly, its tanh saturated) the power's gradients are 0 * log 0 for the shape and the scale
    and infinite for r when b < 1, and one such pixel made the whole step non-finite."""
    r, scale, shape = r.float().clamp_min(torch.finfo(torch.float32).tiny), scale.float(), shape.float()
    return ((r / scale) ** shape - torch.log(shape) + torch.log(scale) + torch.lgamma(1 / shape)).mean()


def channel_mean_l1(a, b):
    """L1 between the channel means of two encodings (N, C, h, w): the feature matching term."""
    return F.l1_loss(a.float().mean(dim=1), b.float().mean(dim=1))


def domain_classification_loss(logits, domain):
    """Sigmoid cross-entropy of (N, 2) logits against the one-hot label of `domain` ('A' or 'B')."""
    target = torch.zeros_like(logits, dtype=torch.float32)
    target[:, 0 if domain == 'A' else 1] = 1.0
    return F.binary_cross_entropy_with_logits(logits.float(), target)


def identity_losses(weights, idt_A, real_B, idt_B, real_A):
    """CycleGAN's identity terms, {'idt_A', 'idt_B'}: a generator given an image of its target
    domain should return it, weighted by lambda_identity times that domain's cycle weight:
        lambda_B * lambda_identity * L1(G_A(x_B), x_B) + lambda_A * lambda_identity * L1(G_B(x_A), x_A)"""
    return {'idt_A': weights.lambda_B * weights.lambda_identity * l1(idt_A, real_B),
            'idt_B': weights.lambda_A * weights.lambda_identity * l1(idt_B, real_A)}


def as_floats(losses):
    """{name: float} of a training step's {name: tensor}. This synchronises with the device: call it
    only when logging."""
    return {name: float(value.detach()) for name, value in losses.items()}
