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
official graph's layers and the names they map to: official/weights.py.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402

from official.importer import import_checkpoint, usable_fine_size  # noqa: E402
from util.errors import exit_on_user_error  # noqa: E402


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
