"""The check in conftest.py that a test which starts a process or trains is marked slow (or smoke):
unmarked_slow() on real collected items, and a collection that fails, naming the test and the fix.
The inner tests' sources live here at module level, so this module's own tests do not look slow."""
from pathlib import Path

import pytest

from conftest import UNMARKED_SLOW_FIX, unmarked_slow

pytest_plugins = ['pytester']

INNER = '''
import subprocess
import sys

import pytest


def test_starts_a_process():
    subprocess.run([sys.executable, '-c', 'pass'], check=True)


@pytest.mark.parametrize('n', [1, 2])
def test_starts_processes(n):
    subprocess.run([sys.executable, '-c', 'pass'], check=True)


@pytest.mark.slow
def test_marked_slow():
    subprocess.run([sys.executable, '-c', 'pass'], check=True)


@pytest.mark.smoke
def test_marked_smoke():
    subprocess.run([sys.executable, '-c', 'pass'], check=True)


def test_computes():
    assert 1 + 1 == 2
'''

WHOLE_MODULE_SLOW = '''
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_starts_a_process():
    subprocess.run([sys.executable, '-c', 'pass'], check=True)
'''

MARKERS_INI = '[pytest]\nmarkers =\n    slow: slow\n    smoke: smoke\n'
CONFTEST = Path(__file__).with_name('conftest.py')


def test_unmarked_process_starting_tests_are_reported_and_marked_ones_are_not(pytester):
    pytester.makeini(MARKERS_INI)
    items = pytester.getitems(INNER)
    assert len(items) == 6
    assert unmarked_slow(items) == ['test_unmarked_process_starting_tests_are_reported_and_marked_ones_are_not.py'
                                    '::test_starts_a_process',
                                    'test_unmarked_process_starting_tests_are_reported_and_marked_ones_are_not.py'
                                    '::test_starts_processes']


def test_a_module_marked_slow_passes(pytester):
    pytester.makeini(MARKERS_INI)
    assert unmarked_slow(pytester.getitems(WHOLE_MODULE_SLOW)) == []


def test_collection_fails_naming_each_unmarked_test_and_the_fix(pytester):
    """With the project's hook installed, collecting the inner module fails: one line per test."""
    pytester.makeini(MARKERS_INI)
    pytester.makeconftest(f'''
import importlib.util
spec = importlib.util.spec_from_file_location('augan_conftest', {str(CONFTEST)!r})
augan_conftest = importlib.util.module_from_spec(spec)
spec.loader.exec_module(augan_conftest)
pytest_collection_modifyitems = augan_conftest.pytest_collection_modifyitems
''')
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest('--collect-only', '-q')
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = [line for line in result.errlines if 'is not marked slow' in line]
    assert len(lines) == 2, result.errlines
    assert 'test_inner.py::test_starts_a_process looks slow' in lines[0]
    assert 'test_inner.py::test_starts_processes looks slow' in lines[1]
    assert all(line.endswith(UNMARKED_SLOW_FIX) for line in lines)
