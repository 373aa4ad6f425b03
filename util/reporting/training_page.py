"""The training page sink: `<run dir>/web/index.html`, rebuilt whenever visuals are saved.

The page shows the run's options, the loss plot (when its file exists) and one row of visuals
per epoch, newest first, reloading itself every 60 s. The images are
`web/images/epoch<NNN>_<visual>.png`; the rows are read back from that folder, so a resumed run
keeps the rows of its earlier sessions and no row points at a missing image. `page_rows` is also
how the wandb sink finds the page's images for its results table.
"""
import os
import re

from .. import html, util
from ..result_page import add_options_files
from .reporter import Sink

_PAGE_REFRESH_SECONDS = 60
# A training-page image: web/images/epoch<NNN>_<visual>.png
_PAGE_IMAGE = re.compile(r"^epoch(\d+)_(.+)\.png$")


def page_image_name(epoch, label):
    """The file name, in the page's image folder, of visual `label` at `epoch`."""
    return f"epoch{int(epoch):03d}_{label}.png"


def page_rows(img_dir, labels):
    """(epoch, visual names) of the page images in `img_dir`, newest epoch first. Names come in
    the order of `labels`, then any that only older epochs had."""
    epochs = {}
    for fname in os.listdir(img_dir):
        m = _PAGE_IMAGE.match(fname)
        if m:
            epochs.setdefault(int(m.group(1)), set()).add(m.group(2))
    return [(ep, [lb for lb in labels if lb in names] + sorted(names - set(labels)))
            for ep, names in sorted(epochs.items(), reverse=True)]


class TrainingPage(Sink):
    """The page of run `name` in `web_dir`, with `<run_dir>/<phase>_opt.txt` as its options
    section, the plot at `plot_path`, and images `width` px wide (the plot twice that, at least
    512 px)."""

    def __init__(self, web_dir, name, run_dir, phase, plot_path, width):
        self.web_dir = web_dir
        self.img_dir = os.path.join(web_dir, "images")
        self.name = name
        self.run_dir = run_dir
        self.phase = phase
        self.plot_path = plot_path
        self.width = int(width)
        util.mkdirs([self.web_dir, self.img_dir])

    def show_visuals(self, images, epoch, total_iters, save_result):
        if not save_result:
            return
        for label, im in images.items():
            util.save_image(im, os.path.join(self.img_dir, page_image_name(epoch, label)))
        self._write(list(images.keys()))

    def _write(self, labels):
        webpage = html.HTML(self.web_dir, f"Experiment name = {self.name}", refresh=_PAGE_REFRESH_SECONDS)
        add_options_files(webpage, self.run_dir, [self.phase])
        if os.path.exists(self.plot_path):
            webpage.add_header("losses")
            # image paths are relative to web/images; the plot lives in the run folder
            rel = os.path.relpath(self.plot_path, self.img_dir)
            webpage.add_images([rel], [os.path.basename(self.plot_path)], [rel], width=max(self.width * 2, 512))
        for ep, names in page_rows(self.img_dir, labels):
            webpage.add_row(f"epoch {ep}", {lb: page_image_name(ep, lb) for lb in names}, width=self.width)
        webpage.save()
