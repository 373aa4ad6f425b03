"""Option parsing: registries add their flags, options are printed and saved, bad values are refused."""
import pytest

from conftest import run_cli
from options.test_options import TestOptions
from options.train_options import TrainOptions
from util.errors import UserError


def test_model_flags_and_defaults(tmp_path):
    opt = TrainOptions().parse(['--dataroot', str(tmp_path), '--checkpoints_dir', str(tmp_path), '--name', 'x'])
    # AU-GAN's defaults: the official layout and weights, plus the choices of docs/results.md's
    # ground-truth studies (transposed-conv upsampling, as the official code has; an identity loss;
    # the input skip and UGAC's cycle loss, from the rainy study; the filters and the full-size
    # block, from the aliasing study)
    assert (opt.n_blocks_enc, opt.n_blocks_T, opt.n_blocks_dec, opt.dilation, opt.upsample) == (4, 4, 4, 1, 'transposed')
    assert (opt.lambda_B, opt.lambda_rec, opt.lambda_fm, opt.lambda_conf, opt.lambda_identity) == (10, 10, 1, 1, 0.5)
    assert (opt.lr, opt.beta1, opt.pool_size, opt.gan_mode, opt.uncertainty) == (0.0002, 0.5, 50, 'lsgan', 'gengauss')
    assert opt.input_skip and opt.skip_refine and opt.antialias and opt.antialias_taps == 11
    paper = TrainOptions().parse(['--dataroot', str(tmp_path), '--checkpoints_dir', str(tmp_path), '--name', 'y',
                                  '--uncertainty', 'exp', '--no_input_skip', '--no_skip_refine', '--no_antialias'])
    assert (paper.uncertainty, paper.input_skip, paper.skip_refine, paper.antialias) == ('exp', False, False, False)
    official = TrainOptions().parse(['--dataroot', str(tmp_path), '--checkpoints_dir', str(tmp_path), '--name', 'z',
                                     '--preset', 'official'])
    assert (official.uncertainty, official.input_skip, official.skip_refine, official.antialias) == ('exp', False, False,
                                                                                                     False)
    saved = (tmp_path / 'x' / 'train_opt.txt').read_text()
    assert 'lambda_conf' in saved and 'dataroot' in saved


def test_template_dataset_adds_its_flag(tmp_path):
    opt = TrainOptions().parse(['--dataroot', str(tmp_path), '--checkpoints_dir', str(tmp_path),
                                '--model', 'template', '--dataset_mode', 'template'])
    assert hasattr(opt, 'template_pair_offset') and hasattr(opt, 'lambda_rec') and not hasattr(opt, 'lambda_fm')


def test_gpu_ids_and_suffix(tmp_path):
    opt = TestOptions().parse(['--dataroot', str(tmp_path), '--checkpoints_dir', str(tmp_path),
                               '--gpu_ids', '-1', '--suffix', '{model}_{netD}'])
    assert opt.gpu_ids == [] and opt.name == 'experiment_name_au_gan_basic' and not opt.isTrain
    assert TestOptions().parse(['--dataroot', 'x', '--checkpoints_dir', str(tmp_path), '--gpu_ids', '0,1']).gpu_ids == [0, 1]


@pytest.mark.parametrize('bad, message', [
    (['--batch_size', '0'], '--batch_size must be at least 1, got 0'),
    (['--num_threads', '-1'], '--num_threads must be at least 0, got -1'),
    (['--n_epochs', '0', '--n_epochs_decay', '0'], '--n_epochs 0 --n_epochs_decay 0 trains no epoch'),
    (['--n_epochs_decay', '-1'], '--n_epochs_decay must be at least 0, got -1'),
    (['--lr_policy', 'step', '--lr_decay_iters', '0'], '--lr_decay_iters must be at least 1, got 0'),
    (['--print_freq', '0'], '--print_freq must be at least 1, got 0'),
    (['--gpu_ids', '0;1'], '--gpu_ids 0;1: give GPU numbers separated by commas')])
def test_bad_values_refused(tmp_path, bad, message):
    with pytest.raises(UserError, match=message):
        TrainOptions().parse(['--dataroot', str(tmp_path), '--checkpoints_dir', str(tmp_path), *bad])


@pytest.mark.parametrize('bad, message', [
    (['--n_blocks_T', '-1'], 'argument --n_blocks_T: must be at least 0, got -1'),
    (['--n_blocks_T_B', '-2'], 'argument --n_blocks_T_B: must be at least 0, got -2'),
    (['--n_blocks_enc', '-1'], 'argument --n_blocks_enc: must be at least 0, got -1'),
    (['--n_blocks_dec', 'two'], "argument --n_blocks_dec: invalid int value: 'two'"),
    (['--dilation', '0'], 'argument --dilation: must be at least 1, got 0')])
def test_block_counts_below_zero_are_refused_by_the_parser(tmp_path, capsys, bad, message):
    # argparse's own one-line error, before any network is built
    with pytest.raises(SystemExit):
        TrainOptions().parse(['--dataroot', str(tmp_path), '--checkpoints_dir', str(tmp_path), *bad])
    assert message in capsys.readouterr().err


def test_an_abbreviated_flag_is_refused_not_taken_for_a_longer_one(tmp_path, capsys):
    # the staged parse would otherwise read a model flag that begins a base flag's name as that flag
    with pytest.raises(SystemExit):
        TrainOptions().parse(['--dataroot', str(tmp_path), '--checkpoints_dir', str(tmp_path), '--batch', '2'])
    assert 'unrecognized arguments: --batch 2' in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize('bad, message', [(['--steps', '0'], '--steps must be at least 1, got 0'),
                                          (['--batch_size', '0'], '--batch_size must be at least 1, got 0')])
def test_benchmark_refuses_bad_values_in_one_line(tmp_path, bad, message):
    proc = run_cli('benchmarks/benchmark.py', '--gpu_ids', '-1', '--checkpoints_dir', tmp_path, *bad, check=False)
    assert proc.returncode == 2 and message in proc.stderr + proc.stdout
    assert 'Traceback' not in proc.stderr


@pytest.mark.slow
def test_help_lists_model_flags():
    out = run_cli('train.py', '--model', 'au_gan', '-h').stdout
    for flag in ['--lambda_conf', '--uncertainty', '--n_blocks_T', '--dilation', '--netD', '--preprocess']:
        assert flag in out


def test_a_tool_gives_a_shared_flag_its_own_meaning(tmp_path):
    """A tool's `redefines` replaces the shared definition: one flag, the tool's default and help."""
    from options.convert_options import ConvertOptions
    from options.evaluate_options import EvaluateOptions
    args = ['--checkpoints_dir', str(tmp_path), '--gpu_ids', '-1']
    for options, flags in ((ConvertOptions(), ['--input', 'x']), (EvaluateOptions(), ['--dataroot', 'x'])):
        options.gather_options([*args, *flags])
        for flag in options.redefines:
            actions = [a for a in options.parser._actions if flag in a.option_strings]
            assert len(actions) == 1, flag
    test, convert, evaluate = TestOptions(), ConvertOptions(), EvaluateOptions()
    test.gather_options(['--dataroot', 'x', *args])
    convert.gather_options(['--input', 'x', *args])
    evaluate.gather_options(['--dataroot', 'x', *args])
    assert test.parser.get_default('load_size') == 256 and convert.parser.get_default('load_size') == 0
    assert test.parser.get_default('num_test') == 50 and evaluate.parser.get_default('num_test') == float('inf')
    assert test.parser.get_default('direction') == 'AtoB'
    assert 'both' in next(a for a in convert.parser._actions if a.dest == 'direction').choices


def test_export_checks_an_image_without_a_dataroot(tmp_path):
    import sys
    from conftest import REPO
    sys.path.insert(0, str(REPO / 'scripts'))
    from export import ExportOptions
    with pytest.raises(UserError, match='pass --dataroot'):
        ExportOptions().parse(['--checkpoints_dir', str(tmp_path), '--gpu_ids', '-1'], save=False)
    opt = ExportOptions().parse(['--checkpoints_dir', str(tmp_path), '--gpu_ids', '-1', '--image', 'x.png'], save=False)
    assert opt.dataroot is None and opt.results_dir.endswith('experiment_name')
    with pytest.raises(UserError, match='--batch_size must be at least 1'):  # and the shared checks still run
        ExportOptions().parse(['--checkpoints_dir', str(tmp_path), '--image', 'x.png', '--batch_size', '0'], save=False)
