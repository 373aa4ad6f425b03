"""--n_blocks_T_B: the ablation of AU-GAN's asymmetry (a T-net in G_B too). Off by default and in
--preset official; on, G_B carries the blocks and the B side's feature matching reads its output."""
import torch

from conftest import make_domain
from data import create_dataloader, create_dataset
from models import create_model
from models.losses import channel_mean_l1
from options.train_options import TrainOptions


def model_with(tmp_path, *flags):
    root = tmp_path / 'data'
    if not root.exists():
        make_domain(root / 'trainA', [(20, 30, 60)])
        make_domain(root / 'trainB', [(200, 190, 150)])
    opt = TrainOptions().parse(['--dataroot', str(root), '--checkpoints_dir', str(tmp_path / 'ck'), '--name',
                                'symmetric' if flags else 'default', '--gpu_ids', '-1', '--num_threads', '0',
                                '--load_size', '32', '--crop_size', '32', '--no_flip', '--ngf', '4', '--ndf', '4',
                                '--n_blocks_enc', '1', '--n_blocks_T', '1', '--n_blocks_dec', '1', *flags])
    torch.manual_seed(0)
    model = create_model(opt)
    model.setup(opt)
    model.set_input(next(iter(create_dataloader(opt, create_dataset(opt)))))
    return opt, model


def test_the_generators_are_asymmetric_by_default_and_in_the_preset(tmp_path):
    opt, model = model_with(tmp_path)
    assert opt.n_blocks_T_B == 0 and model.netG_B.t_net is None and model.netG_A.t_net is not None
    official = TrainOptions().parse(['--dataroot', str(tmp_path), '--checkpoints_dir', str(tmp_path), '--name', 'o',
                                     '--preset', 'official'])
    assert official.n_blocks_T_B == 0


def test_a_t_net_in_g_b_is_built_and_read_by_the_b_side_feature_matching(tmp_path):
    opt, model = model_with(tmp_path, '--n_blocks_T_B', '2')
    assert len(model.netG_B.t_net) == 2
    model.forward()
    enc = model.netG_B.encoder(model.real_B)
    code = model.netG_B.t_net(enc)
    assert not torch.allclose(code, enc)  # the blocks change the encoding, so the test below can tell
    losses = model.generator_loss(model.netD_A, model.netD_B)
    assert torch.allclose(losses['fm_B'], opt.lambda_fm * channel_mean_l1(code, model.enc_fake_A))
    # the record names it, so every tool rebuilds G_B with its T-net (options/run_options.py)
    assert '"n_blocks_T_B": 2' in (tmp_path / 'ck' / 'symmetric' / 'train_opt.json').read_text()
