"""Flags for scripts/convert.py: translate images, folders, list files and videos with a trained
model, in one direction or both.

The networks are rebuilt as the run folder records them (options/run_options.py): --name,
--checkpoints_dir and --epoch pick the model, no architecture flag is needed. --dataroot is not used.
"""
import argparse
import os

from data.base_dataset import parse_size
from util.errors import UserError
from .test_options import TestOptions

# --temporal's settings (inference/temporal.py says what each does); study/temporal.py starts from them.
TEMPORAL_STRENGTH = 0.75
TEMPORAL_TOLERANCE = 10.0  # grey levels
TEMPORAL_CUT = 0.3         # x the layout's spread
TEMPORAL_FLOW_SIZE = 512   # px


def add_temporal_options(parser):
    """--temporal and its settings: scripts/convert.py's, and scripts/evaluate.py --video's to score it."""
    parser.add_argument('--temporal', action='store_true',
                        help='videos: filter the translated frames over time along the motion estimated on the input '
                             '(classical optical flow): what changes from frame to frame where the scene holds still '
                             '(noise, rain) is averaged away, things that move on their own and scene cuts are '
                             'followed '
                             '(docs/conversion.md)')
    parser.add_argument('--temporal_strength', type=float, default=TEMPORAL_STRENGTH,
                        help='with --temporal: the weight of the past, in [0, 1); 0.75 averages about 7 frames')
    parser.add_argument('--temporal_tolerance', type=float, default=TEMPORAL_TOLERANCE,
                        help='with --temporal: where the input changes this many grey levels more than it typically '
                             'does (something moved on its own, or the flow failed), the past fades out')
    parser.add_argument('--temporal_cut', type=float, default=TEMPORAL_CUT,
                        help='with --temporal: a frame whose input\'s coarse layout (8x8 block means) differs from the '
                             'previous one\'s, after undoing the motion, by more than this times the layout\'s spread '
                             'is a scene cut, and the filter starts again')
    parser.add_argument('--temporal_flow_size', type=int, default=TEMPORAL_FLOW_SIZE,
                        help='with --temporal: the motion is estimated on frames shrunk to at most this many px on the '
                             'longer side (larger: more exact, slower; 0: full size)')
    return parser


def check_temporal_options(opt):
    """One-line errors for --temporal settings out of range."""
    if not 0 <= opt.temporal_strength < 1:
        raise UserError(f'--temporal_strength {opt.temporal_strength} is out of range: give a weight in [0, 1), '
                        f'e.g. {TEMPORAL_STRENGTH}')
    if not opt.temporal_tolerance > 0:
        raise UserError(f'--temporal_tolerance {opt.temporal_tolerance} is out of range: give grey levels above 0, '
                        f'e.g. {TEMPORAL_TOLERANCE:g}')
    if opt.temporal_flow_size < 0 or 0 < opt.temporal_flow_size < 32:
        raise UserError(f'--temporal_flow_size {opt.temporal_flow_size} is out of range: give 0 (full size) or at '
                        f'least 32 px, e.g. {TEMPORAL_FLOW_SIZE}')
    if not opt.temporal_cut > 0:
        raise UserError(f'--temporal_cut {opt.temporal_cut} is out of range: give a multiple of the layout\'s spread '
                        f'above 0, e.g. {TEMPORAL_CUT} (a large number: never cut)')


class ConvertOptions(TestOptions):
    description = 'Translate images, folders, lists and videos with a trained model'
    redefines = ('--dataroot', '--direction', '--results_dir', '--load_size', '--num_threads')  # mean other things here
    at_least_one = ('batch_size', 'ngf', 'ndf')
    at_least_zero = ('load_size', 'num_threads', 'tile', 'tile_overlap')  # --load_size 0: full resolution

    def initialize(self, parser):
        parser = super().initialize(parser)
        parser.add_argument('--dataroot', default=None, help=argparse.SUPPRESS)  # not used: --input instead
        parser.add_argument('--direction', type=str, default='AtoB', choices=['AtoB', 'BtoA', 'both'],
                            help='AtoB translates A (night) to B (day) with G_A, BtoA B to A with G_B, '
                                 'both writes <results_dir>/AtoB and <results_dir>/BtoA')
        parser.add_argument('--results_dir', type=str, default=None,
                            help='outputs go here (default: ./results/<name>/convert_<epoch>)')
        parser.add_argument('--load_size', type=parse_size, default=0,
                            help='0: translate at full resolution; N: scale to height N first (as '
                                 '--preprocess scale_height); HxW: resize to exactly that (the official '
                                 'AU-GAN test geometry, 256x512: --preset official sets it). Outputs always '
                                 'have the input\'s size')
        parser.add_argument('--num_threads', type=int, default=4,
                            help='threads decoding images ahead of the network (0: decode in line)')

        parser.add_argument('--input', type=str, default=None,
                            help='an image, a video (.mp4 .avi .mkv .mov), a folder (searched recursively) '
                                 'or a .txt list of paths (one a line, relative to the list file)')
        parser.add_argument('--overwrite', action='store_true', help='convert again files whose outputs exist')
        parser.add_argument('--tile', type=int, default=0,
                            help='translate in tiles of this many px (rounded up to a multiple of 4), '
                                 'blended where they overlap: bounds memory for large frames; 0: whole frames')
        parser.add_argument('--tile_overlap', type=int, default=64, help='overlap of neighbouring tiles in px')
        parser.add_argument('--save_uncertainty', action='store_true',
                            help='AtoB: also write the uncertainty map as a heat map, <stem>_uncertainty.png '
                                 '(for a video, a heat-map video <stem>_uncertainty.<ext>)')
        parser.add_argument('--save_uncertainty_npy', action='store_true',
                            help='AtoB images: also write the raw uncertainty, float32 HxW, <stem>_uncertainty.npy')
        add_temporal_options(parser)
        # Keeps test.py's test_opt.txt: this run's options go to convert_opt.txt.
        parser.set_defaults(phase='convert')
        return parser

    def require_input(self, opt):
        if opt.input is None:
            raise UserError('--input is required: an image, a video, a folder of images or a .txt list of paths')

    def validate(self, opt):
        super().validate(opt)
        check_temporal_options(opt)
        if opt.tile:
            # Multiples of 4 keep every tile a valid generator input on the same pixel grid.
            opt.tile = -(-opt.tile // 4) * 4
            opt.tile_overlap = -(-opt.tile_overlap // 4) * 4
            if opt.tile < 32 or opt.tile_overlap >= opt.tile:
                raise UserError(f'--tile {opt.tile} --tile_overlap {opt.tile_overlap} does not work: use a tile '
                                f'of at least 32 px and an overlap smaller than the tile (e.g. --tile 512 '
                                f'--tile_overlap 64)')
        if opt.results_dir is None:
            # Resolved here rather than later so that the printed and saved options show it.
            opt.results_dir = os.path.join('./results', opt.name, f'convert_{opt.epoch}')
