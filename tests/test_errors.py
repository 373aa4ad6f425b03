"""Bad input ends with one clear line on stderr (exit code 2) that names the culprit, never a traceback.

train.py runs in this process (conftest.run_main), so these stay in the fast lane;
test_no_dataroot_given runs it as a real process, to keep the exit code and stderr of a real
command under test too."""
import shutil

import pytest
from PIL import Image

from conftest import TINY, run_cli, run_main

SMALL = ['--load_size', '40', '--crop_size', '32', '--n_epochs', '1', '--n_epochs_decay', '0']


def make_domain(folder, n=2, size=(40, 36)):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new('RGB', size, (40 * i, 90, 200)).save(folder / f'{i}.png')


@pytest.fixture
def tiny_root(tmp_path):
    root = tmp_path / 'data'
    make_domain(root / 'trainA')
    make_domain(root / 'trainB')
    return root


def assert_user_error(proc, *fragments):
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert 'Traceback' not in proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('error: '), proc.stderr
    for fragment in fragments:
        assert str(fragment) in last, (fragment, last)
    return last


def train(*args, root, tmp_path):
    return run_main('train.py', '--dataroot', root, '--checkpoints_dir', tmp_path / 'ck', *TINY, *SMALL, *args)


def test_missing_dataroot(tmp_path):
    missing = tmp_path / 'nowhere'
    assert_user_error(train(root=missing, tmp_path=tmp_path), missing, 'download_dataset.sh')


@pytest.mark.slow
def test_no_dataroot_given(tmp_path):
    proc = run_cli('train.py', '--checkpoints_dir', tmp_path, check=False)
    assert_user_error(proc, '--dataroot')


def test_empty_domain_folder(tmp_path, tiny_root):
    shutil.rmtree(tiny_root / 'trainA')
    (tiny_root / 'trainA').mkdir()
    assert_user_error(train(root=tiny_root, tmp_path=tmp_path), tiny_root / 'trainA')


@pytest.mark.parametrize('workers', ['0', '1'])
def test_unreadable_image(tmp_path, tiny_root, workers):
    bad = tiny_root / 'trainB' / 'broken.jpg'
    bad.write_bytes(b'\xff\xd8\xff\xe0 this is not really a jpeg')
    proc = train('--num_threads', workers, '--serial_batches', root=tiny_root, tmp_path=tmp_path)
    assert_user_error(proc, bad)


def test_unreadable_image_skipped_on_request(tmp_path, tiny_root):
    bad = tiny_root / 'trainB' / 'broken.jpg'
    bad.write_bytes(b'not an image')
    proc = train('--bad_images', 'skip', '--serial_batches', root=tiny_root, tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert str(bad) in proc.stderr


def test_unknown_model(tmp_path, tiny_root):
    last = assert_user_error(train('--model', 'no_such_model', root=tiny_root, tmp_path=tmp_path), 'no_such_model')
    assert 'au_gan' in last and 'template' in last


def test_unknown_dataset_mode(tmp_path, tiny_root):
    assert_user_error(train('--dataset_mode', 'nope', root=tiny_root, tmp_path=tmp_path), 'nope', 'unaligned')


def test_checkpoint_that_does_not_match(tmp_path, tiny_root):
    assert train('--name', 'run', root=tiny_root, tmp_path=tmp_path).returncode == 0
    test_args = ['test.py', '--dataroot', tiny_root, '--phase', 'train', '--name', 'run',
                 '--checkpoints_dir', tmp_path / 'ck', '--results_dir', tmp_path / 'res', *TINY]
    wider = list(test_args)
    ngf = wider.index('--ngf') + 1
    wider[ngf] = '8'
    # the run folder's record refuses the contradicting flag first, naming both values
    assert_user_error(run_main(*wider), '--ngf 8 contradicts the run run, built with --ngf 4',
                      'train_opt.json')
    assert_user_error(run_main(*test_args, '--norm', 'none'), '--norm none', '--norm instance')
    # a run without that record (an older one): the checkpoint's own description still refuses it
    (tmp_path / 'ck' / 'run' / 'train_opt.json').unlink()
    last = assert_user_error(run_main(*wider), 'latest_net_G_A.pth', '--ngf 4', '--ngf 8')
    assert 'train_opt.txt' in last
    assert_user_error(run_main(*test_args, '--norm', 'none'), '--norm instance', '--norm none')

    # a file without this project's metadata (a bare state_dict) that does not fit is still named
    import torch
    path = tmp_path / 'ck' / 'run' / 'latest_net_G_B.pth'
    torch.save({'encoder.0.0.weight': torch.zeros(1)}, path)
    assert_user_error(run_main(*test_args), path, 'does not fit network G_B')


def test_corrupt_or_foreign_checkpoint(tmp_path, tiny_root):
    run_dir = tmp_path / 'ck' / 'run'
    run_dir.mkdir(parents=True)
    (run_dir / 'latest_net_G_A.pth').write_bytes(b'garbage, not a checkpoint')
    test_args = ['test.py', '--dataroot', tiny_root, '--phase', 'train', '--name', 'run',
                 '--checkpoints_dir', tmp_path / 'ck', '--results_dir', tmp_path / 'res', *TINY]
    assert_user_error(run_main(*test_args), run_dir / 'latest_net_G_A.pth', 'not a network checkpoint')


def test_missing_checkpoint(tmp_path, tiny_root):
    test_args = ['test.py', '--dataroot', tiny_root, '--phase', 'train', '--name', 'never_trained',
                 '--checkpoints_dir', tmp_path / 'ck', '--results_dir', tmp_path / 'res', *TINY]
    assert_user_error(run_main(*test_args), 'never_trained', 'train first')


def test_image_too_small_for_the_networks(tmp_path, tiny_root):
    proc = train('--preprocess', 'none', '--netD', 'ms3', root=tiny_root, tmp_path=tmp_path)
    assert_user_error(proc, 'too small')


def test_crop_too_small_for_the_discriminator_is_refused_before_any_work(tmp_path):
    # the data folder does not even exist: the size is refused before data or networks are touched
    missing = tmp_path / 'no_data'
    for flags, fragment in ((['--crop_size', '64', '--netD', 'ms3'], '--crop_size 64 is too small for --netD ms3'),
                            (['--crop_size', '16'], '--crop_size 16 is too small for --netD basic'),
                            (['--crop_size', '32x48', '--netD', 'augan'], '--crop_size 32x48 is too small for --netD augan'),
                            (['--preprocess', 'resize', '--load_size', '20x40'], '--load_size 20x40 is too small')):
        proc = run_main('train.py', '--dataroot', missing, '--name', 'x', '--checkpoints_dir', tmp_path, '--gpu_ids',
                       '-1', *flags)
        assert_user_error(proc, fragment)
    for ok in (['--crop_size', '64', '--netD', 'ms2'], ['--crop_size', '32x64', '--netD', 'augan']):
        proc = run_main('train.py', '--dataroot', missing, '--name', 'x', '--checkpoints_dir', tmp_path, '--gpu_ids',
                       '-1', *ok)
        assert_user_error(proc, 'no_data')  # it gets as far as the data
