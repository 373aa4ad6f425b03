"""One run per folder: a training process holds its run folder (train.lock, naming pid and host); a
second one is refused in one line, a lock whose process is gone is taken over with a line, and a
fresh run over a save is refused unless --overwrite."""
import json
import socket
import subprocess

import pytest

from conftest import SHARED_DATA, TINY, run_cli, train_tiny
from util import run_lock


def lines(text):
    return [ln for ln in text.splitlines() if ln.strip()]


def refused(proc, *fragments):
    """`proc` stopped with exit status 2 and one error line holding every fragment."""
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    errors = [ln for ln in lines(proc.stderr) if ln.startswith('error: ')]
    assert len(errors) == 1 and 'Traceback' not in proc.stderr, proc.stderr[-2000:]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def tiny_args(ckpt, name, *extra):
    return ['train.py', '--dataroot', SHARED_DATA, '--name', name, '--checkpoints_dir', ckpt, *TINY,
            '--load_size', '40', '--crop_size', '32', '--max_dataset_size', '2', '--n_epochs', '1',
            '--n_epochs_decay', '0', *extra]


def ended_pid():
    """The pid of a process of this host that has ended."""
    proc = subprocess.Popen(['true'])
    proc.wait()
    return proc.pid


def test_stale_tells_a_lock_left_behind_from_one_that_may_be_running(monkeypatch):
    here = socket.gethostname()
    monkeypatch.delenv('SLURM_JOB_ID', raising=False)
    running = {'pid': 1, 'host': here, 'process_start': run_lock._process_start(1)}
    assert run_lock.stale(running) is None
    assert run_lock.stale({'pid': 1, 'host': 'elsewhere'}) is None  # cannot be checked from here
    assert 'is gone' in run_lock.stale({'pid': ended_pid(), 'host': here})
    assert 'newer process' in run_lock.stale({**running, 'process_start': running['process_start'] - 1})
    assert 'this process' in run_lock.stale({'pid': __import__('os').getpid(), 'host': here})
    assert 'not a lock' in run_lock.stale({})
    monkeypatch.setenv('SLURM_JOB_ID', '42')  # a requeued job: its earlier run is over, wherever it ran
    assert 'earlier run of this SLURM job (42)' in run_lock.stale({'pid': 1, 'host': 'elsewhere', 'slurm_job': '42'})
    assert run_lock.stale({'pid': 1, 'host': 'elsewhere', 'slurm_job': '41'}) is None


@pytest.mark.slow
def test_a_second_training_process_on_a_held_folder_is_refused(tmp_path, daynight):
    run_dir = tmp_path / 'held'
    with run_lock.held(run_dir):  # this process trains there
        proc = run_cli(*tiny_args(tmp_path, 'held'), check=False)
        refused(proc, f'{run_dir} is in use by another training run (pid ', f'on {socket.gethostname()}',
                'train under another --name')
        assert not (run_dir / 'train_opt.json').exists()  # refused before writing anything
        assert (run_dir / 'train.lock').exists()
    assert not (run_dir / 'train.lock').exists()
    # a lock of another host is refused too, naming the file to delete if that run is over
    (run_dir / 'train.lock').write_text(json.dumps({'pid': 1, 'host': 'elsewhere', 'since': 'today'}))
    proc = run_cli(*tiny_args(tmp_path, 'held'), check=False)
    refused(proc, '(pid 1 on elsewhere, since today;', f'delete {run_dir / "train.lock"}')


@pytest.mark.slow
def test_a_stale_lock_is_taken_over_with_a_line(tmp_path, daynight):
    run_dir = tmp_path / 'stale'
    run_dir.mkdir()
    pid = ended_pid()
    (run_dir / 'train.lock').write_text(json.dumps({'pid': pid, 'host': socket.gethostname()}))
    proc = run_cli(*tiny_args(tmp_path, 'stale', '--max_iters', '1'))
    assert f'note: taking over {run_dir / "train.lock"}, left by pid {pid} on {socket.gethostname()}: its ' \
           f'process ({pid}) is gone' in proc.stdout
    assert 'done: checkpoints' in proc.stdout and not (run_dir / 'train.lock').exists()


@pytest.mark.slow
def test_a_fresh_run_over_a_save_is_refused_and_overwrite_starts_over(tmp_path):
    train_tiny(tmp_path, '--save_epoch_freq', '1')
    run_dir = tmp_path / 'tiny'
    saved = {p.name: p.read_bytes() for p in run_dir.glob('*.pth')}
    record = (run_dir / 'train_opt.json').read_text()
    proc = run_cli(*tiny_args(tmp_path, 'tiny', '--ngf', '8'), check=False)
    refused(proc, f'{run_dir} holds the saves of a run (1, latest): continue it with --continue_train, or start '
                  f'over with --overwrite')
    assert {p.name: p.read_bytes() for p in run_dir.glob('*.pth')} == saved
    assert (run_dir / 'train_opt.json').read_text() == record  # the record of the saved run stays
    refused(run_cli(*tiny_args(tmp_path, 'tiny', '--continue_train', '--overwrite'), check=False),
            '--continue_train goes on from the saves that --overwrite deletes')
    proc = run_cli(*tiny_args(tmp_path, 'tiny', '--max_iters', '1', '--overwrite'))
    assert f'--overwrite: deleted the saves (1, latest) and the loss log of the previous run in {run_dir}' \
        in proc.stdout
    assert not (run_dir / '1_state.pth').exists() and (run_dir / 'latest_state.pth').exists()
    assert (run_dir / 'loss_log.txt').read_text().count('Training Loss') == 1
