"""Training-time reporting as sinks behind one fan-out.

Each sink is a small class with one job, made from plain arguments (paths, ports, flags), so
the training loop's reporting does not depend on the command line:

    history.py          LossHistory      the loss points, reloaded from the log on resume
    loss_log_file.py    LossLogFile      one console line per print, appended to loss_log.txt
    loss_plot.py        LossPlot         loss_plot.png
    visdom_display.py   VisdomDisplay    image and loss windows on a visdom server
    visdom_server.py    VisdomServer     a local visdom server for --display_start_server
    wandb_run.py        WandbRun         a Weights & Biases run and its results table
    training_page.py    TrainingPage     web/index.html with the plot and each epoch's visuals

`Reporter` (reporter.py) hands each event of the loop to every sink. `from_options(opt)` is the
one place that reads the options: train.py calls it once on rank 0 (other ranks use
`Reporter([])`). util/visualizer.py keeps the old name `Visualizer(opt)` for code written
against the CycleGAN layout. The displays (visdom, wandb) never stop training: they print one
line and switch themselves off when they fail.

Only the test page is not here: it has no loss, no visdom, no wandb (util/result_page.py).
"""
import os

from .history import LossHistory
from .loss_log_file import LossLogFile
from .loss_plot import LossPlot
from .reporter import Reporter, Sink
from .training_page import TrainingPage
from .visdom_display import VisdomDisplay
from .visdom_server import VisdomServer
from .wandb_run import WandbRun

__all__ = ['LossHistory', 'LossLogFile', 'LossPlot', 'Reporter', 'Sink', 'TrainingPage', 'VisdomDisplay',
           'VisdomServer', 'WandbRun', 'from_options', 'sinks_from_options']


def from_options(opt, resume=False, precision=None):
    """The reporter of a training run with options `opt`; `resume`: the run goes on from a save
    (its loss curves continue the ones in its log, its wandb run is resumed); `precision`: the one
    the run trains in, for the log's session header."""
    return Reporter(sinks_from_options(opt, resume, precision))


def sinks_from_options(opt, resume=False, precision=None):
    """The sinks `opt` asks for, in the order events reach them: the loss history first (the plot
    and visdom draw it), the page last (after visdom and wandb, as before the split).

    Every run gets the history, the loss log and the plot; the page unless --no_html (or when not
    training); visdom with --display_id > 0; wandb with --use_wandb."""
    run_dir = os.path.join(opt.checkpoints_dir, opt.name)
    log_path = os.path.join(run_dir, "loss_log.txt")
    plot_path = os.path.join(run_dir, "loss_plot.png")
    phase = opt.phase
    start_server = bool(getattr(opt, "display_start_server", False))  # a training flag; Visualizer may get test options

    history = LossHistory.from_log(log_path) if resume else LossHistory()
    sinks = [history, LossLogFile(log_path, precision), LossPlot(plot_path, opt.name, history)]
    if int(opt.display_id or 0) > 0:
        sinks.append(VisdomDisplay(opt.display_server, opt.display_port, opt.display_env, opt.display_id, opt.name,
                                   opt.display_ncols, history, start_server=start_server,
                                   server_log=os.path.join(run_dir, "visdom_server.log")))
    page = None
    if opt.isTrain and not opt.no_html:
        page = TrainingPage(os.path.join(run_dir, "web"), opt.name, run_dir, phase, plot_path, opt.display_winsize)
    if opt.use_wandb:
        sinks.append(WandbRun(opt.wandb_project, opt.name, os.path.join(run_dir, "wandb_id.txt"),
                              config={k: v for k, v in vars(opt).items() if not k.startswith("_")},
                              resume=resume, page_image_dir=page.img_dir if page else None))
    if page is not None:
        sinks.append(page)
    return sinks
