"""The official AU-GAN TensorFlow checkpoint's variables, mapped onto this project's networks.

The official code (github jgkwak95/AU-GAN) names its variables by TensorFlow scope: generators
`generatorA2B/...` (G_A, with the T-net and the uncertainty head) and `generatorB2A/...` (G_B),
discriminators `0_discriminatorA`, `1_discriminatorA`, `0_discriminatorB`, `1_discriminatorB`.
With `--preset official` the networks here have the same layers in the same roles:

    TensorFlow variable                              this project (state_dict key)
    generatorA2B/g_e1_c/Conv/weights                 G_A encoder.0.0.weight
    generatorA2B/g_e1_bn/scale, offset               G_A encoder.0.1.weight, bias
    generatorA2B/g_r1_c1/filter                      G_A encoder.3.body.0.0.weight
    generatorA2B/g_t1/res1/g_t1_c1/Conv/weights      G_A t_net.0.body.0.0.weight
    generatorA2B/g_r6_c1/filter                      G_A decoder.blocks.0.body.0.0.weight
    generatorA2B/g_d1_dc/Conv2d_transpose/weights    G_A decoder.up1.0.weight
    generatorA2B/g_pred_c/Conv/weights               G_A decoder.out.1.weight
    generatorA2B/g_r6_rec_c1/filter ... _rec         G_A rec_decoder....
    generatorA2B/g_d_dc_conf, g_pred_c_conf          G_A sigma_head.0.0, sigma_head.2
    0_discriminatorB/d_h0_conv_scale_0_first_c/filter   D_B discriminators.0.one_step.0.0.weight
    0_discriminatorB/d_h0_conv_scale_1_c_0/Conv/weights D_B discriminators.0.two_steps.0.0.0.weight
    0_discriminatorB/d_pred_scale_1/Conv/weights        D_B discriminators.0.pred.1.weight

TensorFlow stores conv kernels as (h, w, in, out) and transposed-conv kernels as (h, w, out, in);
PyTorch as (out, in, h, w) and (in, out, h, w): both are permuted by (3, 2, 0, 1).

The first upload of the official code (commit 953bdad) has three more variables in G_A,
`g_r6_down_c` and `g_r6_in_down`'s scale and offset, and 512-channel `g_r6` convs: the
`t_net_concat` generator here.
"""
from dataclasses import replace

from models.discriminators import AUGANDiscriminator
from models.generators import ForkGenerator
from options.presets import OFFICIAL_GENERATOR

GENERATOR_SCOPES = {'G_A': 'generatorA2B', 'G_B': 'generatorB2A'}
# A network -> the TensorFlow scopes of its discriminators, in the order of its `discriminators` list.
DISCRIMINATOR_SCOPES = {'D_A': ('0_discriminatorA', '1_discriminatorA'),
                        'D_B': ('0_discriminatorB', '1_discriminatorB')}
FIRST_UPLOAD_MARK = 'generatorA2B/g_r6_down_c/Conv/weights'
# What a checkpoint that also saved an optimizer holds besides the model (none in the official files).
OPTIMIZER_SUFFIXES = ('/Adam', '/Adam_1', 'beta1_power', 'beta2_power', 'global_step')



def _conv(names, tf, ours, suffix='/Conv/weights'):
    names[tf + suffix] = ours + '.weight'


def _norm(names, tf, ours):
    names[tf + '/scale'] = ours + '.weight'
    names[tf + '/offset'] = ours + '.bias'


def _residual(names, tf_c1, tf_bn1, tf_c2, tf_bn2, ours, suffix):
    _conv(names, tf_c1, f'{ours}.body.0.0', suffix)
    _norm(names, tf_bn1, f'{ours}.body.0.1')
    _conv(names, tf_c2, f'{ours}.body.1.0', suffix)
    _norm(names, tf_bn2, f'{ours}.body.1.1')


def _decoder(names, scope, ours, tag, join=False):
    for j, k in enumerate(range(6, 10)):
        block = f'{ours}.blocks.{j}'
        if join and j == 0:
            _conv(names, f'{scope}/g_r6_down_c', f'{block}.1.0')
            _norm(names, f'{scope}/g_r6_in_down', f'{block}.1.1')
            block += '.0'
        r = f'{scope}/g_r{k}{tag}'
        _residual(names, r + '_c1', r + '_bn1', r + '_c2', r + '_bn2', block, '/filter')
    _conv(names, f'{scope}/g_d1_dc{tag}', f'{ours}.up1.0', '/Conv2d_transpose/weights')
    _norm(names, f'{scope}/g_d1_bn{tag}', f'{ours}.up1.1')
    _conv(names, f'{scope}/g_d2_dc{tag}', f'{ours}.up2.0', '/Conv2d_transpose/weights')
    _norm(names, f'{scope}/g_d2_bn{tag}', f'{ours}.up2.1')
    _conv(names, f'{scope}/g_pred_c{tag}', f'{ours}.out.1')


def generator_names(scope, transfer, join=False):
    """TensorFlow variable -> state_dict key of the generator in `scope` (transfer: the A->B one)."""
    names = {}
    for i in (1, 2, 3):
        _conv(names, f'{scope}/g_e{i}_c', f'encoder.{i - 1}.0')
        _norm(names, f'{scope}/g_e{i}_bn', f'encoder.{i - 1}.1')
    for k in range(1, 5):
        r = f'{scope}/g_r{k}'
        _residual(names, r + '_c1', r + '_bn1', r + '_c2', r + '_bn2', f'encoder.{2 + k}', '/filter')
    if transfer:
        for k in range(1, 5):
            t = f'{scope}/g_t{k}'
            _residual(names, f'{t}/res1/g_t{k}_c1', f'{t}/res1/g_t{k}_in1', f'{t}/res2/g_t{k}_c2',
                      f'{t}/res2/g_t{k}_in2', f't_net.{k - 1}', '/Conv/weights')
    _decoder(names, scope, 'decoder', '', join)
    _decoder(names, scope, 'rec_decoder', '_rec')
    if transfer:
        _conv(names, f'{scope}/g_d_dc_conf', 'sigma_head.0.0', '/Conv2d_transpose/weights')
        _norm(names, f'{scope}/g_d_bn_conf', 'sigma_head.0.1')
        _conv(names, f'{scope}/g_pred_c_conf', 'sigma_head.2')
    return names


def discriminator_names(scopes):
    """TensorFlow variable -> state_dict key of an AUGANDiscriminator made of the official `scopes`."""
    names = {}
    for i, scope in enumerate(scopes):
        ours = f'discriminators.{i}'
        for level in range(4):
            first = f'{scope}/d_h{level}_conv_scale_0_first'
            _conv(names, first + '_c', f'{ours}.one_step.{level}.0', '/filter')
            _norm(names, first + '_bn', f'{ours}.one_step.{level}.1')
            for j in range(2):
                steps = f'{scope}/d_h{level}_conv_scale_1'
                _conv(names, f'{steps}_c_{j}', f'{ours}.two_steps.{level}.{j}.0')
                _norm(names, f'{steps}_bn_{j}', f'{ours}.two_steps.{level}.{j}.1')
        for p in range(2):
            _conv(names, f'{scope}/d_pred_scale_{p}', f'{ours}.pred.{p}')
    return names


def official_networks(input_nc, output_nc, ngf, ndf, first_upload=False):
    """The four networks of the official model, built as `--preset official` builds them, each with
    its TensorFlow variable -> state_dict key map: {name: (network, names)}."""
    config = replace(OFFICIAL_GENERATOR, ngf=ngf)
    G_A = ForkGenerator(input_nc, output_nc, config, n_blocks_T=4, t_net_concat=first_upload, uncertainty=True)
    G_B = ForkGenerator(output_nc, input_nc, config)
    return {'G_A': (G_A, generator_names(GENERATOR_SCOPES['G_A'], True, first_upload)),
            'G_B': (G_B, generator_names(GENERATOR_SCOPES['G_B'], False)),
            'D_A': (AUGANDiscriminator(input_nc, ndf), discriminator_names(DISCRIMINATOR_SCOPES['D_A'])),
            'D_B': (AUGANDiscriminator(output_nc, ndf), discriminator_names(DISCRIMINATOR_SCOPES['D_B']))}


def tf_to_torch(array):
    """A TensorFlow kernel (h, w, a, b) as PyTorch lays it out (b, a, h, w); 1-D arrays unchanged."""
    return array.transpose(3, 2, 0, 1) if array.ndim == 4 else array
