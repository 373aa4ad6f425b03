"""Options shared by training and testing, and the parsing machinery itself."""
import argparse
import os

import data
import models
from models.discriminators import DiscriminatorConfig
from data.base_dataset import Geometry, size_hw
from util import distributed, registry
from util.config import add_flags
from util.precision import ComputeConfig
from util.errors import UserError
from .presets import PRESETS, check_preset, preset_values
from .run_options import RECORD, architecture, check_architecture, load_record, save_record, tool_geometry


def set_known_defaults(parser, values):
    """Make `values` ({dest: value}: a preset's, or what a run folder records) the defaults of
    the flags `parser` has so far; the others wait for a later stage that adds their flags."""
    known = {action.dest for action in parser._actions}
    found = {k: v for k, v in values.items() if k in known}
    if found:
        parser.set_defaults(**found)


def require_at_least(opt, minimum, *flags):
    """A one-line error for the first of `flags` whose value is below `minimum` (for a HxW size:
    either side)."""
    for flag in flags:
        value = getattr(opt, flag)
        if min(size_hw(value)) < minimum if isinstance(value, tuple) else value < minimum:
            raise UserError(f'--{flag} must be at least {minimum}, got {value}')


class SharedFlags:
    """A parser as the shared flag definitions see it: they leave out the flags that a tool
    redefines (gives its own meaning), which the tool then adds itself."""

    def __init__(self, parser, redefines):
        self.parser, self.redefines = parser, set(redefines)

    def add_argument(self, *names, **kwargs):
        if self.redefines.isdisjoint(names):
            return self.parser.add_argument(*names, **kwargs)
        return None


class BaseOptions:
    """Defines the shared flags; `parse()` resolves model/dataset flags, prints and saves them."""

    isTrain = None  # set by the subclasses
    description = 'AU-GAN: asymmetric and uncertainty-aware unpaired image translation'
    redefines = ()  # shared flags that this tool defines with its own meaning (SharedFlags)
    at_least_one = ('batch_size', 'load_size', 'crop_size', 'ngf', 'ndf')  # checked by validate
    at_least_zero = ('num_threads',)

    def initialize(self, parser):
        shared = SharedFlags(parser, self.redefines)
        # where the data and the run live
        shared.add_argument('--dataroot', default=None,
                            help='folder with trainA/trainB/testA/testB (or one folder of images for --dataset_mode single)')
        shared.add_argument('--name', type=str, default='experiment_name',
                            help='name of the run: checkpoints go to <checkpoints_dir>/<name>')
        shared.add_argument('--gpu_ids', type=str, default='0',
                            help='gpu ids, e.g. 0 or 0,1,2; -1 for the CPU (also used when no GPU is present)')
        shared.add_argument('--checkpoints_dir', type=str, default='./checkpoints', help='models are saved here')
        shared.add_argument('--seed', type=int, default=0, help='seed for python, numpy and torch')
        add_flags(shared, ComputeConfig)  # --amp, --channels_last, --compile
        # multi-process runs (torchrun sets everything else through the environment)
        shared.add_argument('--dist_backend', type=str, default=None, choices=['nccl', 'gloo'],
                            help='torch.distributed backend (default: nccl on GPUs, gloo on the CPU)')
        shared.add_argument('--local_rank', '--local-rank', type=int, default=None,
                            help='set by the legacy torch.distributed.launch; torchrun needs no flag')
        shared.add_argument('--preset', type=str, default=None, choices=sorted(PRESETS),
                            help='start from a published configuration (official: the official AU-GAN code\'s '
                                 'networks, losses, data geometry and schedule; see docs/models.md); flags given '
                                 'on the command line still win')
        # model
        shared.add_argument('--model', type=str, default='au_gan',
                            help='which model: a file models/<model>_model.py '
                                 f'[{" | ".join(registry.available("models", "model"))}]')
        shared.add_argument('--input_nc', type=int, default=3, help='channels of domain A images: 3 RGB, 1 grayscale')
        shared.add_argument('--output_nc', type=int, default=3, help='channels of domain B images: 3 RGB, 1 grayscale')
        shared.add_argument('--ngf', type=int, default=64, help='generator filters in the first conv layer')
        add_flags(shared, DiscriminatorConfig)  # --ndf, --netD, --n_layers_D
        shared.add_argument('--norm', type=str, default='instance', choices=['instance', 'batch', 'none'],
                            help="normalisation; 'none' uses demodulated convolutions in the generators")
        shared.add_argument('--init_type', type=str, default='normal', choices=['normal', 'xavier', 'kaiming', 'orthogonal'],
                            help='weight initialisation')
        shared.add_argument('--init_gain', type=float, default=0.02, help='scale for normal, xavier and orthogonal init')
        # data
        shared.add_argument('--dataset_mode', type=str, default='unaligned',
                            help='how to read the data: a file data/<mode>_dataset.py '
                                 f'[{" | ".join(registry.available("data", "dataset"))}]')
        shared.add_argument('--direction', type=str, default='AtoB', choices=['AtoB', 'BtoA'],
                            help='AtoB reads domain A from <phase>A; BtoA swaps the folders')
        shared.add_argument('--serial_batches', action='store_true',
                            help='take images in order; otherwise A is shuffled and B is drawn at random')
        shared.add_argument('--num_threads', default=4, type=int, help='data loading worker processes')
        shared.add_argument('--batch_size', type=int, default=1, help='input batch size')
        add_flags(shared, Geometry)  # --load_size, --crop_size, --preprocess, --no_flip
        shared.add_argument('--max_dataset_size', type=int, default=float('inf'),
                            help='use at most this many images per domain')
        shared.add_argument('--bad_images', type=str, default='error', choices=['error', 'skip'],
                            help='an unreadable image stops the run (error) or is reported and replaced (skip)')
        shared.add_argument('--display_winsize', type=int, default=256, help='image size in visdom and the web pages')
        # bookkeeping
        shared.add_argument('--epoch', type=str, default='latest', help='which checkpoint to load: latest or an epoch number')
        shared.add_argument('--verbose', action='store_true', help='print the networks in full')
        shared.add_argument('--suffix', default='', type=str,
                            help='appended to --name, formatted with the options, e.g. {model}_{netD}_size{load_size}')
        shared.add_argument('--use_wandb', action='store_true', help='log to Weights & Biases')
        shared.add_argument('--wandb_project', type=str, default='AU-GAN', help='wandb project name')
        return parser

    def gather_options(self, args=None):
        """Parse in stages: base flags, then the chosen model's and dataset's own flags. A preset's
        values, and for a command that loads a run (not training) the architecture its folder
        records, become defaults at every stage: flags on the command line win, and a recorded
        value they contradict is refused."""
        # No abbreviations: the first stages parse before the model's flags exist, and would read a
        # model flag that begins a base flag's name (--antialias, --antialias_D) as that flag.
        parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter, add_help=False,
                                         description=self.description, allow_abbrev=False)
        parser = self.initialize(parser)
        opt, _ = parser.parse_known_args(args)
        stored, geometry = {}, {}
        if not self.isTrain and opt.model != 'test':  # --model test rebuilds one generator from its file
            record = load_record(opt.checkpoints_dir, opt.name)
            stored, geometry = architecture(record), tool_geometry(record)

        def set_defaults():
            nonlocal opt
            for _ in range(2):  # the recorded preset may differ from the flag's default: apply it again
                set_known_defaults(parser, preset_values(opt.preset, self.isTrain))
                set_known_defaults(parser, stored)
                set_known_defaults(parser, geometry)  # defaults only, never checked: a flag may change them
                opt, _ = parser.parse_known_args(args)

        set_defaults()
        parser = models.get_option_setter(opt.model)(parser, self.isTrain)
        set_defaults()  # the model may have changed defaults, dataset_mode among them
        parser = data.get_option_setter(opt.dataset_mode)(parser, self.isTrain)
        set_defaults()
        # -h only now, so that the help lists the chosen model's and dataset's flags too
        parser.add_argument('-h', '--help', action='help', help='show this help message and exit')
        self.parser = parser
        opt = parser.parse_args(args)
        check_architecture(opt, stored)
        check_preset(parser, opt, self.isTrain)
        return opt

    def format_options(self, opt):
        lines = ['----------------- Options ---------------']
        for k, v in sorted(vars(opt).items()):
            default = self.parser.get_default(k)
            note = f'\t[default: {default}]' if v != default else ''
            lines.append(f'{k:>25}: {str(v):<30}{note}')
        lines.append('----------------- End -------------------')
        return '\n'.join(lines)

    def parse(self, args=None, save=True):
        """The options of `args` (sys.argv when None), checked; printed and saved as
        <checkpoints_dir>/<name>/<phase>_opt.txt unless `save` is False (a script that only reads a run)."""
        opt = self.gather_options(args)
        opt.isTrain = self.isTrain

        if opt.suffix:
            opt.name = opt.name + '_' + opt.suffix.format(**vars(opt))
        opt.gpu_ids = distributed.parse_gpu_ids(opt.gpu_ids)
        self.validate(opt)
        self.opt = opt
        if save:
            self.save(opt)
        return opt

    def save(self, opt):
        """Print the options and save them in the run folder (train.py: once it holds the folder)."""
        # Only the launcher's rank 0 prints and records (parsing comes before the process group);
        # the record keeps the global sizes, as given, and how many processes shared them.
        if distributed.launch_rank() != 0:
            return
        text = self.format_options(opt)
        print(text)
        # Saved next to the checkpoints so a run can always be reproduced and re-tested.
        run_dir = os.path.join(opt.checkpoints_dir, opt.name)
        os.makedirs(run_dir, exist_ok=True)
        with open(os.path.join(run_dir, f'{opt.phase}_opt.txt'), 'wt') as f:
            f.write(text + '\n')
        if self.isTrain:  # what later commands rebuild the networks from (options/run_options.py)
            save_record(opt, os.path.join(run_dir, RECORD), world_size=distributed.launch_world_size())

    def validate(self, opt):
        """Reject option combinations that would only fail later, deep inside a run."""
        self.require_input(opt)
        require_at_least(opt, 1, *self.at_least_one)
        require_at_least(opt, 0, *self.at_least_zero)

    def require_input(self, opt):
        """A one-line error when the command was given nothing to read."""
        if opt.dataroot is None:
            raise UserError('--dataroot is required: point it at a folder with trainA/trainB/testA/testB '
                            '(get one with: bash datasets/download_dataset.sh daynight)')
