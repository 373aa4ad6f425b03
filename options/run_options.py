"""A run folder's record of its options, and how later commands read it.

Training writes `<checkpoints_dir>/<name>/train_opt.txt` (for people) and `train_opt.json` (for
programs): every option as the run used it, with the global batch size, loader threads and the
number of processes (not one process's share). `scripts/import_official.py` writes the same
files for an imported model.

Every command that loads a run (test.py, scripts/convert.py, export.py, evaluate.py,
make_samples.py) takes the options that decide how its networks are built (ARCHITECTURE) from
`train_opt.json`, so they need no architecture flags; such a flag given anyway must agree with the
record, or the command stops with a one-line error naming both values. The checkpoints also carry
their networks' constructor arguments (models/persistence.py), checked again when loading.
"""
import json
import os
from dataclasses import fields

from data.base_dataset import parse_size, size_hw
from models.generators import ForkGeneratorConfig
from models.legacy import ADDED_LATER
from models.persistence import TRAINING_ONLY
from util.checkpoint import atomic_write_text
from util.errors import UserError

RECORD = 'train_opt.json'

# The options that decide how a model's networks are built, for every model: the fork generator's
# configuration but its training-time noise, and the rest.
ARCHITECTURE = ('model', 'preset', 'input_nc', 'output_nc', 'ndf', 'netD', 'netG', 'n_layers_D', 'no_dropout',
                *(f.name for f in fields(ForkGeneratorConfig) if f.name not in TRAINING_ONLY),
                'n_blocks_T', 'n_blocks_T_B', 't_net_concat', 'uncertainty')


def record_path(checkpoints_dir, name):
    return os.path.join(checkpoints_dir, name, RECORD)


def save_record(opt, path, **overrides):
    """Write the options of `opt` (with `overrides`, e.g. the global batch size) as JSON, atomically."""
    values = {k: v for k, v in sorted(vars(opt).items())}
    values.update(overrides)
    atomic_write_text(path, json.dumps(values, indent=1, default=str) + '\n')


def load_record(checkpoints_dir, name):
    """The options a run folder records ({} when it has no train_opt.json)."""
    path = record_path(checkpoints_dir, name)
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding='utf-8') as f:
            values = json.load(f)
        if not isinstance(values, dict):
            raise ValueError('not a JSON object')
    except (OSError, ValueError) as e:
        raise UserError(f'cannot read {path} ({e}): restore it from the run, or delete it and give the '
                        f'architecture flags the run was trained with')
    return values


def architecture(values):
    """The ARCHITECTURE options of a run's record; a flag added after the run was trained takes
    the value that builds its network as it was (models/legacy.py ADDED_LATER)."""
    if not values:
        return {}
    return {k: values[k] if k in values else ADDED_LATER[k] for k in ARCHITECTURE if k in values or k in ADDED_LATER}


def tool_geometry(values):
    """The frame size a run's tools translate at, where its record decides it: a `--preset
    official` run (trained here or imported) is tested as the official code tests, on whole frames
    resized to its training crop (fine_size x 2*fine_size), so {'load_size': crop, 'crop_size':
    crop}; {} for any other run. Defaults only: --load_size/--crop_size on the command line win."""
    if values.get('preset') != 'official' or values.get('crop_size') is None:
        return {}
    h, w = size_hw(values['crop_size'])  # JSON keeps HxW as [h, w]
    size = parse_size(f'{h}x{w}')
    return {'load_size': size, 'crop_size': size}


def add_to_record(checkpoints_dir, name, **values):
    """Add facts known only once the run started (e.g. the precision it runs in) to its record."""
    path = record_path(checkpoints_dir, name)
    with open(path, encoding='utf-8') as f:
        record = json.load(f)
    record.update(values)
    atomic_write_text(path, json.dumps(dict(sorted(record.items())), indent=1, default=str) + '\n')


def check_architecture(opt, stored):
    """After parsing with the recorded defaults, a value that differs was given on the command line."""
    path = record_path(opt.checkpoints_dir, opt.name)
    for key, value in stored.items():
        if hasattr(opt, key) and getattr(opt, key) != value:
            raise UserError(f'--{key} {getattr(opt, key)} contradicts the run {opt.name}, built with --{key} {value} '
                            f'(recorded in {path}): drop --{key}; a run folder decides how its networks are built')
