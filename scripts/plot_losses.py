"""Plot the loss curves of a training run from its loss_log.txt.

    python scripts/plot_losses.py --name daynight_augan            # ./checkpoints/daynight_augan/loss_log.txt
    python scripts/plot_losses.py --log path/to/loss_log.txt --out losses.png --smooth 0.95

One panel per loss, the A and B sides of a loss sharing one (G_A and G_B, cycle_A and
cycle_B, ...), against the training iteration: the raw values faint, an exponential moving
average over them bold. A log holding several sessions (a run resumed with --continue_train)
gives one continuous curve: where a session starts at or before an iteration already logged (a
resume from an older checkpoint, or a new run under the same name), its points replace the
earlier ones from there on, as the weights did. NaN and infinite values are left out of the
curves and counted in the panel's legend.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
from typing import Dict, List, NamedTuple, Tuple  # noqa: E402

import numpy as np  # noqa: E402

from util import loss_log  # noqa: E402
from util.errors import UserError, exit_on_user_error  # noqa: E402



class LossHistory(NamedTuple):
    curves: Dict[str, Tuple[np.ndarray, np.ndarray]]  # loss name -> (iterations, values), in log order
    session_starts: List[int]  # iteration at which each session after the first starts
    replaced: int              # logged lines replaced by a later session


def read_loss_log(path):
    """Parse a loss_log.txt into a LossHistory (see the module docstring for sessions)."""
    if not os.path.isfile(path):
        raise UserError(f'no loss log at {path}: pass --log, or the --name/--checkpoints_dir of a training run')
    points, session_starts, replaced = loss_log.read_points(path)
    if not points:
        raise UserError(f'{path} holds no loss lines of the form "(epoch: E, iters: I, ...) name: value ..."')
    names = dict.fromkeys(k for _, losses in points for k in losses)
    curves = {k: (np.array([it for it, losses in points if k in losses]),
                  np.array([losses[k] for _, losses in points if k in losses])) for k in names}
    return LossHistory(curves, session_starts, replaced)


def ema(values, weight):
    """Exponential moving average with bias correction (as TensorBoard's smoothing), skipping
    non-finite values (their positions get the running average)."""
    out = np.full(len(values), math.nan)
    avg, norm = 0.0, 0.0
    for i, v in enumerate(values):
        if math.isfinite(v):
            avg = weight * avg + (1 - weight) * v
            norm = weight * norm + (1 - weight)
        if norm > 0:
            out[i] = avg / norm
    return out


def panels(names):
    """Loss names grouped by panel: the _A and _B variants of a loss share one."""
    groups = {}
    for name in names:
        stem, _, side = name.rpartition('_')
        groups.setdefault(stem if stem and side in ('A', 'B') else name, []).append(name)
    return groups


def plot_losses(history, out_path, smooth=0.9, title='losses'):
    """Write the figure to out_path; returns {panel: [loss names drawn in it]}."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    groups = panels(list(history.curves))
    cols = min(3, len(groups))
    rows = math.ceil(len(groups) / cols)
    fig = Figure(figsize=(4.5 * cols, 3.2 * rows), dpi=100)
    FigureCanvasAgg(fig)
    for i, (panel, names) in enumerate(groups.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        for name in names:
            x, y = history.curves[name]
            finite = np.isfinite(y)
            # NaN breaks the faint raw line, so a non-finite value shows as a gap.
            raw = ax.plot(x, np.where(finite, y, np.nan), linewidth=0.8, alpha=0.25)[0]
            bad = int((~finite).sum())
            label = name + (f' ({bad} non-finite)' if bad else '')
            ax.plot(x, ema(y, smooth), linewidth=1.6, color=raw.get_color(), label=label)
        for start in history.session_starts:
            ax.axvline(start, color='grey', linestyle=':', linewidth=1)
        ax.set_title(panel)
        ax.set_xlabel('iteration')
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize='small')
    fig.suptitle(f'{title} (EMA {smooth}; dotted: resumed sessions)' if history.session_starts
                 else f'{title} (EMA {smooth})')
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    fig.savefig(out_path, format='png')
    return groups


@exit_on_user_error
def main(args=None):
    parser = argparse.ArgumentParser(description='Plot the loss curves of a training run from its loss_log.txt',
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--log', type=str, default=None,
                        help='the loss log; when not given, <checkpoints_dir>/<name>/loss_log.txt')
    parser.add_argument('--name', type=str, default='experiment_name', help='name of the training run')
    parser.add_argument('--checkpoints_dir', type=str, default='./checkpoints', help='where the runs are')
    parser.add_argument('--out', type=str, default=None, help='PNG to write; when not given, loss_curves.png beside the log')
    parser.add_argument('--smooth', type=float, default=0.9,
                        help='weight of the exponential moving average, in [0, 1): higher is smoother, 0 is raw')
    opt = parser.parse_args(args)
    if not 0 <= opt.smooth < 1:
        raise UserError(f'--smooth must be in [0, 1), got {opt.smooth}')
    log = opt.log or os.path.join(opt.checkpoints_dir, opt.name, 'loss_log.txt')
    out = opt.out or os.path.join(os.path.dirname(os.path.abspath(log)), 'loss_curves.png')
    history = read_loss_log(log)
    groups = plot_losses(history, out, opt.smooth, title=opt.name if opt.log is None else os.path.basename(log))
    points = max(len(x) for x, _ in history.curves.values())
    print(f'{len(history.curves)} losses in {len(groups)} panels, {points} points, '
          f'{len(history.session_starts) + 1} session(s)'
          + (f', {history.replaced} point(s) replaced by later sessions' if history.replaced else ''))
    print(f'wrote {out}')


if __name__ == '__main__':
    main()
