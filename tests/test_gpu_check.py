"""scripts/gpu_check.sh, the script a session with a GPU runs first: its CPU-safe parts run here
end to end (GPU_CHECK_DEVICE=-1, tiny networks), and without a GPU it stops at once, saying why."""
import json
import os
import subprocess

import pytest
import torch

from conftest import REPO

pytestmark = pytest.mark.slow  # runs scripts/gpu_check.sh

SCRIPT = REPO / 'scripts' / 'gpu_check.sh'


def gpu_check(out, **env):
    return subprocess.run(['bash', str(SCRIPT), str(out)], cwd=REPO, capture_output=True, text=True, timeout=900,
                          env={**os.environ, **env})


def test_gpu_check_cpu_safe_parts_write_the_tables(tmp_path):
    proc = gpu_check(tmp_path / 'out', GPU_CHECK_DEVICE='-1', GPU_CHECK_MODELS='cycle_gan', GPU_CHECK_SIZE='32x64',
                     GPU_CHECK_PUBLISHED='32x64', GPU_CHECK_STEPS='1',
                     GPU_CHECK_ARGS='--netG resnet_6blocks --ngf 4 --ndf 4 --n_layers_D 2')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = tmp_path / 'out'
    report = json.loads((out / 'gpu_check.json').read_text())
    assert report['failed'] == []
    assert any(line.startswith('torch ') for line in report['environment'])
    # the CUDA tests were collected and skipped, each saying why
    tests_log = (out / 'cuda_tests.log').read_text()
    if not torch.cuda.is_available():
        assert 'skipped' in report['cuda_tests'] and 'passed' not in report['cuda_tests']
        assert 'no CUDA device here' in tests_log
    rows = report['benchmark']['cycle_gan']
    assert {(r['amp'], r['checkpoint_activations']) for r in rows} >= {('off', None), ('off', 'all')}
    memory = report['memory']['cycle_gan']
    assert {r['checkpoint_activations'] for r in memory} == {None, 'stages', 'all'}
    assert any('s_per_step' in r for r in memory)  # real steps at the published size, not only counts
    page = (out / 'gpu_check.md').read_text()
    assert page.count('| cycle_gan | 32x64 |') == len(rows) + len(memory)
    assert 'Every part passed.' in page


def test_gpu_check_without_a_gpu_stops_at_once(tmp_path):
    if torch.cuda.is_available():
        pytest.skip('this machine has a GPU: the script would run in full')
    proc = gpu_check(tmp_path / 'out')
    assert proc.returncode == 1
    assert 'no CUDA device: run this on a machine with a GPU' in proc.stdout
    assert not (tmp_path / 'out' / 'cuda_tests.log').exists()  # nothing else ran
