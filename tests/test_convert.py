"""scripts/convert.py and the inference package: folders, lists and videos converted in either
direction or both at the inputs' exact sizes, tiles blended without seams, unreadable files
reported, nothing written outside --results_dir, and a torchrun run that splits the work.

A tiny AU-GAN is trained once for the module on the real day/night photos: --norm none, whose
tiles agree with the whole frame, and Kaiming initialisation, whose untrained output layer already
draws a picture rather than flat grey. Most conversions call the script's main() in this process,
which spares a Python start per run; the first test and the torchrun one go through the command line.
"""
import errno
import importlib.util
import os
import shutil

import av
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO, SHARED_DATA, run_cli, run_main, train_tiny
from inference import find_inputs, output_path, tile_starts, translate_tiled
from util.errors import UserError

NET = ['--norm', 'none', '--ngf', '4', '--n_blocks_enc', '1', '--n_blocks_T', '1', '--n_blocks_dec', '1',
       '--gpu_ids', '-1']
# Sizes that are not multiples of 4, in a tree of sub-folders; JPEG and PNG.
PHOTOS = {'a.jpg': (97, 71), 'sub/b.png': (120, 90), 'sub/deeper/c.jpg': (75, 101), 'sub/deeper/d.png': (130, 66)}


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    # kaiming init: the default one leaves an untrained tiny generator's output flat grey
    return train_tiny(tmp_path_factory.mktemp('checkpoints'), '--norm', 'none', '--init_type', 'kaiming')


@pytest.fixture(scope='module')
def photos(ckpt, tmp_path_factory):
    """Real night photos, shrunk to odd sizes so that runs stay fast on the CPU."""
    root = tmp_path_factory.mktemp('photos')
    for (rel, size), src in zip(PHOTOS.items(), sorted((SHARED_DATA / 'testA').iterdir())):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.open(src).convert('RGB').resize(size, Image.BICUBIC).save(root / rel)
    return root


@pytest.fixture(scope='module')
def convert_main():
    spec = importlib.util.spec_from_file_location('convert_script', REPO / 'scripts' / 'convert.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.fixture
def convert(ckpt, convert_main):
    """convert(*args) runs the script's main() here; returns its exit status."""
    return lambda *args: convert_main(['--name', 'tiny', '--checkpoints_dir', str(ckpt), *NET,
                                       '--num_threads', '0', *map(str, args)])


def files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob('*') if p.is_file())


def stem(rel):
    return os.path.splitext(rel)[0]


@pytest.mark.slow
def test_both_directions_tree_sizes_and_uncertainty(ckpt, photos, tmp_path):
    out = tmp_path / 'out'
    proc = run_cli('scripts/convert.py', '--name', 'tiny', '--checkpoints_dir', ckpt, *NET, '--input', photos,
                   '--results_dir', out, '--direction', 'both', '--save_uncertainty', '--save_uncertainty_npy')
    assert 'converted 4, skipped 0 existing, failed 0' in proc.stdout
    assert 'loaded G_A' in proc.stdout and 'loaded G_B' in proc.stdout
    expected = set()
    for rel, size in PHOTOS.items():
        expected |= {f'AtoB/{rel}', f'BtoA/{rel}', f'AtoB/{stem(rel)}_uncertainty.png',
                     f'AtoB/{stem(rel)}_uncertainty.npy'}
        for d in ('AtoB', 'BtoA'):
            assert Image.open(out / d / rel).size == size, (d, rel)  # full resolution, exact size back
        assert Image.open(out / 'AtoB' / f'{stem(rel)}_uncertainty.png').size == size
        sigma = np.load(out / 'AtoB' / f'{stem(rel)}_uncertainty.npy')
        assert sigma.dtype == np.float32 and sigma.shape == (size[1], size[0])
        assert np.isfinite(sigma).all() and (sigma >= 0).all()
    assert set(files(out)) == expected  # the B->A generator has no uncertainty head: no maps there


@pytest.mark.parametrize('direction, loaded, other, extra', [
    ('AtoB', 'G_A', 'G_B', []),
    ('BtoA', 'G_B', 'G_A', ['--amp', 'bf16', '--batch_size', '3']),  # a.jpg and b.png go together: both 44x32
])
def test_one_direction_loads_one_generator(convert, photos, tmp_path, capsys, monkeypatch, direction, loaded, other,
                                           extra):
    monkeypatch.chdir(tmp_path)  # the default --results_dir is relative
    assert convert('--input', photos, '--direction', direction, '--load_size', '32', *extra) == 0
    stdout = capsys.readouterr().out
    assert f'loaded {loaded}' in stdout and f'loaded {other}' not in stdout
    out = tmp_path / 'results' / 'tiny' / 'convert_latest'  # one direction: straight under it
    assert files(out) == sorted(PHOTOS)
    for rel, size in PHOTOS.items():
        assert Image.open(out / rel).size == size  # translated at height 32, restored to the input's size


def test_tiles_match_the_whole_frame(convert, tmp_path):
    big = tmp_path / 'in' / 'big.png'
    big.parent.mkdir()
    Image.open(sorted((SHARED_DATA / 'testA').iterdir())[0]).convert('RGB').resize((420, 300)).save(big)
    args = ['--input', big, '--eval', '--amp', 'off', '--save_uncertainty_npy']
    assert convert(*args, '--results_dir', tmp_path / 'whole') == 0
    assert convert(*args, '--results_dir', tmp_path / 'tiled', '--tile', '256', '--tile_overlap', '64') == 0
    whole = np.asarray(Image.open(tmp_path / 'whole' / 'big.png'), dtype=np.int16)
    tiled = np.asarray(Image.open(tmp_path / 'tiled' / 'big.png'), dtype=np.int16)
    assert whole.shape == tiled.shape == (300, 420, 3) and whole.std() > 2  # not a flat picture
    diff = np.abs(whole - tiled).max(axis=2)
    overlap = np.zeros(diff.shape, bool)  # pixels that two or more tiles cover
    for axis, length in ((0, 300), (1, 420)):
        starts = tile_starts(length, 256, 64)
        for left, right in zip(starts, starts[1:]):
            band = slice(right, left + 256)
            overlap[(band, slice(None)) if axis == 0 else (slice(None), band)] = True
    assert 0.1 < overlap.mean() < 0.9
    # Away from the seams, tiles see all the context the network uses: the same picture, up to
    # rounding. Across the seams the blend stays within a few grey levels (5 at most measured with
    # the default transposed-conv decoders, 4 with the bilinear ones before them).
    assert diff[~overlap].max() <= 1
    assert diff[overlap].max() <= 6 and diff.mean() < 0.3
    sigma_whole = np.load(tmp_path / 'whole' / 'big_uncertainty.npy')
    sigma_tiled = np.load(tmp_path / 'tiled' / 'big_uncertainty.npy')
    # The uncertainty likewise: equal away from the seams.
    sigma_diff = np.abs(sigma_whole - sigma_tiled)
    assert sigma_diff[~overlap].max() <= 1e-4 * sigma_whole.max()  # float rounding: kernels differ by shape
    # Across them, relative to its value: UGAC's σ (the default) is a·sqrt(Γ(3/b)/Γ(1/b)) of a
    # predicted scale a and shape b, spanning orders of magnitude over one frame (mean 11, max 2,400
    # on this untrained run), where a small change of context moves a large σ by a large amount.
    # A blend's bound is then relative: 99% of the seam pixels within 10%, none beyond half, 1% on
    # average (this run: 4.9%, 24%, 0.35%; the paper's exp σ stayed within 3.8% of its mean).
    relative = (sigma_diff / np.maximum(sigma_whole, 1e-6))[overlap]
    assert np.percentile(relative, 99) < 0.10 and relative.max() < 0.5
    assert relative.mean() < 0.01  # 0.35% on this run


def test_blending_is_exact_for_pointwise_and_local_for_convolutions():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 100, 148)
    double = translate_tiled(lambda t: (2 * t, None), x, tile=32, overlap=8)
    assert double[1] is None and torch.allclose(double[0], 2 * x, atol=1e-6)  # the weights sum to 1
    # A 5x5 convolution sees the tile's padding only within 2 px of a tile border: elsewhere the
    # blend is exact, and there the ramps give the wrong values little weight.
    conv = torch.nn.Conv2d(3, 3, 5, padding=2, padding_mode='reflect')
    with torch.no_grad():
        whole = conv(x)
        diff = (translate_tiled(lambda t: (conv(t),), x, tile=48, overlap=16)[0] - whole).abs().amax(dim=(0, 1))
    near = torch.zeros(100, 148, dtype=torch.bool)
    for axis, length in ((0, 100), (1, 148)):
        for s in tile_starts(length, 48, 16):
            for border in ([s, s + 1] if s > 0 else []) + ([s + 46, s + 47] if s + 48 < length else []):
                near[(border, slice(None)) if axis == 0 else (slice(None), border)] = True
    assert diff[~near].max() < 1e-5 and diff[near].max() < 0.1 * whole.abs().max()
    for length, tile, overlap in [(300, 128, 64), (420, 128, 32), (132, 128, 64), (96, 128, 64)]:
        starts = tile_starts(length, tile, overlap)
        assert starts[0] == 0 and starts[-1] + min(tile, length) == length
        assert all(s % 4 == 0 and tile - (b - s) >= overlap for s, b in zip(starts, starts[1:]))


def make_video(path, size, frames=5, rate=10):
    night = sorted((SHARED_DATA / 'testA').iterdir())[1]
    photo = Image.open(night).convert('RGB')
    with av.open(str(path), 'w') as container:
        stream = container.add_stream('mpeg4', rate=rate)
        stream.width, stream.height, stream.pix_fmt = *size, 'yuv420p'
        for i in range(frames):  # a slow pan over a real photo
            frame = photo.crop((10 * i, 0, 10 * i + 400, 300)).resize(size)
            container.mux(stream.encode(av.VideoFrame.from_image(frame)))
        container.mux(stream.encode())


def video_info(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        count = sum(1 for _ in container.decode(stream))
        return count, (stream.codec_context.width, stream.codec_context.height), stream.average_rate


@pytest.mark.parametrize('name, size', [('clip.mp4', (64, 48)), ('odd.avi', (65, 49))])
def test_video_frame_by_frame(ckpt, convert, tmp_path, name, size):
    video = tmp_path / name
    make_video(video, size)
    assert video_info(video) == (5, size, 10)
    assert convert('--input', video, '--results_dir', tmp_path / 'out', '--direction', 'both',
                   '--save_uncertainty', '--batch_size', '2') == 0
    stem_, ext = os.path.splitext(name)
    produced = files(tmp_path / 'out')
    assert produced == sorted([f'AtoB/{name}', f'AtoB/{stem_}_uncertainty{ext}', f'BtoA/{name}'])
    for rel in produced:
        assert video_info(tmp_path / 'out' / rel) == (5, size, 10), rel


def test_video_filtered_over_time(ckpt, convert, tmp_path, capsys):
    video = tmp_path / 'clip.mp4'
    make_video(video, (64, 48), frames=6)
    assert convert('--input', video, '--results_dir', tmp_path / 'plain', '--batch_size', '4') == 0
    assert convert('--input', video, '--results_dir', tmp_path / 'smooth', '--batch_size', '4', '--temporal') == 0
    assert f'{video}: --temporal filtered 6 frames, 0 scene cut(s) found' in capsys.readouterr().out
    plain, smooth = (np.stack([np.asarray(frame.to_image(), dtype=np.float64) for frame in av.open(str(path)).decode(
        video=0)]) for path in (tmp_path / 'plain' / 'clip.mp4', tmp_path / 'smooth' / 'clip.mp4'))
    assert plain.shape == smooth.shape == (6, 48, 64, 3)
    # the first frame is the translation itself (up to the codec); later ones carry the past, across batches
    assert np.abs(plain[0] - smooth[0]).mean() < 1.5
    assert all(np.abs(plain[t] - smooth[t]).mean() > 1.5 for t in (2, 4, 5))


def test_unreadable_files_reported_existing_skipped(convert, photos, tmp_path, capsys):
    inputs = tmp_path / 'in'
    shutil.copytree(photos, inputs)
    bad = inputs / 'sub' / 'broken.jpg'
    bad.write_bytes(b'\xff\xd8 not a jpeg')
    out = tmp_path / 'out'
    args = ['--input', inputs, '--results_dir', out, '--load_size', '32']

    assert convert(*args) == 1
    captured = capsys.readouterr()
    assert str(bad) in captured.err and 'cannot read image' in captured.err
    assert f'converted 4, skipped 0 existing, failed 1: {bad}' in captured.out
    assert files(out) == sorted(PHOTOS)
    first = {rel: (out / rel).stat().st_mtime_ns for rel in PHOTOS}

    assert convert(*args) == 1
    assert 'converted 0, skipped 4 existing, failed 1' in capsys.readouterr().out
    assert {rel: (out / rel).stat().st_mtime_ns for rel in PHOTOS} == first

    bad.unlink()
    assert convert(*args, '--overwrite') == 0
    assert 'converted 4, skipped 0 existing, failed 0' in capsys.readouterr().out
    assert all((out / rel).stat().st_mtime_ns != first[rel] for rel in PHOTOS)


def test_results_inside_the_input_folder_are_not_inputs(convert, photos, tmp_path, capsys):
    inputs = tmp_path / 'in'
    shutil.copytree(photos, inputs)
    args = ['--input', inputs, '--results_dir', inputs / 'day', '--load_size', '32']
    assert convert(*args) == 0 and convert(*args) == 0
    assert 'converted 0, skipped 4 existing, failed 0' in capsys.readouterr().out
    assert files(inputs / 'day') == sorted(PHOTOS)


def test_inputs_whose_outputs_would_collide_are_refused(convert, photos, tmp_path, capsys):
    inputs = tmp_path / 'in'
    inputs.mkdir()
    shutil.copy(photos / 'a.jpg', inputs / 'x.jpg')
    shutil.copy(photos / 'sub' / 'b.png', inputs / 'x.png')  # x.jpg's map is x_uncertainty.png too
    assert convert('--input', inputs, '--results_dir', tmp_path / 'out', '--save_uncertainty',
                   '--load_size', '32') == 1
    assert f'{inputs / "x.png"}: its output' in capsys.readouterr().err
    assert files(tmp_path / 'out') == ['x.jpg', 'x_uncertainty.png']


def test_list_file_cannot_write_outside_results(convert, photos, tmp_path, capsys):
    lists, elsewhere, out = tmp_path / 'work' / 'lists', tmp_path / 'elsewhere', tmp_path / 'work' / 'out'
    shutil.copytree(photos, lists / 'night')
    shutil.copytree(photos, elsewhere)
    entries = ['night/a.jpg',                             # inside the list's folder
               '../../elsewhere/sub/b.png',               # climbs out of it
               str(elsewhere / 'sub' / 'deeper' / 'c.jpg'),  # absolute
               '../../../../../../../../..' + str(elsewhere / 'a.jpg'),  # climbs past the file system root
               '# a comment', '', 'night/missing.png']
    (lists / 'list.txt').write_text('\n'.join(entries) + '\n')
    before = set(tmp_path.rglob('*'))
    assert convert('--input', lists / 'list.txt', '--results_dir', out, '--load_size', '32') == 1
    captured = capsys.readouterr()
    assert 'converted 4, skipped 0 existing, failed 1' in captured.out and 'missing.png' in captured.err
    new = set(tmp_path.rglob('*')) - before
    assert new and all(p == out or out in p.parents for p in new), sorted(map(str, new))
    # named below the deepest folder holding the list and every entry (tmp_path), never with '..'
    assert files(out) == sorted(['work/lists/night/a.jpg', 'elsewhere/sub/b.png', 'elsewhere/sub/deeper/c.jpg',
                                 'elsewhere/a.jpg'])


def test_output_path_refuses_escapes(tmp_path):
    out = tmp_path / 'out'
    (tmp_path / 'outside').mkdir()
    out.mkdir()
    (out / 'link').symlink_to(tmp_path / 'outside')
    assert output_path(str(out), 'sub/x.png', '_uncertainty.npy') == str(out / 'sub' / 'x_uncertainty.npy')
    for rel in ['../x.png', 'sub/../../x.png', str(tmp_path / 'x.png'), '', '.', 'link/x.png']:
        with pytest.raises(UserError, match='refusing'):
            output_path(str(out), rel)
    with pytest.raises(UserError, match='no images or videos'):
        find_inputs(str(out))


def test_bad_input_is_one_line(convert, tmp_path, capsys):
    for args, message in [([], '--input is required'),
                          (['--input', tmp_path / 'nothing'], 'does not exist'),
                          (['--input', tmp_path, '--tile', '16'], 'use a tile of at least 32 px'),
                          (['--input', tmp_path, '--batch_size', '0'], '--batch_size must be at least 1'),
                          (['--input', tmp_path, '--num_threads', '-1'], '--num_threads must be at least 0'),
                          (['--input', tmp_path, '--temporal_strength', '1'], '--temporal_strength 1.0 is out of'),
                          (['--input', tmp_path, '--temporal_tolerance', '0'], '--temporal_tolerance 0.0 is out'),
                          (['--input', tmp_path, '--temporal_flow_size', '8'], '--temporal_flow_size 8 is out'),
                          (['--input', tmp_path, '--epoch', '7'], '7_net_G_A.pth')]:
        (tmp_path / 'x.png').touch()  # something to find, so that the checkpoint is what fails
        with pytest.raises(SystemExit) as exit_:
            convert(*args)
        err = capsys.readouterr().err.strip().splitlines()
        assert exit_.value.code == 2 and len(err) == 1 and message in err[0], err


@pytest.mark.slow
def test_torchrun_splits_the_files(ckpt, photos, tmp_path):
    out = tmp_path / 'out'
    proc = run_cli('-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', 'scripts/convert.py',
                   '--name', 'tiny', '--checkpoints_dir', ckpt, *NET, '--num_threads', '0', '--input', photos,
                   '--results_dir', out, '--load_size', '32')
    # Each process converts every other file: 2 + 2, written once each.
    assert '[rank 0 of 2] converted 2, skipped 0 existing, failed 0' in proc.stdout
    assert '[rank 1 of 2] converted 2, skipped 0 existing, failed 0' in proc.stdout
    assert files(out) == sorted(PHOTOS)


def test_images_thinner_than_the_networks_minimum_convert_at_their_size(convert, tmp_path):
    night = sorted((SHARED_DATA / 'testA').iterdir())[0]
    (tmp_path / 'in').mkdir()
    for name, size in (('strip.png', (1000, 8)), ('column.png', (6, 300))):
        Image.open(night).convert('RGB').resize(size, Image.BICUBIC).save(tmp_path / 'in' / name)
    assert convert('--input', tmp_path / 'in', '--results_dir', tmp_path / 'out', '--direction', 'AtoB',
                   '--save_uncertainty_npy') == 0
    assert Image.open(tmp_path / 'out' / 'strip.png').size == (1000, 8)
    assert Image.open(tmp_path / 'out' / 'column.png').size == (6, 300)
    assert np.load(tmp_path / 'out' / 'strip_uncertainty.npy').shape == (8, 1000)


def test_animated_gif_converts_its_first_frame_and_other_files_are_named(ckpt, tmp_path):
    folder = tmp_path / 'in'
    folder.mkdir()
    night = Image.open(sorted((SHARED_DATA / 'testA').iterdir())[0]).convert('RGB').resize((64, 48))
    frames = [night, night.transpose(Image.FLIP_LEFT_RIGHT), night.rotate(180)]
    frames[0].save(folder / 'clip.gif', save_all=True, append_images=frames[1:], duration=100)
    gif = Image.open(folder / 'clip.gif')
    for k in (0, 2):  # the GIF's own first and last frames, as stills
        gif.seek(k)
        gif.convert('RGB').save(folder / f'frame{k}.png')
    (folder / 'notes.txt').write_text('not an image\n')
    (folder / 'raw.cr2').write_bytes(b'\0' * 16)
    (folder / '.hidden').write_text('left out, as in datasets\n')
    proc = run_main('scripts/convert.py', '--name', 'tiny', '--checkpoints_dir', ckpt, *NET, '--num_threads', '0',
                    '--input', folder, '--results_dir', tmp_path / 'out')
    assert proc.returncode == 0, proc.stderr
    summary = next(line for line in proc.stdout.splitlines() if line.startswith('converted'))
    assert summary == (f'converted 3 (the first frame only of 1 animated GIF(s): {folder / "clip.gif"} (3 frames)), '
                       f'skipped 0 existing, failed 0; ignored 2 file(s) that are neither images nor videos: '
                       f'notes.txt, raw.cr2')
    out = Image.open(tmp_path / 'out' / 'clip.gif')
    assert out.size == (64, 48) and getattr(out, 'n_frames', 1) == 1
    # the first frame was translated: the translation of that frame as a still, up to GIF's 256 colours
    translated = np.asarray(out.convert('RGB'), dtype=np.int16)
    first, last = (np.asarray(Image.open(tmp_path / 'out' / f'frame{k}.png').convert('RGB'), dtype=np.int16)
                   for k in (0, 2))
    assert np.abs(translated - first).mean() < 0.5 * np.abs(translated - last).mean()


def test_a_full_disk_stops_the_conversion_in_one_line_keeping_the_outputs(convert, photos, tmp_path, capsys,
                                                                           monkeypatch):
    out = tmp_path / 'out'
    args = ['--input', photos, '--results_dir', out, '--load_size', '32']
    assert convert(*args) == 0
    before = {rel: (out / rel).read_bytes() for rel in files(out)}
    capsys.readouterr()

    def full_disk(image, fp, *a, **k):
        with open(fp, 'wb') as f:
            f.write(b'the first bytes')
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(Image.Image, 'save', full_disk)
    with pytest.raises(SystemExit) as stopped:
        convert(*args, '--overwrite')
    assert stopped.value.code == 74
    errors = [ln for ln in capsys.readouterr().err.splitlines() if 'error' in ln or 'failed' in ln]
    assert len(errors) == 1 and errors[0].startswith('error: could not write ') and \
        ': the disk is full (it needs about ' in errors[0] and f'free in {out}' in errors[0], errors
    assert {rel: (out / rel).read_bytes() for rel in files(out)} == before  # no partial file, none replaced
