"""Training-time reporting: the loss log, the training web page, a loss plot, and the optional
visdom and Weights & Biases displays. Also `save_images`, which test.py uses to fill its page.

Only rank 0 creates a Visualizer. Neither display may ever stop or stall training: an
unreachable visdom server or a failing wandb prints one line and is switched off.
"""
import logging
import math
import os
import re
import socket
import time
from urllib.parse import urlparse

import numpy as np
import torch

from . import html, util

# Seconds to wait for visdom while connecting (the check itself), and for a request later on
# (images can be large on a remote server). A server that accepts but never answers thus
# costs at most these, then visdom is switched off.
_VISDOM_CONNECT_TIMEOUT = 3.0
_VISDOM_REQUEST_TIMEOUT = 15.0
_PAGE_REFRESH_SECONDS = 60


def _format_value(v):
    # Python prints non-finite floats as nan / inf / -inf, which the log parsers expect.
    return f"{float(v):.3f}"


def _to_float(v):
    if torch.is_tensor(v):
        return float(v.detach().float().mean().item()) if v.numel() != 1 else float(v.item())
    return float(v)


def save_images(webpage, visuals, image_path, aspect_ratio=1.0, width=256):
    """Save the visuals of one test image and add a row for it to `webpage`.

    Each visual (a tensor in [-1, 1]; the first image of the batch is used) is written at full
    size to `<image dir>/<stem>_<visual name>.png`, where stem is the input's file name
    without extension (`image_path` is the batch's list of paths, or one path). A stem already
    used on this page gets a counter (`<stem>_1`, ...), so equal names from different folders
    do not overwrite each other. The row shows the images `width` px wide, captioned with the
    visual names and linked to the full-size files.
    """
    path = image_path[0] if isinstance(image_path, (list, tuple)) else image_path
    stem = webpage.unique_stem(os.path.splitext(os.path.basename(str(path)))[0])
    image_dir = webpage.get_image_dir()

    webpage.add_header(stem)
    ims, txts, links = [], [], []
    for label, im_data in visuals.items():
        if im_data is None:  # e.g. an uncertainty map the model did not produce
            continue
        image_name = f"{stem}_{label}.png"
        util.save_image(util.tensor2im(im_data), os.path.join(image_dir, image_name), aspect_ratio=aspect_ratio)
        ims.append(image_name)
        txts.append(label)
        links.append(image_name)
    webpage.add_images(ims, txts, links, width=width)


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

        # Loss history for visdom and the loss plot: x values, and per loss a y list aligned
        # with x (NaN where that loss was not reported, e.g. one added mid-run).
        self.plot_x = []
        self.plot_y = {}

        with open(self.log_name, "a", encoding="utf-8") as log_file:
            now = time.strftime("%c")
            log_file.write(f"================ Training Loss ({now}) ================\n")

        self.vis = None
        if self.display_id > 0:
            self.vis = self._connect_visdom()

        self.wandb = None
        self._wandb_owned = False
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
                f"(start one with `python -m visdom.server -p {port}`)")

        # A plain TCP probe first: refused or unroutable fails fast without visdom's retries.
        host = urlparse(server).hostname or "localhost"
        try:
            socket.create_connection((host, port), timeout=_VISDOM_CONNECT_TIMEOUT).close()
        except OSError:
            print(hint)
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

    def _visdom_failed(self, e):
        print(f"visdom stopped responding ({type(e).__name__}); visuals go to the web page only from now on")
        self.vis = None

    # ------------------------------------------------------------------ wandb
    def _init_wandb(self):
        try:
            import wandb

            if wandb.run is None:
                config = {k: v for k, v in vars(self.opt).items() if not k.startswith("_")}
                wandb.init(project=getattr(self.opt, "wandb_project", "AU-GAN"), name=self.name, config=config)
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
        except Exception as e:
            print(f"wandb logging failed ({type(e).__name__}: {e}); continuing without it")
            self.wandb = None

    # ------------------------------------------------------------------ images
    def display_current_results(self, visuals, epoch, total_iters, save_result):
        """Show the current visuals (name -> (N,C,H,W) tensor in [-1, 1], first image used):
        in visdom, in wandb (at step total_iters) and, when save_result, on the web page
        (`web/images/epoch{epoch:03d}_{name}.png`, page rewritten newest epoch first)."""
        images = {label: util.tensor2im(t) for label, t in visuals.items() if t is not None}

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

    def _write_page(self, labels):
        webpage = html.HTML(self.web_dir, f"Experiment name = {self.name}", refresh=_PAGE_REFRESH_SECONDS)
        if os.path.exists(self.plot_name):
            webpage.add_header("losses")
            # image paths are relative to web/images; the plot lives in the run folder
            rel = os.path.relpath(self.plot_name, self.img_dir)
            webpage.add_images([rel], ["loss_plot"], [rel], width=max(self.win_size * 2, 512))
        # List epochs from the files on disk, so a resumed run keeps its earlier rows and no
        # row points at a missing image.
        pattern = re.compile(r"^epoch(\d+)_(.+)\.png$")
        epochs = {}
        for fname in os.listdir(self.img_dir):
            m = pattern.match(fname)
            if m:
                epochs.setdefault(int(m.group(1)), set()).add(m.group(2))
        for ep in sorted(epochs, reverse=True):
            # current visuals first in their order, then any names only older epochs had
            names = [lb for lb in labels if lb in epochs[ep]] + sorted(epochs[ep] - set(labels))
            files = [f"epoch{ep:03d}_{lb}.png" for lb in names]
            webpage.add_header(f"epoch [{ep}]")
            webpage.add_images(files, names, files, width=self.win_size)
        webpage.save()

    # ------------------------------------------------------------------ losses
    def plot_current_losses(self, epoch, counter_ratio, losses, total_iters):
        """Record losses at x = epoch + counter_ratio; redraw the visdom loss window and log
        them to wandb at step total_iters (each when enabled)."""
        values = {k: _to_float(v) for k, v in losses.items()}
        self.plot_x.append(float(epoch) + float(counter_ratio))
        n = len(self.plot_x)
        for k, v in values.items():
            ys = self.plot_y.setdefault(k, [])
            ys.extend([math.nan] * (n - 1 - len(ys)))
            ys.append(v)
        for ys in self.plot_y.values():
            ys.extend([math.nan] * (n - len(ys)))

        if self.vis is not None and self.plot_y:
            names = list(self.plot_y.keys())
            Y = np.stack([np.asarray(self.plot_y[k], dtype=np.float64) for k in names], axis=1)
            X = np.repeat(np.asarray(self.plot_x, dtype=np.float64)[:, None], len(names), axis=1)
            if len(names) == 1:
                X, Y = X[:, 0], Y[:, 0]
            try:
                self.vis.line(Y=Y, X=X, win=f"{self.display_id}_losses",
                              opts=dict(title=f"{self.name} loss over time", legend=names,
                                        xlabel="epoch", ylabel="loss"))
            except Exception as e:
                self._visdom_failed(e)

        self._wandb_log(dict(values), total_iters)

    def print_current_losses(self, epoch, iters, losses, t_comp, t_data):
        """Print one line `(epoch: E, iters: I, time: T, data: D) name: value ...` and append it
        to loss_log.txt."""
        message = f"(epoch: {epoch}, iters: {iters}, time: {float(t_comp):.3f}, data: {float(t_data):.3f}) "
        message += " ".join(f"{k}: {_format_value(_to_float(v))}" for k, v in losses.items())
        message = message.rstrip()
        print(message)
        with open(self.log_name, "a", encoding="utf-8") as log_file:
            log_file.write(message + "\n")

    def save_loss_plot(self):
        """Write `<run dir>/loss_plot.png`: one line per loss against epoch, from the history
        collected by plot_current_losses. Does nothing before the first point."""
        if not self.plot_x:
            return
        # lazy, and through the object API with an Agg canvas so no global backend is chosen
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        x = np.asarray(self.plot_x)
        fig = Figure(figsize=(9, 4.5), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        for k, ys in self.plot_y.items():
            y = np.asarray(ys, dtype=np.float64)
            ok = np.isfinite(y)
            if ok.any():
                ax.plot(x[ok], y[ok], label=k, linewidth=1.0)
        ax.set_xlabel("epoch")
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
        """Finish the wandb run if this visualizer started it."""
        if self.wandb is not None and self._wandb_owned:
            try:
                self.wandb.finish()
            except Exception as e:
                print(f"wandb finish failed ({type(e).__name__}: {e})")
        self.wandb = None
        self._wandb_owned = False
