"""The uncertainty scores (metrics/uncertainty.py) on constructed cases: a predictor equal to the
true error, a random one, a constant one, one ordered backwards, and one equal to the mask;
AUSE and AUROC checked against slow, literal computations of their definitions."""
import numpy as np
import pytest

from metrics import uncertainty


@pytest.fixture
def error():
    return np.random.default_rng(0).gamma(2.0, 0.05, 20000)


def test_a_predictor_equal_to_the_error_scores_ause_0_and_spearman_1(error):
    assert uncertainty.ause(error, error) == pytest.approx(0.0, abs=1e-12)
    assert uncertainty.spearman(error, error) == pytest.approx(1.0)
    # any increasing function of the error orders the pixels the same way
    assert uncertainty.ause(np.log(error), error) == pytest.approx(0.0, abs=1e-12)


def test_a_random_or_constant_predictor_scores_ause_about_1(error):
    rng = np.random.default_rng(1)
    assert uncertainty.ause(rng.random(error.size), error) == pytest.approx(1.0, abs=0.05)
    assert abs(uncertainty.spearman(rng.random(error.size), error)) < 0.05
    # ties are broken at random, so a flat map is chance, not the pixels' raster order
    ordered = np.sort(error)  # a raster order that happens to follow the error
    assert uncertainty.ause(np.zeros_like(ordered), ordered) == pytest.approx(1.0, abs=0.05)


def test_a_predictor_ordered_backwards_is_worse_than_chance(error):
    assert uncertainty.ause(-error, error) > 1.5
    assert uncertainty.spearman(-error, error) == pytest.approx(-1.0)


def test_ause_follows_its_definition():
    rng = np.random.default_rng(2)
    u, e = rng.random(60), rng.random(60)

    def curve(order):  # the mean error left after removing the first k pixels of `order`
        return np.array([e[order[int(round(f * len(e))):]].mean() for f in uncertainty.FRACTIONS])

    by_u, oracle = curve(np.argsort(-u)), curve(np.argsort(-e))
    expected = np.trapezoid(by_u - oracle, uncertainty.FRACTIONS) / np.trapezoid(e.mean() - oracle,
                                                                                   uncertainty.FRACTIONS)
    assert uncertainty.ause(u, e) == pytest.approx(expected, rel=1e-9)


def test_a_predictor_equal_to_the_mask_scores_auroc_1():
    rng = np.random.default_rng(3)
    hidden = rng.random(5000) < 0.2
    assert uncertainty.auroc(hidden.astype(float), hidden) == 1.0
    assert uncertainty.auroc(-hidden.astype(float), hidden) == 0.0
    assert uncertainty.auroc(np.ones(5000), hidden) == 0.5  # ties count half
    assert uncertainty.auroc(rng.random(5000), hidden) == pytest.approx(0.5, abs=0.05)
    assert np.isnan(uncertainty.auroc(rng.random(10), np.zeros(10, bool)))  # nothing hidden: undefined


def test_auroc_is_the_share_of_pairs_ordered_right():
    rng = np.random.default_rng(4)
    u, hidden = rng.integers(0, 5, 80).astype(float), rng.random(80) < 0.3  # many ties
    pairs = [(a, b) for a in u[hidden] for b in u[~hidden]]
    expected = np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs])
    assert uncertainty.auroc(u, hidden) == pytest.approx(expected)


def test_calibration_bins_by_the_predictor(error):
    u, e = uncertainty.calibration(error, error, bins=10)
    assert len(u) == len(e) == 10
    assert np.all(np.diff(e) > 0) and np.allclose(u, e)
    flat_u, flat_e = uncertainty.calibration(np.random.default_rng(5).random(error.size), error, bins=10)
    assert np.ptp(flat_e) < 0.2 * np.ptp(e)  # a random predictor's bins all hold about the mean error


def test_scores_leave_auroc_undefined_without_a_mask(error):
    row = uncertainty.scores(error, error)
    assert set(row) == set(uncertainty.SCORES)
    assert row['spearman'] == pytest.approx(1.0) and np.isnan(row['auroc'])
