"""Instance-level training: COCO boxes follow the image through preprocessing, the instance terms
train for fork_gan and au_gan, images without boxes are fine, and it works under DDP."""
import json
import math
from argparse import Namespace

import pytest
from PIL import Image

import train
from conftest import read_losses, run_cli
from data.unaligned_coco_dataset import UnalignedCocoDataset
from util.errors import UserError

OBJECT = (30, 20, 50, 44)  # x1, y1, x2, y2 of the white object


def make_coco(root, phase, domain, boxed):
    """Images of 80x64 with a white object; `boxed[i]` says whether image i's annotation lists it."""
    (root / 'images').mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i, has_box in enumerate(boxed):
        name = f'{phase}{domain}_{i}.png'
        img = Image.new('RGB', (80, 64), (20, 30, 60) if domain == 'A' else (200, 190, 150))
        img.paste((255, 255, 255), OBJECT)
        img.save(root / 'images' / name)
        images.append({'id': i + 1, 'file_name': name, 'width': 80, 'height': 64})
        if has_box:
            x1, y1, x2, y2 = OBJECT
            annotations += [{'id': 10 + i, 'image_id': i + 1, 'category_id': 2, 'bbox': [0, 0, 5, 5]},  # another class
                            {'id': 20 + i, 'image_id': i + 1, 'category_id': 1, 'bbox': [x1, y1, x2 - x1, y2 - y1]}]
    (root / f'{phase}{domain}.json').write_text(json.dumps({'images': images, 'annotations': annotations}))


@pytest.fixture
def coco_root(tmp_path):
    root = tmp_path / 'coco'
    for domain in 'AB':
        make_coco(root, 'train', domain, [True, False])
    return root


def opt_for(root, **kw):
    base = dict(dataroot=str(root), phase='train', direction='AtoB', input_nc=3, output_nc=3, load_size=72,
                crop_size=64, preprocess='none', no_flip=True, serial_batches=True, max_dataset_size=float('inf'),
                isTrain=True, coco_imagedir='images', category_id=1, bad_images='error')
    base.update(kw)
    return Namespace(**base)


@pytest.mark.parametrize('preprocess, flip', [('none', False), ('scale_width_and_crop', False),
                                              ('resize_and_crop', True)])
def test_box_follows_the_image(coco_root, preprocess, flip):
    ds = UnalignedCocoDataset(opt_for(coco_root, preprocess=preprocess, no_flip=not flip))
    for _ in range(5):
        item = ds[0]
        x1, y1, x2, y2 = item['A_box'].tolist()
        assert 0 <= x1 < x2 <= item['A'].shape[2] and 0 <= y1 < y2 <= item['A'].shape[1]
        # inside the box (a pixel of margin for resampling) the object is white; just outside it is not
        inner = item['A'][:, math.ceil(y1) + 1:int(y2) - 1, math.ceil(x1) + 1:int(x2) - 1]
        assert inner.min() > 0.8
        if x2 + 2 < item['A'].shape[2]:
            assert item['A'][:, int((y1 + y2) / 2), int(x2) + 2].max() < 0.5
    assert ds[0]['A_box'].tolist() != [-1, -1, -1, -1] and ds[1]['A_box'].tolist() == [-1, -1, -1, -1]
    if preprocess == 'none' and not flip:
        assert ds[0]['A_box'].tolist() == pytest.approx(list(OBJECT))  # 80x64 needs no resize


def test_bad_annotations(tmp_path, coco_root):
    with pytest.raises(UserError, match='trainA.json is missing'):
        UnalignedCocoDataset(opt_for(tmp_path))
    (coco_root / 'trainA.json').write_text('{"nope": 1}')
    with pytest.raises(UserError, match='not a COCO annotation file'):
        UnalignedCocoDataset(opt_for(coco_root))


def args_for(model, root, ckpt):
    small = ['--n_blocks_enc', '1', '--n_blocks_dec', '1'] + (['--n_blocks_T', '1'] if model == 'au_gan' else [])
    return ['--dataroot', str(root), '--checkpoints_dir', str(ckpt), '--name', model, '--model', model,
            '--dataset_mode', 'unaligned_coco', '--coco_imagedir', 'images', '--instance_level', '--inst_size', '32',
            '--ngf', '4', '--ndf', '4', '--gpu_ids', '-1', '--num_threads', '0', '--n_layers_D', '2',
            '--load_size', '64', '--crop_size', '64', '--preprocess', 'none', '--serial_batches', '--amp', 'off',
            '--n_epochs', '1', '--n_epochs_decay', '0', '--print_freq', '1', *small]


@pytest.mark.slow
@pytest.mark.parametrize('model', ['au_gan', 'fork_gan'])
def test_instance_terms_train(tmp_path, coco_root, model):
    train.main(args_for(model, coco_root, tmp_path))
    rows = read_losses(tmp_path / model / 'loss_log.txt')
    assert len(rows) == 2 and all(math.isfinite(v) for row in rows for v in row.values())
    assert rows[0]['G_inst'] > 0 and rows[0]['cycle_inst'] > 0  # the first image has a box
    assert rows[1]['cycle_inst'] == 0 and rows[1]['rec_inst'] == 0  # the second has none: weight 0
    assert (tmp_path / model / 'latest_net_D_A_inst.pth').is_file()


@pytest.mark.slow
def test_instance_level_needs_boxes(tmp_path, coco_root):
    args = args_for('au_gan', coco_root, tmp_path)
    args[args.index('unaligned_coco')] = 'unaligned'
    with pytest.raises(SystemExit):
        train.main(args)


@pytest.mark.slow
def test_instance_level_under_ddp_with_uneven_boxes(tmp_path, coco_root):
    # rank 0 gets the image with a box, rank 1 the one without: both must still train in step
    proc = run_cli('-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', 'train.py',
                   *args_for('fork_gan', coco_root, tmp_path), '--batch_size', '2')
    assert 'weights identical on all 2 processes' in proc.stdout
