"""A translation task with a known answer: day photos rendered into night by a fixed function.

Real night/day sets have no right answer to score a translation against. This one has: every
night image is rendered from a day photo, so the day photo is the truth its translation should
give back. The rendering is global and simple on purpose (the easiest translation there is):

    night = clip(GAIN * TINT * day ** GAMMA + n, 0, 1),   n ~ N(0, NOISE_STD^2) per pixel,

in [0, 1] per channel, then quantised to 8 bits: darker, bluer, with sensor-like noise. Its
`exact_inverse` undoes everything but the noise and the quantisation, which no method can know;
it is the ceiling of the task, and the untouched night image is the floor.

Two tasks (`TASKS`): `night`, the rendering above, and `rainy` (data/rain.py): the same night
look plus drops on the lens, glare and rain streaks that hide part of the scene, and stronger,
signal-dependent noise. A rainy test image comes with the mask of the pixels whose content was
hidden, in masks/testA/<name>.png (white: hidden), outside the folders a dataset reads.

`make_ground_truth_set(source, dest, task=...)` lays the set out for `--dataroot`: the day photos of
source/trainB are split in two halves by name order (even positions stay day in trainB, odd
ones are rendered into trainA), so training is unpaired and no training night image has its day
image among the training day images; every photo of source/testB is kept in testB and rendered
into testA under the same name, so the test set is paired. Images are first scaled to
`height` px high, so that the noise has the size it has at training resolution. A
`ground_truth.json` in the set records the rendering and its task; `is_ground_truth_set` looks
for it, `task_of` reads the task, `hidden_mask` reads a test image's mask.
"""
import json
import os
import zlib

import numpy as np
from PIL import Image

from util import atomic
from util.errors import UserError

GAIN = 0.3
GAMMA = 1.5
TINT = (0.8, 0.9, 1.25)  # red, green, blue: night light is bluer
NOISE_STD = 0.015         # about 4 grey levels
MARKER = 'ground_truth.json'
TASKS = ('night', 'rainy')
MASKS = os.path.join('masks', 'testA')  # in the set: the rainy task's hidden pixels of each test image
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.webp')


def render_night(day, seed):
    """The night image (HxWx3 uint8) of a day photo (HxWx3 uint8); the noise is drawn from `seed`."""
    x = np.asarray(day, dtype=np.float64) / 255.0
    rng = np.random.default_rng(seed)
    night = GAIN * np.asarray(TINT) * x ** GAMMA + rng.normal(0.0, NOISE_STD, x.shape)
    return (np.clip(night, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def exact_inverse(night):
    """The day image the rendering came from, as far as it can be known: the rendering undone on
    a night image, noise and all. Arrays in [0, 1] (any shape ending in 3 channels, or a torch
    tensor (N, 3, H, W)) come back in [0, 1]; uint8 HxWx3 arrays come back as uint8."""
    if hasattr(night, 'permute'):  # torch (N, 3, H, W)
        tint = night.new_tensor(TINT).view(1, 3, 1, 1)
        return (night / (GAIN * tint)).clamp(0, 1) ** (1 / GAMMA)
    if np.asarray(night).dtype == np.uint8:
        x = np.asarray(night, dtype=np.float64) / 255.0
        return (exact_inverse(x) * 255.0).round().astype(np.uint8)
    x = np.asarray(night, dtype=np.float64)
    return np.clip(x / (GAIN * np.asarray(TINT)), 0.0, 1.0) ** (1 / GAMMA)


def image_seed(name):
    """A stable per-file seed (the same on every machine and Python run)."""
    return zlib.crc32(name.encode('utf-8'))


def scaled(path, height):
    image = Image.open(path).convert('RGB')
    if height and image.height != height:
        width = max(1, round(image.width * height / image.height))
        image = image.resize((width, height), Image.BICUBIC)
    return np.asarray(image)


def _photos(folder):
    if not os.path.isdir(folder):
        raise FileNotFoundError(folder)
    return sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))


def _save(array, path):
    Image.fromarray(array).save(path)


def render(task, day, seed):
    """(night image uint8, mask of the hidden pixels or None) of a day photo for `task`."""
    if task == 'night':
        return render_night(day, seed), None
    from data.rain import render_rainy  # here, not at the top: data.rain imports this module's night look
    return render_rainy(day, seed)


def make_ground_truth_set(source, dest, height=256, progress=None, task='night'):
    """Render the set of `task` from source/trainB and source/testB into dest (see the module
    docstring). Returns the number of images written per folder. An existing complete set is left
    as it is, if it is of the same task."""
    if task not in TASKS:
        raise ValueError(f'unknown ground-truth task {task!r}: one of {", ".join(TASKS)}')
    if is_ground_truth_set(dest):
        if task_of(dest) != task:
            raise UserError(f'{dest} holds the {task_of(dest)} ground-truth set, not the {task} one: choose another '
                            f'folder')
        return {d: len(_photos(os.path.join(dest, d))) for d in ('trainA', 'trainB', 'testA', 'testB')}
    train, test = _photos(os.path.join(source, 'trainB')), _photos(os.path.join(source, 'testB'))
    jobs = [('trainB', 'trainB', name, False) for name in train[0::2]]
    jobs += [('trainB', 'trainA', name, True) for name in train[1::2]]
    jobs += [('testB', 'testB', name, False) for name in test]
    jobs += [('testB', 'testA', name, True) for name in test]
    for folder in ('trainA', 'trainB', 'testA', 'testB') + ((MASKS,) if task != 'night' else ()):
        os.makedirs(os.path.join(dest, folder), exist_ok=True)
    for k, (src, dst, name, night) in enumerate(jobs):
        day = scaled(os.path.join(source, src, name), height)
        stem = os.path.splitext(name)[0] + '.png'
        out, mask = render(task, day, image_seed(name)) if night else (day, None)
        _save(out, os.path.join(dest, dst, stem))
        if mask is not None and dst == 'testA':
            _save((mask * 255).astype(np.uint8), os.path.join(dest, MASKS, stem))
        if progress:
            progress(k + 1, len(jobs))
    record = {'task': task, 'source': os.path.abspath(source), 'height': height, 'seeds': 'crc32 of the file name',
              'split': 'trainB: even positions of source/trainB by name; trainA: the odd ones rendered; '
                       'testB: source/testB; testA: the same photos rendered, same names'}
    if task == 'night':
        record.update(gain=GAIN, gamma=GAMMA, tint=TINT, noise_std=NOISE_STD)
    else:
        record.update(rendering='data/rain.py', masks=MASKS.replace(os.sep, '/'))
    atomic.write_text(os.path.join(dest, MARKER), json.dumps(record, indent=1) + '\n')
    return {d: len(_photos(os.path.join(dest, d))) for d in ('trainA', 'trainB', 'testA', 'testB')}


def is_ground_truth_set(dataroot):
    return os.path.isfile(os.path.join(dataroot, MARKER))


def task_of(dataroot):
    """The task a ground-truth set was rendered for ('night' for sets made before there were two)."""
    with open(os.path.join(dataroot, MARKER), encoding='utf-8') as f:
        return json.load(f).get('task', 'night')


def hidden_mask(dataroot, night_path):
    """The mask (HxW bool) of the hidden pixels of a rainy test image, by its file name; None when
    the set has no masks (the night task)."""
    if not os.path.isdir(os.path.join(dataroot, MASKS)):
        return None
    path = os.path.join(dataroot, MASKS, os.path.splitext(os.path.basename(night_path))[0] + '.png')
    if not os.path.isfile(path):
        raise UserError(f'{night_path} has no mask {path}: remake the set with scripts/study.py --ground_truth rainy')
    return np.asarray(Image.open(path).convert('L')) >= 128
