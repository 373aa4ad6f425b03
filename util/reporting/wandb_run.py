"""The Weights & Biases sink: losses and visuals logged to a wandb run at the training
iteration, and at the end a `results` table, one row per epoch with that epoch's visuals as on
the training page (the last visuals only, when no page is written).

It may never stop training: wandb missing or failing to start or to log prints one line and the
sink switches itself off. A run is resumed (`resume`, i.e. --continue_train) through the id kept
in `id_file`; a wandb run already open in this process is used as is and left open.
"""
import os

from .reporter import Sink
from .training_page import page_image_name, page_rows


class WandbRun(Sink):
    """Run `name` of `project`, with `config` ({option: value}) as its config; `page_image_dir`:
    the training page's image folder (None without a page). `wandb` is the wandb module, None
    while the sink is off."""

    def __init__(self, project, name, id_file, config, resume=False, page_image_dir=None):
        self.page_image_dir = page_image_dir
        os.makedirs(os.path.dirname(os.path.abspath(id_file)), exist_ok=True)
        self.owned = False  # whether this sink started the run (and so finishes it)
        self.step = 0
        # The last visuals shown, (epoch, {name: image}): the column order of the results table,
        # and its one row when no web page is written.
        self.last_images = None
        self.wandb = self._start(project, name, id_file, config, resume)

    def _start(self, project, name, id_file, config, resume):
        try:
            import wandb

            if wandb.run is None:
                kwargs = {}
                if resume and os.path.isfile(id_file):
                    with open(id_file, encoding="utf-8") as f:
                        run_id = f.read().strip()
                    if run_id:
                        kwargs = dict(id=run_id, resume="allow")
                run = wandb.init(project=project, name=name, **kwargs)
                # A resumed run may change options (more epochs, another lr): the config follows.
                run.config.update(config, allow_val_change=True)
                with open(id_file, "w", encoding="utf-8") as f:
                    f.write(run.id + "\n")
                self.owned = True
            return wandb
        except Exception as e:
            print(f"wandb could not start ({type(e).__name__}: {e}); continuing without it")
            return None

    def _log(self, data, step):
        if self.wandb is None:
            return
        try:
            self.wandb.log(data, step=int(step))
            self.step = int(step)
        except Exception as e:
            print(f"wandb logging failed ({type(e).__name__}: {e}); continuing without it")
            self.wandb = None

    def plot_losses(self, epoch, counter_ratio, losses, total_iters):
        self._log({**losses, "epoch": float(epoch) + float(counter_ratio)}, total_iters)

    def show_visuals(self, images, epoch, total_iters, save_result):
        if images:
            self.last_images = (int(epoch), images)
        if self.wandb is None or not images:
            return
        try:
            payload = {f"visuals/{label}": self.wandb.Image(im, caption=label) for label, im in images.items()}
        except Exception as e:
            print(f"wandb image conversion failed ({type(e).__name__}: {e}); continuing without it")
            self.wandb = None
        else:
            self._log(payload, total_iters)

    def _log_results_table(self):
        if self.last_images is None:
            return
        labels = list(self.last_images[1])
        rows = [(ep, {lb: os.path.join(self.page_image_dir, page_image_name(ep, lb)) for lb in names})
                for ep, names in reversed(page_rows(self.page_image_dir, labels))] if self.page_image_dir else []
        rows = rows or [self.last_images]
        columns = list(dict.fromkeys(lb for _, images in rows for lb in images))
        try:
            table = self.wandb.Table(columns=["epoch", *columns])
            for ep, images in rows:
                table.add_data(ep, *[self.wandb.Image(images[c]) if c in images else None for c in columns])
        except Exception as e:
            print(f"wandb results table failed ({type(e).__name__}: {e}); continuing without it")
            return
        self._log({"results": table}, self.step)

    def close(self):
        """Log the results table and finish the run if this sink started it."""
        if self.wandb is not None:
            self._log_results_table()
        if self.wandb is not None and self.owned:
            try:
                self.wandb.finish()
            except Exception as e:
                print(f"wandb finish failed ({type(e).__name__}: {e})")
        self.wandb = None
        self.owned = False
