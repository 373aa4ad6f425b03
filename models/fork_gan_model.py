"""ForkGAN (Zheng et al., "ForkGAN: Seeing into the Rainy Night", ECCV 2020), as its official
TensorFlow code (github zhengziqiang/ForkGAN: model.py, ops.py, utils.py) defines it, on this
codebase's networks.

- G_A (A->B) and G_B (B->A) are fork generators: an encoder, a translation decoder and a
  reconstruction decoder with Gaussian noise (std 0.02) on its input and after its first
  residual block. Official layout: 5 encoder blocks, 4 per decoder, transposed-conv upsampling;
  the official residual blocks ask for dilation but run at rate 1, hence `--dilation 1`.
- Six discriminator slots judge translations (D_A, D_B), reconstructions of real images (D_rec_A,
  D_rec_B) and "refinements", the reconstruction decoder applied to a translation (D_ref_A,
  D_ref_B). Each slot is one `--netD` network (default ms2, a two-scale PatchGAN). The official
  code has n_d = 2 independent discriminators per slot, each its `discriminator` (ops.py
  `dis_down` x4 + `final_conv`, two crossing paths at full and half size, ndf / n_d = 32 wide):
  layer for layer what `--netD augan` builds (AUGANDiscriminator, the same design in AU-GAN).
- A domain-agnostic classifier C on the encodings, trained adversarially against the encoders.

enc(x) below is the encoding as the official generator returns it: the encoder output plus the
reconstruction decoder's input noise (generator_resnet's noisy r5), while training and with
`--noise_on rec`; the clean encoder output otherwise (the earlier PyTorch port, whose noise is on
the translation decoder, uses clean encodings). The noise is drawn here, once per encoding, with
the decoder's std: the same distribution as the decoder's own draw, but not the same sample
(official: one tensor feeds both); the generators do not return their noisy input.

Generator objective (default weights in brackets):
    lambda_gan * sum over the six slots of GAN(D(output), real)               [lambda_gan 1]
        official: 0.5 per discriminator, summed over its n_d = 2 discriminators of each slot,
        each discriminator's loss the mean over its two scales (model.py g_adv_total): 1 per
        slot. GAN here averages over all patch maps of the slot, so with --netD augan
        (2 discriminators x 2 maps) lambda_gan 1 gives exactly the official term; with ms2 it
        gives one discriminator the official slot's whole weight. --lambda_gan 0.5: the
        weight this model used before.
  + lambda_A * L1(G_B(G_A(x_A)), x_A) + lambda_B * L1(G_A(G_B(x_B)), x_B)   [10, 10] (L1_lambda)
  + lambda_rec * (L1(rec_A, x_A) + L1(rec_B, x_B))                          [10] (L1_lambda)
  + lambda_percep * (L1(m(enc(x_A)), m(enc(fake_B))) + L1(m(enc(x_B)), m(enc(fake_A))))  [1]
        m = channel mean; official weight 1 (the earlier PyTorch port 20: --lambda_percep 20)
  + lambda_cls * 0.5 * (CE(C(enc(fake_A)), A) + CE(C(enc(fake_B)), B))       [1]
Classifier: 0.25 * (CE(C(enc(x_A)), A) + CE(C(enc(x_B)), B) + CE(C(enc(fake_B)), A) + CE(C(enc(fake_A)), B)).
Discriminators: 0.5 * (GAN(D(real), 1) + GAN(D(pool(fake)), 0)).
Pools (`--pool_mode`): `shared` (default) is the official one pool of --pool_size (A, B) pairs,
queried with the translations, then the reconstructions, then the refinements (see PairPool):
once full, a slot may be shown a past output of another slot of its domain. `per_output`: one
pool per slot, each showing a slot only its own outputs (this model's earlier behaviour, and the
earlier PyTorch port's).
Where the official code and the earlier PyTorch port disagree, the official choice is the
default and the port's is a flag: --lambda_percep 20, --noise_on translation, --dilation 2,
--upsample bilinear, --pool_mode per_output.
"""
from dataclasses import dataclass

import torch

from util import distributed
from util.config import add_flags, flag, from_options
from util.image_pool import ImagePool, PairPool
from .base_model import BaseModel
from .discriminators import DomainClassifier
from .generators import ForkGenerator, ForkGeneratorConfig
from .instance_level import add_instance_options, instance_terms
from .losses import channel_mean_l1, domain_classification_loss, l1

DISCRIMINATORS = ['D_A', 'D_B', 'D_rec_A', 'D_rec_B', 'D_ref_A', 'D_ref_B']
# the slots in the order the official code fills its pool: (domain A slot, domain B slot, outputs)
SLOT_PAIRS = [('D_A', 'D_B', 'fake'), ('D_rec_A', 'D_rec_B', 'rec'), ('D_ref_A', 'D_ref_B', 'ref')]


@dataclass(frozen=True)
class ForkGANLosses:
    """The weights of ForkGAN's objective (the module docstring); each field is a training flag."""
    lambda_gan: float = flag(1.0, 'weight of each of the six adversarial terms (official: 0.5 per discriminator x '
                                  'its 2 discriminators per slot = 1; this model before: 0.5)')
    lambda_A: float = flag(10.0, 'cycle L1 weight, A -> B -> A')
    lambda_B: float = flag(10.0, 'cycle L1 weight, B -> A -> B')
    lambda_rec: float = flag(10.0, 'reconstruction L1 weight')
    lambda_percep: float = flag(1.0, 'channel-mean L1 between encodings (official 1; the earlier port 20)')
    lambda_cls: float = flag(1.0, 'adversarial domain-classifier weight')


class ForkGANModel(BaseModel):
    @staticmethod
    def modify_commandline_options(parser, is_train=True):
        parser.set_defaults(dataset_mode='unaligned', netD='ms2')
        add_flags(parser, ForkGeneratorConfig, n_blocks_enc=5, dilation=1, upsample='transposed')
        if is_train:
            add_flags(parser, ForkGANLosses)
            parser.add_argument('--pool_mode', type=str, default='shared', choices=['shared', 'per_output'],
                                help='shared: one pool of --pool_size (A, B) pairs for all six discriminators (the '
                                     'official code); per_output: one pool per discriminator (the earlier port)')
            add_instance_options(parser)
        return parser

    def __init__(self, opt):
        super().__init__(opt)
        self.visual_names = ['real_A', 'fake_B', 'ref_B', 'cyc_A', 'rec_A', 'real_B', 'fake_A', 'ref_A', 'cyc_B', 'rec_B']
        self.model_names = ['G_A', 'G_B'] + (DISCRIMINATORS + ['C'] if self.isTrain else [])
        self.weights = from_options(ForkGANLosses, opt) if self.isTrain else None
        for name in self.visual_names:
            setattr(self, name, None)

        config = from_options(ForkGeneratorConfig, opt)
        self.netG_A = self.init_net(ForkGenerator(opt.input_nc, opt.output_nc, config))
        self.netG_B = self.init_net(ForkGenerator(opt.output_nc, opt.input_nc, config))
        self.instance = None
        if not self.isTrain:
            return

        shared = opt.pool_mode == 'shared'
        self.pool_names = ['shared_pool'] if shared else [name.replace('D_', 'pool_') for name in DISCRIMINATORS]
        for name in DISCRIMINATORS:
            channels = opt.input_nc if name.endswith('A') else opt.output_nc
            setattr(self, 'net' + name, self.make_discriminator(channels))
            if not shared:
                setattr(self, name.replace('D_', 'pool_'), ImagePool(opt.pool_size))
        if shared:
            self.shared_pool = PairPool(opt.pool_size)
        self.netC = self.init_net(DomainClassifier(4 * opt.ngf, opt.ndf))
        self.optimizer_G = self.make_optimizer(self.netG_A, self.netG_B)
        self.optimizer_D = self.make_optimizer(*(getattr(self, 'net' + n) for n in DISCRIMINATORS))
        self.optimizer_C = self.make_optimizer(self.netC)
        self.instance = instance_terms(self, opt)
        if self.instance:
            self.optimizer_D_inst = self.add_terms(self.instance)

    def loss_encoding(self, net, enc):
        """`enc`, net's clean encoder output, as the perceptual and classifier losses read it: plus
        N(0, noise_std^2) while `net` trains with --noise_on rec (the official generator returns its
        reconstruction decoder's noisy input), else unchanged."""
        std = self.opt.noise_std if self.opt.noise_on == 'rec' else 0.0
        if std > 0 and distributed.unwrap(net).training:
            return enc + std * torch.randn_like(enc)
        return enc

    def forward(self):
        out = self.netG_A(self.real_A)
        self.fake_B, self.rec_A, self.enc_A = out.fake, out.rec, self.loss_encoding(self.netG_A, out.enc)
        out = self.netG_B(self.fake_B)  # its reconstruction decoder "refines" the translation
        self.cyc_A, self.ref_B, self.enc_fake_B = out.fake, out.rec, self.loss_encoding(self.netG_B, out.enc)
        if self.real_B is None:
            return
        out = self.netG_B(self.real_B)
        self.fake_A, self.rec_B, self.enc_B = out.fake, out.rec, self.loss_encoding(self.netG_B, out.enc)
        out = self.netG_A(self.fake_A)
        self.cyc_B, self.ref_A, self.enc_fake_A = out.fake, out.rec, self.loss_encoding(self.netG_A, out.enc)

    def generator_loss(self, D, C):
        """{name: loss} of the generator step, in the order they are summed."""
        w, gan = self.weights, self.criterionGAN
        return {
            'G_A': w.lambda_gan * gan(D['D_B'](self.fake_B), True),
            'G_B': w.lambda_gan * gan(D['D_A'](self.fake_A), True),
            'G_rec_A': w.lambda_gan * gan(D['D_rec_A'](self.rec_A), True),
            'G_rec_B': w.lambda_gan * gan(D['D_rec_B'](self.rec_B), True),
            'G_ref_A': w.lambda_gan * gan(D['D_ref_A'](self.ref_A), True),
            'G_ref_B': w.lambda_gan * gan(D['D_ref_B'](self.ref_B), True),
            'cycle_A': w.lambda_A * l1(self.cyc_A, self.real_A),
            'cycle_B': w.lambda_B * l1(self.cyc_B, self.real_B),
            'rec_A': w.lambda_rec * l1(self.rec_A, self.real_A),
            'rec_B': w.lambda_rec * l1(self.rec_B, self.real_B),
            'percep': w.lambda_percep * (channel_mean_l1(self.enc_A, self.enc_fake_B)
                                         + channel_mean_l1(self.enc_B, self.enc_fake_A)),
            # The encoders try to hide where the content came from.
            'G_cls': w.lambda_cls * 0.5 * (domain_classification_loss(C(self.enc_fake_A), 'A')
                                           + domain_classification_loss(C(self.enc_fake_B), 'B')),
        }

    def classifier_loss(self):
        encodings = [(self.enc_A, 'A'), (self.enc_B, 'B'), (self.enc_fake_B, 'A'), (self.enc_fake_A, 'B')]
        return 0.25 * sum(domain_classification_loss(self.netC(e.detach()), d) for e, d in encodings)

    def pooled_fakes(self, name_A, name_B, out_A, out_B):
        """The fakes that the slots name_A and name_B are shown, from the pool(s) of --pool_mode."""
        if self.opt.pool_mode == 'shared':
            return self.shared_pool.query_pair(out_A, out_B)
        return tuple(getattr(self, n.replace('D_', 'pool_')).query(o) for n, o in ((name_A, out_A), (name_B, out_B)))

    def optimize_parameters(self):
        nets = [getattr(self, 'net' + n) for n in DISCRIMINATORS]
        with self.autocast():
            self.forward()
            with self.frozen(*nets, self.netC) as frozen:
                losses_G = self.generator_loss(dict(zip(DISCRIMINATORS, frozen[:-1])), frozen[-1])
            if self.instance:
                instance_losses, visuals = self.instance.generator_loss(self)
                losses_G.update(instance_losses)
                self.show(visuals)
        self.minimize(self.optimizer_G, losses_G)

        with self.autocast():
            losses_C = {'cls': self.classifier_loss()}
        self.minimize(self.optimizer_C, losses_C)

        judged = {}
        with self.autocast():
            for name_A, name_B, kind in SLOT_PAIRS:
                outputs = getattr(self, kind + '_A'), getattr(self, kind + '_B')
                fake_A, fake_B = self.pooled_fakes(name_A, name_B, *outputs)
                for name, real, fake in ((name_A, self.real_A, fake_A), (name_B, self.real_B, fake_B)):
                    judged[name] = self.discriminator_loss(getattr(self, 'net' + name), real, fake)
        losses_D = {name: judged[name] for name in DISCRIMINATORS}
        self.minimize(self.optimizer_D, losses_D)
        if self.instance:
            losses_D.update(self.instance.optimize_discriminators(self, self.optimizer_D_inst))
        return {**losses_G, **losses_C, **losses_D}
