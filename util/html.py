"""A small static HTML page of images, used for the training page (one row per epoch) and the
test results page (one row per input image).

A page has a title, optional collapsible sections (the run's options), free rows of images
(`add_images`, e.g. the loss plot) and one image grid (`add_row`): a table whose columns are the
visual names, with a sticky header, one labelled row per image or epoch, and for heat-map
columns a colour-bar legend in the header (`add_legend`).

Image paths given to `add_images` and `add_row` are relative to the page's image folder
(`<web_dir>/images`), as in CycleGAN, so a page and its images can be moved together. Every
image links to its full-size file.
"""
import os

import dominate
from dominate.tags import (a, details, div, h1, h3, img, meta, p, pre, span, style, summary, table, tbody, td, th,
                           thead, tr)

from . import atomic, util

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 1.5em; color: #222; background: #fafafa; }
h1 { font-size: 1.4em; }
h3 { font-size: 1.05em; margin: 1.2em 0 0.3em; }
p.text, pre { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.8em;
              background: #f0f0f0; padding: 0.6em; border-radius: 4px; }
p.text { white-space: pre-wrap; }
pre { overflow-x: auto; margin: 0.4em 0 0; }
details { margin: 0.3em 0; }
summary { cursor: pointer; color: #444; }
table.images { border-collapse: collapse; margin-bottom: 0.5em; }
table.images td { padding: 4px; vertical-align: top; text-align: center; }
table.images img, table.grid img { display: block; border: 1px solid #ccc; height: auto; }
table.grid { border-collapse: collapse; margin-top: 1em; }
table.grid thead th { position: sticky; top: 0; background: #fafafa; z-index: 1; font-weight: 600;
                      font-size: 0.9em; padding: 6px 4px; border-bottom: 2px solid #ccc; vertical-align: bottom; }
table.grid tbody th { font-weight: normal; font-size: 0.85em; text-align: right; padding: 4px 8px;
                      vertical-align: middle; white-space: nowrap; color: #444; }
table.grid td { padding: 4px; vertical-align: top; text-align: center; }
table.grid tbody tr { border-bottom: 1px solid #e4e4e4; }
div.caption { font-size: 0.85em; color: #555; padding-top: 2px; word-break: break-all; }
div.legend { display: flex; flex-wrap: wrap; justify-content: space-between; font-weight: normal;
             font-size: 0.8em; color: #555; margin-top: 4px; }
div.legend div.bar { flex: 0 0 100%; height: 10px; border: 1px solid #999; margin: 2px 0;
                     box-sizing: border-box; }
"""


class HTML:
    """Builds a page in memory; `save()` writes `<web_dir>/index.html` atomically."""

    def __init__(self, web_dir, title, refresh=0):
        self.title = title
        self.web_dir = web_dir
        self.img_dir = os.path.join(self.web_dir, "images")
        os.makedirs(self.img_dir, exist_ok=True)
        self._used_stems = set()
        # The image grid, created by the first add_row: its header row, its columns in order
        # (name -> header cell) and the legends of heat-map columns, which may be announced
        # before their column exists.
        self._grid_head = None
        self._grid_body = None
        self._columns = {}
        self._legends = {}

        self.doc = dominate.document(title=title)
        with self.doc.head:
            meta(charset="utf-8")
            if refresh > 0:
                meta(http_equiv="refresh", content=str(int(refresh)))
            style(_CSS)
        with self.doc:
            h1(title)

    def get_image_dir(self):
        """The folder image paths passed to `add_images` and `add_row` are relative to."""
        return self.img_dir

    def add_header(self, text_):
        """A section heading, e.g. 'losses'."""
        with self.doc:
            h3(text_)

    def add_text(self, text_):
        """A pre-formatted paragraph; line breaks are kept."""
        with self.doc:
            p(text_, cls="text")

    def add_options(self, text_, title):
        """A collapsed section `title` that opens on `text_` verbatim (e.g. a run's options)."""
        with self.doc:
            with details(cls="options"):
                summary(title)
                pre(text_)

    def add_images(self, ims, txts, links, width=256):
        """Add a free row of images: cell i shows `ims[i]` (shrunk to `width` px, lazily loaded),
        links to `links[i]` and is captioned `txts[i]`."""
        if not (len(ims) == len(txts) == len(links)):
            raise ValueError(f"add_images needs as many images, captions and links, got {len(ims)}, {len(txts)}, {len(links)}")
        with self.doc:
            with table(cls="images"):
                with tr():
                    for im, txt, link in zip(ims, txts, links):
                        with td(style=f"width:{int(width)}px"):
                            with a(href=_rel(link)):
                                img(src=_rel(im), style=f"width:{int(width)}px", loading="lazy", alt=str(txt))
                            div(str(txt), cls="caption")

    def add_legend(self, column, low, high):
        """Show a colour bar of the heat-map colours under the header of grid column `column`,
        labelled `low` at the dark end and `high` at the bright end. Does nothing visible unless
        the column appears in a row."""
        self._legends[column] = (str(low), str(high))
        if column in self._columns:
            self._fill_legend(self._columns[column], column)

    def add_row(self, name, images, captions=None, width=256):
        """Add a row `name` to the image grid: `images` maps column (visual name) -> image path,
        shown `width` px wide and linked to the full-size file; `captions` optionally maps a
        column to a text shown under its image. Columns are created in first-seen order."""
        captions = captions or {}
        if self._grid_body is None:
            with self.doc:
                with table(cls="grid"):
                    with thead():
                        self._grid_head = tr(th(""))
                    self._grid_body = tbody()
        for column in images:
            if column not in self._columns:
                cell = self._columns[column] = self._grid_head.add(th(column))
                if column in self._legends:
                    self._fill_legend(cell, column)
        row = self._grid_body.add(tr(th(str(name), scope="row")))
        for column in self._columns:
            cell = row.add(td())
            if column not in images:
                continue
            src = _rel(images[column])
            with cell:
                with a(href=src):
                    img(src=src, style=f"width:{int(width)}px", loading="lazy", alt=f"{name} {column}")
                if captions.get(column):
                    div(str(captions[column]), cls="caption")

    def _fill_legend(self, cell, column):
        low, high = self._legends[column]
        with cell:
            with div(cls="legend"):
                div(cls="bar", style=f"background: {util.heatmap_css_gradient()}")
                span(low, cls="low")
                span(high, cls="high")

    def unique_stem(self, stem):
        """Return `stem`, or `stem_1`, `stem_2`, ... if already claimed on this page, and claim
        it: two inputs with the same file name must not overwrite each other's images."""
        candidate, k = stem, 0
        while candidate in self._used_stems:
            k += 1
            candidate = f"{stem}_{k}"
        self._used_stems.add(candidate)
        return candidate

    def save(self):
        """Write `<web_dir>/index.html` via a temporary file so readers never see half a page."""
        atomic.write_text(os.path.join(self.web_dir, "index.html"), self.doc.render())


def _rel(path):
    # Paths are relative to the image folder, which sits next to index.html; URLs and
    # absolute paths are left alone.
    path = str(path)
    if "://" in path or os.path.isabs(path):
        return path
    return "images/" + path.replace(os.sep, "/")
