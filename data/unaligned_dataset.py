"""Unpaired two-domain dataset: images of <dataroot>/<phase>A and <dataroot>/<phase>B.

This is the training set of AU-GAN (A = adverse, e.g. night; B = normal, e.g. day). The two folders
may hold different numbers of images and nothing pairs them: every item takes one image from each.

With --direction BtoA the dataset swaps the folders, so the returned 'A' is always the source
domain the model translates from (and uses --input_nc channels) and 'B' the target (--output_nc).

An epoch (--epoch_length) is max(|A|, |B|) items, each A image once (cycled when A is the smaller
folder) with a B image drawn at random (CycleGAN's way), or min(|A|, |B|) items pairing a
fresh shuffle of each folder (the official ForkGAN/AU-GAN code's way: every image at most once).
"""
import random

from data.base_dataset import BaseDataset, get_transform
from data.image_folder import make_dataset


class UnalignedDataset(BaseDataset):
    """Returns {'A', 'B', 'A_paths', 'B_paths'}; B is drawn at random unless --serial_batches."""

    @staticmethod
    def modify_commandline_options(parser, is_train):
        if is_train:
            parser.add_argument('--epoch_length', type=str, default='max', choices=['max', 'min'],
                                help='items per epoch: max(|A|,|B|) with random B partners, or min(|A|,|B|) '
                                     'pairs of two shuffled folders (the official AU-GAN/ForkGAN code)')
        return parser

    def __init__(self, opt):
        BaseDataset.__init__(self, opt)
        src, dst = ('B', 'A') if opt.direction == 'BtoA' else ('A', 'B')
        self.dir_A, self.dir_B = self.folders(opt.phase + src, opt.phase + dst)
        self.A_paths = make_dataset(self.dir_A, opt.max_dataset_size)
        self.B_paths = make_dataset(self.dir_B, opt.max_dataset_size)
        self.A_size, self.B_size = len(self.A_paths), len(self.B_paths)
        self.channels_A, self.channels_B = opt.input_nc, opt.output_nc
        self.transform_A = get_transform(self.geometry, grayscale=self.channels_A == 1)
        self.transform_B = get_transform(self.geometry, grayscale=self.channels_B == 1)
        self.pair_shuffled = getattr(opt, 'epoch_length', 'max') == 'min' and not opt.serial_batches
        self.epoch, self._orders = 0, None

    def set_epoch(self, epoch):
        """The epoch the next items belong to (called by data.samplers.SeededItems)."""
        self.epoch = epoch

    def _shuffled(self):
        # each folder's order for this epoch, the same in every process and worker
        if self._orders is None or self._orders[0] != self.epoch:
            orders = [random.Random(f'{self.opt.seed}/{self.epoch}/{side}').sample(range(n), n)
                      for side, n in (('A', self.A_size), ('B', self.B_size))]
            self._orders = (self.epoch, *orders)
        return self._orders[1:]

    def __getitem__(self, index):
        index_A = index % self.A_size
        if self.pair_shuffled:
            order_A, order_B = self._shuffled()
            index_A, index_B = order_A[index], order_B[index]
        elif self.opt.serial_batches:
            index_B = index % self.B_size
        else:
            # A random partner each time, so A/B combinations differ from epoch to epoch.
            index_B = random.randint(0, self.B_size - 1)
        img_A, path_A = self.load_image_at(self.A_paths, index_A, self.channels_A, self.dir_A)
        img_B, path_B = self.load_image_at(self.B_paths, index_B, self.channels_B, self.dir_B)
        return {'A': self.transform_A(img_A), 'B': self.transform_B(img_B),
                'A_paths': path_A, 'B_paths': path_B}

    def __len__(self):
        if getattr(self.opt, 'epoch_length', 'max') == 'min':
            return min(self.A_size, self.B_size)
        # Every image of the larger folder appears once per epoch.
        return max(self.A_size, self.B_size)
