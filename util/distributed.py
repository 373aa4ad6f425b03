"""The one place that knows about devices and processes.

Models, options and scripts ask this module which device to use and whether they are the main
process; nothing else reads ranks or talks to torch.distributed directly.
"""
import torch
import torch.distributed as dist


def is_distributed():
    return dist.is_available() and dist.is_initialized()


def rank():
    return dist.get_rank() if is_distributed() else 0


def world_size():
    return dist.get_world_size() if is_distributed() else 1


def is_main_process():
    return rank() == 0


def select_device(gpu_ids):
    """The device for this process: the first requested GPU, or the CPU when none is asked for
    (`--gpu_ids -1`) or none is present."""
    if gpu_ids and torch.cuda.is_available():
        device = torch.device('cuda', gpu_ids[0])
        torch.cuda.set_device(device)
        return device
    if gpu_ids and is_main_process():
        print(f'note: --gpu_ids {",".join(map(str, gpu_ids))} asked for a GPU but none is available; running on the CPU')
    return torch.device('cpu')
