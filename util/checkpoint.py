"""Reading and writing network files safely.

A file is written next to its destination, flushed to disk and renamed over it, so a crash at
any moment leaves either the old or the new file, never half of one. A save of several files
(a training run's networks and state) is atomic as a whole too (`save_together`): a kill at any
instant leaves the previous complete save or the new one, once `finish_saves` has run, which
every loader calls first. Files are read with `weights_only=True`: a pickle that is not plain
tensors and containers is refused, never run.
"""
import json
import os
import pickle
import shutil

import torch

from util import atomic
from util.errors import UserError

FORMAT = 'au_gan_pytorch.network'
STATE_FORMAT = 'au_gan_pytorch.training_state'
# Network files: 2 records how to rebuild the network; 3: every discriminator is named by the
# domain it judges (models/legacy.py reads cycle_gan's files of version 2).
NETWORK_VERSION = 3


# Both written beside `path`, flushed to disk and renamed over it (util/atomic.py).
def atomic_torch_save(obj, path):
    atomic.write_with(path, lambda f: torch.save(obj, f), durable=True)


def atomic_write_text(path, text):
    atomic.write_with(path, lambda f: f.write(text.encode('utf-8')), durable=True)


STAGING_PREFIX = '.saving_'
COMPLETE = 'COMPLETE'


def save_together(folder, label, objects):
    """Write {file name: object} into `folder` as one save: every file first goes to a staging
    folder `.saving_<label>`, a COMPLETE list is written there last, then the files are renamed
    into place. Killed before COMPLETE exists, the old files are untouched (the next save discards
    the staging folder); killed after, `finish_saves` moves the rest into place. A save that fails
    (a full disk: NoSpaceError, naming the whole save's need) removes its staging folder at once."""
    stage = os.path.join(folder, STAGING_PREFIX + str(label))
    finish_saves(folder)
    if os.path.isdir(stage):  # a save killed before it was complete: nothing of it counts
        shutil.rmtree(stage)
    try:
        os.makedirs(stage)
        for name, obj in objects.items():
            atomic_torch_save(obj, os.path.join(stage, name))
        atomic_write_text(os.path.join(stage, COMPLETE), json.dumps(sorted(objects)))
    except (OSError, atomic.NoSpaceError) as error:
        raise _not_saved(error, folder, label, stage, objects)
    finish_saves(folder)


def _not_saved(error, folder, label, stage, objects):
    """The error to raise for a save that failed while staging: its partial files are removed
    (the previous save is untouched); no room becomes a NoSpaceError for the whole save."""
    staged = sum(atomic.file_size(os.path.join(stage, name)) for name in objects)
    shutil.rmtree(stage, ignore_errors=True)
    reason = atomic.no_space_reason(error)
    if reason is None:
        return error
    previous = sum(atomic.file_size(os.path.join(folder, name)) for name in objects)
    need = (f'about {atomic.size_text(previous)}, as the previous save' if previous
            else f'more than {atomic.size_text(staged)}')
    then = ('continue from the previous save, complete and kept, with --continue_train' if previous
            else 'run the command again')
    return atomic.NoSpaceError(f'the save {label!r}', folder, reason, need, then=then)


def finish_saves(folder):
    """Complete the saves in `folder` that were complete in their staging folder but not yet all
    renamed into place (a kill in between). Incomplete staging folders are left for their writer:
    a reader never discards what a running save is still writing."""
    if not os.path.isdir(folder):
        return
    for entry in sorted(os.listdir(folder)):
        stage = os.path.join(folder, entry)
        marker = os.path.join(stage, COMPLETE)
        if not (entry.startswith(STAGING_PREFIX) and os.path.isfile(marker)):
            continue
        with open(marker, encoding='utf-8') as f:
            names = json.load(f)
        for name in names:
            try:
                os.replace(os.path.join(stage, name), os.path.join(folder, name))
            except FileNotFoundError:
                pass  # moved already (by an earlier attempt, or by another process finishing it)
        atomic.fsync(folder)
        try:
            os.remove(marker)
            os.rmdir(stage)
        except FileNotFoundError:
            pass


def network_file(name, state_dict, config, iteration=None):
    """What a network file holds: its weights, how it was built (models/persistence.py) and the
    iteration it is from."""
    cpu_state = {k: v.detach().cpu() for k, v in state_dict.items()}
    return {'format': FORMAT, 'version': NETWORK_VERSION, 'name': name, 'config': dict(config), 'iteration': iteration,
            'state_dict': cpu_state}


def save_network(path, name, state_dict, config, iteration=None):
    """Save one network's weights with how it was built and the iteration it is from."""
    atomic_torch_save(network_file(name, state_dict, config, iteration), path)


def _safe_load(path, what):
    if not os.path.isfile(path):
        raise UserError(f'no {what} at {path}: check --checkpoints_dir, --name and --epoch, or train first')
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError, ImportError, TypeError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f'{path} is not a {what} of this project and was not loaded ({reason[:200]})')


def training_state_file(state):
    return {'format': STATE_FORMAT, 'version': 1, **state}


def load_training_state(path):
    obj = _safe_load(path, 'training state')
    if not (isinstance(obj, dict) and obj.get('format') == STATE_FORMAT):
        raise UserError(f'{path} is not a training state written by train.py: delete it to continue from the networks alone')
    return obj


def load_network(path):
    """Return (state_dict, config, iteration) from a file written by save_network, or from a bare
    state_dict (CycleGAN-style files, with or without DDP's `module.` prefix; config is then empty)."""
    obj = _safe_load(path, 'network checkpoint')
    if isinstance(obj, dict) and obj.get('format') == FORMAT:
        state, config, iteration = obj['state_dict'], obj.get('config', {}), obj.get('iteration')
    elif isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        state, config, iteration = obj, {}, None
    else:
        raise UserError(f'{path} holds no network weights: pass a *_net_<name>.pth file written by train.py')
    state = {(k[len('module.'):] if k.startswith('module.') else k): v for k, v in state.items()}
    return state, config, iteration


def network_version(path):
    """The format version of the network file at `path`: NETWORK_VERSION for this version's,
    0 for a bare state_dict."""
    obj = _safe_load(path, 'network checkpoint')
    return obj.get('version', 0) if isinstance(obj, dict) and obj.get('format') == FORMAT else 0
