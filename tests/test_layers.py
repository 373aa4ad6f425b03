"""The packages import one way, bottom to top, and the scripts run as modules.

    util/                     infrastructure: imports no other package of the project
    data/     models/         each on util/ only
    inference/ metrics/ options/   on util/, data/, models/
    official/                 on util/, models/, options/: the official TF code's formats
    study/                    on all of the above: the quality study; only scripts/ imports it
    scripts/, train.py, test.py    on anything; nothing but scripts/ and tests/ import them
    benchmarks/               developer tools, on all that scripts/ may import; nothing imports it

Every import statement of every .py file is read from its syntax tree (imports inside functions
included, relative imports resolved), so the check costs no import and names the file and line
of each import that points the wrong way. The second half starts each script as
`python -m scripts.NAME --help` (and each benchmark as `python -m benchmarks.NAME --help`) from the
repository root.
"""
import ast

import pytest

from conftest import REPO, run_cli

PACKAGES = {'util', 'data', 'models', 'inference', 'metrics', 'options', 'official', 'scripts', 'study',
            'benchmarks'}
ENTRY_POINTS = {'train', 'test'}  # train.py and test.py at the top of the repository
BELOW_ENTRY_POINTS = {'util', 'data', 'models', 'inference', 'metrics', 'options', 'official'}

# What each part may import besides itself. A new top-level package must be added here.
ALLOWED = {
    'util': set(),
    'data': {'util'},
    'models': {'util'},
    'inference': {'util', 'data', 'models'},
    'metrics': {'util', 'data', 'models'},
    'options': {'util', 'data', 'models'},
    'official': {'util', 'models', 'options'},
    'study': BELOW_ENTRY_POINTS,
    'scripts': BELOW_ENTRY_POINTS | {'study'},
    'benchmarks': BELOW_ENTRY_POINTS,
    'train': BELOW_ENTRY_POINTS,
    'test': BELOW_ENTRY_POINTS,
}

# Imports that point the wrong way and are known, as 'file:line' -> why. Empty: keep it so.
KNOWN_EXCEPTIONS = {}

SKIPPED_FOLDERS = {'tests', 'docs', 'assets', 'datasets'}


def project_files():
    """Every .py file of the project outside tests/, hidden folders and the virtualenv."""
    for path in sorted(REPO.rglob('*.py')):
        parts = path.relative_to(REPO).parts
        if parts[0] in SKIPPED_FOLDERS or any(p.startswith('.') for p in parts):
            continue
        yield path


def part_of(rel_parts):
    """The layer a file belongs to: its top folder, or its stem for a file at the top."""
    return rel_parts[0] if len(rel_parts) > 1 else rel_parts[0][:-len('.py')]


def imported_modules(path):
    """(line, dotted module name) of each import in a file, relative imports made absolute."""
    rel_parts = path.relative_to(REPO).parts
    tree = ast.parse(path.read_text(encoding='utf-8'), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # from . import x, from ..a import b: relative to the file's package
                package = list(rel_parts[:-1])
                base = package[:len(package) - node.level + 1]
                yield node.lineno, '.'.join(base + ([node.module] if node.module else []))
            else:
                yield node.lineno, node.module


def wrong_way_imports():
    wrong = []
    for path in project_files():
        rel_parts = path.relative_to(REPO).parts
        part = part_of(rel_parts)
        for line, module in imported_modules(path):
            target = module.split('.')[0]
            if target == part or target not in PACKAGES | ENTRY_POINTS:
                continue  # itself, the standard library or a third-party package
            where = f'{"/".join(rel_parts)}:{line}'
            if target not in ALLOWED.get(part, set()) and where not in KNOWN_EXCEPTIONS:
                allowed = ', '.join(sorted(ALLOWED.get(part, ()))) or 'no other package'
                wrong.append(f'{where} imports {module} ({part} may import {allowed})')
    return wrong


def test_every_part_has_a_rule():
    parts = {part_of(p.relative_to(REPO).parts) for p in project_files()}
    assert parts <= set(ALLOWED), f'add a rule to ALLOWED for {sorted(parts - set(ALLOWED))}'
    assert PACKAGES <= parts


def test_imports_point_one_way():
    wrong = wrong_way_imports()
    assert not wrong, 'imports against the layering:\n' + '\n'.join(wrong)


def test_known_exceptions_are_still_needed():
    # An exception whose import has gone should go too, so that the list does not hide a new one.
    present = set()
    for path in project_files():
        rel = '/'.join(path.relative_to(REPO).parts)
        present |= {f'{rel}:{line}' for line, _ in imported_modules(path)}
    assert set(KNOWN_EXCEPTIONS) <= present, sorted(set(KNOWN_EXCEPTIONS) - present)


def test_the_checker_sees_a_wrong_import(tmp_path, monkeypatch):
    # A util file that imports data, absolutely, relatively and inside a function, is reported.
    (tmp_path / 'util').mkdir()
    (tmp_path / 'util' / 'bad.py').write_text('import os\nfrom ..data import base_dataset\n'
                                              'def f():\n    import data.image_folder\n')
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data' / 'fine.py').write_text('from util import errors\nfrom . import base_dataset\n')
    monkeypatch.setitem(globals(), 'REPO', tmp_path)
    assert wrong_way_imports() == ['util/bad.py:2 imports data (util may import no other package)',
                                   'util/bad.py:4 imports data.image_folder (util may import no other package)']


SCRIPTS = sorted(p.stem for p in (REPO / 'scripts').glob('*.py'))


@pytest.mark.slow
@pytest.mark.parametrize('name', SCRIPTS)
def test_script_runs_as_a_module(name):
    proc = run_cli('-m', f'scripts.{name}', '--help', timeout=120)
    assert proc.stdout.startswith('usage:'), proc.stdout[:500]


BENCHMARKS = sorted(p.stem for p in (REPO / 'benchmarks').glob('*.py') if p.stem != '__init__')


@pytest.mark.slow
@pytest.mark.parametrize('name', BENCHMARKS)
def test_benchmark_runs_as_a_module(name):
    proc = run_cli('-m', f'benchmarks.{name}', '--help', timeout=120)
    assert proc.stdout.startswith('usage:'), proc.stdout[:500]
