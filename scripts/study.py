"""A reproducible quality study: train several configurations on the same data, with the same
seed and the same iteration budget, evaluate each at fixed iteration counts and write the results.

    python scripts/study.py --dataroot ./datasets/daynight --out studies/daynight --iters 1200 --eval_at 400,800,1200
    python scripts/study.py --dataroot ./datasets/daynight --out studies/daynight --iters 1200 --only au_gan,cycle_gan
    python scripts/study.py --dataroot ./datasets/daynight --out studies/quick --configs my_configs.json \\
        --common "--ngf 8 --ndf 8 --load_size 72 --crop_size 64 --preprocess scale_height_and_crop" --dry_run

Configurations. Without --configs, the study of docs/results.md: au_gan (the defaults),
cycle_gan, fork_gan and the AU-GAN ablations au_gan_bilinear (--upsample bilinear, the default
before it), au_gan_no_identity (--lambda_identity 0), au_gan_no_uncertainty (--uncertainty none),
au_gan_no_fm (--lambda_fm 0), au_gan_no_tnet (--n_blocks_T 0), au_gan_symmetric (--n_blocks_T_B 4:
a T-net in both generators), au_gan_exp (--uncertainty exp, the paper's cycle loss),
au_gan_no_input_skip (--no_input_skip --no_skip_refine), au_gan_paper (the paper's network and
loss: --uncertainty exp, no input skip, no filters), au_gan_no_antialias, au_gan_no_refine and
au_gan_aliased (--no_antialias, --no_skip_refine, both: the defaults before the aliasing study),
au_gan_antialias5 and au_gan_antialias3 (the binomial filters, --antialias_taps 5|3, without
--skip_refine), au_gan_antialias_down and au_gan_antialias_up (5 taps on one side only,
--antialias_at down|up, without --skip_refine), au_gan_bf16 (--amp bf16) and au_gan_official
(--preset official). --configs FILE replaces them with a JSON
list of {"name": ..., "flags": [...]} (an optional "model": "cycle_gan" is short for --model
cycle_gan). Each run is train.py with the --common flags first and the configuration's
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
                       settings and the machine (CPU count, torch version, device); with
                       --ground_truth, the uncertainty and aliasing tables too
    kid.png            KID against iterations, one line per configuration, kid_std as error bars
    ground_truth.png   with --ground_truth: PSNR and edge r against the truth against iterations,
                       the floor and the ceiling as lines
    calibration.png    with --ground_truth: the true error against each per-pixel predictor, binned, at the
                       last eval point (calibration.json: the curves of every evaluation)
    samples.png        N test night photos (--num_samples, evenly over testA sorted by name): the
                       real photo, then its translation by each configuration's last checkpoint
    samples_BtoA.png   the same for N day photos of testB translated to night
    study.json         the settings that decide the results, checked when the study is rerun
    runs/<config>/     the training run: checkpoints, loss log, train.py's output (study_train.log)
                       and the flags it was trained with (study_train.json); a rerun refuses a
                       run whose flags now give other options (a default changed since: its
                       train_opt.json says) instead of reporting it as today's configuration

Ground truth. With --ground_truth [night|rainy] the study renders a task with a known answer
from the day photos of --dataroot into <out>/data (data/ground_truth.py: `night`, a fixed, global
night rendering; `rainy`, that night look with rain streaks, drops on the lens and glare that hide
part of the scene, and a mask of the hidden pixels of each test image; unpaired halves for
training, a paired test set) and trains there. Each row then also scores the A->B translations
against the day photos they were rendered from: PSNR, SSIM and edge r (the correlation of
gradient magnitudes: the scene's structure kept, whatever its colours). Two rows at iteration 0
bound the task: `(night input)`, the untouched input (the floor), and `(exact inverse)` (night:
the rendering undone, the ceiling, as its noise cannot be undone) or `(global inverse)` (rainy:
the night look undone, the rain left; no exact inverse exists, and the ceiling is the paired
bound of `python -m study.paired_bound`). samples.png gets a `true day` column.

Aliasing. On a ground-truth set every row also measures flicker and the checkerboard of its A->B
generator (metrics/aliasing.py): flicker_still, flicker_pan1..flicker_pan4, the mean change between
consecutive translated frames (grey levels) after undoing the known motion, on clips of 8 frames
cut from the day photos of 3 test images with the camera still or panning 1-4 px a frame, fresh
noise in every frame; clip_psnr, those frames against their truth; grid_ratio, the test
translations' share of spectral power at the pixel grid's periods (2 and 4 px) over the truth's;
grid_peak, the power there over that around it, over the truth's. The (night input) row's
flicker is the input's own change (the truth's is 0). study.md gets an "Aliasing" table.

Uncertainty. On a ground-truth set every row also scores per-pixel predictors of the true error
|translation - truth| (metrics/uncertainty.py): σ (models with an uncertainty map), the cycle
error |x - F(G(x))|, the input's brightness and a random order; for each the Spearman r with the
true error, the AUSE (0: ordered as the error, 1: chance) and, on the rainy task, the AUROC for
the hidden pixels (columns unc_<predictor>_<score>). calibration.png plots the true error
against each predictor, binned, at the last eval point.

Compute. Each row records the training seconds and FLOPs spent to reach it (train_seconds: the
run's mean wall-clock seconds per iteration times the iteration; train_tflop: the FLOPs of one
training step, counted on a FakeTensor step, times the iteration). study.md compares the
configurations at equal training time too: the iterations each would get in the time the
slowest took, and the command that trains them for it.

Resuming. Rerunning the same command continues an interrupted study: a run whose `latest` is
below --iters continues from it (--continue_train), a finished one is not trained again, and rows
already in study.csv are not evaluated again. Changing the settings or a configuration's flags
for an existing --out is refused (use another --out, or delete the run folder to retrain it).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import os  # noqa: E402
import shlex  # noqa: E402

from data.ground_truth import TASKS  # noqa: E402
from study.configs import DEFAULT_COMMON, check_options  # noqa: E402
from study.runner import run_study  # noqa: E402
from util.errors import exit_on_user_error  # noqa: E402


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
    parser.add_argument('--ground_truth', nargs='?', const='night', default=None, choices=TASKS,
                        help='train and score on a task with a known answer, rendered from the day photos of '
                             '--dataroot into <out>/data (data/ground_truth.py): night (the default: a global night '
                             'look) or rainy (rain, drops and glare that hide part of the scene, with masks); adds '
                             'PSNR, SSIM and edge correlation against the true day photo, the untouched input and '
                             'the inverse of the night look as references, and the uncertainty scores')
    parser.add_argument('--dry_run', action='store_true', help='print the commands and the plan, run nothing')
    opt = parser.parse_args(args)
    return check_options(opt)


@exit_on_user_error
def main(args=None):
    argv = sys.argv[1:] if args is None else [str(a) for a in args]
    opt = parse_args(argv)
    run_study(opt, recorded_command(argv))


def recorded_command(argv):
    """The command that study.md says made it, with absolute paths relative to the working
    directory (the repository), so that the record names no one machine's folders."""
    return shlex.join(['python', 'scripts/study.py', *(os.path.relpath(a) if os.path.isabs(a) else a for a in argv)])


if __name__ == '__main__':
    main()
