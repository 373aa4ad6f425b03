"""Discriminators: the PatchGAN of pix2pix/CycleGAN, its multiscale (pix2pixHD) form, and the
official AU-GAN code's pair of two-path discriminators.

Every discriminator returns a list with one patch map per scale, so losses treat single- and
multi-scale discriminators alike.

Activation checkpointing (models/layers.py `set_checkpointing`) recomputes a discriminator as a
whole, one PatchGAN or one two-path discriminator per segment, and only where its input carries
a gradient: in the generator step, where its activations are held beside the generators' until
the backward pass. In the discriminator step (real images and detached fakes in) its graph is
the whole graph and small, so recomputing it would cost time and save nothing at the peak.
"""
import re
from dataclasses import dataclass

import torch
import torch.nn as nn

from util.config import flag
from util.errors import UserError

from .layers import Checkpointable, SameConv2d, init_weights, norm_layer, recompute
from .persistence import persistent


class _DiscriminatorSegment(Checkpointable):
    """A discriminator recomputed as one segment, when checkpointing and its input needs a gradient."""

    def forward(self, x):
        if torch.is_tensor(x) and not x.requires_grad:
            return self._forward(x)
        return recompute(self, self._forward, x)


@persistent
class NLayerDiscriminator(_DiscriminatorSegment, nn.Module):
    """PatchGAN: stride-2 4x4 convs with LeakyReLU(0.2); n_layers=3 sees 70x70 patches.

    `norm='none'` means no normalisation here: demodulation is a generator-side replacement for
    InstanceNorm, and a discriminator has no droplet artifacts to remove.
    """

    def __init__(self, input_nc, ndf=64, n_layers=3, norm='instance'):
        super().__init__()
        bias = norm != 'batch'  # as in pix2pix/CycleGAN, so parameter counts match theirs
        layers = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=bias),
                       norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)
        self.n_layers = n_layers

    def _forward(self, x):
        # Checked here, as a shape test, because too small an input otherwise fails deep inside a norm layer.
        if min(x.shape[-2:]) >> self.n_layers < 3:
            raise UserError(f'a {x.shape[-2]}x{x.shape[-1]} image is too small for a {self.n_layers}-layer PatchGAN '
                            f'(it needs at least {3 << self.n_layers} px a side at every scale): use larger '
                            f'--crop_size/--load_size, a smaller --n_layers_D, or fewer scales in --netD msN')
        return [self.model(x)]


@persistent
class MultiscaleDiscriminator(nn.Module):
    """`num_D` PatchGANs, the k-th judging the image downsampled k times (pix2pixHD)."""

    def __init__(self, input_nc, ndf=64, n_layers=3, norm='instance', num_D=3):
        super().__init__()
        self.scales = nn.ModuleList(NLayerDiscriminator(input_nc, ndf, n_layers, norm) for _ in range(num_D))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x):
        outputs = []
        for i, d in enumerate(self.scales):
            if i:
                x = self.downsample(x)
            outputs += d(x)
        return outputs


class _SameConvBlock(nn.Sequential):
    """4x4 conv with TensorFlow 'SAME' zero padding, no bias -> affine instance norm -> LeakyReLU(0.2)."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__(SameConv2d(in_channels, out_channels, 4, stride, bias=False),
                         nn.InstanceNorm2d(out_channels, affine=True), nn.LeakyReLU(0.2, True))


class TwoPathDiscriminator(_DiscriminatorSegment, nn.Module):
    """One discriminator of the official AU-GAN code (models.py `discriminator` with n_scale 2).

    Two paths, p0 and p1, start from the image at full size and at half size (`x[::2, ::2]`, what
    TensorFlow's resize_bicubic without half-pixel centres gives) and cross at each of 4 levels
    (width ndf, 2ndf, 4ndf, 8ndf): the new p0 is one stride-1 block (`one_step`) on the old p1, the
    new p1 two stride-2 blocks (`two_steps`) on the old p0. Each ends in a 4x4 stride-1 conv to one
    channel: patch maps at H/16 and H/32 (16x32 and 8x16 for a 256x512 image).
    """

    def __init__(self, input_nc, ndf):
        super().__init__()
        widths = [ndf * 2 ** i for i in range(4)]
        pairs = list(zip([input_nc] + widths[:-1], widths))
        self.one_step = nn.ModuleList(_SameConvBlock(c_in, c_out, 1) for c_in, c_out in pairs)
        self.two_steps = nn.ModuleList(nn.Sequential(_SameConvBlock(c_in, c_out, 2), _SameConvBlock(c_out, c_out, 2))
                                       for c_in, c_out in pairs)
        self.pred = nn.ModuleList(SameConv2d(widths[-1], 1, 4, bias=False) for _ in range(2))

    def _forward(self, x):
        # p0 and p1 are the official code's images[0] and images[1]: at each level each path
        # continues from the other's previous output
        p0, p1 = x, x[:, :, ::2, ::2]
        for one_step, two_steps in zip(self.one_step, self.two_steps):
            p0, p1 = one_step(p1), two_steps(p0)
        return [self.pred[0](p0), self.pred[1](p1)]


@persistent
class AUGANDiscriminator(nn.Module):
    """The official AU-GAN discriminators of one domain: `n_d` independent TwoPathDiscriminators,
    each ndf / n_d wide (the official n_d = 2, ndf = 64: 32 each, 2,783,040 parameters each for RGB).

    Returns the 2 * n_d patch maps, which GANLoss averages. The official generator loss instead
    sums over the discriminators the mean over their two maps, n_d times this average: use
    `--lambda_gan n_d` (what `--preset official` sets) for its weight. Its discriminator loss is the
    same sum; Adam's updates do not depend on that constant factor.
    """

    def __init__(self, input_nc, ndf=64, n_d=2):
        super().__init__()
        if ndf % n_d:
            raise UserError(f'--ndf {ndf} must be a multiple of the {n_d} discriminators of --netD augan')
        self.discriminators = nn.ModuleList(TwoPathDiscriminator(input_nc, ndf // n_d) for _ in range(n_d))

    def forward(self, x):
        h, w = x.shape[-2:]
        if min(h, w) < 32 or h * w < 2048:
            raise UserError(f'a {h}x{w} image is too small for --netD augan (its last maps are 32 times smaller '
                            f'and need 2 pixels): use crops of at least 32x64 px (--crop_size)')
        return [out for d in self.discriminators for out in d(x)]


def check_input_size(netD, n_layers_D, height, width, flag='--crop_size'):
    """A one-line UserError when images of height x width are too small for the `--netD`
    discriminator (checked at start-up, before any data is read; the networks check again)."""
    size = f'{height}' if height == width else f'{height}x{width}'
    if netD == 'augan':
        if min(height, width) < 32 or height * width < 2048:
            raise UserError(f'{flag} {size} is too small for --netD augan (its last maps are 32 times '
                            f'smaller and need 2 pixels): use crops of at least 32x64 px')
        return
    n_layers = 3 if netD == 'basic' else n_layers_D
    scales = int(netD[2:]) if re.fullmatch(r'ms[1-9]\d*', netD) else 1
    side = min(height, width)
    for scale in range(scales):
        if side >> n_layers < 3:
            raise UserError(f'{flag} {size} is too small for --netD {netD}: its scale {scale + 1} sees '
                            f'{side} px a side and a {n_layers}-layer PatchGAN needs {3 << n_layers}: use larger '
                            f'crops, a smaller --n_layers_D, or fewer scales')
        side = -(-side // 2)  # the next scale's 3x3 stride-2 average pooling


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Which discriminator judges a domain and how wide it is. Each field is the flag of its name
    (util/config.py); --norm is the base options' (the generators have it too)."""
    ndf: int = flag(64, 'discriminator filters in the first conv layer')
    netD: str = flag('basic', 'discriminator: basic (70x70 PatchGAN) | n_layers | msN (N-scale PatchGAN, e.g. ms3) | '
                              'augan (the official AU-GAN pair of two-path discriminators, ndf/2 wide each)')
    n_layers_D: int = flag(3, 'layers of a PatchGAN when netD is n_layers or msN')
    norm: str = 'instance'


def define_D(input_nc, config=DiscriminatorConfig(), init_type='normal', init_gain=0.02):
    """Build the discriminator that `config.netD` names (basic | n_layers | msN | augan), initialised."""
    ndf, netD, n_layers_D, norm = config.ndf, config.netD, config.n_layers_D, config.norm
    if netD == 'augan':
        net = AUGANDiscriminator(input_nc, ndf)
    elif netD == 'basic':
        net = NLayerDiscriminator(input_nc, ndf, 3, norm)
    elif netD == 'n_layers':
        net = NLayerDiscriminator(input_nc, ndf, n_layers_D, norm)
    elif re.fullmatch(r'ms[1-9]\d*', netD):
        net = MultiscaleDiscriminator(input_nc, ndf, n_layers_D, norm, int(netD[2:]))
    else:
        raise UserError(f'unknown --netD {netD!r}: use basic, n_layers, msN (e.g. ms3 for 3 scales) or augan')
    return init_weights(net, init_type, init_gain)


@persistent
class DomainClassifier(_DiscriminatorSegment, nn.Module):
    """ForkGAN's domain-agnostic classifier: from an encoding (N, C, h, w) to two logits (N, 2),
    "comes from domain A" and "comes from domain B". Three 4x4 stride-2 conv + instance norm +
    LeakyReLU layers (2*ndf, ndf, ndf channels: the official code's ndf/2 per-discriminator width
    times 4, 2, 2), then a 4x4 conv to the logits, averaged over positions."""

    def __init__(self, in_channels, ndf=64):
        super().__init__()
        layers, channels = [], in_channels
        for out in (2 * ndf, ndf, ndf):
            layers += [nn.Conv2d(channels, out, 4, stride=2, padding=1), nn.InstanceNorm2d(out), nn.LeakyReLU(0.2, True)]
            channels = out
        # TensorFlow's 'SAME' for an even kernel: one more row/column of padding after than before
        layers += [nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(channels, 2, 4)]
        self.model = nn.Sequential(*layers)

    def _forward(self, enc):
        if min(enc.shape[-2:]) < 16:
            raise UserError(f'an encoding of {enc.shape[-2]}x{enc.shape[-1]} is too small for the domain classifier: '
                            f'use crops of at least 64 px (--crop_size)')
        return self.model(enc).mean(dim=(2, 3))
