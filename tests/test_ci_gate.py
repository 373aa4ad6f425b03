"""The test suite's own gate: with AUGAN_REQUIRE_DATA=1 (as .ci/run runs it) a test skipped for
want of the day/night photos fails, so that a run without them cannot pass for a full one."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import MISSING_DATA, REPO

pytestmark = pytest.mark.slow  # runs pytest in a process


def run_pytest(folder, require):
    env = dict(os.environ, AUGAN_REQUIRE_DATA='1' if require else '0')
    return subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', str(folder)],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def test_a_skip_for_missing_photos_fails_when_data_is_required(tmp_path):
    shutil.copy(REPO / 'tests' / 'conftest.py', tmp_path / 'conftest.py')
    (tmp_path / 'test_needs_photos.py').write_text(
        'import pytest\n'
        'def test_needs_photos():\n'
        f'    pytest.skip({MISSING_DATA!r} + " /nowhere")\n'
        'def test_other_skip():\n'
        '    pytest.skip("no chromium")\n')
    relaxed = run_pytest(tmp_path, require=False)
    assert relaxed.returncode == 0 and '2 skipped' in relaxed.stdout, relaxed.stdout
    strict = run_pytest(tmp_path, require=True)
    assert strict.returncode == 1 and '1 failed, 1 skipped' in strict.stdout, strict.stdout
    assert 'download_dataset.sh daynight' in strict.stdout
