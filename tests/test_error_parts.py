"""study/error_parts.py: each part wins back what it should, and nothing else."""
import numpy as np
import pytest
from PIL import Image, ImageFilter

from study.error_parts import error_parts, main
from util.errors import UserError


def scene(seed, size=(48, 32)):
    """A smooth random day photo, HxWx3 uint8."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (8, 12, 3), dtype=np.uint8)).resize(size, Image.BICUBIC)
    return np.asarray(small.filter(ImageFilter.GaussianBlur(1)))


def write(folder, name, array):
    folder.mkdir(exist_ok=True)
    Image.fromarray(np.clip(array, 0, 255).round().astype(np.uint8)).save(folder / name)


def test_a_colour_cast_is_won_back_by_the_affine_fit_and_a_wrong_scene_by_none(tmp_path):
    truth, cast, wrong = tmp_path / 'truth', tmp_path / 'cast', tmp_path / 'wrong'
    for i in range(3):
        day = scene(i).astype(np.float64)
        write(truth, f'{i}.png', day)
        write(cast, f'{i}.png', 0.6 * day + [40, 10, -5])  # a global colour and brightness change
        write(wrong, f'{i}.png', scene(100 + i))           # another scene altogether
    means, n = error_parts(str(cast), str(truth))
    assert n == 3
    assert means['affine'] > means['raw'] + 15 and means['affine'] > 40  # 8-bit rounding is all that is left
    assert means['tone curve'] >= means['affine'] - 0.1
    wrong_means, _ = error_parts(str(wrong), str(truth))
    assert max(wrong_means.values()) < 25  # no global fit or blur turns one scene into another


def test_blurring_both_hides_missing_detail_only(tmp_path):
    truth, soft = tmp_path / 'truth', tmp_path / 'soft'
    rng = np.random.default_rng(0)
    for i in range(2):
        day = scene(i).astype(np.float64) + rng.normal(0, 25, (32, 48, 3))  # fine detail
        write(truth, f'{i}.png', day)
        write(soft, f'{i}.png', np.asarray(Image.fromarray(np.clip(day, 0, 255).astype(np.uint8))
                                           .filter(ImageFilter.GaussianBlur(2)), dtype=np.float64))
    means, _ = error_parts(str(soft), str(truth))
    assert means['blurred'] > means['raw'] + 8


def test_a_translation_without_its_truth_is_a_one_line_error(tmp_path, capsys):
    write(tmp_path / 'fakes', 'a.png', scene(0))
    write(tmp_path / 'truth', 'b.png', scene(1))
    with pytest.raises(UserError, match='has no day photo named a'):
        error_parts(str(tmp_path / 'fakes'), str(tmp_path / 'truth'))
    with pytest.raises(SystemExit) as e:
        main(['--fakes', str(tmp_path / 'none'), '--truth', str(tmp_path / 'truth')])
    assert e.value.code == 2 and 'is not a folder' in capsys.readouterr().err
