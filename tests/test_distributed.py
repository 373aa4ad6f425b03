"""Multi-process training on the CPU with gloo: torchrun, the legacy launcher, two 'nodes' joined
by a c10d rendezvous on loopback, and gradient equivalence with a single process."""
import json
import os
import re
import socket
import subprocess
import sys

import pytest
import torch

from conftest import REPO, TINY, assert_same_first_step, run_cli
from util.checkpoint import load_network

pytestmark = pytest.mark.slow  # every test here trains in processes

NETS = ['G_A', 'G_B', 'D_A', 'D_B']


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def train_args(root, ckpt, name, *extra):
    return ['train.py', '--dataroot', root, '--checkpoints_dir', ckpt, '--name', name, *TINY,
            '--load_size', '32', '--crop_size', '32', '--max_dataset_size', '4', '--n_epochs', '1',
            '--n_epochs_decay', '0', '--print_freq', '1', '--amp', 'off', *extra]


def weights(ckpt, name):
    return {net: load_network(ckpt / name / f'latest_net_{net}.pth')[0] for net in NETS}


def test_torchrun_two_processes_then_single_process_test(tmp_path, daynight):
    proc = run_cli('-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
                   *train_args(daynight, tmp_path, 'ddp', '--batch_size', '2'))
    assert 'on 2 process(es), batch 1 each' in proc.stdout
    assert 'weights identical on all 2 processes' in proc.stdout
    assert proc.stdout.count('(epoch: 1, iters:') == 2  # rank 0 alone logs: 4 images / global batch 2
    # the run's record holds the global sizes, not one process's share
    record = json.loads((tmp_path / 'ddp' / 'train_opt.json').read_text())
    assert (record['batch_size'], record['world_size']) == (2, 2)
    assert re.search(r'^ +batch_size: 2 ', (tmp_path / 'ddp' / 'train_opt.txt').read_text(), re.M)
    for net, state in weights(tmp_path, 'ddp').items():
        assert not any(k.startswith('module.') for k in state), net
    run_cli('test.py', '--dataroot', daynight, '--checkpoints_dir', tmp_path, '--name', 'ddp', *TINY,
            '--results_dir', tmp_path / 'results', '--num_test', '1', '--load_size', '32')
    assert (tmp_path / 'results' / 'ddp' / 'test_latest' / 'index.html').is_file()


def test_legacy_launcher(tmp_path, daynight):
    proc = run_cli('-m', 'torch.distributed.launch', '--nproc_per_node=2', f'--master_port={free_port()}',
                   *train_args(daynight, tmp_path, 'legacy', '--batch_size', '2', '--num_threads', '2'))
    assert 'weights identical on all 2 processes' in proc.stdout


def test_two_nodes_by_rendezvous(tmp_path, daynight):
    port = free_port()
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nnodes=2', '--nproc_per_node=1',
           '--rdzv_backend=c10d', f'--rdzv_endpoint=127.0.0.1:{port}', '--rdzv_id=augan_test',
           *map(str, train_args(daynight, tmp_path, 'nodes', '--batch_size', '2'))]
    nodes = [subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outputs = [node.communicate(timeout=600)[0] for node in nodes]
    assert all(node.returncode == 0 for node in nodes), '\n'.join(o[-2000:] for o in outputs)
    assert sum('weights identical on all 2 processes' in o for o in outputs) == 1  # printed by rank 0


def test_batch_smaller_than_world_is_refused(tmp_path, daynight):
    proc = run_cli('-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
                   *train_args(daynight, tmp_path, 'small', '--batch_size', '1'), check=False)
    assert proc.returncode != 0
    assert 'error: --batch_size 1 cannot be split evenly over 2 processes' in proc.stderr


def test_two_processes_equal_one_process_with_their_batch(tmp_path, daynight):
    same = ['--batch_size', '2', '--max_dataset_size', '2', '--serial_batches', '--no_flip', '--noise_std', '0',
            '--pool_size', '0', '--max_iters', '1']
    run_cli('-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
            *train_args(daynight, tmp_path, 'two', *same))
    run_cli(*train_args(daynight, tmp_path, 'one', *same))
    two, one = weights(tmp_path, 'two'), weights(tmp_path, 'one')
    for net in ['G_A', 'G_B']:  # the gradient is summed in another order across two processes
        assert_same_first_step(one[net], two[net])
    # and the step did change the weights (so the comparison means something)
    run_cli(*train_args(daynight, tmp_path, 'zero', *same, '--lr', '0'))
    initial = weights(tmp_path, 'zero')
    assert any(not torch.equal(initial['G_A'][k], v) for k, v in one['G_A'].items())


def slurm_stand_ins(tmp_path, daynight):
    """The environment of scripts/slurm_train.sh under stand-ins for srun and scontrol (which notes
    each `scontrol requeue` in <tmp_path>/requeued): job 42, one node, two CPU processes."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'scontrol').write_text(f'#!/bin/sh\nif [ "$1" = requeue ]; then echo "$@" >> {tmp_path / "requeued"}; '
                                      f'else echo 127.0.0.1; fi\n')
    (bin_dir / 'srun').write_text('#!/bin/bash\nwhile [[ "$1" == --* ]]; do shift; done\nexec "$@"\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    return dict(os.environ, PATH=f'{bin_dir}:{os.environ["PATH"]}', SLURM_NNODES='1', SLURM_JOB_ID='42',
                SLURM_JOB_NODELIST='localhost', SLURM_CPUS_PER_TASK='2', GPUS_PER_NODE='2', PORT=str(free_port()),
                NAME='slurm', DATAROOT=str(daynight), CHECKPOINTS=str(tmp_path / 'ck'), VENV=sys.prefix)


def test_slurm_script_runs_and_requeues(tmp_path, daynight):
    """scripts/slurm_train.sh under stand-ins for srun/scontrol: one node, two CPU processes."""
    env = slurm_stand_ins(tmp_path, daynight)
    small = [*TINY, '--load_size', '32', '--crop_size', '32', '--max_dataset_size', '4', '--amp', 'off',
             '--netD', 'basic', '--norm', 'instance']
    first = subprocess.run(['bash', 'scripts/slurm_train.sh', *small, '--max_iters', '1'], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert 'weights identical on all 2 processes' in first.stdout
    again = subprocess.run(['bash', 'scripts/slurm_train.sh', *small, '--max_iters', '2'], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert 'resuming at epoch 1, iteration 1' in again.stdout
