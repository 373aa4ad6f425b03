"""The study's evaluations, in its own process: `Evaluator` runs the metrics of scripts/evaluate.py
(metrics/evaluation.py) on each run's checkpoints with one Inception network and the features of
the real test images computed once; on a ground-truth set (data/ground_truth.py) it also scores
the translations against the true day photos (`truth_scores`), scores the uncertainty and the
other per-pixel predictors against the true error and the hidden pixels (`uncertainty_scores`),
and gives the floor and ceiling rows (`references`); it translates the test images of the sample
grids."""
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

import metrics
from data import TEST_READING, create_dataset
from data.ground_truth import exact_inverse, hidden_mask, is_ground_truth_set, task_of
from inference import Translator
from metrics import uncertainty
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
                row.update(truth_scores(dataset, samples['A'], lambda night: translator(night.to(model.device))[0]))
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
        return {label: truth_scores(dataset, picks, lambda night, f=fn: f(to_unit(night)) * 2 - 1)
                for label, fn in references(self.task).items()}

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
    """Mean PSNR, SSIM and edge correlation of translate(night) against the true day photo, over
    the test night images at `indices` (score_pairs)."""
    nights = domain_images(dataset, 'A', indices)
    days = domain_images(dataset, 'B', true_indices(dataset, indices))
    return score_pairs(zip(nights, days), translate)


def score_pairs(pairs, translate):
    """{GT_COLUMNS: mean} of translate(night) against day over (night, day) pairs, each
    (1, C, H, W) in [-1, 1]; the translations are quantised to 8 bits, as when saved."""
    scores = {c: [] for c in GT_COLUMNS}
    for night, day in pairs:
        fake = (to_unit(translate(night)).cpu() * 255).round() / 255
        day = to_unit(day)
        if fake.shape != day.shape:
            raise UserError(f'a night test image translates to {tuple(fake.shape[-2:])} px, its day photo is '
                            f'{tuple(day.shape[-2:])}: testA and testB of a ground-truth set must be the same sizes')
        scores['gt_psnr'].append(float(metrics.psnr(fake, day)[0]))
        scores['gt_ssim'].append(float(metrics.ssim(fake, day)[0]))
        scores['gt_edge'].append(float(metrics.edge_correlation(fake, day)[0]))
    return {c: float(np.mean(v)) for c, v in scores.items()}


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
