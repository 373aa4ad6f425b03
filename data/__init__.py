"""Dataset registry and data loading.

`--dataset_mode foo` selects the class `FooDataset` (a BaseDataset subclass) in data/foo_dataset.py,
so adding a dataset needs no change here (see data/template_dataset.py). Entry points call
`create_dataset(opt)` and then `create_dataloader(opt, dataset)`, the one place DataLoaders are made.
"""
import contextlib
import functools
import os
import random
import signal

import numpy as np
import torch
import torch.utils.data

from data.base_dataset import BaseDataset
from data.samplers import EpochSampler, SeededItems
from util import distributed, registry, stopping
from util.errors import UserError


def find_dataset_using_name(dataset_name):
    """The BaseDataset subclass `<Name>Dataset` defined in data/<dataset_name>_dataset.py."""
    return registry.find_class('data', dataset_name, 'dataset', BaseDataset, '--dataset_mode')


def get_option_setter(dataset_name):
    """The static `modify_commandline_options(parser, is_train)` of the dataset mode's class."""
    return find_dataset_using_name(dataset_name).modify_commandline_options


def create_dataset(opt):
    """An instance of the dataset class chosen by opt.dataset_mode, built from `opt`."""
    dataset_class = find_dataset_using_name(opt.dataset_mode)
    dataset = dataset_class(opt)
    print(f"dataset [{dataset_class.__name__}] was created with {len(dataset)} images")
    return dataset


def _init_worker(worker_id, ignored=(signal.SIGINT,)):
    # torch gives each worker its own seed; derive numpy's and random's from it so random
    # augmentations differ between workers and are reproducible under a fixed torch seed.
    seed = torch.initial_seed() % 2 ** 32
    np.random.seed(seed)
    random.seed(seed)
    # Ctrl-C reaches the whole process group, but stopping is the main process's to do
    # (util/stopping.py): a worker it killed would break the iteration in flight.
    for signum in ignored:
        signal.signal(signum, signal.SIG_IGN)


# How test-time programs read a dataset (options.replaced(opt, **TEST_READING)): whole images, in
# order (B paired with A by index), unaugmented, one at a time, since their sizes may differ.
TEST_READING = {'serial_batches': True, 'no_flip': True, 'batch_size': 1}


def create_dataloader(opt, dataset, batch_size=None, num_threads=None, num_replicas=None, rank=None,
                      worker_init_fn=_init_worker):
    """A DataLoader over `dataset` configured from opt.

    Training: an EpochSampler shards the data over the processes (global rank; shuffled unless
    --serial_batches; call `loader.sampler.set_epoch` each epoch) and every item's random choices
    are seeded by (seed, epoch, index), so a resumed run sees exactly the batches a straight run
    would. The last incomplete batch is dropped, so every step has --batch_size samples.
    Testing: items in order, all of them.
    `batch_size` and `num_threads` are this process's (distributed.share); by default opt's
    --batch_size and --num_threads, as they are on one process. Also reads opt.serial_batches,
    opt.isTrain, opt.seed.
    """
    batch_size = opt.batch_size if batch_size is None else batch_size
    num_threads = opt.num_threads if num_threads is None else num_threads
    # More workers than cores only adds contention (and a warning from PyTorch).
    num_workers = min(int(num_threads), len(os.sched_getaffinity(0)))
    sampler = None
    if opt.isTrain:
        sampler = EpochSampler(dataset, num_replicas=distributed.world_size() if num_replicas is None else num_replicas,
                               rank=distributed.rank() if rank is None else rank,
                               shuffle=not opt.serial_batches, seed=opt.seed)
        if len(sampler) < batch_size:
            world = sampler.num_replicas
            raise UserError(f"the dataset at {opt.dataroot} gives {len(sampler)} images per epoch "
                            f"to each of {world} process(es), fewer than a batch (--batch_size {batch_size * world}), "
                            f"so training would see no batch: lower --batch_size or add images")
        dataset = SeededItems(dataset, opt.seed)
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=distributed.device().type == 'cuda',  # pinned pages only help copies to a GPU
        persistent_workers=num_workers > 0,
        drop_last=bool(opt.isTrain),
        worker_init_fn=worker_init_fn,
        # The loader's own generator, so that making an iterator does not draw from the global
        # one (a resumed run must continue the global sequence exactly).
        generator=torch.Generator().manual_seed(opt.seed),
    )


@contextlib.contextmanager
def training_loader(opt, dataset, batch_size, num_threads):
    """create_dataloader for train.py, whose workers ignore every stop signal (SIGTERM and SIGUSR1 too,
    whose default kills), and which shuts them down
    on leaving the block, after an error too.

    A cluster that preempts or cancels a job sends SIGTERM to every process of it (so do `pkill`
    and systemd): a worker that died of it would take the run down with the loader's error before
    the main process could save (util/stopping.py). Ignoring it means nothing else may end them:
    Python's exit would SIGTERM the workers still running and wait for them forever, hence the
    shutdown here. A worker whose main process is killed outright still ends by itself (the
    loader's watchdog)."""
    loader = create_dataloader(opt, dataset, batch_size, num_threads,
                               worker_init_fn=functools.partial(_init_worker, ignored=stopping.STOP_SIGNALS))
    try:
        yield loader
    finally:
        if getattr(loader, '_iterator', None) is not None:  # persistent workers, started by the first epoch
            loader._iterator._shutdown_workers()  # torch's own ending: a sentinel to each, then join
