"""What goes on a run's pages besides util/html.py's page machinery: a test image's row of
visuals (`save_images`, test.py's results page) and the run's resolved options as collapsed
sections (`add_run_options` from the options, `add_options_files` from plain arguments; the
training page uses the latter).
"""
import os

from . import util


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
    phases = [opt.phase] if opt.isTrain else [opt.phase, "train"]
    add_options_files(webpage, os.path.join(opt.checkpoints_dir, opt.name), phases)


def add_options_files(webpage, run_dir, phases):
    """Add `<run_dir>/<phase>_opt.txt` of each phase that has one as a collapsed section."""
    for ph in dict.fromkeys(phases):  # testing with --phase train must not list it twice
        path = os.path.join(run_dir, f"{ph}_opt.txt")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                webpage.add_options(f.read(), f"{ph} options ({ph}_opt.txt)")
