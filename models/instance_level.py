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

from util.errors import UserError
from .discriminators import define_D
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
    """Adds D_A_inst and D_B_inst (and their optimizer) to `model`; the model calls
    `generator_loss()` in its generator step and `optimize_discriminators()` at the end."""

    def __init__(self, model, opt):
        self.model, self.opt = model, opt
        for name, channels in (('D_A_inst', opt.input_nc), ('D_B_inst', opt.output_nc)):
            setattr(model, 'net' + name, define_D(channels, opt.ndf, 'n_layers', 2, opt.norm, opt.init_type,
                                                  opt.init_gain).to(model.device))
        model.model_names += ['D_A_inst', 'D_B_inst']
        model.loss_names += ['G_inst', 'cycle_inst', 'rec_inst', 'D_inst']
        model.visual_names += ['real_A_inst', 'fake_B_inst']
        model.optimizer_D_inst = model.make_optimizer(model.netD_A_inst, model.netD_B_inst)

    def crops(self):
        m, size = self.model, self.opt.inst_size
        # the regions once per step; every image of a side is cropped at its source's boxes
        # (a translation keeps its source's objects where they were)
        self.rois_A, self.w_A = box_rois(m.box_A, *m.real_A.shape[-2:])
        self.rois_B, self.w_B = box_rois(m.box_B, *m.real_B.shape[-2:])
        self.real_A, self.fake_B = crop(m.real_A, self.rois_A, size), crop(m.fake_B, self.rois_A, size)
        self.real_B, self.fake_A = crop(m.real_B, self.rois_B, size), crop(m.fake_A, self.rois_B, size)
        m.real_A_inst, m.fake_B_inst = self.real_A, self.fake_B

    def generator_loss(self):
        m, opt = self.model, self.opt
        self.crops()
        gan = m.criterionGAN
        with m.frozen(m.netD_A_inst, m.netD_B_inst) as (D_A, D_B):
            m.loss_G_inst = opt.lambda_inst * 0.5 * (gan(D_B(self.fake_B), True, self.w_A)
                                                     + gan(D_A(self.fake_A), True, self.w_B))
        size = opt.inst_size
        cyc_A, rec_A = crop(m.cyc_A, self.rois_A, size), crop(m.rec_A, self.rois_A, size)
        cyc_B, rec_B = crop(m.cyc_B, self.rois_B, size), crop(m.rec_B, self.rois_B, size)
        m.loss_cycle_inst = opt.lambda_inst * (opt.lambda_A * weighted_l1(cyc_A, self.real_A, self.w_A)
                                               + opt.lambda_B * weighted_l1(cyc_B, self.real_B, self.w_B))
        m.loss_rec_inst = opt.lambda_inst * opt.lambda_rec * (weighted_l1(rec_A, self.real_A, self.w_A)
                                                              + weighted_l1(rec_B, self.real_B, self.w_B))
        return m.loss_G_inst + m.loss_cycle_inst + m.loss_rec_inst

    def optimize_discriminators(self):
        m = self.model
        gan = m.criterionGAN
        with m.autocast():
            m.loss_D_inst = 0.5 * (gan(m.netD_B_inst(self.real_B), True, self.w_B)
                                   + gan(m.netD_B_inst(self.fake_B.detach()), False, self.w_A)
                                   + gan(m.netD_A_inst(self.real_A), True, self.w_A)
                                   + gan(m.netD_A_inst(self.fake_A.detach()), False, self.w_B))
        m.minimize(m.optimizer_D_inst, m.loss_D_inst)


def instance_terms(model, opt):
    """InstanceTerms for a training run with --instance_level, else None."""
    if not (model.isTrain and opt.instance_level):
        return None
    if opt.dataset_mode != 'unaligned_coco':
        raise UserError('--instance_level needs object boxes: use --dataset_mode unaligned_coco '
                        '(<dataroot>/<phase>A.json and <phase>B.json in COCO format)')
    return InstanceTerms(model, opt)
