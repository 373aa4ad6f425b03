"""Typed configurations make their flags (util/config.py): AU-GAN's loss weights and the fork
generator's configuration, which its checkpoints store and --preset official is; the data
geometry, which the datasets and tools read."""
import argparse
import dataclasses

import pytest
import torch

from conftest import TINY, make_domain
from data.base_dataset import Geometry, ImageSize
from data.unaligned_dataset import UnalignedDataset
from models import create_model
from models.au_gan_model import AUGANLosses
from models.cycle_gan_model import CycleGANLosses
from models.fork_gan_model import ForkGANLosses
from models.discriminators import DiscriminatorConfig
from models.generators import ForkGenerator, ForkGeneratorConfig, ResnetGeneratorConfig
from models.persistence import build_network, check_config, describe
from options.presets import OFFICIAL_GENERATOR, OFFICIAL_TRAIN
from options.run_options import record_path, save_record
from options.test_options import TestOptions
from options.train_options import TrainOptions
from util.config import add_flags, flag, flag_names, from_options
from util.errors import UserError
from util.precision import ComputeConfig


def au_gan(tmp_path, *flags):
    return TrainOptions().parse(['--dataroot', str(tmp_path), '--checkpoints_dir', str(tmp_path), *TINY, *flags],
                                save=False)


@pytest.mark.parametrize('model, losses', [('au_gan', AUGANLosses), ('fork_gan', ForkGANLosses),
                                            ('cycle_gan', CycleGANLosses)])
def test_every_loss_weight_is_a_training_flag_with_the_fields_default_and_help(tmp_path, model, losses):
    args = ['--dataroot', str(tmp_path), '--checkpoints_dir', str(tmp_path), '--model', model, '--ngf', '4',
            '--ndf', '4', '--gpu_ids', '-1']
    parser = TrainOptions()
    opt = parser.parse(args, save=False)
    actions = {a.dest: a for a in parser.parser._actions}
    for f in dataclasses.fields(losses):
        assert actions[f.name].default == f.default and actions[f.name].help == f.metadata['help'], f.name
    assert from_options(losses, opt) == losses()
    changed = {f.name: 0.25 for f in dataclasses.fields(losses)}
    opt = TrainOptions().parse([*args, *(x for k in changed for x in ('--' + k, '0.25'))], save=False)
    assert create_model(opt).weights == losses(**changed)


def test_the_model_trains_with_the_weights_given(tmp_path):
    opt = au_gan(tmp_path, '--lambda_fm', '0', '--lambda_rec', '2.5')
    model = create_model(opt)
    assert model.weights == dataclasses.replace(AUGANLosses(), lambda_fm=0.0, lambda_rec=2.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.weights.lambda_fm = 1.0
    gen = torch.Generator().manual_seed(0)
    model.set_input({'A': torch.rand(1, 3, 32, 32, generator=gen) * 2 - 1,
                     'B': torch.rand(1, 3, 32, 32, generator=gen) * 2 - 1, 'A_paths': ['a']})
    losses = model.optimize_parameters()
    assert losses['fm_A'].item() == 0.0 and losses['fm_B'].item() == 0.0
    # the reconstruction term is the weight times its L1
    assert torch.allclose(losses['rec_A'], 2.5 * (model.rec_A - model.real_A).abs().mean())


@dataclasses.dataclass(frozen=True)
class Example:
    width: int = flag(8, 'channels')
    mode: str = flag('a', 'which way', choices=['a', 'b'])
    fast: bool = flag(False, 'go fast')


def test_add_flags_makes_typed_flags_a_model_can_redefault():
    parser = add_flags(argparse.ArgumentParser(), Example, width=16)
    assert from_options(Example, parser.parse_args([])) == Example(width=16)
    assert from_options(Example, parser.parse_args(['--width', '3', '--mode', 'b', '--fast'])) == Example(3, 'b', True)
    with pytest.raises(SystemExit):
        parser.parse_args(['--mode', 'c'])
    with pytest.raises(TypeError, match='no flag field'):
        add_flags(argparse.ArgumentParser(), Example, depth=2)
    on = add_flags(argparse.ArgumentParser(), Example, fast=True)  # a model turning a switch on by default
    assert from_options(Example, on.parse_args([])).fast is True
    assert from_options(Example, on.parse_args(['--no_fast'])).fast is False
    assert from_options(Example, on.parse_args(['--fast'])).fast is True
    on.set_defaults(fast=False)  # a preset turning it off again
    assert from_options(Example, on.parse_args([])).fast is False


@dataclasses.dataclass(frozen=True)
class WithShared:
    width: int = 8  # set by a flag defined elsewhere
    depth: int = flag(2, 'layers')


def test_a_plain_field_is_read_but_not_made_a_flag():
    parser = argparse.ArgumentParser()
    parser.add_argument('--width', type=int, default=5)
    add_flags(parser, WithShared)
    assert flag_names(WithShared) == ('depth',)
    assert from_options(WithShared, parser.parse_args(['--width', '7'])) == WithShared(7, 2)
    assert from_options(WithShared, parser.parse_args([]), depth=9) == WithShared(5, 9)
    with pytest.raises(TypeError, match='no flag field width'):
        add_flags(argparse.ArgumentParser(), WithShared, width=3)


@pytest.mark.parametrize('model, defaults', [('au_gan', {'dilation': 1, 'upsample': 'transposed', 'input_skip': True,
                                                        'skip_refine': True, 'antialias': True}),
                                             ('fork_gan', {'n_blocks_enc': 5, 'dilation': 1, 'upsample': 'transposed'})])
def test_the_fork_generator_flags_are_its_config_fields(tmp_path, model, defaults):
    """One name per fact: the flag, the config field, the network's record and the checkpoint's."""
    opt = TrainOptions().parse(['--dataroot', str(tmp_path), '--checkpoints_dir', str(tmp_path), '--model', model,
                                '--ngf', '4', '--ndf', '4', '--gpu_ids', '-1', '--tf_padding', '--affine_norm'], save=False)
    config = from_options(ForkGeneratorConfig, opt)
    assert config == dataclasses.replace(ForkGeneratorConfig(), ngf=4, tf_padding=True, affine_norm=True, **defaults)
    net = create_model(opt).netG_B
    record = describe(net)['kwargs']
    assert {k: record[k] for k in flag_names(ForkGeneratorConfig)} == {k: getattr(opt, k) for k in flag_names(ForkGeneratorConfig)}
    rebuilt = build_network(describe(net))
    assert describe(rebuilt) == describe(net) and rebuilt.state_dict().keys() == net.state_dict().keys()


def test_a_checkpoint_from_before_the_config_is_read_under_todays_names():
    """Older fork-generator files stored three arguments under other names (models/legacy.py)."""
    net = ForkGenerator(3, 3, ForkGeneratorConfig(ngf=4, n_blocks_enc=1, n_blocks_dec=1, affine_norm=True,
                                                  tf_padding=True, no_output_bias=True))
    kwargs = dict(describe(net)['kwargs'])
    old = {k: v for k, v in kwargs.items() if k not in ('affine_norm', 'tf_padding', 'no_output_bias')}
    old.update(affine=True, tf_same=True, output_bias=False)
    saved = {'class': 'ForkGenerator', 'kwargs': old}
    assert describe(build_network(saved)) == describe(net)
    check_config('old.pth', saved, net)  # fits
    other = ForkGenerator(3, 3, ForkGeneratorConfig(ngf=4, n_blocks_enc=1, n_blocks_dec=1, affine_norm=True,
                                                    tf_padding=True))
    with pytest.raises(UserError, match='no_output_bias=True.*no_output_bias=False'):
        check_config('old.pth', saved, other)


def test_a_record_from_before_a_flag_existed_builds_the_network_it_was(tmp_path):
    """A checkpoint or a run's train_opt.json that lacks a later architecture flag describes the
    network as the code built it then (models/legacy.py ADDED_LATER), not today's default."""
    # a 5-tap --antialias generator saved before --antialias_taps and --skip_refine existed
    then = ForkGenerator(3, 3, ForkGeneratorConfig(ngf=4, n_blocks_enc=1, n_blocks_dec=1, dilation=1, antialias=True,
                                                   antialias_taps=5))
    saved = {'class': 'ForkGenerator',
             'kwargs': {k: v for k, v in describe(then)['kwargs'].items() if k not in ('antialias_taps', 'skip_refine')}}
    assert describe(build_network(saved)) == describe(then)
    # an au_gan run recorded before --antialias, its taps and --skip_refine existed: tested as it was built
    args = ['--dataroot', str(tmp_path), '--checkpoints_dir', str(tmp_path), '--name', 'run', '--gpu_ids', '-1']
    opt = TrainOptions().parse(args + ['--no_skip_refine', '--no_antialias'], save=False)
    for k in ('skip_refine', 'antialias', 'antialias_taps', 'antialias_at'):
        delattr(opt, k)
    save_record(opt, record_path(str(tmp_path), 'run'))
    tested = TestOptions().parse(args, save=False)
    assert (tested.skip_refine, tested.antialias, tested.antialias_taps) == (False, False, 5)
    assert TestOptions().parse(args[:4] + ['--name', 'new', '--gpu_ids', '-1'], save=False).skip_refine  # no record


def test_the_official_preset_is_the_official_generator_config():
    assert {k: OFFICIAL_TRAIN[k] for k in dataclasses.asdict(OFFICIAL_GENERATOR)} == dataclasses.asdict(OFFICIAL_GENERATOR)


def test_the_data_geometry_flags_are_its_fields_and_the_dataset_reads_them(tmp_path):
    make_domain(tmp_path / 'trainA', [(10, 20, 30), (40, 50, 60)])
    make_domain(tmp_path / 'trainB', [(200, 180, 120), (150, 200, 230)])
    opt = au_gan(tmp_path, '--load_size', '40x72', '--crop_size', '32', '--no_flip')
    assert from_options(Geometry, opt) == Geometry(ImageSize(40, 72), 32, 'resize_and_crop', no_flip=True)
    dataset = UnalignedDataset(opt)
    assert dataset.geometry == from_options(Geometry, opt)
    assert dataset[0]['A'].shape == (3, 32, 32)


@pytest.mark.parametrize('config', [Geometry, DiscriminatorConfig, ComputeConfig])
def test_a_shared_config_makes_base_flags_with_its_defaults_and_help(tmp_path, config):
    parser = TrainOptions()
    parser.gather_options(['--dataroot', str(tmp_path), *TINY])
    actions = {a.dest: a for a in parser.parser._actions}
    for f in dataclasses.fields(config):
        if f.name in flag_names(config):
            assert actions[f.name].default == f.default and actions[f.name].help == f.metadata['help'], f.name
        else:  # a plain field: another component's flag of the same name sets it
            assert f.name in actions, f.name


def test_the_discriminators_are_built_from_their_config(tmp_path):
    model = create_model(au_gan(tmp_path, '--netD', 'ms2', '--n_layers_D', '2', '--ndf', '6', '--norm', 'batch'))
    assert from_options(DiscriminatorConfig, model.opt) == DiscriminatorConfig(6, 'ms2', 2, 'batch')
    saved = describe(model.netD_A)
    assert saved['class'] == 'MultiscaleDiscriminator'
    assert {k: saved['kwargs'][k] for k in ('ndf', 'n_layers', 'norm', 'num_D')} == {'ndf': 6, 'n_layers': 2,
                                                                                     'norm': 'batch', 'num_D': 2}


def test_cycle_gans_generator_is_built_from_its_config(tmp_path):
    parser = TrainOptions()
    opt = parser.parse(['--dataroot', str(tmp_path), '--checkpoints_dir', str(tmp_path), '--model', 'cycle_gan',
                        '--netG', 'resnet_6blocks', '--ngf', '4', '--ndf', '4', '--gpu_ids', '-1'], save=False)
    field = dataclasses.fields(ResnetGeneratorConfig)[0]
    action = next(a for a in parser.parser._actions if a.dest == 'netG')
    assert (action.default, action.help, tuple(action.choices)) == (field.default, field.metadata['help'],
                                                                    field.metadata['choices'])
    config = from_options(ResnetGeneratorConfig, opt)
    assert config == ResnetGeneratorConfig('resnet_6blocks', 4, 'instance', True)
    saved = describe(create_model(opt).netG_A)
    assert saved['class'] == 'ResnetGenerator' and saved['kwargs']['n_blocks'] == 6 and not saved['kwargs']['use_dropout']
