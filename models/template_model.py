"""A template for a new model: copy this file to `models/<name>_model.py`, rename the class to
`<Name>Model`, and `--model <name>` picks it up.

This template is a small but real model, so it doubles as a test of the model interface: one
fork generator G translates A->B and reconstructs A; D_B judges its translations.
    G loss = GAN(D_B(G(A))) + lambda_rec * L1(rec_A, A);   D loss = 0.5 (GAN(D_B(B), 1) + GAN(D_B(G(A)), 0))

What a model does (BaseModel holds everything else: devices, checkpoints, schedulers, logging):
  modify_commandline_options  add flags / change defaults for this model
  __init__                    name visuals, networks (and image pools, in pool_names);
                              build networks and optimizers
  set_input                   (BaseModel has one for dicts with A, B, A_paths: override for others)
  forward                     compute outputs (used by training and by test.py)
  optimize_parameters         one training step, through BaseModel's autocast/minimize/frozen;
                              returns its losses as {name: tensor} (printed and plotted by name)
"""
from .base_model import BaseModel
from util.config import add_flags, from_options
from .generators import ForkGenerator, ForkGeneratorConfig
from .losses import l1


class TemplateModel(BaseModel):
    @staticmethod
    def modify_commandline_options(parser, is_train=True):
        parser.set_defaults(dataset_mode='unaligned')  # a model may change the shared defaults
        add_flags(parser, ForkGeneratorConfig, upsample='transposed')  # the generator's flags, with this model's defaults
        if is_train:
            parser.add_argument('--lambda_rec', type=float, default=10.0, help='weight of the reconstruction L1')
        return parser

    def __init__(self, opt):
        super().__init__(opt)
        self.visual_names = ['real_A', 'fake_B', 'rec_A']   # shown on the pages
        self.model_names = ['G', 'D'] if self.isTrain else ['G']  # saved/loaded as net<name>
        config = from_options(ForkGeneratorConfig, opt)  # the typed values of those flags
        self.netG = self.init_net(ForkGenerator(opt.input_nc, opt.output_nc, config))  # init + device
        if self.isTrain:
            self.netD = self.make_discriminator(opt.output_nc)  # the --netD discriminator
            self.optimizer_G = self.make_optimizer(self.netG)  # Adam with --lr/--beta1, in self.optimizers
            self.optimizer_D = self.make_optimizer(self.netD)

    def forward(self):
        out = self.netG(self.real_A)
        self.fake_B, self.rec_A = out.fake, out.rec

    def optimize_parameters(self):
        # Use BaseModel's autocast/minimize/frozen: they bring mixed precision, skipped
        # non-finite steps and multi-process training without any code here.
        with self.autocast():
            self.forward()
            with self.frozen(self.netD) as (D,):
                losses_G = {'G': self.criterionGAN(D(self.fake_B), True)}
            losses_G['rec'] = self.opt.lambda_rec * l1(self.rec_A, self.real_A)
        self.minimize(self.optimizer_G, losses_G)  # their sum

        with self.autocast():
            losses_D = {'D': self.discriminator_loss(self.netD, self.real_B, self.fake_B)}
        self.minimize(self.optimizer_D, losses_D)
        return {**losses_G, **losses_D}
