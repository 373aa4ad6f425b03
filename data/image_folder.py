"""Finding the image files of a dataset folder.

`make_dataset` walks a folder recursively and returns the sorted paths of everything that looks
like an image, so that every dataset class lists its files the same way and in a reproducible order.
"""
import os

from util.errors import UserError

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.tif', '.tiff', '.webp', '.gif')  # a GIF: its first frame


def is_image_file(filename):
    """True when `filename` ends with one of IMG_EXTENSIONS, in any letter case."""
    return str(filename).lower().endswith(IMG_EXTENSIONS)


def make_dataset(dir, max_dataset_size=float('inf')):
    """Sorted paths of the images under `dir` (recursive), at most `max_dataset_size` of them.

    Hidden files and folders (names starting with '.') are left out: they are usually macOS
    '._x.jpg' resource forks or tool caches, which look like images but cannot be decoded.
    """
    dir = str(dir)
    if not os.path.isdir(dir):
        what = 'is not a folder' if os.path.exists(dir) else 'does not exist'
        raise UserError(f"image folder {dir} {what}: create it and put images in it, "
                        f"or point --dataroot at a folder that has it")
    images = []
    for root, dirnames, filenames in os.walk(dir, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith('.')]
        images.extend(os.path.join(root, f) for f in filenames
                      if is_image_file(f) and not f.startswith('.'))
    if not images:
        raise UserError(f"no images found in {dir} (looked recursively for "
                        f"{' '.join(IMG_EXTENSIONS)} in any case): put images there or fix --dataroot")
    images.sort()
    if max_dataset_size != float('inf'):
        images = images[:max(1, int(max_dataset_size))]
    return images
