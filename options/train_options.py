"""Flags for training: logging and display frequencies, checkpoints, schedule and optimiser."""
from data.base_dataset import size_hw
from models.discriminators import check_input_size
from models.layers import CHECKPOINT_LEVELS
from util.errors import UserError
from .base_options import BaseOptions, require_at_least


class TrainOptions(BaseOptions):
    isTrain = True

    def initialize(self, parser):
        parser = super().initialize(parser)
        # logging and display
        parser.add_argument('--display_freq', type=int, default=400,
                            help='iterations between refreshes of the training page (and visdom/wandb images)')
        parser.add_argument('--display_ncols', type=int, default=4, help='images per row in visdom')
        parser.add_argument('--display_id', type=int, default=0,
                            help='visdom window id; 0 or less disables visdom (the web page is still written)')
        parser.add_argument('--display_server', type=str, default='http://localhost', help='visdom server')
        parser.add_argument('--display_env', type=str, default='main', help='visdom environment')
        parser.add_argument('--display_port', type=int, default=8097, help='visdom port')
        parser.add_argument('--display_start_server', action='store_true',
                            help='start a local visdom server on --display_port when none answers; it stops with training')
        parser.add_argument('--print_freq', type=int, default=100, help='iterations between loss printouts')
        parser.add_argument('--no_html', action='store_true',
                            help='do not write images and the page to <checkpoints_dir>/<name>/web')
        # checkpoints
        parser.add_argument('--save_latest_freq', type=int, default=5000, help='iterations between saves of latest')
        parser.add_argument('--save_epoch_freq', type=int, default=5, help='epochs between checkpoints')
        parser.add_argument('--save_by_iter', action='store_true', help='also keep iter_<n> checkpoints')
        parser.add_argument('--continue_train', action='store_true',
                            help='continue exactly where the checkpoint --epoch left off (epoch, iteration, optimizers, ...)')
        parser.add_argument('--overwrite', action='store_true',
                            help='start a fresh run in a folder that holds the saves of another: delete them (and its '
                                 'loss log) first; without it such a folder is refused')
        parser.add_argument('--epoch_count', type=int, default=1,
                            help='number of the first epoch; only for a fresh run or a checkpoint without training state')
        parser.add_argument('--max_iters', type=int, default=0,
                            help='stop (saving latest) after this many iterations in all; 0: run every epoch')
        parser.add_argument('--max_skipped_steps', type=int, default=25,
                            help='stop after this many iterations in a row with non-finite losses or gradients')
        parser.add_argument('--phase', type=str, default='train', help='train, val, test, ...')
        # schedule and optimiser
        parser.add_argument('--n_epochs', type=int, default=10, help='epochs at the initial learning rate')
        parser.add_argument('--n_epochs_decay', type=int, default=10, help='epochs of linear decay to zero')
        parser.add_argument('--beta1', type=float, default=0.5, help='Adam momentum term')
        parser.add_argument('--lr', type=float, default=0.0002, help='Adam learning rate (1e-4 advised with --norm none)')
        parser.add_argument('--adam', type=str, default='torch', choices=['torch', 'tensorflow'],
                            help="Adam's formula: torch (PyTorch's, fused where it can be) or tensorflow (TensorFlow "
                                 "1's AdamOptimizer, epsilon added to the uncorrected sqrt(v), as the official code "
                                 "trains; models/tf_adam.py)")
        parser.add_argument('--gan_mode', type=str, default='lsgan', choices=['lsgan', 'vanilla'],
                            help='adversarial objective')
        parser.add_argument('--pool_size', type=int, default=50, help='image buffer of past fakes for the discriminators')
        parser.add_argument('--lr_policy', type=str, default='linear',
                            choices=['linear', 'linear_official', 'step', 'plateau', 'cosine'],
                            help='learning rate policy: linear (CycleGAN: --lr for n_epochs, then down to lr/(n+1)), '
                                 'linear_official (the official AU-GAN/ForkGAN code: --lr for n_epochs, then '
                                 'lr*(n_epochs+n_epochs_decay-e)/n_epochs_decay), step, plateau (on the epoch\'s '
                                 'mean sum of the printed losses), cosine')
        parser.add_argument('--lr_decay_iters', type=int, default=50, help='epochs between lr steps for the step policy')
        # memory
        parser.add_argument('--checkpoint_activations', nargs='?', const='all', default=None, choices=CHECKPOINT_LEVELS,
                            help='activation checkpointing: keep only the inputs of the generators\' stages and '
                                 'residual blocks and (in the generator step) of the discriminators, and recompute '
                                 'the rest in the backward pass; same results, far less memory, more time. all (the '
                                 'flag alone): everything; stages: all but the residual blocks, less saved for less '
                                 'time (docs/performance.md has both measured)')
        return parser

    def validate(self, opt):
        super().validate(opt)
        require_at_least(opt, 0, 'n_epochs', 'n_epochs_decay', 'max_iters')
        if opt.continue_train and opt.overwrite:
            raise UserError('--continue_train goes on from the saves that --overwrite deletes: give one of them')
        if opt.n_epochs + opt.n_epochs_decay < 1:
            raise UserError(f'--n_epochs {opt.n_epochs} --n_epochs_decay {opt.n_epochs_decay} trains no epoch: '
                            'give at least one between them')
        require_at_least(opt, 1, 'print_freq', 'display_freq', 'save_latest_freq', 'save_epoch_freq', 'max_skipped_steps',
                         'lr_decay_iters')
        # Where the training size is known now, a discriminator it does not fit is refused now.
        if opt.preprocess.endswith('crop') or opt.preprocess == 'resize':
            size = opt.crop_size if opt.preprocess.endswith('crop') else opt.load_size
            flag = '--crop_size' if opt.preprocess.endswith('crop') else '--load_size'
            check_input_size(opt.netD, opt.n_layers_D, *size_hw(size), flag=flag)
