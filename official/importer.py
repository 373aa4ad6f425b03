"""Import the official AU-GAN TensorFlow checkpoint as a run folder of this project: the logic
behind scripts/import_official.py (which parses the flags and prints the outcome).

`import_checkpoint` reads the checkpoint (official/tf_checkpoint.py), recognises the code version
by its variable names, refuses a file with any missing, extra or mis-shaped variable
(`match_variables`), loads the weights into this project's networks (official/weights.py) and
writes <checkpoints_dir>/<name>/: the four networks and train_opt.txt / train_opt.json recording
`--preset official` with the checkpoint's widths and fine_size (`choose_fine_size`).
"""
import os
import re

import torch

from models.persistence import describe
from official.tf_checkpoint import (STATE_FILE, list_variables, path_parts, read_checkpoint, resolve_checkpoint,
                                    state_checkpoint_path)
from official.weights import FIRST_UPLOAD_MARK, GENERATOR_SCOPES, OPTIMIZER_SUFFIXES, official_networks, tf_to_torch
from options.run_options import RECORD, save_record
from options.train_options import TrainOptions
from util.checkpoint import atomic_write_text, save_network
from util.errors import UserError
from util.util import name_list

EPOCH = 'latest'


# The official code saves its checkpoints under <checkpoint_dir>/<dataset>_<fine_size>.
OFFICIAL_FOLDER = re.compile(r'^.+_(\d+)$')
DEFAULT_FINE_SIZE = 256  # the official main.py's


def usable_fine_size(size):
    """A size the networks take: the generators halve it twice, the discriminators need 16 px."""
    return size >= 16 and size % 4 == 0


def fine_size_from_folders(prefix):
    """(fine_size, folder name) read from the official folder name `<dataset>_<fine_size>`: of the
    folder holding the checkpoint, else of the folder its state file records (the machine that
    saved it); (None, [the names tried]) when neither has that form."""
    folder = os.path.dirname(os.path.abspath(prefix))
    names = [os.path.basename(folder)]
    state = os.path.join(folder, STATE_FILE)
    recorded = state_checkpoint_path(state) if os.path.isfile(state) else None
    if recorded and len(path_parts(recorded)) >= 2:
        names.append(path_parts(recorded)[-2])
    for name in names:
        match = OFFICIAL_FOLDER.match(name)
        if match and usable_fine_size(int(match.group(1))):
            return int(match.group(1)), name
    return None, names


def choose_fine_size(prefix, fine_size=None):
    """(fine_size, how it was chosen, in words): --fine_size, else the folder name, else 256."""
    if fine_size is not None:
        return fine_size, '--fine_size'
    size, found = fine_size_from_folders(prefix)
    if size is not None:
        return size, f'the folder name {found}'
    tried = ', '.join(dict.fromkeys(found))
    return DEFAULT_FINE_SIZE, (f'the official default: no folder name of the form <dataset>_<fine_size> '
                               f'(tried {tried}); pass --fine_size N if the model was trained at another size')


def _shape_of(variables, name, prefix):
    if name not in variables:
        raise UserError(f'{prefix} is not an official AU-GAN checkpoint: it has no variable {name} '
                        f'(its first variables: {", ".join(sorted(variables)[:3])})')
    return variables[name][1]


def sizes(variables, prefix):
    """input_nc, output_nc, ngf, ndf of the checkpoint, read off its first and last layers."""
    scope = GENERATOR_SCOPES['G_A']
    _, _, input_nc, ngf = _shape_of(variables, f'{scope}/g_e1_c/Conv/weights', prefix)
    output_nc = _shape_of(variables, f'{scope}/g_pred_c/Conv/weights', prefix)[3]
    half_ndf = _shape_of(variables, '0_discriminatorA/d_h0_conv_scale_0_first_c/filter', prefix)[3]
    return input_nc, output_nc, ngf, 2 * half_ndf


def match_variables(variables, nets, prefix):
    """Refuse a checkpoint whose variables are not exactly those of `nets` (optimizer slots aside),
    naming what is missing, extra or of the wrong shape."""
    expected = {}
    for _, (net, names) in nets.items():
        state = net.state_dict()
        for tf_name, key in names.items():
            expected[tf_name] = tuple(state[key].shape)
    present = {n for n in variables if not n.endswith(OPTIMIZER_SUFFIXES)}
    missing, extra = set(expected) - present, present - set(expected)
    if missing:
        raise UserError(f'{prefix} lacks {len(missing)} variable(s) of the official model: {name_list(sorted(missing))} '
                        f'(a checkpoint of another model or code version?)')
    if extra:
        raise UserError(f'{prefix} has {len(extra)} variable(s) the official model does not: {name_list(sorted(extra))} '
                        f'(a checkpoint of another model or code version?)')
    for tf_name, shape in expected.items():
        tf_shape = tuple(variables[tf_name][1])
        torch_shape = tuple(tf_shape[i] for i in (3, 2, 0, 1)) if len(tf_shape) == 4 else tf_shape
        if torch_shape != shape:
            raise UserError(f'{prefix}: variable {tf_name} has shape {list(tf_shape)}, the official model built '
                            f'from its first layers needs {list(shape)} (after TensorFlow -> PyTorch layout)')


def import_checkpoint(checkpoint, name, checkpoints_dir='./checkpoints', overwrite=False, fine_size=None):
    """Read the official checkpoint, load its weights into this project's networks and write the
    run folder. Returns (run folder, the networks by name, the code version, (fine_size, how it
    was chosen))."""
    prefix = resolve_checkpoint(checkpoint)
    fine_size, size_source = choose_fine_size(prefix, fine_size)
    variables = list_variables(prefix)
    first_upload = FIRST_UPLOAD_MARK in variables
    version = 'first upload (953bdad)' if first_upload else 'current'
    input_nc, output_nc, ngf, ndf = sizes(variables, prefix)
    nets = official_networks(input_nc, output_nc, ngf, ndf, first_upload)
    match_variables(variables, nets, prefix)

    run_dir = os.path.join(checkpoints_dir, name)
    if os.path.exists(os.path.join(run_dir, f'{EPOCH}_net_G_A.pth')) and not overwrite:
        raise UserError(f'{run_dir} already holds a model: choose another --name, or pass --overwrite')
    values = read_checkpoint(prefix, names=[n for _, (_, names) in nets.items() for n in names])
    for net_name, (net, names) in nets.items():
        state = {key: torch.from_numpy(tf_to_torch(values[tf_name]).copy()) for tf_name, key in names.items()}
        net.load_state_dict(state, strict=True)
    for net_name, (net, _) in nets.items():
        save_network(os.path.join(run_dir, f'{EPOCH}_net_{net_name}.pth'), net_name, net.state_dict(),
                     describe(net))
    write_options(run_dir, name, checkpoints_dir, ngf, ndf, input_nc, output_nc, first_upload, prefix, fine_size)
    return run_dir, {n: net for n, (net, _) in nets.items()}, version, (fine_size, size_source)


def write_options(run_dir, name, checkpoints_dir, ngf, ndf, input_nc, output_nc, first_upload, prefix, fine_size):
    """train_opt.txt and train_opt.json as a `--preset official` run with the checkpoint's sizes:
    crops of fine_size x 2*fine_size (what every tool then tests at, options/run_options.py), and
    for fine-tuning frames resized to 286/256 of that, the official defaults' ratio."""
    load = round(fine_size * 286 / 256)
    flags = ['--preset', 'official', '--name', name, '--checkpoints_dir', checkpoints_dir, '--ngf', str(ngf),
             '--ndf', str(ndf), '--input_nc', str(input_nc), '--output_nc', str(output_nc), '--gpu_ids', '-1',
             '--crop_size', f'{fine_size}x{2 * fine_size}', '--load_size', f'{load}x{2 * load}']
    if first_upload:
        # The first upload's uncertainty loss has no factor 5 on the residual (its loss_utils.py).
        flags += ['--t_net_concat', '--conf_residual_weight', '1']
    options = TrainOptions()
    opt = options.gather_options(flags)
    opt.isTrain, opt.dataroot = True, None
    text = options.format_options(opt)
    atomic_write_text(os.path.join(run_dir, 'train_opt.txt'), f'# imported from {prefix}\n{text}\n')
    save_record(opt, os.path.join(run_dir, RECORD), imported_from=os.path.abspath(prefix), world_size=1)
