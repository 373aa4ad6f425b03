"""Command-line options: `BaseOptions` (shared), `TrainOptions` and `TestOptions`.

The chosen `--model` and `--dataset_mode` may add their own flags through their
`modify_commandline_options`, so `python train.py --model au_gan -h` lists them too.

Parsing is pure: `parse()` reads and checks the flags (and rank 0 records them in the run
folder); it does not join process groups or pick devices (util/distributed.setup, called by
each program) and nothing changes `opt` afterwards: a program that needs other values makes a
copy with `replaced`.
"""
import argparse


def replaced(opt, **values):
    """A copy of the options `opt` with `values` changed; `opt` itself stays as parsed."""
    return argparse.Namespace(**{**vars(opt), **values})
