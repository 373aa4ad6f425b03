"""The picture of flicker and the checkerboard (study/aliasing_figure.py) from a tiny ground-truth
study made here without training: a ground-truth set of 48-px photos, study.json, and two
untrained runs (au_gan, cycle_gan) saved as the study's last checkpoint. CPU only."""
import json

import pytest
from PIL import Image

from data import ground_truth as gt
from models import create_model
from models.training_state import TrainingState
from options.train_options import TrainOptions
from study import aliasing_figure
from test_ground_truth import make_source

SIZE = 48  # the study's --eval_size: 48x64 px test photos, clips of 48x36 px frames (study.evaluation.clip_size)
CROP = 32  # the side of the frames' centre square shown
RUNS = {'au_gan_tiny': ['--n_blocks_enc', '1', '--n_blocks_T', '1', '--n_blocks_dec', '1'],
        'cycle_gan_tiny': ['--model', 'cycle_gan', '--n_layers_D', '1']}


@pytest.fixture(scope='module')
def study(tmp_path_factory):
    """A study folder as scripts/study.py leaves it, with untrained networks saved at iter_2."""
    root = tmp_path_factory.mktemp('aliasing_figure')
    out = root / 'study'
    gt.make_ground_truth_set(make_source(root / 'source'), out / 'data', height=SIZE)
    (out / 'study.json').write_text(json.dumps({'iters': 2, 'eval_at': [2], 'seed': 1, 'common': [], 'num_test': None,
                                                'eval_size': SIZE, 'kid_subsets': 2, 'kid_subset_size': None,
                                                'ground_truth': 'night'}))
    for name, flags in RUNS.items():
        opt = TrainOptions().parse(['--dataroot', str(out / 'data'), '--checkpoints_dir', str(out / 'runs'),
                                    '--name', name, '--ngf', '4', '--ndf', '4', '--load_size', '40', '--crop_size',
                                    '32', '--gpu_ids', '-1', '--amp', 'off', '--display_id', '0', *flags])
        model = create_model(opt)
        model.setup(opt)
        TrainingState(model).save('iter_2', {'epoch': 1, 'epoch_iter': 0, 'total_iters': 2})
    return out


def run(*args):
    """main(args) in this process: (exit status, stdout + stderr)."""
    import contextlib
    import io
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            aliasing_figure.main([str(a) for a in args])
            code = 0
        except SystemExit as e:
            code = e.code
    return code, out.getvalue()


def test_the_picture_has_a_strip_per_row_and_a_spectrum_per_panel(study, tmp_path):
    picture = tmp_path / 'figure.png'
    code, text = run('--study', study, '--configs', 'au_gan_tiny,cycle_gan_tiny', '--frames', '4', '--crop', CROP,
                     '--out', picture)
    assert code == 0, text
    assert 'wrote' in text and '4 rows of 4 frames, 4 spectra' in text
    lines = {line.split(':')[0].strip(): line for line in text.splitlines()[1:]}
    assert list(lines) == ['night input', 'au_gan_tiny', 'cycle_gan_tiny', 'truth']
    change = {k: float(v.split('mean change ')[1].split()[0]) for k, v in lines.items()}
    assert change['truth'] == 0 and change['night input'] > 1  # the pan undone exactly; fresh noise
    assert 'grid_ratio 1.000, grid_peak 1.000' in lines['truth']
    with Image.open(picture) as image:
        # (a): 4 frames and a change map a row, CROP px squares; (b): 4 panels of about 175 px
        assert image.width >= 4 * 175 and image.width < 4 * 175 + 50
        strip = aliasing_figure.PAD + 2 * aliasing_figure.LINE + 4 * (aliasing_figure.LINE + CROP + aliasing_figure.PAD)
        assert strip + 150 < image.height < strip + 400
        # the truth's change map (last row, last tile) is the colour scale's 0: the darkest colour
        x = aliasing_figure.PAD + 4 * (CROP + aliasing_figure.PAD)
        tile = image.convert('RGB').crop((x + 2, strip - aliasing_figure.PAD - CROP + 2, x + CROP - 2,
                                          strip - aliasing_figure.PAD - 2))
        assert max(max(band) for band in tile.getextrema()) < 20
    assert picture.stat().st_size < 300_000


def test_a_photo_or_a_pan_can_be_chosen(study, tmp_path):
    picture = tmp_path / 'still.png'
    code, text = run('--study', study, '--configs', 'au_gan_tiny', '--photo', 'testB_2', '--pan', '0',
                     '--frames', '3', '--spectra', '2', '--out', picture)
    assert code == 0, text
    assert '3 rows of 3 frames, 3 spectra' in text and picture.is_file()


@pytest.mark.parametrize('args, says', [
    (['--study', '{tmp}'], 'has no study.json'),
    (['--study', '{study}', '--configs', 'au_gan_tiny,no_such_config'], 'no_such_config has no iter_2 checkpoint'),
    (['--study', '{study}', '--configs', 'au_gan_tiny', '--photo', 'nope.png'], '--photo nope.png is not a test day'),
    (['--study', '{study}', '--configs', 'au_gan_tiny', '--pan', '40'], 'lower --pan or --frames'),
])
def test_what_cannot_be_drawn_is_one_line(study, tmp_path, args, says):
    picture = tmp_path / 'refused.png'
    code, text = run(*[a.format(tmp=tmp_path, study=study) for a in args], '--out', picture)
    assert code == 2 and says in text, text
    assert len(text.strip().splitlines()) == 1 and text.startswith('error: ')
    assert not picture.exists()


def test_a_study_pointed_at_an_existing_set_finds_it_through_its_runs(study, tmp_path):
    """scripts/study.py --dataroot <a ground-truth set> trains there and renders no <out>/data:
    the figures find the set in the runs' records (train_opt.json)."""
    import shutil
    elsewhere = tmp_path / 'study'
    shutil.copytree(study, elsewhere, ignore=shutil.ignore_patterns('data'))
    from study.figure import study_data
    assert study_data(str(elsewhere)) == str(study / 'data')
    code, text = run('--study', elsewhere, '--configs', 'au_gan_tiny', '--frames', '3', '--spectra', '2',
                     '--out', tmp_path / 'figure.png')
    assert code == 0, text
