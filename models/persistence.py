"""Networks that remember how they were built.

Decorating a network class with `@persistent` records the arguments of every instance's
constructor in `net.config`. Checkpoints store that config beside the weights, so that
- a checkpoint loaded into a differently built network is refused with the differing arguments
  named (and the command-line flags that set them), and
- any tool can rebuild a saved network from its file alone (`build_network`), which is how
  `--model test`, conversion and export load a generator of any model.
"""
import functools
import importlib
import inspect

from util.errors import UserError

NETWORKS = {}

# The flag that sets each constructor argument, for messages.
FLAGS = {'ngf': '--ngf', 'ndf': '--ndf', 'norm': '--norm', 'input_nc': '--input_nc', 'output_nc': '--output_nc',
         'n_blocks_enc': '--n_blocks_enc', 'n_blocks_dec': '--n_blocks_dec', 'n_blocks_T': '--n_blocks_T',
         'dilation': '--dilation', 'upsample': '--upsample', 'uncertainty': '--uncertainty',
         'n_layers': '--n_layers_D', 'num_D': '--netD', 'n_blocks': '--netG', 'use_dropout': '--no_dropout',
         'noise_on': '--noise_on', 'affine': '--affine_norm', 'block_padding': '--block_padding',
         'tf_same': '--tf_padding', 'output_bias': '--no_output_bias', 't_net_concat': '--t_net_concat'}


# Arguments that change no weight and no result at test time: a checkpoint loads whatever they were.
TRAINING_ONLY = {'noise_std'}


def persistent(cls):
    init = cls.__init__
    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        self.config = {k: v for k, v in bound.arguments.items() if k != 'self'}

    cls.__init__ = __init__
    NETWORKS[cls.__name__] = cls
    return cls


def describe(net):
    """What a checkpoint stores about a network's construction."""
    return {'class': type(net).__name__, 'kwargs': dict(getattr(net, 'config', {}))}


def _show(k, v):
    flag = FLAGS.get(k)
    return f'{flag} {v}' if flag and not isinstance(v, bool) else f'{k}={v}'


def check_config(path, saved, net):
    """Refuse a checkpoint whose network was built differently from `net`, naming the differences."""
    if not saved:
        return  # an older file: load_state_dict will still catch a mismatch
    current = describe(net)
    if saved['class'] != current['class']:
        raise UserError(f'{path} holds a {saved["class"]} but the options build a {current["class"]}: check '
                        f'--model, --netG and --netD against train_opt.txt beside the checkpoint')
    diffs = [k for k, v in saved['kwargs'].items()
             if k in current['kwargs'] and current['kwargs'][k] != v and k not in TRAINING_ONLY]
    if diffs:
        was = ' '.join(_show(k, saved['kwargs'][k]) for k in diffs)
        now = ' '.join(_show(k, current['kwargs'][k]) for k in diffs)
        raise UserError(f'{path} was trained with {was} but this run has {now}: pass the options the model was '
                        f'trained with (train_opt.txt beside the checkpoint; a run with train_opt.json needs none)')


def build_network(saved, path='the checkpoint'):
    """A fresh network built exactly as the one saved (weights not loaded)."""
    for module in ('discriminators', 'generators'):  # importing them registers their classes
        importlib.import_module(f'{__package__}.{module}')
    if not saved or saved.get('class') not in NETWORKS:
        raise UserError(f'{path} does not say how to build its network (saved by an older version?): '
                        f'use the model it was trained with instead of --model test')
    return NETWORKS[saved['class']](**saved['kwargs'])
