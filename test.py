"""Run a trained model on a test set and write an HTML page of the results.

    python test.py --dataroot ./datasets/daynight --name daynight_augan

The page is <results_dir>/<name>/<phase>_<epoch>/index.html: one row per test image with every
visual of the model (for au_gan the uncertainty map too), each at its full processed size. The
model and its networks are rebuilt as <checkpoints_dir>/<name>/train_opt.json records them; an
architecture flag given anyway must agree with it (options/run_options.py).
"""
import os

from tqdm import tqdm

from data import TEST_READING, create_dataloader, create_dataset
from models import create_model
from options import replaced
from options.test_options import TestOptions
from util import distributed, html
from util.errors import exit_on_user_error
from util.result_page import add_run_options, save_images
from util.seeding import seed_everything


@exit_on_user_error
def main(args=None):
    opt = TestOptions().parse(args)
    distributed.setup(opt.gpu_ids, opt.dist_backend, opt.local_rank)
    if not distributed.is_main_process():
        # Testing needs no launcher; started under one, rank 0 does all the work.
        distributed.cleanup()
        return
    opt = replaced(opt, **TEST_READING)
    seed_everything(opt.seed)
    dataset = create_dataset(opt)
    loader = create_dataloader(opt, dataset)
    model = create_model(opt)
    model.setup(opt)
    if opt.eval:
        model.eval()

    web_dir = os.path.join(opt.results_dir, opt.name, f'{opt.phase}_{opt.epoch}')
    webpage = html.HTML(web_dir, f'{opt.name}: {opt.model}, phase {opt.phase}, epoch {opt.epoch}')
    add_run_options(webpage, opt)
    legends = set()  # each uncertainty map is scaled to its own max sigma, which its caption gives
    count = min(opt.num_test, len(loader))
    for i, data in enumerate(tqdm(loader, total=count, desc='testing', unit='img')):
        if i >= count:
            break
        model.set_input(data)
        model.test()
        maps = model.uncertainty_maps()
        for column in maps.keys() - legends:
            webpage.add_legend(column, '0', 'max σ')
            legends.add(column)
        captions = {column: f'max σ = {sigma.max().item():.3g}' for column, sigma in maps.items()}
        save_images(webpage, model.get_current_visuals(), model.get_image_paths(),
                    aspect_ratio=opt.aspect_ratio, width=opt.display_winsize, captions=captions)
    webpage.save()
    print(f'results page: {os.path.join(web_dir, "index.html")}')
    distributed.cleanup()


if __name__ == '__main__':
    main()
