"""The study's configurations and settings: the default study of docs/results.md (`DEFAULT_CONFIGS`,
`DEFAULT_COMMON`), a --configs file and --only, the checks of the flags (the ones the study sets
itself are refused; train.py's own parser checks the rest before anything trains), and the
settings in study.json that a rerun must repeat."""
import contextlib
import io
import json
import os
import re
import shlex

from data import create_dataset
from options.train_options import TrainOptions
from study.common import quiet
from util.errors import UserError

DEFAULT_CONFIGS = [
    {'name': 'au_gan', 'flags': []},
    {'name': 'cycle_gan', 'flags': ['--model', 'cycle_gan']},
    {'name': 'fork_gan', 'flags': ['--model', 'fork_gan']},
    {'name': 'au_gan_bilinear', 'flags': ['--upsample', 'bilinear']},
    {'name': 'au_gan_no_identity', 'flags': ['--lambda_identity', '0']},
    {'name': 'au_gan_no_uncertainty', 'flags': ['--uncertainty', 'none']},
    {'name': 'au_gan_no_fm', 'flags': ['--lambda_fm', '0']},
    {'name': 'au_gan_no_tnet', 'flags': ['--n_blocks_T', '0']},
    {'name': 'au_gan_symmetric', 'flags': ['--n_blocks_T_B', '4']},  # a T-net in both generators
    {'name': 'au_gan_exp', 'flags': ['--uncertainty', 'exp']},  # the paper's cycle loss
    {'name': 'au_gan_no_input_skip', 'flags': ['--no_input_skip', '--no_skip_refine']},  # the block reads the skip
    {'name': 'au_gan_paper', 'flags': ['--uncertainty', 'exp', '--no_input_skip', '--no_skip_refine', '--no_antialias']},
    {'name': 'au_gan_no_antialias', 'flags': ['--no_antialias']},
    {'name': 'au_gan_no_refine', 'flags': ['--no_skip_refine']},
    # the defaults from the rainy study to the aliasing study
    {'name': 'au_gan_aliased', 'flags': ['--no_antialias', '--no_skip_refine']},
    # the filters as the aliasing study first tried them (binomials, no --skip_refine)
    {'name': 'au_gan_antialias5', 'flags': ['--antialias_taps', '5', '--no_skip_refine']},
    {'name': 'au_gan_antialias3', 'flags': ['--antialias_taps', '3', '--no_skip_refine']},
    {'name': 'au_gan_antialias_down', 'flags': ['--antialias_taps', '5', '--antialias_at', 'down', '--no_skip_refine']},
    {'name': 'au_gan_antialias_up', 'flags': ['--antialias_taps', '5', '--antialias_at', 'up', '--no_skip_refine']},
    {'name': 'au_gan_bf16', 'flags': ['--amp', 'bf16']},
    {'name': 'au_gan_official', 'flags': ['--preset', 'official']},
]
# fp32: a study's numbers must not depend on whether the CPU has bf16 (au_gan_bf16 measures that)
DEFAULT_COMMON = '--ngf 16 --ndf 16 --load_size 144 --crop_size 128 --preprocess scale_height_and_crop --amp off'
# Flags the study sets on every run itself: a configuration or --common may not give them.
STUDY_FLAGS = {'--dataroot', '--name', '--checkpoints_dir', '--suffix', '--phase', '--seed', '--gpu_ids',
               '--num_threads', '--max_iters', '--n_epochs', '--n_epochs_decay', '--epoch_count',
               '--save_latest_freq', '--save_by_iter', '--save_epoch_freq', '--continue_train', '--epoch',
               '--print_freq', '--display_freq'}
CONFIG_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*$')
SETTINGS = ('iters', 'eval_at', 'seed', 'common', 'num_test', 'eval_size', 'kid_subsets', 'kid_subset_size',
            'ground_truth')


def check_options(opt):
    """The parsed flags of scripts/study.py checked and completed: --eval_at as the sorted eval
    iterations, --common split into flags, --print_freq's default."""
    for flag in ('iters', 'eval_size', 'kid_subsets', 'num_samples', 'sample_size'):
        if getattr(opt, flag) < 1:
            raise UserError(f'--{flag} must be at least 1, got {getattr(opt, flag)}')
    for flag in ('num_test', 'kid_subset_size'):
        if getattr(opt, flag) is not None and getattr(opt, flag) < 2:
            raise UserError(f'--{flag} must be at least 2 (KID and FID compare sets of images), '
                            f'got {getattr(opt, flag)}')
    opt.eval_at = eval_points(opt.eval_at, opt.iters)
    try:
        opt.common = shlex.split(opt.common)
    except ValueError as e:
        raise UserError(f'--common: cannot split {opt.common!r} into flags ({e})')
    check_flags(opt.common, '--common')
    opt.print_freq = opt.print_freq or max(1, opt.iters // 20)
    return opt


def eval_points(text, iters):
    """The sorted eval iterations, --iters included."""
    if text is None:
        return sorted({max(1, iters * k // 4) for k in range(1, 5)})
    try:
        points = {int(p) for p in text.split(',') if p.strip()}
    except ValueError:
        raise UserError(f'--eval_at must be comma-separated iteration counts, e.g. 400,800,1200; got {text!r}')
    bad = sorted(p for p in points if not 1 <= p <= iters)
    if bad:
        raise UserError(f'--eval_at {bad[0]} is outside 1..{iters} (--iters)')
    return sorted(points | {iters})


def check_flags(flags, where):
    for flag in flags:
        if flag.split('=', 1)[0] in STUDY_FLAGS:
            raise UserError(f'{where} gives {flag.split("=", 1)[0]}, which the study sets itself: remove it')


def load_configs(path):
    if path is None:
        return [dict(c) for c in DEFAULT_CONFIGS]
    try:
        with open(path, encoding='utf-8') as f:
            entries = json.load(f)
    except OSError as e:
        raise UserError(f'--configs {path}: cannot read it ({e.strerror})')
    except ValueError as e:
        raise UserError(f'--configs {path} is not valid JSON ({e})')
    example = '[{"name": "au_gan", "flags": []}, {"name": "cycle_gan", "flags": ["--model", "cycle_gan"]}]'
    if not isinstance(entries, list) or not entries:
        raise UserError(f'--configs {path} must hold a non-empty JSON list of configurations, e.g. {example}')
    configs = []
    for i, entry in enumerate(entries):
        where = f'--configs {path}, entry {i + 1}'
        if not isinstance(entry, dict):
            raise UserError(f'{where} is not an object like {{"name": "au_gan", "flags": ["--dilation", "1"]}}')
        unknown = sorted(set(entry) - {'name', 'model', 'flags'})
        if unknown:
            raise UserError(f'{where} has unknown keys {", ".join(unknown)}: only name, model and flags are read')
        name, flags, model = entry.get('name'), entry.get('flags', []), entry.get('model')
        if not isinstance(name, str) or not CONFIG_NAME.match(name):
            raise UserError(f'{where}: "name" must be a folder-safe string (letters, digits, _ . -), got {name!r}')
        if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
            raise UserError(f'{where} ({name}): "flags" must be a list of strings, e.g. ["--dilation", "1"]')
        if model is not None:
            if not isinstance(model, str):
                raise UserError(f'{where} ({name}): "model" must be a string, e.g. "cycle_gan"')
            flags = ['--model', model] + flags
        check_flags(flags, f'{where} ({name})')
        if any(c['name'] == name for c in configs):
            raise UserError(f'--configs {path} names {name} twice: each configuration needs its own name')
        configs.append({'name': name, 'flags': flags})
    return configs


def select(configs, only):
    if not only:
        return configs
    names = [n.strip() for n in only.split(',') if n.strip()]
    known = [c['name'] for c in configs]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UserError(f'--only {unknown[0]} is not a configuration of this study ({", ".join(known)})')
    return [c for c in configs if c['name'] in names]


def check_settings(opt, path):
    """study.json holds the settings that decide the results: a rerun must use the same."""
    settings = {k: getattr(opt, k) for k in SETTINGS}
    if os.path.isfile(path):
        with open(path, encoding='utf-8') as f:
            stored = json.load(f)
        if stored.get('ground_truth') in (True, False):  # written before there were two tasks
            stored['ground_truth'] = 'night' if stored['ground_truth'] else None
        for key in SETTINGS:
            if stored.get(key) != settings[key]:
                raise UserError(f'{path}: this study was made with --{key} {stored.get(key)}, not {settings[key]}: '
                                f'rerun with the same settings or choose another --out')
    return settings


def train_options(config, opt, *extra):
    """train.py's options of a configuration (and `extra` flags), on the CPU (as the study's checks
    and counts read them)."""
    args = ['--dataroot', opt.dataroot, '--checkpoints_dir', opt.runs_dir, '--name', config['name'],
            '--gpu_ids', '-1', *opt.common, *config['flags'], *extra]
    with quiet():
        return TrainOptions().parse(args, save=False)


def inspect_config(config, opt):
    """Check a configuration's flags with train.py's own parser and return (model name,
    iterations per epoch) from its training set."""
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            train_opt = train_options(config, opt)
        with quiet():
            dataset = create_dataset(train_opt)
    except SystemExit:  # argparse: an unknown flag or a bad value
        lines = [ln for ln in errors.getvalue().splitlines() if ln.strip()]
        reason = lines[-1].split('error: ', 1)[-1] if lines else 'rejected'
        raise UserError(f'configuration {config["name"]}: train.py refuses its flags ({reason})')
    except UserError as e:
        raise UserError(f'configuration {config["name"]}: {e}')
    return train_opt.model, max(1, len(dataset) // train_opt.batch_size)
