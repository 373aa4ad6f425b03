"""Building blocks shared by every network: convolutions (plain or demodulated), normalisation,
residual and upsampling blocks, noise, and weight initialisation."""
import torch
import torch.nn as nn
import torch.nn.functional as F


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


def conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
           padding_mode='zeros', bias=True, demod=False):
    """An nn.Conv2d, or a DemodConv2d when `demod` (the `--norm none` generators)."""
    cls = DemodConv2d if demod else nn.Conv2d
    return cls(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
               dilation=dilation, padding_mode=padding_mode, bias=bias)


def norm_layer(norm, channels):
    if norm == 'instance':
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == 'batch':
        return nn.BatchNorm2d(channels, affine=True)
    if norm == 'none':
        return nn.Identity()
    raise ValueError(f'unknown norm {norm!r}: use instance, batch or none')


class ConvBlock(nn.Sequential):
    """conv -> norm -> activation, with demodulated convs standing in for the norm when norm='none'."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 norm='instance', padding_mode='zeros', act=True):
        # A bias right before a normalisation is cancelled by it: only demodulated convs keep one.
        layers = [conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, padding_mode,
                         bias=norm == 'none', demod=norm == 'none'),
                  norm_layer(norm, out_channels)]
        if act:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """x + (conv3x3 -> norm -> ReLU -> conv3x3 -> norm)(x), size-preserving reflect padding."""

    def __init__(self, channels, norm='instance', dilation=1):
        super().__init__()
        self.body = nn.Sequential(
            ConvBlock(channels, channels, 3, padding=dilation, dilation=dilation, norm=norm, padding_mode='reflect'),
            ConvBlock(channels, channels, 3, padding=dilation, dilation=dilation, norm=norm, padding_mode='reflect',
                      act=False))

    def forward(self, x):
        return x + self.body(x)


class UpBlock(nn.Sequential):
    """x2 upsampling then a 3x3 conv block ('bilinear', 'nearest': no checkerboard artifacts), or a
    stride-2 transposed conv block ('transposed', as in the original ForkGAN and CycleGAN code)."""

    def __init__(self, in_channels, out_channels, norm='instance', mode='bilinear', bias=None):
        if mode == 'transposed':
            bias = norm == 'none' if bias is None else bias
            super().__init__(nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1,
                                                bias=bias),
                             norm_layer(norm, out_channels), nn.ReLU(inplace=True))
            return
        up = nn.Upsample(scale_factor=2, mode=mode, align_corners=False if mode == 'bilinear' else None)
        super().__init__(up, ConvBlock(in_channels, out_channels, 3, padding=1, norm=norm, padding_mode='reflect'))


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
    """Initialise conv and linear weights (and batch-norm scales) as in pix2pix/CycleGAN."""

    def init_fn(m):
        weight = getattr(m, 'weight', None)
        if isinstance(m, (nn.Conv2d, nn.Linear, DemodConv2d)) and weight is not None:
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
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, init_gain)
            nn.init.zeros_(m.bias)

    net.apply(init_fn)
    return net


def count_parameters(net):
    return sum(p.numel() for p in net.parameters())
