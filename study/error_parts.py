"""Where a translation's error against the truth lies: in its global colours, in fine detail, or
in the scene itself.

For every translation in --fakes and the true day photo of the same name in --truth (a
ground-truth set's testB, scaled to the translation's size), the mean PSNR of
- `raw`: the translation as it is (what the study reports);
- `affine`: after the best per-channel affine colour map of the translation onto the truth, per
  image (least squares): what a global colour and brightness correction would win;
- `tone curve`: the same with a cubic per-channel curve: any global tone mapping;
- `blurred`: both blurred alike (Gaussian, --blur px): what is lost in detail finer than that.
What none of them wins is the scene painted wrong at a coarser scale than --blur. The exact
inverse of the rendering, scored the same way, shows how far each step can go.

    python scripts/convert.py --name RUN --checkpoints_dir DIR --epoch iter_6000 --input SET/testA \
        --results_dir FAKES --load_size 64 --preprocess scale_height
    python -m study.error_parts --fakes FAKES/<name> --truth SET/testB [--inverse SET/testA]
"""
import argparse
import os

import numpy as np
import torch
from PIL import Image, ImageFilter

from data.ground_truth import IMAGE_EXTENSIONS, exact_inverse
from metrics import psnr
from util.errors import UserError, exit_on_user_error

PARTS = ('raw', 'affine', 'tone curve', 'blurred')


def load(path, size=None):
    """An image as float64 HxWx3 in [0, 1], scaled to `size` (w, h) if given."""
    image = Image.open(path).convert('RGB')
    if size and image.size != size:
        image = image.resize(size, Image.BICUBIC)
    return np.asarray(image, dtype=np.float64) / 255.0


def fitted(x, y, degree):
    """x mapped onto y by the least-squares polynomial of `degree` per channel, clipped to [0, 1]."""
    out = np.empty_like(x)
    for c in range(x.shape[-1]):
        out[..., c] = np.polyval(np.polyfit(x[..., c].ravel(), y[..., c].ravel(), degree), x[..., c])
    return np.clip(out, 0.0, 1.0)


def blurred(x, radius):
    image = Image.fromarray((x * 255.0).round().astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius))
    return np.asarray(image, dtype=np.float64) / 255.0


def db(x, y):
    as_batch = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None]  # noqa: E731
    return float(psnr(as_batch(x), as_batch(y))[0])


def parts(fake, truth, blur):
    """{part: PSNR dB} of one translation against its truth (same size, HxWx3 in [0, 1])."""
    return {'raw': db(fake, truth), 'affine': db(fitted(fake, truth, 1), truth),
            'tone curve': db(fitted(fake, truth, 3), truth), 'blurred': db(blurred(fake, blur), blurred(truth, blur))}


def error_parts(fakes, truth, blur=2.0, inverse=None):
    """{part: mean PSNR dB} over the translations in folder `fakes`; with `inverse` (the night
    images, testA), the exact inverse of each night image at the translation's size instead."""
    names = sorted(n for n in os.listdir(fakes) if n.lower().endswith(IMAGE_EXTENSIONS))
    by_stem = {os.path.splitext(n)[0]: n for n in os.listdir(truth) if n.lower().endswith(IMAGE_EXTENSIONS)}
    if not names:
        raise UserError(f'no images in {fakes}: convert the test night images into it first (see --help)')
    rows = []
    for name in names:
        stem = os.path.splitext(name)[0]
        if stem not in by_stem:
            raise UserError(f'{os.path.join(fakes, name)} has no day photo named {stem}.* in {truth}: '
                            f'--truth is the testB of the ground-truth set the translations came from')
        fake = load(os.path.join(fakes, name))
        size = (fake.shape[1], fake.shape[0])
        if inverse:
            night = os.path.join(inverse, by_stem[stem])
            fake = exact_inverse(load(night, size))
        rows.append(parts(fake, load(os.path.join(truth, by_stem[stem]), size), blur))
    return {p: float(np.mean([r[p] for r in rows])) for p in PARTS}, len(rows)


@exit_on_user_error
def main(args=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0].rstrip(',') + ' ...',
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--fakes', required=True, help='folder of translations of the test night images')
    parser.add_argument('--truth', required=True, help="the ground-truth set's testB (the true day photos)")
    parser.add_argument('--inverse', default=None,
                        help="the ground-truth set's testA: also score the exact inverse of the rendering")
    parser.add_argument('--blur', type=float, default=2.0, help='Gaussian blur radius in px for `blurred`')
    opt = parser.parse_args(args)
    for folder in (opt.fakes, opt.truth, opt.inverse):
        if folder and not os.path.isdir(folder):
            raise UserError(f'{folder} is not a folder')
    rows = [('translation', *error_parts(opt.fakes, opt.truth, opt.blur))]
    if opt.inverse:
        rows.append(('exact inverse', *error_parts(opt.fakes, opt.truth, opt.blur, opt.inverse)))
    print('| scored | images | ' + ' | '.join(f'{p} dB' for p in PARTS) + ' |')
    print('|---|---|' + '---|' * len(PARTS))
    for label, means, n in rows:
        print(f'| {label} | {n} | ' + ' | '.join(f'{means[p]:.2f}' for p in PARTS) + ' |')


if __name__ == '__main__':
    main()
