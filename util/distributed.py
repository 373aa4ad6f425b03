"""The one place that knows about devices and processes.

`setup(opt)` joins the process group when the program was started by `torchrun` or
`python -m torch.distributed.launch` (they set WORLD_SIZE/RANK/LOCAL_RANK and the rendezvous
address), picks this process's device, and splits the global `--batch_size` and `--num_threads`
between the processes. Everything else asks this module for the rank, the device, or to wrap a
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


def local_rank(opt=None):
    # torchrun sets LOCAL_RANK; the legacy launcher passes --local-rank (kept in opt.local_rank).
    return int(os.environ.get('LOCAL_RANK', getattr(opt, 'local_rank', None) or 0))


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


def setup(opt):
    """Join the process group if launched, choose the device, and make batch size and loader
    threads per-process. Sets opt.device, opt.world_size, opt.rank; returns the device."""
    global _device
    if launched() and not is_distributed():
        use_cuda = bool(opt.gpu_ids) and torch.cuda.is_available()
        backend = getattr(opt, 'dist_backend', None) or ('nccl' if use_cuda else 'gloo')
        if use_cuda:
            # One GPU per process, chosen by the local rank (the launcher's job, not --gpu_ids).
            if local_rank(opt) >= torch.cuda.device_count():
                raise UserError(f'local rank {local_rank(opt)} has no GPU: this machine has '
                                f'{torch.cuda.device_count()}; lower --nproc_per_node')
            torch.cuda.set_device(local_rank(opt))
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30))

    world = world_size()
    if is_distributed():
        use_cuda = bool(opt.gpu_ids) and torch.cuda.is_available()
        _device = torch.device('cuda', local_rank(opt)) if use_cuda else torch.device('cpu')
    else:
        _device = select_device(opt.gpu_ids)

    if world > 1 and getattr(opt, 'isTrain', False):
        # --batch_size and --num_threads are global, as on one GPU: each process takes its share.
        if opt.batch_size % world:
            raise UserError(f'--batch_size {opt.batch_size} cannot be split evenly over {world} processes: '
                            f'use a multiple of {world} (it is the global batch size)')
        opt.batch_size //= world
        opt.num_threads = -(-opt.num_threads // world) if opt.num_threads else 0
    opt.device, opt.world_size, opt.rank = str(_device), world, rank()
    return _device


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
    if is_distributed():
        dist.barrier()
        dist.destroy_process_group()
