"""CycleGAN (Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
Networks", ICCV 2017), with the flags of the reference PyTorch code
(junyanz/pytorch-CycleGAN-and-pix2pix), so that the same options give the same networks.

Its network, loss, data and optimiser defaults are the reference's (ngf/ndf 64, batch 1, 286 ->
256 crops, Adam 2e-4 / 0.5, LSGAN, pool 50, --lr_policy linear); the schedule is not: this
project defaults to --n_epochs 10 --n_epochs_decay 10 (20 epochs, shared by every model), where
the reference trains 100 + 100. Pass --n_epochs 100 --n_epochs_decay 100 for its schedule.

Discriminators are named by the domain they judge, as in every model of this project: D_B judges
G_A's outputs (domain B), D_A judges G_B's (domain A). The reference names them the other way
round (by generator), and so did this project's cycle_gan before network file version 3:
models/legacy.py reads those runs. rec_A = G_B(G_A(A)) is the cycle reconstruction.
    G loss = GAN(D_B(G_A(A))) + GAN(D_A(G_B(B)))
           + lambda_A * L1(G_B(G_A(A)), A) + lambda_B * L1(G_A(G_B(B)), B)           [10, 10]
           + lambda_identity * (lambda_B * L1(G_A(B), B) + lambda_A * L1(G_B(A), A))  [0.5]
    D loss = 0.5 * (GAN(D(real), 1) + GAN(D(pool(fake)), 0)), pools of 50.
Generators: ResNet with 9 (or 6) blocks (`--netG`); discriminators: 70x70 PatchGAN (`--netD basic`).
"""
from dataclasses import dataclass

from util.config import add_flags, flag, from_options
from util.errors import UserError
from util.image_pool import ImagePool
from .base_model import BaseModel
from .generators import ResnetGeneratorConfig, define_resnet_generator
from .losses import identity_losses, l1


@dataclass(frozen=True)
class CycleGANLosses:
    """The weights of CycleGAN's objective (the module docstring); each field is a training flag."""
    lambda_A: float = flag(10.0, 'cycle loss weight, A -> B -> A')
    lambda_B: float = flag(10.0, 'cycle loss weight, B -> A -> B')
    lambda_identity: float = flag(0.5, 'identity loss, as a fraction of the cycle weights (0 = off)')


class CycleGANModel(BaseModel):
    @staticmethod
    def modify_commandline_options(parser, is_train=True):
        parser.set_defaults(dataset_mode='unaligned')
        add_flags(parser, ResnetGeneratorConfig)  # --netG
        # As in the reference code: dropout is off for CycleGAN, and the flag only keeps it off.
        parser.add_argument('--no_dropout', action='store_true', default=True, help='no dropout in the generators')
        if is_train:
            add_flags(parser, CycleGANLosses)
        return parser

    def __init__(self, opt):
        super().__init__(opt)
        self.visual_names = ['real_A', 'fake_B', 'rec_A', 'real_B', 'fake_A', 'rec_B']
        self.weights = from_options(CycleGANLosses, opt) if self.isTrain else None
        use_identity = self.isTrain and self.weights.lambda_identity > 0
        if use_identity:
            self.visual_names += ['idt_B', 'idt_A']
        self.model_names = ['G_A', 'G_B', 'D_A', 'D_B'] if self.isTrain else ['G_A', 'G_B']
        for name in self.visual_names:
            setattr(self, name, None)

        config = from_options(ResnetGeneratorConfig, opt)
        self.netG_A = self.init_net(define_resnet_generator(opt.input_nc, opt.output_nc, config))
        self.netG_B = self.init_net(define_resnet_generator(opt.output_nc, opt.input_nc, config))
        if not self.isTrain:
            return
        if use_identity and opt.input_nc != opt.output_nc:
            raise UserError('--lambda_identity > 0 needs --input_nc equal to --output_nc (or --lambda_identity 0)')
        # D_B first, here and in optimizer_D: the order of the seed's draws and of the saved
        # optimizer state when it was named D_A (models/legacy.py)
        self.netD_B = self.make_discriminator(opt.output_nc)  # judges G_A's outputs: domain B
        self.netD_A = self.make_discriminator(opt.input_nc)
        self.pool_names = ['fake_A_pool', 'fake_B_pool']
        self.fake_A_pool = ImagePool(opt.pool_size)
        self.fake_B_pool = ImagePool(opt.pool_size)
        self.optimizer_G = self.make_optimizer(self.netG_A, self.netG_B)
        self.optimizer_D = self.make_optimizer(self.netD_B, self.netD_A)

    def forward(self):
        self.fake_B = self.netG_A(self.real_A).fake
        self.rec_A = self.netG_B(self.fake_B).fake
        if self.real_B is not None:
            self.fake_A = self.netG_B(self.real_B).fake
            self.rec_B = self.netG_A(self.fake_A).fake

    def generator_loss(self, D_A, D_B):
        """{name: loss} of the generator step, in the order they are summed."""
        w = self.weights
        losses = {'G_A': self.criterionGAN(D_B(self.fake_B), True),
                  'G_B': self.criterionGAN(D_A(self.fake_A), True),
                  'cycle_A': w.lambda_A * l1(self.rec_A, self.real_A),
                  'cycle_B': w.lambda_B * l1(self.rec_B, self.real_B)}
        if w.lambda_identity > 0:
            self.idt_A = self.netG_A(self.real_B).fake
            self.idt_B = self.netG_B(self.real_A).fake
            losses.update(identity_losses(w, self.idt_A, self.real_B, self.idt_B, self.real_A))
        return losses

    def optimize_parameters(self):
        with self.autocast():
            self.forward()
            with self.frozen(self.netD_A, self.netD_B) as (D_A, D_B):
                losses_G = self.generator_loss(D_A, D_B)
        self.minimize(self.optimizer_G, losses_G)

        with self.autocast():
            losses_D = {'D_B': self.discriminator_loss(self.netD_B, self.real_B, self.fake_B_pool.query(self.fake_B)),
                        'D_A': self.discriminator_loss(self.netD_A, self.real_A, self.fake_A_pool.query(self.fake_A))}
        self.minimize(self.optimizer_D, losses_D)
        return {**losses_G, **losses_D}
