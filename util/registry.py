"""Find a class by a short name from a file-name registry, as `--model` and `--dataset_mode` do:
the name `foo_bar` in package `models` with suffix `model` means the module
`models/foo_bar_model.py` and, in it, the subclass of `base` named (case-insensitively)
`FooBarModel`."""
import importlib
import os
import re

from util.errors import UserError


def available(package, suffix):
    folder = os.path.dirname(importlib.import_module(package).__file__)
    ending = f'_{suffix}.py'
    names = (f[:-len(ending)] for f in os.listdir(folder) if f.endswith(ending) and not f.startswith('_'))
    return sorted(n for n in names if n != 'base')  # base_<suffix>.py holds the abstract base class


def find_class(package, name, suffix, base, flag):
    choices = available(package, suffix)
    # The name becomes a module path: plain identifiers only, so '../x' or 'a.b' import nothing.
    if not re.fullmatch(r'\w+', str(name)) or name not in choices:
        raise UserError(f'unknown {flag} {name!r}: available are {", ".join(choices)} '
                        f'(a new one is a file {package}/<name>_{suffix}.py)')
    module = importlib.import_module(f'{package}.{name}_{suffix}')
    target = (name + suffix).replace('_', '').lower()
    for attr_name, cls in vars(module).items():
        if attr_name.lower() == target and isinstance(cls, type) and issubclass(cls, base) and cls is not base:
            return cls
    raise UserError(f'{package}/{name}_{suffix}.py must define a subclass of {base.__name__} '
                    f'named {name.replace("_", "")}{suffix} (any capitalisation)')
