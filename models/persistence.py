"""Networks that remember how they were built.

Decorating a network class with `@persistent` records the arguments of every instance's
constructor in `net.config`, a configuration dataclass among them field by field (so each is
stored under its flag's name). Checkpoints store that record beside the weights, so that
- a checkpoint loaded into a differently built network is refused with the differing arguments
  named (and the command-line flags that set them), and
- any tool can rebuild a saved network from its file alone (`build_network`), which is how
  `--model test`, conversion and export load a generator of any model.
"""
import dataclasses
import functools
import importlib
import inspect

from util.errors import UserError
from .legacy import network_kwargs

NETWORKS = {}

# The flag that sets a constructor argument of another name, for messages (every other argument is
# the flag of its own name).
FLAGS = {'n_layers': '--n_layers_D', 'num_D': '--netD', 'n_blocks': '--netG', 'use_dropout': '--no_dropout'}


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
        self.config = {}
        for k, v in bound.arguments.items():
            if k != 'self':
                self.config.update(dataclasses.asdict(v) if dataclasses.is_dataclass(v) else {k: v})

    cls.__init__ = __init__
    NETWORKS[cls.__name__] = cls
    return cls


def describe(net):
    """What a checkpoint stores about a network's construction."""
    return {'class': type(net).__name__, 'kwargs': dict(getattr(net, 'config', {}))}


def _show(k, v):
    return f'{FLAGS.get(k, "--" + k)} {v}' if not isinstance(v, bool) else f'{k}={v}'


def check_config(path, saved, net):
    """Refuse a checkpoint whose network was built differently from `net`, naming the differences."""
    if not saved:
        return  # an older file: load_state_dict will still catch a mismatch
    saved, current = network_kwargs(saved), describe(net)
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
    cls, kwargs = NETWORKS[saved['class']], dict(network_kwargs(saved)['kwargs'])
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if dataclasses.is_dataclass(parameter.annotation):  # a configuration, stored field by field
            config = parameter.annotation
            kwargs[name] = config(**{f.name: kwargs.pop(f.name) for f in dataclasses.fields(config) if f.name in kwargs})
    return cls(**kwargs)
