"""The scripts that draw assets/ from the code and from a run: draw_architecture.py reads the
generator it draws off the real network, make_samples.py renders a run's test images; neither
rewrites a run's saved options."""
import pytest
from PIL import Image

from conftest import REPO, SHARED_DATA, run_cli, train_tiny

pytestmark = pytest.mark.slow  # runs the scripts, one after training


def test_draw_architecture_describes_the_network_it_builds(tmp_path):
    out = tmp_path / 'g.png'
    # run from an empty folder: nothing but the picture may be written (no checkpoints/*/test_opt.txt)
    proc = run_cli(REPO / 'scripts' / 'draw_architecture.py', '--out', out, '--',
                   '--ngf', '8', '--n_blocks_T', '2', cwd=tmp_path)
    assert f'wrote {out}' in proc.stdout
    assert [p.name for p in tmp_path.iterdir()] == ['g.png']
    with Image.open(out) as img:
        assert img.format == 'PNG' and img.width > 800 and img.height > 400


def test_make_samples_renders_a_row_per_test_image(tmp_path):
    ckpt = train_tiny(tmp_path / 'ck')
    saved = (ckpt / 'tiny' / 'train_opt.txt').read_text()
    out = tmp_path / 'samples.png'
    proc = run_cli('scripts/make_samples.py', '--name', 'tiny', '--checkpoints_dir', ckpt, '--dataroot', SHARED_DATA,
                   '--num', '2', '--size', '32', '--out', out)
    assert f'wrote {out}' in proc.stdout
    assert not (ckpt / 'tiny' / 'test_opt.txt').exists()
    assert (ckpt / 'tiny' / 'train_opt.txt').read_text() == saved
    with Image.open(out) as img:
        assert img.mode == 'P'  # 256 colours
        two_rows = img.height
    run_cli('scripts/make_samples.py', '--name', 'tiny', '--checkpoints_dir', ckpt, '--dataroot', SHARED_DATA,
            '--num', '4', '--size', '32', '--out', out)
    with Image.open(out) as img:
        assert img.height > two_rows  # two more rows of 32 px frames
