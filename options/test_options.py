"""Flags for testing: where results go and how many images to run."""
from .base_options import BaseOptions, SharedFlags


class TestOptions(BaseOptions):
    isTrain = False

    def initialize(self, parser):
        parser = super().initialize(parser)
        shared = SharedFlags(parser, self.redefines)
        shared.add_argument('--results_dir', type=str, default='./results', help='pages are written here')
        shared.add_argument('--aspect_ratio', type=float, default=1.0, help='aspect ratio of the saved images')
        shared.add_argument('--phase', type=str, default='test', help='train, val, test, ...')
        shared.add_argument('--eval', action='store_true', help='put the networks in eval mode (matters for batch norm)')
        shared.add_argument('--num_test', type=int, default=50, help='how many test images to run')
        # Full-size, un-augmented frames by default; a user can still ask for another preprocess.
        parser.set_defaults(load_size=parser.get_default('crop_size'))
        return parser
