"""Published configurations as sets of flag defaults: `--preset NAME`.

A preset only changes defaults, so every flag given on the command line still wins
(`--preset official --ngf 32` is the official configuration at half width). Its values are
applied at each stage of option parsing (base flags, the model's, the dataset's), since each
stage adds flags the earlier ones do not know.

`official` is the official AU-GAN code (github jgkwak95/AU-GAN, AUGAN.py/models.py/ops.py and
main.py's defaults), flag by flag; docs/models.md has the same table with the reasons. Its
components are typed configurations (generator, discriminators, loss weights, geometry), spread
into the table by their fields, which are the flags' names.
"""
from dataclasses import asdict

from data.base_dataset import ImageSize
from data.base_dataset import Geometry
from models.au_gan_model import AUGANLosses
from models.discriminators import DiscriminatorConfig
from models.generators import ForkGeneratorConfig
from util.errors import UserError

# The official generators (official/weights.py builds them from this too): 4 encoder blocks, 4
# per decoder; the blocks ask for dilation but run at rate 1; 3x3 transposed convs, TensorFlow's
# 'SAME' geometry, zero-padded blocks, affine instance norms, no biases; noise on the
# reconstruction decoder
OFFICIAL_GENERATOR = ForkGeneratorConfig(
    ngf=64, norm='instance', n_blocks_enc=4, n_blocks_dec=4, dilation=1, upsample='transposed', noise_std=0.02,
    noise_on='rec', affine_norm=True, block_padding='zeros', tf_padding=True, no_output_bias=True)

OFFICIAL_NETWORKS = {
    'model': 'au_gan', 'input_nc': 3, 'output_nc': 3,
    **asdict(OFFICIAL_GENERATOR),
    # G_A alone: a 4-block T-net read alone, and the uncertainty head (none in G_B)
    'n_blocks_T': 4, 'n_blocks_T_B': 0, 't_net_concat': False, 'uncertainty': 'exp',
    # two two-path discriminators per domain, ndf / 2 = 32 wide each
    **asdict(DiscriminatorConfig(ndf=64, netD='augan', norm='instance')),
    'init_type': 'normal', 'init_gain': 0.02,
}

OFFICIAL_TRAIN = {
    **OFFICIAL_NETWORKS,
    # losses: LSGAN; the adversarial term summed over the two discriminators, and each domain's
    # discriminator loss over its two; L1 weights 10; the uncertainty loss's w 5; no identity loss
    'gan_mode': 'lsgan',
    **asdict(AUGANLosses(lambda_gan=2.0, lambda_A=10.0, lambda_B=10.0, lambda_rec=10.0, lambda_fm=1.0, lambda_conf=1.0,
                         conf_residual_weight=5.0, lambda_D=2.0, lambda_identity=0.0)),
    # one pool of 50 (fake_A, fake_B) pairs, one coin per pair
    'pool_size': 50, 'pool_mode': 'shared',
    # data: frames resized to 286x572, random 256x512 crops, flips; epochs of min(|A|, |B|) pairs
    **asdict(Geometry(ImageSize(286, 572), ImageSize(256, 512), 'resize_and_crop', no_flip=False)),
    'epoch_length': 'min', 'batch_size': 1,
    # schedule: Adam 2e-4, beta1 0.5; 20 epochs, the last 10 decaying as the official code does
    'lr': 0.0002, 'beta1': 0.5, 'n_epochs': 10, 'n_epochs_decay': 10, 'lr_policy': 'linear_official',
    # TensorFlow 1's Adam (epsilon on the uncorrected sqrt(v)), as the official code trains
    'adam': 'tensorflow',
}

OFFICIAL_TEST = {
    **OFFICIAL_NETWORKS,
    # whole frames resized to 256x512, as the official test phase feeds them
    **asdict(Geometry(ImageSize(256, 512), ImageSize(256, 512), 'resize')),
}

PRESETS = {'official': {True: OFFICIAL_TRAIN, False: OFFICIAL_TEST}}


def preset_values(name, is_train):
    return PRESETS[name][bool(is_train)] if name else {}


def check_preset(parser, opt, is_train):
    """After the last stage: every value of the preset must have found its flag (else the preset
    does not fit the chosen --model)."""
    values = preset_values(opt.preset, is_train)
    if values and opt.model != values['model']:
        raise UserError(f'--preset {opt.preset} configures --model {values["model"]}: drop --model {opt.model} '
                        f'or the preset')
    known = {action.dest for action in parser._actions}
    missing = sorted(set(values) - known)
    if missing:
        raise UserError(f'--preset {opt.preset} sets {", ".join("--" + m for m in missing)}, which --model '
                        f'{opt.model} with --dataset_mode {opt.dataset_mode} does not have: keep the preset\'s '
                        f'--model and --dataset_mode')
