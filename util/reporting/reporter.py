"""The fan-out the training loop reports to, and the interface of the sinks behind it.

`Reporter(sinks)` takes the loop's events under their CycleGAN names, converts their values once
(loss tensors to floats, visual tensors to uint8 images) and hands each event to every sink in
list order:

    print_current_losses(epoch, iters, losses, t_comp, t_data) -> sink.print_losses(...)
    plot_current_losses(epoch, counter_ratio, losses, total_iters) -> sink.plot_losses(...)
    display_current_results(visuals, epoch, total_iters, save_result) -> sink.show_visuals(...)
    save_loss_plot()                                            -> sink.save_plot()
    close()                                                     -> sink.close()

A sink that raises does not keep the event from the sinks after it: every sink gets it, then the
first error is raised again, so a failure is neither hidden nor able to silence the other sinks.
The displays (visdom, wandb) catch their own failures, print one line and switch themselves off,
so training never stops for them; a file that cannot be written (the loss log on a full disk)
stops training as it always did. `Reporter([])` reports nowhere: the stand-in of ranks other
than 0.
"""
import torch

from .. import util


class Sink:
    """One place reports go. Every event does nothing here; a sink overrides the ones it uses.
    Losses arrive as {name: float}, visuals as {name: HxWx3 uint8 array}."""

    def print_losses(self, epoch, iters, losses, t_comp, t_data):
        """The losses printed every --print_freq iterations, with the step and data times."""

    def plot_losses(self, epoch, counter_ratio, losses, total_iters):
        """The same losses as a point of the loss curves, at iteration `total_iters`
        (`epoch + counter_ratio`: the fractional epoch)."""

    def show_visuals(self, images, epoch, total_iters, save_result):
        """The current visuals; `save_result`: keep them on the training page too."""

    def save_plot(self):
        """Draw the loss curves to a file (before the visuals that show it)."""

    def close(self):
        """Training is over: finish and release what the sink holds."""


def to_float(value):
    """A loss as a float: a one-element tensor's value, a bigger tensor's mean."""
    if torch.is_tensor(value):
        return float(value.detach().float().mean().item()) if value.numel() != 1 else float(value.item())
    return float(value)


class Reporter:
    """Hands every reporting event of the training loop to each of `sinks`, in order."""

    def __init__(self, sinks):
        self.sinks = list(sinks)

    def print_current_losses(self, epoch, iters, losses, t_comp, t_data):
        """Report the losses of iteration `iters` (the loss log prints and appends one line)."""
        if self.sinks:
            self._each('print_losses', epoch, iters, _floats(losses), t_comp, t_data)

    def plot_current_losses(self, epoch, counter_ratio, losses, total_iters):
        """Add the losses at iteration `total_iters` to the curves (history, visdom, wandb)."""
        if self.sinks:
            self._each('plot_losses', epoch, counter_ratio, _floats(losses), total_iters)

    def display_current_results(self, visuals, epoch, total_iters, save_result):
        """Show the current visuals (name -> (N,C,H,W) tensor in [-1, 1], the first image used; a
        None visual is left out) in visdom and wandb, and on the training page when save_result."""
        if self.sinks:
            images = {label: util.tensor2im(t) for label, t in visuals.items() if t is not None}
            self._each('show_visuals', images, epoch, total_iters, save_result)

    def save_loss_plot(self):
        """Redraw the loss plot file."""
        self._each('save_plot')

    def close(self):
        """Finish every sink (wandb run, visdom server)."""
        self._each('close')

    def _each(self, event, *args):
        error = None
        for sink in self.sinks:
            try:
                getattr(sink, event)(*args)
            except Exception as e:  # the next sinks still get the event
                error = error or e
        if error is not None:
            raise error


def _floats(losses):
    return {k: to_float(v) for k, v in losses.items()}
