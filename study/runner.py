"""The study's training runs and the study itself. Each configuration trains as train.py in a child
process (`train`: its flags, the schedule of `schedule`, resumed from `latest` when a run was
cut short, checked against the flags it was started with), keeps only the iter_<n> checkpoints
of the eval points (`prune`), and `run_study` trains, evaluates and reports every configuration
in turn."""
import datetime
import json
import math
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

from data.ground_truth import is_ground_truth_set, make_ground_truth_set
from options.run_options import load_record
from study.common import log, quiet, write_text
from study.configs import check_settings, inspect_config, load_configs, select, train_options
from study.evaluation import REFERENCE_LABELS, Evaluator, checkpoint_present
from study.report import (CALIBRATION, CSV_COLUMNS, append_result, fmt, read_results, report, save_calibration,
                          seconds_per_iter)
from util import processes, stopping
from util.checkpoint import load_training_state
from util.errors import UserError

REPO = Path(__file__).resolve().parents[1]


def schedule(iters, epoch_iters):
    """(--n_epochs, --n_epochs_decay): half of the epochs constant (rounded up), half decaying."""
    epochs = math.ceil(iters / epoch_iters)
    return epochs - epochs // 2, epochs // 2


def study_flags(opt, epoch_iters):
    """The flags the study gives every run: its seed, schedule and checkpoints."""
    n_epochs, n_decay = schedule(opt.iters, epoch_iters)
    return ['--seed', str(opt.seed), '--max_iters', str(opt.iters), '--n_epochs', str(n_epochs),
            '--n_epochs_decay', str(n_decay), '--save_latest_freq', str(math.gcd(*opt.eval_at)), '--save_by_iter']


def train_identity(config, opt, epoch_iters):
    """The flags that decide what a run learns (recorded in its folder, compared on resume)."""
    return [*opt.common, *config['flags'], *study_flags(opt, epoch_iters)]


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


# Options that say where and how a run executes, not what it learns.
RUN_ONLY = {'dataroot', 'checkpoints_dir', 'name', 'suffix', 'phase', 'isTrain', 'gpu_ids', 'num_threads', 'world_size',
            'local_rank', 'dist_backend', 'continue_train', 'epoch', 'epoch_count', 'print_freq', 'verbose',
            'save_epoch_freq', 'no_html', 'use_wandb', 'wandb_project', 'compile', 'channels_last',
            'checkpoint_activations', 'bad_images', 'display_freq', 'display_id', 'display_env', 'display_ncols',
            'display_port', 'display_server', 'display_start_server', 'display_winsize'}


def check_defaults(run_dir, name, options):
    """The same flags give another run when a default has changed since it was trained (e.g.
    --uncertainty): its train_opt.json must hold what `options` (today's parse of its flags) say,
    or its rows would be reported under a configuration it is not."""
    stored = load_record(os.path.dirname(run_dir), name)
    now = json.loads(json.dumps(vars(options), default=str))  # as the record stores them
    changed = [k for k in sorted(now) if k in stored and k not in RUN_ONLY and stored[k] != now[k]]
    if changed:
        k = changed[0]
        raise UserError(f'{name} was trained with --{k} {stored[k]}, but its flags give --{k} {now[k]} today (the '
                        f'default changed; recorded in {os.path.join(run_dir, "train_opt.json")}): delete {run_dir} '
                        f'to retrain it, or choose another --out')


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
    check_defaults(run_dir, name, train_options(config, opt, *study_flags(opt, epoch_iters)))
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
    if 'step_gflop' not in record:
        record['step_gflop'] = step_gflop(opt, config)
    os.makedirs(run_dir, exist_ok=True)
    write_text(os.path.join(run_dir, 'study_train.json'), json.dumps(record, indent=1) + '\n')
    start = time.time()
    rc, last = run_train(cmd, os.path.join(run_dir, 'study_train.log'))
    if rc == stopping.EXIT_STOPPED:  # a stop signal: train.py saved where it stopped
        raise UserError(f'train.py was stopped by a signal on configuration {name} at iteration '
                        f'{trained_iters(run_dir)} and saved there: rerun the same command to continue the study')
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


def compute_spent(record, iteration):
    """{train_seconds, train_tflop} to reach `iteration` of a run: its mean seconds per iteration
    (start-up and saves included) and its FLOPs per step, times the iteration."""
    return {'train_seconds': seconds_per_iter(record) * iteration, 'train_tflop': record.get('step_gflop', math.nan) * iteration / 1e3}


def step_gflop(opt, config):
    """GFLOPs of one training step of a configuration, counted on FakeTensors (its crop size and
    batch; no data, no time)."""
    from data.base_dataset import size_hw
    from models import create_model
    from models.memory import fake_step_flops
    train_opt = train_options(config, opt)
    with quiet():
        model = create_model(train_opt)
        model.setup(train_opt)
    return fake_step_flops(model, train_opt.batch_size, *size_hw(train_opt.crop_size),
                           (train_opt.input_nc, train_opt.output_nc)) / 1e9


def prune(run_dir, keep):
    """Delete the iter_<n> checkpoints that are not eval points."""
    pattern = re.compile(r'^iter_(\d+)_(net_\w+|state)\.pth$')
    for file in os.listdir(run_dir):
        m = pattern.match(file)
        if m and int(m.group(1)) not in keep:
            os.remove(os.path.join(run_dir, file))


def run_study(opt, command):
    """The whole study for the checked flags of scripts/study.py (configs.check_options): each
    chosen configuration trained (or continued) and evaluated at the eval points not yet in
    study.csv, the report rewritten after each; `command` is what study.md says made it."""
    opt.dataroot, opt.out = os.path.abspath(opt.dataroot), os.path.abspath(opt.out)
    if opt.ground_truth and not is_ground_truth_set(opt.dataroot):
        opt.dataroot = ground_truth_data(opt.dataroot, os.path.join(opt.out, 'data'), opt.ground_truth)
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
                       **compute_spent(records[name], point), 'eval_seconds': seconds}
                out = {col: out.get(col, math.nan) for col in CSV_COLUMNS}
                if (name, point) in evaluator.calibration:
                    save_calibration(os.path.join(opt.out, CALIBRATION), name, point, evaluator.calibration[name, point])
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


def ground_truth_data(source, dest, task):
    """The ground-truth set of `task` rendered from `source`'s day photos into `dest` (once, also
    by a dry run: the configurations are checked against it); its path."""
    for folder in ('trainB', 'testB'):
        if not os.path.isdir(os.path.join(source, folder)):
            raise UserError(f'--ground_truth renders the day photos of --dataroot, but {source} has no {folder} folder')
    log(f'rendering the {task} ground-truth set from the day photos of {source} into {dest}')
    counts = make_ground_truth_set(source, dest, task=task)
    log('ground-truth set: ' + ', '.join(f'{folder} {n}' for folder, n in counts.items()))
    return dest


def add_references(evaluator, name, csv_path, results):
    """The floor and ceiling rows (iteration 0) of a ground-truth study, once."""
    if any((label, 0) in results for label in REFERENCE_LABELS):
        return
    for label, scores in evaluator.references(name).items():
        row = {col: math.nan for col in CSV_COLUMNS}
        row.update(scores, config=label, iteration=0, checkpoint='none', eval_seconds=0.0)
        append_result(csv_path, row)
        results[label, 0] = row
        log(f'{label}: PSNR {scores["gt_psnr"]:.2f} dB, SSIM {scores["gt_ssim"]:.3f}, edge r {scores["gt_edge"]:.3f} '
            f'against the true day photos; flicker still {scores["flicker_still"]:.2f}, 1-px pan '
            f'{scores["flicker_pan1"]:.2f} grey levels')


def records_of(opt, configs, records):
    """Each configuration's training record, also of those not run by this invocation."""
    out = dict(records)
    for c in configs:
        path = os.path.join(opt.runs_dir, c['name'], 'study_train.json')
        if c['name'] not in out and os.path.isfile(path):
            with open(path, encoding='utf-8') as f:
                out[c['name']] = json.load(f)
    return out
