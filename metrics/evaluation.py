"""The metrics of one checkpoint of a two-way model on a test set, as scripts/evaluate.py and the
study (study/evaluation.py) compute them: FID and KID of the A->B translations against real B,
cycle PSNR/SSIM/L1 of both sides, and for a generator with an uncertainty map its mean sigma and
the correlation of sigma with the cycle error.

- `COLUMNS`: the metrics of a row, in order (scripts/evaluate.py's CSV, the study's CSV after
  its first columns);
- `evaluate_checkpoint`: one row for the checkpoint loaded in a model; `compare_features`: FID,
  KID and KID's spread of two feature arrays; `CycleStats` collects the cycle metrics of a side;
- `test_samples` picks the test images of each side, `real_features` are the Inception features
  of the real B images among them;
- `domain_images` reads one side of the unaligned test set, `to_unit` maps [-1, 1] to [0, 1].

The generators run through a translator class that the caller passes in (inference.Translator,
what scripts/convert.py runs): metrics/ does not import inference/ (tests/test_layers.py).
"""
import math

import numpy as np
from tqdm import tqdm

from metrics.inception import sample_indices
from metrics.scores import correlations, fid, kid, psnr, ssim

# CSV columns, in order; the table printed shows the same.
COLUMNS = ['epoch', 'n_fake', 'n_real', 'fid', 'kid', 'kid_std', 'psnr_A', 'ssim_A', 'psnr_B', 'ssim_B',
           'cycle_l1_A', 'sigma_A', 'pearson_image', 'spearman_image', 'pearson_pixel', 'spearman_pixel']


def compare_features(fake, real, opt):
    """FID, KID mean and KID std of two feature arrays."""
    kid_mean, kid_std = kid(fake, real, opt.kid_subsets, opt.kid_subset_size, opt.seed)
    return fid(fake, real), kid_mean, kid_std


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


def test_samples(dataset, opt):
    """{'A': indices, 'B': indices}: at most --num_test images of each side, a sample seeded by --seed."""
    return {side: sample_indices(len(paths), opt.num_test, opt.seed)
            for side, paths in (('A', dataset.A_paths), ('B', dataset.B_paths))}


def real_features(inception, dataset, indices):
    """The Inception features of the real B images at `indices`, which every checkpoint's
    translations are compared with."""
    images = (to_unit(x[0]) for x in domain_images(dataset, 'B', indices))
    return inception.extract(images, total=len(indices), desc='features of real B')


class CycleStats:
    """Collects the cycle metrics of one side, image by image."""

    def __init__(self, pixels_per_image, seed):
        self.pixels_per_image = pixels_per_image
        self.rng = np.random.default_rng(seed)  # the same pixels for every checkpoint
        self.psnr, self.ssim, self.l1, self.sigma = [], [], [], []
        self.pixel_sigma, self.pixel_error = [], []

    def add(self, real, cyc, sigma=None):
        real_unit, cyc_unit = to_unit(real), to_unit(cyc)
        self.psnr.append(float(psnr(real_unit, cyc_unit)[0]))
        self.ssim.append(float(ssim(real_unit, cyc_unit)[0]))
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
            row['pearson_image'], row['spearman_image'] = correlations(self.sigma, self.l1)
            row['pearson_pixel'], row['spearman_pixel'] = correlations(np.concatenate(self.pixel_sigma),
                                                                       np.concatenate(self.pixel_error))
        return row


def evaluate_checkpoint(model, dataset, samples, inception, real_features, opt, translator):
    """One row of metrics for the checkpoint loaded in `model`. `translator(net, autocast,
    uncertainty=False)` makes the function that runs a generator: inference.Translator."""
    # what scripts/convert.py runs: (translation, sigma or None), float32, under inference mode
    A_to_B = translator(model.netG_A, model.autocast, uncertainty=True)
    A_to_B_plain = translator(model.netG_A, model.autocast)  # B's cycle needs no uncertainty map
    B_to_A = translator(model.netG_B, model.autocast)
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

    fid_value, kid_mean, kid_std = compare_features(fake_features, real_features, opt)
    row = {'epoch': opt.epoch, 'n_fake': len(fake_features), 'n_real': len(real_features),
           'fid': fid_value, 'kid': kid_mean, 'kid_std': kid_std}
    row.update(stats_A.summary('A'))
    row.update(stats_B.summary('B'))
    return {c: row.get(c, math.nan) for c in COLUMNS}
