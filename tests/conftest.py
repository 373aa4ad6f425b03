"""Shared test helpers: paths, running the command-line entry points, reading loss logs."""
import inspect
import math
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def find_daynight():
    """Where the real day/night photos are: $AUGAN_DAYNIGHT, else datasets/daynight (where
    `bash datasets/download_dataset.sh daynight` puts them), else ../shared/datasets/daynight."""
    candidates = [os.environ.get('AUGAN_DAYNIGHT'), REPO / 'datasets' / 'daynight',
                  REPO.parent / 'shared' / 'datasets' / 'daynight']
    for candidate in filter(None, candidates):
        if (Path(candidate) / 'trainA').is_dir():
            return Path(candidate)
    return REPO / 'datasets' / 'daynight'


SHARED_DATA = find_daynight()
MISSING_DATA = 'the real day/night set is not at'  # every skip for want of the photos says this


# A test that starts processes or trains on the photos is 'slow' and says so itself, with
# @pytest.mark.slow (or `pytestmark = pytest.mark.slow` for a whole module); `pytest -m "not slow"`
# leaves those out (the fast lane), except the ones marked 'smoke': one tiny pass end to end.
# Nothing here sets the marker: these signs are the check that a test which looks slow is marked.
SLOW_SIGNS = ('run_cli(', 'train_tiny(', 'subprocess.run(', 'subprocess.Popen(', 'train.main(', 'run_script(',
              'run_pytest(', 'gpu_check(')
SLOW_FIXTURES = {'daynight', 'tiny_run', 'imported', 'features'}
UNMARKED_SLOW_FIX = 'mark it @pytest.mark.slow, or smoke if it is the one tiny end-to-end pass'


def looks_slow(item):
    """Whether a test starts a process, trains or uses the photos/run fixtures, by its source."""
    if SLOW_FIXTURES & set(getattr(item, 'fixturenames', ())):
        return True
    try:
        source = inspect.getsource(item.function)
    except (AttributeError, OSError, TypeError):
        return False
    return any(sign in source for sign in SLOW_SIGNS)


def unmarked_slow(items):
    """The tests ('file::test', parameters dropped, in order) among `items` that look slow but
    carry neither the slow nor the smoke marker."""
    offenders = []
    for item in items:
        if looks_slow(item) and not (item.get_closest_marker('slow') or item.get_closest_marker('smoke')):
            test = item.nodeid.split('[', 1)[0]
            if test not in offenders:
                offenders.append(test)
    return offenders


def pytest_collection_modifyitems(config, items):
    offenders = unmarked_slow(items)
    if offenders:
        raise pytest.UsageError('\n'.join(f'{test} looks slow (starts a process, trains or uses the photos) but is not marked slow: '
                                           f'{UNMARKED_SLOW_FIX}' for test in offenders))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With AUGAN_REQUIRE_DATA=1 (.ci/run sets it) a test skipped for want of the day/night photos
    fails instead: a run that leaves the end-to-end paths untested must not look green."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get('AUGAN_REQUIRE_DATA') == '1' and report.skipped and MISSING_DATA in str(report.longrepr):
        report.outcome = 'failed'
        report.longrepr = (f'{MISSING_DATA} {SHARED_DATA} and AUGAN_REQUIRE_DATA=1: get it with '
                           f'`bash datasets/download_dataset.sh daynight` (or point $AUGAN_DAYNIGHT at it)')
LOSS_RE = re.compile(r'(\w+): (-?[\d.]+|nan|inf|-inf)')

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture
def daynight():
    if not (SHARED_DATA / 'trainA').is_dir():
        pytest.skip(f'{MISSING_DATA} {SHARED_DATA}')
    return SHARED_DATA


def run_cli(*args, cwd=REPO, check=True, timeout=600):
    """Run `python <args>` as a user would; returns the CompletedProcess (text output)."""
    env = dict(os.environ, PYTHONUNBUFFERED='1', WANDB_MODE='offline', WANDB_SILENT='true')
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f'{" ".join(map(str, args))} exited {proc.returncode}\n'
                             f'--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-3000:]}')
    return proc


def run_main(program, *args):
    """Run an entry point's main() in this process, as `python <program> <args>` would run it,
    for tests of what it says rather than of the process around it (parsing, one-line errors):
    returns an object with the run's returncode, stdout and stderr, like run_cli's. `program` is
    a path from the repository root ('train.py', 'scripts/convert.py')."""
    import contextlib
    import importlib.util
    import io
    import types
    path = REPO / program
    spec = importlib.util.spec_from_file_location('_entry_' + path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            module.main([str(a) for a in args])
        except SystemExit as e:  # exit_on_user_error, argparse
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return types.SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def train_tiny(ckpt, *extra, name='tiny'):
    """Train the tiny AU-GAN run (2 real images, 32 px, one epoch) that the script tests load;
    skips the calling test when the real day/night set is absent."""
    if not (SHARED_DATA / 'trainA').is_dir():
        pytest.skip(f'{MISSING_DATA} {SHARED_DATA}')
    run_cli('train.py', '--dataroot', SHARED_DATA, '--name', name, '--checkpoints_dir', ckpt, *TINY,
            '--load_size', '40', '--crop_size', '32', '--max_dataset_size', '2', '--n_epochs', '1',
            '--n_epochs_decay', '0', *extra)
    return ckpt


def read_losses(log_path):
    """Every loss line of a loss_log.txt as a dict name -> float."""
    rows = []
    for line in Path(log_path).read_text().splitlines():
        if line.startswith('(epoch:'):
            rows.append({k: float(v) for k, v in LOSS_RE.findall(line.split(')', 1)[1])})
    return rows


def assert_finite_losses(log_path, expected_names):
    rows = read_losses(log_path)
    assert rows, f'no loss lines in {log_path}'
    for row in rows:
        assert set(expected_names) <= set(row), f'missing losses in {row}'
        assert all(math.isfinite(v) for v in row.values()), row
    return rows


def assert_same_first_step(one, two, lr=2e-4):
    """Two state dicts after one Adam step that should be equal, computed in another order.

    Adam's first step moves a weight by +-lr whatever the size of its gradient, so a weight whose
    gradient is at rounding level (summed in another order) may step either way: up to 2 * lr
    apart. Every other weight agrees to 1e-6; at most one in 2,000 may flip (measured with the
    default generator and the identity loss: 4 of 25,007 in G_A, none in G_B).
    """
    import torch
    apart = torch.cat([(two[key] - value).abs().flatten().float() for key, value in one.items()])
    flipped = int((apart > 1e-6).sum())
    assert flipped <= max(1, apart.numel() // 2000), f'{flipped} of {apart.numel()} weights apart'
    assert float(apart.max()) <= 2 * lr + 1e-6, f'a weight {float(apart.max()):.2e} apart, beyond 2 * lr'


# ----- shared settings and helpers of the test modules -----
# au_gan with its defaults: the losses it logs, the visuals of a test page and of training (where
# the identity loss, on by default, adds its two)
AU_GAN_LOSSES = ['D_A', 'G_A', 'cycle_A', 'rec_A', 'fm_A', 'D_B', 'G_B', 'cycle_B', 'rec_B', 'fm_B', 'idt_A', 'idt_B']
VISUALS = ['real_A', 'fake_B', 'cyc_A', 'rec_A', 'uncertainty_A', 'real_B', 'fake_A', 'cyc_B', 'rec_B']
TRAIN_VISUALS = VISUALS + ['idt_A', 'idt_B']
TINY = ['--ngf', '4', '--ndf', '4', '--n_blocks_enc', '1', '--n_blocks_T', '1', '--n_blocks_dec', '1',
        '--gpu_ids', '-1', '--num_threads', '0']


def page_images(page):
    """The image files an HTML page shows, resolved against its folder."""
    html = Path(page).read_text()
    return [Path(page).parent / src for src in re.findall(r'<img[^>]*src="([^"]+)"', html)]


class _PageParser(HTMLParser):
    """Collects the rows, img srcs, link hrefs and captions of a page, the column headers and
    row names of its image grid, its legends and the titles of its collapsible sections."""

    def __init__(self):
        super().__init__()
        self.rows, self.imgs, self.links, self.captions = 0, [], [], []
        self.columns, self.row_names, self.sections, self.legends = [], [], [], []
        self._stack = []  # open elements: [tag, class, own text]
        self._part = None  # thead or tbody

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr":
            self.rows += 1
        elif tag == "img":
            self.imgs.append(attrs["src"])
        elif tag == "a":
            self.links.append(attrs["href"])
        elif tag in ("thead", "tbody"):
            self._part = tag
        if tag not in ("img", "meta"):  # void elements have no end tag
            self._stack.append([tag, attrs.get("class"), ""])

    def handle_endtag(self, tag):
        while self._stack:
            open_tag, cls, text = self._stack.pop()
            if open_tag == tag:
                break
        text = text.strip()
        if tag == "th" and self._part == "thead" and text:
            self.columns.append(text)
        elif tag == "th" and self._part == "tbody":
            self.row_names.append(text)
        elif tag == "summary":
            self.sections.append(text)
        elif tag == "div" and cls == "caption":
            self.captions.append(text)
        elif tag == "span" and cls in ("low", "high"):
            self.legends.append(text)
        elif tag in ("thead", "tbody"):
            self._part = None

    def handle_data(self, data):
        if self._stack:
            self._stack[-1][2] += data


def parse_page(path):
    parser = _PageParser()
    with open(path, encoding="utf-8") as f:
        parser.feed(f.read())
    return parser


def make_domain(folder, colours):
    folder.mkdir(parents=True)
    for i, colour in enumerate(colours):
        img = Image.new('RGB', (32, 32), colour)
        for x in range(0, 32, 8):  # some structure to reconstruct, not just a flat colour
            img.paste((255 - colour[0], colour[1], 255 - colour[2]), (x, x, x + 4, x + 4))
        img.save(folder / f'{i}.png')
