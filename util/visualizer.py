"""Training-time reporting: the loss log, the training web page, a loss plot, and the optional
visdom and Weights & Biases displays. Also `save_images` and `add_run_options`, which test.py
uses to fill its page.

Only rank 0 creates a Visualizer. Neither display may ever stop or stall training: an
unreachable visdom server or a failing wandb prints one line and is switched off.

The loss history (loss plot, visdom) is plotted against the iteration, the step wandb logs at
too; with --continue_train it is reloaded from loss_log.txt so the curves show the whole run.
A wandb run is resumed with --continue_train through the id kept in `<run dir>/wandb_id.txt`.
"""
import atexit
import logging
import math
import os
import re
import socket
import subprocess
import sys
import time
from urllib.parse import urlparse

import numpy as np
import torch

from . import html, loss_log, util

# Seconds to wait for visdom while connecting (the check itself), and for a request later on
# (images can be large on a remote server). A server that accepts but never answers thus
# costs at most these, then visdom is switched off.
_VISDOM_CONNECT_TIMEOUT = 3.0
_VISDOM_REQUEST_TIMEOUT = 15.0
# Seconds --display_start_server waits for its server to listen (importing it takes a few).
_VISDOM_START_TIMEOUT = 30.0
_PAGE_REFRESH_SECONDS = 60
# Hosts --display_start_server may start a server for.
_LOCAL_HOSTS = ("localhost", "127.0.0.1")

# The visdom server --display_start_server runs. Not `python -m visdom.server`, which first
# downloads the JavaScript of visdom's browser UI and dies when that fails (offline): here
# the download runs beside the server, so the server always comes up and the UI works as
# soon as the scripts are there (they are kept in visdom's package folder). On Linux the server
# asks the kernel to stop it when the trainer dies, even by SIGKILL, where atexit never runs.
_VISDOM_SERVER_CODE = """
import os, signal, sys, threading
if sys.platform.startswith('linux'):
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != int(os.environ['AUGAN_TRAINER_PID']):  # the trainer died before that call
        sys.exit(0)
from visdom.server import build, run_server
threading.Thread(target=build.download_scripts, daemon=True).start()
run_server.main()
"""

# A training-page image: web/images/epoch<NNN>_<visual>.png
_PAGE_IMAGE = re.compile(r"^epoch(\d+)_(.+)\.png$")


def _to_float(v):
    if torch.is_tensor(v):
        return float(v.detach().float().mean().item()) if v.numel() != 1 else float(v.item())
    return float(v)


def _port_open(host, port, timeout):
    # A plain TCP probe: refused or unroutable fails fast, without visdom's retries.
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def save_images(webpage, visuals, image_path, aspect_ratio=1.0, width=256, captions=None):
    """Save the visuals of one test image and add a row for it to `webpage`'s image grid.

    Each visual (a tensor in [-1, 1]; the first image of the batch is used) is written at full
    size to `<image dir>/<stem>_<visual name>.png`, where stem is the input's file name
    without extension (`image_path` is the batch's list of paths, or one path). A stem already
    used on this page gets a counter (`<stem>_1`, ...), so equal names from different folders
    do not overwrite each other. The row, named by the stem, shows the images `width` px wide
    under their visual names, linked to the full-size files; `captions` ({visual name: text},
    optional) adds a text under an image, e.g. the max sigma of an uncertainty map.
    """
    path = image_path[0] if isinstance(image_path, (list, tuple)) else image_path
    stem = webpage.unique_stem(os.path.splitext(os.path.basename(str(path)))[0])
    image_dir = webpage.get_image_dir()

    images = {}
    for label, im_data in visuals.items():
        if im_data is None:  # e.g. an uncertainty map the model did not produce
            continue
        image_name = f"{stem}_{label}.png"
        util.save_image(util.tensor2im(im_data), os.path.join(image_dir, image_name), aspect_ratio=aspect_ratio)
        images[label] = image_name
    webpage.add_row(stem, images, captions, width=width)


def add_run_options(webpage, opt):
    """Add the run's resolved options, as saved beside its checkpoints, as collapsed sections:
    `<phase>_opt.txt`, and on a test page `train_opt.txt` too (how the model was trained)."""
    run_dir = os.path.join(opt.checkpoints_dir, opt.name)
    phase = getattr(opt, "phase", "train")
    phases = [phase] if getattr(opt, "isTrain", True) else [phase, "train"]
    for ph in dict.fromkeys(phases):  # testing with --phase train must not list it twice
        path = os.path.join(run_dir, f"{ph}_opt.txt")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                webpage.add_options(f.read(), f"{ph} options ({ph}_opt.txt)")


class Visualizer:
    """Loss log, training web page and loss plot, plus visdom / wandb when asked for."""

    def __init__(self, opt):
        self.opt = opt
        self.name = opt.name
        self.display_id = int(getattr(opt, "display_id", 0) or 0)
        self.use_html = bool(getattr(opt, "isTrain", True)) and not bool(getattr(opt, "no_html", False))
        self.win_size = int(getattr(opt, "display_winsize", 256))
        self.ncols = int(getattr(opt, "display_ncols", 4))
        self.run_dir = os.path.join(opt.checkpoints_dir, opt.name)
        self.web_dir = os.path.join(self.run_dir, "web")
        self.img_dir = os.path.join(self.web_dir, "images")
        self.log_name = os.path.join(self.run_dir, "loss_log.txt")
        self.plot_name = os.path.join(self.run_dir, "loss_plot.png")
        util.mkdirs([self.web_dir, self.img_dir])

        # Loss history for visdom and the loss plot: iterations, and per loss a y list aligned
        # with them (NaN where that loss was not reported, e.g. one added mid-run).
        self.plot_x = []
        self.plot_y = {}
        if getattr(opt, "continue_train", False):
            self._restore_history()
        # The last visuals shown, (epoch, {name: image}): the column order of the wandb results
        # table, and its one row when no web page is written.
        self._last_images = None

        with open(self.log_name, "a", encoding="utf-8") as log_file:
            log_file.write(loss_log.session_header() + "\n")

        self.vis = None
        self._visdom_server = None
        if self.display_id > 0:
            self.vis = self._connect_visdom()

        self.wandb = None
        self._wandb_owned = False
        self._wandb_step = 0
        if getattr(opt, "use_wandb", False):
            self._init_wandb()

    # ------------------------------------------------------------------ visdom
    def _connect_visdom(self):
        server = str(getattr(self.opt, "display_server", "http://localhost"))
        if "://" not in server:
            server = "http://" + server
        port = int(getattr(self.opt, "display_port", 8097))
        env = str(getattr(self.opt, "display_env", "main"))
        where = f"{server}:{port}"
        hint = (f"visdom at {where} is not reachable; visuals go to the web page only "
                f"(start one with `python -m visdom.server -port {port}`, or pass --display_start_server)")

        host = urlparse(server).hostname or "localhost"
        if not _port_open(host, port, _VISDOM_CONNECT_TIMEOUT):
            if not getattr(self.opt, "display_start_server", False):
                print(hint)
                return None
            if host not in _LOCAL_HOSTS:
                print(f"visdom at {where} is not reachable and --display_start_server starts a server on this "
                      f"machine only; visuals go to the web page only")
                return None
            if not self._start_visdom_server(port):
                return None

        try:
            import visdom
        except Exception as e:  # not installed, or broken
            print(f"visdom cannot be imported ({type(e).__name__}: {e}); visuals go to the web page only")
            return None

        class _TimeoutVisdom(visdom.Visdom):
            # Stock visdom posts without a timeout: a server that accepts and never answers
            # would block training forever.
            request_timeout = _VISDOM_CONNECT_TIMEOUT

            def _handle_post(self, url, data=None):
                r = self.session.post(url, data=data if data is not None else {}, timeout=self.request_timeout)
                return r.text

        # visdom logs warnings about the session and the incoming socket we do not use
        logging.getLogger("visdom").setLevel(logging.ERROR)
        try:
            vis = _TimeoutVisdom(server=server, port=port, env=env, raise_exceptions=True,
                                 use_incoming_socket=False)
            if not vis.check_connection(timeout_seconds=0):
                print(hint)
                return None
        except Exception:
            print(hint)
            return None
        vis.request_timeout = _VISDOM_REQUEST_TIMEOUT
        return vis

    def _start_visdom_server(self, port):
        """Start a visdom server on 127.0.0.1:port (output to <run dir>/visdom_server.log) and
        wait until it listens; on failure say so once and return False."""
        log_path = os.path.join(self.run_dir, "visdom_server.log")
        with open(log_path, "ab") as log:
            self._visdom_server = subprocess.Popen(
                [sys.executable, "-c", _VISDOM_SERVER_CODE, "-port", str(port), "-bind_local",
                 "-logging_level", "WARNING"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=dict(os.environ, AUGAN_TRAINER_PID=str(os.getpid())))
        atexit.register(self._stop_visdom_server)  # also when training dies before close()
        deadline = time.monotonic() + _VISDOM_START_TIMEOUT
        while self._visdom_server.poll() is None and time.monotonic() < deadline:
            if _port_open("127.0.0.1", port, 0.5):
                print(f"started a visdom server at http://localhost:{port} (log: {log_path}); "
                      f"it stops when training ends")
                return True
            time.sleep(0.2)
        self._stop_visdom_server()
        print(f"could not start a visdom server on port {port} (see {log_path}); visuals go to the web page only")
        return False

    def _stop_visdom_server(self):
        server, self._visdom_server = self._visdom_server, None
        if server is None or server.poll() is not None:
            return
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    def _visdom_failed(self, e):
        print(f"visdom stopped responding ({type(e).__name__}); visuals go to the web page only from now on")
        self.vis = None

    # ------------------------------------------------------------------ wandb
    def _init_wandb(self):
        try:
            import wandb

            if wandb.run is None:
                id_file = os.path.join(self.run_dir, "wandb_id.txt")
                resume = {}
                if getattr(self.opt, "continue_train", False) and os.path.isfile(id_file):
                    with open(id_file, encoding="utf-8") as f:
                        run_id = f.read().strip()
                    if run_id:
                        resume = dict(id=run_id, resume="allow")
                run = wandb.init(project=getattr(self.opt, "wandb_project", "AU-GAN"), name=self.name, **resume)
                # A resumed run may change options (more epochs, another lr): the config follows.
                config = {k: v for k, v in vars(self.opt).items() if not k.startswith("_")}
                run.config.update(config, allow_val_change=True)
                with open(id_file, "w", encoding="utf-8") as f:
                    f.write(run.id + "\n")
                self._wandb_owned = True
            self.wandb = wandb
        except Exception as e:
            print(f"wandb could not start ({type(e).__name__}: {e}); continuing without it")
            self.wandb = None

    def _wandb_log(self, data, step):
        if self.wandb is None:
            return
        try:
            self.wandb.log(data, step=int(step))
            self._wandb_step = int(step)
        except Exception as e:
            print(f"wandb logging failed ({type(e).__name__}: {e}); continuing without it")
            self.wandb = None

    def _log_results_table(self):
        """Log the wandb table `results`: one row per epoch with that epoch's visuals as on the
        training page (the last visuals only, when no page is written)."""
        if self._last_images is None:
            return
        labels = list(self._last_images[1])
        rows = [(ep, {lb: os.path.join(self.img_dir, f"epoch{ep:03d}_{lb}.png") for lb in names})
                for ep, names in reversed(self._page_rows(labels))] if self.use_html else []
        rows = rows or [self._last_images]
        columns = list(dict.fromkeys(lb for _, images in rows for lb in images))
        try:
            table = self.wandb.Table(columns=["epoch", *columns])
            for ep, images in rows:
                table.add_data(ep, *[self.wandb.Image(images[c]) if c in images else None for c in columns])
        except Exception as e:
            print(f"wandb results table failed ({type(e).__name__}: {e}); continuing without it")
            return
        self._wandb_log({"results": table}, self._wandb_step)

    # ------------------------------------------------------------------ images
    def display_current_results(self, visuals, epoch, total_iters, save_result):
        """Show the current visuals (name -> (N,C,H,W) tensor in [-1, 1], first image used):
        in visdom, in wandb (at step total_iters) and, when save_result, on the web page
        (`web/images/epoch{epoch:03d}_{name}.png`, page rewritten newest epoch first)."""
        images = {label: util.tensor2im(t) for label, t in visuals.items() if t is not None}
        if images:
            self._last_images = (int(epoch), images)

        if self.vis is not None and images:
            self._display_visdom(images)

        if self.wandb is not None and images:
            try:
                payload = {f"visuals/{label}": self.wandb.Image(im, caption=label) for label, im in images.items()}
            except Exception as e:
                print(f"wandb image conversion failed ({type(e).__name__}: {e}); continuing without it")
                self.wandb = None
            else:
                self._wandb_log(payload, total_iters)

        if save_result and self.use_html:
            for label, im in images.items():
                util.save_image(im, os.path.join(self.img_dir, f"epoch{int(epoch):03d}_{label}.png"))
            self._write_page(list(images.keys()))

    def _display_visdom(self, images):
        # vis.images needs equal sizes; resize the odd ones to the first visual's size.
        first = next(iter(images.values()))
        h, w = first.shape[:2]
        batch = []
        for im in images.values():
            t = torch.from_numpy(im).permute(2, 0, 1).float()
            if t.shape[1:] != (h, w):
                t = torch.nn.functional.interpolate(t[None], size=(h, w), mode="bilinear", align_corners=False)[0]
            batch.append(t)
        batch = torch.stack(batch).clamp(0, 255).div(255.0).numpy()
        ncols = self.ncols if self.ncols > 0 else len(images)
        try:
            self.vis.images(batch, nrow=min(ncols, len(images)), padding=2,
                            win=f"{self.display_id}_images",
                            opts=dict(title=f"{self.name} images: " + "  ".join(images.keys())))
        except Exception as e:
            self._visdom_failed(e)

    def _page_rows(self, labels):
        """(epoch, visual names) of the page images on disk, newest epoch first, so a resumed
        run keeps its earlier rows and no row points at a missing image. Names come in the
        order of `labels`, then any that only older epochs had."""
        epochs = {}
        for fname in os.listdir(self.img_dir):
            m = _PAGE_IMAGE.match(fname)
            if m:
                epochs.setdefault(int(m.group(1)), set()).add(m.group(2))
        return [(ep, [lb for lb in labels if lb in names] + sorted(names - set(labels)))
                for ep, names in sorted(epochs.items(), reverse=True)]

    def _write_page(self, labels):
        webpage = html.HTML(self.web_dir, f"Experiment name = {self.name}", refresh=_PAGE_REFRESH_SECONDS)
        add_run_options(webpage, self.opt)
        if os.path.exists(self.plot_name):
            webpage.add_header("losses")
            # image paths are relative to web/images; the plot lives in the run folder
            rel = os.path.relpath(self.plot_name, self.img_dir)
            webpage.add_images([rel], ["loss_plot.png"], [rel], width=max(self.win_size * 2, 512))
        for ep, names in self._page_rows(labels):
            webpage.add_row(f"epoch {ep}", {lb: f"epoch{ep:03d}_{lb}.png" for lb in names}, width=self.win_size)
        webpage.save()

    # ------------------------------------------------------------------ losses
    def _restore_history(self):
        """Reload the loss points of this run's earlier sessions from loss_log.txt."""
        if not os.path.isfile(self.log_name):
            return
        for it, losses in loss_log.read_points(self.log_name)[0]:
            self._add_point(it, losses)

    def _add_point(self, x, values):
        # A point at or before the last one starts over from there (a resume from an older
        # checkpoint, or an earlier run of the same name in the log): drop what it replaces.
        while self.plot_x and self.plot_x[-1] >= x:
            self.plot_x.pop()
            for ys in self.plot_y.values():
                ys.pop()
        self.plot_x.append(x)
        n = len(self.plot_x)
        for k, v in values.items():
            ys = self.plot_y.setdefault(k, [])
            ys.extend([math.nan] * (n - 1 - len(ys)))
            ys.append(v)
        for ys in self.plot_y.values():
            ys.extend([math.nan] * (n - len(ys)))

    def plot_current_losses(self, epoch, counter_ratio, losses, total_iters):
        """Record losses at iteration total_iters; redraw the visdom loss window and log them to
        wandb at step total_iters, with `epoch` = epoch + counter_ratio (each when enabled)."""
        values = {k: _to_float(v) for k, v in losses.items()}
        self._add_point(int(total_iters), values)

        if self.vis is not None and self.plot_y:
            names = list(self.plot_y.keys())
            Y = np.stack([np.asarray(self.plot_y[k], dtype=np.float64) for k in names], axis=1)
            Y[~np.isfinite(Y)] = np.nan  # visdom draws NaN as a gap; inf would break its JSON in the browser
            X = np.repeat(np.asarray(self.plot_x, dtype=np.float64)[:, None], len(names), axis=1)
            if len(names) == 1:
                X, Y = X[:, 0], Y[:, 0]
            try:
                self.vis.line(Y=Y, X=X, win=f"{self.display_id}_losses",
                              opts=dict(title=f"{self.name} loss over time", legend=names,
                                        xlabel="iteration", ylabel="loss"))
            except Exception as e:
                self._visdom_failed(e)

        self._wandb_log({**values, "epoch": float(epoch) + float(counter_ratio)}, total_iters)

    def print_current_losses(self, epoch, iters, losses, t_comp, t_data):
        """Print one line `(epoch: E, iters: I, time: T, data: D) name: value ...` and append it
        to loss_log.txt."""
        message = loss_log.format_line(epoch, iters, t_comp, t_data, {k: _to_float(v) for k, v in losses.items()})
        print(message)
        with open(self.log_name, "a", encoding="utf-8") as log_file:
            log_file.write(message + "\n")

    def save_loss_plot(self):
        """Write `<run dir>/loss_plot.png`: one line per loss against the iteration, from the
        history collected by plot_current_losses. Does nothing before the first point."""
        if not self.plot_x:
            return
        # lazy, and through the object API with an Agg canvas so no global backend is chosen
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        x = np.asarray(self.plot_x)
        fig = Figure(figsize=(9, 4.5), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        for k, ys in self.plot_y.items():
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
        tmp = self.plot_name + ".tmp.png"
        fig.savefig(tmp, format="png")
        os.replace(tmp, self.plot_name)  # the web page may be read meanwhile

    def close(self):
        """Log the wandb results table and finish the wandb run if this visualizer started it;
        stop the visdom server it started."""
        if self.wandb is not None:
            self._log_results_table()
        if self.wandb is not None and self._wandb_owned:
            try:
                self.wandb.finish()
            except Exception as e:
                print(f"wandb finish failed ({type(e).__name__}: {e})")
        self.wandb = None
        self._wandb_owned = False
        self._stop_visdom_server()
