"""Typed, frozen configurations whose fields are the command-line flags.

A configuration is a frozen dataclass whose fields are made with `flag(default, help, choices)`:
each field is the flag of the same name, `--<field>`, its type the field's annotation (a bool
field is a switch: `--<field>` turns it on; where a model turns it on by default, `--no_<field>`
turns it off). `add_flags(parser, Config, **defaults)` adds them (a model
may give its own defaults), `from_options(Config, opt)` builds the configuration from parsed
options. So adding a flag is adding one field, and the code that uses it reads a typed value
that cannot change under it.

A plain field (`ngf: int = 64`, not made with `flag`) is set by a flag that another part of the
command line defines for several components (--ngf and --norm are the base options'): `add_flags`
leaves it alone and `from_options` reads it all the same. A configuration may hold more than its
flags set: `from_options(Config, opt, **values)` gives those.

The configurations: each model's loss weights (AUGANLosses, ForkGANLosses, CycleGANLosses), the
generators' (ForkGeneratorConfig, ResnetGeneratorConfig), DiscriminatorConfig, the data's
Geometry and ComputeConfig; docs/overview.md, "How a flag reaches the code", follows one.
"""
import argparse
from dataclasses import field, fields


def flag(default, help, choices=None, parse=None):
    """A configuration field that is also a flag: its default, its help, its allowed values, and
    how its text is read (the field's type unless `parse` is given)."""
    return field(default=default, metadata={'help': help, 'choices': choices, 'parse': parse})


def at_least(minimum):
    """A flag's `parse` for whole numbers of `minimum` or more (block counts: at least 0): argparse
    reports a smaller one as "argument --<flag>: must be at least <minimum>, got <value>"."""
    def parse(text):
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f'must be at least {minimum}, got {value}')
        return value
    parse.__name__ = 'int'  # argparse's "invalid int value: 'x'" for what is not a number
    return parse


def add_flags(parser, config, **defaults):
    """Add a flag to `parser` for each `flag` field of the dataclass `config`, with `defaults` in
    place of the fields' own where given. Returns the parser."""
    unknown = set(defaults) - set(flag_names(config))
    if unknown:
        raise TypeError(f'{config.__name__} has no flag field {", ".join(sorted(unknown))}')
    for f in fields(config):
        if f.name not in flag_names(config):
            continue
        default, meta = defaults.get(f.name, f.default), f.metadata
        if f.type is bool:
            if default:  # on by this model's default: --no_<name> turns it off, --<name> is kept for scripts
                parser.add_argument('--' + f.name, '--no_' + f.name, dest=f.name, action=_Switch, default=True,
                                    help=meta['help'] + ' (on by default; --no_' + f.name + ' turns it off)')
            else:
                parser.add_argument('--' + f.name, action='store_true', help=meta['help'])
        else:
            parser.add_argument('--' + f.name, type=meta['parse'] or f.type, default=default,
                                choices=meta['choices'], help=meta['help'])
    return parser


class _Switch(argparse.Action):
    """A switch that is on by default: --<name> sets it, --no_<name> clears it."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, not option_string.startswith('--no_'))


def flag_names(config):
    """The fields of `config` that are its own flags (made with `flag`), in order."""
    return tuple(f.name for f in fields(config) if 'help' in f.metadata)


def from_options(config, opt, **values):
    """The `config` dataclass with `values` and, for every other field, the value of the parsed
    option of its name in `opt`."""
    return config(**{f.name: values[f.name] if f.name in values else getattr(opt, f.name) for f in fields(config)})
