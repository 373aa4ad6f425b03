"""The visdom sink: the current visuals in one image window and the loss curves of a
`LossHistory` in one line window, on a visdom server.

It may never stop or stall training. The server is probed (TCP, a few seconds at most) when the
sink is made; unreachable, it prints one line and stays off (with `start_server`, a local server
is started first: visdom_server.py). Requests time out, and a failing one prints one line and
switches visdom off for the rest of the run.
"""
import logging
from urllib.parse import urlparse

import numpy as np
import torch

from .reporter import Sink
from .visdom_server import VisdomServer, port_open

# Seconds to wait for visdom while connecting (the check itself), and for a request later on
# (images can be large on a remote server). A server that accepts but never answers thus
# costs at most these, then visdom is switched off.
CONNECT_TIMEOUT = 3.0
REQUEST_TIMEOUT = 15.0
# Hosts start_server may start a server for.
_LOCAL_HOSTS = ("localhost", "127.0.0.1")


class VisdomDisplay(Sink):
    """Windows `<display_id>_images` and `<display_id>_losses` of environment `env` at
    `server`:`port`, titled after run `name`, images `ncols` to a row (0: all in one). With
    `start_server`, a server is started on this machine when none answers, its output in
    `server_log`. `client` is the visdom client, None while visdom is off."""

    def __init__(self, server, port, env, display_id, name, ncols, history, start_server=False, server_log=None):
        self.display_id = int(display_id)
        self.name = name
        self.ncols = int(ncols)
        self.history = history
        self.server = None  # the VisdomServer this sink started, if any
        self.client = self._connect(str(server), int(port), str(env), start_server, server_log)

    def _connect(self, server, port, env, start_server, server_log):
        if "://" not in server:
            server = "http://" + server
        where = f"{server}:{port}"
        hint = (f"visdom at {where} is not reachable; visuals go to the web page only "
                f"(start one with `python -m visdom.server -port {port}`, or pass --display_start_server)")

        host = urlparse(server).hostname or "localhost"
        if not port_open(host, port, CONNECT_TIMEOUT):
            if not start_server:
                print(hint)
                return None
            if host not in _LOCAL_HOSTS:
                print(f"visdom at {where} is not reachable and --display_start_server starts a server on this "
                      f"machine only; visuals go to the web page only")
                return None
            self.server = VisdomServer(port, server_log)
            if not self.server.start():
                self.server = None
                return None

        try:
            import visdom
        except Exception as e:  # not installed, or broken
            print(f"visdom cannot be imported ({type(e).__name__}: {e}); visuals go to the web page only")
            return None

        class _TimeoutVisdom(visdom.Visdom):
            # Stock visdom posts without a timeout: a server that accepts and never answers
            # would block training forever.
            request_timeout = CONNECT_TIMEOUT

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
        vis.request_timeout = REQUEST_TIMEOUT
        return vis

    def _failed(self, e):
        print(f"visdom stopped responding ({type(e).__name__}); visuals go to the web page only from now on")
        self.client = None

    def show_visuals(self, images, epoch, total_iters, save_result):
        if self.client is None or not images:
            return
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
            self.client.images(batch, nrow=min(ncols, len(images)), padding=2,
                               win=f"{self.display_id}_images",
                               opts=dict(title=f"{self.name} images: " + "  ".join(images.keys())))
        except Exception as e:
            self._failed(e)

    def plot_losses(self, epoch, counter_ratio, losses, total_iters):
        """Redraw the loss window with the whole history (which already holds this point)."""
        if self.client is None or not self.history.y:
            return
        names = list(self.history.y.keys())
        Y = np.stack([np.asarray(self.history.y[k], dtype=np.float64) for k in names], axis=1)
        Y[~np.isfinite(Y)] = np.nan  # visdom draws NaN as a gap; inf would break its JSON in the browser
        X = np.repeat(np.asarray(self.history.x, dtype=np.float64)[:, None], len(names), axis=1)
        if len(names) == 1:
            X, Y = X[:, 0], Y[:, 0]
        try:
            self.client.line(Y=Y, X=X, win=f"{self.display_id}_losses",
                             opts=dict(title=f"{self.name} loss over time", legend=names,
                                       xlabel="iteration", ylabel="loss"))
        except Exception as e:
            self._failed(e)

    def close(self):
        """Stop the server this sink started."""
        if self.server is not None:
            self.server.stop()
