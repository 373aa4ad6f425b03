"""scripts/plot_losses.py: loss logs with several sessions, replaced points and non-finite values."""
import math

import numpy as np
import pytest

from conftest import run_cli
from scripts import plot_losses  # not scripts/ on sys.path: its study.py would hide the study package

# Session 1 logs up to iteration 30; session 2 resumed from a save at 20, so its 30 replaces the first.
LOG = """================ Training Loss (Mon Nov 23 10:00:00 2026) ================
(epoch: 1, iters: 10, time: 0.100, data: 0.010) D_A: 0.500 G_A: 1.000 cycle_A: 2.000 G_B: 1.100
(epoch: 1, iters: 20, time: 0.100, data: 0.010) D_A: 0.400 G_A: nan cycle_A: 1.800 G_B: 1.000
(epoch: 2, iters: 30, time: 0.100, data: 0.010) D_A: 0.300 G_A: 0.900 cycle_A: 1.600 G_B: 0.900
================ Training Loss (Mon Nov 23 11:00:00 2026) ================
(epoch: 2, iters: 30, time: 0.100, data: 0.010) D_A: 0.350 G_A: 0.950 cycle_A: 1.700 G_B: 0.950
(epoch: 2, iters: 40, time: 0.100, data: 0.010) D_A: 0.300 G_A: 0.800 cycle_A: inf G_B: 0.900
"""


@pytest.fixture
def log(tmp_path):
    path = tmp_path / 'run' / 'loss_log.txt'
    path.parent.mkdir()
    path.write_text(LOG)
    return path


def test_sessions_are_joined_and_non_finite_values_kept(log, tmp_path):
    history = plot_losses.read_loss_log(log)
    assert history.session_starts == [30] and history.replaced == 1
    x, y = history.curves['G_A']
    assert x.tolist() == [10, 20, 30, 40]
    assert math.isnan(y[1]) and y[2] == 0.95  # the resumed session's value at 30
    assert math.isinf(history.curves['cycle_A'][1][-1])

    groups = plot_losses.plot_losses(history, tmp_path / 'curves.png', smooth=0.5)
    assert groups == {'D': ['D_A'], 'G': ['G_A', 'G_B'], 'cycle': ['cycle_A']}
    assert sum(len(names) for names in groups.values()) == 4  # one curve per loss
    assert (tmp_path / 'curves.png').stat().st_size > 10000


def test_ema_skips_non_finite_values_and_is_unbiased():
    smoothed = plot_losses.ema(np.array([2.0, np.nan, 2.0, np.inf, 4.0]), 0.5)
    assert smoothed[:4].tolist() == [2.0, 2.0, 2.0, 2.0]  # no pull towards 0 at the start
    assert 2.0 < smoothed[4] < 4.0
    assert plot_losses.ema(np.array([1.0, 3.0]), 0.0).tolist() == [1.0, 3.0]


@pytest.mark.slow
def test_cli(log, tmp_path):
    proc = run_cli('scripts/plot_losses.py', '--name', 'run', '--checkpoints_dir', tmp_path)
    assert '4 losses in 3 panels, 4 points, 2 session(s), 1 point(s) replaced' in proc.stdout
    assert (tmp_path / 'run' / 'loss_curves.png').is_file()
    out = tmp_path / 'elsewhere' / 'plot.png'
    run_cli('scripts/plot_losses.py', '--log', log, '--out', out, '--smooth', '0')
    assert out.is_file()
    proc = run_cli('scripts/plot_losses.py', '--log', tmp_path / 'missing.txt', check=False)
    assert proc.returncode == 2 and 'no loss log at' in proc.stderr
