"""A working, commented example of a dataset mode: copy it to add your own.

How to add a dataset mode `mydata`:
  1. Copy this file to data/mydata_dataset.py and rename the class to `MydataDataset`: the registry
     (data/__init__.py) finds the class whose lowercased name is the mode name without underscores
     plus 'dataset', and which subclasses BaseDataset.
  2. Fill in the four methods below: <modify_commandline_options> (optional new flags),
     <__init__> (list files, build transforms), <__getitem__> (one sample as a dict), <__len__>.
  3. Use it with --dataset_mode mydata.

What this example does: it pairs the i-th image (in sorted order) of <dataroot>/<phase>A with the
(i + --template_pair_offset)-th image of <dataroot>/<phase>B, and crops/flips both the same way,
which is what you would do for an aligned (paired) dataset stored as two folders.
"""

from data.base_dataset import BaseDataset, get_params, get_transform
from data.image_folder import make_dataset


class TemplateDataset(BaseDataset):
    """Pairs <phase>A[i] with <phase>B[i + offset] by sorted file order."""

    @staticmethod
    def modify_commandline_options(parser, is_train):
        """Add flags that only this dataset understands, or change the defaults of existing ones.

        Called while the command line is parsed, only when --dataset_mode is this mode. `is_train`
        tells train from test, for flags or defaults that differ between the two.
        """
        parser.add_argument('--template_pair_offset', type=int, default=0,
                            help='template dataset: pair A[i] with B[i + offset] (wrapping around)')
        # Defaults of shared options can change too, e.g. parser.set_defaults(max_dataset_size=100)
        return parser

    def __init__(self, opt):
        """List the files and prepare the transforms; `opt` holds every parsed option."""
        BaseDataset.__init__(self, opt)  # sets self.opt, self.root (= opt.dataroot), self.geometry
        # folders() fails early, with a message that names the missing folder and the fix.
        self.dir_A, self.dir_B = self.folders(opt.phase + 'A', opt.phase + 'B')
        self.A_paths = make_dataset(self.dir_A, opt.max_dataset_size)
        self.B_paths = make_dataset(self.dir_B, opt.max_dataset_size)
        self.offset = opt.template_pair_offset
        self.channels_A, self.channels_B = opt.input_nc, opt.output_nc

    def __getitem__(self, index):
        """One sample: a dict of tensors plus the file paths they came from (used to name results)."""
        index_B = (index + self.offset) % len(self.B_paths)
        # load_image_at honours --bad_images (error or skip) and returns the path really loaded.
        img_A, path_A = self.load_image_at(self.A_paths, index, self.channels_A, self.dir_A)
        img_B, path_B = self.load_image_at(self.B_paths, index_B, self.channels_B, self.dir_B)
        # One set of random crop/flip parameters for both images keeps a pair aligned.
        params = get_params(self.geometry, img_A.size)
        transform_A = get_transform(self.geometry, params, grayscale=self.channels_A == 1)
        transform_B = get_transform(self.geometry, params, grayscale=self.channels_B == 1)
        return {'A': transform_A(img_A), 'B': transform_B(img_B), 'A_paths': path_A, 'B_paths': path_B}

    def __len__(self):
        """Number of samples: only complete pairs count."""
        return min(len(self.A_paths), len(self.B_paths))
