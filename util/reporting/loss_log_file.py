"""The loss log sink: each printed set of losses as one console line, appended to loss_log.txt.

The line format (and the session header written when the sink is made, one per training session)
is util/loss_log.py's, which the readers of the log (a resumed run's loss history,
scripts/plot_losses.py) parse with the same module.
"""
import os

from .. import atomic, loss_log
from .reporter import Sink


class LossLogFile(Sink):
    """Appends to `log_path` (created with its folder if missing); `precision`, the one the session
    trains in, goes into the session's header line."""

    def __init__(self, log_path, precision=None):
        self.path = log_path
        os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
        atomic.append_text(self.path, loss_log.session_header(precision) + "\n")

    def print_losses(self, epoch, iters, losses, t_comp, t_data):
        """Print one line `(epoch: E, iters: I, time: T, data: D) name: value ...` and append it
        to the log."""
        message = loss_log.format_line(epoch, iters, t_comp, t_data, losses)
        print(message)
        atomic.append_text(self.path, message + "\n")  # a full disk: one line, not a traceback
