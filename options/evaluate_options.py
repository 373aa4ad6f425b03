"""Flags for scripts/evaluate.py with a model (and for the study's evaluations, study/evaluation.py):
test.py's options plus the checkpoints to evaluate, the metric settings and --video (the flicker of
a video's translation, which needs no --dataroot; with --temporal, also as convert.py --temporal
filters it). `add_metric_options` adds the metric settings
alone, which --fid_dirs mode (two image folders) shares.
"""
from util.errors import UserError

from .convert_options import add_temporal_options, check_temporal_options
from .test_options import TestOptions


def add_metric_options(parser):
    parser.add_argument('--fid_batch_size', type=int, default=16, help='images per Inception forward pass')
    parser.add_argument('--kid_subsets', type=int, default=100, help='KID: number of random subsets')
    parser.add_argument('--kid_subset_size', type=int, default=1000,
                        help='KID: size of each subset (at most the smaller image count)')
    return parser


class EvaluateOptions(TestOptions):
    """test.py's options plus the checkpoints to evaluate and the metric settings."""

    redefines = ('--num_test',)  # means something else here

    def initialize(self, parser):
        parser = super().initialize(parser)
        parser.add_argument('--num_test', type=int, default=float('inf'),
                            help='use at most this many images of each test folder (a random sample, seeded by --seed)')
        parser.add_argument('--model_epochs', type=str, default=None,
                            help='comma-separated checkpoints to evaluate, e.g. 5,10,latest; when not given, --epoch')
        parser.add_argument('--fid_dirs', nargs=2, metavar=('DIR_FAKE', 'DIR_REAL'),
                            help='instead of a model: FID/KID between two image folders '
                                 '(see: scripts/evaluate.py --fid_dirs A B -h)')
        parser.add_argument('--pixels_per_image', type=int, default=10000,
                            help='pixels sampled from each image for the pooled per-pixel correlation')
        parser.add_argument('--video', type=str, default=None,
                            help='instead of the test set: translate the first --video_frames frames of this video '
                                 '(--direction) and report the translation\'s frame-to-frame change after undoing the '
                                 'motion estimated on the input frames, beside the input\'s own')
        parser.add_argument('--video_frames', type=int, default=30, help='with --video: frames to score (at least 2)')
        add_temporal_options(parser)  # with --video: also score the translation as convert.py --temporal writes it
        add_metric_options(parser)
        # Whole frames at --load_size height, as test.py shows them.
        parser.set_defaults(preprocess='scale_height')
        return parser

    def require_input(self, opt):
        if opt.video is None:  # --video is the input of its own mode; the test set otherwise
            super().require_input(opt)

    def validate(self, opt):
        super().validate(opt)
        check_temporal_options(opt)
        if opt.video is not None and opt.video_frames < 2:
            raise UserError(f'--video_frames {opt.video_frames}: a frame-to-frame change needs at least 2 frames')
