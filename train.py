"""Train an image-translation model, on one process or several.

    python train.py --dataroot ./datasets/daynight --name daynight_augan --model au_gan
    torchrun --nproc_per_node=8 train.py --batch_size 8 --num_threads 16 ...   # 8 GPUs, batch 1 each

Every `--print_freq` iterations the losses are printed and appended to
<checkpoints_dir>/<name>/loss_log.txt; every `--display_freq` iterations (and at the end of each
epoch) the current visuals go to <checkpoints_dir>/<name>/web/index.html (and to visdom/wandb
when enabled). `latest` is saved every `--save_latest_freq` iterations and at the end of each
epoch, `<epoch>` every `--save_epoch_freq` epochs; each save holds the full training state, so
`--continue_train` goes on exactly where it left off. Frequencies count iterations (batches).
Only rank 0 prints, logs and writes; all ranks train.

One run per folder: the run holds <checkpoints_dir>/<name>/train.lock while it trains, and a fresh
run (no --continue_train) is refused in a folder holding a save unless --overwrite. SIGTERM, SIGINT
(Ctrl-C) or SIGUSR1 stops the run after the iteration in flight, with a save of `latest` there and
exit status 75; a full disk stops it with the previous save kept and exit status 74
(docs/training.md, "When a run stops").
"""
import os
import sys
import time

import torch
from tqdm import tqdm

from data import create_dataset, training_loader
from models import create_model
from models.losses import as_floats
from models.memory import optimize_or_explain
from models.training_state import TrainingState, start_fresh
from options.run_options import add_to_record
from options.train_options import TrainOptions
from util import distributed, reporting, run_lock, stopping
from util.errors import exit_on_user_error
from util.seeding import seed_everything


@exit_on_user_error
def main(args=None):
    options = TrainOptions()
    opt = options.parse(args, save=False)
    run_dir = os.path.join(opt.checkpoints_dir, opt.name)
    main_process = distributed.launch_rank() == 0  # the launcher's rank 0: known before the process group
    with run_lock.held(run_dir, take=main_process), stopping.StopSignals() as stop:  # one run per folder
        if main_process and not opt.continue_train:
            start_fresh(run_dir, opt.overwrite)  # never over another run's save
        options.save(opt)
        try:
            stopped = train(opt, stop, args)
        finally:
            distributed.leave()  # after an error too, or gloo may abort the exit (util/distributed.py)
    if stopped:
        sys.exit(stopping.EXIT_STOPPED)  # saved where it stopped: --continue_train goes on


def train(opt, stop, args):
    """Train as `opt` says; True when a stop signal ended it (saved), False when it ran its course."""
    distributed.setup(opt.gpu_ids, opt.dist_backend, opt.local_rank)  # joins the process group under torchrun
    batch_size, num_threads = distributed.share(opt.batch_size, opt.num_threads)  # this process's part
    main_process = distributed.is_main_process()
    seed_everything(opt.seed + distributed.rank())  # ranks draw different noise; DDP syncs the initial weights
    # cuDNN's autotuner pays off only when every batch has the same size.
    torch.backends.cudnn.benchmark = opt.preprocess.endswith('crop')
    dataset = create_dataset(opt)
    with training_loader(opt, dataset, batch_size, num_threads) as loader:  # workers ignore SIGTERM; ended here
        model = create_model(opt)
        model.setup(opt)
        state = TrainingState(model)  # networks, optimizers, schedulers, scaler, pools, RNG, progress
        progress = state.load(opt.epoch) if opt.continue_train else None
        # loss log, loss plot, training page, visdom, wandb; ranks other than 0 report nowhere
        if main_process:  # the precision --amp resolved to, known only now that the device is
            add_to_record(opt.checkpoints_dir, opt.name, precision=model.precision.name)
        reporter = (reporting.from_options(opt, resume=opt.continue_train, precision=model.precision.name)
                    if main_process else reporting.Reporter([]))

        def save(label, epoch, epoch_iter, total_iters):
            state.save(label, {'epoch': epoch, 'epoch_iter': epoch_iter, 'total_iters': total_iters})

        def show_visuals(epoch, total_iters):
            if main_process:
                model.compute_visuals()
                reporter.save_loss_plot()  # first, so the page it is shown on is current
                reporter.display_current_results(model.get_current_visuals(), epoch, total_iters, True)

        last_epoch = opt.n_epochs + opt.n_epochs_decay

        def reached_max_iters():
            return bool(opt.max_iters) and total_iters >= opt.max_iters
        start_epoch, epoch_iter, total_iters = opt.epoch_count, 0, 0
        if progress is not None:
            start_epoch, epoch_iter, total_iters = progress['epoch'], progress['epoch_iter'], progress['total_iters']
        if main_process and start_epoch > last_epoch:
            print(f'this run already finished its {last_epoch} epochs: raise --n_epochs/--n_epochs_decay to train longer')
        if main_process:
            print(f'training {len(dataset)} images per epoch on {distributed.world_size()} process(es), '
                  f'batch {batch_size} each, precision {model.precision.name}'
                  + (f', activation checkpointing ({opt.checkpoint_activations})' if opt.checkpoint_activations else ''))

        compile_reported = signalled = stop_now = False
        stop.listen()  # from here a stop signal saves (util/stopping.py)
        for epoch in range(start_epoch, last_epoch + 1):
            epoch_start = time.time()
            logged_totals = []  # each printout's sum of losses: the plateau policy's metric
            loader.sampler.set_epoch(epoch)
            loader.sampler.set_start(epoch_iter * batch_size)  # non-zero only when resuming mid-epoch
            bar = tqdm(loader, desc=f'epoch {epoch}/{last_epoch}', unit='it', dynamic_ncols=True, leave=False,
                       disable=not main_process, initial=epoch_iter, total=epoch_iter + len(loader))
            t_data_start = time.time()
            for data in bar:
                t_data = time.time() - t_data_start
                t_step_start = time.time()
                model.set_input(data)
                step_losses = optimize_or_explain(model, opt)  # out of memory: which size failed, which flags would fit
                model.precision.end_iteration()
                if model.compute.compile and main_process and not compile_reported:
                    # torch.compile compiles on the first call: that iteration's time is mostly compilation
                    distributed.synchronize(model.device)
                    tqdm.write(f'--compile: the first iteration took {time.time() - t_step_start:.1f} s, compilation '
                               f'included (the first evaluation-mode pass, for the visuals, compiles again)')
                    compile_reported = True
                epoch_iter += 1
                total_iters += 1

                if total_iters % opt.print_freq == 0:
                    losses = as_floats(step_losses)  # synchronises with the device: only here
                    logged_totals.append(sum(losses.values()))
                    reporter.print_current_losses(epoch, total_iters, losses, time.time() - t_step_start, t_data)
                    # fraction of the epoch done before this step; tqdm's bar.n lags (it updates only on redraw)
                    reporter.plot_current_losses(epoch, (epoch_iter - 1) / max(bar.total, 1), losses, total_iters)
                if total_iters % opt.display_freq == 0:
                    show_visuals(epoch, total_iters)
                signalled = stop.requested()  # SIGTERM, SIGINT, SIGUSR1 on any process: stop here, saving
                stop_now = reached_max_iters() or signalled
                if total_iters % opt.save_latest_freq == 0 or (stop_now and epoch_iter < bar.total):
                    save('latest', epoch, epoch_iter, total_iters)
                    if opt.save_by_iter:
                        save(f'iter_{total_iters}', epoch, epoch_iter, total_iters)
                if stop_now:
                    break
                t_data_start = time.time()
            bar.close()
            if stop_now and epoch_iter < bar.total:
                break  # stopped mid-epoch; `latest` is saved

            show_visuals(epoch, total_iters)
            old_lr = model.optimizers[0].param_groups[0]['lr']
            if opt.lr_policy == 'plateau' and logged_totals:
                # every process must step its scheduler on the same value
                metrics = distributed.all_gather_object(sum(logged_totals) / len(logged_totals))
                model.metric = sum(metrics) / len(metrics)
            new_lr = model.update_learning_rate()
            # The saved state points at the start of the next epoch, its learning rate already set.
            save('latest', epoch + 1, 0, total_iters)
            if epoch % opt.save_epoch_freq == 0:
                save(epoch, epoch + 1, 0, total_iters)
            if main_process:
                n_skipped = model.precision.skipped_steps  # read from the device: once
                skipped = f', {n_skipped} skipped steps' if n_skipped else ''
                print(f'end of epoch {epoch}/{last_epoch}: {total_iters} iterations, {time.time() - epoch_start:.1f} s, '
                      f'learning rate {old_lr:.7f} -> {new_lr:.7f}{skipped}')
            epoch_iter = 0
            if stop_now:
                break

        if distributed.is_distributed():
            n = distributed.check_in_sync([net for _, net in model.networks()])
            if main_process:
                print(f'weights identical on all {n} processes')
        reporter.close()
        stopped = signalled and not (reached_max_iters() or (epoch, epoch_iter) == (last_epoch, 0))  # else it is done
        if main_process:
            print(stop.stopped_line('latest', model.save_dir, epoch, total_iters, args) if stopped else
                  f'done: checkpoints in {model.save_dir}, training page {model.save_dir}/web/index.html')
        distributed.cleanup()
        return stopped


if __name__ == '__main__':
    main()
