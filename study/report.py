"""The study's results: study.csv (appended row by row, a row cut short by an interruption
dropped when read back, a file from before the later columns read with them as NaN), study.md
(the table at the last eval point, the uncertainty and aliasing tables of a ground-truth study,
every evaluation, the command, the settings and the machine), kid.png, ground_truth.png and the
sample grids samples.png and samples_BtoA.png."""
import csv
import datetime
import io
import json
import math
import os
import platform
import shlex

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from metrics import uncertainty
from metrics.evaluation import COLUMNS
from study.common import log, write_text
from study.evaluation import (ALIASING_COLUMNS, CLIP_FRAMES, CLIP_PHOTOS, FLICKER_COLUMNS, GT_COLUMNS, REFERENCE_LABELS,
                              UNCERTAINTY_COLUMNS, checkpoint_present)
from util.checkpoint import atomic_write_text
from util.errors import UserError

# study.csv's columns: the run and checkpoint, the metrics of metrics/evaluation.py, the scores against
# the truth (NaN off a ground-truth set), the KID subset size, the seconds the row took, the
# uncertainty scores, the training compute and the aliasing measures (ground-truth set only).
CSV_COLUMNS = (['config', 'iteration', 'checkpoint'] + [c for c in COLUMNS if c != 'epoch'] + GT_COLUMNS
               + ['kid_subset_size', 'eval_seconds'] + UNCERTAINTY_COLUMNS + ['train_seconds', 'train_tflop']
               + ALIASING_COLUMNS)
# Columns that studies made before them lack: read as NaN.
LATER_COLUMNS = UNCERTAINTY_COLUMNS + ['train_seconds', 'train_tflop'] + ALIASING_COLUMNS
# The calibration curves of the uncertainty scores: {config: {iteration: {predictor: [[mean u], [mean error]]}}}
CALIBRATION = 'calibration.json'
GT_SUMMARY = [('gt_psnr', 'PSNR vs truth', '{:.2f}'), ('gt_ssim', 'SSIM vs truth', '{:.3f}'),
              ('gt_edge', 'edge r vs truth', '{:.3f}')]
# The Markdown summary's columns: (CSV column, heading, format).
SUMMARY = [('fid', 'FID', '{:.1f}'), ('psnr_A', 'PSNR A', '{:.2f}'), ('ssim_A', 'SSIM A', '{:.3f}'),
           ('psnr_B', 'PSNR B', '{:.2f}'), ('ssim_B', 'SSIM B', '{:.3f}'), ('cycle_l1_A', 'cycle L1 A', '{:.4f}'),
           ('sigma_A', 'mean σ A', '{:.3f}'), ('pearson_image', 'r(σ, error)', '{:.2f}')]
# samples.png geometry: tiles --sample_size px high and TILE_ASPECT as wide, PAD px apart, under a
# HEADER px band of column labels.
TILE_ASPECT, PAD, HEADER = 16 / 9, 4, 18


def read_results(path):
    """The rows of study.csv, keyed by (config, iteration). A row cut short by an interruption is
    dropped (and the file rewritten without it)."""
    if not os.path.isfile(path):
        return {}
    with open(path, newline='', encoding='utf-8') as f:
        reader = csv.DictReader(f)
        lacking = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        older = bool(lacking) and set(lacking) <= set(LATER_COLUMNS) and reader.fieldnames == [
            c for c in CSV_COLUMNS if c not in lacking]  # an earlier version's columns, in order
        if reader.fieldnames != CSV_COLUMNS and not older:
            raise UserError(f'{path} has other columns than this version of the study writes: move it away and rerun')
        rows, kept, dropped = {}, [], 0
        for row in reader:
            if older:
                row.update({c: 'nan' for c in lacking})
            try:
                parsed = {c: row[c] if c in ('config', 'checkpoint') else float(row[c]) for c in CSV_COLUMNS}
            except (TypeError, ValueError):
                dropped += 1
                continue
            parsed['iteration'] = int(parsed['iteration'])
            rows[parsed['config'], parsed['iteration']] = parsed
            kept.append(row)
    if dropped or older:
        write_results(path, kept)  # the rows as they were written, under today's columns
    return rows


def write_results(path, rows):
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS, lineterminator='\n')
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, text.getvalue())
    os.chmod(path, 0o644)


def save_calibration(path, name, iteration, curves):
    """Add one evaluation's calibration curves ({predictor: (mean u, mean error)}) to calibration.json."""
    data = {}
    if os.path.isfile(path):
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    data.setdefault(name, {})[str(iteration)] = {p: [list(map(float, u)), list(map(float, e))]
                                                 for p, (u, e) in curves.items()}
    write_text(path, json.dumps(data) + '\n')


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
             f'Every configuration trained {opt.iters} iterations with seed {opt.seed} on {os.path.relpath(opt.dataroot)}, '
             f'with the common flags `{shlex.join(opt.common)}` and then its own. Evaluated at iterations '
             f'{", ".join(map(str, opt.eval_at))} on test frames {opt.eval_size} px high.', '',
             'FID and KID compare the A->B translations with real B images. KID is the mean and ± its standard '
             'deviation over random subsets of half the images (the kid_subset_size column), which shows how much '
             'it moves with the choice of test images; it is wider than the standard error of the full-sample '
             'estimate (about sqrt(2) times). With this few test images FID is biased upwards: compare it between '
             'configurations, not with published values. Cycle PSNR/SSIM/L1: A->B->A (A) and B->A->B (B); σ and '
             'r(σ, error) only for models with an uncertainty map.', '',
             f'## At iteration {last}', '']
    ground_truth = is_ground_truth_study(results)
    summary = (GT_SUMMARY if ground_truth else []) + SUMMARY
    if ground_truth:
        lines[-2:-2] = ['A ground-truth set (data/ground_truth.py): every test night image was rendered from a day '
                        'photo, and PSNR, SSIM and edge r (the correlation of the gradient magnitudes: is the scene\'s '
                        'structure where it was) score each translation against that photo. The untouched night input '
                        'is the floor. On the night task the exact inverse of the rendering (which cannot undo its '
                        'noise) is the ceiling; on the rainy task the global inverse undoes the night look only, and '
                        'the ceiling is the paired bound (python -m study.paired_bound).', '']
    head = ['config', 'flags', 'KID ×10³', *[h for _, h, _ in summary], 'train s/it', 'GFLOP/it']
    lines += ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for label in REFERENCE_LABELS if ground_truth else []:
        row = results.get((label, 0))
        if row is not None:
            lines.append('| ' + ' | '.join([label, 'reference', 'n/a', *[fmt(row[col], spec) for col, _, spec in summary],
                                            'n/a', 'n/a']) + ' |')
    for c in configs:
        row = results.get((c['name'], last))
        record = records.get(c['name']) or {}
        per_it = fmt(seconds_per_iter(record), '{:.3f}')
        flags = f'`{shlex.join(c["flags"])}`' if c['flags'] else '(defaults)'
        if row is None:
            lines.append(f'| {c["name"]} | {flags} | not evaluated yet |' + ' |' * (len(head) - 3))
            continue
        kid = f'{1e3 * row["kid"]:.2f} ± {1e3 * row["kid_std"]:.2f}'
        cells = [c['name'], flags, kid, *[fmt(row[col], spec) for col, _, spec in summary], per_it,
                 fmt(record.get('step_gflop', math.nan), '{:.1f}')]
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines += ['', 'train s/it: wall-clock seconds per iteration of train.py, start-up and checkpoints included. '
              'GFLOP/it: the FLOPs of one training step (counted on FakeTensors).', '',
              *(['![PSNR against the truth, against iterations](ground_truth.png)', ''] if ground_truth else []),
              *uncertainty_lines(configs, results, last),
              *aliasing_lines(configs, results, last),
              *equal_time_lines(opt, configs, records, command),
              '![KID against iterations](kid.png)', '', '![night -> day by each configuration](samples.png)', '',
              '![day -> night by each configuration](samples_BtoA.png)', '', '## Every evaluation', '']
    columns = [c for c in CSV_COLUMNS if c != 'eval_seconds']
    lines += ['| ' + ' | '.join(columns) + ' |', '|' + '---|' * len(columns)]
    names = [c['name'] for c in configs]
    for key in sorted(results, key=lambda k: (names.index(k[0]) if k[0] in names else len(names), k[1])):
        lines.append('| ' + ' | '.join(fmt(results[key][c]) for c in columns) + ' |')
    write_text(path, '\n'.join(lines) + '\n')


def is_ground_truth_study(results):
    return any(label in {k[0] for k in results} for label in REFERENCE_LABELS)


def seconds_per_iter(record):
    """A run's mean wall-clock seconds per iteration (start-up and saves included); NaN before it trained."""
    return record['train_seconds'] / record['trained_iters'] if record.get('trained_iters') else math.nan


def uncertainty_lines(configs, results, last):
    """study.md's table of the uncertainty scores at the last eval point (ground-truth studies)."""
    rows = [(c['name'], results[c['name'], last]) for c in configs if (c['name'], last) in results]
    rows = [(name, row) for name, row in rows if not math.isnan(row['unc_cycle_spearman'])]
    if not rows:
        return []
    head = ['config'] + [f'{p} {label}' for p in uncertainty.PREDICTORS
                         for label in ('r', 'AUSE', 'AUROC')]
    lines = ['## Where is the translation wrong? Per-pixel predictors of the true error', '',
             'For each predictor: Spearman r with the true error |translation - truth| (higher is better), AUSE '
             '(the sparsification error normalised by a random order\'s: 0 orders pixels as their error does, 1 is '
             'chance; lower is better) and AUROC for the hidden pixels (rainy task; 0.5 is chance). σ: the model\'s '
             'uncertainty; cycle: |x - F(G(x))|; brightness: the input\'s; random: a random order. Pixels pooled over '
             'the test images (metrics/uncertainty.py).', '',
             '| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for name, row in rows:
        cells = [fmt(row[f'unc_{p}_{s}'], '{:.2f}') for p in uncertainty.PREDICTORS for s in uncertainty.SCORES]
        lines.append('| ' + ' | '.join([name] + cells) + ' |')
    return lines + ['', '![true error against each predictor, binned](calibration.png)', '']


def aliasing_lines(configs, results, last):
    """study.md's table of the aliasing measures at the last eval point (ground-truth studies): the
    references' rows, then each configuration's."""
    rows = [(label, results[label, 0]) for label in REFERENCE_LABELS if (label, 0) in results]
    rows += [(c['name'], results[c['name'], last]) for c in configs if (c['name'], last) in results]
    rows = [(name, row) for name, row in rows if not all(math.isnan(row[c]) for c in ALIASING_COLUMNS)]
    if not rows:
        return []
    head = ['config', 'still', *[c.replace('flicker_pan', 'pan ') + ' px' for c in FLICKER_COLUMNS[1:]],
            'clip PSNR', 'grid ratio', 'grid peak']
    lines = ['## Aliasing: flicker and the checkerboard', '',
             f"Flicker: the mean change between consecutive frames, in grey levels, after undoing the known motion, "
             f"on clips of {CLIP_FRAMES} frames cut from the day photos of {CLIP_PHOTOS} test images with the camera "
             f"still or panning 1 to 4 px a frame, each frame rendered with fresh noise (metrics/aliasing.py). The "
             f"truth scores 0; (night input) is the input's own change: its noise. Clip PSNR: those translated frames "
             f"against their truth (dB). Grid ratio: the test translations' share of spectral power at the pixel "
             f"grid's periods (2 and 4 px) over the truth's (1: as much as the truth; noise raises it too). Grid "
             f"peak: the power at those frequencies over that of the frequencies around them, over the truth's "
             f"(noise does not raise it).", '',
             '| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for name, row in rows:
        cells = [fmt(row[c], '{:.2f}') for c in ALIASING_COLUMNS]
        lines.append('| ' + ' | '.join([name] + cells) + ' |')
    return lines + ['']


def equal_time_iters(seconds, seconds_per_iteration):
    """The iterations a run at `seconds_per_iteration` trains in `seconds` (rounded)."""
    return max(1, round(seconds / seconds_per_iteration))


def equal_time_lines(opt, configs, records, command):
    """study.md's equal-time plan: the iterations each configuration gets in the time the slowest
    one took for --iters, and the study command that trains a configuration for that long."""
    rates = {c['name']: seconds_per_iter(records.get(c['name']) or {}) for c in configs}
    rates = {name: rate for name, rate in rates.items() if not math.isnan(rate)}
    if len(rates) < 2:
        return []
    slowest = max(rates, key=rates.get)
    budget = rates[slowest] * opt.iters
    lines = ['## At equal training time', '',
             f'{slowest} took {budget:.0f} s for {opt.iters} iterations; in that time, at its own rate on this machine:',
             '', '| config | s/it | iterations in that time | × the iterations |', '|---|---|---|---|']
    for name, rate in rates.items():
        n = equal_time_iters(budget, rate)
        lines.append(f'| {name} | {rate:.3f} | {n} | {n / opt.iters:.2f} |')
    lines += ['', 'To compare at equal time, train each faster configuration for its iterations in a study of its own, '
              'e.g. `' + command.replace(f'--iters {opt.iters}', '--iters N') + ' --only NAME` with another --out '
              '(its schedule then decays over the longer budget).', '']
    return lines


def plot_calibration(path, opt, calibration):
    """calibration.png: the true error against each predictor, binned, one panel per predictor and a
    line per configuration, at the last eval point."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    last = str(opt.eval_at[-1])
    fig = Figure(figsize=(4 * len(uncertainty.PREDICTORS), 4), dpi=100)
    FigureCanvasAgg(fig)
    for k, predictor in enumerate(uncertainty.PREDICTORS):
        ax = fig.add_subplot(1, len(uncertainty.PREDICTORS), k + 1)
        for name, points in calibration.items():
            if predictor in points.get(last, {}):
                u, e = points[last][predictor]
                ax.plot(u, e, marker='o', label=name)
        ax.set_xlabel(f'{predictor} (bin mean)')
        ax.set_ylabel('true error |translation - truth|')
        ax.grid(True, alpha=0.3)
        ax.set_title(predictor, fontsize='medium')
    labels = {}  # every configuration once, also those without a σ panel
    for ax in fig.axes:
        labels.update({label: handle for handle, label in zip(*ax.get_legend_handles_labels())})
    fig.axes[-1].legend(labels.values(), labels.keys(), fontsize='small', loc='upper left', bbox_to_anchor=(1.01, 1))
    fig.suptitle(f'True error against each predictor at iteration {last}, in bins of equal pixel counts',
                 fontsize='medium')
    fig.tight_layout()
    fig.savefig(path, format='png')


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
        for label, style in zip(REFERENCE_LABELS, (':', '--', '-.')):
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
    if is_ground_truth_study(results):
        plot_ground_truth(os.path.join(opt.out, 'ground_truth.png'), opt, configs, results)
    calibration_path = os.path.join(opt.out, CALIBRATION)
    if os.path.isfile(calibration_path):
        with open(calibration_path, encoding='utf-8') as f:
            plot_calibration(os.path.join(opt.out, 'calibration.png'), opt, json.load(f))
    if evaluator is not None:
        log('rendering samples: ' + ', '.join(render_samples(evaluator, opt, configs)))
