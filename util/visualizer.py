"""The training reporter under its CycleGAN name: `Visualizer(opt)`.

Reporting lives in util/reporting/ as sinks (loss log, loss plot, training page, visdom, wandb)
behind one fan-out, `Reporter`, which train.py builds with `reporting.from_options(opt)`. This
module keeps `Visualizer(opt)` working for code written against the CycleGAN layout (and the
tests of the visualizer): the same reporter, plus the attributes the old single class had
(`vis`, `wandb`, `plot_x`, `plot_y`), read from its sinks. New code should use util.reporting;
the test page's helpers are in util/result_page.py.
"""
from .reporting import LossHistory, Reporter, VisdomDisplay, WandbRun, sinks_from_options


class Visualizer(Reporter):
    """`reporting.from_options(opt)` under the old name, with the old attributes."""

    def __init__(self, opt):
        super().__init__(sinks_from_options(opt, resume=bool(getattr(opt, 'continue_train', False))))

    def _sink(self, kind):
        return next((s for s in self.sinks if isinstance(s, kind)), None)

    @property
    def vis(self):
        """The visdom client; None when visdom is off."""
        sink = self._sink(VisdomDisplay)
        return sink.client if sink else None

    @property
    def _visdom_server(self):
        """The process of the visdom server this run started, if it runs."""
        sink = self._sink(VisdomDisplay)
        return sink.server.process if sink and sink.server else None

    @property
    def wandb(self):
        """The wandb module while logging to wandb; None when wandb is off."""
        sink = self._sink(WandbRun)
        return sink.wandb if sink else None

    @property
    def plot_x(self):
        """The iterations of the loss history."""
        return self._sink(LossHistory).x

    @property
    def plot_y(self):
        """Per loss, its values at those iterations."""
        return self._sink(LossHistory).y
