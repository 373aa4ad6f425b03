"""The loss history of a run: the points the loss plot and the visdom loss window draw.

`LossHistory` is a sink that records each plotted point: `x`, the iterations, and `y`, per loss
a list aligned with them (NaN where that loss was not reported, e.g. one added mid-run). A point
at or before the last one starts over from there (a resume from an older checkpoint, or an
earlier run of the same name in the log) and drops what it replaces. `LossHistory.from_log`
reloads the points of a run's earlier sessions from its loss_log.txt, so a resumed run's curves
show the whole run. Put it before the sinks that draw it: they read it when the event reaches them.
"""
import math
import os

from .. import loss_log
from .reporter import Sink


class LossHistory(Sink):
    def __init__(self):
        self.x = []
        self.y = {}

    @classmethod
    def from_log(cls, log_path):
        """The history of the loss log at `log_path` (empty when there is none yet)."""
        history = cls()
        if os.path.isfile(log_path):
            for it, losses in loss_log.read_points(log_path)[0]:
                history.add(it, losses)
        return history

    def plot_losses(self, epoch, counter_ratio, losses, total_iters):
        self.add(int(total_iters), losses)

    def add(self, x, values):
        """Add the point `values` ({name: float}) at iteration `x`."""
        while self.x and self.x[-1] >= x:
            self.x.pop()
            for ys in self.y.values():
                ys.pop()
        self.x.append(x)
        n = len(self.x)
        for k, v in values.items():
            ys = self.y.setdefault(k, [])
            ys.extend([math.nan] * (n - 1 - len(ys)))
            ys.append(v)
        for ys in self.y.values():
            ys.extend([math.nan] * (n - len(ys)))
