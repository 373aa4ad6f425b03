"""One generator of any model, run in one direction: `--model test --model_suffix _A` loads
`<epoch>_net_G_A.pth` of the run `--name`, rebuilt exactly as it was saved (no network flags
needed), and translates a single folder (`--dataset_mode single`), as in the CycleGAN code.
`_A` is the A->B generator, `_B` the B->A one. For AU-GAN's G_A the uncertainty map is shown too.
"""
from util.errors import UserError
from util.util import heatmap
from .base_model import BaseModel


class TestModel(BaseModel):
    @staticmethod
    def modify_commandline_options(parser, is_train=True):
        if is_train:
            raise UserError('--model test is for test.py only: train with the model you want to test')
        parser.set_defaults(dataset_mode='single')
        parser.add_argument('--model_suffix', type=str, default='',
                            help='which generator file: <epoch>_net_G<suffix>.pth, e.g. _A or _B')
        return parser

    def __init__(self, opt):
        super().__init__(opt)
        self.generator = 'G' + opt.model_suffix
        self.model_names = [self.generator]
        setattr(self, 'net' + self.generator, None)  # built from the checkpoint in setup()
        self.visual_names = ['real', 'fake', 'uncertainty']
        self.real = self.fake = self.sigma = self.uncertainty = None

    def set_input(self, input):
        self.real = self.to_device(input['A'])
        self.image_paths = input['A_paths']

    def forward(self):
        out = getattr(self, 'net' + self.generator)(self.real, reconstruct=False)
        self.fake, self.sigma = out.fake, out.sigma

    def compute_visuals(self):
        self.uncertainty = heatmap(self.sigma) if self.sigma is not None else None

    def uncertainty_maps(self):
        return {'uncertainty': self.sigma} if self.sigma is not None else {}

    def optimize_parameters(self):
        raise UserError('--model test cannot be trained')
