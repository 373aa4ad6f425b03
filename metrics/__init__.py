"""Image-quality metrics for evaluating translations: FID and KID on Inception features, PSNR,
SSIM, and correlations.

- `metrics.inception`: `InceptionFeatures`, the features FID and KID compare, of image batches
  or of a folder of images (`sample_indices` picks a seeded random sample of a folder);
- `metrics.scores`: `fid`, `kid` (from two feature arrays), `psnr`, `ssim`, `edge_correlation` (per image pair) and
  `correlations` (Pearson and Spearman);
- `metrics.uncertainty`: does a per-pixel map (σ, the cycle error, ...) mark where a translation
  is wrong: Spearman r with the true error, AUSE, AUROC for the hidden pixels, calibration bins;
- `metrics.aliasing`: flicker and the checkerboard: clips with a known camera motion made from the
  ground-truth set, the change between consecutive frames after undoing the motion (or an
  estimated flow), the share of spectral power at the pixel grid's periods (not imported here);
- `metrics.evaluation`: the row of metrics of one checkpoint of a two-way model on a test set
  (`evaluate_checkpoint`, `COLUMNS`), not imported here.

scripts/evaluate.py and the study (study/) use these. Layering: this package uses util/ (`UserError`)
and data/ (the image-folder listing and loading helpers); nothing below it imports it.
tests/test_layers.py checks that.
"""
from metrics.inception import (FEATURE_DIM, INCEPTION_PACKAGE, INCEPTION_SIZE, InceptionFeatures,
                               inception_weights_path, sample_indices)
from metrics.scores import (correlations, edge_correlation, feature_statistics, fid, frechet_distance, kid, psnr,
                            ssim)

__all__ = ['FEATURE_DIM', 'INCEPTION_PACKAGE', 'INCEPTION_SIZE', 'InceptionFeatures', 'correlations', 'edge_correlation',
           'feature_statistics', 'fid', 'frechet_distance', 'inception_weights_path', 'kid', 'psnr',
           'sample_indices', 'ssim']
