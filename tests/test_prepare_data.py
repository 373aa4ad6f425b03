"""scripts/prepare_bdd100k.py and scripts/prepare_alderley.py on small synthetic downloads made
here: which images land in which folder, as relative links to the right files or as copies, the
printed counts, the one-line errors, the refusal to write into a used output folder, reruns that
change nothing, and the incremental JSON reader at every chunk boundary. CPU only, a few seconds."""
import importlib.util
import json
import os

import pytest
from PIL import Image

from conftest import REPO, run_cli


def load_script(name):
    spec = importlib.util.spec_from_file_location(f'{name}_script', REPO / 'scripts' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bdd_script = load_script('prepare_bdd100k')
alderley_script = load_script('prepare_alderley')

FOLDERS = ('trainA', 'trainB', 'testA', 'testB')


def tiny_image(path, shade):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new('RGB', (4, 3), (shade % 256, 40, 200)).save(path)


def record(name, timeofday=None):
    rec = {'name': name, 'timestamp': 10000, 'labels': [{'category': 'car', 'box2d': {'x1': 1.5, 'y1': 2.0}}]}
    if timeofday is not None:
        rec['attributes'] = {'weather': 'clear', 'scene': 'city street', 'timeofday': timeofday}
    return rec


# BDD100K: what each split's labels say, and what the output should hold
TRAIN_LABELS = [record('night1.jpg', 'night'), record('night2.png', 'night'), record('day1.jpg', 'daytime'),
                record('day2.jpg', 'daytime'), record('day3.jpg', 'daytime'), record('dusk1.jpg', 'dawn/dusk'),
                record('undef1.jpg', 'undefined'), record('noattr.jpg'),
                {'attributes': {'timeofday': 'night'}},   # record 8: no name
                record('ghost.jpg', 'night')]             # not on disk
VAL_LABELS = [record('vnight1.jpg', 'night'), record('vday1.jpg', 'daytime'), record('vdusk1.jpg', 'dawn/dusk')]
EXPECTED = {'trainA': {'night1.jpg', 'night2.png'}, 'trainB': {'day1.jpg', 'day2.jpg', 'day3.jpg'},
            'testA': {'vnight1.jpg'}, 'testB': {'vday1.jpg'}}
SOURCE_SPLIT = {'trainA': 'train', 'trainB': 'train', 'testA': 'val', 'testB': 'val'}


@pytest.fixture
def bdd(tmp_path):
    """A BDD100K download in the 2018 layout: images/100k/{train,val} and labels/."""
    root = tmp_path / 'bdd100k'
    for split, labels in (('train', TRAIN_LABELS), ('val', VAL_LABELS)):
        for i, rec in enumerate(labels):
            if 'name' in rec and rec['name'] != 'ghost.jpg':
                tiny_image(root / 'images' / '100k' / split / rec['name'], 30 * i)
        (root / 'labels').mkdir(exist_ok=True)
        (root / 'labels' / f'bdd100k_labels_images_{split}.json').write_text(json.dumps(labels, indent=1))
    tiny_image(root / 'images' / '100k' / 'train' / 'unlabelled.jpg', 7)
    return root


def listing(out):
    return {f: {p.name for p in (out / f).iterdir()} if (out / f).is_dir() else set() for f in FOLDERS}


def prepare_bdd(*args):
    return bdd_script.main([str(a) for a in args])


def error_line(capsys, call, alone=True):
    """Run `call`, which must end with a UserError; return its line, the last of stderr (and the
    only one when `alone`)."""
    with pytest.raises(SystemExit) as exit_info:
        call()
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith('error: ') and not any(ln.startswith('error: ') for ln in lines[:-1]), lines
    assert len(lines) == 1 or not alone, lines
    return lines[-1]


def test_bdd100k_links_counts_and_skipped_records(bdd, tmp_path, capsys, monkeypatch):
    # a tiny chunk size and an always-on progress bar exercise the incremental reader on real-looking labels
    monkeypatch.setattr(bdd_script, 'CHUNK', 37)
    monkeypatch.setattr(bdd_script, 'PROGRESS_BYTES', 0)
    out = tmp_path / 'out'
    assert prepare_bdd('--bdd_root', bdd, '--out', out) == 0
    printed = capsys.readouterr()
    assert listing(out) == EXPECTED
    for folder, names in EXPECTED.items():
        for name in names:
            link = out / folder / name
            assert link.is_symlink() and not os.path.isabs(os.readlink(link))
            assert os.path.samefile(link, bdd / 'images' / '100k' / SOURCE_SPLIT[folder] / name)
    for folder, published in bdd_script.PUBLISHED.items():
        n = len(EXPECTED[folder])
        assert any(line.split()[:1] == [folder] and f' {n}   published {published:,} ({published - n:,} fewer here)'
                   in line for line in printed.out.splitlines()), printed.out
    assert 'symbolic links: made 7, kept 0 already in place, replaced 0' in printed.out
    assert 'train: times of day night 3, daytime 3, dawn/dusk 1, undefined 1' in printed.out
    assert 'note: the counts differ from the published ones' in printed.out
    train_json = str(bdd / 'labels' / 'bdd100k_labels_images_train.json')
    warnings = [ln for ln in printed.err.splitlines() if ln.startswith('warning:')]
    assert f'warning: {train_json}: skipped records without "attributes.timeofday" (1): noattr.jpg' in warnings
    assert f'warning: {train_json}: skipped records without "name" (1): record 8' in warnings
    assert any(ln.startswith(f'warning: {train_json}: skipped night images missing from ')
               and ln.endswith('(1): ghost.jpg') for ln in warnings), warnings
    assert len(warnings) == 3


def test_bdd100k_rerun_changes_nothing(bdd, tmp_path, capsys):
    out = tmp_path / 'out'
    assert prepare_bdd('--bdd_root', bdd, '--out', out) == 0
    before = {p: (os.readlink(p), os.lstat(p).st_ino) for p in out.rglob('*') if p.is_symlink()}
    capsys.readouterr()
    assert prepare_bdd('--bdd_root', bdd, '--out', out) == 0
    assert 'made 0, kept 7 already in place, replaced 0' in capsys.readouterr().out
    assert {p: (os.readlink(p), os.lstat(p).st_ino) for p in out.rglob('*') if p.is_symlink()} == before
    assert listing(out) == EXPECTED


def test_bdd100k_interrupted_run_resumes(bdd, tmp_path, capsys):
    out = tmp_path / 'out'
    assert prepare_bdd('--bdd_root', bdd, '--out', out) == 0
    (out / 'trainB' / 'day2.jpg').unlink()
    (out / 'trainB' / '.day3.jpg.prepare-123.tmp').write_text('half')  # left by a killed run
    capsys.readouterr()
    assert prepare_bdd('--bdd_root', bdd, '--out', out) == 0
    assert 'made 1, kept 6 already in place' in capsys.readouterr().out
    assert {p.name for p in (out / 'trainB').iterdir()} == EXPECTED['trainB']


def test_bdd100k_refuses_used_output_without_overwrite(bdd, tmp_path, capsys):
    out = tmp_path / 'out'
    tiny_image(out / 'trainB' / 'mine.jpg', 1)
    line = error_line(capsys, lambda: prepare_bdd('--bdd_root', bdd, '--out', out), alone=False)  # after the warnings
    assert str(out / 'trainB') in line and 'mine.jpg' in line and '--overwrite' in line
    assert listing(out) == {'trainA': set(), 'trainB': {'mine.jpg'}, 'testA': set(), 'testB': set()}

    assert prepare_bdd('--bdd_root', bdd, '--out', out, '--overwrite') == 0
    err = capsys.readouterr().err
    assert 'mine.jpg' in err and 'left in place' in err
    assert listing(out) == {**EXPECTED, 'trainB': EXPECTED['trainB'] | {'mine.jpg'}}
    assert not (out / 'trainB' / 'mine.jpg').is_symlink()


def test_bdd100k_never_replaces_the_sources(bdd, tmp_path, capsys):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'trainA').symlink_to(bdd / 'images' / '100k' / 'train')  # the output leads into the download
    source = bdd / 'images' / '100k' / 'train' / 'night1.jpg'
    data = source.read_bytes()
    line = error_line(capsys, lambda: prepare_bdd('--bdd_root', bdd, '--out', out, '--overwrite', '--copy'),
                      alone=False)
    assert 'is the source image itself' in line
    assert not source.is_symlink() and source.read_bytes() == data


def test_bdd100k_overwrite_replaces_copies_with_links(bdd, tmp_path, capsys):
    out = tmp_path / 'out'
    assert prepare_bdd('--bdd_root', bdd, '--out', out, '--copy') == 0
    assert not any(p.is_symlink() for p in out.rglob('*'))
    capsys.readouterr()
    line = error_line(capsys, lambda: prepare_bdd('--bdd_root', bdd, '--out', out), alone=False)
    assert 'links' in line and '--overwrite' in line
    assert prepare_bdd('--bdd_root', bdd, '--out', out, '--overwrite') == 0
    assert 'made 0, kept 0 already in place, replaced 7' in capsys.readouterr().out
    assert listing(out) == EXPECTED
    assert all((out / f / n).is_symlink() for f, names in EXPECTED.items() for n in names)


def test_bdd100k_missing_inputs_name_the_path(bdd, tmp_path, capsys):
    out = tmp_path / 'out'
    val_json = bdd / 'labels' / 'bdd100k_labels_images_val.json'
    val_json.rename(tmp_path / 'elsewhere.json')
    line = error_line(capsys, lambda: prepare_bdd('--bdd_root', bdd, '--out', out))
    assert str(val_json) in line and '--labels_dir' in line
    (tmp_path / 'elsewhere.json').rename(val_json)

    (bdd / 'images' / '100k' / 'val').rename(tmp_path / 'val_images')
    line = error_line(capsys, lambda: prepare_bdd('--bdd_root', bdd, '--out', out))
    assert str(bdd / 'images' / '100k' / 'val') in line and 'images/100k/val' in line

    line = error_line(capsys, lambda: prepare_bdd('--bdd_root', tmp_path / 'nothing', '--out', out))
    assert str(tmp_path / 'nothing') in line
    assert not out.exists()


@pytest.mark.parametrize('content, expected', [
    ('[{"name": "a.jpg", "attributes": {"timeofday": "night"}}, {"name": "b.j', 'is not valid JSON'),
    ('[{"name": "a.jpg"} {"name": "b.jpg"}]', 'is not valid JSON'),
    ('', 'is empty'),
    ('{"name": "a.jpg"}', 'not a list of image records'),
    ('"labels"', 'does not hold a list of image records'),
    ('[1, 2, 3]', 'none of its 3 records'),
    ('[{"name": "a.jpg", "attributes": {"weather": "rainy"}}]', 'none of its 1 records'),
    ('[]', 'holds no image records'),
])
def test_bdd100k_bad_label_file_is_one_line(bdd, tmp_path, capsys, content, expected):
    train_json = bdd / 'labels' / 'bdd100k_labels_images_train.json'
    train_json.write_text(content)
    line = error_line(capsys, lambda: prepare_bdd('--bdd_root', bdd, '--out', tmp_path / 'out'))
    assert str(train_json) in line and expected in line
    assert not (tmp_path / 'out').exists()


def test_bdd100k_labels_dir_with_det20_layout(bdd, tmp_path, capsys):
    labels = tmp_path / 'bdd100k_labels' / 'labels'
    (labels / 'det_20').mkdir(parents=True)
    for split in ('train', 'val'):
        (bdd / 'labels' / f'bdd100k_labels_images_{split}.json').rename(labels / 'det_20' / f'det_{split}.json')
    out = tmp_path / 'out'
    assert prepare_bdd('--bdd_root', bdd, '--labels_dir', labels, '--out', out) == 0
    printed = capsys.readouterr().out
    assert listing(out) == EXPECTED
    assert str(labels / 'det_20' / 'det_train.json') in printed and '2020 det_20 labels' in printed


def test_bdd100k_labels_as_scalabel_frames(bdd, tmp_path):
    train_json = bdd / 'labels' / 'bdd100k_labels_images_train.json'
    train_json.write_text(json.dumps({'frames': TRAIN_LABELS, 'config': {}}))
    assert prepare_bdd('--bdd_root', bdd, '--out', tmp_path / 'out') == 0
    assert listing(tmp_path / 'out') == EXPECTED


@pytest.mark.slow
def test_bdd100k_as_a_command_with_copies(bdd, tmp_path):
    out = tmp_path / 'out'
    proc = run_cli('scripts/prepare_bdd100k.py', '--bdd_root', bdd, '--out', out, '--copy')
    assert listing(out) == EXPECTED
    for folder, names in EXPECTED.items():
        for name in names:
            copy = out / folder / name
            assert not copy.is_symlink() and copy.is_file()
            assert copy.read_bytes() == (bdd / 'images' / '100k' / SOURCE_SPLIT[folder] / name).read_bytes()
    assert 'copies: made 7' in proc.stdout and 'published 27,971' in proc.stdout
    assert 'ghost.jpg' in proc.stderr

    proc = run_cli('scripts/prepare_bdd100k.py', '--bdd_root', bdd, '--out', out, check=False)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith('error: ')


@pytest.mark.parametrize('chunk', [1, 2, 3, 5, 64])
def test_json_reader_across_chunk_boundaries(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(bdd_script, 'CHUNK', chunk)
    data = [record(f'nuit-é{i}.jpg', 'night') for i in range(3)] + [0.5, -12, 3e-5, True, None, 'a"\\b', [[], {}]]
    for text in (json.dumps(data), json.dumps(data, indent=2, ensure_ascii=False), '\ufeff \n' + json.dumps(data)):
        path = tmp_path / 'labels.json'
        path.write_text(text, encoding='utf-8')
        assert list(bdd_script.read_records(str(path))) == data
    path.write_text('[\n  {"name": "a"},\n  {"name": "b",, "x": 1}\n]')
    with pytest.raises(bdd_script.UserError, match='line 3 column 16'):
        list(bdd_script.read_records(str(path)))


# ----- Alderley -----

@pytest.fixture
def alderley(tmp_path):
    """Night frames Image1..Image12 (no zero padding), day frames Image1..Image10, plus clutter."""
    root = tmp_path / 'alderley'
    for i in range(1, 13):
        tiny_image(root / 'FRAMESA' / f'Image{i}.jpg', i)
    for i in range(1, 11):
        tiny_image(root / 'FRAMESB' / f'Image{i}.png', 100 + i)
    (root / 'FRAMESA' / 'readme.txt').write_text('not a frame')
    tiny_image(root / 'FRAMESA' / 'cover.jpg', 0)
    return root


def frame_names(prefix, numbers, ext):
    return {f'{prefix}{i}{ext}' for i in numbers}


def test_alderley_numeric_order_split_with_copies(alderley, tmp_path, capsys):
    out = tmp_path / 'out'
    assert alderley_script.main(['--alderley_root', str(alderley), '--out', str(out), '--copy']) == 0
    printed = capsys.readouterr()
    # 12 * 0.8 = 9.6 -> 10 training frames, 10 * 0.8 -> 8: by number, so Image9 before Image10
    assert listing(out) == {'trainA': frame_names('Image', range(1, 11), '.jpg'),
                            'testA': frame_names('Image', (11, 12), '.jpg'),
                            'trainB': frame_names('Image', range(1, 9), '.png'),
                            'testB': frame_names('Image', (9, 10), '.png')}
    for folder, source in (('trainA', 'FRAMESA'), ('testB', 'FRAMESB')):
        for p in (out / folder).iterdir():
            assert not p.is_symlink() and p.read_bytes() == (alderley / source / p.name).read_bytes()
    assert 'copies: made 22, kept 0 already in place, replaced 0' in printed.out
    assert any(ln.split()[:5] == ['trainA', 'FRAMESA', 'Image1.jpg', '..', 'Image10.jpg'] and ln.split()[5] == '10'
               for ln in printed.out.splitlines()), printed.out
    assert 'published: up to Image13800.jpg (differs)' in printed.out
    assert 'cover.jpg' in printed.err and 'frame number' in printed.err and 'readme' not in printed.err

    assert alderley_script.main(['--alderley_root', str(alderley), '--out', str(out), '--copy']) == 0
    assert 'made 0, kept 22 already in place' in capsys.readouterr().out


def test_alderley_links_and_folder_options(alderley, tmp_path, capsys):
    (alderley / 'FRAMESA').rename(alderley / 'night')
    (alderley / 'FRAMESB').rename(alderley / 'day')
    out = tmp_path / 'out'
    main = alderley_script.main
    line = error_line(capsys, lambda: main(['--alderley_root', str(alderley), '--out', str(out)]))  # before any warning
    assert str(alderley / 'FRAMESA') in line and '--night_dir' in line
    assert main(['--alderley_root', str(alderley), '--out', str(out), '--night_dir', 'night', '--day_dir', 'day',
                 '--train_fraction', '0.5']) == 0
    assert listing(out)['trainA'] == frame_names('Image', range(1, 7), '.jpg')
    link = out / 'testB' / 'Image6.png'
    assert link.is_symlink() and not os.path.isabs(os.readlink(link))
    assert os.path.samefile(link, alderley / 'day' / 'Image6.png')


@pytest.mark.parametrize('extra, expected', [(['--train_fraction', '1'], 'is not between 0 and 1'),
                                             (['--day_dir', 'FRAMESC'], 'FRAMESC does not exist')])
def test_alderley_errors_are_one_line(alderley, tmp_path, capsys, extra, expected):
    out = tmp_path / 'out'
    line = error_line(capsys, lambda: alderley_script.main(
        ['--alderley_root', str(alderley), '--out', str(out), *extra]), alone=False)  # cover.jpg is warned about first
    assert expected in line
    assert not out.exists()
