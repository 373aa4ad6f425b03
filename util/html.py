"""A small static HTML page of image rows, used for the training page (one row per epoch) and
the test results page (one row per input image).

Image paths given to `add_images` are relative to the page's image folder
(`<web_dir>/images`), as in CycleGAN, so a page and its images can be moved together.
"""
import os
import tempfile

import dominate
from dominate.tags import a, div, h1, h3, img, meta, p, style, table, td, tr

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 1.5em; color: #222; background: #fafafa; }
h1 { font-size: 1.4em; }
h3 { font-size: 1.05em; margin: 1.2em 0 0.3em; }
p.text { white-space: pre-wrap; font-family: ui-monospace, Menlo, Consolas, monospace;
         font-size: 0.8em; background: #f0f0f0; padding: 0.6em; border-radius: 4px; }
table.images { border-collapse: collapse; margin-bottom: 0.5em; }
table.images td { padding: 4px; vertical-align: top; text-align: center; }
table.images img { display: block; border: 1px solid #ccc; height: auto; }
div.caption { font-size: 0.85em; color: #555; padding-top: 2px; word-break: break-all; }
"""


class HTML:
    """Builds a page in memory; `save()` writes `<web_dir>/index.html` atomically."""

    def __init__(self, web_dir, title, refresh=0):
        self.title = title
        self.web_dir = web_dir
        self.img_dir = os.path.join(self.web_dir, "images")
        os.makedirs(self.img_dir, exist_ok=True)
        self._used_stems = set()

        self.doc = dominate.document(title=title)
        with self.doc.head:
            meta(charset="utf-8")
            if refresh > 0:
                meta(http_equiv="refresh", content=str(int(refresh)))
            style(_CSS)
        with self.doc:
            h1(title)

    def get_image_dir(self):
        """The folder image paths passed to `add_images` are relative to."""
        return self.img_dir

    def add_header(self, text_):
        """A section heading, e.g. 'epoch 3' or an input file name."""
        with self.doc:
            h3(text_)

    def add_text(self, text_):
        """A pre-formatted paragraph, e.g. the run's options; line breaks are kept."""
        with self.doc:
            p(text_, cls="text")

    def add_images(self, ims, txts, links, width=256):
        """Add one table row: cell i shows `ims[i]` (shrunk to `width` px, lazily loaded),
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
        html_file = os.path.join(self.web_dir, "index.html")
        fd, tmp = tempfile.mkstemp(prefix=".index.", suffix=".html.tmp", dir=self.web_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self.doc.render())
            os.chmod(tmp, 0o644)  # mkstemp makes it private; a page should be readable
            os.replace(tmp, html_file)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise


def _rel(path):
    # Paths are relative to the image folder, which sits next to index.html; URLs and
    # absolute paths are left alone.
    path = str(path)
    if "://" in path or os.path.isabs(path):
        return path
    return "images/" + path.replace(os.sep, "/")
