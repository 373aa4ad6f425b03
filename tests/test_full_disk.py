"""A full disk during a training save: the run stops with one line (the folder, what the save needs,
what is free) and exit status 74, the partial save goes, the previous save stays complete and
loadable, and --continue_train from it goes on as an uninterrupted run would."""
import errno
import resource
import subprocess
import sys

import pytest
import torch

from conftest import REPO, run_main
from test_resume import NETS, assert_same_latest, train, train_args
from util.checkpoint import load_network, load_training_state

pytestmark = pytest.mark.slow  # every test here trains

EVERY = ['--save_latest_freq', '1', '--no_html']  # a save at each iteration


def assert_stopped_for_want_of_room(returncode, stderr, run_dir, reason):
    """Exit 74 with one error line naming the save's need and the free space; no partial save left;
    the previous save (iteration 2) whole."""
    errors = [ln for ln in stderr.splitlines() if ln.startswith('error: ')]
    assert returncode == 74 and len(errors) == 1 and 'Traceback' not in stderr, stderr[-3000:]
    assert errors[0].startswith(f"error: could not write the save 'latest': {reason} (it needs about ")
    assert ', as the previous save, ' in errors[0] and f' free in {run_dir}): ' in errors[0]
    assert errors[0].endswith('continue from the previous save, complete and kept, with --continue_train')
    assert not [p.name for p in run_dir.iterdir() if p.name.startswith('.')]  # no staging folder, no temporary file
    assert not (run_dir / 'train.lock').exists()
    assert load_training_state(run_dir / 'latest_state.pth')['progress']['total_iters'] == 2
    assert all(load_network(run_dir / f'latest_net_{net}.pth')[2] == 2 for net in NETS)


def resumes_exactly(root, ckpt, name):
    resumed = train(root, ckpt, name, *EVERY, '--max_iters', '4', '--continue_train')
    assert 'resuming at epoch 1, iteration 2' in resumed.stdout
    train(root, ckpt, 'straight', *EVERY, '--max_iters', '4')
    assert_same_latest(ckpt / 'straight', ckpt / name)


def test_a_save_over_the_file_size_limit(tmp_path, daynight):
    train(daynight, tmp_path, 'limited', *EVERY, '--max_iters', '2')
    state_size = (tmp_path / 'limited' / 'latest_state.pth').stat().st_size
    limit = state_size // 2  # the networks fit, the training state does not

    def lower_the_limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    args = train_args(daynight, tmp_path, 'limited', *EVERY, '--max_iters', '4', '--continue_train')
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=600,
                          preexec_fn=lower_the_limit)
    assert_stopped_for_want_of_room(proc.returncode, proc.stderr, tmp_path / 'limited',
                                    'the file-size limit (ulimit -f) is reached')
    resumes_exactly(daynight, tmp_path, 'limited')


def test_a_save_on_a_full_disk(tmp_path, daynight, monkeypatch):
    train(daynight, tmp_path, 'full', *EVERY, '--max_iters', '2')
    real_save = torch.save

    def full_disk(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and obj.get('format') == 'au_gan_pytorch.training_state':
            f.write(b'the first bytes of the state')
            raise OSError(errno.ENOSPC, 'No space left on device')
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, 'save', full_disk)
    proc = run_main(*train_args(daynight, tmp_path, 'full', *EVERY, '--max_iters', '4', '--continue_train'))
    monkeypatch.undo()
    assert_stopped_for_want_of_room(proc.returncode, proc.stderr, tmp_path / 'full', 'the disk is full')
    resumes_exactly(daynight, tmp_path, 'full')


def test_no_room_under_torchrun_ends_every_process_with_the_one_line(tmp_path, daynight):
    """Rank 0 cannot write the first save: it says why, once, and every process ends with status 74,
    none left waiting for the save (torchrun would kill it only after --shutdown_timeout)."""

    def lower_the_limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))  # the training state does not fit

    args = ['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', '--shutdown_timeout', '300',
            *train_args(daynight, tmp_path, 'ddp', *EVERY, '--batch_size', '2', '--num_threads', '0')]
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=250,
                          preexec_fn=lower_the_limit)
    output = proc.stdout + proc.stderr
    errors = [ln for ln in output.splitlines() if 'error: ' in ln]
    assert len(errors) == 1 and "could not write the save 'latest': the file-size limit" in errors[0], output[-3000:]
    assert 'it needs more than ' in errors[0] and errors[0].endswith('raise the limit and run the command again')
    assert output.count('exitcode  : 74 ') == 2, output[-3000:]  # both processes, in torchrun's summary
    assert not [p.name for p in (tmp_path / 'ddp').iterdir() if p.name.startswith('.') or p.name.endswith('.lock')]
