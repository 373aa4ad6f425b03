"""A training run's state as one object: what a save holds and how `--continue_train` restores it.

`TrainingState(model)` is the only code that saves or resumes training. A save labelled L (an
epoch number, `latest` or `iter_<n>`) is, in the run folder:

    L_net_<name>.pth   each network: weights, how to rebuild it, the iteration of the save
    L_state.pth        progress (epoch, epoch_iter, total_iters), every process's random
                       generators, the optimizers, the schedulers, the precision state
                       (gradient scaler, skipped steps) and the image pools

The data sampler needs nothing of its own: it is seeded by (seed, epoch, index), so `progress`
says where it continues (train.py: `set_epoch`, `set_start`). A save is atomic as a whole
(util.checkpoint.save_together): a kill at any instant leaves the previous complete save or
the new one, and `load` finishes a save that was killed while renaming its files into place.

A fresh run (no --continue_train) never writes over a save: `start_fresh` refuses a folder that
holds one, or with --overwrite deletes the old run's saves and loss log first.
"""
import os
import re
import shutil
import sys

from util import distributed, seeding
from util.atomic import NoSpaceError
from util.checkpoint import (STAGING_PREFIX, finish_saves, load_training_state, network_file, save_together,
                             training_state_file)
from util.errors import UserError
from .persistence import describe

SAVE_FILE = re.compile(r'^(.+?)_(state|net_\w+)\.pth$')  # <label>_state.pth, <label>_net_<name>.pth


class TrainingState:
    """Saves and restores everything `model` (a BaseModel after `setup`) needs to train on exactly
    as if it had never stopped."""

    def __init__(self, model):
        self.model = model

    def path(self, label):
        return os.path.join(self.model.save_dir, f'{label}_state.pth')

    def save(self, label, progress):
        """Save the networks and the training state under `label`, with `progress` ({epoch,
        epoch_iter, total_iters}: where training goes on). Call on every process (each gives its
        random generators); the main process writes. A save that finds no room raises
        NoSpaceError there and ends the other processes with its exit status, none left waiting."""
        model = self.model
        rng = distributed.all_gather_object(seeding.get_rng_state())
        no_room = None
        if distributed.is_main_process():
            files = {}
            for name, net in model.networks():
                net = distributed.unwrap(net)  # never save a wrapper's prefixed keys
                files[os.path.basename(model.checkpoint_path(label, name))] = network_file(
                    name, net.state_dict(), describe(net), progress['total_iters'])
            state = {'progress': dict(progress), 'rng': rng,
                     'optimizers': [o.state_dict() for o in model.optimizers],
                     'schedulers': [s.state_dict() for s in model.schedulers],
                     'precision': model.precision.state_dict(),
                     'pools': {k: p.state_dict() for k, p in model.image_pools().items()}}
            files[os.path.basename(self.path(label))] = training_state_file(state)
            try:
                save_together(model.save_dir, label, files)
            except NoSpaceError as error:
                no_room = error
        if distributed.any_process(no_room is not None):  # also the barrier: the others wait for the save
            if no_room is not None:
                raise no_room
            sys.exit(NoSpaceError.exit_status)  # the main process says why, once

    def load(self, label):
        """Load the networks saved under `label`, then the rest of the state; returns the saved
        progress, or None when there are networks only (an older run or an imported model), which
        then trains from --epoch_count with fresh optimizers."""
        model = self.model
        iterations = model.load_networks(label)
        path = self.path(label)
        if not os.path.exists(path):
            print(f'note: {path} not found: continuing from the networks alone, at --epoch_count '
                  f'{model.opt.epoch_count}')
            return None
        state = load_training_state(path)
        progress = state['progress']
        # Saves of this version are whole; files from before it were written one by one.
        stale = [n for n, it in iterations.items() if it is not None and it != progress['total_iters']]
        if stale:
            raise UserError(f'{path} is from iteration {progress["total_iters"]} but the network files of '
                            f'{", ".join(stale)} are from another save (a save was interrupted): continue from an '
                            f'epoch checkpoint with --epoch N')
        if len(state['optimizers']) != len(model.optimizers):
            raise UserError(f'{path} holds {len(state["optimizers"])} optimizers, this model has '
                            f'{len(model.optimizers)}: it belongs to another model')
        for optimizer, saved in zip(model.optimizers, state['optimizers']):
            optimizer.load_state_dict(saved)
        for scheduler, saved in zip(model.schedulers, state['schedulers']):
            scheduler.load_state_dict(saved)
        model.precision.load_state_dict(state['precision'])
        for name, pool in model.image_pools().items():
            if name in state['pools']:
                pool.load_state_dict(state['pools'][name])
        rng = state['rng']
        if len(rng) == distributed.world_size():
            seeding.set_rng_state(rng[distributed.rank()])
        elif distributed.is_main_process():
            print(f'note: {path} was saved by {len(rng)} processes, this run has {distributed.world_size()}: '
                  f'random generators start afresh')
        print(f'resuming at epoch {progress["epoch"]}, iteration {progress["total_iters"]}')
        return progress


def start_fresh(folder, overwrite):
    """Before a fresh run writes into `folder`: refuse when it holds a save (continuing is
    --continue_train, starting over --overwrite); with `overwrite`, delete the saves, unfinished
    ones and the loss log of the old run, so that nothing of it mixes with the new one."""
    finish_saves(folder)  # a save completed in its staging folder counts as a save
    entries = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    saves = [e for e in entries if SAVE_FILE.match(e)]
    if not saves:
        return
    labels = sorted({SAVE_FILE.match(e).group(1) for e in saves}, key=lambda x: (not x.isdigit(), x.zfill(12)))
    if not overwrite:
        raise UserError(f'{folder} holds the saves of a run ({", ".join(labels)}): continue it with --continue_train, '
                        f'or start over with --overwrite (deletes them), or train under another --name')
    for entry in entries:
        path = os.path.join(folder, entry)
        if entry.startswith(STAGING_PREFIX):
            shutil.rmtree(path)
        elif SAVE_FILE.match(entry) or entry == 'loss_log.txt':
            os.remove(path)
    print(f'--overwrite: deleted the saves ({", ".join(labels)}) and the loss log of the previous run in {folder}')
