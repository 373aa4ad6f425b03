"""The one place that knows about devices and processes.

`setup(gpu_ids)` joins the process group when the program was started by `torchrun` or
`python -m torch.distributed.launch` (they set WORLD_SIZE/RANK/LOCAL_RANK and the rendezvous
address) and picks this process's device; `share(batch_size, num_threads)` splits the global
`--batch_size` and `--num_threads` between the processes. The programs call both themselves,
after parsing their options (parsing never touches processes or devices). Everything else asks this module for the rank, the device, or to wrap a
network; models never talk to torch.distributed themselves.
"""
import datetime
import hashlib
import inspect
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from util.errors import UserError

_device = None
_flag_group = None  # a gloo group for any_process, so that it never waits for a GPU
_ddp_params = inspect.signature(DistributedDataParallel.__init__).parameters


def launched():
    """Started by torchrun/torch.distributed.launch with more than one process in all."""
    return int(os.environ.get('WORLD_SIZE', '1')) > 1


def is_distributed():
    return dist.is_available() and dist.is_initialized()


def rank():
    return dist.get_rank() if is_distributed() else 0


def world_size():
    return dist.get_world_size() if is_distributed() else 1


def is_main_process():
    return rank() == 0


def local_rank(legacy=None):
    # torchrun sets LOCAL_RANK; the legacy launcher passes --local-rank (`legacy`).
    return int(os.environ.get('LOCAL_RANK', legacy or 0))


def launch_rank():
    """This process's rank as the launcher set it (RANK), known before the process group is joined."""
    return int(os.environ.get('RANK', '0'))


def launch_world_size():
    """The number of processes the launcher started (WORLD_SIZE; 1 when not launched)."""
    return int(os.environ.get('WORLD_SIZE', '1'))


def parse_gpu_ids(text):
    """--gpu_ids '0,1' -> [0, 1]; '-1' (the CPU) -> []."""
    try:
        ids = [int(i) for i in str(text).split(',') if i.strip()]
    except ValueError:
        raise UserError(f'--gpu_ids {text}: give GPU numbers separated by commas (e.g. 0 or 0,1), or -1 for the CPU')
    return [i for i in ids if i >= 0]


def select_device(gpu_ids, index=None):
    """The device for this process: a GPU when one is asked for (`--gpu_ids`) and present, the
    CPU otherwise (`--gpu_ids -1`, or no GPU)."""
    if gpu_ids and torch.cuda.is_available():
        device = torch.device('cuda', gpu_ids[0] if index is None else index)
        torch.cuda.set_device(device)
        return device
    if gpu_ids and is_main_process():
        print(f'note: --gpu_ids {",".join(map(str, gpu_ids))} asked for a GPU but none is available; running on the CPU')
    return torch.device('cpu')


def setup(gpu_ids, backend=None, legacy_local_rank=None):
    """Join the process group if launched (torchrun), choose this process's device and return it.

    `gpu_ids` as parse_gpu_ids gives them ([] for the CPU); `backend` nccl or gloo (default: nccl
    on GPUs, gloo on the CPU); `legacy_local_rank` is what torch.distributed.launch passes as
    --local-rank (torchrun sets LOCAL_RANK instead). Called once, by the program, after parsing.
    """
    global _device
    use_cuda = bool(gpu_ids) and torch.cuda.is_available()
    if launched() and not is_distributed():
        if use_cuda:
            # One GPU per process, chosen by the local rank (the launcher's job, not --gpu_ids).
            if local_rank(legacy_local_rank) >= torch.cuda.device_count():
                raise UserError(f'local rank {local_rank(legacy_local_rank)} has no GPU: this machine has '
                                f'{torch.cuda.device_count()}; lower --nproc_per_node')
            torch.cuda.set_device(local_rank(legacy_local_rank))
        dist.init_process_group(backend=backend or ('nccl' if use_cuda else 'gloo'),
                                timeout=datetime.timedelta(minutes=30))
    if is_distributed():
        _device = torch.device('cuda', local_rank(legacy_local_rank)) if use_cuda else torch.device('cpu')
    else:
        _device = select_device(gpu_ids)
    return _device


def share(batch_size, num_threads):
    """This process's part of the global `--batch_size` and `--num_threads` (given as on one GPU):
    (batch_size // world, ceil(num_threads / world)). An uneven batch split is a UserError."""
    world = world_size()
    if batch_size % world:
        raise UserError(f'--batch_size {batch_size} cannot be split evenly over {world} processes: '
                        f'use a multiple of {world} (it is the global batch size)')
    return batch_size // world, -(-num_threads // world) if num_threads else 0


def synchronize(device):
    """Wait for the work queued on `device` (nothing to wait for on the CPU): before reading a clock."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def device():
    return _device if _device is not None else torch.device('cpu')


def wrap(net):
    """A network whose gradients are averaged over all processes (DDP), or the network itself
    when running alone. Frozen passes should call the unwrapped module (`unwrap`)."""
    if not is_distributed():
        return net
    dev = next(net.parameters()).device
    # Buffers are synced once at start but not before every forward: the networks run several
    # forward passes per step, and an in-place broadcast between them would break autograd
    # (instance norm has no buffers anyway). Newer PyTorch names the switch differently.
    no_buffer_sync = ({'forward_sync_buffers': False} if 'forward_sync_buffers' in _ddp_params
                      else {'broadcast_buffers': False})
    return DistributedDataParallel(net, device_ids=[dev.index] if dev.type == 'cuda' else None, **no_buffer_sync)


def unwrap(net):
    """The plain network inside DDP and torch.compile wrappers."""
    while True:
        if isinstance(net, DistributedDataParallel):
            net = net.module
        elif hasattr(net, '_orig_mod'):
            net = net._orig_mod
        else:
            return net


def barrier():
    if is_distributed():
        dist.barrier()


def all_gather_object(obj):
    if not is_distributed():
        return [obj]
    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def any_process(flag):
    """Whether `flag` is true on any process: a collective (every process calls it at the same
    point), one integer summed on the CPU over gloo, also when the networks use NCCL."""
    global _flag_group
    if not is_distributed():
        return flag
    if _flag_group is None:
        _flag_group = dist.group.WORLD if dist.get_backend() == 'gloo' else dist.new_group(backend='gloo')
    votes = torch.tensor([int(flag)])
    dist.all_reduce(votes, group=_flag_group)
    return bool(votes.item())


def fingerprint(nets):
    """A hash of the networks' parameters and buffers, to check that every process holds the same."""
    h = hashlib.sha256()
    for net in nets:
        for name, t in unwrap(net).state_dict().items():
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def check_in_sync(nets):
    """Verify that all processes hold identical weights; returns how many processes agreed."""
    prints = all_gather_object(fingerprint(nets))
    if len(set(prints)) > 1:
        raise RuntimeError(f'the processes hold different weights ({len(set(prints))} versions): '
                           f'gradients were not synchronised')
    return len(prints)


def cleanup():
    """Leave the process group at the end of a run, once every process has got there."""
    if is_distributed():
        dist.barrier()
    leave()


def leave():
    """Leave the process group now, without waiting for the others (a process ending with an error
    whose peers may be gone already). Left to the interpreter's exit, gloo's threads can be torn
    down while a peer's connection closes under them, and the process aborts (SIGABRT) instead of
    ending with its exit status."""
    global _flag_group
    if is_distributed():
        dist.destroy_process_group()
    _flag_group = None
