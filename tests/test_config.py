"""Typed configurations make their flags (util/config.py): AU-GAN's loss weights as the example."""
import argparse
import dataclasses

import pytest
import torch

from conftest import TINY
from models import create_model
from models.au_gan_model import AUGANLosses
from options.train_options import TrainOptions
from util.config import add_flags, flag, from_options


def au_gan(tmp_path, *flags):
    return TrainOptions().parse(['--dataroot', str(tmp_path), '--checkpoints_dir', str(tmp_path), *TINY, *flags],
                                save=False)


def test_every_loss_weight_is_a_training_flag_with_the_fields_default_and_help(tmp_path):
    opt = au_gan(tmp_path)
    parser = TrainOptions()
    parser.gather_options(['--dataroot', str(tmp_path), *TINY])
    actions = {a.dest: a for a in parser.parser._actions}
    for f in dataclasses.fields(AUGANLosses):
        assert actions[f.name].default == f.default and actions[f.name].help == f.metadata['help'], f.name
    assert from_options(AUGANLosses, opt) == AUGANLosses()


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
    with pytest.raises(TypeError, match='no field'):
        add_flags(argparse.ArgumentParser(), Example, depth=2)
    with pytest.raises(TypeError, match='off by default'):
        add_flags(argparse.ArgumentParser(), Example, fast=True)
