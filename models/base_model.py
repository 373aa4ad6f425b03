"""What every model shares: device, networks by name, loading them, schedulers, losses and
visuals for logging. A model subclass only builds its networks and defines its step; saving and
resuming a training run is models/training_state.py's."""
import contextlib
import os
from abc import ABC, abstractmethod
from collections import OrderedDict

import torch
from torch.optim import lr_scheduler

from util import distributed
from util.checkpoint import finish_saves, load_network
from util.config import from_options
from util.errors import UserError
from util.precision import ComputeConfig, Precision
from . import legacy
from .discriminators import DiscriminatorConfig, define_D
from .layers import count_parameters, init_weights, set_checkpointing
from .losses import GANLoss
from .persistence import build_network, check_config
from .tf_adam import TFAdam


def get_scheduler(optimizer, opt):
    """Learning-rate schedule. Epochs e count from 0 (the scheduler's own count plus --epoch_count - 1):
    - linear (CycleGAN's): lr * (1 - max(0, e + 1 - n_epochs) / (n_epochs_decay + 1));
    - linear_official (the official AU-GAN and ForkGAN code): lr for e < n_epochs, then
      lr * (n_epochs + n_epochs_decay - e) / n_epochs_decay (1, 0.9, ..., 0.1 for 10 + 10 epochs);
    - step, plateau (on BaseModel.metric, which train.py sets each epoch), cosine.
    """
    if opt.lr_policy == 'linear':
        def lambda_rule(epoch):
            return 1.0 - max(0, epoch + opt.epoch_count - opt.n_epochs) / float(opt.n_epochs_decay + 1)
        return lr_scheduler.LambdaLR(optimizer, lr_lambda=lambda_rule)
    if opt.lr_policy == 'linear_official':
        def official_rule(epoch):
            e = epoch + opt.epoch_count - 1
            if e < opt.n_epochs:
                return 1.0
            # with no decay epochs the rate after the last epoch is never trained at: 0, as at the end of a decay
            return max(0.0, (opt.n_epochs + opt.n_epochs_decay - e) / opt.n_epochs_decay) if opt.n_epochs_decay else 0.0
        return lr_scheduler.LambdaLR(optimizer, lr_lambda=official_rule)
    if opt.lr_policy == 'step':
        return lr_scheduler.StepLR(optimizer, step_size=opt.lr_decay_iters, gamma=0.1)
    if opt.lr_policy == 'plateau':
        return lr_scheduler.ReduceLROnPlateau(optimizer, mode='min', factor=0.2, threshold=0.01, patience=5)
    if opt.lr_policy == 'cosine':
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=opt.n_epochs + opt.n_epochs_decay, eta_min=0)
    raise UserError(f'unknown --lr_policy {opt.lr_policy!r}: use linear, linear_official, step, plateau or cosine')


class BaseModel(ABC):
    """Subclasses fill `model_names`, `visual_names`, `pool_names` and `optimizers`, and store
    each network as `self.net<name>`, each visual and each image pool as an attribute of that
    name. Losses are data: `optimize_parameters` returns the step's losses as {name: tensor}, and
    the trainer reports them (models.losses.as_floats). Terms from outside the model
    (models/instance_level.py) join through `add_terms` and `show`.

    In the training step, run forward passes and losses inside `self.autocast()`, call
    `self.minimize(optimizer, losses)` (it sums them) instead of zero_grad()/loss.backward()/
    optimizer.step(), and call discriminators through `self.frozen(...)` in the generator step.
    That is all a model needs to train under mixed precision and on several processes.
    """

    def __init__(self, opt):
        self.opt = opt
        self.isTrain = opt.isTrain
        self.device = distributed.device()
        self.compute = from_options(ComputeConfig, opt)
        # --max_skipped_steps and --checkpoint_activations are training flags
        self.precision = Precision(self.compute.amp, self.device, *([opt.max_skipped_steps] if self.isTrain else []),
                                   training=self.isTrain)
        self.memory_format = torch.channels_last if self.compute.channels_last else torch.contiguous_format
        self.save_dir = os.path.join(opt.checkpoints_dir, opt.name)
        self.model_names, self.visual_names = [], []
        self.pool_names = []  # attributes holding image pools, saved with the training state
        self.optimizers, self.schedulers = [], []
        self.image_paths = []
        self.metric = 0  # for the plateau policy
        # The adversarial loss of --gan_mode: every training model's, and discriminator_loss's.
        self.criterionGAN = GANLoss(opt.gan_mode) if self.isTrain else None

    @staticmethod
    def modify_commandline_options(parser, is_train):
        """Add model-specific flags or change defaults; `is_train` tells training from testing."""
        return parser

    def set_input(self, input):
        """Take a batch from the data loader onto the device: real_A, real_B (None for a
        one-domain set), box_A/box_B (object boxes, None without) and image_paths."""
        self.real_A = self.to_device(input['A'])
        self.real_B = self.to_device(input.get('B'))
        self.box_A, self.box_B = input.get('A_box'), input.get('B_box')
        self.box_A, self.box_B = (b.to(self.device) if b is not None else None for b in (self.box_A, self.box_B))
        self.image_paths = input['A_paths']

    def to_device(self, images):
        """A batch of images on the model's device, in its memory format (channels_last or not)."""
        if images is None:
            return None
        return images.to(self.device, non_blocking=True, memory_format=self.memory_format)

    @abstractmethod
    def forward(self):
        """Compute the outputs that the visuals and losses need."""

    @abstractmethod
    def optimize_parameters(self):
        """One training iteration: losses, gradients, optimizer steps. Returns the iteration's
        losses, {name: scalar tensor}, in the order they are reported."""

    # ----- the training step's tools -----
    def make_optimizer(self, *nets):
        """Adam over the networks' parameters with --lr and --beta1, fused into one kernel where
        PyTorch has one (CUDA; the CPU from 2.4, where it steps 2x faster than the default loop).
        Adam is per-parameter: one optimizer over several networks steps each as its own would.
        `--adam tensorflow`: models/tf_adam.py's TFAdam, TensorFlow 1's formula, unfused."""
        params = [p for net in nets for p in net.parameters()]
        if getattr(self.opt, 'adam', 'torch') == 'tensorflow':  # TensorFlow 1's epsilon placement
            optimizer = TFAdam(params, lr=self.opt.lr, betas=(self.opt.beta1, 0.999))
            self.optimizers.append(optimizer)
            return optimizer
        fused = self.device.type == 'cuda' or (self.device.type == 'cpu' and torch.__version__ >= '2.4')
        optimizer = torch.optim.Adam(params, lr=self.opt.lr, betas=(self.opt.beta1, 0.999), fused=fused)
        self.optimizers.append(optimizer)
        return optimizer

    def autocast(self):
        """Context for forward passes and losses: mixed precision as --amp says."""
        return self.precision.autocast()

    def init_net(self, net):
        """`net` with weights initialised as --init_type/--init_gain say, on the device."""
        return init_weights(net, self.opt.init_type, self.opt.init_gain).to(self.device)

    def make_discriminator(self, channels):
        """The `--netD` discriminator for images of `channels` channels, initialised, on the device."""
        opt = self.opt
        return define_D(channels, from_options(DiscriminatorConfig, opt), opt.init_type, opt.init_gain).to(self.device)

    def discriminator_loss(self, netD, real, fake):
        """0.5 * (GAN(D(real), real) + GAN(D(fake), fake)), the fake detached from its generator."""
        return 0.5 * (self.criterionGAN(netD(real), True) + self.criterionGAN(netD(fake.detach()), False))

    def backward(self, loss):
        self.precision.backward(loss)

    def step(self, optimizer):
        """Apply the gradients, unless they are not finite (then the step is skipped and counted)."""
        self.precision.step(optimizer)

    def minimize(self, optimizer, losses):
        """One update of `optimizer`'s parameters down the gradient of the sum of `losses`
        ({name: tensor}, summed in their order)."""
        optimizer.zero_grad(set_to_none=True)
        self.backward(sum(losses.values()))
        self.step(optimizer)

    @contextlib.contextmanager
    def frozen(self, *nets):
        """Yield the networks unwrapped and without parameter gradients, for passes that only
        carry gradients through them (a discriminator in the generator step). Unwrapped, they
        also stay out of DDP's gradient synchronisation, which expects every parameter's gradient."""
        self.set_requires_grad(list(nets), False)
        try:
            yield tuple(distributed.unwrap(n) for n in nets)
        finally:
            self.set_requires_grad(list(nets), True)

    # ----- terms from outside the model (models/instance_level.py) -----
    def add_terms(self, terms):
        """Take on the networks and visuals that `terms` declares (its NETWORKS and VISUALS): each
        network of `terms.build_networks(device)` as `self.net<name>`, and the names in model_names
        and visual_names. Returns one optimizer over those networks."""
        for name, net in terms.build_networks(self.device).items():
            setattr(self, 'net' + name, net)
        self.model_names += list(terms.NETWORKS)
        self.visual_names += list(terms.VISUALS)
        return self.make_optimizer(*(getattr(self, 'net' + name) for name in terms.NETWORKS))

    def show(self, visuals):
        """Keep each of `visuals` ({name: tensor}, computed by outside terms) as `self.<name>`."""
        for name, value in visuals.items():
            setattr(self, name, value)

    # ----- lifecycle -----
    def setup(self, opt):
        if self.isTrain:
            self.schedulers = [get_scheduler(o, opt) for o in self.optimizers]
        if not self.isTrain:  # training loads its networks with the rest of its state (TrainingState)
            self.load_networks(opt.epoch)
        self.print_networks(opt.verbose)
        for name, net in self.networks():
            net.to(memory_format=self.memory_format)
            # a runtime switch, not a constructor argument: checkpoints load whichever way they were trained
            set_checkpointing(net, opt.checkpoint_activations if self.isTrain else None)
            if self.isTrain:
                net = distributed.wrap(net)
            if self.compute.compile:
                net = torch.compile(net)  # after DDP, as PyTorch recommends
            setattr(self, 'net' + name, net)

    def networks(self):
        return [(name, getattr(self, 'net' + name)) for name in self.model_names]

    def eval(self):
        for _, net in self.networks():
            net.eval()

    def train(self):
        for _, net in self.networks():
            net.train()

    def test(self):
        """Forward without gradients, then prepare the visuals."""
        with torch.no_grad(), self.autocast():
            self.forward()
            self.compute_visuals()

    def compute_visuals(self):
        """Turn non-image outputs (e.g. uncertainty maps) into displayable images."""

    def get_image_paths(self):
        return self.image_paths

    def update_learning_rate(self):
        for scheduler in self.schedulers:
            if self.opt.lr_policy == 'plateau':
                scheduler.step(self.metric)
            else:
                scheduler.step()
        return self.optimizers[0].param_groups[0]['lr']

    # ----- logging -----
    def uncertainty_maps(self):
        """{visual: its sigma map (N, 1, H, W)} of the last forward pass, for each visual that shows
        an uncertainty map as a heat map (the pages give its scale); {} for a model without."""
        return {}

    def get_current_visuals(self):
        return OrderedDict((name, getattr(self, name).detach().float()) for name in self.visual_names
                           if getattr(self, name, None) is not None)

    # ----- checkpoints -----
    def checkpoint_path(self, epoch, name):
        return os.path.join(self.save_dir, f'{epoch}_net_{name}.pth')

    def load_networks(self, epoch, names=None):
        """Load `<epoch>_net_<name>.pth` into each network (all of model_names by default). A
        network left as None is first built as the checkpoint describes it (`--model test`).
        Returns {name: the training iteration each file was saved at (None if unknown)}. Files of
        earlier versions are read as models/legacy.py says."""
        iterations, renamed = {}, False
        finish_saves(self.save_dir)  # a save killed while renaming its files into place
        for name in names or self.model_names:
            path = legacy.network_path(self.opt.model, self.checkpoint_path, epoch, name)
            renamed |= path != self.checkpoint_path(epoch, name)
            state, config, iterations[name] = load_network(path)
            net = getattr(self, 'net' + name)
            if net is None:
                net = build_network(config, path).to(self.device)
                setattr(self, 'net' + name, net)
            net = distributed.unwrap(net)
            check_config(path, config, net)
            try:
                net.load_state_dict(state)
            except RuntimeError as e:
                first = str(e).strip().splitlines()
                detail = first[1].strip() if len(first) > 1 else first[0]
                raise UserError(f'{path} does not fit network {name} as built from the options ({detail[:160]}): '
                                f'use the options it was trained with (see train_opt.txt beside it)')
            print(f'loaded {name} from {path}')
        if renamed and self.isTrain and legacy.translate_loss_log(os.path.join(self.save_dir, 'loss_log.txt')):
            print(f'note: {self.save_dir} was saved before discriminators were named by the domain they judge: '
                  f'its D_A and D_B are read the other way round, and its loss log is translated')
        return iterations

    # ----- training state, for exact resume -----
    def image_pools(self):
        """{name: pool} for each of pool_names, sorted by name (the keys of the saved 'pools')."""
        return {name: getattr(self, name) for name in sorted(self.pool_names)}

    def print_networks(self, verbose):
        if not distributed.is_main_process():
            return
        for name, net in self.networks():
            if verbose:
                print(net)
            print(f'[network {name}] {count_parameters(net) / 1e6:.3f} M parameters')

    @staticmethod
    def set_requires_grad(nets, requires_grad=False):
        """Freeze networks that only pass gradients through (e.g. D in the generator step)."""
        for net in nets if isinstance(nets, (list, tuple)) else [nets]:
            for p in net.parameters():
                p.requires_grad_(requires_grad)
