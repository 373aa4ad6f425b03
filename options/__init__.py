"""Command-line options: `BaseOptions` (shared), `TrainOptions` and `TestOptions`.

The chosen `--model` and `--dataset_mode` may add their own flags through their
`modify_commandline_options`, so `python train.py --model au_gan -h` lists them too.
"""
