"""Evaluate translations: FID and KID against real target-domain images and, for a trained model,
how well its cycle preserves content (PSNR, SSIM) and whether its uncertainty marks where the
cycle fails (correlation of sigma with the cycle error).

    python scripts/evaluate.py --fid_dirs DIR_FAKE DIR_REAL
    python scripts/evaluate.py --dataroot ./datasets/daynight --name daynight_augan --model_epochs 5,10,latest
    python scripts/evaluate.py --name daynight_augan --video clip.mp4 --video_frames 30

With a model, each checkpoint translates a random sample (seeded by --seed) of --num_test images
of testA (scaled to --load_size height and rounded to multiples of 4, as test.py does) and the
FID/KID of those translations against as many processed testB images are reported with the cycle metrics, in a
table, in <results_dir>/<name>/evaluation.csv and in a plot beside it.

With --video, each checkpoint translates the first --video_frames frames of the video (--direction;
frames scaled as above) and the flicker is reported: the mean change between consecutive frames
(grey levels) of the translation and of the input, each frame t warped onto frame t+1 by the flow
estimated on the INPUT frames (metrics.aliasing.estimate_flow, classical, no learned weights), so
that a pattern the translation adds cannot bend the motion it is measured under; printed with the
flow method and written to <results_dir>/<name>/flicker_<video name>.csv. With --temporal (and its
settings), each checkpoint gets a second row: the translation filtered over time as
`scripts/convert.py --temporal` writes it, measured the same way. Details and caveats:
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
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

import metrics  # noqa: E402
from data import TEST_READING, create_dataset  # noqa: E402
from inference import TemporalFilter, Translator, VideoReader, generator_name, image_transform  # noqa: E402
from metrics import aliasing  # noqa: E402
from metrics.evaluation import COLUMNS, compare_features, evaluate_checkpoint, real_features, test_samples  # noqa: E402
from models import create_model  # noqa: E402
from options import replaced  # noqa: E402
from options.evaluate_options import EvaluateOptions, add_metric_options  # noqa: E402
from util import distributed  # noqa: E402
from util.errors import UserError, exit_on_user_error  # noqa: E402
from util.seeding import seed_everything  # noqa: E402

# The CSV columns (and the table printed) are metrics.evaluation.COLUMNS.
# --video's CSV columns: the checkpoint, the frames scored, the translation's and the input's mean
# frame-to-frame change (grey levels) under the input's estimated motion, their ratio and the flow used.
# temporal: the --temporal_strength the translation was filtered with (convert.py --temporal), 0 for none.
VIDEO_COLUMNS = ['epoch', 'temporal', 'frames', 'translation_change', 'input_change', 'ratio', 'flow_method']
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

    rows = [evaluate_checkpoint(model, dataset, samples, inception, reals, opt, Translator)
            for opt in each_checkpoint(model, opt, epochs)]

    out_dir = os.path.join(opt.results_dir, opt.name)
    os.makedirs(out_dir, exist_ok=True)
    csv_path, png_path = os.path.join(out_dir, 'evaluation.csv'), os.path.join(out_dir, 'evaluation.png')
    print_table(rows)
    write_csv(rows, csv_path)
    plot(rows, png_path, f'{opt.name}: {counts["A"]} translations vs {counts["B"]} real images')
    print(f'wrote {csv_path} and {png_path}')


def each_checkpoint(model, opt, epochs):
    """For each of `epochs` in turn, load it into `model` (the first is loaded already, by
    model.setup) and yield the options naming it."""
    for epoch in epochs:
        if epoch != opt.epoch:
            opt = replaced(opt, epoch=epoch)
            model.load_networks(epoch)
        yield opt


# ----------------------------------------------------------------------------- video mode
def read_video(path, count, load_size, channels=3):
    """The first `count` frames of the video at `path` as a (T, C, H, W) tensor in [-1, 1], each
    scaled as test frames are (image_transform: --load_size height, sides multiples of 4), grey
    for a generator of 1 input channel."""
    if not os.path.isfile(path):
        raise UserError(f'--video {path}: no such file: give the path of a video (.mp4 .avi .mkv .mov)')
    transform, frames = image_transform(load_size), []
    with VideoReader(path) as reader:
        for frame in reader:
            frames.append(transform(frame if channels == 3 else frame.convert('L')))
            if len(frames) == count:
                break
    if len(frames) < 2:
        raise UserError(f'--video {path} has {len(frames)} frame(s): a frame-to-frame change needs at least 2')
    return torch.stack(frames)


def input_flows(frames):
    """The flow (estimate_flow) between each pair of consecutive frames (grey levels), with progress."""
    pairs = list(zip(frames, frames[1:]))
    return [aliasing.estimate_flow(a, b)[0] for a, b in tqdm(pairs, desc='flow of the input', unit='pair')]


def translated_frames(translator, frames, device):
    """The frames ((T, C, H, W) in [-1, 1]) translated one by one, as 8-bit grey levels (T, H, W, C)."""
    out = [aliasing.grey_levels(translator(x[None].to(device))[0]).round()[0]
           for x in tqdm(frames, desc='translating', unit='frame')]
    return np.stack(out)


def evaluate_video(opt):
    epochs = [e.strip() for e in (opt.model_epochs or opt.epoch).split(',') if e.strip()]
    distributed.setup(opt.gpu_ids, opt.dist_backend, opt.local_rank)
    frames = read_video(opt.video, opt.video_frames, opt.load_size,
                        opt.input_nc if opt.direction == 'AtoB' else opt.output_nc)
    opt = replaced(opt, epoch=epochs[0])
    model = create_model(opt)
    model.setup(opt)
    if opt.eval:
        model.eval()
    net = getattr(model, 'net' + generator_name(model, opt.direction))
    inputs = aliasing.grey_levels(frames).round()  # the input as the translation sees it, 8 bits
    flows = input_flows(inputs)
    input_change = float(aliasing.flow_changes(inputs, flows).mean())
    print(f'{opt.video}: {len(frames)} frames of {frames.shape[-1]}x{frames.shape[-2]} px, {opt.direction}; motion '
          f'estimated on the input frames by {aliasing.FLOW_METHOD}')
    rows = []
    for opt in each_checkpoint(model, opt, epochs):
        fakes = translated_frames(Translator(net, model.autocast), frames, model.device)
        versions = [(0.0, fakes)]
        if opt.temporal:
            temporal = TemporalFilter(opt.temporal_strength, opt.temporal_tolerance, opt.temporal_cut,
                                      opt.temporal_flow_size)
            versions.append((opt.temporal_strength, np.stack([temporal(x, y).round() for x, y in tqdm(
                zip(inputs, fakes), total=len(fakes), desc='--temporal', unit='frame')])))
        for strength, version in versions:
            change = float(aliasing.flow_changes(version, flows).mean())
            rows.append({'epoch': opt.epoch, 'temporal': strength, 'frames': len(frames), 'translation_change': change,
                         'input_change': input_change,
                         'ratio': change / input_change if input_change > 0 else math.inf,
                         'flow_method': aliasing.FLOW_METHOD})
    for row in rows:
        label = f' --temporal (strength {row["temporal"]:g})' if row['temporal'] else ''
        print(f'{row["epoch"]}{label}: frame-to-frame change {row["translation_change"]:.2f} grey levels, the '
              f'input\'s {row["input_change"]:.2f} ({row["ratio"]:.2f}x)')
    out_dir = os.path.join(opt.results_dir, opt.name)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f'flicker_{os.path.splitext(os.path.basename(opt.video))[0]}.csv')
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=VIDEO_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print(f'wrote {path}')
    return rows


@exit_on_user_error
def main(args=None):
    args = sys.argv[1:] if args is None else list(args)
    if '--fid_dirs' in args:
        evaluate_folders(folder_options(args))
        return
    opt = EvaluateOptions().parse(args)
    if opt.video is not None:
        evaluate_video(opt)
    else:
        evaluate_model(opt)


if __name__ == '__main__':
    main()
