"""Unpaired two-domain dataset: images of <dataroot>/<phase>A and <dataroot>/<phase>B.

This is the training set of AU-GAN (A = adverse, e.g. night; B = normal, e.g. day). The two folders
may hold different numbers of images and nothing pairs them: every item takes one image from each.

With --direction BtoA the dataset swaps the folders, so the returned 'A' is always the source
domain the model translates from (and uses --input_nc channels) and 'B' the target (--output_nc).
"""
import random

from data.base_dataset import BaseDataset, get_transform
from data.image_folder import make_dataset


class UnalignedDataset(BaseDataset):
    """Returns {'A', 'B', 'A_paths', 'B_paths'}; B is drawn at random unless --serial_batches."""

    def __init__(self, opt):
        BaseDataset.__init__(self, opt)
        src, dst = ('B', 'A') if opt.direction == 'BtoA' else ('A', 'B')
        self.dir_A, self.dir_B = self.folders(opt.phase + src, opt.phase + dst)
        self.A_paths = make_dataset(self.dir_A, opt.max_dataset_size)
        self.B_paths = make_dataset(self.dir_B, opt.max_dataset_size)
        self.A_size, self.B_size = len(self.A_paths), len(self.B_paths)
        self.channels_A, self.channels_B = opt.input_nc, opt.output_nc
        self.transform_A = get_transform(opt, grayscale=self.channels_A == 1)
        self.transform_B = get_transform(opt, grayscale=self.channels_B == 1)

    def __getitem__(self, index):
        index_A = index % self.A_size
        if self.opt.serial_batches:
            index_B = index % self.B_size
        else:
            # A random partner each time, so A/B combinations differ from epoch to epoch.
            index_B = random.randint(0, self.B_size - 1)
        img_A, path_A = self.load_image_at(self.A_paths, index_A, self.channels_A, self.dir_A)
        img_B, path_B = self.load_image_at(self.B_paths, index_B, self.channels_B, self.dir_B)
        return {'A': self.transform_A(img_A), 'B': self.transform_B(img_B),
                'A_paths': path_A, 'B_paths': path_B}

    def __len__(self):
        # Every image of the larger folder appears once per epoch.
        return max(self.A_size, self.B_size)
