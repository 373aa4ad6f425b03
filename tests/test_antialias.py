"""`--antialias`: the generators with a fixed low-pass before each stride-2 conv and after each x2
upsampling (models/layers.py `Blur`). Their output follows a 1-px shift of the input far more
exactly than the same weights without the filters; the filters are fixed buffers; the flag reaches
every model's generators, is off in `--preset official`, is recorded in checkpoints (which rebuild
the network) and survives export."""
import warnings
from types import SimpleNamespace

import numpy as np
import onnxruntime
import pytest
import torch
import torch.nn.functional as F

from models import create_model
from models.generators import ForkGenerator, ForkGeneratorConfig, ResnetGenerator
from models.layers import FILTERS, Blur, halfband, init_weights
from models.persistence import build_network, check_config, describe
from options.run_options import ARCHITECTURE
from options.test_options import TestOptions
from scripts.export import Translate, export_onnx
from util.checkpoint import load_network, save_network
from util.errors import UserError

CROP = 8  # px left out at every border: padding makes the borders differ under any shift


def fork(antialias, upsample='transposed', taps=11):
    return ForkGenerator(3, 3, ForkGeneratorConfig(ngf=8, n_blocks_enc=1, n_blocks_dec=1, dilation=1,
                                                   upsample=upsample, antialias=antialias, antialias_taps=taps),
                         n_blocks_T=1)


def resnet(antialias, upsample=None, taps=11):
    return ResnetGenerator(3, 3, ngf=8, n_blocks=2, antialias=antialias, antialias_taps=taps)


def same_weights(src, dst):
    """Copy src's parameters into dst (the filters have none, so both list the same ones in order)."""
    pairs = list(zip(src.parameters(), dst.parameters(), strict=True))
    for p, q in pairs:
        assert p.shape == q.shape
        q.data.copy_(p.data)
    return dst


def smooth_image(seed, h=64, w=68):
    """A random image with structure at every scale above a few pixels, in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(1, 3, h // 4, w // 4 + 1, generator=g) * 2 - 1, size=(h, w), mode='bilinear',
                         align_corners=False)


def shift_error(net, image, shift=1):
    """Mean |G(shift(x)) - shift(G(x))| over the interior, for a shift of `shift` px to the left:
    the input windows are image[..., 0:W] and image[..., shift:W+shift], so column j of the second
    output should show what column j+shift of the first does."""
    w = image.shape[-1] - 4  # a multiple of 4
    with torch.no_grad():
        first, second = net.translate(image[..., :w]), net.translate(image[..., shift:w + shift])
    first, second = first[..., CROP:-CROP, CROP + shift:w - CROP], second[..., CROP:-CROP, CROP:w - CROP - shift]
    return (first - second).abs().mean().item()


@pytest.mark.parametrize('make,upsample', [(fork, 'transposed'), (fork, 'bilinear'), (resnet, None)])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_a_one_pixel_shift_moves_the_output_far_more_exactly(make, upsample, seed):
    torch.manual_seed(seed)
    plain = init_weights(make(False, upsample), 'normal', 0.02).eval()
    filtered = same_weights(plain, make(True, upsample)).eval()
    x = smooth_image(100 + seed)
    before, after = shift_error(plain, x), shift_error(filtered, x)
    # Without the filters the generator is equivariant to shifts by its period only (4 px: two
    # stride-2 stages); what a 4-px shift changes comes from the borders and the instance norms'
    # statistics of the other window.
    if upsample != 'bilinear':  # the transposed convs
        assert before > 2 * shift_error(plain, x, shift=4)
    # The default half-band filter removes 42-63% of the error on these random networks, whose
    # power is spread evenly over frequency: it passes part of the band just above its cut-off,
    # which the 5-tap binomial cuts too (removing 64-81%), at the price of the passband's detail.
    five = shift_error(same_weights(plain, make(True, upsample, taps=5)).eval(), x)
    assert five < after <= 0.6 * before, (before, after, five)


def test_the_filter_is_a_fixed_normalised_buffer_outside_the_state_dict():
    net = fork(True)
    blurs = [m for m in net.modules() if isinstance(m, Blur)]
    # before the two stride-2 convs and after the two upsamplings of each of the two decoders
    assert len(blurs) == 2 + 2 * 2
    assert not any(n.endswith('kernel') for n, _ in net.named_parameters())
    assert not any(n.endswith('kernel') for n in net.state_dict())
    kernel = blurs[0].kernel  # one axis of the separable filter, the default 11 taps
    assert kernel.shape[-2:] == (1, 11) and torch.allclose(kernel.sum(dim=(-2, -1)), torch.ones(kernel.shape[0]))
    assert torch.equal(kernel, kernel.flip(-1))  # symmetric: moves nothing by half a pixel
    # the same parameters as without the filters: same count, same shapes
    assert [p.shape for p in net.parameters()] == [p.shape for p in fork(False).parameters()]
    # a constant image stays constant, borders included (reflect padding, unit gain)
    assert torch.allclose(blurs[0](torch.full((1, 8, 12, 12), 0.3)), torch.full((1, 8, 12, 12), 0.3))
    # the filters follow the network to another dtype
    assert net.double().translate(torch.zeros(1, 3, 16, 16, dtype=torch.float64)).dtype == torch.float64


@pytest.mark.parametrize('seed', [0, 1])
def test_skip_refine_keeps_the_filtered_generator_as_exact_under_shifts(seed):
    """--skip_refine's block works at full size and stride 1: with it the filtered generator's
    output still follows a 1-px shift far more exactly than the same weights without filters."""
    def make(antialias):
        return ForkGenerator(3, 3, ForkGeneratorConfig(ngf=8, n_blocks_enc=1, n_blocks_dec=1, dilation=1,
                                                       upsample='transposed', antialias=antialias, input_skip=True,
                                                       skip_refine=True), n_blocks_T=1)
    torch.manual_seed(seed)
    plain = init_weights(make(False), 'normal', 0.02).eval()
    filtered = same_weights(plain, make(True)).eval()
    x = smooth_image(200 + seed)
    before, after = shift_error(plain, x), shift_error(filtered, x)
    assert after <= 0.6 * before, (before, after)


def response(taps, f):
    """|H(f)| of FILTERS[taps] (normalised) at f cycles/px."""
    h = np.array(FILTERS[taps]) / np.sum(FILTERS[taps])
    n = np.arange(len(h)) - len(h) // 2
    return abs(np.sum(h * np.cos(2 * np.pi * f * n)))


def test_the_half_band_filter_is_flat_below_its_cut_off_where_the_binomials_fall():
    # a half-band filter: its even taps other than the centre are 0, its response 1/2 at 1/4 cycle/px
    h = np.array(halfband(11))
    assert np.allclose(h[1::2][:2], 0, atol=1e-12) and abs(response(11, 0.25) - 0.5) < 1e-3
    assert response(11, 0.1) > 0.98 > 0.95 > response(3, 0.1) > response(5, 0.1)
    assert response(11, 0.15) > 0.9 > 0.8 > response(3, 0.15) > response(5, 0.15)
    for taps in FILTERS:  # all remove the period-2 checkerboard
        assert response(taps, 0.5) < 0.01
    assert response(11, 0.4) < 0.02


def test_the_filters_taps_set_the_smallest_input():
    for taps, least in ((3, 8), (5, 8), (11, 12)):
        net = ForkGenerator(3, 3, ForkGeneratorConfig(ngf=4, n_blocks_enc=1, n_blocks_dec=1, dilation=1, antialias=True,
                                                      antialias_taps=taps))
        assert net.min_size == least == ResnetGenerator(3, 3, ngf=4, n_blocks=1, antialias=True, antialias_taps=taps).min_size
        net.translate(torch.zeros(1, 3, least, least))  # the Blurs can pad its maps
        with pytest.raises(UserError, match=f'at least {least}'):
            net.translate(torch.zeros(1, 3, least - 4, least))


def test_off_by_default_it_is_the_network_as_before():
    for net in (ForkGenerator(3, 3, ForkGeneratorConfig(ngf=4, n_blocks_enc=1, n_blocks_dec=1)),
                ResnetGenerator(3, 3, ngf=4, n_blocks=1)):
        assert not any(isinstance(m, Blur) for m in net.modules())
        assert net.config['antialias'] is False


def test_a_checkpoint_rebuilds_its_antialiased_network(tmp_path):
    for make in (fork, resnet):
        torch.manual_seed(0)
        net = init_weights(make(True), 'normal', 0.02).eval()
        path = tmp_path / f'{type(net).__name__}.pth'
        save_network(path, 'G_A', net.state_dict(), describe(net))
        state, config, _ = load_network(path)
        assert config['kwargs']['antialias'] is True
        rebuilt = build_network(config, path)
        rebuilt.load_state_dict(state)
        x = smooth_image(1, 32, 32)[..., :28]
        with torch.no_grad():
            assert torch.equal(rebuilt.eval().translate(x), net.translate(x))
        # a network built without the flag refuses it, naming the flag
        with pytest.raises(UserError, match='antialias'):
            check_config(path, config, make(False))


@pytest.mark.parametrize('model,extra', [('au_gan', ['--n_blocks_enc', '1', '--n_blocks_T', '1',
                                                    '--n_blocks_dec', '1']),
                                         ('fork_gan', ['--n_blocks_enc', '1', '--n_blocks_dec', '1']),
                                         ('cycle_gan', ['--netG', 'resnet_6blocks'])])
def test_the_flag_reaches_every_models_generators(tmp_path, model, extra):
    def generators(*flags):
        opt = TestOptions().parse(['--dataroot', str(tmp_path), '--checkpoints_dir', str(tmp_path), '--name', 'run',
                                   '--model', model, '--ngf', '4', '--gpu_ids', '-1', *extra, *flags])
        m = create_model(opt)
        return [m.netG_A, m.netG_B]
    for net in generators('--antialias'):
        assert net.config['antialias'] is True and any(isinstance(m, Blur) for m in net.modules())
    # au_gan's default since the aliasing study (docs/results.md); the others' only with the flag
    for net in generators(*(['--no_antialias'] if model == 'au_gan' else [])):
        assert not any(isinstance(m, Blur) for m in net.modules())
    assert all(any(isinstance(m, Blur) for m in net.modules()) == (model == 'au_gan') for net in generators())
    assert 'antialias' in ARCHITECTURE  # test.py and the scripts take it from a run's record


def test_the_official_preset_has_no_filters(tmp_path):
    opt = TestOptions().parse(['--dataroot', str(tmp_path), '--checkpoints_dir', str(tmp_path), '--name', 'run',
                               '--preset', 'official', '--ngf', '4', '--gpu_ids', '-1', '--n_blocks_enc', '1',
                               '--n_blocks_T', '1', '--n_blocks_dec', '1'])
    assert opt.antialias is False
    assert not any(isinstance(m, Blur) for m in create_model(opt).netG_A.modules())


@pytest.mark.filterwarnings('ignore::DeprecationWarning', 'ignore::FutureWarning', 'ignore::UserWarning')
def test_the_antialiased_generator_exports(tmp_path):
    torch.manual_seed(0)
    module = Translate(init_weights(fork(True), 'normal', 0.02).eval()).eval()
    x = smooth_image(2, 32, 36)[..., :32]
    other = smooth_image(3, 40, 28)[..., :24].expand(2, -1, -1, -1).contiguous()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        torch.jit.save(torch.jit.trace(module, x), tmp_path / 'g.pt')
        export_onnx(module, x, str(tmp_path / 'g.onnx'), SimpleNamespace(onnx_exporter='legacy', opset=None),
                    module.net.min_size)
        script = torch.jit.load(tmp_path / 'g.pt')
        session = onnxruntime.InferenceSession(str(tmp_path / 'g.onnx'), providers=['CPUExecutionProvider'])
        for t in (x, other):
            expected = module(t)
            assert (script(t) - expected).abs().max() < 1e-4
            assert np.abs(session.run(None, {'image': t.numpy()})[0] - expected.numpy()).max() < 1e-4


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_three_taps_is_the_milder_filter_and_is_recorded(tmp_path, seed):
    """--antialias_taps 3: [1, 2, 1] filters in the same places; the output follows a 1-px shift
    better than without filters and less well than with 5 taps, and the checkpoint rebuilds it."""
    def make(antialias, taps=5):
        return ForkGenerator(3, 3, ForkGeneratorConfig(ngf=8, n_blocks_enc=1, n_blocks_dec=1, dilation=1,
                                                       antialias=antialias, antialias_taps=taps), n_blocks_T=1)
    torch.manual_seed(seed)
    plain = init_weights(make(False), 'normal', 0.02).eval()
    mild, full = same_weights(plain, make(True, 3)).eval(), same_weights(plain, make(True, 5)).eval()
    assert {m.kernel.shape[-1] for m in mild.modules() if isinstance(m, Blur)} == {3}
    x = smooth_image(100 + seed)
    before, three, five = shift_error(plain, x), shift_error(mild, x), shift_error(full, x)
    assert five < three < before, (before, three, five)
    path = tmp_path / 'mild.pth'
    save_network(path, 'G_A', mild.state_dict(), describe(mild))
    state, config, _ = load_network(path)
    rebuilt = build_network(config, path)
    rebuilt.load_state_dict(state)
    with torch.no_grad():
        assert torch.equal(rebuilt.eval().translate(x[..., :64]), mild.translate(x[..., :64]))
    with pytest.raises(UserError, match='antialias_taps'):
        check_config(path, config, make(True, 5))


@pytest.mark.parametrize('at, down, up', [('both', 2, 4), ('down', 2, 0), ('up', 0, 4)])
def test_the_filters_can_sit_on_one_side_only(tmp_path, at, down, up):
    """--antialias_at: before the stride-2 convs (down), after the upsamplings of both decoders
    (up), or both; recorded, so the checkpoint rebuilds the same network."""
    net = ForkGenerator(3, 3, ForkGeneratorConfig(ngf=8, n_blocks_enc=1, n_blocks_dec=1, dilation=1, antialias=True,
                                                  antialias_at=at), n_blocks_T=1)
    assert sum(isinstance(m, Blur) for m in net.encoder.modules()) == down
    assert sum(isinstance(m, Blur) for m in net.modules()) == down + up
    resnet_net = ResnetGenerator(3, 3, ngf=8, n_blocks=1, antialias=True, antialias_at=at)
    assert sum(isinstance(m, Blur) for m in resnet_net.modules()) == down + up // 2  # one decoder
    path = tmp_path / 'g.pth'
    save_network(path, 'G_A', net.state_dict(), describe(net))
    _, config, _ = load_network(path)
    assert config['kwargs']['antialias_at'] == at
    assert sum(isinstance(m, Blur) for m in build_network(config, path).modules()) == down + up
