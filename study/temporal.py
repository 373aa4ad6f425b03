"""Does `--temporal` (inference/temporal.py) hold a converted video still without smearing it?
Measured on clips with a known answer, the way the aliasing study measures flicker
(metrics/aliasing.py), with a ground-truth study's trained models.

    python -m study.temporal --study studies/rainy_s1 --configs au_gan,cycle_gan --out docs/study/rainy/temporal_seed1

The clips, --frames frames each, are cut from the first --photos test day photos (by name) of the
study's ground-truth set at its evaluation height, every frame rendered for the study's task with
fresh noise (and, on the rainy task, fresh rain): (a) the camera still, panning 1, 2 and 4 px a
frame, and zooming in by 1% a frame; (b) a square a quarter of the frame high moving OBJECT_STEP px
a frame over a still scene (drawn into the day photo before the rendering): where a filter that follows
only the camera would leave a trail; (c) a scene cut: half the frames from one photo, half from
the next (mirrored: another view), still.

Every configuration's A->B translations (8 bits, as a video stores them) are filtered at each
--temporal_strengths value (0: no filter, the translation itself) with the flow estimated on the input
frames, once per clip. Scores:
- flicker: metrics.aliasing.temporal_change under the known motion, grey levels (the truth's is 0
  for the pans and the still camera; bilinear resampling gives the zoom's truth a little);
- PSNR: metrics.aliasing.clip_psnr of the frames against their truth, dB;
- object PSNR: (b)'s frames 4 on against their truth over the pixels the square covers now or
  covered in the 3 frames before (a trail lies there);
- cut: (c)'s cuts found (1 is right) and the PSNR of the frames after the cut; false cuts: the
  cuts found in (a) and (b), which have none;
- filter s/frame: the filter's seconds per frame on this machine, its flow included (the flows are
  estimated once per clip and shared by every configuration and strength; their time is added).
Writes temporal.csv (one row per configuration, strength and clip), temporal.md (the tables, the
command) and temporal.png (a strip of consecutive frames of a still clip and of the moving
square: the input, each configuration's translation, filtered at --show_strength, and the truth,
with the change maps). Nothing is trained.
"""
import argparse
import csv
import math
import os
import sys
import time

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from data.ground_truth import image_seed, render
from inference.temporal import TemporalFilter
from metrics import aliasing
from metrics.evaluation import domain_images
from options.convert_options import TEMPORAL_CUT, TEMPORAL_FLOW_SIZE, TEMPORAL_STRENGTH, TEMPORAL_TOLERANCE
from study.aliasing_figure import draw_strip, load_translators
from study.evaluation import to_uint8
from study.figure import add_study_arguments, config_names, open_study
from util.errors import UserError, exit_on_user_error
from util.flow import robust_flow

MOTIONS = [('still', 0, 1.0), ('pan 1', 1, 1.0), ('pan 2', 2, 1.0), ('pan 4', 4, 1.0), ('zoom', 0, 1.01)]
OBJECT_STEP = 3                   # px a frame; the square's side is a quarter of the frame's height
OBJECT_COLOUR = (200, 40, 30)     # a red car, in the day photo
TRAIL = 3                         # frames behind the square whose place its score includes
COLUMNS = ['config', 'strength', 'clip', 'flicker', 'psnr', 'cuts', 'object_psnr', 'seconds_per_frame']


def object_clip(day, frames, size, task, seed):
    """Clip (b): the camera still on the centre of `day`, a square moving right across it; and the
    (T, h, w) masks of the pixels the square covers in each truth frame."""
    window = aliasing.clip_windows(day.shape[:2], frames, size)[0]
    base = aliasing.cut(day, window, size)
    h, w = size
    side = h // 4
    top = (h - side) // 2
    truths, masks = [], []
    for t in range(frames):
        left = (w - side) // 2 + (t - frames // 2) * OBJECT_STEP  # past the centre halfway through
        if left < 0 or left + side > w:
            raise UserError(f'frames {w} px wide leave no room for a square moving {OBJECT_STEP} px a frame over '
                            f'{frames} frames: lower --frames')
        frame, mask = base.copy(), np.zeros((h, w), dtype=bool)
        mask[top:top + side, left:left + side] = True
        frame[mask] = OBJECT_COLOUR
        truths.append(frame)
        masks.append(mask)
    night = np.stack([render(task, truth, seed + t)[0] for t, truth in enumerate(truths)])
    still = aliasing.Motion(1.0, 0.0, 0.0)
    return aliasing.Clip(night, np.stack(truths), [window] * frames, [still] * (frames - 1)), np.stack(masks)


def cut_clip(days, frames, size, task, seeds):
    """Clip (c): frames // 2 still frames of days[0], then the rest of days[1] mirrored left to
    right (a set of webcam photos may show one view again and again: mirrored, it is another)."""
    first = aliasing.make_clip(days[0], frames // 2, size, task=task, seed=seeds[0])
    second = aliasing.make_clip(np.ascontiguousarray(days[1][:, ::-1]), frames - frames // 2, size, task=task,
                                seed=seeds[1])
    return aliasing.Clip(np.concatenate([first.frames, second.frames]), np.concatenate([first.truth, second.truth]),
                         first.windows + second.windows, first.motions + [None] + second.motions)


def make_clips(dataset, task, photos, frames):
    """{(photo name, clip label): (Clip, object masks or None)} of the clips (module docstring)."""
    count = min(photos + 1, len(dataset.B_paths))
    if count < 2:
        raise UserError(f'{dataset.dir_B} has {len(dataset.B_paths)} day photo(s): the scene cut needs 2')
    days = [to_uint8(day[0]) for day in domain_images(dataset, 'B', range(count))]
    names = [os.path.basename(p) for p in dataset.B_paths[:count]]
    H = min(day.shape[0] for day in days)
    W = min(day.shape[1] for day in days)
    # as high as the zoom leaves, as wide as the fastest pan leaves; multiples of 4 (generator inputs)
    zoom = max(z for _, _, z in MOTIONS) ** (frames - 1)
    size = (int(H / zoom) // 4 * 4, int(min(W - max(pan for _, pan, _ in MOTIONS) * (frames - 1), W / zoom)) // 4 * 4)
    if min(size) < 16:
        raise UserError(f'the test photos are {W}x{H} px at the evaluation height: too small for clips of {frames} '
                        f'frames panning 4 px a frame; lower --frames')
    clips = {}
    for k in range(min(photos, count)):
        seed = image_seed(names[k])
        for label, pan, zoom in MOTIONS:
            clips[names[k], label] = aliasing.make_clip(days[k], frames, size, pan=pan, zoom=zoom, task=task,
                                                        seed=seed), None
        clips[names[k], 'moving square'] = object_clip(days[k], frames, size, task, seed)
        nxt = (k + 1) % count
        clips[names[k], 'scene cut'] = cut_clip([days[k], days[nxt]], frames, size, task,
                                                [seed, image_seed(names[nxt])]), None
    return clips


def filtered(frames, translation, flows, strength, tolerance, cut):
    """(the translation filtered by a TemporalFilter, 8 bits, the cuts it found, seconds per frame
    of the filter itself)."""
    temporal = TemporalFilter(strength, tolerance, cut, TEMPORAL_FLOW_SIZE)  # the clips are smaller: flows given
    start, out = time.perf_counter(), []
    for t, (x, y) in enumerate(zip(frames, translation)):
        out.append(temporal(x, y, flows[t - 1] if t else None).round())
    return np.stack(out), temporal.cuts, (time.perf_counter() - start) / len(frames)


def score(clip, masks, frames, label):
    """{flicker, psnr, object_psnr} of `frames` against the clip's truth (module docstring)."""
    row = {'flicker': math.nan, 'psnr': aliasing.clip_psnr(frames, clip.truth), 'object_psnr': math.nan}
    if label == 'scene cut':
        half = len(frames) // 2
        row['psnr'] = aliasing.clip_psnr(frames[half:], clip.truth[half:])
        return row
    row['flicker'] = aliasing.temporal_change(frames, clip.motions)
    if masks is not None:
        errors = []
        for t in range(TRAIL + 1, len(frames)):
            where = masks[t - TRAIL:t + 1].any(axis=0)
            errors.append(np.mean((frames[t][where].astype(np.float64) - clip.truth[t][where]) ** 2))
        mse = float(np.mean(errors))
        row['object_psnr'] = 10 * math.log10(255.0 ** 2 / mse) if mse > 0 else math.inf
    return row


def run(study, names, epoch, photos, frames, strengths, tolerance, cut):
    """(rows of COLUMNS, the clips, {config: {clip key: translation}}, the checkpoint, {clip key: flows})."""
    evaluator, epoch, settings = open_study(study, epoch)
    dataset, translators = load_translators(evaluator, names, epoch, settings['eval_size'])
    clips = make_clips(dataset, evaluator.task, photos, frames)
    flows, start = {}, time.perf_counter()
    for key, (clip, _) in tqdm(clips.items(), desc='flow of the clips', unit='clip'):
        flows[key] = [robust_flow(a, b, TEMPORAL_FLOW_SIZE)[0] for a, b in zip(clip.frames, clip.frames[1:])]
    flow_seconds = (time.perf_counter() - start) / sum(len(clip.frames) - 1 for clip, _ in clips.values())
    rows, translations = [], {}
    for label in ('(input)', '(truth)'):
        for key, (clip, masks) in clips.items():
            seen = clip.frames if label == '(input)' else clip.truth
            rows.append({'config': label, 'strength': 0.0, 'clip': f'{key[0]}: {key[1]}', 'cuts': 0,
                         'seconds_per_frame': 0.0, **score(clip, masks, seen.astype(np.float64), key[1])})
    for name, translate in translators.items():
        translations[name] = {}
        for key, (clip, masks) in tqdm(clips.items(), desc=f'{name}: translated and filtered', unit='clip'):
            night = torch.from_numpy(clip.frames).permute(0, 3, 1, 2).float() / 127.5 - 1
            fake = aliasing.grey_levels(translate(night)).round()
            translations[name][key] = fake
            for strength in strengths:
                out, cuts, seconds = (filtered(clip.frames.astype(np.float64), fake, flows[key], strength, tolerance,
                                               cut) if strength else (fake, 0, 0.0))  # 0: the translation itself
                rows.append({'config': name, 'strength': strength, 'clip': f'{key[0]}: {key[1]}', 'cuts': cuts,
                             'seconds_per_frame': seconds + flow_seconds * (strength > 0),
                             **score(clip, masks, out, key[1])})
    return rows, clips, translations, epoch, flows


def kind(row):
    return row['clip'].split(': ', 1)[1]


def summary_table(rows):
    """Markdown: per configuration and strength, the means over photos of each clip's scores."""
    kinds = [label for label, _, _ in MOTIONS]
    head = (['config', 'strength'] + [f'flicker {k}' for k in kinds] + ['PSNR (a)', 'object PSNR', 'PSNR after cut',
                                                                        'cuts found (of 1)', 'false cuts',
                                                                        'filter s/frame'])
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    groups = {}
    for row in rows:
        groups.setdefault((row['config'], row['strength']), []).append(row)
    for (config, strength), group in groups.items():
        def mean(column, kinds_):
            values = [r[column] for r in group if kind(r) in kinds_]
            return float(np.mean(values)) if values else math.nan
        reference, plain = config.startswith('('), strength == 0
        cells = [config, '' if reference else f'{strength:g}']
        cells += [f'{mean("flicker", [k]):.2f}' for k in kinds]
        cells += [f'{mean("psnr", kinds):.2f}', f'{mean("object_psnr", ["moving square"]):.2f}',
                  f'{mean("psnr", ["scene cut"]):.2f}']
        if reference or plain:
            cells += ['', '', '']
        else:
            found = [r['cuts'] for r in group if kind(r) == 'scene cut']
            false = sum(r['cuts'] for r in group if kind(r) != 'scene cut')
            cells += [f'{sum(1 for c in found if c == 1)} of {len(found)}', str(false),
                      f'{mean("seconds_per_frame", kinds):.3f}']
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def draw(clips, translations, flows, names, show_strength, tolerance, cut, crop, out):
    """temporal.png: the strips of the first photo's still clip and moving square (module docstring)."""
    strips = []
    first = next(iter(clips))[0]
    for label in ('still', 'moving square'):
        clip, _ = clips[first, label]
        rows = [('night input', clip.frames)]
        for name in names:
            fake = translations[name][first, label]
            rows.append((f'{name}', fake))
            smooth, _, _ = filtered(clip.frames.astype(np.float64), fake, flows[first, label], show_strength,
                                    tolerance, cut)
            rows.append((f'{name} --temporal (strength {show_strength:g})', smooth))
        rows.append(('truth', clip.truth))
        middle = len(clip.frames) // 2 - 3  # the square passes the centre halfway through
        strip, _ = draw_strip([(lab, x[middle:middle + 6]) for lab, x in rows], clip.motions[middle:middle + 5],
                              crop, 40, 0, [f'{first}, {label}: 6 consecutive frames (centre {crop} px),',
                                            'last: |frame t+1 - frame t| after undoing the camera\'s motion,',
                                            'mean over the pairs, 0-40 grey levels'])
        strips.append(strip)
    width = max(s.width for s in strips)
    canvas = Image.new('RGB', (width, sum(s.height for s in strips)), 'white')
    y = 0
    for s in strips:
        canvas.paste(s, (0, y))
        y += s.height
    canvas.quantize(256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)


@exit_on_user_error
def main(args=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_study_arguments(parser, 'comma-separated configurations')
    parser.add_argument('--photos', type=int, default=3, help='test day photos the clips are cut from')
    parser.add_argument('--frames', type=int, default=16, help='frames of each clip')
    parser.add_argument('--temporal_strengths', default='0,0.5,0.75,0.9',
                        help='comma-separated --temporal_strength values (0: the translation itself)')
    parser.add_argument('--temporal_tolerance', type=float, default=TEMPORAL_TOLERANCE,
                        help='as scripts/convert.py\'s, grey levels')
    parser.add_argument('--temporal_cut', type=float, default=TEMPORAL_CUT,
                        help='as scripts/convert.py\'s, x the layout\'s spread')
    parser.add_argument('--show_strength', type=float, default=TEMPORAL_STRENGTH,
                        help='the --temporal_strength the picture shows')
    parser.add_argument('--crop', type=int, default=64, help='the side of the frames\' centre square shown, px')
    parser.add_argument('--out', required=True, help='folder for temporal.csv, temporal.md and temporal.png')
    opt = parser.parse_args(args)
    names = config_names(opt)
    try:
        strengths = [float(s) for s in opt.temporal_strengths.split(',') if s.strip()]
    except ValueError:
        raise UserError(f'--temporal_strengths {opt.temporal_strengths}: give numbers in [0, 1), e.g. 0,0.5,0.75')
    if not names or not strengths or any(not 0 <= s < 1 for s in strengths) or opt.frames < 8 or opt.photos < 1:
        raise UserError('--configs needs a configuration, --temporal_strengths numbers in [0, 1), --frames at least 8 '
                        'and --photos at least 1')
    os.makedirs(opt.out, exist_ok=True)
    with torch.no_grad():
        rows, clips, translations, epoch, flows = run(opt.study, names, opt.epoch, opt.photos, opt.frames, strengths,
                                                      opt.temporal_tolerance, opt.temporal_cut)
        draw(clips, translations, flows, names, opt.show_strength, opt.temporal_tolerance, opt.temporal_cut, opt.crop,
             os.path.join(opt.out, 'temporal.png'))
    with open(os.path.join(opt.out, 'temporal.csv'), 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    command = 'python -m study.temporal ' + ' '.join(sys.argv[1:] if args is None else args)
    table = summary_table(rows)
    with open(os.path.join(opt.out, 'temporal.md'), 'w', encoding='utf-8') as f:
        f.write(f'# --temporal on clips with a known answer\n\nMade by `{command}` ({epoch}; tolerance '
                f'{opt.temporal_tolerance:g} grey levels, cut above {opt.temporal_cut:g}). Means over {opt.photos} '
                f'photos; clips of '
                f'{opt.frames} frames (study/temporal.py says what each score is).\n\n{table}\n\n'
                f'![frames](temporal.png)\n')
    print(table)
    print(f'wrote {opt.out}/temporal.csv, temporal.md, temporal.png')


if __name__ == '__main__':
    main()
