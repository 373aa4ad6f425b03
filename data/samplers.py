"""Sampling for training that is exact to resume and the same whatever the number of workers.

`EpochSampler` is a DistributedSampler (one shard per global rank, reshuffled by `set_epoch`)
that can start part-way into an epoch and hands out keys `(index, epoch)`. `SeededItems` wraps a
dataset so that each item's random choices (crop, flip, the random B partner) come from a
generator seeded by (seed, epoch, index): an item looks the same on a straight run and on a
resumed one, in any worker process.
"""
import random

from torch.utils.data import Dataset, DistributedSampler


class EpochSampler(DistributedSampler):
    def __init__(self, dataset, num_replicas, rank, shuffle, seed):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed)
        self.start = 0

    def set_start(self, start):
        """Skip the first `start` items of this rank's share of the current epoch."""
        self.start = start

    def __iter__(self):
        indices = list(super().__iter__())[self.start:]
        return iter([(i, self.epoch) for i in indices])

    def __len__(self):
        return self.num_samples - self.start


class SeededItems(Dataset):
    def __init__(self, dataset, seed):
        self.dataset, self.seed = dataset, seed

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, key):
        index, epoch = key
        if hasattr(self.dataset, 'set_epoch'):  # a dataset whose items depend on the epoch
            self.dataset.set_epoch(epoch)
        # Datasets draw from Python's `random`; give it this item's own seed, then put it back.
        saved = random.getstate()
        random.seed(f'{self.seed}/{epoch}/{index}')
        try:
            return self.dataset[index]
        finally:
            random.setstate(saved)
