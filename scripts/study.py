"""A reproducible quality study: train several configurations on the same data, with the same
seed and the same iteration budget, evaluate each at fixed iteration counts and write the results.

    python scripts/study.py --dataroot ./datasets/daynight --out studies/daynight --iters 1200 --eval_at 400,800,1200
    python scripts/study.py --dataroot ./datasets/daynight --out studies/daynight --iters 1200 --only au_gan,cycle_gan
    python scripts/study.py --dataroot ./datasets/daynight --out studies/quick --configs my_configs.json \\
        --common "--ngf 8 --ndf 8 --load_size 72 --crop_size 64 --preprocess scale_height_and_crop" --dry_run

Configurations. Without --configs, the study of docs/results.md: au_gan (the defaults),
cycle_gan, fork_gan and the AU-GAN ablations au_gan_bilinear (--upsample bilinear, the default
before it), au_gan_no_identity (--lambda_identity 0), au_gan_no_uncertainty (--uncertainty none),
au_gan_no_fm (--lambda_fm 0), au_gan_no_tnet (--n_blocks_T 0), au_gan_bf16 (--amp bf16) and
au_gan_official (--preset official). --configs FILE replaces them
with a JSON list of {"name": ..., "flags": [...]} (an optional "model": "cycle_gan" is short for
--model cycle_gan). Each run is train.py with the --common flags first and the configuration's
own flags after them, so a configuration may override a common flag; a --preset only sets
defaults, so the common size and width flags still win over the preset's.

Training. Each configuration trains as `train.py --checkpoints_dir <out>/runs --name <config>` for
--iters iterations (--max_iters), saving `latest` and `iter_<n>` every gcd(eval points) iterations
(--save_latest_freq with --save_by_iter); iter_<n> files that are not eval points are deleted once
the run is done, and no per-epoch checkpoints are written. Schedule: the epoch length E (iterations per epoch, from the configuration's own
dataset: --max_dataset_size, --epoch_length and --batch_size count) gives ceil(iters / E) epochs,
the first half at the constant learning rate (--n_epochs, rounded up) and the rest decaying
linearly (--n_epochs_decay), so the decay ends with the budget. The last eval point is always
--iters (added when --eval_at leaves it out).

Evaluation. Every (configuration, eval point) gets the metrics of scripts/evaluate.py on
--num_test images of testA/testB (the same seeded random sample for every configuration), whole
frames scaled to --eval_size px high: FID and KID of the A->B translations against real B, cycle
PSNR/SSIM/L1 of both sides, AU-GAN's mean sigma and its correlation with the cycle error. The
random generators are re-seeded before each checkpoint, so a row does not depend on what was
evaluated before it. KID spread: KID is the mean, and kid_std the standard deviation, of the
unbiased MMD^2 estimate over --kid_subsets random subsets of --kid_subset_size images of each set
(by default half the images, so that the subsets differ; with every image in every subset the
spread would be 0). It shows how much the estimate moves with the choice of images: a subset
holds half the images, so it is wider than the standard error of the full-sample estimate, by
about sqrt(2) -- read overlapping bars as "not distinguishable on this test set".

Outputs in --out:
    study.csv          one row per (config, iteration): config, iteration, checkpoint, the metric
                       columns of scripts/evaluate.py, kid_subset_size, eval_seconds; appended as
                       each row is computed
    study.md           the table at the last eval point, the full table, the command, the
                       settings and the machine (CPU count, torch version, device)
    kid.png            KID against iterations, one line per configuration, kid_std as error bars
    ground_truth.png   with --ground_truth: PSNR and edge r against the truth against iterations,
                       the floor and the ceiling as lines
    samples.png        N test night photos (--num_samples, evenly over testA sorted by name): the
                       real photo, then its translation by each configuration's last checkpoint
    samples_BtoA.png   the same for N day photos of testB translated to night
    study.json         the settings that decide the results, checked when the study is rerun
    runs/<config>/     the training run: checkpoints, loss log, train.py's output (study_train.log)
                       and the flags it was trained with (study_train.json)

Ground truth. With --ground_truth the study renders a task with a known answer from the day
photos of --dataroot into <out>/data (data/ground_truth.py: a fixed, global night rendering,
unpaired halves for training, a paired test set) and trains there. Each row then also scores the
A->B translations against the day photos they were rendered from: PSNR, SSIM and edge r (the
correlation of gradient magnitudes: the scene's structure kept, whatever its colours). Two rows at
iteration 0 bound the task: `(night input)`, the untouched input (the floor), and `(exact
inverse)`, the rendering undone (the ceiling: its noise cannot be undone). samples.png gets a
`true day` column.

Resuming. Rerunning the same command continues an interrupted study: a run whose `latest` is
below --iters continues from it (--continue_train), a finished one is not trained again, and rows
already in study.csv are not evaluated again. Changing the settings or a configuration's flags
for an existing --out is refused (use another --out, or delete the run folder to retrain it).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import contextlib  # noqa: E402
import csv  # noqa: E402
import datetime  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

import metrics  # noqa: E402
from data import TEST_READING, create_dataset  # noqa: E402
from data.ground_truth import exact_inverse, is_ground_truth_set, make_ground_truth_set  # noqa: E402
from inference import Translator  # noqa: E402
from models import create_model  # noqa: E402
from options import replaced  # noqa: E402
from options.train_options import TrainOptions  # noqa: E402
from scripts import evaluate as evaluation  # noqa: E402
from util import distributed, processes  # noqa: E402
from util.checkpoint import atomic_write_text, load_training_state  # noqa: E402
from util.errors import UserError, exit_on_user_error  # noqa: E402
from util.seeding import seed_everything  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

DEFAULT_CONFIGS = [
    {'name': 'au_gan', 'flags': []},
    {'name': 'cycle_gan', 'flags': ['--model', 'cycle_gan']},
    {'name': 'fork_gan', 'flags': ['--model', 'fork_gan']},
    {'name': 'au_gan_bilinear', 'flags': ['--upsample', 'bilinear']},
    {'name': 'au_gan_no_identity', 'flags': ['--lambda_identity', '0']},
    {'name': 'au_gan_no_uncertainty', 'flags': ['--uncertainty', 'none']},
    {'name': 'au_gan_no_fm', 'flags': ['--lambda_fm', '0']},
    {'name': 'au_gan_no_tnet', 'flags': ['--n_blocks_T', '0']},
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
# Scores against the truth, on a ground-truth set (data/ground_truth.py): PSNR, SSIM and the
# correlation of edges between each translation and the day photo it was rendered from.
GT_COLUMNS = ['gt_psnr', 'gt_ssim', 'gt_edge']
CSV_COLUMNS = (['config', 'iteration', 'checkpoint'] + [c for c in evaluation.COLUMNS if c != 'epoch'] + GT_COLUMNS
               + ['kid_subset_size', 'eval_seconds'])
GT_SUMMARY = [('gt_psnr', 'PSNR vs truth', '{:.2f}'), ('gt_ssim', 'SSIM vs truth', '{:.3f}'),
              ('gt_edge', 'edge r vs truth', '{:.3f}')]
# The rows of a ground-truth study that no training makes: the floor and the ceiling of the task.
REFERENCES = {'(night input)': lambda night: night, '(exact inverse)': exact_inverse}
# The Markdown summary's columns: (CSV column, heading, format).
SUMMARY = [('fid', 'FID', '{:.1f}'), ('psnr_A', 'PSNR A', '{:.2f}'), ('ssim_A', 'SSIM A', '{:.3f}'),
           ('psnr_B', 'PSNR B', '{:.2f}'), ('ssim_B', 'SSIM B', '{:.3f}'), ('cycle_l1_A', 'cycle L1 A', '{:.4f}'),
           ('sigma_A', 'mean σ A', '{:.3f}'), ('pearson_image', 'r(σ, error)', '{:.2f}')]
# samples.png geometry: tiles --sample_size px high and TILE_ASPECT as wide, PAD px apart, under a
# HEADER px band of column labels.
TILE_ASPECT, PAD, HEADER = 16 / 9, 4, 18
SETTINGS = ('iters', 'eval_at', 'seed', 'common', 'num_test', 'eval_size', 'kid_subsets', 'kid_subset_size',
            'ground_truth')


def write_text(path, text):
    """Write a text file atomically, readable by everyone (as a plain open() would make it)."""
    atomic_write_text(path, text)
    os.chmod(path, 0o644)


def log(message):
    print(f'[study] {message}', flush=True)


@contextlib.contextmanager
def quiet():
    """Keep the chatter of option parsing, model building and loading out of the study's output."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


# ----------------------------------------------------------------------------- options
def parse_args(args):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--dataroot', required=True, help='folder with trainA/trainB/testA/testB')
    parser.add_argument('--out', required=True, help='folder of the study: runs, results, pictures')
    parser.add_argument('--iters', type=int, default=1200, help='training iterations of every configuration')
    parser.add_argument('--eval_at', type=str, default=None,
                        help='comma-separated iteration counts to evaluate (--iters is always one); '
                             'default: quarters of --iters')
    parser.add_argument('--configs', type=str, default=None,
                        help='JSON file: [{"name": ..., "flags": [...]}, ...]; default: the day/night study')
    parser.add_argument('--only', type=str, default=None, help='comma-separated names: run only these configurations')
    parser.add_argument('--common', type=str, default=DEFAULT_COMMON,
                        help='train.py flags for every configuration, before its own flags')
    parser.add_argument('--seed', type=int, default=0, help='seed of training, of the test samples and of KID')
    parser.add_argument('--gpu_ids', type=str, default='0', help='passed to train.py and used for evaluation; -1: CPU')
    parser.add_argument('--num_threads', type=int, default=4, help='data loading workers of train.py')
    parser.add_argument('--print_freq', type=int, default=None,
                        help='iterations between train.py\'s loss lines (default: --iters / 20)')
    parser.add_argument('--num_test', type=int, default=None,
                        help='test images of each side to evaluate on (a seeded random sample; default: all)')
    parser.add_argument('--eval_size', type=int, default=128, help='height in px of the test frames evaluated')
    parser.add_argument('--kid_subsets', type=int, default=100, help='KID: number of random subsets')
    parser.add_argument('--kid_subset_size', type=int, default=None,
                        help='KID: images per subset (default: half the evaluated images, so subsets differ)')
    parser.add_argument('--num_samples', type=int, default=4, help='rows of samples.png')
    parser.add_argument('--sample_size', type=int, default=128, help='height in px of the tiles of samples.png')
    parser.add_argument('--ground_truth', action='store_true',
                        help='train and score on a task with a known answer: the day photos of --dataroot rendered '
                             'into night (data/ground_truth.py) in <out>/data; adds PSNR, SSIM and edge correlation '
                             'against the true day photo, and the untouched input and the exact inverse as floor and '
                             'ceiling')
    parser.add_argument('--dry_run', action='store_true', help='print the commands and the plan, run nothing')
    opt = parser.parse_args(args)
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
        for key in SETTINGS:
            if stored.get(key, False if key == 'ground_truth' else None) != settings[key]:
                raise UserError(f'{path}: this study was made with --{key} {stored.get(key)}, not {settings[key]}: '
                                f'rerun with the same settings or choose another --out')
    return settings


# ----------------------------------------------------------------------------- training
def inspect_config(config, opt):
    """Check a configuration's flags with train.py's own parser and return (model name,
    iterations per epoch) from its training set."""
    args = ['--dataroot', opt.dataroot, '--checkpoints_dir', opt.runs_dir, '--name', config['name'],
            '--gpu_ids', '-1', *opt.common, *config['flags']]
    errors = io.StringIO()
    try:
        with quiet(), contextlib.redirect_stderr(errors):
            train_opt = TrainOptions().parse(args, save=False)
            dataset = create_dataset(train_opt)
    except SystemExit:  # argparse: an unknown flag or a bad value
        lines = [ln for ln in errors.getvalue().splitlines() if ln.strip()]
        reason = lines[-1].split('error: ', 1)[-1] if lines else 'rejected'
        raise UserError(f'configuration {config["name"]}: train.py refuses its flags ({reason})')
    except UserError as e:
        raise UserError(f'configuration {config["name"]}: {e}')
    return train_opt.model, max(1, len(dataset) // train_opt.batch_size)


def schedule(iters, epoch_iters):
    """(--n_epochs, --n_epochs_decay): half of the epochs constant (rounded up), half decaying."""
    epochs = math.ceil(iters / epoch_iters)
    return epochs - epochs // 2, epochs // 2


def train_identity(config, opt, epoch_iters):
    """The flags that decide what a run learns (recorded in its folder, compared on resume)."""
    n_epochs, n_decay = schedule(opt.iters, epoch_iters)
    return [*opt.common, *config['flags'], '--seed', str(opt.seed), '--max_iters', str(opt.iters),
            '--n_epochs', str(n_epochs), '--n_epochs_decay', str(n_decay),
            '--save_latest_freq', str(math.gcd(*opt.eval_at)), '--save_by_iter']


def trained_iters(run_dir):
    """The iteration of the run's `latest` checkpoint, 0 when it has none."""
    path = os.path.join(run_dir, 'latest_state.pth')
    if not os.path.isfile(path):
        return 0
    return int(load_training_state(path)['progress']['total_iters'])


def check_record(run_dir, identity, name):
    """study_train.json holds the flags a run was trained with; a rerun must give the same."""
    path = os.path.join(run_dir, 'study_train.json')
    if os.path.isfile(path):
        with open(path, encoding='utf-8') as f:
            record = json.load(f)
        if record.get('flags') != identity:
            raise UserError(f'{name} was trained with other flags ({shlex.join(record.get("flags", []))}; recorded in '
                            f'{path}): delete {run_dir} to retrain it, or choose another --out')
        return record
    if os.path.isfile(os.path.join(run_dir, 'latest_state.pth')):
        raise UserError(f'{run_dir} holds a run this study did not start (no study_train.json): move it away or '
                        f'choose another --out')
    return {'flags': identity, 'train_seconds': 0.0, 'trained_iters': 0}


def _pump_stderr(stream, tail):
    """Copy the child's stderr (tqdm's bars) through, byte for byte, keeping its last 2 KB."""
    out = getattr(sys.stderr, 'buffer', None)
    while True:
        chunk = stream.read1(4096) if hasattr(stream, 'read1') else stream.read(4096)
        if not chunk:
            break
        tail[0] = (tail[0] + chunk)[-2048:]
        if out is not None:
            out.write(chunk)
            out.flush()


def run_train(cmd, log_path):
    """Run train.py: its stdout, less the options block, is shown indented and kept in log_path;
    its stderr (progress bars, errors) passes through. Returns (exit status, last error line)."""
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    tail = [b'']
    with open(log_path, 'a', encoding='utf-8') as log_file:
        log_file.write(f'=== {datetime.datetime.now().isoformat(timespec="seconds")}: {shlex.join(cmd)}\n')
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=False)
        pump = threading.Thread(target=_pump_stderr, args=(proc.stderr, tail), daemon=True)
        pump.start()
        try:
            in_options = False
            for raw in proc.stdout:
                line = raw.decode('utf-8', 'replace').rstrip('\n')
                log_file.write(line + '\n')
                if line.startswith('----------------- Options'):
                    in_options = True
                elif line.startswith('----------------- End'):
                    in_options = False
                elif not in_options:
                    print(f'    {line}', flush=True)
            rc = proc.wait()
        finally:
            processes.stop(proc, grace=30)  # still running only if the study was interrupted
        pump.join(timeout=5)
        text = tail[0].decode('utf-8', 'replace')
        log_file.write(text.replace('\r', '\n') + '\n')
    lines = [ln.strip() for ln in re.split(r'[\r\n]', text) if ln.strip()]
    return rc, lines[-1] if lines else ''


def train(config, k, n, opt, epoch_iters):
    """Train one configuration up to --iters (or continue it there); returns its record."""
    name = config['name']
    run_dir = os.path.join(opt.runs_dir, name)
    identity = train_identity(config, opt, epoch_iters)
    record = check_record(run_dir, identity, name)
    done = trained_iters(run_dir)
    if done > opt.iters:
        raise UserError(f'{run_dir} is at iteration {done}, past --iters {opt.iters}: choose another --out')
    cmd = [sys.executable, str(REPO / 'train.py'), '--dataroot', opt.dataroot, '--checkpoints_dir', opt.runs_dir,
           '--name', name, *identity, '--gpu_ids', opt.gpu_ids, '--num_threads', str(opt.num_threads),
           '--print_freq', str(opt.print_freq), '--display_freq', str(10 * opt.iters),
           '--save_epoch_freq', str(10 * opt.iters)]  # no per-epoch checkpoints: iter_<n> ones serve
    if done:
        cmd += ['--continue_train', '--epoch', 'latest']
    n_epochs, n_decay = schedule(opt.iters, epoch_iters)
    plan = (f'{n_epochs} + {n_decay} decaying epochs of {epoch_iters} iterations, '
            f'stopping at {opt.iters}')
    if opt.dry_run:
        log(f'config {k}/{n} {name}: ' + ('trained' if done == opt.iters else
                                          f'would train from iteration {done} ({plan}):'))
        if done < opt.iters:
            print('    ' + shlex.join(cmd))
        return record
    if done == opt.iters:
        log(f'config {k}/{n} {name}: trained ({opt.iters} iterations), not training again')
        return record
    log(f'training config {k}/{n} {name}: iterations {done} -> {opt.iters} ({plan})')
    os.makedirs(run_dir, exist_ok=True)
    write_text(os.path.join(run_dir, 'study_train.json'), json.dumps(record, indent=1) + '\n')
    start = time.time()
    rc, last = run_train(cmd, os.path.join(run_dir, 'study_train.log'))
    if rc != 0:
        raise UserError(f'train.py stopped with exit status {rc} on configuration {name} ({last}); its output is in '
                        f'{os.path.join(run_dir, "study_train.log")}')
    reached = trained_iters(run_dir)
    if reached != opt.iters:
        raise UserError(f'train.py ended {name} at iteration {reached}, not {opt.iters}: see '
                        f'{os.path.join(run_dir, "study_train.log")}')
    record['train_seconds'] = record.get('train_seconds', 0.0) + time.time() - start
    record['trained_iters'] = record.get('trained_iters', 0) + opt.iters - done
    write_text(os.path.join(run_dir, 'study_train.json'), json.dumps(record, indent=1) + '\n')
    prune(run_dir, opt.eval_at)
    log(f'trained {name} in {time.time() - start:.0f} s')
    return record


def prune(run_dir, keep):
    """Delete the iter_<n> checkpoints that are not eval points."""
    pattern = re.compile(r'^iter_(\d+)_(net_\w+|state)\.pth$')
    for file in os.listdir(run_dir):
        m = pattern.match(file)
        if m and int(m.group(1)) not in keep:
            os.remove(os.path.join(run_dir, file))


# ----------------------------------------------------------------------------- evaluation
class Evaluator:
    """scripts/evaluate.py's metrics in this process: one Inception network, and the features of
    the real test images computed once for all configurations."""

    def __init__(self, opt):
        self.opt = opt
        self.inception = None
        self.real_features = {}
        self.ground_truth = is_ground_truth_set(opt.dataroot)

    def options(self, name, epoch, size):
        o = self.opt
        args = ['--dataroot', o.dataroot, '--checkpoints_dir', o.runs_dir, '--name', name, '--epoch', epoch,
                '--gpu_ids', o.gpu_ids, '--seed', str(o.seed), '--preprocess', 'scale_height', '--load_size', str(size),
                '--num_threads', '0', '--kid_subsets', str(o.kid_subsets),
                '--results_dir', os.path.join(o.out, 'results')]
        if o.num_test is not None:
            args += ['--num_test', str(o.num_test)]
        with quiet():
            opt = evaluation.EvaluateOptions().parse(args, save=False)
        # As evaluate_model reads the test set
        return replaced(opt, dataset_mode='unaligned', **TEST_READING)

    def load(self, name, epoch, size):
        opt = self.options(name, epoch, size)
        distributed.setup(opt.gpu_ids)
        seed_everything(opt.seed)
        with quiet():
            dataset = create_dataset(opt)
            model = create_model(opt)
            model.setup(opt)
        return opt, dataset, model

    def evaluate(self, name, points):
        """Yield (iteration, metrics row, seconds) for each of `points` of run `name`."""
        opt, dataset, model = self.load(name, f'iter_{points[0]}', self.opt.eval_size)
        samples = {side: metrics.sample_indices(len(paths), opt.num_test, opt.seed)
                   for side, paths in (('A', dataset.A_paths), ('B', dataset.B_paths))}
        if self.inception is None:
            self.inception = metrics.InceptionFeatures(model.device, opt.fid_batch_size)
        key = (dataset.dir_B, tuple(samples['B']), opt.output_nc)
        if key not in self.real_features:
            images = (evaluation.to_unit(x[0]) for x in evaluation.domain_images(dataset, 'B', samples['B']))
            self.real_features[key] = self.inception.extract(images, total=len(samples['B']), desc='features of real B')
        count = min(len(samples['A']), len(samples['B']))
        opt = replaced(opt, kid_subset_size=self.opt.kid_subset_size or max(2, count // 2))
        for point in points:
            epoch = f'iter_{point}'
            if epoch != opt.epoch:
                opt = replaced(opt, epoch=epoch)
                with quiet():
                    model.load_networks(epoch)
            seed_everything(opt.seed)
            start = time.time()
            row = evaluation.evaluate_checkpoint(model, dataset, samples, self.inception, self.real_features[key], opt)
            if self.ground_truth:
                translator = Translator(model.netG_A, model.autocast)
                row.update(truth_scores(dataset, samples['A'], lambda night: translator(night.to(model.device))[0]))
            row['kid_subset_size'] = min(opt.kid_subset_size, row['n_fake'], row['n_real'])
            yield point, row, time.time() - start

    def references(self, name):
        """{label: row} of the ground-truth set's floor and ceiling (REFERENCES), on the test images
        every configuration is scored on (run `name` gives the test options; no network is read)."""
        opt = self.options(name, 'latest', self.opt.eval_size)
        seed_everything(opt.seed)
        with quiet():
            dataset = create_dataset(opt)
        picks = metrics.sample_indices(len(dataset.A_paths), opt.num_test, opt.seed)
        unit = evaluation.to_unit
        return {label: truth_scores(dataset, picks, lambda night, f=fn: f(unit(night)) * 2 - 1)
                for label, fn in REFERENCES.items()}

    def translate(self, name, epoch, count):
        """{side: (real tiles, translated tiles)}, HxWx3 uint8 arrays, for `count` images of testA
        and of testB spread evenly over the sorted file names, through G_A and G_B."""
        opt, dataset, model = self.load(name, epoch, self.opt.sample_size)
        out = {}
        for side, net in (('A', model.netG_A), ('B', model.netG_B)):
            paths = getattr(dataset, f'{side}_paths')
            picks = sorted({int(i) for i in np.linspace(0, len(paths) - 1, min(count, len(paths))).round()})
            translator = Translator(net, model.autocast)
            reals, fakes = [], []
            for real in evaluation.domain_images(dataset, side, picks):
                fake, _ = translator(real.to(model.device))
                reals.append(to_uint8(real[0]))
                fakes.append(to_uint8(fake[0]))
            out[side] = reals, fakes
            if side == 'A' and self.ground_truth:
                truth = [to_uint8(t[0]) for t in evaluation.domain_images(dataset, 'B', true_indices(dataset, picks))]
                out['truth'] = truth
        return out


def true_indices(dataset, indices):
    """The positions in testB of the day photos that testA's night images at `indices` were
    rendered from (same file name)."""
    stem = lambda path: os.path.splitext(os.path.basename(path))[0]  # noqa: E731
    where = {stem(p): i for i, p in enumerate(dataset.B_paths)}
    missing = [dataset.A_paths[i] for i in indices if stem(dataset.A_paths[i]) not in where]
    if missing:
        raise UserError(f'{missing[0]} has no day photo of the same name in {dataset.dir_B}: a ground-truth set pairs '
                        f'testA and testB by name (remake it with scripts/study.py --ground_truth)')
    return [where[stem(dataset.A_paths[i])] for i in indices]


def truth_scores(dataset, indices, translate):
    """Mean PSNR, SSIM and edge correlation of translate(night) against the true day photo, over
    the test night images at `indices`; the translations are quantised to 8 bits, as when saved."""
    scores = {c: [] for c in GT_COLUMNS}
    nights = evaluation.domain_images(dataset, 'A', indices)
    days = evaluation.domain_images(dataset, 'B', true_indices(dataset, indices))
    for night, day in zip(nights, days):
        fake = (evaluation.to_unit(translate(night)).cpu() * 255).round() / 255
        day = evaluation.to_unit(day)
        if fake.shape != day.shape:
            raise UserError(f'a night test image translates to {tuple(fake.shape[-2:])} px, its day photo is '
                            f'{tuple(day.shape[-2:])}: testA and testB of a ground-truth set must be the same sizes')
        scores['gt_psnr'].append(float(metrics.psnr(fake, day)[0]))
        scores['gt_ssim'].append(float(metrics.ssim(fake, day)[0]))
        scores['gt_edge'].append(float(metrics.edge_correlation(fake, day)[0]))
    return {c: float(np.mean(v)) for c, v in scores.items()}


def to_uint8(x):
    return (evaluation.to_unit(x).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)


def checkpoint_present(run_dir, point):
    return os.path.isfile(os.path.join(run_dir, f'iter_{point}_net_G_A.pth'))


# ----------------------------------------------------------------------------- results
def read_results(path):
    """The rows of study.csv, keyed by (config, iteration). A row cut short by an interruption is
    dropped (and the file rewritten without it)."""
    if not os.path.isfile(path):
        return {}
    with open(path, newline='', encoding='utf-8') as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != CSV_COLUMNS:
            raise UserError(f'{path} has other columns than this version of the study writes: move it away and rerun')
        rows, kept, dropped = {}, [], 0
        for row in reader:
            try:
                parsed = {c: row[c] if c in ('config', 'checkpoint') else float(row[c]) for c in CSV_COLUMNS}
            except (TypeError, ValueError):
                dropped += 1
                continue
            parsed['iteration'] = int(parsed['iteration'])
            rows[parsed['config'], parsed['iteration']] = parsed
            kept.append(row)
    if dropped:
        write_results(path, kept)  # the rows as they were written
    return rows


def write_results(path, rows):
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS, lineterminator='\n')
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, text.getvalue())
    os.chmod(path, 0o644)


def append_result(path, row):
    new = not os.path.isfile(path)
    with open(path, 'a', newline='', encoding='utf-8') as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, lineterminator='\n')
        if new:
            writer.writeheader()
        writer.writerow(row)
        f.flush()
        os.fsync(f.fileno())


def fmt(value, spec='{:.4g}'):
    if isinstance(value, str):
        return value
    return 'n/a' if value is None or math.isnan(value) else spec.format(value)


def machine(gpu_ids):
    ids = [i for i in gpu_ids.split(',') if i.strip().isdigit()]
    if ids and torch.cuda.is_available():
        device = f'GPU {torch.cuda.get_device_name(int(ids[0]))}'
    else:
        device = f'CPU ({platform.processor() or platform.machine()})'
    usable = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    return (f'{os.cpu_count()} CPUs ({usable} usable by this process), torch {torch.__version__}, '
            f'Python {platform.python_version()}, device: {device}')


def write_markdown(path, opt, configs, results, records, command):
    last = opt.eval_at[-1]
    lines = [f'# Quality study: {os.path.basename(os.path.normpath(opt.out))}', '',
             f'Made by `{command}` on {datetime.date.today().isoformat()}.', '',
             f'Machine: {machine(opt.gpu_ids)}.', '',
             f'Every configuration trained {opt.iters} iterations with seed {opt.seed} on {opt.dataroot}, '
             f'with the common flags `{shlex.join(opt.common)}` and then its own. Evaluated at iterations '
             f'{", ".join(map(str, opt.eval_at))} on test frames {opt.eval_size} px high.', '',
             'FID and KID compare the A->B translations with real B images. KID is the mean and ± its standard '
             'deviation over random subsets of half the images (the kid_subset_size column), which shows how much '
             'it moves with the choice of test images; it is wider than the standard error of the full-sample '
             'estimate (about sqrt(2) times). With this few test images FID is biased upwards: compare it between '
             'configurations, not with published values. Cycle PSNR/SSIM/L1: A->B->A (A) and B->A->B (B); σ and '
             'r(σ, error) only for models with an uncertainty map.', '',
             f'## At iteration {last}', '']
    ground_truth = any(label in {k[0] for k in results} for label in REFERENCES)
    summary = (GT_SUMMARY if ground_truth else []) + SUMMARY
    if ground_truth:
        lines[-2:-2] = ['A ground-truth set (data/ground_truth.py): every test night image was rendered from a day '
                        'photo, and PSNR, SSIM and edge r (the correlation of the gradient magnitudes: is the scene\'s '
                        'structure where it was) score each translation against that photo. The untouched night input '
                        'is the floor and the exact inverse of the rendering (which cannot undo its noise) the '
                        'ceiling.', '']
    head = ['config', 'flags', 'KID ×10³', *[h for _, h, _ in summary], 'train s/it']
    lines += ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for label in REFERENCES if ground_truth else []:
        row = results.get((label, 0))
        if row is not None:
            lines.append('| ' + ' | '.join([label, 'reference', 'n/a', *[fmt(row[col], spec) for col, _, spec in summary],
                                            'n/a']) + ' |')
    for c in configs:
        row = results.get((c['name'], last))
        record = records.get(c['name']) or {}
        per_it = (f'{record["train_seconds"] / record["trained_iters"]:.3f}'
                  if record.get('trained_iters') else 'n/a')
        flags = f'`{shlex.join(c["flags"])}`' if c['flags'] else '(defaults)'
        if row is None:
            lines.append(f'| {c["name"]} | {flags} | not evaluated yet |' + ' |' * (len(head) - 3))
            continue
        kid = f'{1e3 * row["kid"]:.2f} ± {1e3 * row["kid_std"]:.2f}'
        cells = [c['name'], flags, kid, *[fmt(row[col], spec) for col, _, spec in summary], per_it]
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines += ['', 'train s/it: wall-clock seconds per iteration of train.py, start-up and checkpoints included.', '',
              *(['![PSNR against the truth, against iterations](ground_truth.png)', ''] if ground_truth else []),
              '![KID against iterations](kid.png)', '', '![night -> day by each configuration](samples.png)', '',
              '![day -> night by each configuration](samples_BtoA.png)', '', '## Every evaluation', '']
    columns = [c for c in CSV_COLUMNS if c != 'eval_seconds']
    lines += ['| ' + ' | '.join(columns) + ' |', '|' + '---|' * len(columns)]
    names = [c['name'] for c in configs]
    for key in sorted(results, key=lambda k: (names.index(k[0]) if k[0] in names else len(names), k[1])):
        lines.append('| ' + ' | '.join(fmt(results[key][c]) for c in columns) + ' |')
    write_text(path, '\n'.join(lines) + '\n')


def plot_kid(path, opt, configs, results):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    present = [c['name'] for c in configs if any((c['name'], p) in results for p in opt.eval_at)]
    shift = 0.006 * opt.iters  # side by side, so that the error bars do not hide each other
    sizes = set()
    for i, name in enumerate(present):
        rows = [results[name, p] for p in opt.eval_at if (name, p) in results]
        x = np.array([r['iteration'] for r in rows], dtype=float) + (i - (len(present) - 1) / 2) * shift
        ax.errorbar(x, [1e3 * r['kid'] for r in rows], yerr=[1e3 * r['kid_std'] for r in rows],
                    marker='o', capsize=3, label=name)
        sizes.update((int(r['n_fake']), int(r['kid_subset_size'])) for r in rows)
    ax.set_xlabel('training iteration')
    ax.set_ylabel('KID ×10³ (lower is better)')
    ax.set_xticks(opt.eval_at)
    ax.grid(True, alpha=0.3)
    if present:
        ax.legend(fontsize='small', loc='upper left', bbox_to_anchor=(1.01, 1))
    counts = ', '.join(f'{n} images, subsets of {m}' for n, m in sorted(sizes))
    ax.set_title(f'KID of the night->day translations ({counts}); bars: std over {opt.kid_subsets} subsets',
                 fontsize='medium')
    fig.tight_layout()
    fig.savefig(path, format='png')


def plot_ground_truth(path, opt, configs, results):
    """PSNR and edge r against the truth, against iterations; the floor and ceiling as lines."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    for k, (column, title) in enumerate((('gt_psnr', 'PSNR against the truth (dB)'),
                                         ('gt_edge', 'edge r against the truth'))):
        ax = fig.add_subplot(1, 2, k + 1)
        for name in [c['name'] for c in configs]:
            rows = [results[name, p] for p in opt.eval_at if (name, p) in results]
            if rows:
                ax.plot([r['iteration'] for r in rows], [r[column] for r in rows], marker='o', label=name)
        for label, style in zip(REFERENCES, (':', '--')):
            if (label, 0) in results:
                ax.axhline(results[label, 0][column], color='grey', linestyle=style, label=label)
        ax.set_xlabel('training iteration')
        ax.set_ylabel(title + ' (higher is better)')
        ax.set_xticks(opt.eval_at)
        ax.grid(True, alpha=0.3)
    fig.axes[-1].legend(fontsize='small', loc='upper left', bbox_to_anchor=(1.01, 1))
    fig.suptitle('Night -> day on the ground-truth set', fontsize='medium')
    fig.tight_layout()
    fig.savefig(path, format='png')


def tile_width(size):
    return round(size * TILE_ASPECT)


def fit(array, width, height):
    """An image, scaled to fit inside width x height, centred on a dark tile."""
    image = Image.fromarray(array)
    scale = min(width / image.width, height / image.height)
    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.BICUBIC)
    tile = Image.new('RGB', (width, height), (40, 40, 40))
    tile.paste(image, ((width - image.width) // 2, (height - image.height) // 2))
    return tile


def render_grid(columns, size, path):
    """columns: [(label, [HxWx3 uint8 per row])] -> a PNG grid, rows of tiles `size` px high."""
    width = tile_width(size)
    n_rows = len(columns[0][1])
    canvas = Image.new('RGB', (PAD + len(columns) * (width + PAD), HEADER + n_rows * (size + PAD)), 'white')
    font = ImageFont.load_default(size=11)
    for c, (label, tiles) in enumerate(columns):
        x = PAD + c * (width + PAD)
        cell = Image.new('RGB', (width, HEADER - 2), 'white')  # clips a label wider than its column
        ImageDraw.Draw(cell).text((0, 2), label, fill='black', font=font)
        canvas.paste(cell, (x, 0))
        for r, array in enumerate(tiles):
            canvas.paste(fit(array, width, size), (x, HEADER + r * (size + PAD)))
    canvas.quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def render_samples(evaluator, opt, configs):
    """samples.png (night -> day) and samples_BtoA.png (day -> night) from each configuration
    whose last checkpoint exists."""
    last = opt.eval_at[-1]
    ready = [c['name'] for c in configs if checkpoint_present(os.path.join(opt.runs_dir, c['name']), last)]
    if not ready:
        return []
    columns = {'A': [], 'B': []}
    for name in ready:
        tiles = evaluator.translate(name, f'iter_{last}', opt.num_samples)
        truth = tiles.pop('truth', None)
        for side, (reals, fakes) in tiles.items():
            if not columns[side]:
                columns[side].append(('real night' if side == 'A' else 'real day', reals))
                if side == 'A' and truth is not None:
                    columns[side].append(('true day', truth))
            columns[side].append((name, fakes))
    written = []
    for side, file in (('A', 'samples.png'), ('B', 'samples_BtoA.png')):
        path = os.path.join(opt.out, file)
        render_grid(columns[side], opt.sample_size, path)
        written.append(path)
    return written


def report(opt, configs, records, command, evaluator=None):
    results = read_results(opt.csv_path)
    write_markdown(os.path.join(opt.out, 'study.md'), opt, configs, results, records, command)
    plot_kid(os.path.join(opt.out, 'kid.png'), opt, configs, results)
    if any(label in {k[0] for k in results} for label in REFERENCES):
        plot_ground_truth(os.path.join(opt.out, 'ground_truth.png'), opt, configs, results)
    if evaluator is not None:
        log('rendering samples: ' + ', '.join(render_samples(evaluator, opt, configs)))


# ----------------------------------------------------------------------------- main
@exit_on_user_error
def main(args=None):
    argv = sys.argv[1:] if args is None else [str(a) for a in args]
    opt = parse_args(argv)
    command = shlex.join(['python', 'scripts/study.py', *argv])
    opt.dataroot, opt.out = os.path.abspath(opt.dataroot), os.path.abspath(opt.out)
    if opt.ground_truth and not is_ground_truth_set(opt.dataroot):
        opt.dataroot = ground_truth_data(opt.dataroot, os.path.join(opt.out, 'data'))
    if not os.path.isdir(os.path.join(opt.dataroot, 'trainA')):
        raise UserError(f'--dataroot {opt.dataroot} has no trainA folder: point it at a folder with '
                        f'trainA/trainB/testA/testB')
    opt.runs_dir, opt.csv_path = os.path.join(opt.out, 'runs'), os.path.join(opt.out, 'study.csv')
    configs = load_configs(opt.configs)
    chosen = select(configs, opt.only)
    settings_path = os.path.join(opt.out, 'study.json')
    settings = check_settings(opt, settings_path)

    log(f'{len(chosen)} of {len(configs)} configurations, {opt.iters} iterations each, evaluated at '
        f'{",".join(map(str, opt.eval_at))}; results in {opt.out}')
    inspected = {}
    for c in chosen:  # every configuration's flags are checked before anything trains
        inspected[c['name']] = inspect_config(c, opt)
    if not opt.dry_run:
        os.makedirs(opt.runs_dir, exist_ok=True)
        if not os.path.isfile(settings_path):
            write_text(settings_path, json.dumps(settings, indent=1) + '\n')
    results = read_results(opt.csv_path)
    evaluator = Evaluator(opt)
    records = {}
    try:
        for k, c in enumerate(chosen, 1):
            name, (model, epoch_iters) = c['name'], inspected[c['name']]
            records[name] = train(c, k, len(chosen), opt, epoch_iters)
            todo = [p for p in opt.eval_at if (name, p) not in results]
            if opt.dry_run:
                log(f'config {k}/{len(chosen)} {name}: would evaluate at {todo or "nothing (all in study.csv)"}')
                continue
            if not todo:
                log(f'config {k}/{len(chosen)} {name}: every eval point is in study.csv')
                continue
            run_dir = os.path.join(opt.runs_dir, name)
            missing = [p for p in todo if not checkpoint_present(run_dir, p)]
            if missing:
                raise UserError(f'{run_dir} has no iter_{missing[0]} checkpoint to evaluate: delete {run_dir} to '
                                f'retrain {name}')
            if evaluator.ground_truth:
                add_references(evaluator, name, opt.csv_path, results)
            log(f'evaluating config {k}/{len(chosen)} {name} ({model}) at iterations {",".join(map(str, todo))}')
            for point, row, seconds in evaluator.evaluate(name, todo):
                out = {'config': name, 'iteration': point, 'checkpoint': f'iter_{point}', **row,
                       'eval_seconds': seconds}
                out = {col: out.get(col, math.nan) for col in CSV_COLUMNS}
                append_result(opt.csv_path, out)
                results[name, point] = out
                log(f'{name} at {point}: FID {fmt(row["fid"], "{:.1f}")}, KID {1e3 * row["kid"]:.2f} ± '
                    f'{1e3 * row["kid_std"]:.2f} ×10³, PSNR A {fmt(row["psnr_A"], "{:.2f}")} ({seconds:.0f} s)')
            report(opt, configs, records_of(opt, configs, records), command)
    except KeyboardInterrupt:
        raise UserError('interrupted: rerun the same command to continue where the study stopped')
    if opt.dry_run:
        return
    report(opt, configs, records_of(opt, configs, records), command, evaluator)
    log(f'wrote {opt.csv_path}, {os.path.join(opt.out, "study.md")} and {os.path.join(opt.out, "kid.png")}')


def ground_truth_data(source, dest):
    """The ground-truth set rendered from `source`'s day photos into `dest` (once, also by a dry
    run: the configurations are checked against it); its path."""
    for folder in ('trainB', 'testB'):
        if not os.path.isdir(os.path.join(source, folder)):
            raise UserError(f'--ground_truth renders the day photos of --dataroot, but {source} has no {folder} folder')
    log(f'rendering the ground-truth set from the day photos of {source} into {dest}')
    counts = make_ground_truth_set(source, dest)
    log('ground-truth set: ' + ', '.join(f'{folder} {n}' for folder, n in counts.items()))
    return dest


def add_references(evaluator, name, csv_path, results):
    """The floor and ceiling rows (iteration 0) of a ground-truth study, once."""
    if all((label, 0) in results for label in REFERENCES):
        return
    for label, scores in evaluator.references(name).items():
        row = {col: math.nan for col in CSV_COLUMNS}
        row.update(scores, config=label, iteration=0, checkpoint='none', eval_seconds=0.0)
        append_result(csv_path, row)
        results[label, 0] = row
        log(f'{label}: PSNR {scores["gt_psnr"]:.2f} dB, SSIM {scores["gt_ssim"]:.3f}, edge r {scores["gt_edge"]:.3f} '
            f'against the true day photos')


def records_of(opt, configs, records):
    """Each configuration's training record, also of those not run by this invocation."""
    out = dict(records)
    for c in configs:
        path = os.path.join(opt.runs_dir, c['name'], 'study_train.json')
        if c['name'] not in out and os.path.isfile(path):
            with open(path, encoding='utf-8') as f:
                out[c['name']] = json.load(f)
    return out


if __name__ == '__main__':
    main()
