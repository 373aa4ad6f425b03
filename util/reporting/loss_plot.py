"""The loss plot sink: the loss curves of a `LossHistory` drawn to a PNG (the run's
loss_plot.png, which the training page shows), one line per loss against the iteration.

Drawn through matplotlib's object API on an Agg canvas (imported on first use, no global backend
chosen) and written atomically: the training page may be read meanwhile.
"""
import numpy as np

from .. import atomic
from .reporter import Sink


class LossPlot(Sink):
    """Writes the curves of `history` to `path` on each save_plot, titled `<name> losses`;
    nothing before the first point."""

    def __init__(self, path, name, history):
        self.path = path
        self.name = name
        self.history = history

    def save_plot(self):
        if not self.history.x:
            return
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        x = np.asarray(self.history.x)
        fig = Figure(figsize=(9, 4.5), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        for k, ys in self.history.y.items():
            y = np.asarray(ys, dtype=np.float64)
            ok = np.isfinite(y)
            if ok.any():
                ax.plot(x[ok], y[ok], label=k, linewidth=1.0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("iteration")
        ax.set_ylabel("loss")
        ax.set_title(f"{self.name} losses")
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend(loc="upper right", fontsize="small", ncol=2)
        fig.tight_layout()
        with atomic.replacing(self.path) as tmp:
            fig.savefig(tmp, format="png")
