"""The docs stay true to the code: every function, class or module that docs/overview.md names
in backquotes exists somewhere in the code (a renamed function leaves a stale doc otherwise)."""
import re

from conftest import REPO

# Names the overview uses as examples or patterns, not as things in the code.
EXAMPLES = {'my_gan', 'MyGanModel', '_1', '_2'}


def code_text():
    files = [p for p in REPO.rglob('*') if p.suffix in ('.py', '.sh') and '.venv' not in p.parts
             and 'fixtures' not in p.parts]
    return '\n'.join(p.read_text(errors='replace') for p in files)


def test_overview_names_exist_in_the_code():
    text = (REPO / 'docs' / 'overview.md').read_text()
    names = set(re.findall(r'`([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)(?:\(\))?`', text)) - EXAMPLES
    code = code_text()
    missing = sorted(n for n in names if not re.search(r'\b' + re.escape(n.split('.')[-1]) + r'\b', code))
    assert len(names) > 100 and not missing, missing
