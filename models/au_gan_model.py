"""AU-GAN (Kwak et al., BMVC 2021): asymmetric and uncertainty-aware unpaired translation.

Domain A is the adverse one (night, rainy night), B the normal one (day).
- G_A (A->B) is a fork generator with a feature transfer network (T-net) between its encoder
  and translation decoder, and an uncertainty head predicting sigma >= 0 per pixel (by default
  the scale and shape of a generalized Gaussian, sigma its standard deviation).
- Both translation decoders' output convs also read the input image (--input_skip), through a
  full-size conv block too (--skip_refine), and every generator filters around its stride-2
  stages (--antialias): defaults on here; --no_* and --preset official: off, as the paper.
- G_B (B->A) is a plain fork generator (with --n_blocks_T_B, the symmetric ablation, a T-net too).
- D_A judges real vs fake A, D_B real vs fake B; only translations are judged.

Generator objective (default weights in brackets):
    lambda_gan * (GAN(D_B(fake_B)) + GAN(D_A(fake_A)))                        [lambda_gan 1]
    (GAN averages over a discriminator's patch maps; the official code sums over its two
    discriminators, hence lambda_gan 2 with --netD augan in --preset official)
  + lambda_conf * mean(NLL of r = x_A - G_B(fake_B) under a generalized Gaussian of scale a and
    shape b predicted per pixel by G_A's head: (|r| / a)^b - log(b / a) + log Gamma(1 / b))
                                                                            [lambda_conf 1; UGAC's
    cycle loss, losses.gen_gaussian_nll, --uncertainty gengauss, the default]
    (with --uncertainty exp, the paper's and --preset official's: lambda_conf * mean(exp(-sigma)
    * w |r| + sigma / 2), w = conf_residual_weight 5)
    (with --uncertainty none: lambda_A * L1(G_B(fake_B), x_A))               [lambda_A 10]
  + lambda_B * L1(G_A(fake_A), x_B)                                           [lambda_B 10]
  + lambda_rec * (L1(rec_A, x_A) + L1(rec_B, x_B))                            [lambda_rec 10]
  + lambda_fm * (L1(m(T(E_A(x_A))), m(E_B(fake_B))) + L1(m(E_B(x_B)), m(E_A(fake_A))))  [lambda_fm 1]
    where m is the channel mean of an encoding and E_A(.) is G_A's encoding before the T-net.
    (--n_blocks_T_B > 0, the symmetric ablation: G_B has a T-net too, and the second term reads
    m(T_B(E_B(x_B))).)
  + lambda_identity * (lambda_B * L1(G_A(x_B), x_B) + lambda_A * L1(G_B(x_A), x_A))  [lambda_identity 0.5;
    the paper and --preset official: 0. It keeps the scene at small budgets, docs/results.md]
Discriminators: lambda_D * 0.5 * (GAN(D(real), 1) + GAN(D(pool(fake)), 0))       [lambda_D 1]
    (the official code sums over its two discriminators, hence lambda_D 2 in --preset official).
Pools (--pool_mode): per_domain (default) is one pool of --pool_size fakes per domain, each
sample tossing its own coin; shared is the official code's one pool of --pool_size (fake_A,
fake_B) pairs, one coin per pair (util/image_pool.PairPool), which --preset official sets.

`--preset official` (options/presets.py) sets every flag to the official code's configuration.
"""
from dataclasses import dataclass

from util.config import add_flags, at_least, flag, from_options
from util.errors import UserError
from util.image_pool import ImagePool, PairPool
from util.util import heatmap
from .base_model import BaseModel
from .generators import ForkGenerator, ForkGeneratorConfig
from .instance_level import add_instance_options, instance_terms
from .losses import channel_mean_l1, identity_losses, l1, uncertainty_cycle_loss


@dataclass(frozen=True)
class AUGANLosses:
    """The weights of AU-GAN's objective (the module docstring); each field is a training flag."""
    lambda_gan: float = flag(1.0, 'adversarial weight of each direction (official: 2, one per discriminator)')
    lambda_A: float = flag(10.0, 'A cycle L1 weight when --uncertainty none; A identity weight')
    lambda_B: float = flag(10.0, 'B (day) cycle L1 weight')
    lambda_rec: float = flag(10.0, 'reconstruction L1 weight')
    lambda_fm: float = flag(1.0, 'asymmetric feature matching weight')
    lambda_conf: float = flag(1.0, 'uncertainty-aware cycle loss weight')
    conf_residual_weight: float = flag(5.0, 'w in the uncertainty-aware cycle loss exp(-sigma) * w * |r| + sigma / 2 '
                                            '(official: 5; the first upload of the official code: 1)')
    lambda_D: float = flag(1.0, 'weight of each discriminator loss (official: 2, its loss sums over its two '
                                'discriminators)')
    lambda_identity: float = flag(0.5, 'identity loss, as a fraction of the cycle weights (0 = off, as in the paper '
                                       'and --preset official; 0.5 keeps more of the scene, docs/results.md)')


class AUGANModel(BaseModel):
    @staticmethod
    def modify_commandline_options(parser, is_train=True):
        parser.set_defaults(dataset_mode='unaligned')
        # rate 1, as the official code runs its blocks; transposed-conv upsampling, as the official
        # code has: interpolating upsampling paints vertical stripes over the scene (docs/results.md)
        # the input skip: what the input shows reaches the output without the H/4 code; with UGAC's
        # cycle loss below, ahead of CycleGAN on the rainy task and level on the night task
        # (two seeds each, docs/results.md); the filters and the full-size block: a translation that
        # follows the camera, not the pixel grid, and keeps more of the scene (the aliasing study)
        add_flags(parser, ForkGeneratorConfig, dilation=1, upsample='transposed', input_skip=True, skip_refine=True,
                  antialias=True)
        parser.add_argument('--n_blocks_T', type=at_least(0), default=4, help='residual blocks in the T-net of G_A')
        parser.add_argument('--n_blocks_T_B', type=at_least(0), default=0,
                            help='residual blocks in a T-net of G_B (0: none, the paper\'s asymmetry; >0 makes the '
                                 'generators symmetric, an ablation)')
        parser.add_argument('--t_net_concat', action='store_true',
                            help="G_A's translation decoder reads [encoding, T-net output] (the first upload of the "
                                 "official code, commit 953bdad)")
        parser.add_argument('--uncertainty', type=str, default='gengauss', choices=['exp', 'laplace', 'gengauss', 'none'],
                            help='uncertainty-aware cycle loss on the A side: gengauss (a per-pixel generalized '
                                 'Gaussian scale and shape, UGAC; the default), exp (the paper\'s), laplace; none '
                                 'falls back to lambda_A * L1')
        if is_train:
            add_flags(parser, AUGANLosses)
            parser.add_argument('--pool_mode', type=str, default='per_domain', choices=['per_domain', 'shared'],
                                help='per_domain: one pool of --pool_size fakes per domain; shared: the official one '
                                     'pool of --pool_size (fake_A, fake_B) pairs, one coin per pair')
            add_instance_options(parser)
        return parser

    def __init__(self, opt):
        super().__init__(opt)
        self.visual_names = ['real_A', 'fake_B', 'cyc_A', 'rec_A', 'uncertainty_A',
                             'real_B', 'fake_A', 'cyc_B', 'rec_B']
        self.model_names = ['G_A', 'G_B', 'D_A', 'D_B'] if self.isTrain else ['G_A', 'G_B']
        self.weights = from_options(AUGANLosses, opt) if self.isTrain else None
        use_identity = self.isTrain and self.weights.lambda_identity > 0
        if use_identity:
            self.visual_names += ['idt_A', 'idt_B']
        for name in self.visual_names:
            setattr(self, name, None)
        self.sigma_A = self.sigma_params_A = None

        config = from_options(ForkGeneratorConfig, opt)
        G_A = ForkGenerator(opt.input_nc, opt.output_nc, config, n_blocks_T=opt.n_blocks_T,
                            t_net_concat=opt.t_net_concat, uncertainty=opt.uncertainty != 'none',
                            gen_gaussian=opt.uncertainty == 'gengauss')
        G_B = ForkGenerator(opt.output_nc, opt.input_nc, config, n_blocks_T=opt.n_blocks_T_B)
        # both built, then both initialised: the order the seed's random draws have always followed
        self.netG_A, self.netG_B = self.init_net(G_A), self.init_net(G_B)

        if self.isTrain:
            if use_identity and opt.input_nc != opt.output_nc:
                raise UserError('--lambda_identity > 0 needs --input_nc equal to --output_nc')
            self.netD_A = self.make_discriminator(opt.input_nc)
            self.netD_B = self.make_discriminator(opt.output_nc)
            if opt.pool_mode == 'shared':
                self.pool_names = ['shared_pool']
                self.shared_pool = PairPool(opt.pool_size)
            else:
                self.pool_names = ['fake_A_pool', 'fake_B_pool']
                self.fake_A_pool = ImagePool(opt.pool_size)
                self.fake_B_pool = ImagePool(opt.pool_size)
            self.optimizer_G = self.make_optimizer(self.netG_A, self.netG_B)
            self.optimizer_D = self.make_optimizer(self.netD_A, self.netD_B)
        self.instance = instance_terms(self, opt)
        if self.instance:
            self.optimizer_D_inst = self.add_terms(self.instance)

    def forward(self):
        out = self.netG_A(self.real_A)
        self.fake_B, self.rec_A, self.sigma_A, self.code_A = out.fake, out.rec, out.sigma, out.code
        self.sigma_params_A = out.sigma_params  # (scale, shape) with --uncertainty gengauss
        cyc = self.netG_B(self.fake_B, reconstruct=False)
        self.cyc_A, self.enc_fake_B = cyc.fake, cyc.enc
        if self.real_B is None:  # a one-domain test set: the A side only
            return
        out = self.netG_B(self.real_B)
        self.fake_A, self.rec_B, self.code_B = out.fake, out.rec, out.code  # code: after G_B's T-net, if any
        cyc = self.netG_A(self.fake_A, reconstruct=False, uncertainty=False)
        self.cyc_B, self.enc_fake_A = cyc.fake, cyc.enc  # enc: G_A's encoding before its T-net

    def compute_visuals(self):
        self.uncertainty_A = heatmap(self.sigma_A) if self.sigma_A is not None else None

    def uncertainty_maps(self):
        return {'uncertainty_A': self.sigma_A} if self.sigma_A is not None else {}

    def generator_loss(self, D_A, D_B):
        """{name: loss} of the generator step, in the order they are summed."""
        w = self.weights
        losses = {'G_A': w.lambda_gan * self.criterionGAN(D_B(self.fake_B), True),
                  'G_B': w.lambda_gan * self.criterionGAN(D_A(self.fake_A), True)}
        if self.sigma_A is not None:
            sigma = self.sigma_params_A if self.sigma_params_A is not None else self.sigma_A
            losses['cycle_A'] = w.lambda_conf * uncertainty_cycle_loss(self.real_A, self.cyc_A, sigma,
                                                                       self.opt.uncertainty, w.conf_residual_weight)
        else:
            losses['cycle_A'] = w.lambda_A * l1(self.cyc_A, self.real_A)
        losses['cycle_B'] = w.lambda_B * l1(self.cyc_B, self.real_B)
        losses['rec_A'] = w.lambda_rec * l1(self.rec_A, self.real_A)
        losses['rec_B'] = w.lambda_rec * l1(self.rec_B, self.real_B)
        losses['fm_A'] = w.lambda_fm * channel_mean_l1(self.code_A, self.enc_fake_B)
        losses['fm_B'] = w.lambda_fm * channel_mean_l1(self.code_B, self.enc_fake_A)
        if w.lambda_identity > 0:
            self.idt_A = self.netG_A(self.real_B, reconstruct=False, uncertainty=False).fake
            self.idt_B = self.netG_B(self.real_A, reconstruct=False).fake
            losses.update(identity_losses(w, self.idt_A, self.real_B, self.idt_B, self.real_A))
        return losses

    def optimize_parameters(self):
        # Generators first; the discriminators only pass gradients through.
        with self.autocast():
            self.forward()
            with self.frozen(self.netD_A, self.netD_B) as (D_A, D_B):
                losses_G = self.generator_loss(D_A, D_B)
            if self.instance:
                instance_losses, visuals = self.instance.generator_loss(self)
                losses_G.update(instance_losses)
                self.show(visuals)
        self.minimize(self.optimizer_G, losses_G)

        if self.opt.pool_mode == 'shared':
            fake_A, fake_B = self.shared_pool.query_pair(self.fake_A, self.fake_B)
        else:
            fake_A, fake_B = self.fake_A_pool.query(self.fake_A), self.fake_B_pool.query(self.fake_B)
        with self.autocast():
            losses_D = {'D_A': self.weights.lambda_D * self.discriminator_loss(self.netD_A, self.real_A, fake_A),
                        'D_B': self.weights.lambda_D * self.discriminator_loss(self.netD_B, self.real_B, fake_B)}
        self.minimize(self.optimizer_D, losses_D)
        if self.instance:
            losses_D.update(self.instance.optimize_discriminators(self, self.optimizer_D_inst))
        return {**losses_G, **losses_D}
