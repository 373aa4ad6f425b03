"""Flicker and the checkerboard in one picture: a ground-truth study's translations of a panning
clip, and their spectra (issue 29; the measures are metrics/aliasing.py's).

    python -m study.aliasing_figure --study studies/night_s1 --configs au_gan,cycle_gan --out assets/aliasing.png

(a) A clip of --frames frames, the camera panning --pan px a frame (metrics.aliasing.make_clip),
cut from one test day photo of the study's ground-truth set (--photo, default the first by name)
at the study's evaluation height, as wide as the study's clips (study.evaluation.clip_size), each
frame rendered into night with fresh noise (the photo's seed, as the study's clips). One row for
the night input, one per configuration (its A->B translations, 8-bit, by its last checkpoint or
--epoch), one for the truth. A row shows a --crop px square at the frames' centre, one image
pixel to one picture pixel, then a heat map of |frame t+1 - frame t| after undoing the pan, the
mean over the frame pairs (0 outside the overlap; one colour scale for all rows, 0 to
--change_max grey levels). A row's label is its mean change over the whole frames
(temporal_change, grey levels: the study's flicker_pan<k> of this one clip).

(b) The log10 power spectrum (metrics.aliasing.power_spectrum: Hann window, mean removed;
fftshifted, 0 cycles/px in the centre) of the night input, each configuration's translations and
the truth, the mean over --spectra test images spread evenly over the set's sorted names (the
same images in every panel; square centre crops of one size), one colour scale for all panels.
Circles mark the frequencies of a pattern repeating every 2 or 4 px. A panel's title gives
grid_ratio and grid_peak of its whole images as the study computes them
(study.evaluation.grid_scores; 1 = the truth's). Nothing is trained.
"""
import argparse
import os

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from data.ground_truth import image_seed
from inference import Translator
from metrics import aliasing
from metrics.evaluation import domain_images
from study.evaluation import clip_size, grid_scores, to_uint8, translated_pairs, true_indices
from study.figure import add_study_arguments, config_names, heat_tile, open_study
from util.errors import UserError, exit_on_user_error

PAD = 4    # px between tiles and around the picture
LINE = 14  # px: a line of text


def load_translators(evaluator, names, epoch, size):
    """(the test set at `size`, {name: (N, C, H, W) -> (N, C, H, W) in [-1, 1]}) of each configuration."""
    translators, dataset = {}, None
    for name in names:
        run_dir = os.path.join(evaluator.opt.runs_dir, name)
        if not os.path.isfile(os.path.join(run_dir, f'{epoch}_net_G_A.pth')):
            raise UserError(f'{run_dir} has no {epoch} checkpoint: name a configuration this study trained '
                            f'(--configs) and one of its eval points (--epoch iter_<n>)')
        _, dataset, model = evaluator.load(name, epoch, size)
        translator = Translator(model.netG_A, model.autocast)
        translators[name] = lambda x, t=translator, d=model.device: t(x.to(d))[0]
    return dataset, translators


def photo_index(dataset, photo):
    """The position in testB of the day photo named `photo` (file name or stem; '': the first)."""
    names = [os.path.basename(p) for p in dataset.B_paths]
    if not photo:
        return 0
    for i, name in enumerate(names):
        if photo in (name, os.path.splitext(name)[0]):
            return i
    shown = ', '.join(names[:3]) + (', ...' if len(names) > 3 else '')
    raise UserError(f'--photo {photo} is not a test day photo of {dataset.dir_B} ({len(names)} photos: {shown})')


def clip_rows(dataset, translators, task, photo, frames, pan):
    """(the photo's name, the Clip, [(label, (T, h, w, 3) frames in grey levels)]): the night input,
    each configuration's 8-bit translations and the truth (module docstring, (a))."""
    i = photo_index(dataset, photo)
    name = os.path.basename(dataset.B_paths[i])
    day = to_uint8(next(domain_images(dataset, 'B', [i]))[0])
    try:
        clip = aliasing.make_clip(day, frames, clip_size(day.shape[:2]), pan=pan, task=task, seed=image_seed(name))
    except ValueError as e:
        raise UserError(f'--pan {pan} and --frames {frames} leave no clip in {name} ({str(e).split(": ")[0]}): '
                        f'lower --pan or --frames')
    night = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 127.5 - 1
    rows = [('night input', clip.frames)]
    rows += [(label, aliasing.grey_levels(translate(night)).round()) for label, translate in translators.items()]
    return name, clip, rows + [('truth', clip.truth)]


def change_map(frames, motions):
    """|frame t+1 - frame t| after undoing motions[t], the mean over channels and over the pairs
    (H x W, grey levels; 0 where frame t does not show the point)."""
    maps = []
    for previous, next, motion in zip(frames, frames[1:], motions):
        warped, inside = aliasing.undo_motion(previous, motion, next.shape[:2])
        maps.append(np.abs(np.asarray(next, dtype=np.float64) - warped).mean(axis=-1) * inside)
    return np.mean(maps, axis=0)


def centre_crop(image, height, width):
    top, left = (image.shape[0] - height) // 2, (image.shape[1] - width) // 2
    return image[top:top + height, left:left + width]


def draw_strip(rows, motions, crop, change_max, width, header):
    """Part (a) as an RGB image `width` px wide (at least its tiles'): `header` lines, then per row
    a label line and its frames' centre crops and change map. Returns (image, {label: change})."""
    frames = len(rows[0][1])
    size = min(crop, *rows[0][1].shape[1:3])
    width = max(width, PAD + (frames + 1) * (size + PAD))
    height = PAD + LINE * len(header) + len(rows) * (LINE + size + PAD)
    canvas = Image.new('RGB', (width, height), 'white')
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default(size=11)
    for k, line in enumerate(header):
        draw.text((PAD, PAD + k * LINE), line, fill='black', font=font)
    changes, y = {}, PAD + LINE * len(header)
    for label, clip in rows:
        changes[label] = aliasing.temporal_change(clip, motions)
        draw.text((PAD, y + 1), f'{label}: mean change {changes[label]:.2f} grey levels', fill='black', font=font)
        y += LINE
        heat = heat_tile(torch.from_numpy(change_map(clip, motions))[None, None], change_max)
        tiles = [np.asarray(frame).clip(0, 255).round().astype(np.uint8) for frame in clip] + [heat]
        for k, tile in enumerate(tiles):
            canvas.paste(Image.fromarray(centre_crop(tile, size, size)), (PAD + k * (size + PAD), y))
        y += size + PAD
    return canvas, changes


def spectrum_panels(dataset, translators, num):
    """[(label, grid_scores, mean power spectrum, fftshifted)] for the night input, each
    configuration and the truth, over `num` test images spread evenly over the sorted names
    (module docstring, (b))."""
    picks = sorted({int(i) for i in np.linspace(0, len(dataset.A_paths) - 1, num).round()})
    nights = list(domain_images(dataset, 'A', picks))
    days = list(domain_images(dataset, 'B', true_indices(dataset, picks)))
    grey = lambda x: aliasing.grey_levels(x[0] * 2 - 1)  # noqa: E731  (1, C, H, W) in [0, 1] -> grey levels
    images = {'night input': [grey(night) for night, _ in translated_pairs(zip(nights, days), lambda x: x)]}
    for label, translate in translators.items():
        images[label] = [grey(fake) for fake, _ in translated_pairs(zip(nights, days), translate)]
    images['truth'] = [aliasing.grey_levels(day[0]) for day in days]
    side = min(min(x.shape[:2]) for x in images['truth']) // aliasing.GRID_PERIOD * aliasing.GRID_PERIOD
    panels = []
    for label, xs in images.items():
        power = np.mean([aliasing.power_spectrum(centre_crop(x, side, side)) for x in xs], axis=0)
        panels.append((label, grid_scores(xs, images['truth']), np.fft.fftshift(power)))
    return panels


def draw_spectra(panels, header):
    """Part (b) as an RGB array: one panel per (label, scores, spectrum), one colour scale."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    logs = [np.log10(np.maximum(power, power.max() * 1e-12)) for _, _, power in panels]
    vmin, vmax = np.percentile(np.concatenate([x.ravel() for x in logs]), [1, 99.9])
    fig = Figure(figsize=(1.75 * len(panels), 2.55), dpi=100)
    FigureCanvasAgg(fig)
    n = logs[0].shape[0]
    edge = (-n / 2 - 0.5) / n, (n / 2 - 0.5) / n  # the centres of the fftshifted bins at k/n cycles/px
    quarters = np.arange(-2, 2) / aliasing.GRID_PERIOD
    fy, fx = (a.ravel() for a in np.meshgrid(quarters, quarters, indexing='ij'))
    grid = (fy != 0) | (fx != 0)
    for k, ((label, scores, _), log) in enumerate(zip(panels, logs)):
        ax = fig.add_subplot(1, len(panels), k + 1)
        ax.imshow(log, cmap='viridis', vmin=vmin, vmax=vmax, interpolation='nearest', origin='lower',
                  extent=(edge[0], edge[1], edge[0], edge[1]))
        ax.scatter(fx[grid], fy[grid], s=40, facecolors='none', edgecolors='red', linewidths=0.7)
        ax.set_title(f'{label}\ngrid_ratio {scores["grid_ratio"]:.2f}, peak {scores["grid_peak"]:.2f}', fontsize=7.5)
        ax.set_xticks([-0.5, 0, 0.25])
        ax.set_yticks([-0.5, 0, 0.25] if k == 0 else [])
        ax.tick_params(labelsize=6.5, length=2)
        if k == 0:
            ax.set_ylabel('cycles/px', fontsize=6.5)
    fig.suptitle('\n'.join(header), fontsize=7.5)
    fig.tight_layout(pad=0.4)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3]


def aliasing_figure(study, names, epoch, photo, frames, pan, crop, change_max, spectra, out):
    """Draw the picture (module docstring) to `out`; returns ({row: mean change}, [(panel, grid_scores)])."""
    evaluator, epoch, settings = open_study(study, epoch)
    dataset, translators = load_translators(evaluator, names, epoch, settings['eval_size'])
    name, clip, rows = clip_rows(dataset, translators, evaluator.task, photo, frames, pan)
    panels = spectrum_panels(dataset, translators, spectra)
    h, w = clip.frames.shape[1:3]
    side = panels[0][2].shape[0]
    spectrum = draw_spectra(panels, [
        f'(b) log10 power spectrum, mean over {spectra} test images ({side} px centre crops), one colour scale;',
        'circles: the grid\'s periods (2 and 4 px); grid_ratio, grid_peak of the whole images (1 = the truth\'s)'])
    strip, changes = draw_strip(rows, clip.motions, crop, change_max, spectrum.shape[1], [
        f'(a) {name} at {h}x{w} px ({epoch}), panning {pan} px a frame: {frames} frames, their centre '
        f'{min(crop, h, w)} px;',
        f'last: |frame t+1 - frame t| after undoing the pan, mean over the pairs, 0-{change_max:g} grey levels'])
    canvas = Image.new('RGB', (strip.width, strip.height + spectrum.shape[0]), 'white')
    canvas.paste(strip, (0, 0))
    canvas.paste(Image.fromarray(np.ascontiguousarray(spectrum)), (0, strip.height))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    canvas.quantize(256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    return changes, [(label, scores) for label, scores, _ in panels]


@exit_on_user_error
def main(args=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_study_arguments(parser, 'comma-separated configurations (rows, panels)')
    parser.add_argument('--photo', default='', help='the test day photo (file name in <study>/data/testB, with or '
                                                    'without its extension; default: the first by name)')
    parser.add_argument('--pan', type=int, default=1, help='px a frame the camera pans (0: still)')
    parser.add_argument('--frames', type=int, default=6, help='consecutive frames shown')
    parser.add_argument('--crop', type=int, default=80, help='the side of the frames\' centre square shown, px')
    parser.add_argument('--change_max', type=float, default=40, help='the top of the change maps\' colour scale, '
                                                                      'grey levels')
    parser.add_argument('--spectra', type=int, default=4, help='test images the spectra are averaged over')
    parser.add_argument('--out', required=True, help='the PNG to write')
    opt = parser.parse_args(args)
    names = config_names(opt)
    if not names or opt.frames < 2 or opt.pan < 0 or opt.crop < 8 or opt.spectra < 1 or opt.change_max <= 0:
        raise UserError('--configs needs a configuration, --frames at least 2, --pan at least 0, --crop at least 8, '
                        '--spectra at least 1 and --change_max above 0')
    with torch.no_grad():  # not set_grad_enabled(False): main() also runs inside tests
        changes, scores = aliasing_figure(opt.study, names, opt.epoch, opt.photo, opt.frames, opt.pan, opt.crop,
                                          opt.change_max, opt.spectra, opt.out)
    print(f'wrote {opt.out}: {len(changes)} rows of {opt.frames} frames, {len(scores)} spectra')
    for (label, change), (_, score) in zip(changes.items(), scores):
        print(f'  {label}: mean change {change:.2f} grey levels, grid_ratio {score["grid_ratio"]:.3f}, '
              f'grid_peak {score["grid_peak"]:.3f}')


if __name__ == '__main__':
    main()
