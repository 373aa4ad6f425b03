"""Every model of the codebase trains and tests through the real entry points, in every --norm;
baseline architectures match their reference parameter counts; `--model test` runs one generator."""
import importlib.util
import math

import pytest
from PIL import Image

import train
from conftest import REPO, parse_page, read_losses
from models.discriminators import NLayerDiscriminator
from models.generators import ResnetGeneratorConfig, define_resnet_generator
from models.layers import count_parameters

spec = importlib.util.spec_from_file_location('test_entry', REPO / 'test.py')  # 'test' is a stdlib package
test_entry = importlib.util.module_from_spec(spec)
spec.loader.exec_module(test_entry)

SMALL = {'au_gan': ['--n_blocks_enc', '1', '--n_blocks_T', '1', '--n_blocks_dec', '1'],
         'fork_gan': ['--n_blocks_enc', '1', '--n_blocks_dec', '1'],
         'cycle_gan': ['--netG', 'resnet_6blocks'],
         'template': []}
VISUALS = {'au_gan': 9, 'fork_gan': 10, 'cycle_gan': 6, 'template': 3}


@pytest.fixture(scope='module')
def tiny_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('data')
    for folder, colour in [('trainA', (20, 30, 60)), ('trainB', (200, 190, 150)),
                           ('testA', (10, 20, 50)), ('testB', (210, 200, 160))]:
        (root / folder).mkdir()
        for i in range(2):
            img = Image.new('RGB', (72 + 8 * i, 68), colour)
            img.paste((255, 255, 255), (10 * i, 10, 10 * i + 20, 30))
            img.save(root / folder / f'{i}.png')
    return root


def common(model, norm, root, ckpt):
    return ['--dataroot', str(root), '--checkpoints_dir', str(ckpt), '--name', f'{model}_{norm}', '--model', model,
            '--norm', norm, '--ngf', '4', '--ndf', '4', '--gpu_ids', '-1', '--num_threads', '0', '--n_layers_D', '2',
            '--amp', 'off', *SMALL[model]]


@pytest.mark.slow
@pytest.mark.parametrize('norm', ['instance', 'batch', 'none'])
@pytest.mark.parametrize('model', ['au_gan', 'fork_gan', 'cycle_gan', 'template'])
def test_model_trains_and_tests(tmp_path, tiny_root, model, norm):
    args = common(model, norm, tiny_root, tmp_path / 'ck')
    train.main(args + ['--load_size', '72', '--crop_size', '64', '--n_epochs', '1', '--n_epochs_decay', '0',
                       '--print_freq', '1', '--batch_size', '2'])
    rows = read_losses(tmp_path / 'ck' / f'{model}_{norm}' / 'loss_log.txt')
    assert rows and all(math.isfinite(v) for row in rows for v in row.values())
    test_entry.main(args + ['--results_dir', str(tmp_path / 'results'), '--load_size', '64', '--preprocess',
                            'scale_height', '--eval'])
    page = tmp_path / 'results' / f'{model}_{norm}' / 'test_latest'
    images = list((page / 'images').glob('*.png'))
    assert len(images) == 2 * VISUALS[model]
    assert all(Image.open(p).size[1] == 64 for p in images)


@pytest.mark.slow
@pytest.mark.parametrize('suffix, uncertainty', [('_A', True), ('_B', False)])
def test_model_test_runs_one_generator_from_its_file(tmp_path, tiny_root, suffix, uncertainty):
    args = common('au_gan', 'instance', tiny_root, tmp_path / 'ck')
    train.main(args + ['--load_size', '72', '--crop_size', '64', '--n_epochs', '1', '--n_epochs_decay', '0'])
    # no network flags: the generator is rebuilt as its file describes it
    test_entry.main(['--dataroot', str(tiny_root / f'test{suffix[1]}'), '--checkpoints_dir', str(tmp_path / 'ck'),
                     '--name', 'au_gan_instance', '--model', 'test', '--model_suffix', suffix, '--gpu_ids', '-1',
                     '--results_dir', str(tmp_path / 'results'), '--load_size', '64', '--preprocess', 'scale_height'])
    page = tmp_path / 'results' / 'au_gan_instance' / 'test_latest'
    names = {p.name.split('_', 1)[1] for p in (page / 'images').iterdir()}
    assert names == ({'real.png', 'fake.png', 'uncertainty.png'} if uncertainty else {'real.png', 'fake.png'})
    parsed = parse_page(page / 'index.html')  # the uncertainty column has its scale and per-image max sigma
    n_images = len(list((page / 'images').glob('*_real.png')))
    assert parsed.legends == (['0', 'max σ'] if uncertainty else [])
    assert len([c for c in parsed.captions if c.startswith('max σ = ')]) == (n_images if uncertainty else 0)


def test_reference_parameter_counts():
    # pytorch-CycleGAN-and-pix2pix at ngf = ndf = 64, RGB: ResNet-9 generator 11.378 M, PatchGAN 2.765 M
    assert count_parameters(define_resnet_generator(3, 3, ResnetGeneratorConfig(no_dropout=False))) == 11378179
    assert count_parameters(NLayerDiscriminator(3, 64, 3, 'instance')) == 2764737


spec_convert = importlib.util.spec_from_file_location('convert', REPO / 'scripts' / 'convert.py')
convert = importlib.util.module_from_spec(spec_convert)
spec_convert.loader.exec_module(convert)


@pytest.mark.slow
@pytest.mark.parametrize('model', ['au_gan', 'fork_gan', 'cycle_gan'])
def test_each_model_converts_a_folder_both_ways(tmp_path, tiny_root, model):
    args = common(model, 'instance', tiny_root, tmp_path / 'ck')
    train.main(args + ['--load_size', '72', '--crop_size', '64', '--n_epochs', '1', '--n_epochs_decay', '0'])
    out = tmp_path / 'converted'
    convert.main([a for a in args if a not in ('--dataroot', str(tiny_root))] +
                 ['--input', str(tiny_root / 'testA'), '--direction', 'both', '--results_dir', str(out)])
    for direction in ('AtoB', 'BtoA'):
        for src in (tiny_root / 'testA').iterdir():
            result = out / direction / src.name
            assert result.is_file() and Image.open(result).size == Image.open(src).size, result
