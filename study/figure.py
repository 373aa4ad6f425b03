"""A picture of a ground-truth study: where each model's translation is wrong, and whether σ says so.

    python -m study.figure --study studies/rainy_s1 --configs au_gan,cycle_gan --out assets/rainy_samples.png

For --num test night images spread evenly over the set's sorted names, one row each: the night
input, the true day photo, each configuration's translation (its last eval point, or --epoch),
then for the first configuration its true error |translation - truth| (one colour scale for all
rows: 0 to --error_max), its σ (each map scaled to its own max) and, on the rainy task, the mask
of the hidden pixels. Frames are --size px high, whole. The configurations are read from the
study's run folder; nothing is trained.
"""
import argparse
import json
import os
from types import SimpleNamespace

import numpy as np
import torch

from data.ground_truth import hidden_mask, is_ground_truth_set
from inference import Translator
from metrics.evaluation import domain_images, to_unit
from options.run_options import load_record
from study.evaluation import Evaluator, scaled_mask, to_uint8, true_indices
from study.report import render_grid
from util.errors import UserError, exit_on_user_error
from util.util import heatmap


def heat_tile(x, vmax=None):
    """(1, 1, H, W) non-negative map -> HxWx3 uint8 in the 'inferno' colours."""
    return to_uint8(heatmap(x.float().cpu(), vmax)[0])


def study_data(study):
    """The folder a study trained on: <study>/data where it rendered its ground-truth set there,
    else the --dataroot its runs record (a study pointed at an existing set)."""
    own = os.path.join(study, 'data')
    if os.path.isdir(own):
        return own
    runs = os.path.join(study, 'runs')
    for name in sorted(os.listdir(runs)) if os.path.isdir(runs) else []:
        dataroot = load_record(runs, name).get('dataroot')
        if dataroot:
            return dataroot
    return own


def add_study_arguments(parser, configs_help):
    """--study, --configs and --epoch: which ground-truth study, configurations and checkpoint a
    picture or measure made from a study's trained models uses."""
    parser.add_argument('--study', required=True, help='the --out folder of a ground-truth study (scripts/study.py)')
    parser.add_argument('--configs', default='au_gan,cycle_gan', help=configs_help)
    parser.add_argument('--epoch', default='', help='checkpoint, e.g. iter_600 (default: the study\'s last)')
    return parser


def config_names(opt):
    """The names --configs lists."""
    return [n.strip() for n in opt.configs.split(',') if n.strip()]


def open_study(study, epoch):
    """(an Evaluator of the ground-truth study in folder `study`, on the CPU; `epoch` or, when
    empty, the study's last checkpoint; the study's settings, study.json)."""
    settings_path = os.path.join(study, 'study.json')
    if not os.path.isfile(settings_path):
        raise UserError(f'{study} has no study.json: --study is the --out folder of scripts/study.py')
    with open(settings_path, encoding='utf-8') as f:
        settings = json.load(f)
    dataroot = study_data(study)
    if not is_ground_truth_set(dataroot):
        raise UserError(f'{dataroot} is not a ground-truth set: the figure needs a study made with --ground_truth')
    epoch = epoch or f'iter_{settings["iters"]}'
    opt = SimpleNamespace(dataroot=dataroot, runs_dir=os.path.join(study, 'runs'), gpu_ids='-1',
                          seed=settings['seed'], kid_subsets=settings['kid_subsets'], out=study, num_test=None)
    return Evaluator(opt), epoch, settings


def figure_columns(study, names, epoch, num, size, error_max):
    """[(label, [HxWx3 uint8 per row])]: the columns of the picture (module docstring)."""
    evaluator, epoch, _ = open_study(study, epoch)
    opt = evaluator.opt
    dataroot = opt.dataroot
    columns, extra, errors, sigmas = {}, {}, [], []
    for k, name in enumerate(names):
        if not os.path.isfile(os.path.join(opt.runs_dir, name, f'{epoch}_net_G_A.pth')):
            raise UserError(f'{os.path.join(opt.runs_dir, name)} has no {epoch} checkpoint: name a configuration '
                            f'this study trained (--configs) and one of its eval points (--epoch iter_<n>)')
        _, dataset, model = evaluator.load(name, epoch, size)
        picks = sorted({int(i) for i in np.linspace(0, len(dataset.A_paths) - 1, num).round()})
        translate = Translator(model.netG_A, model.autocast, uncertainty=True)
        nights = list(domain_images(dataset, 'A', picks))
        days = list(domain_images(dataset, 'B', true_indices(dataset, picks)))
        if k == 0:
            columns['night input'] = [to_uint8(n[0]) for n in nights]
            columns['true day'] = [to_uint8(d[0]) for d in days]
        fakes = []
        for night, day in zip(nights, days):
            fake, sigma = translate(night)
            fakes.append(to_uint8(fake[0]))
            if k == 0:
                error = ((to_unit(fake).cpu() * 255).round() / 255 - to_unit(day)).abs().mean(dim=1, keepdim=True)
                errors.append(heat_tile(error, error_max))
                sigmas.append(heat_tile(sigma) if sigma is not None else None)
        columns[name] = fakes
        if k == 0:
            extra[f'{name}: true error (0-{error_max:g})'] = errors
            if all(s is not None for s in sigmas):
                extra[f'{name}: sigma (own max)'] = sigmas
            masks = [hidden_mask(dataroot, dataset.A_paths[i]) for i in picks]
            if all(m is not None for m in masks):
                extra['hidden pixels'] = [
                    np.repeat((scaled_mask(m, n.shape[-2:]) * 255).astype(np.uint8)[..., None], 3, axis=-1)
                    for m, n in zip(masks, nights)]
    return list(columns.items()) + list(extra.items())


@exit_on_user_error
def main(args=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_study_arguments(parser, 'comma-separated configurations; the first gets the error, σ and mask columns')
    parser.add_argument('--num', type=int, default=4, help='test images (rows)')
    parser.add_argument('--size', type=int, default=128, help='height of the frames in px')
    parser.add_argument('--error_max', type=float, default=0.5, help='the top of the true error\'s colour scale')
    parser.add_argument('--out', required=True, help='the PNG to write')
    opt = parser.parse_args(args)
    names = config_names(opt)
    if not names or opt.num < 1 or opt.size < 16:
        raise UserError('--configs needs a configuration, --num at least 1, --size at least 16')
    with torch.no_grad():  # not set_grad_enabled(False): main() also runs inside other programs and tests
        columns = figure_columns(opt.study, names, opt.epoch, opt.num, opt.size, opt.error_max)
    os.makedirs(os.path.dirname(os.path.abspath(opt.out)), exist_ok=True)
    render_grid(columns, opt.size, opt.out)
    print(f'wrote {opt.out}: {len(columns[0][1])} rows, columns {", ".join(label for label, _ in columns)}')


if __name__ == '__main__':
    main()
