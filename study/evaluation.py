"""The study's evaluations, in its own process: `Evaluator` runs the metrics of scripts/evaluate.py
(metrics/evaluation.py) on each run's checkpoints with one Inception network and the features of
the real test images computed once; on a ground-truth set (data/ground_truth.py) it also scores
the translations against the true day photos (`truth_scores`), scores the uncertainty and the
other per-pixel predictors against the true error and the hidden pixels (`uncertainty_scores`),
measures aliasing (`grid_scores`: the checkerboard of the test translations; `clip_scores`: the
flicker on clips with a known camera motion, metrics/aliasing.py) and gives the floor and ceiling
rows (`references`); it translates the test images of the sample grids."""
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

import metrics
from data import TEST_READING, create_dataset
from data.ground_truth import exact_inverse, hidden_mask, image_seed, is_ground_truth_set, task_of
from inference import Translator
from metrics import aliasing, uncertainty
from metrics.evaluation import domain_images, evaluate_checkpoint, real_features, test_samples, to_unit
from models import create_model
from options import replaced
from options.evaluate_options import EvaluateOptions
from study.common import quiet
from util import distributed
from util.errors import UserError
from util.seeding import seed_everything

# Scores against the truth, on a ground-truth set (data/ground_truth.py): PSNR, SSIM and the
# correlation of edges between each translation and the day photo it was rendered from.
GT_COLUMNS = ['gt_psnr', 'gt_ssim', 'gt_edge']
# The uncertainty scores of each per-pixel predictor against the truth (metrics/uncertainty.py).
UNCERTAINTY_COLUMNS = [f'unc_{p}_{s}' for p in uncertainty.PREDICTORS for s in uncertainty.SCORES]
# Aliasing (metrics/aliasing.py). Flicker: the mean change between consecutive translated frames
# (grey levels) after undoing the known motion, on clips with the camera still or panning 1-4 px a
# frame; clip_psnr: those frames against their truth. The checkerboard of the test translations:
# grid_ratio, their share of power at the grid's periods over the truths'; grid_peak, their mean
# grid_peak_ratio over the truths' (noise does not raise it).
CLIP_PANS = (0, 1, 2, 3, 4)
CLIP_FRAMES = 8
CLIP_PHOTOS = 3  # the clips are cut from the day photos of the first test images of the sample: cheap
FLICKER_COLUMNS = [f'flicker_pan{k}' if k else 'flicker_still' for k in CLIP_PANS]
GRID_COLUMNS = ['grid_ratio', 'grid_peak']
ALIASING_COLUMNS = FLICKER_COLUMNS + ['clip_psnr'] + GRID_COLUMNS
# The rows of a ground-truth study that no training makes: the untouched input (the floor) and the
# night look undone, the ceiling of the night task; on the rainy task it leaves the rain.
REFERENCE_LABELS = ('(night input)', '(exact inverse)', '(global inverse)')
# Pixels of each test image that the uncertainty scores pool (a seeded sample: the same for every row).
UNCERTAINTY_PIXELS = 4096


def references(task):
    """{label: night -> day in [0, 1]} of the rows that bound a ground-truth task."""
    return {'(night input)': lambda night: night,
            '(exact inverse)' if task == 'night' else '(global inverse)': exact_inverse}


class Evaluator:
    """scripts/evaluate.py's metrics in this process: one Inception network, and the features of
    the real test images computed once for all configurations."""

    def __init__(self, opt):
        self.opt = opt
        self.inception = None
        self.real_features = {}
        self.ground_truth = is_ground_truth_set(opt.dataroot)
        self.task = task_of(opt.dataroot) if self.ground_truth else None
        self.calibration = {}  # {(name, iteration): {predictor: (mean u, mean error) per bin}}

    def options(self, name, epoch, size):
        o = self.opt
        args = ['--dataroot', o.dataroot, '--checkpoints_dir', o.runs_dir, '--name', name, '--epoch', epoch,
                '--gpu_ids', o.gpu_ids, '--seed', str(o.seed), '--preprocess', 'scale_height', '--load_size', str(size),
                '--num_threads', '0', '--kid_subsets', str(o.kid_subsets),
                '--results_dir', os.path.join(o.out, 'results')]
        if o.num_test is not None:
            args += ['--num_test', str(o.num_test)]
        with quiet():
            opt = EvaluateOptions().parse(args, save=False)
        # As evaluate_model reads the test set
        return replaced(opt, dataset_mode='unaligned', **TEST_READING)

    def load(self, name, epoch, size):
        opt = self.options(name, epoch, size)
        distributed.setup(opt.gpu_ids)
        seed_everything(opt.seed)
        with quiet():
            dataset = create_dataset(opt)
            model = create_model(opt)
            model.setup(opt)
        return opt, dataset, model

    def evaluate(self, name, points):
        """Yield (iteration, metrics row, seconds) for each of `points` of run `name`."""
        opt, dataset, model = self.load(name, f'iter_{points[0]}', self.opt.eval_size)
        samples = test_samples(dataset, opt)
        if self.inception is None:
            self.inception = metrics.InceptionFeatures(model.device, opt.fid_batch_size)
        key = (dataset.dir_B, tuple(samples['B']), opt.output_nc)
        if key not in self.real_features:
            self.real_features[key] = real_features(self.inception, dataset, samples['B'])
        count = min(len(samples['A']), len(samples['B']))
        opt = replaced(opt, kid_subset_size=self.opt.kid_subset_size or max(2, count // 2))
        for point in points:
            epoch = f'iter_{point}'
            if epoch != opt.epoch:
                opt = replaced(opt, epoch=epoch)
                with quiet():
                    model.load_networks(epoch)
            seed_everything(opt.seed)
            start = time.time()
            row = evaluate_checkpoint(model, dataset, samples, self.inception, self.real_features[key], opt,
                                      Translator)
            if self.ground_truth:
                translator = Translator(model.netG_A, model.autocast)
                translate = lambda night: translator(night.to(model.device))[0]  # noqa: E731
                row.update(truth_scores(dataset, samples['A'], translate))
                row.update(clip_scores(dataset, samples['A'], translate, self.task))
                pooled = predictor_pixels(model, dataset, opt.dataroot, samples['A'], opt.seed)
                row.update(uncertainty_scores(pooled, opt.seed))
                self.calibration[name, point] = {p: uncertainty.calibration(pooled[p], pooled['error'])
                                                 for p in uncertainty.PREDICTORS if p in pooled}
            row['kid_subset_size'] = min(opt.kid_subset_size, row['n_fake'], row['n_real'])
            yield point, row, time.time() - start

    def references(self, name):
        """{label: row} of the ground-truth set's floor and ceiling (`references`), on the test
        images every configuration is scored on (run `name` gives the test options; no network is read)."""
        opt = self.options(name, 'latest', self.opt.eval_size)
        seed_everything(opt.seed)
        with quiet():
            dataset = create_dataset(opt)
        picks = metrics.sample_indices(len(dataset.A_paths), opt.num_test, opt.seed)
        rows = {}
        for label, fn in references(self.task).items():
            translate = lambda night, f=fn: f(to_unit(night)) * 2 - 1  # noqa: E731
            rows[label] = {**truth_scores(dataset, picks, translate),
                           **clip_scores(dataset, picks, translate, self.task)}
        return rows

    def translate(self, name, epoch, count):
        """{side: (real tiles, translated tiles)}, HxWx3 uint8 arrays, for `count` images of testA
        and of testB spread evenly over the sorted file names, through G_A and G_B."""
        opt, dataset, model = self.load(name, epoch, self.opt.sample_size)
        out = {}
        for side, net in (('A', model.netG_A), ('B', model.netG_B)):
            paths = getattr(dataset, f'{side}_paths')
            picks = sorted({int(i) for i in np.linspace(0, len(paths) - 1, min(count, len(paths))).round()})
            translator = Translator(net, model.autocast)
            reals, fakes = [], []
            for real in domain_images(dataset, side, picks):
                fake, _ = translator(real.to(model.device))
                reals.append(to_uint8(real[0]))
                fakes.append(to_uint8(fake[0]))
            out[side] = reals, fakes
            if side == 'A' and self.ground_truth:
                truth = [to_uint8(t[0]) for t in domain_images(dataset, 'B', true_indices(dataset, picks))]
                out['truth'] = truth
        return out


def true_indices(dataset, indices):
    """The positions in testB of the day photos that testA's night images at `indices` were
    rendered from (same file name)."""
    stem = lambda path: os.path.splitext(os.path.basename(path))[0]  # noqa: E731
    where = {stem(p): i for i, p in enumerate(dataset.B_paths)}
    missing = [dataset.A_paths[i] for i in indices if stem(dataset.A_paths[i]) not in where]
    if missing:
        raise UserError(f'{missing[0]} has no day photo of the same name in {dataset.dir_B}: a ground-truth set pairs '
                        f'testA and testB by name (remake it with scripts/study.py --ground_truth)')
    return [where[stem(dataset.A_paths[i])] for i in indices]


def truth_scores(dataset, indices, translate):
    """{GT_COLUMNS: mean} (`gt_means`) and {GRID_COLUMNS: value} (`grid_scores`) of translate(night)
    against the true day photo, over the test night images at `indices`."""
    nights = domain_images(dataset, 'A', indices)
    days = domain_images(dataset, 'B', true_indices(dataset, indices))
    pairs = list(translated_pairs(zip(nights, days), translate))
    return {**gt_means(pairs), **grid_scores([aliasing.grey_levels(fake[0] * 2 - 1) for fake, _ in pairs],
                                             [aliasing.grey_levels(day[0] * 2 - 1) for _, day in pairs])}


def score_pairs(pairs, translate):
    """{GT_COLUMNS: mean} of translate(night) against day over (night, day) pairs, each
    (1, C, H, W) in [-1, 1] (`translated_pairs`, `gt_means`)."""
    return gt_means(translated_pairs(pairs, translate))


def translated_pairs(pairs, translate):
    """(translate(night), day) for each (night, day) pair of (1, C, H, W) tensors in [-1, 1], both
    in [0, 1] on the CPU; the translations are quantised to 8 bits, as when saved."""
    for night, day in pairs:
        fake = (to_unit(translate(night)).cpu() * 255).round() / 255
        day = to_unit(day)
        if fake.shape != day.shape:
            raise UserError(f'a night test image translates to {tuple(fake.shape[-2:])} px, its day photo is '
                            f'{tuple(day.shape[-2:])}: testA and testB of a ground-truth set must be the same sizes')
        yield fake, day


def gt_means(pairs):
    """{GT_COLUMNS: mean} over (translation, day) pairs in [0, 1] of PSNR, SSIM and edge r."""
    scores = {c: [] for c in GT_COLUMNS}
    for fake, day in pairs:
        scores['gt_psnr'].append(float(metrics.psnr(fake, day)[0]))
        scores['gt_ssim'].append(float(metrics.ssim(fake, day)[0]))
        scores['gt_edge'].append(float(metrics.edge_correlation(fake, day)[0]))
    return {c: float(np.mean(v)) for c, v in scores.items()}


def grid_scores(translations, truths):
    """{GRID_COLUMNS: value}: grid_ratio = metrics.aliasing.checkerboard_ratio(translations, truths),
    grid_peak = mean grid_peak_ratio(translation) / mean grid_peak_ratio(truth) (1: no more of a
    peak at the grid's periods than the truth has); HxWx3 grey-level arrays. NaN for images under
    16 px, too small for a spectrum at the 4-px grid."""
    if min(min(x.shape[:2]) for x in translations) < 4 * aliasing.GRID_PERIOD:
        return {c: math.nan for c in GRID_COLUMNS}
    peak = np.mean([aliasing.grid_peak_ratio(x) for x in translations]) / np.mean(
        [aliasing.grid_peak_ratio(x) for x in truths])
    return {'grid_ratio': aliasing.checkerboard_ratio(translations, truths), 'grid_peak': float(peak)}


def clip_size(day_shape):
    """The (h, w) of the frames of every clip cut from a day photo of `day_shape` (H, W): the whole
    height and as wide as the fastest pan leaves, both rounded down to multiples of 4 (generator
    inputs), so that every clip of a photo has frames of one size."""
    H, W = day_shape
    return H // 4 * 4, (W - max(CLIP_PANS) * (CLIP_FRAMES - 1)) // 4 * 4


def clip_scores(dataset, indices, translate, task):
    """{FLICKER_COLUMNS, 'clip_psnr': value} of `translate` ((N, C, H, W) -> (N, C, H, W), in
    [-1, 1]) on the clips of metrics.aliasing.make_clip: for each of the day photos of the first
    CLIP_PHOTOS test night images at `indices`, at the evaluation height, a clip of CLIP_FRAMES
    frames per pan of CLIP_PANS (0: a still camera), rendered for `task` with the photo's seed (the
    same clips for every row). flicker_<pan> is the mean over photos of temporal_change of the
    8-bit translated frames under the known motion; clip_psnr the mean over all clips of
    clip_psnr against the truth frames."""
    picks = list(indices[:CLIP_PHOTOS])
    truths = true_indices(dataset, picks)
    changes, psnrs = {k: [] for k in CLIP_PANS}, []
    for i, day in zip(truths, domain_images(dataset, 'B', truths)):
        day = to_uint8(day[0])
        size = clip_size(day.shape[:2])
        if min(size) < 4:
            raise UserError(f'{dataset.B_paths[i]} is {day.shape[1]}x{day.shape[0]} px at the evaluation height: too '
                            f'narrow for clips of {CLIP_FRAMES} frames panning {max(CLIP_PANS)} px a frame; raise '
                            f'--eval_size')
        for pan in CLIP_PANS:
            clip = aliasing.make_clip(day, CLIP_FRAMES, size, pan=pan, task=task,
                                      seed=image_seed(os.path.basename(dataset.B_paths[i])))
            night = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 127.5 - 1
            fakes = aliasing.grey_levels(translate(night)).round()  # 8 bits, as saved
            changes[pan].append(aliasing.temporal_change(fakes, clip.motions))
            psnrs.append(aliasing.clip_psnr(fakes, clip.truth))
    return {**{column: float(np.mean(changes[k])) for column, k in zip(FLICKER_COLUMNS, CLIP_PANS)},
            'clip_psnr': float(np.mean(psnrs))}


def predictor_pixels(model, dataset, dataroot, indices, seed):
    """{'error', 'hidden' (rainy task only), predictor: pixel array} pooled over the test night
    images at `indices`: a seeded sample of UNCERTAINTY_PIXELS pixels of each image, where error is
    |translation - truth| (8-bit translation, mean over channels, in [0, 1]) and the predictors are
    those of metrics.uncertainty.predictor_maps (σ only for a model with an uncertainty map)."""
    forward = Translator(model.netG_A, model.autocast, uncertainty=True)
    back = Translator(model.netG_B, model.autocast)
    rng = np.random.default_rng(seed)
    pooled = {}
    nights = domain_images(dataset, 'A', indices)
    days = domain_images(dataset, 'B', true_indices(dataset, indices))
    for i, night, day in zip(indices, nights, days):
        night = night.to(model.device)
        fake, sigma = forward(night)
        cycled, _ = back(fake)
        fake = (to_unit(fake).cpu() * 255).round() / 255
        maps = uncertainty.predictor_maps(night, cycled, sigma, rng)
        maps['error'] = (fake - to_unit(day)).abs().mean(dim=1)[0].numpy()
        mask = hidden_mask(dataroot, dataset.A_paths[i])
        if mask is not None:
            maps['hidden'] = scaled_mask(mask, maps['error'].shape)
        keep = rng.choice(maps['error'].size, min(UNCERTAINTY_PIXELS, maps['error'].size), replace=False)
        for key, value in maps.items():
            pooled.setdefault(key, []).append(value.reshape(-1)[keep])
    return {key: np.concatenate(values) for key, values in pooled.items()}


def scaled_mask(mask, shape):
    """A mask (bool HxW) at another size: a pixel is hidden when at least half of what it covers was."""
    share = F.adaptive_avg_pool2d(torch.from_numpy(mask.astype(np.float32))[None, None], shape)[0, 0]
    return share.numpy() >= 0.5


def uncertainty_scores(pooled, seed):
    """{UNCERTAINTY_COLUMNS: score} of each predictor in `pooled` (predictor_pixels); NaN for a
    predictor the model lacks (σ), and for AUROC without masks."""
    row = {c: math.nan for c in UNCERTAINTY_COLUMNS}
    for p in uncertainty.PREDICTORS:
        if p in pooled:
            scores = uncertainty.scores(pooled[p], pooled['error'], pooled.get('hidden'), seed)
            row.update({f'unc_{p}_{s}': v for s, v in scores.items()})
    return row


def to_uint8(x):
    return (to_unit(x).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)


def checkpoint_present(run_dir, point):
    return os.path.isfile(os.path.join(run_dir, f'iter_{point}_net_G_A.pth'))
