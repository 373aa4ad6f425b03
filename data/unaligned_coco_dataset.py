"""Unpaired two-domain dataset with one object box per image, for instance-level training
(`--instance_level`), read from COCO-format annotation files.

Layout: `<dataroot>/<phase>A.json` and `<dataroot>/<phase>B.json` (COCO: "images" with "id" and
"file_name", "annotations" with "image_id", "category_id" and "bbox" = [x, y, width, height]);
image files under `<dataroot>/<coco_imagedir>/`. Each item carries the first box of
`--category_id` in its image, moved through the same resize, crop (chosen to keep the box when it
can), rounding and flip as the image: 'A_box'/'B_box' = (x1, y1, x2, y2) in the tensor's pixels,
or (-1, -1, -1, -1) when the image has no such object. Images without boxes stay in the data:
the models weigh their instance terms by whether a box is there.
"""
import json
import os
import random

import torch

from data.base_dataset import BaseDataset, get_params, get_transform, transform_box
from util.errors import UserError

NO_BOX = (-1.0, -1.0, -1.0, -1.0)


def read_coco(path, image_dir, category_id):
    """[(image path, first box of the category as (x1, y1, x2, y2) or None)], in image-id order."""
    try:
        with open(path) as f:
            coco = json.load(f)
        images = {img['id']: img['file_name'] for img in coco['images']}
        boxes = {}
        for ann in coco.get('annotations', []):
            if ann['category_id'] == category_id and ann['image_id'] not in boxes:
                x, y, w, h = ann['bbox']
                boxes[ann['image_id']] = (x, y, x + w, y + h)
    except FileNotFoundError:
        raise UserError(f'annotation file {path} is missing: --dataset_mode unaligned_coco needs <dataroot>/<phase>A.json '
                        f'and <phase>B.json in COCO format')
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f'{path} is not a COCO annotation file ({type(e).__name__}: {e}): it needs "images" with '
                        f'"id"/"file_name" and "annotations" with "image_id"/"category_id"/"bbox"')
    if not images:
        raise UserError(f'{path} lists no images')
    return [(os.path.join(image_dir, images[i]), boxes.get(i)) for i in sorted(images)]


class UnalignedCocoDataset(BaseDataset):
    @staticmethod
    def modify_commandline_options(parser, is_train):
        parser.add_argument('--coco_imagedir', type=str, default='', help='image folder, relative to --dataroot')
        parser.add_argument('--category_id', type=int, default=1, help='the COCO category whose boxes are used')
        return parser

    def __init__(self, opt):
        super().__init__(opt)
        self.folders()
        src, dst = ('B', 'A') if opt.direction == 'BtoA' else ('A', 'B')
        image_dir = os.path.join(self.root, opt.coco_imagedir)
        self.items_A = read_coco(os.path.join(self.root, f'{opt.phase}{src}.json'), image_dir, opt.category_id)
        self.items_B = read_coco(os.path.join(self.root, f'{opt.phase}{dst}.json'), image_dir, opt.category_id)
        limit = opt.max_dataset_size
        self.items_A, self.items_B = self.items_A[:int(min(limit, 1e12))], self.items_B[:int(min(limit, 1e12))]
        self.channels_A, self.channels_B = opt.input_nc, opt.output_nc

    def load(self, items, index, channels):
        path, box = items[index]
        img, _ = self.load_image_at([path], 0, channels, os.path.dirname(path))
        params = get_params(self.geometry, img.size, keep=box)
        tensor = get_transform(self.geometry, params, grayscale=channels == 1)(img)
        moved = transform_box(self.geometry, img.size, params, box) if box is not None else None
        return tensor, path, torch.tensor(moved if moved is not None else NO_BOX, dtype=torch.float32)

    def __getitem__(self, index):
        index_B = index % len(self.items_B) if self.opt.serial_batches else random.randrange(len(self.items_B))
        A, path_A, box_A = self.load(self.items_A, index % len(self.items_A), self.channels_A)
        B, path_B, box_B = self.load(self.items_B, index_B, self.channels_B)
        return {'A': A, 'B': B, 'A_paths': path_A, 'B_paths': path_B, 'A_box': box_A, 'B_box': box_B}

    def __len__(self):
        return max(len(self.items_A), len(self.items_B))
