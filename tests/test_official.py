"""The official AU-GAN, reproduced: imported TensorFlow weights give TensorFlow's outputs, and
`--preset official` builds, trains and tests the official configuration.

The reference outputs in tests/fixtures/official_augan/ were computed by real TensorFlow
(tensorflow-cpu 2.21) running the unmodified official code (github jgkwak95/AU-GAN, HEAD
a5283682 as `latest`, the first upload 953bdad as `first_upload`) with small random weights:
tests/fixtures/official_augan/make_fixtures.py made them and its docstring gives the command.
These tests need no TensorFlow.
"""
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO, SHARED_DATA, run_cli, run_main
from models.layers import count_parameters
from models.persistence import build_network
from official.weights import official_networks
from util.checkpoint import load_network
from util.errors import UserError

FIXTURES = REPO / 'tests' / 'fixtures' / 'official_augan'
VERSIONS = ['latest', 'first_upload']
NGF, NDF = 4, 8  # the fixtures' widths


def nchw(array):
    return torch.from_numpy(np.ascontiguousarray(np.asarray(array).transpose(0, 3, 1, 2)))


def outputs(version):
    return np.load(FIXTURES / version / 'outputs.npz')


class ReplayNoise(torch.nn.Module):
    """Stands in for a decoder's GaussianNoise: adds the noise TensorFlow drew, in call order."""

    def __init__(self, *arrays):
        super().__init__()
        self.arrays = [nchw(a) for a in arrays]

    def forward(self, x):
        return x + self.arrays.pop(0)


@pytest.fixture(scope='module', params=VERSIONS)
def imported(request, tmp_path_factory):
    """(version, run folder) of each fixture checkpoint imported by official/importer.py."""
    from official.importer import import_checkpoint
    ckpt = tmp_path_factory.mktemp('imported')
    run_dir, _, _, _ = import_checkpoint(str(FIXTURES / request.param), 'official', str(ckpt))
    return request.param, Path(run_dir)


def load_run_network(run_dir, name):
    """A network rebuilt from its file in the run folder alone, as every tool does."""
    state, config, _ = load_network(run_dir / f'latest_net_{name}.pth')
    net = build_network(config)
    net.load_state_dict(state)
    return net.eval()


def assert_close(ours, tf_array, what, tol=1e-4):
    diff = float((ours - nchw(tf_array)).abs().max())
    assert diff < tol, f'{what}: max |PyTorch - TensorFlow| = {diff:.3g}'


@pytest.mark.slow
def test_imported_generators_reproduce_tensorflow(imported):
    version, run_dir = imported
    ref = outputs(version)
    G_A, G_B = load_run_network(run_dir, 'G_A'), load_run_network(run_dir, 'G_B')
    assert G_A.t_net_concat == (version == 'first_upload')
    with torch.no_grad():
        G_A.rec_decoder.noise = ReplayNoise(ref['noise_GA_real_A_in'], ref['noise_GA_real_A_block1'])
        out = G_A(nchw(ref['real_A']))
        assert_close(out.fake, ref['fake_B'], 'G_A translation')
        assert_close(out.sigma, ref['pred_confA'], 'G_A sigma')
        assert_close(out.rec, ref['rec_realA'], 'G_A reconstruction (TensorFlow noise fed)')
        assert_close(out.enc, ref['realA_percep'], 'G_A encoding')
        assert_close(out.code, ref['transA_percep'], 'G_A T-net output')
        G_B.rec_decoder.noise = ReplayNoise(ref['noise_GB_real_B_in'], ref['noise_GB_real_B_block1'])
        out = G_B(nchw(ref['real_B']))
        assert_close(out.fake, ref['fake_A'], 'G_B translation')
        assert_close(out.rec, ref['rec_realB'], 'G_B reconstruction (TensorFlow noise fed)')
        # the cycle, through the translate() interface the tools use
        assert_close(G_B.translate(nchw(ref['fake_B'])), ref['fake_A_'], 'G_B(G_A(x_A))')
        assert_close(G_A.translate(nchw(ref['fake_A'])), ref['fake_B_'], 'G_A(G_B(x_B))')
    # the noise matters: without TensorFlow's, the reconstruction is off
    with torch.no_grad():
        G_A.rec_decoder.noise = ReplayNoise(0 * ref['noise_GA_real_A_in'], 0 * ref['noise_GA_real_A_block1'])
        assert float((G_A(nchw(ref['real_A'])).rec - nchw(ref['rec_realA'])).abs().max()) > 1e-3


@pytest.mark.slow
def test_imported_discriminators_reproduce_tensorflow(imported):
    version, run_dir = imported
    ref = outputs(version)
    for domain in 'AB':
        D = load_run_network(run_dir, f'D_{domain}')
        with torch.no_grad():
            maps = D(nchw(ref[f'real_{domain}']))
        keys = [f'D_{i}_discriminator{domain}_real_{domain}_scale{s}' for i in range(2) for s in range(2)]
        assert len(maps) == len(keys)
        for ours, key in zip(maps, keys):
            assert_close(ours, ref[key], key)


def official_model(version, dataroot, *extra):
    from models import create_model
    from options.train_options import TrainOptions
    flags = ['--dataroot', str(dataroot), '--preset', 'official', '--ngf', str(NGF), '--ndf', str(NDF),
             '--gpu_ids', '-1', '--amp', 'off', *extra]
    if version == 'first_upload':
        flags += ['--t_net_concat', '--conf_residual_weight', '1']
    return create_model(TrainOptions().parse(flags, save=False))


@pytest.mark.parametrize('version', VERSIONS)
def test_generator_objective_equals_tensorflows(version, tmp_path):
    """The whole official generator loss, from imported weights and TensorFlow's noise."""
    from official.importer import import_checkpoint
    _, nets, _, _ = import_checkpoint(str(FIXTURES / version), 'official', str(tmp_path))
    model = official_model(version, tmp_path)
    for name, net in nets.items():
        getattr(model, 'net' + name).load_state_dict(net.state_dict())
    ref = outputs(version)
    model.real_A, model.real_B = nchw(ref['real_A']), nchw(ref['real_B'])
    model.netG_A.rec_decoder.noise = ReplayNoise(ref['noise_GA_real_A_in'], ref['noise_GA_real_A_block1'])
    model.netG_B.rec_decoder.noise = ReplayNoise(ref['noise_GB_real_B_in'], ref['noise_GB_real_B_block1'])
    with torch.no_grad():
        model.forward()
        terms = model.generator_loss(model.netD_A, model.netD_B)
    loss = sum(terms.values())
    assert math.isclose(float(terms['G_A'] + terms['G_B']), float(ref['g_adv_total']), rel_tol=1e-4)
    assert math.isclose(float(terms['cycle_A']), float(ref['g_A_cycle_loss']), rel_tol=1e-4)
    assert math.isclose(float(terms['fm_A'] + terms['fm_B']), float(ref['percep_loss']), rel_tol=1e-4)
    assert math.isclose(float(loss), float(ref['g_loss']), rel_tol=1e-4), (float(loss), float(ref['g_loss']))


@pytest.mark.parametrize('version', VERSIONS)
def test_parameter_counts_and_names_equal_the_official_graph(version):
    """At the published widths (ngf = ndf = 64): TensorFlow's variables, one for one."""
    full = json.loads((FIXTURES / version / 'variables.json').read_text())['full_size']
    tf_shapes = {name: shape for name, shape in full['variables']}
    nets = official_networks(3, 3, 64, 64, first_upload=version == 'first_upload')
    mapped = {}
    for name, (net, names) in nets.items():
        state = net.state_dict()
        assert set(names.values()) == set(state), name
        for tf_name, key in names.items():
            shape = tf_shapes[tf_name]
            assert tuple(state[key].shape) == (tuple(shape[i] for i in (3, 2, 0, 1)) if len(shape) == 4 else tuple(shape))
        mapped.update(names)
    assert set(mapped) == set(tf_shapes)
    counts = full['counts']
    assert count_parameters(nets['G_A'][0]) == counts['generatorA2B']
    assert count_parameters(nets['G_B'][0]) == counts['generatorB2A']
    for d in nets['D_A'][0].discriminators:
        assert count_parameters(d) == counts['0_discriminatorA']
    if version == 'latest':  # the numbers the issue quotes
        assert (counts['generatorA2B'], counts['generatorB2A'], counts['0_discriminatorA']) == \
            (20_103_552, 15_303_872, 2_783_040)


def test_preset_official_builds_the_official_parameter_counts(tmp_path):
    from models import create_model
    from options.train_options import TrainOptions
    opt = TrainOptions().parse(['--dataroot', str(tmp_path), '--preset', 'official', '--gpu_ids', '-1'], save=False)
    assert (opt.load_size, opt.crop_size, opt.epoch_length, opt.netD, opt.lambda_gan) == ((286, 572), (256, 512),
                                                                                          'min', 'augan', 2.0)
    model = create_model(opt)
    full = json.loads((FIXTURES / 'latest' / 'variables.json').read_text())['full_size']['counts']
    assert count_parameters(model.netG_A) == full['generatorA2B']
    assert count_parameters(model.netG_B) == full['generatorB2A']
    assert count_parameters(model.netD_A) == 2 * full['0_discriminatorA']
    # flags on the command line still win over the preset
    opt = TrainOptions().parse(['--dataroot', str(tmp_path), '--preset', 'official', '--ngf', '32',
                                '--crop_size', '128x256', '--gpu_ids', '-1'], save=False)
    assert (opt.ngf, opt.crop_size, opt.tf_padding) == (32, (128, 256), True)


def test_preset_official_refuses_another_model(tmp_path):
    from options.train_options import TrainOptions
    with pytest.raises(UserError, match='--preset official configures --model au_gan'):
        TrainOptions().parse(['--dataroot', str(tmp_path), '--preset', 'official', '--model', 'cycle_gan',
                              '--gpu_ids', '-1'], save=False)


# ----- the importer's refusals -----
def test_importer_finds_the_files_beside_a_foreign_state_file(tmp_path):
    from official.tf_checkpoint import resolve_checkpoint
    state = (FIXTURES / 'latest' / 'checkpoint').read_text()
    assert '/home/someone/' in state  # as copied from another machine
    assert Path(resolve_checkpoint(str(FIXTURES / 'latest'))) == FIXTURES / 'latest' / 'cyclegan.model-7'


def checkpoint_copy(tmp_path, version='latest'):
    dest = tmp_path / version
    shutil.copytree(FIXTURES / version, dest)
    return dest


def test_importer_refuses_missing_extra_and_misshaped_variables(tmp_path):
    from official.importer import match_variables
    from official.tf_checkpoint import list_variables
    prefix = str(FIXTURES / 'latest' / 'cyclegan.model-7')
    variables = list_variables(prefix)
    nets = official_networks(3, 3, NGF, NDF)
    match_variables(variables, nets, prefix)  # the real thing passes

    missing = dict(variables)
    del missing['1_discriminatorB/d_pred_scale_1/Conv/weights']
    with pytest.raises(UserError, match=r'lacks 1 variable.*1_discriminatorB/d_pred_scale_1/Conv/weights'):
        match_variables(missing, nets, prefix)
    extra = dict(variables, **{'generatorA2B/g_r5_c1/filter': ('float32', (3, 3, 16, 16))})
    with pytest.raises(UserError, match=r'has 1 variable.*generatorA2B/g_r5_c1/filter'):
        match_variables(extra, nets, prefix)
    reshaped = dict(variables, **{'generatorB2A/g_d1_bn/scale': ('float32', (9,))})
    with pytest.raises(UserError, match=r'generatorB2A/g_d1_bn/scale has shape \[9\]'):
        match_variables(reshaped, nets, prefix)
    # an optimizer's slots are not model variables
    match_variables(dict(variables, **{'generatorA2B/g_e1_c/Conv/weights/Adam': ('float32', (7, 7, 3, 4))}),
                    nets, prefix)


@pytest.mark.slow
def test_import_cli_one_line_errors(tmp_path):
    # a TensorFlow checkpoint of another model
    other = REPO / 'tests' / 'fixtures' / 'tf_checkpoint'
    proc = run_cli('scripts/import_official.py', '--checkpoint', other, '--name', 'x', '--checkpoints_dir', tmp_path,
                   check=False)
    assert proc.returncode == 2 and 'not an official AU-GAN checkpoint' in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    # a truncated data file
    broken = checkpoint_copy(tmp_path)
    data = broken / 'cyclegan.model-7.data-00000-of-00001'
    data.write_bytes(data.read_bytes()[:1000])
    proc = run_cli('scripts/import_official.py', '--checkpoint', broken, '--name', 'x', '--checkpoints_dir',
                   tmp_path / 'ck', check=False)
    assert proc.returncode == 2 and 'data-00000-of-00001' in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / 'ck' / 'x' / 'latest_net_G_A.pth').exists()
    # an existing run is not overwritten without --overwrite
    run_cli('scripts/import_official.py', '--checkpoint', FIXTURES / 'latest', '--name', 'y', '--checkpoints_dir',
            tmp_path / 'ck')
    proc = run_cli('scripts/import_official.py', '--checkpoint', FIXTURES / 'latest', '--name', 'y',
                   '--checkpoints_dir', tmp_path / 'ck', check=False)
    assert proc.returncode == 2 and '--overwrite' in proc.stderr


# ----- a run folder decides how its networks are built -----
needs_photos = pytest.mark.skipif(not (SHARED_DATA / 'trainA').is_dir(),
                                  reason=f'the real day/night set is not at {SHARED_DATA}')


@pytest.mark.slow
@needs_photos
def test_tools_run_an_imported_model_without_architecture_flags(imported, tmp_path):
    version, run_dir = imported
    ckpt, name = run_dir.parent, run_dir.name
    night = sorted((SHARED_DATA / 'testA').iterdir())[0]
    run_cli('scripts/convert.py', '--name', name, '--checkpoints_dir', ckpt, '--input', night, '--direction', 'AtoB',
            '--results_dir', tmp_path / 'conv', '--gpu_ids', '-1')
    out = Image.open(tmp_path / 'conv' / night.name)
    assert out.size == Image.open(night).size
    run_cli('test.py', '--dataroot', SHARED_DATA, '--name', name, '--checkpoints_dir', ckpt, '--num_test', '1',
            '--results_dir', tmp_path / 'res', '--gpu_ids', '-1')
    fake = next((tmp_path / 'res' / name / 'test_latest' / 'images').glob('*fake_B*'))
    # the official test geometry, whole frames at fine_size x 2*fine_size: the fixture's 32, read from
    # the folder its state file names (.../bdd100k_32/)
    assert Image.open(fake).size == (64, 32)
    proc = run_cli('test.py', '--dataroot', SHARED_DATA, '--name', name, '--checkpoints_dir', ckpt,
                   '--upsample', 'bilinear', '--gpu_ids', '-1', check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f'error: --upsample bilinear contradicts the run {name}, built with --upsample '
                                   f'transposed (recorded in {ckpt}/{name}/train_opt.json): drop --upsample; a run '
                                   f'folder decides how its networks are built')


@pytest.mark.slow
@needs_photos
def test_export_and_evaluate_an_imported_model_without_architecture_flags(imported, tmp_path):
    version, run_dir = imported
    if version != 'latest':
        pytest.skip('one version is enough for these slower tools')
    ckpt, name = run_dir.parent, run_dir.name
    proc = run_cli('scripts/export.py', '--dataroot', SHARED_DATA, '--name', name, '--checkpoints_dir', ckpt,
                   '--results_dir', tmp_path / 'exp', '--gpu_ids', '-1', '--tolerance', '1e-3')
    assert (tmp_path / 'exp' / 'G_A_latest.pt').is_file(), proc.stdout
    run_cli('scripts/evaluate.py', '--dataroot', SHARED_DATA, '--name', name, '--checkpoints_dir', ckpt,
            '--results_dir', tmp_path / 'eval', '--num_test', '2', '--gpu_ids', '-1')
    assert (tmp_path / 'eval' / name / 'evaluation.csv').is_file()


@pytest.mark.slow
@needs_photos
def test_preset_official_trains_and_tests_on_256x512_crops(tmp_path):
    ckpt = tmp_path / 'ckpt'
    run_cli('train.py', '--dataroot', SHARED_DATA, '--name', 'official', '--checkpoints_dir', ckpt, '--preset',
            'official', '--ngf', '8', '--ndf', '8', '--max_dataset_size', '2', '--display_freq', '2', '--gpu_ids',
            '-1', '--num_threads', '0', '--amp', 'off',
            # one whole epoch, no decay: the official schedule then steps past its last epoch
            '--n_epochs', '1', '--n_epochs_decay', '0')
    record = json.loads((ckpt / 'official' / 'train_opt.json').read_text())
    assert (record['crop_size'], record['load_size'], record['epoch_length']) == ([256, 512], [286, 572], 'min')
    assert (record['batch_size'], record['world_size']) == (1, 1)
    shown = next((ckpt / 'official' / 'web' / 'images').glob('*real_A*'))
    assert Image.open(shown).size == (512, 256)
    run_cli('test.py', '--dataroot', SHARED_DATA, '--name', 'official', '--checkpoints_dir', ckpt, '--num_test', '1',
            '--results_dir', tmp_path / 'res', '--gpu_ids', '-1')
    fake = next((tmp_path / 'res' / 'official' / 'test_latest' / 'images').glob('*fake_B*'))
    assert Image.open(fake).size == (512, 256)
    # a trained run converts without architecture flags too, and refuses a contradicting one
    night = sorted((SHARED_DATA / 'testA').iterdir())[0]
    run_cli('scripts/convert.py', '--name', 'official', '--checkpoints_dir', ckpt, '--input', night,
            '--results_dir', tmp_path / 'conv', '--gpu_ids', '-1')
    assert Image.open(tmp_path / 'conv' / night.name).size == Image.open(night).size
    proc = run_cli('scripts/convert.py', '--name', 'official', '--checkpoints_dir', ckpt, '--input', night,
                   '--ngf', '64', '--gpu_ids', '-1', check=False)
    assert proc.returncode == 2 and '--ngf 64 contradicts the run official, built with --ngf 8' in proc.stderr


# ----- the printed commands, with no precision or size flag -----
def official_folder(tmp_path, name, state_path=None):
    """The `latest` fixture checkpoint copied into a folder called `name`; its state file names
    `state_path` when given (else the fixture's own, .../bdd100k_32/cyclegan.model-7)."""
    dest = tmp_path / name
    shutil.copytree(FIXTURES / 'latest', dest)
    if state_path:
        (dest / 'checkpoint').write_text(f'model_checkpoint_path: "{state_path}"\n'
                                         f'all_model_checkpoint_paths: "{state_path}"\n')
    return dest


@pytest.mark.parametrize('folder, state_path, flags, size, source', [
    ('bdd100k_64', None, [], 64, 'the folder name bdd100k_64'),  # the folder given wins over the state file
    ('weights', None, [], 32, 'the folder name bdd100k_32'),  # else the folder the state file records
    ('bdd100k_64', None, ['--fine_size', '40'], 40, '--fine_size'),
    ('weights', '/home/someone/models/cyclegan.model-7', [], 256, 'the official default: no folder name of the '
     'form <dataset>_<fine_size> (tried weights, models); pass --fine_size N if the model was trained at another size'),
])
def test_importer_reads_the_size_from_the_folder_name(tmp_path, folder, state_path, flags, size, source):
    from options.test_options import TestOptions
    src = official_folder(tmp_path, folder, state_path)
    proc = run_main('scripts/import_official.py', '--checkpoint', src, '--name', 'imp', '--checkpoints_dir',
                    tmp_path / 'ck', *flags)
    assert proc.returncode == 0, proc.stderr
    assert (f'fine_size {size} ({source}): the tools translate whole frames at {size}x{2 * size}, as the official '
            f'test does') in proc.stdout
    record = json.loads((tmp_path / 'ck' / 'imp' / 'train_opt.json').read_text())
    assert record['crop_size'] == [size, 2 * size]
    opt = TestOptions().parse(['--dataroot', str(tmp_path), '--name', 'imp', '--checkpoints_dir', str(tmp_path / 'ck'),
                               '--gpu_ids', '-1'], save=False)
    assert tuple(opt.load_size) == tuple(opt.crop_size) == (size, 2 * size) and opt.preprocess == 'resize'
    # a size on the command line still wins
    opt = TestOptions().parse(['--dataroot', str(tmp_path), '--name', 'imp', '--checkpoints_dir', str(tmp_path / 'ck'),
                               '--gpu_ids', '-1', '--load_size', '128x256', '--crop_size', '128x256'], save=False)
    assert tuple(opt.load_size) == (128, 256)


def test_importer_refuses_a_fine_size_the_networks_cannot_take(tmp_path):
    proc = run_main('scripts/import_official.py', '--checkpoint', FIXTURES / 'latest', '--name', 'x',
                    '--checkpoints_dir', tmp_path, '--fine_size', '30')
    assert proc.returncode == 2 and '--fine_size 30: give the official size, a multiple of 4' in proc.stderr


def test_printed_commands_give_tensorflows_outputs_where_auto_would_train_in_bf16(tmp_path, monkeypatch):
    """import_official.py, then convert.py as the importer prints it (no --amp, no size flag), on
    a machine where --amp auto trains in bf16 (forced here): the outputs are TensorFlow's.
    photo.png and TensorFlow's outputs for it: tests/fixtures/official_augan/make_photo_fixture.py."""
    from util import precision
    monkeypatch.setattr(precision, 'auto_amp', lambda device: 'bf16')
    assert precision.resolve_amp('auto', torch.device('cpu')) == 'bf16'  # training would take bf16 here
    ck = tmp_path / 'ck'
    proc = run_main('scripts/import_official.py', '--checkpoint', official_folder(tmp_path, 'bdd100k_32'),
                    '--name', 'official', '--checkpoints_dir', ck)
    assert proc.returncode == 0, proc.stderr
    printed = next(line for line in proc.stdout.splitlines() if line.startswith('translate with: python '))
    command = printed.split('python ', 1)[1].replace('<folder or video>', str(FIXTURES / 'latest' / 'photo.png'))
    program, *args = command.split()
    assert program == 'scripts/convert.py' and not {'--amp', '--load_size', '--crop_size'} & set(args)
    ref = np.load(FIXTURES / 'latest' / 'photo_outputs.npz')
    tf_levels = (ref['fake_B'][0] + 1) * 127.5  # TensorFlow's translation in grey levels, before rounding

    def convert(out, *extra):
        proc = run_main(program, *args, '--results_dir', out, '--save_uncertainty_npy', *extra)
        assert proc.returncode == 0, proc.stderr
        image = np.asarray(Image.open(out / 'photo.png'), dtype=np.float64)
        return np.abs(image - tf_levels), np.load(out / 'photo_uncertainty.npy')

    levels, sigma = convert(tmp_path / 'printed')
    assert levels.max() <= 0.51, levels.max()  # rounding to 8 bits, nothing else (0.4999 measured)
    assert np.abs(sigma - ref['sigma'][0, ..., 0]).max() < 1e-4 * np.abs(ref['sigma']).max()
    # and bf16, asked for, would not be: the comparison can tell
    levels, _ = convert(tmp_path / 'bf16', '--amp', 'bf16')
    assert levels.max() > 2
