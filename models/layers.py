"""Building blocks shared by every network: convolutions (plain, demodulated, or padded as
TensorFlow's 'SAME'), normalisation, residual and upsampling blocks, noise, weight
initialisation, activation checkpointing (`set_checkpointing`), and the fixed low-pass filter of
the anti-aliased generators (`Blur`, `--antialias`)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint


class Checkpointable:
    """A module that can recompute its activations in the backward pass instead of keeping them.

    Mixed into an nn.Module whose forward runs its work through `recompute(self, fn, *args)`:
    each such call is one segment. While `checkpointing` is off (the default) a segment runs
    as a plain call; on, autograd keeps only the segment's inputs and runs it again during the
    backward pass (torch.utils.checkpoint, non-reentrant). The switch is an attribute, not a
    constructor argument: it changes neither the weights nor the checkpoints' descriptions, so
    runs with and without it load each other's files. Turn it on with `set_checkpointing`.

    A segment that is a residual block (`block=True`) is recomputed only when
    `checkpoint_blocks` is on too: the blocks work at a quarter of the image's height and width,
    where activations are cheapest to keep for the compute they take (level 'stages' keeps them).
    """
    checkpointing = False
    checkpoint_blocks = True


def recompute(owner, fn, *args, block=False):
    """fn(*args), as a checkpointed segment when `owner.checkpointing` is on (and, for a residual
    block, `owner.checkpoint_blocks`) and autograd records.

    The recomputation runs under the autocast state of the first run and with the random
    generators (CPU and the inputs' device) restored to their state before it, so noise and
    dropout draw the same values twice; afterwards the generators are where the first run left
    them: the run's later draws are those of a run without checkpointing.
    """
    if (owner.checkpointing and (owner.checkpoint_blocks or not block) and torch.is_grad_enabled()
            and not torch.is_inference_mode_enabled()):
        return checkpoint(fn, *args, use_reentrant=False, preserve_rng_state=True)
    return fn(*args)


def chain(*modules):
    """One function applying `modules` in order: a segment of several layers."""
    def run(x):
        for m in modules:
            x = m(x)
        return x
    return run


CHECKPOINT_LEVELS = ('stages', 'all')


def set_checkpointing(net, level='all'):
    """Set activation checkpointing in `net`: None or False (off), 'stages' (every segment but the
    residual blocks: the full- and half-size stages of the generators, and the discriminators
    where a gradient goes through them) or 'all' (True: the residual blocks too). Returns how
    many modules now recompute.

    Only the outermost Checkpointable modules are switched on: one inside another that is on
    stays off (its parent's segments already cover it, and nested segments would run it a third
    time). Works on a network wrapped by DDP or torch.compile (their modules are the network's).
    """
    if level is True:
        level = 'all'
    if level and level not in CHECKPOINT_LEVELS:
        raise ValueError(f'unknown checkpointing level {level!r}: use one of {CHECKPOINT_LEVELS}')
    enabled = bool(level)
    count = 0

    def visit(module, covered):
        nonlocal count
        unit = isinstance(module, Checkpointable)
        if unit:
            module.checkpointing = enabled and not covered
            module.checkpoint_blocks = level == 'all'
            count += module.checkpointing
        for child in module.children():
            visit(child, covered or (unit and module.checkpointing))

    visit(net, False)
    return count


class DemodConv2d(nn.Module):
    """A convolution whose filters are each scaled to unit L2 norm (StyleGAN2's demodulation
    without a style input), used in place of conv + InstanceNorm with `--norm none`.

    Without a per-sample style the demodulation is the same for every sample, so it is done on
    the weight once and the whole batch goes through one ordinary conv2d call.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 padding_mode='zeros', bias=True, eps=1e-8):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.padding_mode, self.eps = padding_mode, eps

    def demodulated_weight(self):
        w = self.weight
        return w * torch.rsqrt(w.pow(2).sum(dim=(1, 2, 3), keepdim=True) + self.eps)

    def forward(self, x):
        padding = self.padding
        if self.padding_mode != 'zeros' and padding:
            x = F.pad(x, (padding,) * 4, mode=self.padding_mode)
            padding = 0
        return F.conv2d(x, self.demodulated_weight(), self.bias, self.stride, padding, self.dilation)

    def extra_repr(self):
        o, i, k, _ = self.weight.shape
        return f'{i}, {o}, kernel_size={k}, stride={self.stride}, padding={self.padding}, dilation={self.dilation}'


def tf_same_padding(size, kernel_size, stride, dilation=1):
    """(before, after) zero padding of one axis of `size` pixels under TensorFlow's 'SAME': the
    output has ceil(size / stride) pixels and the odd pixel of padding goes after."""
    extent = (kernel_size - 1) * dilation + 1
    total = max((-(-size // stride) - 1) * stride + extent - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """A convolution padded with zeros as TensorFlow's 'SAME' pads it (`tf.nn.conv2d`, slim's
    conv2d): the padding depends on the input size and is uneven for even kernels and strided
    convolutions (a 3x3 stride-2 conv on an even size pads 0 before and 1 after, where
    `padding=1` pads 1 on each side and so samples one pixel earlier)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, dilation=1, bias=True):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, dilation=dilation, bias=bias)

    def forward(self, x):
        (k, _), (s, _), (d, _) = self.kernel_size, self.stride, self.dilation
        top, bottom = tf_same_padding(x.shape[-2], k, s, d)
        left, right = tf_same_padding(x.shape[-1], k, s, d)
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


class SameConvTranspose2d(nn.ConvTranspose2d):
    """A stride-s transposed convolution aligned as TensorFlow's 'SAME' (`conv2d_transpose`):
    the output is exactly s times the input, cut from the full transposed convolution starting
    at the padding the matching 'SAME' convolution would put before. For a 3x3 stride-2 kernel
    that is the first 2H x 2W of the full output; `padding=1, output_padding=1` drops the first
    row and column instead, a one-pixel shift."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=2, bias=True):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, bias=bias)

    def forward(self, x):
        h, w = x.shape[-2] * self.stride[0], x.shape[-1] * self.stride[1]
        top, _ = tf_same_padding(h, self.kernel_size[0], self.stride[0])
        left, _ = tf_same_padding(w, self.kernel_size[1], self.stride[1])
        return super().forward(x)[..., top:top + h, left:left + w]


def conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
           padding_mode='zeros', bias=True, demod=False):
    """An nn.Conv2d, or a DemodConv2d when `demod` (the `--norm none` generators); `padding='same_tf'`
    gives a SameConv2d (TensorFlow's 'SAME' zero padding)."""
    if padding == 'same_tf':
        if demod:
            raise ValueError("TensorFlow 'SAME' padding is not available with demodulated convolutions")
        return SameConv2d(in_channels, out_channels, kernel_size, stride, dilation, bias)
    cls = DemodConv2d if demod else nn.Conv2d
    return cls(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
               dilation=dilation, padding_mode=padding_mode, bias=bias)


def norm_layer(norm, channels, affine=False):
    """'instance' (with a learned per-channel scale and offset when `affine`, as the official
    TensorFlow code of ForkGAN and AU-GAN has; eps 1e-5 either way), 'batch' or 'none'."""
    if norm == 'instance':
        return nn.InstanceNorm2d(channels, affine=affine, track_running_stats=False)
    if norm == 'batch':
        return nn.BatchNorm2d(channels, affine=True)
    if norm == 'none':
        return nn.Identity()
    raise ValueError(f'unknown norm {norm!r}: use instance, batch or none')


def halfband(taps, beta=5.0):
    """A half-band low-pass of `taps` (odd) taps: the ideal filter of cut-off 1/4 cycle/px,
    sin(pi n / 2) / (pi n), under a Kaiser window of `beta`, normalised to unit gain. Its response
    is 1/2 at 1/4 cycle/px and its even taps other than the centre are 0."""
    n = torch.arange(taps, dtype=torch.float64) - taps // 2
    h = 0.5 * torch.sinc(n / 2) * torch.kaiser_window(taps, periodic=False, beta=beta, dtype=torch.float64)
    return tuple(float(v) for v in h / h.sum())


# The low-pass filters of the anti-aliased generators, per axis, by their number of taps
# (--antialias_taps). 11: the half-band windowed sinc above (Kaiser beta 5; StyleGAN3's kind of
# filter), the default: its response is flat where the binomials' fall (0.99 at 0.1 cycle/px,
# 0.93 at 0.15) and 0.01 from 0.4 on. 5 and 3: the binomials [1, 4, 6, 4, 1] / 16 (Zhang's "Bin-5")
# and [1, 2, 1] / 4, responses cos^4(pi f) and cos^2(pi f) (0.63 and 0.79 at 0.15 cycle/px). All are
# symmetric with an odd length, so they move nothing by half a pixel, and (near) 0 at 1/2 cycle/px,
# the period-2 checkerboard. On the night task (two seeds, docs/results.md) the generator filtered
# with 11 taps kept 0.4-0.6 dB and 0.03-0.05 SSIM more than with 5; with binomials it painted
# ripples just below their cut-off.
FILTERS = {3: (1.0, 2.0, 1.0), 5: (1.0, 4.0, 6.0, 4.0, 1.0), 11: halfband(11)}


class Blur(nn.Module):
    """A fixed depthwise low-pass filter: each channel convolved with B = b b^T / (sum b)^2, b =
    FILTERS[taps], reflect-padded so that the size is kept (Zhang, "Making Convolutional Networks
    Shift-Invariant Again", ICML 2019). `--antialias` puts one before every stride-2 conv and after
    every x2 upsampling. B is separable, so it runs as a 1xK then a Kx1 depthwise conv (2K
    multiply-adds a value, not K^2).

    The filter is a buffer, not a parameter: no optimiser sees it and no initialisation touches it.
    It is not persistent (not in state_dict): it follows from the network's configuration, which
    the checkpoint records (`antialias`, `antialias_taps`), so the file carries the learned weights alone.
    """

    def __init__(self, channels, taps=11):
        super().__init__()
        b = torch.tensor(FILTERS[taps])
        b = b / b.sum()
        self.register_buffer('kernel', b.expand(channels, 1, 1, taps).clone(), persistent=False)
        self.channels, self.taps = channels, taps

    def forward(self, x):
        pad = self.taps // 2
        x = F.pad(x, (pad,) * 4, mode='reflect')
        k = self.kernel.to(x.dtype)
        return F.conv2d(F.conv2d(x, k, groups=self.channels), k.transpose(-2, -1), groups=self.channels)

    def extra_repr(self):
        kind = 'half-band sinc' if self.taps == 11 else 'binomial'
        return f'{self.channels}, {kind}, {self.taps} taps'


class ConvBlock(Checkpointable, nn.Sequential):
    """conv -> norm -> activation, with demodulated convs standing in for the norm when norm='none'.
    With `blur_taps` (a Blur's taps; 0, none: no filter) a strided conv is preceded by a `Blur`. A
    checkpointing segment of its own."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 norm='instance', padding_mode='zeros', act=True, affine=False, blur_taps=0):
        # A bias right before a normalisation is cancelled by it: only demodulated convs keep one.
        layers = [conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, padding_mode,
                         bias=norm == 'none', demod=norm == 'none'),
                  norm_layer(norm, out_channels, affine)]
        if blur_taps and stride > 1:
            # Blur, then the strided conv (not Zhang's conv at stride 1 -> norm -> ReLU -> blur +
            # subsample): the conv is linear, so blur-then-stride subsamples the same low-passed
            # signal as conv-blur-subsample would, and costs one depthwise 5x5 filter instead of the
            # conv at four times the positions. What is blurred is the previous layer's ReLU output, whose
            # harmonics are what would alias.
            layers.insert(0, Blur(in_channels, blur_taps))
        if act:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)

    def forward(self, x):
        return recompute(self, super().forward, x)


class ResidualBlock(Checkpointable, nn.Module):
    """x + (conv3x3 -> norm -> ReLU -> conv3x3 -> norm)(x), size-preserving padding: reflect, or
    zeros (`padding_mode='zeros'`, the official ForkGAN/AU-GAN code's 'SAME'). One checkpointing
    segment."""

    def __init__(self, channels, norm='instance', dilation=1, padding_mode='reflect', affine=False):
        super().__init__()
        conv = dict(padding=dilation, dilation=dilation, norm=norm, padding_mode=padding_mode, affine=affine)
        self.body = nn.Sequential(ConvBlock(channels, channels, 3, **conv), ConvBlock(channels, channels, 3, act=False, **conv))

    def forward(self, x):
        return recompute(self, self._forward, x, block=True)

    def _forward(self, x):
        return x + self.body(x)


class UpBlock(Checkpointable, nn.Sequential):
    """x2 upsampling then a 3x3 conv block ('bilinear', 'nearest': no checkerboard artifacts), or a
    stride-2 transposed conv block ('transposed', as in the original ForkGAN and CycleGAN code;
    with `tf_same`, aligned as TensorFlow's 'SAME', as the official ForkGAN/AU-GAN code is).
    With `blur_taps` (a Blur's taps; 0, none: no filter) a `Blur` follows the upsampling (the transposed conv, or the resize): it
    removes the copies of the half-size spectrum that the x2 upsampling puts near 1/2 cycle/px,
    while the transposed conv's learned upsampling stays. One checkpointing segment."""

    def __init__(self, in_channels, out_channels, norm='instance', mode='bilinear', bias=None, affine=False,
                 tf_same=False, blur_taps=0):
        if mode == 'transposed':
            bias = norm == 'none' if bias is None else bias
            up = (SameConvTranspose2d(in_channels, out_channels, 3, stride=2, bias=bias) if tf_same else
                  nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1, bias=bias))
            blur = [Blur(out_channels, blur_taps)] if blur_taps else []
            super().__init__(up, *blur, norm_layer(norm, out_channels, affine), nn.ReLU(inplace=True))
            return
        up = nn.Upsample(scale_factor=2, mode=mode, align_corners=False if mode == 'bilinear' else None)
        blur = [Blur(in_channels, blur_taps)] if blur_taps else []
        super().__init__(up, *blur, ConvBlock(in_channels, out_channels, 3, padding=1, norm=norm,
                                              padding_mode='reflect', affine=affine))

    def forward(self, x):
        return recompute(self, super().forward, x)


class GaussianNoise(nn.Module):
    """Adds N(0, std^2) noise while training; made on the tensor's own device."""

    def __init__(self, std):
        super().__init__()
        self.std = std

    def forward(self, x):
        if self.training and self.std > 0:
            return x + self.std * torch.randn_like(x)
        return x


def init_weights(net, init_type='normal', init_gain=0.02):
    """Initialise conv, transposed conv and linear weights (biases to zero) as in pix2pix/CycleGAN,
    and the scales of batch norms and affine instance norms as N(1, init_gain) with zero offsets."""

    def init_fn(m):
        weight = getattr(m, 'weight', None)
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, DemodConv2d)) and weight is not None:
            if init_type == 'normal':
                nn.init.normal_(weight, 0.0, init_gain)
            elif init_type == 'xavier':
                nn.init.xavier_normal_(weight, gain=init_gain)
            elif init_type == 'kaiming':
                nn.init.kaiming_normal_(weight, a=0, mode='fan_in')
            elif init_type == 'orthogonal':
                nn.init.orthogonal_(weight, gain=init_gain)
            else:
                raise ValueError(f'unknown init_type {init_type!r}')
            if getattr(m, 'bias', None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.affine:
            nn.init.normal_(m.weight, 1.0, init_gain)
            nn.init.zeros_(m.bias)

    net.apply(init_fn)
    return net


def count_parameters(net):
    return sum(p.numel() for p in net.parameters())
