"""Dataset registry and data loading.

`--dataset_mode foo` selects the class `FooDataset` (a BaseDataset subclass) in data/foo_dataset.py,
so adding a dataset needs no change here (see data/template_dataset.py). Entry points call
`create_dataset(opt)` and then `create_dataloader(opt, dataset)`, the one place DataLoaders are made.
"""
import os
import random

import numpy as np
import torch
import torch.utils.data

from data.base_dataset import BaseDataset
from util import registry
from util.errors import UserError


def available_dataset_modes():
    """Names usable as --dataset_mode: every data/<name>_dataset.py except the base class's module."""
    return registry.available('data', 'dataset')


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


def _seed_worker(worker_id):
    # torch gives each worker its own seed; derive numpy's and random's from it so random
    # augmentations differ between workers and are reproducible under a fixed torch seed.
    seed = torch.initial_seed() % 2 ** 32
    np.random.seed(seed)
    random.seed(seed)


def create_dataloader(opt, dataset, sampler=None, shuffle=None):
    """A DataLoader over `dataset` configured from opt.

    Reads opt.batch_size, opt.serial_batches, opt.num_threads and opt.isTrain. `shuffle` defaults to
    not --serial_batches, or to False when a `sampler` (e.g. a DistributedSampler) is given, since
    the sampler then decides the order. In training the last incomplete batch is dropped so that
    BatchNorm never sees a batch of one.
    """
    if shuffle is None:
        shuffle = (not opt.serial_batches) if sampler is None else False
    # More workers than cores only adds contention (and a warning from PyTorch).
    num_workers = min(int(opt.num_threads), len(os.sched_getaffinity(0)))
    drop_last = bool(opt.isTrain)
    n_items = len(sampler) if sampler is not None else len(dataset)
    if drop_last and n_items < opt.batch_size:
        raise UserError(f"the dataset at {getattr(opt, 'dataroot', '?')} gives {n_items} images per "
                        f"epoch, fewer than --batch_size {opt.batch_size}, so training would see no "
                        f"batch: lower --batch_size or add images")
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=opt.batch_size,
        shuffle=shuffle,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=num_workers > 0,
        drop_last=drop_last,
        worker_init_fn=_seed_worker,
    )
