"""Does an uncertainty map mark where a translation is wrong? Scores of a per-pixel predictor
(σ, or any map a model or a trivial rule gives) against the true error |translation - truth| and
against the mask of the pixels whose content was hidden, on a set with a known answer
(data/ground_truth.py). All take flat arrays of pixels, pooled over the test images.

- `spearman(u, e)`: the rank correlation of the predictor u with the true error e.
- `ause(u, e)`: the area under the sparsification error, normalised by a random order's. Remove
  the fraction f of pixels with the highest u and take the mean error of the rest, m_u(f); the
  oracle removes by the error itself, m_e(f) (the lowest curve there is), and a random order keeps
  the mean, m_r(f) = mean(e). Then

      AUSE = ∫ (m_u(f) - m_e(f)) df / ∫ (m_r(f) - m_e(f)) df        over f in [0, 1)

  0: the predictor orders pixels as their error does; 1: no better than chance; above 1: worse.
  Ties in u are broken at random (seeded), so a constant map scores as a random order.
- `auroc(u, hidden)`: the probability that a hidden pixel gets a higher u than a visible one (ties
  count half): 1 marks the hidden pixels exactly, 0.5 is chance.
- `calibration(u, e, bins)`: the mean u and mean error in bins of equal pixel counts by u: the
  calibration plot.

`PREDICTORS` names the maps the study scores for every model (`predictor_maps` makes them), so σ is
always read beside what any model has: the cycle error |x - F(G(x))|, the input's brightness
(hidden pixels in rain are often the bright ones) and a random order.
"""
import numpy as np
import scipy.stats

# f in [0, 1) at which the sparsification curves are sampled
FRACTIONS = np.linspace(0.0, 1.0, 50, endpoint=False)
PREDICTORS = ('sigma', 'cycle', 'brightness', 'random')
SCORES = ('spearman', 'ause', 'auroc')


def _order(u, seed):
    """Pixel indices by u, highest first, ties in random order."""
    tiebreak = np.random.default_rng(seed).random(len(u))
    return np.lexsort((tiebreak, -np.asarray(u, np.float64)))


def _remaining_means(errors_in_removal_order, fractions):
    """Mean of what is left after removing the first round(f * n) entries, for each f."""
    n = len(errors_in_removal_order)
    removed = np.concatenate([[0.0], np.cumsum(errors_in_removal_order)])
    k = np.minimum((fractions * n).round().astype(int), n - 1)
    return (removed[-1] - removed[k]) / (n - k)


def sparsification(u, e, seed=0, fractions=FRACTIONS):
    """(m_u(f), m_e(f)): the sparsification curve of u and the oracle's, at `fractions`."""
    e = np.asarray(e, np.float64)
    return (_remaining_means(e[_order(u, seed)], fractions),
            _remaining_means(np.sort(e)[::-1], fractions))


def ause(u, e, seed=0):
    """The normalised area under the sparsification error (module docstring): 0 best, 1 chance."""
    curve, oracle = sparsification(u, e, seed)
    random_gap = np.trapezoid(np.mean(e) - oracle, FRACTIONS)
    if random_gap <= 0:  # every error equal: no order is better than another
        return float('nan')
    return float(np.trapezoid(curve - oracle, FRACTIONS) / random_gap)


def spearman(u, e):
    u, e = np.asarray(u, np.float64), np.asarray(e, np.float64)
    if np.ptp(u) == 0 or np.ptp(e) == 0:
        return float('nan')
    return float(scipy.stats.spearmanr(u, e)[0])


def auroc(u, hidden):
    """P(u of a hidden pixel > u of a visible one), ties counted half (Mann-Whitney U)."""
    hidden = np.asarray(hidden, bool)
    positives, negatives = int(hidden.sum()), int((~hidden).sum())
    if positives == 0 or negatives == 0:
        return float('nan')
    ranks = scipy.stats.rankdata(np.asarray(u, np.float64))
    return float((ranks[hidden].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def calibration(u, e, bins=10):
    """(mean u, mean error) per bin of about equal pixel counts, by u: arrays of length <= bins."""
    order = np.argsort(np.asarray(u, np.float64), kind='stable')
    chunks = [c for c in np.array_split(order, bins) if len(c)]
    u, e = np.asarray(u, np.float64), np.asarray(e, np.float64)
    return np.array([u[c].mean() for c in chunks]), np.array([e[c].mean() for c in chunks])


def scores(u, e, hidden=None, seed=0):
    """{spearman, ause, auroc} of predictor u (AUROC NaN without a mask)."""
    return {'spearman': spearman(u, e), 'ause': ause(u, e, seed),
            'auroc': auroc(u, hidden) if hidden is not None else float('nan')}


def predictor_maps(real, cycled, sigma, rng):
    """{PREDICTORS: (H, W) array} for one image: real and cycled (1, C, H, W) in [-1, 1], sigma
    (1, 1, H, W) or None (a model without σ: its entry is left out)."""
    maps = {'cycle': (real.float() - cycled.float()).abs().mean(dim=1)[0].cpu().numpy(),
            'brightness': real.float().mean(dim=1)[0].cpu().numpy()}
    maps['random'] = rng.random(maps['cycle'].shape)
    if sigma is not None:
        maps['sigma'] = sigma.float()[0, 0].cpu().numpy()
    return maps
