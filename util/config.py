"""Typed, frozen configurations whose fields are the command-line flags.

A configuration is a frozen dataclass whose fields are made with `flag(default, help, choices)`:
each field is the flag of the same name, `--<field>`, its type the field's annotation (a bool
field is a switch, off by default). `add_flags(parser, Config, **defaults)` adds them (a model
may give its own defaults), `from_options(Config, opt)` builds the configuration from parsed
options. So adding a flag is adding one field, and the code that uses it reads a typed value
that cannot change under it. (models/au_gan_model.AUGANLosses is the first; see issue 21.)
"""
from dataclasses import field, fields


def flag(default, help, choices=None):
    """A configuration field that is also a flag: its default, its help, its allowed values."""
    return field(default=default, metadata={'help': help, 'choices': choices})


def add_flags(parser, config, **defaults):
    """Add a flag to `parser` for each field of the dataclass `config`, with `defaults` in place
    of the fields' own where given. Returns the parser."""
    unknown = set(defaults) - {f.name for f in fields(config)}
    if unknown:
        raise TypeError(f'{config.__name__} has no field {", ".join(sorted(unknown))}')
    for f in fields(config):
        default, meta = defaults.get(f.name, f.default), f.metadata
        if f.type is bool:
            if default:
                raise TypeError(f'{config.__name__}.{f.name}: a switch is off by default (name it for turning it on)')
            parser.add_argument('--' + f.name, action='store_true', help=meta['help'])
        else:
            parser.add_argument('--' + f.name, type=f.type, default=default, choices=meta['choices'],
                                help=meta['help'])
    return parser


def from_options(config, opt):
    """The `config` dataclass with each field's value from the parsed options `opt`."""
    return config(**{f.name: getattr(opt, f.name) for f in fields(config)})
