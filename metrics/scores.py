"""Scores computed from features or image batches, with no network of their own.

- `fid` (Fréchet distance of Gaussian fits, matrix square root by scipy) and `kid` (unbiased
  MMD^2 with the cubic polynomial kernel, over random subsets) from two feature arrays (see
  `metrics.inception` for the features).
- `psnr`, `ssim` (Gaussian window 11, sigma 1.5, Wang et al. 2004) per image, on [0, 1] tensors.
- `edge_correlation` per image: how much of one image's structure (its edges) the other has.
- `correlations`: Pearson and Spearman coefficients of two samples.
"""
import math
import warnings

import numpy as np
import scipy.linalg
import scipy.stats
import torch
import torch.nn.functional as F

from util.errors import UserError


def _check_counts(f1, f2, what):
    if len(f1) < 2 or len(f2) < 2:
        raise UserError(f'{what} needs at least 2 images per set, got {len(f1)} and {len(f2)}')


def feature_statistics(feats):
    """Mean and covariance (unbiased, rows are samples) of a feature array."""
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), as pytorch-fid computes it: a product
    whose square root is not finite is retried with eps added to both diagonals, and the
    imaginary part that rounding leaves is dropped unless it is large on the diagonal."""
    diff = mu1 - mu2
    with warnings.catch_warnings():
        # With fewer images than dimensions the covariances are singular, which scipy warns
        # about; the trace of the root, all FID needs, is still accurate.
        warnings.simplefilter('ignore', scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f'imaginary component {np.max(np.abs(covmean.imag)):.3g} in the FID matrix square root')
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fid(feats1, feats2):
    """Fréchet Inception distance between two feature arrays (N1, D) and (N2, D)."""
    _check_counts(feats1, feats2, 'FID')
    mu1, mu2 = feats1.mean(axis=0), feats2.mean(axis=0)
    if len(feats1) + len(feats2) + 1 < feats1.shape[1]:
        # FID does not change under a rotation, and coordinates that are constant and equal in
        # both sets add nothing. In a basis of the span of the centred features and the mean
        # difference, all other coordinates are such, so the same number comes out of a square
        # root of size N1+N2+1 instead of D: a second instead of a minute on a CPU for D=2048.
        span = np.concatenate([feats1 - mu1, feats2 - mu2, (mu1 - mu2)[None]]).T
        basis, _ = np.linalg.qr(span)
        feats1, feats2 = feats1 @ basis, feats2 @ basis
    return frechet_distance(*feature_statistics(feats1), *feature_statistics(feats2))


def kid(feats1, feats2, num_subsets=100, max_subset_size=1000, seed=0):
    """Kernel Inception distance: (mean, std) over `num_subsets` random subsets of size
    min(max_subset_size, N1, N2) of the unbiased MMD^2 estimate with the kernel
    k(x, y) = (x.y / D + 1)^3 (Binkowski et al. 2018, as torch-fidelity computes it)."""
    _check_counts(feats1, feats2, 'KID')
    rng = np.random.RandomState(seed)
    m = min(max_subset_size, len(feats1), len(feats2))
    d = feats1.shape[1]
    values = []
    for _ in range(num_subsets):
        x = feats1[rng.choice(len(feats1), m, replace=False)]
        y = feats2[rng.choice(len(feats2), m, replace=False)]
        k_xx, k_yy, k_xy = ((a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
        values.append(within - 2 * k_xy.sum() / (m * m))
    return float(np.mean(values)), float(np.std(values))


def psnr(x, y, data_range=1.0):
    """Peak signal-to-noise ratio in dB of each image pair of two (N, C, H, W) batches; inf
    for identical images."""
    mse = (x.double() - y.double()).pow(2).flatten(1).mean(dim=1)
    return 10 * torch.log10(data_range ** 2 / mse)


def _gaussian_window(size, sigma):
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-coords ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def ssim(x, y, data_range=1.0, window_size=11, sigma=1.5, k1=0.01, k2=0.03):
    """Structural similarity (Wang et al. 2004) of each image pair of two (N, C, H, W) batches:
    the mean SSIM map over the positions where the Gaussian window fits entirely ('valid'),
    and over the channels."""
    if min(x.shape[-2:]) < window_size:
        raise ValueError(f'SSIM needs images of at least {window_size}x{window_size} px, got {tuple(x.shape[-2:])}')
    x, y = x.double(), y.double()
    channels = x.shape[1]
    g = _gaussian_window(window_size, sigma).to(x.device)

    def blur(t):
        # The 2-D Gaussian is separable: a row pass then a column pass, per channel.
        t = F.conv2d(t, g.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
        return F.conv2d(t, g.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)

    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x ** 2
    var_y = blur(y * y) - mu_y ** 2
    cov = blur(x * y) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return ssim_map.flatten(1).mean(dim=1)


def gradient_magnitude(x):
    """|Sobel gradient| of the luminance (Rec. 601 weights; the channel mean for other counts) of
    an (N, C, H, W) batch: (N, 1, H-2, W-2)."""
    x = x.double()
    if x.shape[1] == 3:
        x = (x * x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    else:
        x = x.mean(1, keepdim=True)
    sobel = x.new_tensor([[1, 0, -1], [2, 0, -2], [1, 0, -1]])
    gx = F.conv2d(x, sobel.view(1, 1, 3, 3))
    gy = F.conv2d(x, sobel.t().reshape(1, 1, 3, 3))
    return (gx ** 2 + gy ** 2).sqrt()


def edge_correlation(x, y):
    """Pearson correlation of the gradient magnitudes of each image pair of two (N, C, H, W)
    batches, in [-1, 1]: 1 when y has x's edges where x has them (whatever its colours), near 0
    when y's structure is unrelated to x's (a pattern painted over the scene, a blur). Unlike
    PSNR and SSIM it ignores a global change of brightness and colour."""
    gx, gy = gradient_magnitude(x).flatten(1), gradient_magnitude(y).flatten(1)
    gx, gy = gx - gx.mean(1, keepdim=True), gy - gy.mean(1, keepdim=True)
    denom = (gx.pow(2).sum(1) * gy.pow(2).sum(1)).sqrt()
    return torch.where(denom > 0, (gx * gy).sum(1) / denom.clamp_min(1e-300), torch.zeros_like(denom))


def correlations(a, b):
    """(Pearson, Spearman) correlation coefficients of two equally long samples; NaN where
    undefined (fewer than 2 values, or a constant sample)."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan, math.nan
    return float(scipy.stats.pearsonr(a, b)[0]), float(scipy.stats.spearmanr(a, b)[0])
