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
        # Keeps test.py's test_opt.txt: this run's options go to convert_opt.txt.
        parser.set_defaults(phase='convert')
        return parser

    def require_input(self, opt):
        if opt.input is None:
            raise UserError('--input is required: an image, a video, a folder of images or a .txt list of paths')

    def validate(self, opt):
        super().validate(opt)
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
