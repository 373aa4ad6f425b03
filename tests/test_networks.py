"""Unit tests of the networks and losses: shapes, the demodulated conv, multiscale D, the
uncertainty loss and where its gradient goes."""
import math

import pytest
import scipy.stats
import torch
import torch.nn.functional as F

from models.discriminators import DiscriminatorConfig, MultiscaleDiscriminator, NLayerDiscriminator, define_D
from models.generators import (MIN_SCALE, MIN_SHAPE, ForkGenerator, ForkGeneratorConfig, conv_over_parts, gen_gaussian_std,
                               skip_output)
from models.layers import DemodConv2d, ResidualBlock, count_parameters
from models.losses import GANLoss, channel_mean_l1, gen_gaussian_nll, uncertainty_cycle_loss
from util.errors import UserError


def small_generator(norm='instance', n_blocks_T=0, uncertainty=False, **kw):
    config = ForkGeneratorConfig(**{**dict(ngf=4, norm=norm, n_blocks_enc=2, n_blocks_dec=2, dilation=2), **kw})
    return ForkGenerator(3, 3, config, n_blocks_T=n_blocks_T, uncertainty=uncertainty)


@pytest.mark.parametrize('norm', ['instance', 'batch', 'none'])
@pytest.mark.parametrize('size', [(72, 100), (36, 52), (12, 16)])
def test_generator_keeps_size_for_multiples_of_four(norm, size):
    torch.manual_seed(0)
    g = small_generator(norm, n_blocks_T=2, uncertainty=True)
    x = torch.rand(2, 3, *size) * 2 - 1
    out = g(x)
    assert out.fake.shape == x.shape and out.rec.shape == x.shape
    assert out.sigma.shape == (2, 1, *size)
    assert (out.sigma >= 0).all()
    assert out.fake.abs().max() <= 1
    assert out.enc.shape == out.code.shape == (2, 16, size[0] // 4, size[1] // 4)
    assert g.translate(x).shape == x.shape


@pytest.mark.parametrize('size', [(8, 12), (30, 32), (32, 34)])
def test_generator_rejects_sizes_it_cannot_return(size):
    with pytest.raises(UserError, match=f'{size[0]}x{size[1]}'):
        small_generator()(torch.zeros(1, 3, *size))


def test_grayscale_generator_channels():
    g = ForkGenerator(1, 3, ForkGeneratorConfig(ngf=4, n_blocks_enc=1, n_blocks_dec=1))
    out = g(torch.zeros(1, 1, 16, 20))
    assert out.fake.shape == (1, 3, 16, 20) and out.rec.shape == (1, 1, 16, 20)


def test_generator_skips_what_is_not_asked_for():
    g = small_generator(n_blocks_T=1, uncertainty=True)
    out = g(torch.zeros(1, 3, 16, 16), reconstruct=False, uncertainty=False)
    assert out.rec is None and out.sigma is None
    plain = small_generator()
    assert plain.t_net is None and plain(torch.zeros(1, 3, 16, 16)).sigma is None


def test_t_net_is_between_encoder_and_translation_decoder_only():
    torch.manual_seed(0)
    g = small_generator(n_blocks_T=2, uncertainty=True).eval()
    x = torch.rand(1, 3, 16, 16)
    out = g(x)
    assert torch.allclose(out.code, g.t_net(out.enc))
    assert torch.allclose(out.rec, g.rec_decoder(out.enc))   # reconstruction never sees the T-net
    assert torch.allclose(out.fake, g.decoder(out.code))


def test_reconstruction_noise_only_while_training():
    torch.manual_seed(0)
    g = small_generator(noise_std=0.5)
    x = torch.rand(1, 3, 16, 16)
    g.train()
    assert not torch.allclose(g(x).rec, g(x).rec)
    g.eval()
    assert torch.equal(g(x).rec, g(x).rec)


def test_residual_blocks_are_dilated_except_t_net():
    g = small_generator(n_blocks_T=1, dilation=2)
    dil = {name: m.dilation for name, m in g.named_modules() if isinstance(m, torch.nn.Conv2d) and '.body.' in name}
    assert any(n.startswith('encoder') for n in dil)
    for name, d in dil.items():
        assert d == ((1, 1) if name.startswith('t_net') else (2, 2)), name


def test_demodulated_conv_equals_plain_conv_with_normalised_filters():
    torch.manual_seed(0)
    conv = DemodConv2d(5, 7, 3, padding=1, padding_mode='reflect')
    x = torch.randn(3, 5, 9, 11)
    w = conv.weight.detach()
    norms = torch.stack([w[o].pow(2).sum().add(1e-8).sqrt() for o in range(w.shape[0])])
    expected = F.conv2d(F.pad(x, (1, 1, 1, 1), mode='reflect'), w / norms.view(-1, 1, 1, 1), conv.bias)
    assert torch.allclose(conv(x), expected, atol=1e-5)

    # StyleGAN2's per-sample formula with a unit style, done as a grouped conv, gives the same.
    n = x.shape[0]
    wb = w.unsqueeze(0).expand(n, -1, -1, -1, -1)
    wb = wb * torch.rsqrt(wb.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
    grouped = F.conv2d(F.pad(x, (1, 1, 1, 1), mode='reflect').reshape(1, n * 5, 11, 13),
                       wb.reshape(n * 7, 5, 3, 3), groups=n).reshape(n, 7, 9, 11) + conv.bias.view(1, -1, 1, 1)
    assert torch.allclose(conv(x), grouped, atol=1e-5)


def test_demodulated_output_scale_does_not_depend_on_weight_scale():
    torch.manual_seed(0)
    conv = DemodConv2d(4, 4, 3, padding=1, bias=False)
    x = torch.randn(1, 4, 8, 8)
    y = conv(x)
    with torch.no_grad():
        conv.weight.mul_(100)
    assert torch.allclose(conv(x), y, atol=1e-5)


def test_norm_none_uses_demodulated_convs_in_generators():
    kinds = {type(m) for m in small_generator('none').modules()}
    assert DemodConv2d in kinds and torch.nn.InstanceNorm2d not in kinds
    assert torch.nn.InstanceNorm2d in {type(m) for m in small_generator('instance').modules()}


def patch_size(s, n_layers):
    for _ in range(n_layers):
        s //= 2       # 4x4 stride-2 convs with padding 1 halve the size
    return s - 2      # two 4x4 stride-1 convs with padding 1


@pytest.mark.parametrize('n_layers', [2, 3])
def test_multiscale_discriminator_one_output_per_scale(n_layers):
    torch.manual_seed(0)
    d = MultiscaleDiscriminator(3, ndf=4, n_layers=n_layers, num_D=3)
    x = torch.randn(2, 3, 128, 96)
    outs = d(x)
    assert len(outs) == 3
    for k, out in enumerate(outs):
        assert out.shape == (2, 1, patch_size(128 // 2 ** k, n_layers), patch_size(96 // 2 ** k, n_layers))
    # scale k judges the image average-pooled k times
    pooled = F.avg_pool2d(F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), 3, 2, 1, count_include_pad=False)
    assert torch.allclose(outs[2], d.scales[2](pooled)[0], atol=1e-6)


def test_define_d_names():
    assert len(define_D(3, DiscriminatorConfig(4, 'basic'))(torch.zeros(1, 3, 64, 64))) == 1
    assert len(define_D(3, DiscriminatorConfig(4, 'ms2'))(torch.zeros(1, 3, 64, 64))) == 2
    assert len(define_D(3, DiscriminatorConfig(4, 'n_layers', n_layers_D=4))(torch.zeros(1, 3, 64, 64))) == 1
    with pytest.raises(UserError, match='unknown --netD'):
        define_D(3, DiscriminatorConfig(4, 'ms'))
    with pytest.raises(UserError, match='too small'):
        define_D(3, DiscriminatorConfig(4, 'ms3'))(torch.zeros(1, 3, 32, 32))


def test_patchgan_parameter_count_matches_reference():
    # pix2pix/CycleGAN's 70x70 PatchGAN at ndf=64 on RGB has 2,764,737 parameters.
    assert count_parameters(NLayerDiscriminator(3, 64, 3, 'instance')) == 2764737


def test_gan_loss_averages_over_scales():
    crit = GANLoss('lsgan')
    a, b = torch.full((1, 1, 4, 4), 0.5), torch.zeros(1, 1, 2, 2)
    assert math.isclose(crit([a, b], True).item(), (0.25 + 1.0) / 2, rel_tol=1e-6)
    assert math.isclose(crit(a, False).item(), 0.25, rel_tol=1e-6)
    vanilla = GANLoss('vanilla')
    assert math.isclose(vanilla(torch.zeros(1, 1, 2, 2), True).item(), math.log(2), rel_tol=1e-6)


def test_uncertainty_loss_matches_formula():
    real = torch.zeros(1, 3, 2, 2)
    cycled = torch.tensor([0.5, -1.0, 0.25, 0.0]).view(1, 1, 2, 2).expand(1, 3, 2, 2)
    sigma = torch.tensor([0.0, 1.0, 2.0, math.log(2)]).view(1, 1, 2, 2)
    r = [0.5, 1.0, 0.25, 0.0]
    s = [0.0, 1.0, 2.0, math.log(2)]
    expected_exp = sum(math.exp(-si) * 5 * ri + si / 2 for ri, si in zip(r, s)) / 4
    expected_lap = sum(ri * 2 / (si + 1e-7) + math.log(2 * si + 1e-7) for ri, si in zip(r, s)) / 4
    assert math.isclose(uncertainty_cycle_loss(real, cycled, sigma, 'exp').item(), expected_exp, rel_tol=1e-5)
    assert math.isclose(uncertainty_cycle_loss(real, cycled, sigma, 'laplace').item(), expected_lap, rel_tol=1e-4)


def test_generalized_gaussian_loss_is_its_negative_log_likelihood():
    r = torch.tensor([0.5, 1.0, 0.25, 0.0]).view(1, 1, 2, 2)
    for shape in (1.0, 2.0, 0.7):
        scale = torch.full_like(r, 0.3)
        loss = gen_gaussian_nll(r, scale, torch.full_like(r, shape)).item()
        # scipy's generalized normal density, less the log 2 the loss leaves out
        expected = -scipy.stats.gennorm.logpdf(r.flatten().numpy(), shape, scale=0.3).mean() - math.log(2)
        assert math.isclose(loss, expected, rel_tol=1e-5), shape
    # through the cycle loss, as (scale, shape) maps
    real, cycled = torch.zeros(1, 3, 2, 2), r.expand(1, 3, 2, 2)
    params = (torch.full_like(r, 0.3), torch.full_like(r, 2.0))
    assert math.isclose(uncertainty_cycle_loss(real, cycled, params, 'gengauss').item(),
                        gen_gaussian_nll(r, *params).item(), rel_tol=1e-6)


@pytest.mark.parametrize('shape', [0.5, 1.0, 2.0])
def test_the_generalized_gaussian_loss_has_finite_gradients_where_the_cycle_is_exact(shape):
    # a black pixel reconstructed exactly (r = 0) once gave NaN for the scale, inf for r: a skipped step
    r = torch.tensor([0.0, 0.1, 0.2, 0.0]).view(1, 1, 2, 2).requires_grad_()
    scale = torch.full_like(r, 0.5).requires_grad_()
    shape_map = torch.full_like(r, shape).requires_grad_()
    gen_gaussian_nll(r, scale, shape_map).backward()
    for grad in (r.grad, scale.grad, shape_map.grad):
        assert torch.isfinite(grad).all(), grad
    assert r.grad[0, 0, 0, 0] == 0 and r.grad[0, 0, 0, 1] > 0


def test_a_generalized_gaussian_head_gives_scale_shape_and_their_std():
    torch.manual_seed(0)
    config = ForkGeneratorConfig(ngf=4, n_blocks_enc=1, n_blocks_dec=1, dilation=1)
    net = ForkGenerator(3, 3, config, n_blocks_T=1, uncertainty=True, gen_gaussian=True)
    out = net(torch.rand(1, 3, 16, 16) * 2 - 1)
    scale, shape = out.sigma_params
    assert scale.shape == shape.shape == out.sigma.shape == (1, 1, 16, 16)
    assert scale.min() >= MIN_SCALE and shape.min() >= MIN_SHAPE
    # sigma is the distribution's standard deviation: scale / sqrt(2) for a Gaussian shape
    assert torch.allclose(gen_gaussian_std(torch.tensor(0.5), torch.tensor(2.0)), torch.tensor(0.5 / math.sqrt(2)))
    assert torch.allclose(out.sigma, gen_gaussian_std(scale, shape))
    assert net.config['gen_gaussian'] is True  # recorded in its checkpoint
    assert small_generator(uncertainty=True)(torch.rand(1, 3, 16, 16)).sigma_params is None
    with pytest.raises(UserError, match='needs an uncertainty head'):
        ForkGenerator(3, 3, config, gen_gaussian=True)


def test_the_input_skip_brings_the_input_to_the_output_conv():
    torch.manual_seed(0)
    net = small_generator(input_skip=True)
    conv = net.decoder.out[1]
    assert conv.in_channels == 4 + 3 and net.rec_decoder.out[1].in_channels == 4  # the translation decoder's only
    with torch.no_grad():  # only the skip's centre taps, channel to channel: the output is tanh(input)
        conv.weight.zero_()
        conv.bias.zero_()
        for c in range(3):
            conv.weight[c, 4 + c, 3, 3] = 1.0
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    assert torch.allclose(net(x).fake, torch.tanh(x), atol=1e-6)
    assert net.config['input_skip'] is True
    assert small_generator().decoder.out[1].in_channels == 4
    # computed as two convolutions over the parts of the one weight: the conv over the concatenation
    out = small_generator(input_skip=True).decoder.out
    features, skip = torch.randn(2, 4, 16, 16), torch.randn(2, 3, 16, 16)
    assert torch.allclose(skip_output(out, features, skip), out(torch.cat([features, skip], 1)), atol=1e-6)


def test_skip_refine_adds_a_full_size_block_over_the_features_and_the_input():
    torch.manual_seed(0)
    net = small_generator(input_skip=True, skip_refine=True)
    conv = net.decoder.refine[0]
    assert (conv.in_channels, conv.out_channels, conv.stride) == (4 + 3, 4, (1, 1))  # full size, no stride
    assert net.rec_decoder.refine is None and small_generator(input_skip=True).decoder.refine is None
    assert net.config['skip_refine'] is True  # recorded in its checkpoint
    # the block is added to the features: with its conv at zero the generator is the one without it
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    plain = small_generator(input_skip=True)
    plain.load_state_dict({k: v for k, v in net.state_dict().items() if '.refine.' not in k})
    with torch.no_grad():
        changed = net(x).fake
        conv.weight.zero_()
        assert not torch.allclose(changed, plain(x).fake, atol=1e-4)
        assert torch.allclose(net(x).fake, plain(x).fake, atol=1e-6)
    with pytest.raises(UserError, match='--skip_refine needs --input_skip'):
        small_generator(skip_refine=True)
    # its conv runs split over the parts of its weight: the conv over the concatenation
    assert small_generator(norm='none', input_skip=True, skip_refine=True)(x).fake.shape == x.shape  # demodulated
    conv = small_generator(input_skip=True, skip_refine=True).decoder.refine[0]
    features, skip = torch.randn(2, 4, 16, 16), torch.randn(2, 3, 16, 16)
    assert torch.allclose(conv_over_parts(conv, [features, skip]), conv(torch.cat([features, skip], 1)), atol=1e-6)


def test_uncertainty_loss_is_float32_under_half_inputs():
    real = torch.zeros(1, 3, 2, 2, dtype=torch.bfloat16)
    sigma = torch.full((1, 1, 2, 2), 20.0, dtype=torch.bfloat16)
    loss = uncertainty_cycle_loss(real, real + 1, sigma)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)


def test_uncertainty_gradient_reaches_t_net_and_sigma_head():
    torch.manual_seed(0)
    g_a = small_generator(n_blocks_T=2, uncertainty=True)
    g_b = small_generator()
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    out = g_a(x)
    cyc = g_b(out.fake, reconstruct=False).fake
    uncertainty_cycle_loss(x, cyc, out.sigma).backward()
    for part in (g_a.t_net, g_a.sigma_head, g_a.encoder):
        grads = [p.grad for p in part.parameters()]
        assert all(gr is not None for gr in grads) and any(gr.abs().sum() > 0 for gr in grads), part
    # the reconstruction decoder plays no part in this loss
    assert all(p.grad is None for p in g_a.rec_decoder.parameters())


def test_channel_mean_l1():
    a = torch.tensor([[[[1.0]], [[3.0]]]])   # channel mean 2
    b = torch.tensor([[[[0.0]], [[1.0]]]])   # channel mean 0.5
    assert math.isclose(channel_mean_l1(a, b).item(), 1.5)


def test_residual_block_preserves_shape_with_dilation():
    assert ResidualBlock(8, 'instance', 3)(torch.randn(1, 8, 13, 17)).shape == (1, 8, 13, 17)


def test_tf_same_padding_matches_tensorflow_rules():
    from models.layers import tf_same_padding
    # (size, kernel, stride) -> (before, after), as TensorFlow's 'SAME' pads
    assert tf_same_padding(64, 3, 2) == (0, 1)
    assert tf_same_padding(65, 3, 2) == (1, 1)
    assert tf_same_padding(32, 4, 1) == (1, 2)
    assert tf_same_padding(32, 4, 2) == (1, 1)
    assert tf_same_padding(32, 3, 1) == (1, 1)


def test_same_transposed_conv_is_the_first_2h_of_the_full_one():
    from models.layers import SameConvTranspose2d
    torch.manual_seed(0)
    up = SameConvTranspose2d(4, 2, 3)
    full = torch.nn.ConvTranspose2d(4, 2, 3, stride=2, bias=True)
    full.load_state_dict(up.state_dict())
    x = torch.randn(1, 4, 5, 7)
    assert torch.equal(up(x), full(x)[..., :10, :14])
    shifted = torch.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)
    shifted.load_state_dict(up.state_dict())
    assert not torch.allclose(up(x), shifted(x))  # PyTorch's usual alignment is one pixel off


def test_init_weights_reaches_transposed_convs_and_affine_norms():
    from models.generators import ResnetGenerator
    from models.layers import init_weights
    torch.manual_seed(0)
    net = init_weights(ResnetGenerator(3, 3, 16, 'instance', 2), 'normal', 0.02)
    ups = [m for m in net.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert ups and all(abs(float(m.weight.detach().std()) - 0.02) < 0.005 and not m.bias.any() for m in ups)
    norm = init_weights(torch.nn.Sequential(torch.nn.InstanceNorm2d(512, affine=True)), 'normal', 0.02)[0]
    assert abs(float(norm.weight.detach().mean()) - 1) < 0.01 and 0.01 < float(norm.weight.detach().std()) < 0.03
    assert not norm.bias.any()


def test_linear_official_schedule():
    import argparse as ap
    from models.base_model import get_scheduler
    opt = ap.Namespace(lr_policy='linear_official', n_epochs=10, n_epochs_decay=10, epoch_count=1)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = get_scheduler(optimizer, opt)
    rates = []
    for _ in range(20):  # the rate each of the 20 epochs trains at
        rates.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        scheduler.step()
    # the official code: lr if epoch < epoch_step else lr * (epochs - epoch) / (epochs - epoch_step)
    assert rates == pytest.approx([1.0] * 10 + [(20 - e) / 10 for e in range(10, 20)])


@pytest.mark.parametrize('policy', ['linear', 'linear_official', 'step', 'plateau', 'cosine'])
@pytest.mark.parametrize('n_epochs, n_epochs_decay', [(1, 0), (0, 1), (3, 0), (0, 3)])
def test_every_schedule_takes_zero_epochs_of_either_kind(policy, n_epochs, n_epochs_decay):
    """--n_epochs 0 or --n_epochs_decay 0 (both 0 is refused at start-up, tests/test_options.py):
    every epoch trains at a finite rate in [0, lr], the rate never rises, and the rate stepped to
    after the last epoch is finite too (it is what a checkpoint stores)."""
    import argparse as ap
    from models.base_model import get_scheduler
    opt = ap.Namespace(lr_policy=policy, n_epochs=n_epochs, n_epochs_decay=n_epochs_decay, epoch_count=1,
                       lr_decay_iters=1)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = get_scheduler(optimizer, opt)
    rates = []
    for _ in range(n_epochs + n_epochs_decay):
        rates.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        scheduler.step(1.0) if policy == 'plateau' else scheduler.step()
    after = optimizer.param_groups[0]['lr']
    assert all(0.0 <= r <= 1.0 for r in rates + [after]), rates + [after]
    assert rates == sorted(rates, reverse=True) and after <= rates[-1]
    if policy in ('linear', 'linear_official'):
        assert rates[:n_epochs] == [1.0] * n_epochs  # the constant epochs keep --lr
    if policy == 'linear_official' and n_epochs_decay == 0:
        assert after == 0.0  # as at the end of a decay: no rate beyond the last epoch
