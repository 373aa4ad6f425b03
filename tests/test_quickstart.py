"""The README's quick start works from a fresh clone: setup, data, training, testing, pages."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, SHARED_DATA

pytestmark = pytest.mark.slow  # clones and runs the quickstart


def fresh_clone(dest):
    """What git tracks or would track (nothing it ignores: no .venv, datasets or checkpoints)."""
    files = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], cwd=REPO,
                           capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split('\0')):
        if not (REPO / rel).is_file():
            continue  # deleted in the working tree
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    return dest


def test_quickstart_from_a_fresh_clone(tmp_path):
    if not (SHARED_DATA / 'trainA').is_dir():
        pytest.skip(f'the real day/night set is not at {SHARED_DATA}')
    clone = fresh_clone(tmp_path / 'AU-GAN-pytorch')
    env = dict(os.environ, VENV=str(Path(sys.prefix)), DATASETS_MIRROR=str(SHARED_DATA.parent),
               SIZE='32', NGF='4', EPOCHS='1', DECAY_EPOCHS='0', MAX_IMAGES='4', NUM_TEST='2')
    proc = subprocess.run(['bash', 'scripts/quickstart.sh'], cwd=clone, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    page = clone / 'results' / 'daynight_quickstart' / 'test_latest' / 'index.html'
    assert f'results page:  {page}' in proc.stdout
    assert page.is_file() and (clone / 'checkpoints' / 'daynight_quickstart' / 'web' / 'index.html').is_file()
    assert len(list((clone / 'datasets' / 'daynight' / 'trainA').iterdir())) == 120
