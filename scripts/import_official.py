"""Import the official AU-GAN TensorFlow checkpoint (e.g. the released BDD100K night->day model)
as a run folder of this project. TensorFlow is not needed.

    python scripts/import_official.py --checkpoint ./checkpoint/bdd100k_256 --name augan_bdd100k
    python scripts/convert.py --name augan_bdd100k --input night/ --direction AtoB

--checkpoint is the folder the official README unzips the model to (holding the `checkpoint`
state file, whose paths may come from another machine: the files beside it are used), or a
checkpoint prefix such as `.../cyclegan.model-1002`. Either official code version is recognised by
its variable names: the current one (370 variables) or the first upload (commit 953bdad, 373,
whose G_A joins the encoding and the T-net output). A file with any missing, extra or mis-shaped
variable is refused, naming it.

Writes <checkpoints_dir>/<name>/: latest_net_G_A.pth, latest_net_G_B.pth, latest_net_D_A.pth,
latest_net_D_B.pth (the discriminators too, so `train.py --continue_train` can fine-tune), and
train_opt.txt / train_opt.json recording `--preset official` with the checkpoint's widths, from
which test.py, convert.py, export.py, evaluate.py and make_samples.py rebuild the networks. The
official graph's layers and the names they map to: models/official_weights.py.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402

import torch  # noqa: E402

from models.official_weights import (FIRST_UPLOAD_MARK, GENERATOR_SCOPES, OPTIMIZER_SUFFIXES,  # noqa: E402
                                     official_networks, tf_to_torch)
from models.persistence import describe  # noqa: E402
from options.run_options import RECORD, save_record  # noqa: E402
from options.train_options import TrainOptions  # noqa: E402
from util.checkpoint import atomic_write_text, save_network  # noqa: E402
from util.errors import UserError, exit_on_user_error  # noqa: E402
from util.util import name_list  # noqa: E402
from util.tf_checkpoint import (STATE_FILE, list_variables, path_parts, read_checkpoint,  # noqa: E402
                                resolve_checkpoint, state_checkpoint_path)

EPOCH = 'latest'


def parse_args(args=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--checkpoint', required=True,
                        help='folder with the official `checkpoint` file, or a prefix like .../cyclegan.model-1002')
    parser.add_argument('--name', required=True, help='the run folder to write: <checkpoints_dir>/<name>')
    parser.add_argument('--checkpoints_dir', default='./checkpoints', help='where run folders live')
    parser.add_argument('--overwrite', action='store_true', help='replace the networks of an existing run folder')
    parser.add_argument('--fine_size', type=int, default=None,
                        help='the official --fine_size the model was trained at (it tests on fine_size x 2*fine_size '
                             'frames); default: read from the folder name <dataset>_<fine_size> the official code '
                             'saves under, else 256')
    args = parser.parse_args(args)
    if args.fine_size is not None and not usable_fine_size(args.fine_size):
        parser.error(f'--fine_size {args.fine_size}: give the official size, a multiple of 4 (e.g. 256)')
    return args


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


@exit_on_user_error
def main(args=None):
    args = parse_args(args)
    run_dir, nets, version, (fine_size, size_source) = import_checkpoint(
        args.checkpoint, args.name, args.checkpoints_dir, args.overwrite, args.fine_size)
    counts = ', '.join(f'{n} {sum(p.numel() for p in net.parameters()):,}' for n, net in nets.items())
    print(f'imported the official AU-GAN ({version} code; parameters: {counts}) into {run_dir}')
    print(f'fine_size {fine_size} ({size_source}): the tools translate whole frames at '
          f'{fine_size}x{2 * fine_size}, as the official test does')
    print(f'translate with: python scripts/convert.py --name {args.name} --checkpoints_dir {args.checkpoints_dir} '
          f'--input <folder or video> --direction AtoB')
    extra = ' --t_net_concat --conf_residual_weight 1' if version.startswith('first') else ''
    print(f'fine-tune with: python train.py --name {args.name} --checkpoints_dir {args.checkpoints_dir} '
          f'--dataroot <data> --preset official{extra} --continue_train')


if __name__ == '__main__':
    main()
