"""What a run's generator reaches on a ground-truth set when it is told the answer.

A translation can miss the truth for two reasons: the unpaired objective does not single out the
right answer, or the generator has not learnt the mapping in the budget it had. This separates
them. A fresh copy of a run's G_A (the architecture its file records, new weights initialised as
the run's were) is trained on pairs: crops of the set's training day photos (trainB, scaled,
cropped and flipped as the run's) and the night images rendered from them by the set's task
(`data.ground_truth.render`: fresh noise, and on the rainy task fresh rain, every draw; the rain
is rendered on the crop, so its sizes are fractions of the crop's height rather than the frame's), by

    L = || G(night) - day ||_1

with Adam as train.py's (the run's --lr and --beta1, batch 1), at the full rate for the first
half of --iters and decaying linearly to zero over the second, as the study schedules its runs.
At each --eval_at it is scored on the test pairs as the study scores a model (PSNR, SSIM, edge r
against the truth, the translations quantised to 8 bits, test frames --eval_size px high).

The unpaired model's distance below this bound is what not being told costs; the bound's distance
below the exact inverse is what the network and the budget cost.

    python -m study.paired_bound --dataroot SET --checkpoints_dir RUNS --name au_gan --iters 6000 \\
        --eval_at 1200,3000,6000 --out studies/bound

writes bound.csv and samples.png in --out and prints the table: the run's own G_A (trained
unpaired, its --epoch) scored on the same pairs, then the paired bound at each --eval_at; the
samples show the night, the true day, the run's translation and the bound's.
"""
import argparse
import copy
import csv
import os
import time

import numpy as np
import torch
from tqdm import tqdm

from data.base_dataset import Geometry, get_transform, load_image, parse_size
from data.ground_truth import IMAGE_EXTENSIONS, is_ground_truth_set, render, task_of
from models.layers import init_weights
from models.persistence import build_network
from options.run_options import load_record
from study.evaluation import GT_COLUMNS, score_pairs, to_uint8
from study.report import render_grid
from util.checkpoint import load_network
from util.errors import UserError, exit_on_user_error
from util.seeding import seed_everything

COLUMNS = ['model', 'iteration', *GT_COLUMNS, 'train_seconds']


def run_generator(run_dir, epoch):
    """(the run's G_A with its trained weights, the iteration it is from)."""
    path = os.path.join(run_dir, f'{epoch}_net_G_A.pth')
    state, config, iteration = load_network(path)
    net = build_network(config, path)
    net.load_state_dict(state)
    return net, iteration


def fresh_generator(net, record):
    """A copy of `net` with new weights, initialised as the run's were."""
    return init_weights(copy.deepcopy(net), record.get('init_type', 'normal'), record.get('init_gain', 0.02))


def translations(net, pairs):
    """The network's 8-bit translations of the pairs' night images."""
    with torch.no_grad():
        return [to_uint8(net.translate(night)[0]) for night, _ in pairs]


def images(folder):
    if not os.path.isdir(folder):
        raise UserError(f'{folder} is not a folder: --dataroot is a ground-truth set (scripts/study.py --ground_truth)')
    return sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS))


def to_tensor(array):
    """HxWx3 uint8 -> (1, 3, H, W) in [-1, 1]."""
    return torch.from_numpy(np.array(array)).permute(2, 0, 1)[None].float() / 127.5 - 1


def training_pairs(days, geometry, rng, task='night'):
    """An endless stream of (night, day) crops: a random day photo, cropped and flipped as
    `geometry` says, and its rendering for `task` with noise (and rain) of its own."""
    transform = get_transform(geometry, convert=False)
    while True:
        day = np.asarray(transform(days[rng.integers(len(days))]))
        yield to_tensor(render(task, day, int(rng.integers(2 ** 31)))[0]), to_tensor(day)


def scored_pairs(dataroot, size):
    """[(night, day)] of the test set, scaled to `size` px high (multiples of 4), as the study reads them."""
    transform = get_transform(Geometry(load_size=size, crop_size=size, preprocess='scale_height', no_flip=True))
    nights = images(os.path.join(dataroot, 'testA'))
    days = {os.path.splitext(os.path.basename(p))[0]: p for p in images(os.path.join(dataroot, 'testB'))}
    pairs = []
    for night in nights:
        stem = os.path.splitext(os.path.basename(night))[0]
        if stem not in days:
            raise UserError(f'{night} has no day photo named {stem}.* in {dataroot}/testB: a ground-truth set pairs '
                            f'testA and testB by name (remake it with scripts/study.py --ground_truth)')
        pairs.append((transform(load_image(night, 3))[None], transform(load_image(days[stem], 3))[None]))
    if not pairs:
        raise UserError(f'no night images in {dataroot}/testA to score on: --dataroot is a ground-truth set')
    return pairs


def paired_bound(opt, progress=True):
    """Score the run's own G_A, then train and score the paired one: (rows: the run's, then one
    per --eval_at; the grid's columns: night, true day, the run's and the paired translations of
    --num_samples test pairs spread over the sorted names, as the study's samples.png)."""
    run_dir = os.path.join(opt.checkpoints_dir, opt.name)
    record = load_record(opt.checkpoints_dir, opt.name)
    geometry = Geometry(load_size=parse_size(str(record.get('load_size', opt.eval_size))),
                        crop_size=parse_size(str(record.get('crop_size', opt.eval_size))),
                        preprocess=record.get('preprocess', 'scale_height_and_crop'),
                        no_flip=bool(record.get('no_flip', False)))
    trained, iteration = run_generator(run_dir, opt.epoch)
    seed_everything(opt.seed)
    net = fresh_generator(trained, record).train()
    days = [load_image(p, 3) for p in images(os.path.join(opt.dataroot, 'trainB'))]
    if not days:
        raise UserError(f'no day photos in {opt.dataroot}/trainB: --dataroot is a ground-truth set')
    tests = scored_pairs(opt.dataroot, opt.eval_size)
    shown = [tests[i] for i in sorted({int(i) for i in np.linspace(0, len(tests) - 1, opt.num_samples).round()})]
    lr = record.get('lr', 2e-4)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, betas=(record.get('beta1', 0.5), 0.999))
    full_rate = opt.iters // 2
    pairs = training_pairs(days, geometry, np.random.default_rng(opt.seed), task_of(opt.dataroot))
    trained.eval()
    with torch.no_grad():
        rows = [{'model': f'{opt.name} {opt.epoch} (unpaired)', 'iteration': iteration,
                 **score_pairs(tests, trained.translate)}]
    columns = [('night', [to_uint8(n[0]) for n, _ in shown]), ('true day', [to_uint8(d[0]) for _, d in shown]),
               (f'{opt.name} {opt.epoch}', translations(trained, shown))]
    del trained
    start = time.time()
    for it in tqdm(range(1, opt.iters + 1), desc='paired bound', disable=not progress, mininterval=5):
        for group in optimizer.param_groups:
            group['lr'] = lr * min(1.0, (opt.iters - it + 1) / (opt.iters - full_rate + 1))
        night, day = next(pairs)
        loss = (net.translate(night) - day).abs().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if it in opt.eval_at:
            net.eval()
            with torch.no_grad():
                rows.append({'model': 'paired bound', 'iteration': it, **score_pairs(tests, net.translate),
                             'train_seconds': round(time.time() - start, 1)})
            net.train()
    columns.append((f'paired, {opt.iters} it', translations(net.eval(), shown)))
    return rows, columns


def parse(args=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--dataroot', required=True, help='a ground-truth set (made by scripts/study.py --ground_truth)')
    parser.add_argument('--checkpoints_dir', default='./checkpoints', help='where the run folder is')
    parser.add_argument('--name', required=True, help="the run whose G_A's architecture is trained afresh (and which is scored beside it)")
    parser.add_argument('--epoch', default='latest', help='which of its G_A files: the architecture, and the unpaired translation scored beside the bound')
    parser.add_argument('--iters', type=int, default=6000, help='training iterations of batch 1')
    parser.add_argument('--eval_at', default=None, help='comma-separated iterations to score at (default: --iters)')
    parser.add_argument('--eval_size', type=int, default=64, help='test frames are scaled to this height')
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--num_samples', type=int, default=4, help='test images in samples.png, spread over the sorted names')
    parser.add_argument('--out', required=True, help='folder for bound.csv and samples.png')
    opt = parser.parse_args(args)
    try:
        opt.eval_at = sorted({int(x) for x in (opt.eval_at or str(opt.iters)).split(',')})
    except ValueError:
        raise UserError(f'--eval_at {opt.eval_at} is not a list of iterations: write e.g. 1200,3000,6000')
    if opt.iters < 1 or opt.eval_at[0] < 1 or opt.eval_at[-1] > opt.iters:
        raise UserError(f'--eval_at must lie in 1..--iters ({opt.iters}), and --iters be at least 1')
    if not is_ground_truth_set(opt.dataroot):
        raise UserError(f'{opt.dataroot} is not a ground-truth set (no ground_truth.json): make one with '
                        f'scripts/study.py --ground_truth, or pass the data folder of such a study')
    return opt


@exit_on_user_error
def main(args=None):
    opt = parse(args)
    rows, columns = paired_bound(opt)
    os.makedirs(opt.out, exist_ok=True)
    with open(os.path.join(opt.out, 'bound.csv'), 'w', newline='') as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    render_grid(columns, opt.eval_size, os.path.join(opt.out, 'samples.png'))
    print('| model | iteration | PSNR dB | SSIM | edge r | training s |')
    print('|---|---|---|---|---|---|')
    for r in rows:
        print(f"| {r['model']} | {r['iteration']} | {r['gt_psnr']:.2f} | {r['gt_ssim']:.3f} | {r['gt_edge']:.3f} | "
              f"{r.get('train_seconds', '')} |")


if __name__ == '__main__':
    main()
