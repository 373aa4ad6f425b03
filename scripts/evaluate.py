"""Evaluate translations: FID and KID against real target-domain images and, for a trained model,
how well its cycle preserves content (PSNR, SSIM) and whether its uncertainty marks where the
cycle fails (correlation of sigma with the cycle error).

    python scripts/evaluate.py --fid_dirs DIR_FAKE DIR_REAL
    python scripts/evaluate.py --dataroot ./datasets/daynight --name daynight_augan --model_epochs 5,10,latest

With a model, each checkpoint translates a random sample (seeded by --seed) of --num_test images
of testA (scaled to --load_size height and rounded to multiples of 4, as test.py does) and the
FID/KID of those translations against as many processed testB images are reported with the cycle metrics, in a
table, in <results_dir>/<name>/evaluation.csv and in a plot beside it. Details and caveats:
docs/evaluation.md.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import csv  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402

import numpy as np  # noqa: E402

import metrics  # noqa: E402
from data import TEST_READING, create_dataset  # noqa: E402
from inference import Translator  # noqa: E402
from metrics.evaluation import COLUMNS, compare_features, evaluate_checkpoint, real_features, test_samples  # noqa: E402
from models import create_model  # noqa: E402
from options import replaced  # noqa: E402
from options.evaluate_options import EvaluateOptions, add_metric_options  # noqa: E402
from util import distributed  # noqa: E402
from util.errors import UserError, exit_on_user_error  # noqa: E402
from util.seeding import seed_everything  # noqa: E402

# The CSV columns (and the table printed) are metrics.evaluation.COLUMNS.
# Plot panels: a title and the columns drawn in it.
PANELS = [('FID (lower is better)', ['fid']), ('KID (mean and std over subsets)', ['kid']),
          ('cycle PSNR (dB)', ['psnr_A', 'psnr_B']), ('cycle SSIM', ['ssim_A', 'ssim_B']),
          ('corr(sigma, cycle error of A)', ['pearson_image', 'spearman_image', 'pearson_pixel', 'spearman_pixel'])]


def folder_options(args):
    parser = argparse.ArgumentParser(description='FID and KID between two image folders (recursive)',
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--fid_dirs', nargs=2, metavar=('DIR_FAKE', 'DIR_REAL'), required=True,
                        help='the translated images, then the real target-domain images')
    parser.add_argument('--num_test', type=int, default=float('inf'),
                        help='use at most this many images of each folder (a random sample, seeded by --seed)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the image samples and the KID subsets')
    parser.add_argument('--gpu_ids', type=str, default='0', help='GPU for the Inception network; -1 for the CPU')
    add_metric_options(parser)
    return parser.parse_args(args)


def evaluate_folders(opt):
    for folder in opt.fid_dirs:
        if not os.path.isdir(folder):
            raise UserError(f'--fid_dirs: {folder} is not a folder')
    inception = metrics.InceptionFeatures(distributed.select_device(distributed.parse_gpu_ids(opt.gpu_ids)),
                                          opt.fid_batch_size)
    fake_dir, real_dir = opt.fid_dirs
    fake = inception.folder(fake_dir, opt.num_test, opt.seed)
    real = inception.folder(real_dir, opt.num_test, opt.seed)
    print(f'FID/KID of {len(fake)} images in {fake_dir} against {len(real)} images in {real_dir}')
    fid, kid_mean, kid_std = compare_features(fake, real, opt)
    print(f'FID: {fid:.2f}')
    print(f'KID: {kid_mean:.4f} ± {kid_std:.4f}')


# ----------------------------------------------------------------------------- model mode
def format_value(v):
    if isinstance(v, (str, int)):
        return str(v)
    return 'n/a' if math.isnan(v) else f'{v:.4g}'


def print_table(rows):
    cells = [COLUMNS] + [[format_value(r[c]) for c in COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    for row in cells:
        print('  '.join(cell.rjust(w) for cell, w in zip(row, widths)))


def write_csv(rows, path):
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def plot(rows, path, title):
    """One panel per metric group against the checkpoints, in the order evaluated."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    x = np.arange(len(rows))
    labels = [str(r['epoch']) for r in rows]
    fig = Figure(figsize=(13, 7.5), dpi=100)
    FigureCanvasAgg(fig)
    for i, (name, columns) in enumerate(PANELS):
        ax = fig.add_subplot(2, 3, i + 1)
        for c in columns:
            y = np.array([r[c] for r in rows], dtype=float)
            if c == 'kid':
                ax.errorbar(x, y, yerr=[r['kid_std'] for r in rows], marker='o', capsize=3, label=c)
            else:
                ax.plot(x, y, marker='o', label=c)
        ax.set_title(name, fontsize='medium')
        ax.set_xticks(x, labels)
        ax.set_xlabel('checkpoint')
        ax.ticklabel_format(axis='y', useOffset=False)
        ax.grid(True, alpha=0.3)
        if len(columns) > 1:
            ax.legend(fontsize='small')
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, format='png')


def evaluate_model(opt):
    epochs = [e.strip() for e in (opt.model_epochs or opt.epoch).split(',') if e.strip()]
    distributed.setup(opt.gpu_ids, opt.dist_backend, opt.local_rank)
    opt = replaced(opt, dataset_mode='unaligned', epoch=epochs[0], **TEST_READING)
    seed_everything(opt.seed)
    dataset = create_dataset(opt)
    samples = test_samples(dataset, opt)
    counts = {side: len(indices) for side, indices in samples.items()}
    model = create_model(opt)
    if not all(hasattr(model, name) for name in ('netG_A', 'netG_B')):
        raise UserError(f'--model {opt.model} has no generator pair G_A/G_B: evaluation needs a two-way model')
    model.setup(opt)
    if opt.eval:
        model.eval()

    inception = metrics.InceptionFeatures(model.device, opt.fid_batch_size)
    reals = real_features(inception, dataset, samples['B'])
    print(f'FID/KID of {counts["A"]} translated A images against {counts["B"]} real B images '
          f'({opt.phase}A, {opt.phase}B of {opt.dataroot}); cycle metrics on the same images')

    rows = []
    for epoch in epochs:
        if epoch != opt.epoch:
            opt = replaced(opt, epoch=epoch)
            model.load_networks(epoch)
        rows.append(evaluate_checkpoint(model, dataset, samples, inception, reals, opt, Translator))

    out_dir = os.path.join(opt.results_dir, opt.name)
    os.makedirs(out_dir, exist_ok=True)
    csv_path, png_path = os.path.join(out_dir, 'evaluation.csv'), os.path.join(out_dir, 'evaluation.png')
    print_table(rows)
    write_csv(rows, csv_path)
    plot(rows, png_path, f'{opt.name}: {counts["A"]} translations vs {counts["B"]} real images')
    print(f'wrote {csv_path} and {png_path}')


@exit_on_user_error
def main(args=None):
    args = sys.argv[1:] if args is None else list(args)
    if '--fid_dirs' in args:
        evaluate_folders(folder_options(args))
    else:
        evaluate_model(EvaluateOptions().parse(args))


if __name__ == '__main__':
    main()
