"""A stop signal saves: SIGTERM or SIGINT (Ctrl-C) stops a real training process after the iteration
in flight, with a save there, and its printed command goes on exactly as an uninterrupted run;
under torchrun, the launcher's signal stops every process at one iteration with one save."""
import os
import shlex
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, TINY, run_cli
from test_distributed import slurm_stand_ins
from test_resume import assert_same_latest, train, train_args
from util.checkpoint import load_training_state
from util.stopping import EXIT_STOPPED

pytestmark = pytest.mark.slow  # every test here trains in processes

# 16 images, batch 1: a signal lands mid-epoch 15 times in 16; 40 + 40 epochs: it lands long before the end
LONG = ['--max_dataset_size', '16', '--n_epochs', '40', '--n_epochs_decay', '40', '--print_freq', '1']


def start(args, log, command=(sys.executable,), env=os.environ, **popen):
    """`python <args>` (or `<command> <args>`) in a child process writing to `log`; returns it once
    it has trained an iteration. The environment is run_cli's: a run compared with another must
    use as many threads (a convolution's sums are ordered by its threads: 1e-5 apart otherwise)."""
    env = dict(env, PYTHONUNBUFFERED='1', WANDB_MODE='offline', WANDB_SILENT='true')
    with open(log, 'w') as out:
        proc = subprocess.Popen([*command, *map(str, args)], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                **popen)
    deadline = time.time() + 300
    while '(epoch: ' not in log.read_text() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, log.read_text()[-3000:]
    return proc


def stopped_save(run_dir, output, signame):
    """The iteration of the one save the stopped run made, checked against its one stop line;
    returns (iteration, the command the line gives)."""
    assert output.count('stopped by ') == 1, output[-3000:]
    line = next(ln for ln in output.splitlines() if ln.startswith('stopped by '))
    reached = load_training_state(run_dir / 'latest_state.pth')['progress']['total_iters']
    assert line.startswith(f'stopped by {signame} after iteration {reached} (epoch ')
    assert f"saved 'latest' in {run_dir}; exit status {EXIT_STOPPED}; continue with: " in line
    assert not (run_dir / 'train.lock').exists() and not (run_dir / '.saving_latest').exists()
    return reached, line.split('continue with: ', 1)[1]


@pytest.mark.parametrize('signum, to', [(signal.SIGTERM, 'process'), (signal.SIGINT, 'process'),
                                        (signal.SIGTERM, 'group')])
def test_a_stop_signal_saves_where_it_stopped_and_the_run_resumes_exactly(tmp_path, daynight, signum, to):
    """`to`: the training process alone, or its whole process group (its loader worker too), as a
    cluster's preemption, `pkill` or systemd send it."""
    log = tmp_path / 'stopped.log'
    proc = start(train_args(daynight, tmp_path, 'stopped', *LONG), log, start_new_session=True)  # one loader worker
    workers = children(proc.pid)
    assert workers, 'the run has no loader worker to signal'

    def send():
        os.killpg(proc.pid, signum) if to == 'group' else proc.send_signal(signum)
    send()
    while signum == signal.SIGINT and proc.poll() is None:
        time.sleep(0.02)
        send()  # Ctrl-C held down: while it finishes the iteration, saves and exits
    assert proc.wait(timeout=120) == EXIT_STOPPED, log.read_text()[-3000:]
    deadline = time.time() + 30
    while not all(map(gone, workers)) and time.time() < deadline:
        time.sleep(0.1)
    assert all(map(gone, workers)), 'a loader worker outlived the run'
    reached, command = stopped_save(tmp_path / 'stopped', log.read_text(), signum.name)
    words = shlex.split(command)
    assert words[0] == 'python' and words[-1] == '--continue_train'
    resumed = run_cli(*words[1:], '--max_iters', str(reached + 2))
    assert f'iteration {reached}' in resumed.stdout and 'done: checkpoints' in resumed.stdout
    train(daynight, tmp_path, 'straight', *LONG, '--max_iters', str(reached + 2))
    assert_same_latest(tmp_path / 'straight', tmp_path / 'stopped')


def children(pid):
    """The pids of the processes whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in os.listdir('/proc'):
        try:
            with open(f'/proc/{entry}/stat') as f:
                if entry.isdigit() and int(f.read().rsplit(')', 1)[1].split()[1]) == pid:
                    found.append(int(entry))
        except (OSError, ValueError):
            pass
    return found


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_torchrun_stops_every_process_at_one_iteration_with_one_save(tmp_path, daynight):
    launch = ['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2']
    ddp = [*LONG, '--batch_size', '2', '--num_threads', '0']
    log = tmp_path / 'ddp.log'
    proc = start([*launch, *train_args(daynight, tmp_path, 'ddp', *ddp)], log)
    workers = children(proc.pid)
    assert len(workers) == 2, workers
    proc.send_signal(signal.SIGTERM)  # to the launcher, which passes it to its processes
    proc.wait(timeout=120)
    output = log.read_text()
    deadline = time.time() + 30
    while not all(map(gone, workers)) and time.time() < deadline:
        time.sleep(0.1)
    assert all(map(gone, workers)), output[-3000:]
    # the processes ended the same iteration: their weights were compared, equal, before the save's line
    assert 'weights identical on all 2 processes' in output, output[-3000:]
    reached, command = stopped_save(tmp_path / 'ddp', output, 'SIGTERM')
    assert len(load_training_state(tmp_path / 'ddp' / 'latest_state.pth')['rng']) == 2
    words = shlex.split(command)  # the launcher's own command line, as it was given, + --continue_train
    assert words[:len(launch) + 1] == [sys.executable, *launch] and words[-1] == '--continue_train'
    resumed = run_cli(*words[1:], '--max_iters', str(reached + 1))
    assert f'iteration {reached}' in resumed.stdout and 'weights identical on all 2 processes' in resumed.stdout


def test_slurm_script_saves_and_requeues_on_the_time_limit_signal(tmp_path, daynight):
    """SLURM's SIGUSR1 to scripts/slurm_train.sh (stand-ins for srun and scontrol): training saves and
    stops, the script requeues job 42, and the requeued job goes on from that save."""
    env = slurm_stand_ins(tmp_path, daynight)
    small = [*TINY, '--load_size', '32', '--crop_size', '32', '--amp', 'off', '--netD', 'basic', '--norm', 'instance',
             *LONG, '--batch_size', '2']
    log = tmp_path / 'job.log'
    job = start(['scripts/slurm_train.sh', *small], log, command=('bash',), env=env)
    job.send_signal(signal.SIGUSR1)
    job.wait(timeout=300)
    assert (tmp_path / 'requeued').read_text() == 'requeue 42\n', log.read_text()[-3000:]
    reached, _ = stopped_save(tmp_path / 'ck' / 'slurm', log.read_text(), 'SIGTERM')  # as the script passes it on
    again = subprocess.run(['bash', 'scripts/slurm_train.sh', *small, '--max_iters', str(reached + 1)], cwd=REPO,
                           env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert f'iteration {reached}' in again.stdout and 'weights identical on all 2 processes' in again.stdout
