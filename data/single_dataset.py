"""One-domain dataset over every image under --dataroot (recursive), for translating a folder at test time.

Channels follow --output_nc with --direction BtoA and --input_nc otherwise, as in CycleGAN.
"""

from data.base_dataset import BaseDataset, get_transform
from data.image_folder import make_dataset


class SingleDataset(BaseDataset):
    """Returns {'A': tensor, 'A_paths': path} for each image under --dataroot, in sorted order."""

    def __init__(self, opt):
        BaseDataset.__init__(self, opt)
        self.folders()
        self.A_paths = make_dataset(self.root, opt.max_dataset_size)
        self.channels = opt.output_nc if opt.direction == 'BtoA' else opt.input_nc
        self.transform = get_transform(self.geometry, grayscale=self.channels == 1)

    def __getitem__(self, index):
        img, path = self.load_image_at(self.A_paths, index, self.channels, self.root)
        return {'A': self.transform(img), 'A_paths': path}

    def __len__(self):
        return len(self.A_paths)
