"""Render sample results of a trained run as one picture: assets/daynight_samples.png.

    python scripts/make_samples.py --name daynight_samples [--num 4] [--size 128] [--out PATH]

For N test images spread evenly over the test set, one row each: real night (real_A), fake
day (fake_B), the uncertainty of that translation (uncertainty_A, with its max sigma), a real
day photo (real_B; the set is unpaired, so a different scene) and its fake night (fake_A). The
network options are read from the run's train_opt.txt, so only the run name is needed; frames
are scaled to `--size` px high, whole. The picture is written as a 256-colour PNG to stay small.

The committed assets/daynight_samples.png comes from au_gan with its defaults of 2026-12-07
(--antialias --skip_refine, the input skip, --uncertainty gengauss; docs/results.md), trained and
rendered with

    python train.py --dataroot ./datasets/daynight --name daynight_6000 --ngf 16 --ndf 16 \
        --load_size 144 --crop_size 128 --preprocess scale_height_and_crop --amp off --seed 1 \
        --n_epochs 25 --n_epochs_decay 25 --max_iters 6000 --gpu_ids -1 --save_epoch_freq 5
    python scripts/make_samples.py --name daynight_6000 --num 4

Far from converged: it shows what the model does, not how good it gets.
"""
import argparse
import os
import re
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from data import create_dataset  # noqa: E402
from models import create_model  # noqa: E402
from options.test_options import TestOptions  # noqa: E402
from util import distributed, util  # noqa: E402

COLUMNS = (('real_A', 'real night'), ('fake_B', 'fake day'), ('uncertainty_A', 'uncertainty σ'),
           ('real_B', 'real day (another scene)'), ('fake_A', 'fake night'))
# Options this script sets itself rather than taking them from the run's train_opt.txt.
OWN_OPTIONS = {'dataroot', 'name', 'checkpoints_dir', 'phase', 'preprocess', 'load_size', 'crop_size', 'batch_size',
               'num_threads', 'gpu_ids', 'max_dataset_size', 'serial_batches', 'no_flip', 'epoch', 'suffix', 'isTrain'}
# A train_opt.txt line whose value differs from the default: `name: value\t[default: ...]`
CHANGED_OPTION = re.compile(r'^\s*(\w+): (.*?)\s*\[default: .*\]$')


def trained_flags(run_dir):
    """The flags a run was trained with that differ from the defaults (train_opt.txt marks them),
    except the data and bookkeeping ones this script sets."""
    path = os.path.join(run_dir, 'train_opt.txt')
    if not os.path.isfile(path):
        sys.exit(f'{path} not found: is --name the name of a trained run?')
    flags = {}
    with open(path, encoding='utf-8') as f:
        for line in f:
            m = CHANGED_OPTION.match(line.rstrip('\n'))
            if m and m.group(1) not in OWN_OPTIONS:
                flags[m.group(1)] = m.group(2)
    return flags


def load_run(args):
    """Options, model (loaded from the run's checkpoint) and test set of the run."""
    base = ['--dataroot', args.dataroot, '--name', args.name, '--checkpoints_dir', args.checkpoints_dir,
            '--epoch', args.epoch, '--preprocess', 'scale_height', '--load_size', str(args.size),
            '--gpu_ids', '-1', '--num_threads', '0', '--serial_batches', '--no_flip']
    parser_opts = TestOptions()
    parser_opts.gather_options(base)  # builds the parser of the run's model, to know its flags
    actions = parser_opts.parser._option_string_actions
    extra = []
    for key, value in trained_flags(os.path.join(args.checkpoints_dir, args.name)).items():
        action = actions.get(f'--{key}')
        if action is None:  # a training-only flag
            continue
        if action.nargs == 0:  # store_true
            extra += [f'--{key}'] if value == 'True' else []
        else:
            extra += [f'--{key}', value]
    opt = TestOptions().parse(base + extra, save=False)  # the run's test_opt.txt stays as it is
    distributed.setup(opt.gpu_ids)
    model = create_model(opt)
    model.setup(opt)
    model.eval()
    return opt, model, create_dataset(opt)


def render(rows, title, out):
    """rows: [(images {visual: HxWx3 uint8}, max sigma)] -> a grid PNG with 256 colours."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    height = rows[0][0]['real_A'].shape[0]
    widths = [max(r[0][c].shape[1] for r in rows) for c, _ in COLUMNS]
    dpi, pad = 100, 6
    fig_w = (sum(widths) + pad * (len(COLUMNS) + 1)) / dpi
    fig_h = (len(rows) * (height + 22) + 115) / dpi
    fig = Figure(figsize=(fig_w, fig_h), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    grid = fig.add_gridspec(len(rows), len(COLUMNS), width_ratios=widths, left=pad / dpi / fig_w,
                            right=1 - pad / dpi / fig_w, top=1 - 52 / dpi / fig_h, bottom=62 / dpi / fig_h,
                            wspace=0.04, hspace=0.22)
    for r, (images, sigma_max) in enumerate(rows):
        for c, (key, label) in enumerate(COLUMNS):
            ax = fig.add_subplot(grid[r, c])
            ax.imshow(images[key])
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if r == 0:
                ax.set_title(label, fontsize=9)
            if key == 'uncertainty_A':
                ax.set_xlabel(f'max σ = {sigma_max:.2f}', fontsize=7, labelpad=2)
    fig.suptitle(title, fontsize=10, y=1 - 8 / dpi / fig_h, va='top')
    # The uncertainty maps are each scaled from 0 to their own max sigma: one shared legend.
    bar_ax = fig.add_axes([0.35, 26 / dpi / fig_h, 0.3, 10 / dpi / fig_h])
    bar = fig.colorbar(ScalarMappable(Normalize(0, 1), 'inferno'), cax=bar_ax, orientation='horizontal',
                       ticks=[0, 1])
    bar.ax.set_xticklabels(['σ = 0', 'max σ of the image'], fontsize=7)
    canvas.draw()
    picture = Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3])
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    picture.quantize(256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--name', required=True, help='the run, as in <checkpoints_dir>/<name>')
    parser.add_argument('--checkpoints_dir', default='./checkpoints')
    parser.add_argument('--dataroot', default='./datasets/daynight', help='its testA/testB are used')
    parser.add_argument('--epoch', default='latest', help='which checkpoint')
    parser.add_argument('--num', type=int, default=4, help='how many test images (rows)')
    parser.add_argument('--size', type=int, default=128, help='height of the frames in px')
    parser.add_argument('--out', default=os.path.join('assets', 'daynight_samples.png'))
    args = parser.parse_args(argv)

    opt, model, dataset = load_run(args)
    picks = np.linspace(0, len(dataset) - 1, args.num).round().astype(int)
    rows = []
    for i in picks:
        model.set_input(torch.utils.data.default_collate([dataset[int(i)]]))
        model.test()
        visuals = model.get_current_visuals()
        rows.append(({key: util.tensor2im(visuals[key]) for key, _ in COLUMNS}, model.sigma_A.max().item()))
    title = f'AU-GAN on the day/night photos: run {args.name} (--ngf {opt.ngf}), test images at {args.size} px high'
    print(f'wrote {render(rows, title, args.out)} ({os.path.getsize(args.out) // 1024} KB)')


if __name__ == '__main__':
    main()
