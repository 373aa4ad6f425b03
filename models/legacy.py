"""Runs saved by earlier versions of this project, read with this version's names: the one place
that knows the old ones.

CycleGAN's discriminators. Until network file version 3, `--model cycle_gan` named its
discriminators as junyanz/pytorch-CycleGAN-and-pix2pix does, by the generator whose outputs they
judge: D_A judged domain B, D_B domain A. Every model now names a discriminator by the domain it
judges (D_A judges A), so a loss-log column means the same in every model. An old cycle_gan run
still resumes: `network_path` reads its D_A file as D_B and the reverse, and
`translate_loss_log` renames the D_A and D_B of its loss log's earlier lines, once, leaving a
note line. (Testing needs neither: it loads the generators only.)

The fork generator's arguments. Until its ForkGeneratorConfig, a fork generator's file stored
three of its arguments under other names than their flags: `affine` (--affine_norm), `tf_same`
(--tf_padding) and `output_bias` (the opposite of --no_output_bias). `network_kwargs` reads them
under today's names.

Arguments added later. A network file or a run's train_opt.json written before an architecture
flag existed does not name it; the network it describes was built as the code then built it,
which is not always today's default (au_gan turned --antialias and --skip_refine on; --antialias's
filter went from 5 to 11 taps). `ADDED_LATER` holds those values: `network_kwargs` and
options/run_options.architecture fill them in where a record lacks them.
"""
import os
import re

from util.checkpoint import atomic_write_text, network_version
from util.loss_log import parse_line

SWAPPED = {'D_A': 'D_B', 'D_B': 'D_A'}
NOTE = ('# cycle_gan before network file version 3: D_A and D_B of the lines above are renamed by '
        'the domain they judge (D_A: domain A)')
OLD_FORK_NAMES = {'affine', 'tf_same', 'output_bias'}
# flag: the network as built before the flag existed
ADDED_LATER = {'input_skip': False, 'antialias': False, 'antialias_taps': 5, 'antialias_at': 'both',
               'skip_refine': False, 'n_blocks_T_B': 0}
GENERATORS = {'ForkGenerator', 'ResnetGenerator'}
_NAME = re.compile(r'\b(D_A|D_B): ')


def network_path(model, checkpoint_path, epoch, name):
    """The file that network `name` of save `epoch` loads from: checkpoint_path(epoch, name), or
    for a discriminator of a cycle_gan save of version 2 the file of the other name."""
    path = checkpoint_path(epoch, name)
    if model == 'cycle_gan' and name in SWAPPED and os.path.isfile(path) and network_version(path) < 3:
        return checkpoint_path(epoch, SWAPPED[name])
    return path


def network_kwargs(saved):
    """A checkpoint's record of how its network was built ({'class', 'kwargs'}), with the fork
    generator's arguments of older files under today's names."""
    kwargs = dict(saved.get('kwargs', {}))
    if saved.get('class') not in GENERATORS:
        return saved
    if saved['class'] == 'ResnetGenerator' or not OLD_FORK_NAMES & set(kwargs):
        return {**saved, 'kwargs': added_later(kwargs, saved['class'])}
    for old, new in (('affine', 'affine_norm'), ('tf_same', 'tf_padding')):
        if old in kwargs:
            kwargs[new] = kwargs.pop(old)
    if 'output_bias' in kwargs:
        kwargs['no_output_bias'] = not kwargs.pop('output_bias')
    return {**saved, 'kwargs': added_later(kwargs, saved['class'])}


def added_later(kwargs, cls):
    """A generator's recorded arguments with the ADDED_LATER ones it lacks (those its class takes)."""
    takes = {'antialias', 'antialias_taps', 'antialias_at'} if cls == 'ResnetGenerator' else set(ADDED_LATER) - {'n_blocks_T_B'}
    return {**{k: v for k, v in ADDED_LATER.items() if k in takes}, **kwargs}


def translate_loss_log(path):
    """Swap D_A and D_B in every loss line of the log at `path` and add NOTE after them, unless
    NOTE is there already; returns whether it translated. Written atomically."""
    if not os.path.isfile(path):
        return False
    with open(path, encoding='utf-8') as f:
        lines = f.read().splitlines()
    if NOTE in lines:
        return False
    swap = lambda m: SWAPPED[m.group(1)] + ': '  # noqa: E731
    lines = [_NAME.sub(swap, line) if parse_line(line) else line for line in lines]
    atomic_write_text(path, '\n'.join(lines + [NOTE]) + '\n')
    return True
