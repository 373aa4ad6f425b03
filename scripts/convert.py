"""Translate images, folders, image lists and videos with a trained model: A->B, B->A or both.

    python scripts/convert.py --name daynight_augan --input night_photos/ --direction AtoB
    python scripts/convert.py --name daynight_augan --input clip.mp4 --direction both --tile 512
    python scripts/convert.py --name daynight_augan --input rainy_drive.mp4 --temporal
    torchrun --nproc_per_node=4 scripts/convert.py --name daynight_augan --input frames/

Outputs keep the inputs' names, sub-folders and exact sizes under --results_dir (default
./results/<name>/convert_<epoch>; with --direction both, in its AtoB/ and BtoA/). Outputs that exist
are skipped unless --overwrite; unreadable inputs are reported and skipped, and make the exit
status 1. The networks are rebuilt as the run folder records them (train_opt.json). --temporal
filters a video's translated frames over time along the input's motion (inference/temporal.py).
Details: docs/conversion.md.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import contextlib  # noqa: E402
import os  # noqa: E402

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from tqdm import tqdm  # noqa: E402

from data.base_dataset import load_image  # noqa: E402
from inference import (TemporalFilter, Translator, VideoReader, VideoWriter, filter_frames,  # noqa: E402
                       find_inputs, generator_name, image_transform, output_path, prefetch, resize_map,
                       save_image_atomic, save_npy_atomic, to_image)
from models import create_model  # noqa: E402
from options.convert_options import ConvertOptions  # noqa: E402
from util import distributed  # noqa: E402
from util.atomic import NoSpaceError  # noqa: E402
from util.errors import UserError, exit_on_user_error  # noqa: E402
from util.util import heatmap, name_list  # noqa: E402


class Converter:
    """Converts inputs one by one (images of equal size in batches), counting what it did."""

    def __init__(self, opt, model, directions):
        self.opt, self.device = opt, model.device
        names = {d: generator_name(model, d) for d in directions}
        model.load_networks(opt.epoch, names=list(names.values()))  # only the generators needed
        want_sigma = opt.save_uncertainty or opt.save_uncertainty_npy
        self.translators = {}
        for d, name in names.items():
            net = getattr(model, 'net' + name)
            if opt.eval:
                net.eval()
            self.translators[d] = Translator(net, model.autocast, opt.tile, opt.tile_overlap,
                                             uncertainty=want_sigma and d == 'AtoB')
        if want_sigma and not any(t.uncertainty for t in self.translators.values()) and distributed.is_main_process():
            print('note: no uncertainty maps: only the A->B generator of AU-GAN has an uncertainty head '
                  '(trained with --uncertainty exp or laplace)')
        self.channels = {'AtoB': opt.input_nc, 'BtoA': opt.output_nc}
        self.roots = {d: os.path.join(opt.results_dir, d) if len(directions) > 1 else opt.results_dir
                      for d in directions}
        self.transform = image_transform(opt.load_size)
        self.converted, self.skipped, self.failed = 0, 0, []
        self.ignored = []  # files of an input folder that are neither images nor videos
        self.first_frames = []  # (path, frames) of animated GIFs, of which the first frame is converted
        self.bar = None

    # ----- bookkeeping -----
    def outputs(self, item, d):
        """{kind: path} of every output of `item` in direction `d`."""
        root, opt = self.roots[d], self.opt
        paths = {'image': output_path(root, item.rel)}
        if self.translators[d].uncertainty:
            if opt.save_uncertainty:
                ext = os.path.splitext(item.rel)[1] if item.video else '.png'
                paths['heatmap'] = output_path(root, item.rel, '_uncertainty' + ext)
            if opt.save_uncertainty_npy and not item.video:
                paths['npy'] = output_path(root, item.rel, '_uncertainty.npy')
        return paths

    def fail(self, item, error):
        message = str(error) if item.path in str(error) else f'{item.path}: {error}'
        tqdm.write(f'failed: {message}', file=sys.stderr)
        self.failed.append(item.path)

    def done(self, n=1):
        self.converted += n
        self.bar.update(n)

    def summary(self):
        line = f'converted {self.converted}'
        if self.first_frames:
            line += (f' (the first frame only of {len(self.first_frames)} animated GIF(s): '
                     + name_list((f'{path} ({n} frames)' for path, n in sorted(self.first_frames)), 5) + ')')
        line += f', skipped {self.skipped} existing, failed {len(self.failed)}'
        if self.failed:
            line += ': ' + ', '.join(self.failed)
        if self.ignored:
            line += (f'; ignored {len(self.ignored)} file(s) that are neither images nor videos: '
                     + name_list(self.ignored, 5))
        if distributed.world_size() > 1:
            line = f'[rank {distributed.rank()} of {distributed.world_size()}] {line}'
        return line

    # ----- the work -----
    def run(self, items):
        """Convert this process's share of `items`: under torchrun every world_size-th one, so
        that no file is done twice. All of them are named first, so that every process refuses
        the same inputs whose outputs would overwrite another's (x.jpg and x.png both have
        x_uncertainty.png)."""
        rank, world = distributed.rank(), distributed.world_size()
        writer_of, plans = {}, []
        for i, item in enumerate(items):
            try:
                plan = {d: self.outputs(item, d) for d in self.roots}
                for path in (path for paths in plan.values() for path in paths.values()):
                    if writer_of.setdefault(path, item.path) != item.path:
                        raise UserError(f'{item.path}: its output {path} would overwrite that of {writer_of[path]}: '
                                        f'rename one of the two')
            except UserError as e:
                if i % world == rank:
                    self.fail(item, e)
                continue
            if i % world != rank:
                continue
            if not self.opt.overwrite:  # a direction is redone only when one of its outputs is missing
                plan = {d: paths for d, paths in plan.items() if not all(map(os.path.exists, paths.values()))}
            if plan:
                plans.append((item, plan))
            else:
                self.skipped += 1
        self.bar = tqdm(total=len(plans), desc='converting', unit='file', disable=not distributed.is_main_process())
        batch = []
        try:
            for item, plan, loaded in prefetch(self.load, plans, self.opt.num_threads):
                key = (tuple(plan), tuple(t.shape for t in loaded[1].values())) if isinstance(loaded, tuple) else None
                if batch and (key != batch[0][3] or len(batch) == self.opt.batch_size):
                    self.convert_images(batch)
                    batch = []
                if item.video:
                    self.guarded([item], lambda: self.convert_video(item, plan))
                elif isinstance(loaded, UserError):
                    self.fail(item, loaded)
                    self.bar.update()
                else:
                    batch.append((item, plan, loaded, key))
            if batch:
                self.convert_images(batch)
        finally:
            self.bar.close()  # ends its line, so that an error that stops the run is a line of its own

    def load(self, entry):
        """(item, plan, X): X is (size, {direction: input tensor}), the UserError of an unreadable
        file, or None for a video (read frame by frame later)."""
        item, plan = entry
        if item.video:
            return item, plan, None
        try:
            by_channels = {}
            for d in plan:
                ch = self.channels[d]
                if ch not in by_channels:
                    image = load_image(item.path, ch)  # a GIF's first frame
                    size, by_channels[ch] = image.size, self.transform(image)
            if item.path.lower().endswith('.gif'):
                with Image.open(item.path) as gif:
                    if getattr(gif, 'n_frames', 1) > 1:
                        self.first_frames.append((item.path, gif.n_frames))  # list.append: thread-safe
            return item, plan, (size, {d: by_channels[self.channels[d]] for d in plan})
        except UserError as e:
            return item, plan, e

    def translate(self, d, x, items):
        try:
            return self.translators[d](x.to(self.device))
        except torch.cuda.OutOfMemoryError:
            raise UserError(f'out of GPU memory translating {items[0].path} at {x.shape[-1]}x{x.shape[-2]} px with a '
                            f'batch of {len(x)}: use --tile 512 (or lower --batch_size or --load_size)')

    def guarded(self, items, work):
        """Run `work`; a UserError fails `items` (one line each) and the run goes on, except when
        the disk is full: no later output would fit either, so the run stops with that line."""
        try:
            work()
            self.done(len(items))
        except NoSpaceError:
            raise
        except UserError as e:
            for item in items:
                self.fail(item, e)
            self.bar.update(len(items))

    def convert_images(self, batch):
        items = [item for item, *_ in batch]

        def work():
            for d in batch[0][1]:
                fake, sigma = self.translate(d, torch.stack([images[d] for _, _, (_, images), _ in batch]), items)
                for i, (item, plan, (size, _), _) in enumerate(batch):
                    paths = plan[d]
                    if sigma is not None:
                        s = resize_map(sigma[i:i + 1], size)
                        if 'heatmap' in paths:
                            save_image_atomic(to_image(heatmap(s)[0], size), paths['heatmap'])
                        if 'npy' in paths:
                            save_npy_atomic(s[0, 0].cpu().numpy(), paths['npy'])
                    save_image_atomic(to_image(fake[i], size), paths['image'])

        self.guarded(items, work)

    def convert_video(self, item, plan):
        """Frame by frame, `--batch_size` frames at a time: never the whole video in memory. An
        error aborts the writers, which then leave no partial file. With --temporal each direction's
        frames pass through a TemporalFilter of their own, in order."""
        opt = self.opt
        temporal = {d: TemporalFilter(opt.temporal_strength, opt.temporal_tolerance, opt.temporal_cut,
                                      opt.temporal_flow_size)
                    for d in plan} if opt.temporal else {}
        with VideoReader(item.path) as reader, contextlib.ExitStack() as stack, \
                tqdm(total=reader.count or None, desc=os.path.basename(item.path), unit='frame', leave=False,
                     disable=not distributed.is_main_process()) as bar:
            writers = {(d, kind): stack.enter_context(VideoWriter(path, reader.size, reader.rate))
                       for d, paths in plan.items() for kind, path in paths.items()}
            chunk = []
            for frame in reader:
                chunk.append(frame)
                if len(chunk) == opt.batch_size:
                    self.convert_frames(item, plan, chunk, writers, temporal)
                    bar.update(len(chunk))
                    chunk = []
            if chunk:
                self.convert_frames(item, plan, chunk, writers, temporal)
                bar.update(len(chunk))
        if temporal:
            cuts = max(f.cuts for f in temporal.values())
            tqdm.write(f'{item.path}: --temporal filtered {bar.n} frames, {cuts} scene cut(s) found')

    def convert_frames(self, item, plan, frames, writers, temporal):
        size = frames[0].size  # a video's frames share one size
        inputs = {}  # channels -> the frames as a batch, transformed once for both directions
        for d in plan:
            ch = self.channels[d]
            if ch not in inputs:
                inputs[ch] = torch.stack([self.transform(f if ch == 3 else f.convert('L')) for f in frames])
            fake, sigma = self.translate(d, inputs[ch], [item])
            fake = filter_frames(temporal[d], inputs[ch], fake) if temporal else fake.cpu()
            maps = heatmap(resize_map(sigma, size)).cpu() if (d, 'heatmap') in writers else None
            for i in range(len(frames)):
                writers[d, 'image'].write(to_image(fake[i], size))
                if maps is not None:
                    writers[d, 'heatmap'].write(to_image(maps[i], size))


@exit_on_user_error
def main(args=None):
    opt = ConvertOptions().parse(args)
    distributed.setup(opt.gpu_ids, opt.dist_backend, opt.local_rank)  # under torchrun, each process converts a share
    directions = ['AtoB', 'BtoA'] if opt.direction == 'both' else [opt.direction]
    ignored = []
    items = find_inputs(opt.input, exclude=opt.results_dir, ignored=ignored)
    if opt.temporal and not any(item.video for item in items) and distributed.is_main_process():
        print('note: --temporal filters videos over time; the inputs are images, translated as without it')
    converter = Converter(opt, create_model(opt), directions)
    converter.ignored = ignored[distributed.rank()::distributed.world_size()]  # each process names its share
    converter.run(items)
    print(converter.summary())
    if distributed.is_main_process():
        print(f'outputs in {opt.results_dir}')
    if distributed.is_distributed():
        # No barrier (util.distributed.cleanup has one): processes finish at their own pace, and
        # one left waiting for a long video would time out.
        torch.distributed.destroy_process_group()
    return 1 if converter.failed else 0


if __name__ == '__main__':
    sys.exit(main())
