"""The training and testing commands promised by the original AU-GAN-pytorch README, run as
written against the real day/night photos, scaled down only in image size, network width,
number of images and epochs."""
import re

import pytest

from conftest import AU_GAN_LOSSES, REPO, assert_finite_losses, page_images, run_cli

pytestmark = pytest.mark.slow  # trains and tests on the photos

SCALE_DOWN = ['--ngf', '4', '--ndf', '4', '--max_dataset_size', '2',
              '--n_blocks_enc', '1', '--n_blocks_T', '1', '--n_blocks_dec', '1']
PRINT_EVERY_STEP = ['--print_freq', '1']  # 2 iterations per epoch here, so log each one


def test_readme_train_continue_and_test(tmp_path, daynight):
    (tmp_path / 'datasets').mkdir()
    (tmp_path / 'datasets' / 'dataset').symlink_to(daynight)
    train = [REPO / 'train.py',
             '--dataroot', './datasets/dataset',
             '--name', 'model_name', '--model', 'au_gan',
             '--load_size', '96', '--crop_size', '96', '--preprocess', 'scale_height_and_crop',
             '--input_nc', '3', '--output_nc', '3',
             '--lambda_identity', '0.0',
             '--lr', '0.0001', '--n_epochs', '1', '--n_epochs_decay', '1',
             '--netD', 'ms3',
             '--norm', 'none',
             # the "helpful bonus arguments"
             '--display_freq', '100', '--save_epoch_freq', '1', '--display_id', '-1',
             *SCALE_DOWN, *PRINT_EVERY_STEP]
    run_cli(*train, cwd=tmp_path)
    run_dir = tmp_path / 'checkpoints' / 'model_name'
    assert {p.name for p in run_dir.glob('*_net_G_A.pth')} == {'1_net_G_A.pth', '2_net_G_A.pth', 'latest_net_G_A.pth'}
    # the README's command turns the identity loss off, as the paper has it
    assert_finite_losses(run_dir / 'loss_log.txt', [n for n in AU_GAN_LOSSES if not n.startswith('idt_')])

    resumed = run_cli(*train, '--continue_train', '--epoch', 'latest', cwd=tmp_path)
    assert re.search(r'loaded D_B from .*latest_net_D_B\.pth', resumed.stdout)

    test = [REPO / 'test.py',
            '--dataroot', './datasets/dataset',
            '--name', 'model_name', '--model', 'au_gan',
            '--load_size', '96', '--crop_size', '96', '--preprocess', 'scale_height',
            '--input_nc', '3', '--output_nc', '3',
            '--netD', 'ms3',
            '--norm', 'none',
            '--batch_size', '1',
            '--epoch', 'latest',
            '--results_dir', 'results',
            '--num_test', '2', *SCALE_DOWN]
    run_cli(*test, cwd=tmp_path)
    page = tmp_path / 'results' / 'model_name' / 'test_latest' / 'index.html'
    images = page_images(page)
    assert len(images) == 2 * 9 and all(p.is_file() for p in images)
