"""Train an image-translation model.

    python train.py --dataroot ./datasets/daynight --name daynight_augan --model au_gan

Every `--print_freq` iterations the losses are printed and appended to
<checkpoints_dir>/<name>/loss_log.txt; every `--display_freq` iterations (and at the end of each
epoch) the current visuals go to <checkpoints_dir>/<name>/web/index.html (and to visdom/wandb
when enabled). `latest` is saved every `--save_latest_freq` iterations and at the end, `<epoch>`
every `--save_epoch_freq` epochs. Frequencies count iterations, i.e. batches.
"""
import time

from tqdm import tqdm

from data import create_dataloader, create_dataset
from models import create_model
from options.train_options import TrainOptions
from util.errors import exit_on_user_error
from util.seeding import seed_everything
from util.visualizer import Visualizer


@exit_on_user_error
def main(args=None):
    opt = TrainOptions().parse(args)
    seed_everything(opt.seed)
    dataset = create_dataset(opt)
    loader = create_dataloader(opt, dataset)
    model = create_model(opt)
    model.setup(opt)
    visualizer = Visualizer(opt)

    def show_visuals(epoch, total_iters):
        model.compute_visuals()
        visualizer.save_loss_plot()  # first, so the page it is shown on is current
        visualizer.display_current_results(model.get_current_visuals(), epoch, total_iters, True)

    last_epoch = opt.n_epochs + opt.n_epochs_decay
    total_iters = 0
    for epoch in range(opt.epoch_count, last_epoch + 1):
        epoch_start = time.time()
        t_data_start = time.time()
        bar = tqdm(loader, desc=f'epoch {epoch}/{last_epoch}', unit='it', dynamic_ncols=True, leave=False)
        for data in bar:
            t_data = time.time() - t_data_start
            t_step_start = time.time()
            model.set_input(data)
            model.optimize_parameters()
            total_iters += 1

            if total_iters % opt.print_freq == 0:
                losses = model.get_current_losses()  # synchronises with the device: only here
                t_comp = time.time() - t_step_start
                visualizer.print_current_losses(epoch, total_iters, losses, t_comp, t_data)
                visualizer.plot_current_losses(epoch, bar.n / max(len(loader), 1), losses, total_iters)
            if total_iters % opt.display_freq == 0:
                show_visuals(epoch, total_iters)
            if total_iters % opt.save_latest_freq == 0:
                model.save_networks('latest')
                if opt.save_by_iter:
                    model.save_networks(f'iter_{total_iters}')
            t_data_start = time.time()
        bar.close()

        show_visuals(epoch, total_iters)
        if epoch % opt.save_epoch_freq == 0 or epoch == last_epoch:
            model.save_networks('latest')
            if epoch % opt.save_epoch_freq == 0:
                model.save_networks(epoch)
        old_lr = model.optimizers[0].param_groups[0]['lr']
        new_lr = model.update_learning_rate()
        print(f'end of epoch {epoch}/{last_epoch}: {total_iters} iterations, {time.time() - epoch_start:.1f} s, '
              f'learning rate {old_lr:.7f} -> {new_lr:.7f}')

    visualizer.close()
    print(f'done: checkpoints in {model.save_dir}, training page {model.save_dir}/web/index.html')


if __name__ == '__main__':
    main()
