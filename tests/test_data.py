"""Tests of the data pipeline: image listing, preprocessing, dataset modes, loaders, download script.

Tiny synthetic images are written to tmp_path; the real day/night set next to the repository
(../shared/datasets/daynight) is used where present. CPU only, a few seconds in all.
"""
import argparse
import os
import pickle
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from data import (create_dataloader, create_dataset, find_dataset_using_name,  # noqa: E402
                  get_option_setter)
from data.base_dataset import (BaseDataset, Geometry, ImageSize, get_params, get_transform, load_image,  # noqa: E402
                               round_to_multiple)
from data.image_folder import IMG_EXTENSIONS, is_image_file, make_dataset  # noqa: E402
from data.single_dataset import SingleDataset  # noqa: E402
from data.template_dataset import TemplateDataset  # noqa: E402
from data.unaligned_dataset import UnalignedDataset  # noqa: E402
from util.errors import UserError  # noqa: E402

from conftest import SHARED_DATA as SHARED  # noqa: E402
needs_real = pytest.mark.skipif(not (SHARED / 'trainA').is_dir(),
                                reason=f"the real day/night set is not at {SHARED}")
SCRIPT = REPO / 'datasets/download_dataset.sh'


def make_opt(**kw):
    opt = dict(dataroot='.', phase='train', direction='AtoB', input_nc=3, output_nc=3, load_size=64,
               crop_size=32, preprocess='resize_and_crop', no_flip=False, serial_batches=False,
               max_dataset_size=float('inf'), isTrain=True, batch_size=2, num_threads=0,
               bad_images='error', dataset_mode='unaligned', template_pair_offset=0, seed=0)
    opt.update(kw)
    return argparse.Namespace(**opt)


def save_image(path, size, color=(200, 30, 30), mode='RGB'):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)
    return path


@pytest.fixture
def root(tmp_path):
    """trainA: 3 images, trainB: 5 images, of odd sizes; testA/testB: 2 each."""
    r = tmp_path / 'tiny'
    for i, size in enumerate([(50, 40), (33, 47), (80, 61)]):
        save_image(r / 'trainA' / f'a{i}.png', size, (20, 20, 60))
    for i, size in enumerate([(64, 48), (35, 35), (77, 52), (40, 79), (32, 32)]):
        save_image(r / 'trainB' / f'b{i}.jpg', size, (220, 220, 160))
    for split in 'AB':
        for i in range(2):
            save_image(r / f'test{split}' / f'{split.lower()}{i}.png', (48, 36))
    return r


def assert_one_line_naming(excinfo, *names):
    msg = str(excinfo.value)
    assert '\n' not in msg
    for name in names:
        assert str(name) in msg, msg


# ---------------------------------------------------------------- image listing

def test_is_image_file_any_case():
    assert is_image_file('x.JPG') and is_image_file('a/b.TiFf') and is_image_file('c.webp')
    assert not is_image_file('notes.txt') and not is_image_file('jpg')
    assert '.png' in IMG_EXTENSIONS


def test_make_dataset_recursive_sorted_and_capped(tmp_path):
    save_image(tmp_path / 'b.JPG', (8, 8))
    save_image(tmp_path / 'a.png', (8, 8))
    save_image(tmp_path / 'sub' / 'c.bmp', (8, 8))
    (tmp_path / 'readme.txt').write_text('not an image')
    (tmp_path / '._a.png').write_bytes(b'macOS resource fork')
    paths = make_dataset(tmp_path)
    assert [Path(p).relative_to(tmp_path).as_posix() for p in paths] == ['a.png', 'b.JPG', 'sub/c.bmp']
    assert len(make_dataset(str(tmp_path), max_dataset_size=2)) == 2


def test_make_dataset_missing_and_empty(tmp_path):
    with pytest.raises(UserError) as e:
        make_dataset(tmp_path / 'nope')
    assert_one_line_naming(e, tmp_path / 'nope')
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'empty' / 'x.txt').write_text('x')
    with pytest.raises(UserError) as e:
        make_dataset(tmp_path / 'empty')
    assert_one_line_naming(e, tmp_path / 'empty', '.jpg', '.png')


# ---------------------------------------------------------------- load_image

def test_load_image_modes(tmp_path):
    p = save_image(tmp_path / 'g.png', (10, 6), 128, mode='L')
    assert load_image(p, 3).mode == 'RGB' and load_image(p, 1).mode == 'L'
    assert load_image(p, 3).size == (10, 6)


def test_load_image_gives_the_pixels_of_a_conversion_in_every_source_mode(tmp_path):
    """An image already in the wanted mode is returned as decoded (no copy); any other mode is
    converted. Either way the pixels are those of PIL's convert()."""
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (12, 20, 3), dtype=np.uint8))
    sources = {'rgb.jpg': rgb, 'rgb.png': rgb, 'rgba.png': rgb.convert('RGBA'), 'gray.png': rgb.convert('L'),
               'palette.png': rgb.convert('P'), 'cmyk.jpg': rgb.convert('CMYK')}
    for name, image in sources.items():
        path = tmp_path / name
        image.save(path)
        for channels, mode in ((3, 'RGB'), (1, 'L')):
            loaded = load_image(path, channels)
            with Image.open(path) as reference:
                expected = reference.convert(mode)
            assert loaded.mode == mode and loaded.size == (20, 12), name
            assert np.array_equal(np.asarray(loaded), np.asarray(expected)), (name, mode)


def test_load_image_does_not_copy_an_image_already_in_the_wanted_mode(tmp_path, monkeypatch):
    # a copy costs 10 ms per 1920x1080 frame in the data loader (docs/performance.md)
    path = save_image(tmp_path / 'rgb.jpg', (16, 8), (200, 30, 90))

    def no_copy(image, *args, **kwargs):
        raise AssertionError('load_image converted an RGB image to RGB')

    monkeypatch.setattr(Image.Image, 'convert', no_copy)
    assert load_image(path, 3).mode == 'RGB'


def test_load_image_bad_files(tmp_path):
    rng = np.random.default_rng(0)
    good = tmp_path / 'good.jpg'
    Image.fromarray(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)).save(good, quality=95)
    data = good.read_bytes()
    truncated = tmp_path / 'truncated.jpg'
    truncated.write_bytes(data[:len(data) // 2])
    garbage = tmp_path / 'garbage.png'
    garbage.write_bytes(b'this is not a png at all')
    for bad in (truncated, garbage, tmp_path / 'missing.jpg'):
        with pytest.raises(UserError) as e:
            load_image(bad, 3)
        assert_one_line_naming(e, bad, 'replace or delete')


# ---------------------------------------------------------------- preprocessing

def test_round_to_multiple():
    assert round_to_multiple((910, 512)) == (912, 512)
    assert round_to_multiple((33, 47)) == (32, 48)
    assert round_to_multiple((6, 10)) == (8, 12)  # halves round up
    assert round_to_multiple((1, 2)) == (4, 4)
    assert round_to_multiple((100, 72)) == (100, 72)
    assert round_to_multiple((17, 9), base=8) == (16, 8)


@pytest.mark.parametrize('size, preprocess, load, crop, expect_hw', [
    ((100, 72), 'none', 64, 32, (72, 100)),
    ((33, 47), 'none', 64, 32, (48, 32)),
    ((1280, 720), 'scale_height', 512, 256, (512, 912)),
    ((1280, 720), 'scale_width', 256, 256, (144, 256)),
    ((61, 200), 'scale_width', 30, 30, (100, 32)),  # 30x98 -> rounded
    ((50, 40), 'resize_and_crop', 64, 32, (32, 32)),
    ((50, 40), 'resize_and_crop', 40, 30, (32, 32)),  # odd crop rounded up
    ((50, 40), 'resize_and_crop', 20, 32, (32, 32)),  # load < crop: enlarged
    ((50, 40), 'crop', 64, 32, (32, 32)),
    ((20, 30), 'crop', 64, 32, (32, 32)),  # smaller than the crop: enlarged
    ((80, 61), 'scale_width_and_crop', 64, 48, (48, 48)),
    ((200, 20), 'scale_height_and_crop', 16, 24, (24, 24)),  # 160x16 too small -> 240x24
    ((1280, 720), 'scale_height_and_crop', 512, 256, (256, 256)),
])
def test_transform_sizes(size, preprocess, load, crop, expect_hw):
    opt = make_opt(preprocess=preprocess, load_size=load, crop_size=crop)
    img = Image.new('RGB', size, (10, 200, 90))
    t = get_transform(opt)(img)
    assert t.shape == (3, *expect_hw)
    assert t.shape[1] % 4 == 0 and t.shape[2] % 4 == 0


def test_transform_range_and_grayscale():
    arr = np.zeros((40, 40, 3), np.uint8)
    arr[:, 20:] = 255
    img = Image.fromarray(arr)
    opt = make_opt(preprocess='none')
    t = get_transform(opt)(img)
    assert t.min().item() == -1.0 and t.max().item() == 1.0
    g = get_transform(opt, grayscale=True)(img)
    assert g.shape == (1, 40, 40) and g.min() >= -1 and g.max() <= 1
    # convert=False keeps a PIL image (still rounded)
    assert get_transform(opt, convert=False)(Image.new('RGB', (41, 39))).size == (40, 40)


def test_transform_params_fix_crop_and_flip():
    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
    opt = make_opt(preprocess='none')
    plain = get_transform(opt, {'crop_pos': (0, 0), 'flip': False})(img)
    flipped = get_transform(opt, {'crop_pos': (0, 0), 'flip': True})(img)
    assert torch.equal(flipped, plain.flip(-1))
    opt = make_opt(preprocess='crop', crop_size=16)
    params = get_params(opt, img.size)
    assert set(params) == {'crop_pos', 'flip'}
    t = get_transform(opt, params)
    assert torch.equal(t(img), t(img))
    # no_flip: never mirrored, even with params asking for it
    opt = make_opt(preprocess='none', no_flip=True)
    assert torch.equal(get_transform(opt, {'crop_pos': (0, 0), 'flip': True})(img), plain)
    random.seed(0)
    outs = [get_transform(opt)(img) for _ in range(6)]
    assert all(torch.equal(o, plain) for o in outs)


def test_unknown_preprocess():
    with pytest.raises(UserError) as e:
        get_transform(make_opt(preprocess='zoom'))
    assert_one_line_naming(e, 'zoom', 'scale_width_and_crop', 'none')


# ---------------------------------------------------------------- unaligned dataset

def test_unaligned_basic(root):
    ds = UnalignedDataset(make_opt(dataroot=str(root), serial_batches=True))
    assert len(ds) == 5
    for i in range(len(ds)):
        item = ds[i]
        assert set(item) == {'A', 'B', 'A_paths', 'B_paths'}
        assert item['A'].shape == (3, 32, 32) and item['B'].shape == (3, 32, 32)
        assert Path(item['A_paths']).parent.name == 'trainA'
        assert Path(item['B_paths']).parent.name == 'trainB'
        assert item['A_paths'] == ds.A_paths[i % 3] and item['B_paths'] == ds.B_paths[i]
        assert item['A'].min() >= -1 and item['A'].max() <= 1
    # night-ish A is dark, day-ish B is bright: the right folder went to the right key
    assert ds[0]['A'].mean() < 0 < ds[0]['B'].mean()


def test_unaligned_random_b(root):
    ds = UnalignedDataset(make_opt(dataroot=str(root), preprocess='none'))
    random.seed(0)
    b_for_0 = {ds[0]['B_paths'] for _ in range(30)}
    assert len(b_for_0) > 1
    assert {ds[0]['A_paths'] for _ in range(5)} == {ds.A_paths[0]}


def test_unaligned_btoa_and_channels(root):
    ds = UnalignedDataset(make_opt(dataroot=str(root), direction='BtoA', input_nc=1, output_nc=3,
                                   serial_batches=True))
    item = ds[0]
    assert Path(item['A_paths']).parent.name == 'trainB'
    assert Path(item['B_paths']).parent.name == 'trainA'
    assert item['A'].shape[0] == 1 and item['B'].shape[0] == 3
    ds = UnalignedDataset(make_opt(dataroot=str(root), output_nc=1, phase='test'))
    item = ds[1]
    assert item['A'].shape[0] == 3 and item['B'].shape[0] == 1
    assert Path(item['A_paths']).parent.name == 'testA' and len(ds) == 2


def test_unaligned_missing_paths(root, tmp_path):
    with pytest.raises(UserError) as e:
        UnalignedDataset(make_opt(dataroot=str(tmp_path / 'nowhere')))
    assert_one_line_naming(e, tmp_path / 'nowhere', 'download_dataset.sh daynight')
    shutil.rmtree(root / 'trainB')
    with pytest.raises(UserError) as e:
        UnalignedDataset(make_opt(dataroot=str(root)))
    assert_one_line_naming(e, root / 'trainB')
    (root / 'trainB').mkdir()
    with pytest.raises(UserError) as e:
        UnalignedDataset(make_opt(dataroot=str(root)))
    assert_one_line_naming(e, root / 'trainB')


def test_bad_image_error_and_skip(root, capsys):
    bad = root / 'trainA' / 'a1.png'
    bad.write_bytes(b'\x89PNG broken')
    ds = UnalignedDataset(make_opt(dataroot=str(root), serial_batches=True))
    with pytest.raises(UserError) as e:
        ds[1]
    assert_one_line_naming(e, bad)
    ds = UnalignedDataset(make_opt(dataroot=str(root), serial_batches=True, bad_images='skip'))
    items = [ds[1] for _ in range(4)]
    assert all(it['A_paths'] != str(bad) and Path(it['A_paths']).parent.name == 'trainA' for it in items)
    assert items[0]['A'].shape == (3, 32, 32)
    err = capsys.readouterr().err
    assert err.count(str(bad)) == 1 and 'warning' in err
    # a folder with nothing readable: give up with a UserError naming the folder
    for p in (root / 'trainA').iterdir():
        p.write_bytes(b'junk')
    ds = UnalignedDataset(make_opt(dataroot=str(root), bad_images='skip'))
    with pytest.raises(UserError) as e:
        ds[0]
    assert_one_line_naming(e, root / 'trainA')


# ---------------------------------------------------------------- single and template datasets

def test_single_dataset(root, capsys):
    (root / 'testA' / 'sub').mkdir()
    save_image(root / 'testA' / 'sub' / 'z.png', (30, 22))
    bad = save_image(root / 'testA' / 'y.png', (8, 8))
    bad.write_bytes(b'no')
    opt = make_opt(dataroot=str(root / 'testA'), preprocess='none', no_flip=True, isTrain=False)
    ds = SingleDataset(opt)
    assert len(ds) == 4
    item = ds[ds.A_paths.index(str(root / 'testA' / 'sub' / 'z.png'))]
    assert set(item) == {'A', 'A_paths'} and item['A'].shape == (3, 24, 32)
    with pytest.raises(UserError):
        ds[ds.A_paths.index(str(bad))]
    opt.bad_images = 'skip'
    assert SingleDataset(opt)[ds.A_paths.index(str(bad))]['A_paths'] != str(bad)
    assert str(bad) in capsys.readouterr().err
    opt.direction, opt.output_nc = 'BtoA', 1
    assert SingleDataset(opt)[0]['A'].shape[0] == 1
    with pytest.raises(UserError) as e:
        SingleDataset(make_opt(dataroot=str(root / 'missing')))
    assert_one_line_naming(e, root / 'missing')


def test_template_dataset(root):
    parser = get_option_setter('template')(argparse.ArgumentParser(), True)
    assert parser.parse_args([]).template_pair_offset == 0
    ds = TemplateDataset(make_opt(dataroot=str(root), template_pair_offset=1, preprocess='resize_and_crop'))
    assert len(ds) == 3
    for i in range(3):
        item = ds[i]
        assert item['A_paths'] == ds.A_paths[i] and item['B_paths'] == ds.B_paths[i + 1]
        assert item['A'].shape == item['B'].shape == (3, 32, 32)
    with pytest.raises(UserError) as e:
        TemplateDataset(make_opt(dataroot=str(root), phase='val'))
    assert_one_line_naming(e, root / 'valA')


# ---------------------------------------------------------------- registry and loader

def test_registry(root, capsys):
    assert find_dataset_using_name('unaligned') is UnalignedDataset
    assert find_dataset_using_name('single') is SingleDataset
    assert find_dataset_using_name('template') is TemplateDataset
    assert issubclass(find_dataset_using_name('unaligned'), BaseDataset)
    for name in ('aligned', 'base', '../unaligned'):
        with pytest.raises(UserError) as e:
            find_dataset_using_name(name)
        assert_one_line_naming(e, name, 'unaligned', 'single', 'template')
    ds = create_dataset(make_opt(dataroot=str(root), dataset_mode='unaligned'))
    assert isinstance(ds, UnalignedDataset)
    assert 'dataset [UnalignedDataset] was created with 5 images' in capsys.readouterr().out
    with pytest.raises(UserError):
        create_dataset(make_opt(dataroot=str(root), dataset_mode='nope'))


def test_dataloader_batches(root):
    opt = make_opt(dataroot=str(root), batch_size=2)
    loader = create_dataloader(opt, UnalignedDataset(opt))
    batches = list(loader)
    assert len(batches) == 2  # 5 items, last incomplete batch dropped in training
    assert batches[0]['A'].shape == (2, 3, 32, 32) and len(batches[0]['B_paths']) == 2
    opt = make_opt(dataroot=str(root), batch_size=2, isTrain=False, serial_batches=True, preprocess='none')
    batches = list(create_dataloader(opt, UnalignedDataset(make_opt(dataroot=str(root), batch_size=2,
                                                                   preprocess='resize_and_crop'))))
    assert [len(b['A_paths']) for b in batches] == [2, 2, 1]
    with pytest.raises(UserError) as e:
        create_dataloader(make_opt(dataroot=str(root), batch_size=8), UnalignedDataset(opt))
    assert_one_line_naming(e, '--batch_size 8')


def test_dataloader_sampler_and_workers(root):
    opt = make_opt(dataroot=str(root), batch_size=1, num_threads=1, serial_batches=True)
    ds = UnalignedDataset(opt)
    pickle.loads(pickle.dumps(ds))  # workers started by spawn/forkserver receive a pickled copy
    loader = create_dataloader(opt, ds, num_replicas=2, rank=0)
    assert loader.num_workers == 1 and loader.persistent_workers and loader.drop_last
    paths = [b['A_paths'][0] for b in loader]
    assert paths == [ds.A_paths[i % 3] for i in (0, 2, 4)]
    # a UserError raised inside a worker reaches the caller as one clean line
    (root / 'trainA' / 'a0.png').write_bytes(b'junk')
    with pytest.raises(UserError) as e:
        next(iter(create_dataloader(opt, UnalignedDataset(opt))))
    assert_one_line_naming(e, root / 'trainA' / 'a0.png')
    assert 'Traceback' not in str(e.value)


# ---------------------------------------------------------------- real day/night photos

@needs_real
def test_real_daynight():
    opt = make_opt(dataroot=str(SHARED), phase='test', preprocess='scale_height', load_size=128,
                   serial_batches=True, batch_size=1, isTrain=False, no_flip=True)
    ds = create_dataset(opt)
    assert len(ds) == 80
    batch = next(iter(create_dataloader(opt, ds)))
    assert batch['A'].shape[:3] == (1, 3, 128) and batch['A'].shape[3] % 4 == 0
    assert batch['A'].mean() < batch['B'].mean()  # night darker than day
    img = Image.open(ds.A_paths[0])
    expect_w = round_to_multiple((round(128 * img.width / img.height), 128))[0]
    assert ds[0]['A'].shape == (3, 128, expect_w)
    train = UnalignedDataset(make_opt(dataroot=str(SHARED), preprocess='none', no_flip=True))
    for i in range(0, 120, 40):
        t = train[i]['A']
        w, h = Image.open(train.A_paths[i]).size
        assert tuple(t.shape[1:]) == round_to_multiple((w, h))[::-1]


# ---------------------------------------------------------------- download script

def run_script(repo, *args, **env):
    full_env = {k: v for k, v in os.environ.items() if k != 'DATASETS_MIRROR'}
    full_env.update(env)
    return subprocess.run(['bash', str(repo / 'datasets/download_dataset.sh'), *args],
                          capture_output=True, text=True, env=full_env, timeout=120)


def make_repo(parent):
    repo = parent / 'repo'
    (repo / 'datasets').mkdir(parents=True)
    shutil.copy(SCRIPT, repo / 'datasets')
    return repo


def counts(folder):
    return {d: sum(1 for p in (folder / d).iterdir() if p.is_file() and not p.is_symlink())
            for d in ('trainA', 'trainB', 'testA', 'testB')}


@pytest.mark.slow
@needs_real
def test_download_daynight_from_mirror(tmp_path):
    repo = make_repo(tmp_path)
    r = run_script(repo, 'daynight', DATASETS_MIRROR=str(SHARED.parent))
    assert r.returncode == 0, r.stderr
    dest = repo / 'datasets/daynight'
    assert counts(dest) == {'trainA': 120, 'trainB': 120, 'testA': 80, 'testB': 80}
    assert 'trainA 120' in r.stdout
    assert not list((repo / 'datasets').glob('.daynight.tmp*'))
    r = run_script(repo, 'daynight', DATASETS_MIRROR=str(SHARED.parent))
    assert r.returncode == 0 and 'already present' in r.stdout
    r = run_script(repo, 'daynight', DATASETS_MIRROR=str(tmp_path / 'no_mirror'))
    assert r.returncode == 0  # complete already: the mirror is not even looked at
    shutil.rmtree(dest / 'testB')
    r = run_script(repo, 'daynight', DATASETS_MIRROR=str(tmp_path / 'no_mirror'))
    assert r.returncode != 0 and 'DATASETS_MIRROR' in r.stderr


@pytest.mark.slow
@needs_real
def test_download_daynight_from_shared_folder(tmp_path):
    repo = make_repo(tmp_path)
    (tmp_path / 'shared/datasets').mkdir(parents=True)
    (tmp_path / 'shared/datasets/daynight').symlink_to(SHARED)
    r = run_script(repo, 'daynight')
    assert r.returncode == 0, r.stderr
    assert counts(repo / 'datasets/daynight') == {'trainA': 120, 'trainB': 120, 'testA': 80, 'testB': 80}


@pytest.mark.slow
def test_download_other_names(tmp_path):
    repo = make_repo(tmp_path)
    r = run_script(repo, 'imagenet')
    assert r.returncode != 0 and 'daynight' in r.stderr and 'bdd100k' in r.stderr
    r = run_script(repo, 'bdd100k')
    assert r.returncode == 1 and 'bdd-data.berkeley.edu' in r.stderr and 'timeofday' in r.stderr
    r = run_script(repo, 'alderley')
    assert r.returncode == 1 and 'wiki.qut.edu.au' in r.stderr
    assert run_script(repo).returncode != 0
    assert not (repo / 'datasets/bdd100k').exists()


FAKE_GIT = r'''#!/usr/bin/env bash
# Stands in for git: records its arguments and lays out a miniature CVND_Exercises checkout.
echo "$*" >> "$FAKE_GIT_LOG"
if [ "$1" = clone ]; then
    base="${@: -1}/1_1_Image_Representation/day_night_images"
    for split in training test; do
        for tod in day night; do
            mkdir -p "$base/$split/$tod"
            for i in 1 2 3; do echo x > "$base/$split/$tod/${split}_${tod}_$i.jpg"; done
        done
    done
    echo x > "$base/training/night/extra.jpg"
fi
'''


@pytest.mark.slow
def test_download_daynight_from_github_with_fake_git(tmp_path):
    repo = make_repo(tmp_path)
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    (bindir / 'git').write_text(FAKE_GIT)
    (bindir / 'git').chmod(0o755)
    log = tmp_path / 'git.log'
    r = run_script(repo, 'daynight', PATH=f"{bindir}:{os.environ['PATH']}", FAKE_GIT_LOG=str(log))
    assert r.returncode == 0, r.stderr
    dest = repo / 'datasets/daynight'
    assert counts(dest) == {'trainA': 4, 'trainB': 3, 'testA': 3, 'testB': 3}
    assert sorted(p.name for p in (dest / 'testB').iterdir()) == [f'test_day_{i}.jpg' for i in (1, 2, 3)]
    calls = log.read_text()
    clone = calls.splitlines()[0].split()
    assert clone[0] == 'clone' and {'--depth', '--filter=blob:none', '--sparse'} <= set(clone)
    assert 'https://github.com/udacity/CVND_Exercises.git' in clone
    assert 'sparse-checkout set' in calls
    assert not list((repo / 'datasets').glob('.daynight.tmp*'))  # the clone is cleaned up


# ----- sizes as HxW, and the official epoch -----
def test_sizes_parse_as_one_number_or_height_by_width():
    from data.base_dataset import ImageSize, parse_size
    assert parse_size('256') == 256 and parse_size('256x256') == 256
    assert parse_size('286x572') == ImageSize(286, 572) and str(parse_size('286X572')) == '286x572'
    for bad in ('256x', 'x512', '2.5', '256x512x3', ''):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_size(bad)


def test_non_square_resize_and_crop_and_resize(tmp_path):
    img = Image.new('RGB', (1280, 720), (10, 20, 30))
    opt = Geometry(ImageSize(286, 572), ImageSize(256, 512), 'resize_and_crop', no_flip=True)
    crops = set()
    for seed in range(20):
        random.seed(seed)
        out = get_transform(opt)(img)
        assert tuple(out.shape) == (3, 256, 512)
        crops.add(get_params(opt, img.size)['crop_pos'])
    assert all(0 <= x <= 60 and 0 <= y <= 30 for x, y in crops) and len(crops) > 5
    opt = Geometry(ImageSize(256, 512), ImageSize(256, 512), 'resize', no_flip=True)
    assert tuple(get_transform(opt)(img).shape) == (3, 256, 512)
    opt = Geometry(ImageSize(256, 512), 256, 'scale_height', no_flip=True)
    with pytest.raises(UserError, match='takes one number'):
        get_transform(opt)(img)


def make_unaligned(root, n_a, n_b):
    for side, n in (('A', n_a), ('B', n_b)):
        (root / f'train{side}').mkdir(parents=True)
        for i in range(n):
            Image.new('RGB', (8, 8), (i, 0, 0)).save(root / f'train{side}' / f'{side}{i:02d}.png')


def epoch_pairs(opt, epoch):
    from data.samplers import EpochSampler, SeededItems
    dataset = UnalignedDataset(opt)
    sampler = EpochSampler(dataset, num_replicas=1, rank=0, shuffle=True, seed=opt.seed)
    sampler.set_epoch(epoch)
    items = SeededItems(dataset, opt.seed)
    return [(Path(items[key]['A_paths']).stem, Path(items[key]['B_paths']).stem) for key in sampler]


def test_epoch_length_min_pairs_two_shuffled_folders(tmp_path):
    make_unaligned(tmp_path, 7, 4)
    common = dict(dataroot=str(tmp_path), phase='train', direction='AtoB', max_dataset_size=float('inf'),
                  input_nc=3, output_nc=3, preprocess='none', load_size=8, crop_size=8, no_flip=True,
                  serial_batches=False, seed=3, bad_images='error', isTrain=True)
    opt = argparse.Namespace(epoch_length='min', **common)
    assert len(UnalignedDataset(opt)) == 4
    pairs = [epoch_pairs(opt, epoch) for epoch in (1, 2)]
    for epoch in pairs:
        assert len(epoch) == 4
        assert len({a for a, _ in epoch}) == 4 and len({b for _, b in epoch}) == 4  # each image at most once
        assert {b for _, b in epoch} == {'B00', 'B01', 'B02', 'B03'}
    assert pairs[0] != pairs[1]  # reshuffled each epoch
    assert {a for epoch in pairs for a, _ in epoch} - {'A00', 'A01', 'A02', 'A03'}  # all of A is drawn from
    assert epoch_pairs(opt, 1) == pairs[0]  # the same again: a resumed run sees the same pairs
    opt = argparse.Namespace(epoch_length='max', **common)
    assert len(UnalignedDataset(opt)) == 7
