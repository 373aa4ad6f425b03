"""ForkGAN (Zheng et al., "ForkGAN: Seeing into the Rainy Night", ECCV 2020), as its official
TensorFlow code (github zhengziqiang/ForkGAN, model.py) defines it, on this codebase's networks.

- G_A (A->B) and G_B (B->A) are fork generators: an encoder, a translation decoder and a
  reconstruction decoder with Gaussian noise (std 0.02) on its input and after its first
  residual block. Official layout: 5 encoder blocks, 4 per decoder, transposed-conv upsampling;
  the official residual blocks ask for dilation but run at rate 1, hence `--dilation 1`.
- Six discriminators judge translations (D_A, D_B), reconstructions of real images (D_rec_A,
  D_rec_B) and "refinements", the reconstruction decoder applied to a translation (D_ref_A,
  D_ref_B). The official code uses two of each with its own two-scale design; here each is one
  `--netD` discriminator (default ms2, a two-scale PatchGAN).
- A domain-agnostic classifier C on the encodings, trained adversarially against the encoders.

Generator objective, with the weights and where each comes from:
    0.5 * sum over the six discriminators of GAN(D(output), real)   official: 0.5 per pair
  + lambda_A * L1(G_B(G_A(x_A)), x_A) + lambda_B * L1(G_A(G_B(x_B)), x_B)   official L1_lambda = 10
  + lambda_rec * (L1(rec_A, x_A) + L1(rec_B, x_B))                      official L1_lambda = 10
  + lambda_percep * (L1(m(E_A(x_A)), m(E_B(fake_B))) + L1(m(E_B(x_B)), m(E_A(fake_A))))
        m = channel mean; official weight 1 (the earlier PyTorch port uses 20: --lambda_percep 20)
  + lambda_cls * 0.5 * (CE(C(E_A(fake_A)), A) + CE(C(E_B(fake_B)), B))  official weight 1
Classifier: 0.25 * (CE(C(E_A(x_A)), A) + CE(C(E_B(x_B)), B) + CE(C(E_B(fake_B)), A) + CE(C(E_A(fake_A)), B)).
Discriminators: 0.5 * (GAN(D(real), 1) + GAN(D(pool(fake)), 0)), one pool per output kind.
Where the official code and the earlier PyTorch port disagree, the official choice is the
default and the port's is a flag: --lambda_percep 20, --noise_on translation, --dilation 2,
--upsample bilinear.
"""
from util.image_pool import ImagePool
from .base_model import BaseModel
from .discriminators import DomainClassifier
from .generators import ForkGenerator, add_fork_generator_options, fork_generator_kwargs
from .instance_level import add_instance_options, instance_terms
from .losses import channel_mean_l1, domain_classification_loss, l1

DISCRIMINATORS = ['D_A', 'D_B', 'D_rec_A', 'D_rec_B', 'D_ref_A', 'D_ref_B']


class ForkGANModel(BaseModel):
    @staticmethod
    def modify_commandline_options(parser, is_train=True):
        parser.set_defaults(dataset_mode='unaligned', netD='ms2')
        add_fork_generator_options(parser, n_blocks_enc=5, n_blocks_dec=4, dilation=1, upsample='transposed')
        if is_train:
            parser.add_argument('--lambda_A', type=float, default=10.0, help='cycle L1 weight, A -> B -> A')
            parser.add_argument('--lambda_B', type=float, default=10.0, help='cycle L1 weight, B -> A -> B')
            parser.add_argument('--lambda_rec', type=float, default=10.0, help='reconstruction L1 weight')
            parser.add_argument('--lambda_percep', type=float, default=1.0,
                                help='channel-mean L1 between encodings (official 1; the earlier port 20)')
            parser.add_argument('--lambda_cls', type=float, default=1.0, help='adversarial domain-classifier weight')
            add_instance_options(parser)
        return parser

    def __init__(self, opt):
        super().__init__(opt)
        self.visual_names = ['real_A', 'fake_B', 'ref_B', 'cyc_A', 'rec_A', 'real_B', 'fake_A', 'ref_A', 'cyc_B', 'rec_B']
        self.model_names = ['G_A', 'G_B'] + (DISCRIMINATORS + ['C'] if self.isTrain else [])
        self.loss_names = ['D_A', 'D_B', 'D_rec_A', 'D_rec_B', 'D_ref_A', 'D_ref_B', 'G_A', 'G_B', 'G_rec_A', 'G_rec_B',
                           'G_ref_A', 'G_ref_B', 'cycle_A', 'cycle_B', 'rec_A', 'rec_B', 'percep', 'G_cls', 'cls']
        for name in self.visual_names:
            setattr(self, name, None)

        common = fork_generator_kwargs(opt)
        self.netG_A = self.init_net(ForkGenerator(opt.input_nc, opt.output_nc, **common))
        self.netG_B = self.init_net(ForkGenerator(opt.output_nc, opt.input_nc, **common))
        self.instance = None
        if not self.isTrain:
            return

        for name in DISCRIMINATORS:
            channels = opt.input_nc if name.endswith('A') else opt.output_nc
            setattr(self, 'net' + name, self.make_discriminator(channels))
            setattr(self, name.replace('D_', 'pool_'), ImagePool(opt.pool_size))
        self.netC = self.init_net(DomainClassifier(4 * opt.ngf, opt.ndf))
        self.optimizer_G = self.make_optimizer(self.netG_A, self.netG_B)
        self.optimizer_D = self.make_optimizer(*(getattr(self, 'net' + n) for n in DISCRIMINATORS))
        self.optimizer_C = self.make_optimizer(self.netC)
        self.instance = instance_terms(self, opt)

    def forward(self):
        out = self.netG_A(self.real_A)
        self.fake_B, self.rec_A, self.enc_A = out.fake, out.rec, out.enc
        out = self.netG_B(self.fake_B)  # its reconstruction decoder "refines" the translation
        self.cyc_A, self.ref_B, self.enc_fake_B = out.fake, out.rec, out.enc
        if self.real_B is None:
            return
        out = self.netG_B(self.real_B)
        self.fake_A, self.rec_B, self.enc_B = out.fake, out.rec, out.enc
        out = self.netG_A(self.fake_A)
        self.cyc_B, self.ref_A, self.enc_fake_A = out.fake, out.rec, out.enc

    def generator_loss(self, D, C):
        opt, gan = self.opt, self.criterionGAN
        self.loss_G_A = 0.5 * gan(D['D_B'](self.fake_B), True)
        self.loss_G_B = 0.5 * gan(D['D_A'](self.fake_A), True)
        self.loss_G_rec_A = 0.5 * gan(D['D_rec_A'](self.rec_A), True)
        self.loss_G_rec_B = 0.5 * gan(D['D_rec_B'](self.rec_B), True)
        self.loss_G_ref_A = 0.5 * gan(D['D_ref_A'](self.ref_A), True)
        self.loss_G_ref_B = 0.5 * gan(D['D_ref_B'](self.ref_B), True)
        self.loss_cycle_A = opt.lambda_A * l1(self.cyc_A, self.real_A)
        self.loss_cycle_B = opt.lambda_B * l1(self.cyc_B, self.real_B)
        self.loss_rec_A = opt.lambda_rec * l1(self.rec_A, self.real_A)
        self.loss_rec_B = opt.lambda_rec * l1(self.rec_B, self.real_B)
        self.loss_percep = opt.lambda_percep * (channel_mean_l1(self.enc_A, self.enc_fake_B)
                                                + channel_mean_l1(self.enc_B, self.enc_fake_A))
        # The encoders try to hide where the content came from.
        self.loss_G_cls = opt.lambda_cls * 0.5 * (domain_classification_loss(C(self.enc_fake_A), 'A')
                                                  + domain_classification_loss(C(self.enc_fake_B), 'B'))
        return sum(getattr(self, 'loss_' + n) for n in ['G_A', 'G_B', 'G_rec_A', 'G_rec_B', 'G_ref_A', 'G_ref_B',
                                                         'cycle_A', 'cycle_B', 'rec_A', 'rec_B', 'percep', 'G_cls'])

    def classifier_loss(self):
        encodings = [(self.enc_A, 'A'), (self.enc_B, 'B'), (self.enc_fake_B, 'A'), (self.enc_fake_A, 'B')]
        return 0.25 * sum(domain_classification_loss(self.netC(e.detach()), d) for e, d in encodings)

    def optimize_parameters(self):
        nets = [getattr(self, 'net' + n) for n in DISCRIMINATORS]
        with self.autocast():
            self.forward()
            with self.frozen(*nets, self.netC) as frozen:
                loss_G = self.generator_loss(dict(zip(DISCRIMINATORS, frozen[:-1])), frozen[-1])
            if self.instance:
                loss_G = loss_G + self.instance.generator_loss()
        self.minimize(self.optimizer_G, loss_G)

        with self.autocast():
            self.loss_cls = self.classifier_loss()
        self.minimize(self.optimizer_C, self.loss_cls)

        pairs = {'D_A': (self.real_A, self.fake_A), 'D_B': (self.real_B, self.fake_B),
                 'D_rec_A': (self.real_A, self.rec_A), 'D_rec_B': (self.real_B, self.rec_B),
                 'D_ref_A': (self.real_A, self.ref_A), 'D_ref_B': (self.real_B, self.ref_B)}
        with self.autocast():
            for name, (real, fake) in pairs.items():
                pool = getattr(self, name.replace('D_', 'pool_'))  # each discriminator has its own history
                setattr(self, 'loss_' + name, self.discriminator_loss(getattr(self, 'net' + name), real,
                                                                      pool.query(fake)))
        self.minimize(self.optimizer_D, sum(getattr(self, 'loss_' + n) for n in DISCRIMINATORS))
        if self.instance:
            self.instance.optimize_discriminators()
