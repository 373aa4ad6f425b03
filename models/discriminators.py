"""Discriminators: the PatchGAN of pix2pix/CycleGAN and its multiscale (pix2pixHD) form.

Every discriminator returns a list with one patch map per scale, so losses treat single- and
multi-scale discriminators alike.
"""
import re

import torch.nn as nn

from util.errors import UserError
from .layers import init_weights, norm_layer
from .persistence import persistent


@persistent
class NLayerDiscriminator(nn.Module):
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

    def forward(self, x):
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


def define_D(input_nc, ndf, netD, n_layers_D=3, norm='instance', init_type='normal', init_gain=0.02):
    """Build the discriminator named by `--netD`: basic | n_layers | msN."""
    if netD == 'basic':
        net = NLayerDiscriminator(input_nc, ndf, 3, norm)
    elif netD == 'n_layers':
        net = NLayerDiscriminator(input_nc, ndf, n_layers_D, norm)
    elif re.fullmatch(r'ms[1-9]\d*', netD):
        net = MultiscaleDiscriminator(input_nc, ndf, n_layers_D, norm, int(netD[2:]))
    else:
        raise UserError(f'unknown --netD {netD!r}: use basic, n_layers or msN (e.g. ms3 for 3 scales)')
    return init_weights(net, init_type, init_gain)


@persistent
class DomainClassifier(nn.Module):
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

    def forward(self, enc):
        if min(enc.shape[-2:]) < 16:
            raise UserError(f'an encoding of {enc.shape[-2]}x{enc.shape[-1]} is too small for the domain classifier: '
                            f'use crops of at least 64 px (--crop_size)')
        return self.model(enc).mean(dim=(2, 3))
