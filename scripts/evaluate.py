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
from tqdm import tqdm  # noqa: E402

import metrics  # noqa: E402
from data import TEST_READING, create_dataset  # noqa: E402
from inference import Translator  # noqa: E402
from models import create_model  # noqa: E402
from options import replaced  # noqa: E402
from options.test_options import TestOptions  # noqa: E402
from util import distributed  # noqa: E402
from util.errors import UserError, exit_on_user_error  # noqa: E402
from util.seeding import seed_everything  # noqa: E402

# CSV columns, in order; the table printed shows the same.
COLUMNS = ['epoch', 'n_fake', 'n_real', 'fid', 'kid', 'kid_std', 'psnr_A', 'ssim_A', 'psnr_B', 'ssim_B',
           'cycle_l1_A', 'sigma_A', 'pearson_image', 'spearman_image', 'pearson_pixel', 'spearman_pixel']
# Plot panels: a title and the columns drawn in it.
PANELS = [('FID (lower is better)', ['fid']), ('KID (mean and std over subsets)', ['kid']),
          ('cycle PSNR (dB)', ['psnr_A', 'psnr_B']), ('cycle SSIM', ['ssim_A', 'ssim_B']),
          ('corr(sigma, cycle error of A)', ['pearson_image', 'spearman_image', 'pearson_pixel', 'spearman_pixel'])]


def add_metric_options(parser):
    parser.add_argument('--fid_batch_size', type=int, default=16, help='images per Inception forward pass')
    parser.add_argument('--kid_subsets', type=int, default=100, help='KID: number of random subsets')
    parser.add_argument('--kid_subset_size', type=int, default=1000,
                        help='KID: size of each subset (at most the smaller image count)')
    return parser


class EvaluateOptions(TestOptions):
    """test.py's options plus the checkpoints to evaluate and the metric settings."""

    def initialize(self, parser):
        # --num_test means something else here; argparse replaces an option only in a parser made
        # with conflict_handler='resolve' (as options/convert_options.py does).
        parser = argparse.ArgumentParser(parents=[super().initialize(parser)], conflict_handler='resolve',
                                         formatter_class=parser.formatter_class, add_help=False)
        parser.add_argument('--num_test', type=int, default=float('inf'),
                            help='use at most this many images of each test folder (a random sample, seeded by --seed)')
        parser.add_argument('--model_epochs', type=str, default=None,
                            help='comma-separated checkpoints to evaluate, e.g. 5,10,latest; when not given, --epoch')
        parser.add_argument('--fid_dirs', nargs=2, metavar=('DIR_FAKE', 'DIR_REAL'),
                            help='instead of a model: FID/KID between two image folders '
                                 '(see: scripts/evaluate.py --fid_dirs A B -h)')
        parser.add_argument('--pixels_per_image', type=int, default=10000,
                            help='pixels sampled from each image for the pooled per-pixel correlation')
        add_metric_options(parser)
        # Whole frames at --load_size height, as test.py shows them.
        parser.set_defaults(preprocess='scale_height')
        return parser


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


def compare_features(fake, real, opt):
    """FID, KID mean and KID std of two feature arrays."""
    kid_mean, kid_std = metrics.kid(fake, real, opt.kid_subsets, opt.kid_subset_size, opt.seed)
    return metrics.fid(fake, real), kid_mean, kid_std


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
def to_unit(x):
    """[-1, 1] -> [0, 1], clamped."""
    return ((x.float() + 1) / 2).clamp(0, 1)


def domain_images(dataset, side, indices):
    """The processed images of side 'A' or 'B' of the unaligned test set at `indices`, each
    (1, C, H, W): only that side's files are read (an item of the dataset would decode both)."""
    paths, folder = getattr(dataset, f'{side}_paths'), getattr(dataset, f'dir_{side}')
    channels, transform = getattr(dataset, f'channels_{side}'), getattr(dataset, f'transform_{side}')
    for i in indices:
        yield transform(dataset.load_image_at(paths, i, channels, folder)[0])[None]


class CycleStats:
    """Collects the cycle metrics of one side, image by image."""

    def __init__(self, pixels_per_image, seed):
        self.pixels_per_image = pixels_per_image
        self.rng = np.random.default_rng(seed)  # the same pixels for every checkpoint
        self.psnr, self.ssim, self.l1, self.sigma = [], [], [], []
        self.pixel_sigma, self.pixel_error = [], []

    def add(self, real, cyc, sigma=None):
        real_unit, cyc_unit = to_unit(real), to_unit(cyc)
        self.psnr.append(float(metrics.psnr(real_unit, cyc_unit)[0]))
        self.ssim.append(float(metrics.ssim(real_unit, cyc_unit)[0]))
        error = (real.float() - cyc.float()).abs().mean(dim=1)  # (1, H, W), in the cycle loss's units
        self.l1.append(float(error.mean()))
        if sigma is not None:
            self.sigma.append(float(sigma.mean()))
            error, sigma = error.flatten().cpu().numpy(), sigma.flatten().cpu().numpy()
            keep = self.rng.choice(error.size, min(self.pixels_per_image, error.size), replace=False)
            self.pixel_error.append(error[keep])
            self.pixel_sigma.append(sigma[keep])

    def summary(self, side):
        row = {f'psnr_{side}': np.mean(self.psnr), f'ssim_{side}': np.mean(self.ssim),
               f'cycle_l1_{side}': np.mean(self.l1)}
        if self.sigma:
            row[f'sigma_{side}'] = np.mean(self.sigma)
            row['pearson_image'], row['spearman_image'] = metrics.correlations(self.sigma, self.l1)
            row['pearson_pixel'], row['spearman_pixel'] = metrics.correlations(np.concatenate(self.pixel_sigma),
                                                                               np.concatenate(self.pixel_error))
        return row


def evaluate_checkpoint(model, dataset, samples, inception, real_features, opt):
    """One row of metrics for the checkpoint loaded in `model`."""
    # what scripts/convert.py runs: (translation, sigma or None), float32, under inference mode
    A_to_B = Translator(model.netG_A, model.autocast, uncertainty=True)
    A_to_B_plain = Translator(model.netG_A, model.autocast)  # B's cycle needs no uncertainty map
    B_to_A = Translator(model.netG_B, model.autocast)
    stats_A = CycleStats(opt.pixels_per_image, opt.seed)
    stats_B = CycleStats(opt.pixels_per_image, opt.seed)

    def fakes():
        # Yields the translations of A (for the Inception features) and records A's cycle metrics.
        for real in domain_images(dataset, 'A', samples['A']):
            real = real.to(model.device)
            fake, sigma = A_to_B(real)
            cyc, _ = B_to_A(fake)
            stats_A.add(real, cyc, sigma)
            # Quantised to 8 bits, as it would be in a saved image.
            yield (to_unit(fake[0]) * 255).round() / 255

    fake_features = inception.extract(fakes(), total=len(samples['A']), desc=f'epoch {opt.epoch}: translating A')
    for real in tqdm(domain_images(dataset, 'B', samples['B']), total=len(samples['B']), unit='img',
                     desc=f'epoch {opt.epoch}: cycle of B'):
        real = real.to(model.device)
        cyc, _ = A_to_B_plain(B_to_A(real)[0])
        stats_B.add(real, cyc)

    fid, kid_mean, kid_std = compare_features(fake_features, real_features, opt)
    row = {'epoch': opt.epoch, 'n_fake': len(fake_features), 'n_real': len(real_features),
           'fid': fid, 'kid': kid_mean, 'kid_std': kid_std}
    row.update(stats_A.summary('A'))
    row.update(stats_B.summary('B'))
    return {c: row.get(c, math.nan) for c in COLUMNS}


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
    samples = {side: metrics.sample_indices(len(paths), opt.num_test, opt.seed)
               for side, paths in (('A', dataset.A_paths), ('B', dataset.B_paths))}
    counts = {side: len(indices) for side, indices in samples.items()}
    model = create_model(opt)
    if not all(hasattr(model, name) for name in ('netG_A', 'netG_B')):
        raise UserError(f'--model {opt.model} has no generator pair G_A/G_B: evaluation needs a two-way model')
    model.setup(opt)
    if opt.eval:
        model.eval()

    inception = metrics.InceptionFeatures(model.device, opt.fid_batch_size)
    real_features = inception.extract((to_unit(x[0]) for x in domain_images(dataset, 'B', samples['B'])),
                                      total=counts['B'], desc='features of real B')
    print(f'FID/KID of {counts["A"]} translated A images against {counts["B"]} real B images '
          f'({opt.phase}A, {opt.phase}B of {opt.dataroot}); cycle metrics on the same images')

    rows = []
    for epoch in epochs:
        if epoch != opt.epoch:
            opt = replaced(opt, epoch=epoch)
            model.load_networks(epoch)
        rows.append(evaluate_checkpoint(model, dataset, samples, inception, real_features, opt))

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
