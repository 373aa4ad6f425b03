"""Instance-level terms (`--instance_level`, as the ForkGAN PyTorch port offers them): the
adversarial, cycle and reconstruction losses again on the object boxes of `--dataset_mode
unaligned_coco`, with their own smaller discriminators (2-layer PatchGANs on `--inst_size` crops).

Crops come from `torchvision.ops.roi_align`, so every sample gives a crop of the same size.
A sample without a box crops its whole image and weighs 0 in every instance term: all networks
run on every process for every batch, which keeps DDP's gradient synchronisation in step (the
port skipped boxless batches and could only train on one GPU).
"""

import torch
from torchvision.ops import roi_align

from util.config import from_options
from util.errors import UserError
from .discriminators import DiscriminatorConfig, define_D
from .losses import weighted_l1


def add_instance_options(parser):
    parser.add_argument('--instance_level', action='store_true',
                        help='add instance-level terms on object boxes (with --dataset_mode unaligned_coco)')
    parser.add_argument('--lambda_inst', type=float, default=1.0, help='weight of the instance terms vs the image ones')
    parser.add_argument('--inst_size', type=int, default=64, help='object crops are resampled to this size')
    return parser


def box_rois(boxes, height, width):
    """roi_align's (N, 5) regions for each sample's box (x1, y1, x2, y2), and (N,) weights: 1 where
    the sample has a box, 0 where it has none (its region is then the whole image)."""
    valid = boxes[:, 0] >= 0
    whole = torch.tensor([0.0, 0.0, width, height], device=boxes.device)
    boxes = torch.where(valid[:, None], boxes.float(), whole)
    index = torch.arange(len(boxes), device=boxes.device, dtype=torch.float32)[:, None]
    return torch.cat([index, boxes], dim=1), valid.float()


def crop(images, rois, size):
    """(N, C, size, size) crops of `images` at `rois` (from box_rois)."""
    return roi_align(images.float(), rois, output_size=size, spatial_scale=1.0, sampling_ratio=2, aligned=True)


class InstanceTerms:
    """The instance terms declare what they add to a model (NETWORKS, VISUALS) and never write to
    it. The model takes them on with `model.add_terms(terms)` (which builds the networks as
    net<name>, names them, and returns their optimizer); in its step it adds the losses of
    `generator_loss(model)` to its generator's (and `model.show`s its visuals), and ends with
    `optimize_discriminators(model, optimizer)`, whose losses it reports with its own.
    The networks are read from the model at each call, as setup() may have wrapped them (DDP, compile)."""

    NETWORKS = ('D_A_inst', 'D_B_inst')
    VISUALS = ('real_A_inst', 'fake_B_inst')

    def __init__(self, opt):
        self.opt = opt

    def build_networks(self, device):
        """{name: discriminator} of NETWORKS, initialised, on `device` (built in that order)."""
        opt = self.opt
        config = from_options(DiscriminatorConfig, opt, netD='n_layers', n_layers_D=2)  # small crops: 2 layers
        return {name: define_D(channels, config, opt.init_type, opt.init_gain).to(device)
                for name, channels in zip(self.NETWORKS, (opt.input_nc, opt.output_nc))}

    def discriminators(self, model):
        """(D_A_inst, D_B_inst) as the model holds them now."""
        return tuple(getattr(model, 'net' + name) for name in self.NETWORKS)

    def crops(self, model):
        """Crop the step's images at their boxes (kept here for the losses); returns the visuals."""
        size = self.opt.inst_size
        # the regions once per step; every image of a side is cropped at its source's boxes
        # (a translation keeps its source's objects where they were)
        self.rois_A, self.w_A = box_rois(model.box_A, *model.real_A.shape[-2:])
        self.rois_B, self.w_B = box_rois(model.box_B, *model.real_B.shape[-2:])
        self.real_A, self.fake_B = crop(model.real_A, self.rois_A, size), crop(model.fake_B, self.rois_A, size)
        self.real_B, self.fake_A = crop(model.real_B, self.rois_B, size), crop(model.fake_A, self.rois_B, size)
        return {'real_A_inst': self.real_A, 'fake_B_inst': self.fake_B}

    def generator_loss(self, model):
        """The generator step's terms: ({G_inst, cycle_inst, rec_inst}, visuals)."""
        opt = self.opt
        visuals = self.crops(model)
        gan = model.criterionGAN
        with model.frozen(*self.discriminators(model)) as (D_A, D_B):
            loss_G = opt.lambda_inst * 0.5 * (gan(D_B(self.fake_B), True, self.w_A)
                                              + gan(D_A(self.fake_A), True, self.w_B))
        size = opt.inst_size
        cyc_A, rec_A = crop(model.cyc_A, self.rois_A, size), crop(model.rec_A, self.rois_A, size)
        cyc_B, rec_B = crop(model.cyc_B, self.rois_B, size), crop(model.rec_B, self.rois_B, size)
        loss_cycle = opt.lambda_inst * (opt.lambda_A * weighted_l1(cyc_A, self.real_A, self.w_A)
                                        + opt.lambda_B * weighted_l1(cyc_B, self.real_B, self.w_B))
        loss_rec = opt.lambda_inst * opt.lambda_rec * (weighted_l1(rec_A, self.real_A, self.w_A)
                                                       + weighted_l1(rec_B, self.real_B, self.w_B))
        return {'G_inst': loss_G, 'cycle_inst': loss_cycle, 'rec_inst': loss_rec}, visuals

    def optimize_discriminators(self, model, optimizer):
        """One step of `optimizer` (the one add_terms returned) on the crops of the generator step;
        returns {D_inst}."""
        gan = model.criterionGAN
        D_A, D_B = self.discriminators(model)
        with model.autocast():
            loss = 0.5 * (gan(D_B(self.real_B), True, self.w_B)
                          + gan(D_B(self.fake_B.detach()), False, self.w_A)
                          + gan(D_A(self.real_A), True, self.w_A)
                          + gan(D_A(self.fake_A.detach()), False, self.w_B))
        losses = {'D_inst': loss}
        model.minimize(optimizer, losses)
        return losses


def instance_terms(model, opt):
    """InstanceTerms for a training run of `model` with --instance_level, else None. The model
    then takes them on: `self.optimizer_D_inst = self.add_terms(terms)`."""
    if not (model.isTrain and opt.instance_level):
        return None
    if opt.dataset_mode != 'unaligned_coco':
        raise UserError('--instance_level needs object boxes: use --dataset_mode unaligned_coco '
                        '(<dataroot>/<phase>A.json and <phase>B.json in COCO format)')
    return InstanceTerms(opt)
