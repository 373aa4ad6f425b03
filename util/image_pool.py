"""History buffer of generated images for the discriminators (Shrivastava et al., 2017).

Showing a discriminator a mix of current and older fakes keeps it from over-fitting to the
generator's latest output, which damps the oscillation of adversarial training. The pool
keeps its own random generator and can save and restore its whole state (images, count and
random state), so a resumed run makes exactly the same choices as an uninterrupted one.
"""
import torch


class ImagePool:
    """Buffer of up to `pool_size` previously generated images.

    `query(images)` returns a batch of the same shape: while the buffer is filling, the new
    images themselves (which are also stored); once it is full, each image is, with
    probability 1/2, swapped for a random stored one (the new image takes its slot), and
    otherwise returned as is. Returned tensors are detached: they only feed the
    discriminator loss. pool_size 0 disables the buffer and returns the input unchanged.
    """

    def __init__(self, pool_size, seed=None):
        self.pool_size = int(pool_size)
        self.num_imgs = 0
        self.images = []
        # Drawn from the global generator: a seeded run gets the same pools every time, and
        # the pools of A and B still make different choices.
        if seed is None:
            seed = int(torch.randint(0, 2 ** 62, (1,)).item())
        self.generator = torch.Generator().manual_seed(int(seed) % (2 ** 63))

    def query(self, images):
        """Return a batch drawn from the history, mixed with `images`, shaped like `images`."""
        if self.pool_size <= 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if self.num_imgs < self.pool_size:
                self.images.append(image.clone())
                self.num_imgs += 1
                out.append(image)
                continue
            if torch.rand((), generator=self.generator).item() > 0.5:
                slot = int(torch.randint(0, self.pool_size, (), generator=self.generator).item())
                old = self.images[slot].to(device=image.device, dtype=image.dtype)
                self.images[slot] = image.clone()
                out.append(old)
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self):
        """Everything needed to continue exactly: stored images (CPU), count and random state."""
        return {
            "pool_size": self.pool_size,
            "num_imgs": self.num_imgs,
            "images": [im.detach().cpu().clone() for im in self.images],
            "rng_state": self.generator.get_state(),
        }

    def load_state_dict(self, state):
        """Restore a state from `state_dict()`. Images stay on the CPU until they are returned
        (then they move to the device of the query). A checkpoint from a larger pool keeps its
        first `pool_size` images; a state without a random state keeps the current one."""
        images = [im.detach().cpu().clone() for im in state.get("images", [])][: max(self.pool_size, 0)]
        self.images = images
        self.num_imgs = min(int(state.get("num_imgs", len(images))), len(images))
        if state.get("rng_state") is not None:
            self.generator.set_state(state["rng_state"])

    def __len__(self):
        return self.num_imgs


class PairPool(ImagePool):
    """The official ForkGAN and AU-GAN image pool (their utils.py ImagePool: one instance, queried
    with [A fakes, B fakes] pairs; ForkGAN's model.py `train` queries it three times a step,
    [fake_A, fake_B], [rec_A, rec_B], [rec_fake_A, rec_fake_B]; AU-GAN's once, [fake_A, fake_B]).

    Each entry is a pair (an A image, a B image). While fewer than `pool_size` entries are held,
    a query is stored and returned as is. Once full, with probability 1/2 the query's A image
    takes the place of the A image of one random entry, which is returned, and its B image that
    of the B image of another, independently drawn entry; otherwise the query is returned as is.
    In ForkGAN entries come from all three queries, so the A side of an entry is a translation,
    reconstruction or refinement of domain A alike. The official code queries per batch (its
    batch size is 1); here each sample of a batch is one query, in batch order.
    """

    def query(self, images):
        raise TypeError('PairPool holds (A, B) pairs: use query_pair(images_A, images_B)')

    def query_pair(self, images_A, images_B):
        """(A batch, B batch) drawn from the history as the official pool draws them; both detached."""
        if self.pool_size <= 0:
            return images_A, images_B
        out_A, out_B = [], []
        for a, b in zip(images_A.detach(), images_B.detach()):
            a, b = a.unsqueeze(0), b.unsqueeze(0)
            if self.num_imgs < self.pool_size:
                self.images.append([a.clone(), b.clone()])
                self.num_imgs += 1
            elif self._coin():
                a, b = self._swap(a, 0), self._swap(b, 1)
            out_A.append(a)
            out_B.append(b)
        return torch.cat(out_A, 0), torch.cat(out_B, 0)

    def _coin(self):
        """True: swap (probability 1/2). The draws go through _coin and _slot, in the official order."""
        return torch.rand((), generator=self.generator).item() > 0.5

    def _slot(self):
        return int(torch.randint(0, self.pool_size, (), generator=self.generator).item())

    def _swap(self, image, side):
        slot = self._slot()
        old = self.images[slot][side].to(device=image.device, dtype=image.dtype)
        self.images[slot][side] = image.clone()
        return old

    def state_dict(self):
        return {"pool_size": self.pool_size, "num_imgs": self.num_imgs,
                "pairs": [[a.detach().cpu().clone(), b.detach().cpu().clone()] for a, b in self.images],
                "rng_state": self.generator.get_state()}

    def load_state_dict(self, state):
        """Restore `state_dict()`'s state; a state of another kind of pool (no pairs) leaves it empty."""
        pairs = [[a.detach().cpu().clone(), b.detach().cpu().clone()]
                 for a, b in state.get("pairs", [])][: max(self.pool_size, 0)]
        self.images = pairs
        self.num_imgs = min(int(state.get("num_imgs", len(pairs))), len(pairs))
        if state.get("rng_state") is not None and "pairs" in state:
            self.generator.set_state(state["rng_state"])
