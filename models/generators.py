"""Generators. The fork generator (one encoder, a translation decoder and a reconstruction
decoder) is ForkGAN's; AU-GAN adds a feature transfer network (T-net) and an uncertainty head
to the A->B generator only.

Every generator takes a batch of images whose height and width are multiples of 4 and returns
translations of exactly that size.
"""
from dataclasses import dataclass
from typing import NamedTuple, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from util.config import at_least, flag
from util.errors import UserError
from .layers import (FILTERS, Blur, Checkpointable, ConvBlock, GaussianNoise, ResidualBlock, UpBlock, chain, conv2d, norm_layer,
                     recompute)
from .persistence import persistent

UPSAMPLE_MODES = ('bilinear', 'nearest', 'transposed')
ANTIALIAS_HELP = ('anti-aliased generator: a fixed binomial low-pass before every stride-2 conv and after every x2 '
                  'upsampling (docs/models.md)')
ANTIALIAS_TAPS_HELP = ("taps of --antialias's low-pass per axis: 11 (a half-band windowed sinc, flat below its cut-off), "
                       "5 or 3 (the binomials [1, 4, 6, 4, 1] and [1, 2, 1])")
ANTIALIAS_AT_HELP = ("where --antialias filters: both (before the stride-2 convs and after the x2 upsamplings), "
                     "down (before the stride-2 convs only) or up (after the upsamplings only)")
ANTIALIAS_SIDES = ('both', 'down', 'up')


def blur_taps(antialias, taps, at, side):
    """The taps of --antialias's filters on `side` ('down' or 'up') of a generator, 0 for none."""
    return taps if antialias and at in ('both', side) else 0


@dataclass(frozen=True)
class ForkGeneratorConfig:
    """How a fork generator is built. Each field is the flag of its name (util/config.py), the
    checkpoint stores them all, and `--preset official` is one of these (options/presets.py).

    The last four choose the layers' details: the project's, or the official TensorFlow code's
    (affine instance norms, zero-padded blocks, TensorFlow 'SAME' strides, no output biases).
    """
    ngf: int = 64             # --ngf and --norm: the base options' (every network has them)
    norm: str = 'instance'
    n_blocks_enc: int = flag(4, 'residual blocks in each encoder', parse=at_least(0))
    n_blocks_dec: int = flag(4, 'residual blocks in each decoder', parse=at_least(0))
    dilation: int = flag(2, 'dilation of the encoder/decoder residual blocks (a T-net is never dilated)',
                         parse=at_least(1))
    upsample: str = flag('bilinear', 'decoder upsampling: bilinear/nearest + conv, or a transposed conv',
                         UPSAMPLE_MODES)
    noise_std: float = flag(0.02, 'std of the decoder noise while training')
    noise_on: str = flag('rec', 'which decoder gets the noise: the reconstruction one (official ForkGAN/AU-GAN) '
                                'or the translation one (the earlier PyTorch port)', ('rec', 'translation'))
    affine_norm: bool = flag(False, 'instance norms with a learned scale and offset per channel (the official code)')
    block_padding: str = flag('reflect', "padding of the residual blocks and T-net: reflect, or zeros (the official "
                                         "'SAME')", ('reflect', 'zeros'))
    tf_padding: bool = flag(False, "stride-2 convs and transposed convs aligned as TensorFlow's 'SAME' (pad after, "
                                   "not around): the official code's geometry, needed for its weights")
    no_output_bias: bool = flag(False, 'no bias in the 7x7 output convs (the official code has none anywhere)')
    input_skip: bool = flag(False, "the translation decoder's 7x7 output conv also reads the input image: what the "
                                   "input shows needs not pass through the H/4 code")
    antialias: bool = flag(False, ANTIALIAS_HELP)
    antialias_taps: int = flag(11, ANTIALIAS_TAPS_HELP, tuple(FILTERS))
    antialias_at: str = flag('both', ANTIALIAS_AT_HELP, ANTIALIAS_SIDES)
    skip_refine: bool = flag(False, "with --input_skip: a 3x3 conv block at full size over [the translation decoder's "
                                    "upsampled features, the input image], added to the features before the output "
                                    "conv: the input's detail through a nonlinearity, with no stride to alias")

    def blur_taps(self, side):
        """The taps of the filters on `side` ('down' or 'up'), 0 where there are none."""
        return blur_taps(self.antialias, self.antialias_taps, self.antialias_at, side)

    def conv(self, in_channels, out_channels, kernel_size, stride=1, padding=0, padding_mode='zeros'):
        if self.tf_padding and stride > 1:
            padding = 'same_tf'
        return ConvBlock(in_channels, out_channels, kernel_size, stride, padding, norm=self.norm,
                         padding_mode=padding_mode, affine=self.affine_norm, blur_taps=self.blur_taps('down'))

    def block(self, channels, dilation):
        return ResidualBlock(channels, self.norm, dilation, self.block_padding, self.affine_norm)

    def up(self, in_channels, out_channels):
        return UpBlock(in_channels, out_channels, self.norm, self.upsample, affine=self.affine_norm,
                       tf_same=self.tf_padding, blur_taps=self.blur_taps('up'))

    def output(self, in_channels, out_channels, activation=None):
        return output_layer(in_channels, out_channels, not self.no_output_bias, activation)


def blur_min_size(taps):
    """The smallest generator input with Blurs of `taps` taps (0: none, 4 px): a multiple of 4 whose
    H/2 maps have more than taps // 2 px to reflect-pad, and at least 8 (as with 5 taps)."""
    return max(8, -(-2 * (taps // 2 + 1) // 4) * 4) if taps else 4


def check_size(x, min_size):
    h, w = x.shape[-2:]
    if h % 4 or w % 4 or min(h, w) < min_size:
        raise UserError(f'a generator input of {h}x{w} px is not allowed: height and width must be multiples of 4 '
                        f'and at least {min_size} (the data pipeline rounds sizes; raise --load_size/--crop_size)')


class GeneratorOutput(NamedTuple):
    fake: torch.Tensor                # translation into the other domain
    rec: Optional[torch.Tensor]       # reconstruction of the input (same domain)
    sigma: Optional[torch.Tensor]     # per-pixel uncertainty, (N, 1, H, W), >= 0
    enc: torch.Tensor                 # encoder output
    code: torch.Tensor                # what the translation decoder reads: T(enc) with a T-net, else enc
    # generalized Gaussian heads only: the (scale, shape) maps sigma is made of (losses.gen_gaussian_nll)
    sigma_params: Optional[tuple] = None


# Floors of the generalized Gaussian's scale and shape: a shape near 0 would send lgamma(3 / shape) to
# infinity, a scale of 0 divides by zero.
MIN_SCALE, MIN_SHAPE = 1e-3, 0.1


def gen_gaussian_std(scale, shape):
    """The standard deviation of a generalized Gaussian: scale * sqrt(Γ(3/shape) / Γ(1/shape)),
    computed in log space (Γ overflows for small shapes)."""
    return torch.exp(torch.log(scale) + 0.5 * (torch.lgamma(3 / shape) - torch.lgamma(1 / shape)))


class Encoder(Checkpointable, nn.Sequential):
    """7x7 conv, two stride-2 convs (to 4*ngf channels at H/4), then residual blocks.

    Checkpointing segments: the 7x7 conv with the first stride-2 conv (so that the full-size
    ngf-channel map between them is never kept), the second stride-2 conv, each residual block.
    """

    def __init__(self, input_nc, config):
        ngf = config.ngf
        layers = [config.conv(input_nc, ngf, 7, padding=3, padding_mode='reflect'),
                  config.conv(ngf, 2 * ngf, 3, stride=2, padding=1),
                  config.conv(2 * ngf, 4 * ngf, 3, stride=2, padding=1)]
        layers += [config.block(4 * ngf, config.dilation) for _ in range(config.n_blocks_enc)]
        super().__init__(*layers)

    def forward(self, x):
        if not self.checkpointing:
            return super().forward(x)
        x = recompute(self, chain(self[0], self[1]), x)
        x = recompute(self, self[2], x)
        for block in list(self)[3:]:
            x = recompute(self, block, x, block=True)
        return x


def output_layer(in_channels, out_channels, bias=True, activation=None):
    # A plain conv: the image is formed here, so no normalisation or demodulation.
    return nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(in_channels, out_channels, 7, bias=bias),
                         activation or nn.Tanh())


class JoinBlock(Checkpointable, nn.Sequential):
    """A residual block over the concatenation [encoding, T-net output] (2C channels), then a 3x3
    conv block back to C: the first translation block of G_A in the first upload of the official
    AU-GAN code (commit 953bdad, variables g_r6_* and g_r6_down_c)."""

    def __init__(self, channels, config):
        super().__init__(config.block(2 * channels, 1),
                         config.conv(2 * channels, channels, 3, padding=1, padding_mode=config.block_padding))

    def forward(self, x):
        return recompute(self, super().forward, x, block=True)


class Decoder(Checkpointable, nn.Module):
    """Residual blocks, then two x2 upsample+conv stages and a 7x7 conv to an image in [-1, 1].

    With `noise_std > 0` (the decoder --noise_on names: the reconstruction one by default)
    Gaussian noise is added to its input and after its first residual block during training.
    With `join`, the input is [encoding, T-net output] and the first block is a JoinBlock.

    With `skip_nc` > 0 the 7x7 output conv reads [upsampled features, skip], where skip is an image
    of skip_nc channels at full size (the generator's input, with --input_skip). With
    `config.skip_refine` too, the features first get f + (conv3x3 -> norm -> ReLU)([f, skip]): at
    full size and stride 1, the one place where the decoder can draw the input's fine detail
    without aliasing it (docs/models.md).

    Checkpointing segments: each residual block, the first upsampling stage, and the second with
    the 7x7 output conv (one segment, so that the full-size ngf-channel map between them is never
    kept). The noise is added between segments.
    """

    def __init__(self, output_nc, config, noise_std=0.0, join=False, skip_nc=0):
        super().__init__()
        ngf = config.ngf
        self.noise = GaussianNoise(noise_std)
        blocks = [config.block(4 * ngf, config.dilation) for _ in range(config.n_blocks_dec)]
        if join:
            blocks[0] = JoinBlock(4 * ngf, config)
        self.blocks = nn.ModuleList(blocks)
        self.up1 = config.up(4 * ngf, 2 * ngf)
        self.up2 = config.up(2 * ngf, ngf)
        self.refine = (ConvBlock(ngf + skip_nc, ngf, 3, padding=1, norm=config.norm, padding_mode='reflect',
                                 affine=config.affine_norm) if skip_nc and config.skip_refine else None)
        self.out = config.output(ngf + skip_nc, output_nc)

    def forward(self, x, return_features=False, skip=None):
        x = self.noise(x)
        for i, block in enumerate(self.blocks):
            x = recompute(self, block, x, block=True)
            if i == 0:
                x = self.noise(x)
        features = recompute(self, self.up1, x)  # (N, 2*ngf, H/2, W/2): where the uncertainty head branches off
        if skip is None:
            image = recompute(self, chain(self.up2, self.out), features)
        else:
            image = recompute(self, self.skip_stage, features, skip)
        return (image, features) if return_features else image

    def skip_stage(self, features, skip):
        """The second upsampling, --skip_refine's block and the output conv, reading `skip` too."""
        skip = skip.to(features.dtype)
        x = self.up2(features)
        if self.refine is not None:  # the ConvBlock (conv, norm, ReLU), its conv split as skip_output's
            conv, norm, act = self.refine
            x = x + act(norm(conv_over_parts(conv, [x, skip])))
        return skip_output(self.out, x, skip)


def conv_over_parts(conv, parts):
    """`conv` (an nn.Conv2d, its own padding mode) over the channel concatenation of `parts`, as
    one convolution per part over its slice of the one weight: conv(cat(f, s), W) = conv(f, W_f) +
    conv(s, W_s). The same computation and the same parameters, but a conv over ngf + 3 channels
    misses the CPU's blocked kernels: the 7x7 output conv over [features, input] cost the input
    skip 8% of an au_gan step at width 16 (benchmarks/benchmark.py --versus); split, about 2%. A
    demodulated conv (--norm none) normalises its weight over all input channels: it gets the
    concatenation."""
    if not isinstance(conv, nn.Conv2d):
        return conv(torch.cat(parts, 1))
    out, start = None, 0
    for part in parts:
        weight = conv.weight[:, start:start + part.shape[1]]
        start += part.shape[1]
        y = conv._conv_forward(part, weight, conv.bias if out is None else None)
        out = y if out is None else out + y
    return out


def skip_output(out, features, skip):
    """`out` (an output_layer) applied to [features, skip] (`conv_over_parts`)."""
    pad, conv, activation = out
    return activation(conv_over_parts(conv, [pad(features), pad(skip)]))


class UncertaintyHead(Checkpointable, nn.Sequential):
    """From the decoder's H/2 features to non-negative per-pixel maps at full size: sigma, or (with
    `channels` 2) a generalized Gaussian's scale and shape. One checkpointing segment."""

    def __init__(self, config, channels=1):
        super().__init__(config.up(2 * config.ngf, config.ngf), *config.output(config.ngf, channels, nn.Softplus()))

    def forward(self, x):
        return recompute(self, super().forward, x)


@persistent
class ForkGenerator(nn.Module):
    """Encoder -> [T-net] -> translation decoder, plus a reconstruction decoder on the encoding
    before the T-net and, optionally, an uncertainty head on the translation decoder.

    `config` says how it is built (ForkGeneratorConfig); the rest is AU-GAN's, for G_A:
    `n_blocks_T` residual blocks of T-net, `uncertainty` a sigma head, and `t_net_concat` feeds the
    translation decoder [encoding, T(encoding)] through a JoinBlock, as the first upload of the
    official AU-GAN code does. With `gen_gaussian` the head predicts a generalized Gaussian's scale
    and shape per pixel (UGAC, Upadhyay et al. 2021), and sigma is that distribution's standard
    deviation.
    """

    def __init__(self, input_nc, output_nc, config: ForkGeneratorConfig = ForkGeneratorConfig(), n_blocks_T=0,
                 t_net_concat=False, uncertainty=False, gen_gaussian=False):
        super().__init__()
        if t_net_concat and not n_blocks_T:
            raise UserError('--t_net_concat needs a T-net (--n_blocks_T at least 1)')
        if config.skip_refine and not config.input_skip:
            raise UserError('--skip_refine needs --input_skip (the input image it reads): add --no_skip_refine, or drop '
                            '--no_input_skip')
        # reflect padding needs more than `dilation` px at H/4, and a Blur more than taps // 2 at H/2
        self.min_size = max(4 * (max(config.dilation, 1) + 1), blur_min_size(config.antialias and config.antialias_taps))
        self.encoder = Encoder(input_nc, config)
        # The T-net's blocks are deliberately not dilated.
        channels = 4 * config.ngf
        self.t_net = nn.Sequential(*[config.block(channels, 1) for _ in range(n_blocks_T)]) if n_blocks_T else None
        self.t_net_concat = t_net_concat
        noisy = {'rec': (0.0, config.noise_std), 'translation': (config.noise_std, 0.0)}[config.noise_on]
        self.decoder = Decoder(output_nc, config, noisy[0], join=t_net_concat,
                               skip_nc=input_nc if config.input_skip else 0)
        self.input_skip = config.input_skip
        self.rec_decoder = Decoder(input_nc, config, noisy[1])
        if gen_gaussian and not uncertainty:
            raise UserError('a generalized Gaussian uncertainty needs an uncertainty head')
        self.gen_gaussian = gen_gaussian
        self.sigma_head = UncertaintyHead(config, 2 if gen_gaussian else 1) if uncertainty else None

    def forward(self, x, reconstruct=True, uncertainty=True):
        """Translate `x`; the reconstruction and sigma are skipped when not asked for (the cycle
        passes need neither)."""
        check_size(x, self.min_size)
        enc = self.encoder(x)
        code = self.t_net(enc) if self.t_net is not None else enc
        want_sigma = uncertainty and self.sigma_head is not None
        fake, features = self.decoder(torch.cat([enc, code], 1) if self.t_net_concat else code, return_features=True,
                                      skip=x if self.input_skip else None)
        sigma = self.sigma_head(features) if want_sigma else None
        params = None
        if sigma is not None and self.gen_gaussian:
            params = (sigma[:, :1].float() + MIN_SCALE, sigma[:, 1:].float() + MIN_SHAPE)
            sigma = gen_gaussian_std(*params)
        rec = self.rec_decoder(enc) if reconstruct else None
        return GeneratorOutput(fake, rec, sigma, enc, code, params)

    def translate(self, x):
        """The one-image-in, one-image-out interface used by test and conversion tools."""
        return self.forward(x, reconstruct=False, uncertainty=False).fake


class ResnetBlock(Checkpointable, nn.Module):
    """CycleGAN's residual block: reflect-pad, conv3x3, norm, ReLU, [dropout], reflect-pad, conv3x3, norm.
    One checkpointing segment (a dropout in it draws the same mask when recomputed)."""

    def __init__(self, channels, norm, bias, use_dropout):
        super().__init__()
        demod = norm == 'none'
        layers = [nn.ReflectionPad2d(1), conv2d(channels, channels, 3, bias=bias, demod=demod), norm_layer(norm, channels),
                  nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), conv2d(channels, channels, 3, bias=bias, demod=demod), norm_layer(norm, channels)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return recompute(self, self._forward, x, block=True)

    def _forward(self, x):
        return x + self.body(x)


@persistent
class ResnetGenerator(Checkpointable, nn.Module):
    """CycleGAN's ResNet generator (Johnson et al.'s style-transfer network): c7s1-ngf, two stride-2
    downsamplings, `n_blocks` residual blocks, two transposed-conv upsamplings, c7s1-output, tanh.
    Layer for layer the reference CycleGAN code's `resnet_9blocks`/`resnet_6blocks`, so parameter
    counts and checkpoints' shapes match it (bias in every conv unless the norm is batch norm).

    Checkpointing segments (one flat nn.Sequential, as the reference's, cut into runs of layers):
    the 7x7 stem with the first downsampling, the second downsampling, each residual block, the
    first upsampling, the second with the output conv.

    With `antialias` (--antialias) each stride-2 conv is preceded by a fixed low-pass `Blur` of
    `antialias_taps` taps and each transposed conv followed by one (`antialias_at`: both, or
    one side only), as in the fork generator (models/layers.py).
    """

    def __init__(self, input_nc, output_nc, ngf=64, norm='instance', n_blocks=9, use_dropout=False, antialias=False,
                 antialias_taps=11, antialias_at='both'):
        super().__init__()
        bias = norm != 'batch'
        demod = norm == 'none'
        layers = [nn.ReflectionPad2d(3), conv2d(input_nc, ngf, 7, bias=bias, demod=demod), norm_layer(norm, ngf),
                  nn.ReLU(True)]
        down, up = (blur_taps(antialias, antialias_taps, antialias_at, side) for side in ('down', 'up'))
        ends = []  # where each downsampling stage ends in `layers`
        for mult in (1, 2):
            layers += [Blur(ngf * mult, down)] if down else []
            layers += [conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias, demod=demod),
                       norm_layer(norm, ngf * mult * 2), nn.ReLU(True)]
            ends.append(len(layers))
        layers += [ResnetBlock(ngf * 4, norm, bias, use_dropout) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers.append(UpBlock(ngf * mult, ngf * mult // 2, norm, 'transposed', bias=bias, blur_taps=up))
        layers += [output_layer(ngf, output_nc)]
        self.model = nn.Sequential(*layers)
        self.min_size = blur_min_size(antialias and antialias_taps)
        # [start, end) of each checkpointing segment in self.model: stem + downsampling, downsampling,
        # the blocks one by one, the first upsampling, the second upsampling + output conv
        n = len(layers)
        self.segments = [(0, ends[0]), (ends[0], ends[1])] + [(i, i + 1) for i in range(ends[1], n - 2)] + [(n - 2, n)]

    def forward(self, x, reconstruct=False, uncertainty=False):
        check_size(x, self.min_size)
        if not self.checkpointing:
            return GeneratorOutput(self.model(x), None, None, None, None)
        for start, end in self.segments:
            x = recompute(self, chain(*self.model[start:end]), x, block=isinstance(self.model[start], ResnetBlock))
        return GeneratorOutput(x, None, None, None, None)

    def translate(self, x):
        return self.forward(x).fake


RESNET_BLOCKS = {'resnet_9blocks': 9, 'resnet_6blocks': 6}


@dataclass(frozen=True)
class ResnetGeneratorConfig:
    """CycleGAN's generator, as its flags give it (util/config.py). --ngf and --norm are the base
    options'; --no_dropout is cycle_gan's own switch, on by default as in the reference code (so
    not a flag field: a switch made from a field is off by default)."""
    netG: str = flag('resnet_9blocks', 'generator architecture', tuple(RESNET_BLOCKS))
    ngf: int = 64
    norm: str = 'instance'
    no_dropout: bool = True
    antialias: bool = flag(False, ANTIALIAS_HELP)
    antialias_taps: int = flag(11, ANTIALIAS_TAPS_HELP, tuple(FILTERS))
    antialias_at: str = flag('both', ANTIALIAS_AT_HELP, ANTIALIAS_SIDES)


def define_resnet_generator(input_nc, output_nc, config=ResnetGeneratorConfig()):
    """The ResNet generator that `config` describes (its file records n_blocks and use_dropout)."""
    if config.netG not in RESNET_BLOCKS:
        raise UserError(f'unknown --netG {config.netG!r}: use resnet_9blocks or resnet_6blocks')
    return ResnetGenerator(input_nc, output_nc, config.ngf, config.norm, RESNET_BLOCKS[config.netG],
                           not config.no_dropout, config.antialias, config.antialias_taps,
                           config.antialias_at)
