"""The model learns: on a tiny fixed dataset the reconstruction and cycle errors fall clearly."""
import torch
import torch.nn.functional as F

from data import create_dataloader, create_dataset
from models import create_model
from conftest import make_domain
from options.train_options import TrainOptions


def errors(model):
    model.eval()  # no reconstruction noise while measuring
    with torch.no_grad():
        model.forward()
    model.train()
    return (F.l1_loss(model.rec_A, model.real_A).item(), F.l1_loss(model.cyc_A, model.real_A).item(),
            F.l1_loss(model.rec_B, model.real_B).item(), F.l1_loss(model.cyc_B, model.real_B).item())


def test_reconstruction_and_cycle_errors_fall(tmp_path):
    make_domain(tmp_path / 'data' / 'trainA', [(20, 30, 60), (10, 10, 40)])
    make_domain(tmp_path / 'data' / 'trainB', [(200, 190, 150), (230, 220, 120)])
    opt = TrainOptions().parse(['--dataroot', str(tmp_path / 'data'), '--checkpoints_dir', str(tmp_path / 'ck'),
                                '--gpu_ids', '-1', '--num_threads', '0', '--load_size', '32', '--crop_size', '32',
                                '--no_flip', '--serial_batches', '--batch_size', '2', '--ngf', '8', '--ndf', '8',
                                '--n_blocks_enc', '1', '--n_blocks_T', '1', '--n_blocks_dec', '1', '--lr', '0.001'])
    torch.manual_seed(0)
    batch = next(iter(create_dataloader(opt, create_dataset(opt))))
    model = create_model(opt)
    model.setup(opt)
    model.set_input(batch)
    before = errors(model)
    for _ in range(60):
        model.optimize_parameters()
    after = errors(model)
    for name, b, a in zip(['rec_A', 'cyc_A', 'rec_B', 'cyc_B'], before, after):
        assert a < 0.5 * b, f'{name} L1 went from {b:.3f} to {a:.3f}'
