"""The training page and the test results page, opened in headless Chromium (selenium): every
image loads, the grid has one row per epoch / test image under the visual names, the uncertainty
column has its colour-bar legend and per-image max sigma, the options open from their collapsed
sections. Screenshots are kept in test_artifacts/. Skipped when Chromium or chromedriver is
missing (CI installs them, see .ci/run). CPU only, no network; about a minute."""
import base64
import re
import shutil

import pytest

from conftest import REPO, SHARED_DATA, TINY, TRAIN_VISUALS, VISUALS, run_cli

ARTIFACTS = REPO / 'test_artifacts'
# Without these, Chromium in a closed network hangs on connections it tries at start.
CHROMIUM_FLAGS = ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync',
                  '--window-size=1400,900')
N_TEST = 3


@pytest.fixture(scope='module')
def browser(tmp_path_factory):
    webdriver = pytest.importorskip('selenium.webdriver')
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')
    driver = shutil.which('chromedriver')
    if not (binary and driver):
        pytest.skip('headless Chromium and chromedriver are needed (apt-get install chromium chromium-driver)')
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f'--user-data-dir={tmp_path_factory.mktemp("chromium-profile")}')
    # Both paths given, so selenium does not look for (or download) a driver itself.
    chrome = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    chrome.set_page_load_timeout(60)
    chrome.set_script_timeout(60)
    yield chrome
    chrome.quit()


@pytest.fixture(scope='module')
def pages(tmp_path_factory):
    """Train two tiny epochs and test N_TEST images: (training page, results page)."""
    if not (SHARED_DATA / 'trainA').is_dir():
        pytest.skip(f'the real day/night set is not at {SHARED_DATA}')
    tmp = tmp_path_factory.mktemp('pages')
    common = ['--dataroot', SHARED_DATA, '--name', 'pages', '--checkpoints_dir', tmp / 'ckpt', *TINY]
    run_cli('train.py', *common, '--load_size', '40', '--crop_size', '32', '--max_dataset_size', '2',
            '--n_epochs', '1', '--n_epochs_decay', '1', '--print_freq', '1', '--display_freq', '1')
    run_cli('test.py', *common, '--results_dir', tmp / 'results', '--preprocess', 'scale_height',
            '--load_size', '48', '--num_test', N_TEST)
    return tmp / 'ckpt' / 'pages' / 'web' / 'index.html', tmp / 'results' / 'pages' / 'test_latest' / 'index.html'


def open_page(chrome, page, screenshot):
    """Load `page`, make every (lazy) image load, save a screenshot of the whole page; return
    the images that did not load."""
    chrome.get(page.as_uri())
    broken = chrome.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const imgs = [...document.images];
        imgs.forEach(img => { img.loading = 'eager'; });
        Promise.all(imgs.map(img => img.decode().catch(() => null))).then(
            () => done(imgs.filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.src)));
    """)
    size = chrome.execute_cdp_cmd('Page.getLayoutMetrics', {})['cssContentSize']
    shot = chrome.execute_cdp_cmd('Page.captureScreenshot', {
        'format': 'png', 'captureBeyondViewport': True,
        'clip': {'x': 0, 'y': 0, 'width': size['width'], 'height': size['height'], 'scale': 1}})
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / screenshot).write_bytes(base64.b64decode(shot['data']))
    return broken


def grid(chrome):
    """(column headers, [(row name, cells)]) of the page's image grid; a cell is a dict with
    its images' natural widths, link targets and caption."""
    return chrome.execute_script("""
        const table = document.querySelector('table.grid');
        const columns = [...table.tHead.rows[0].cells].slice(1).map(th => th.firstChild.textContent.trim());
        const rows = [...table.tBodies[0].rows].map(tr => [tr.cells[0].textContent.trim(), [...tr.cells].slice(1).map(td => ({
            widths: [...td.querySelectorAll('img')].map(img => img.naturalWidth),
            srcs: [...td.querySelectorAll('img')].map(img => img.src),
            links: [...td.querySelectorAll('a')].map(a => a.href),
            caption: ((td.querySelector('.caption') || {}).textContent || '').trim()}))]);
        return [columns, rows];
    """)


def check_options(chrome, titles, expected_text):
    sections = chrome.find_elements('css selector', 'details.options')
    assert [s.find_element('tag name', 'summary').text for s in sections] == titles
    body = sections[0].find_element('tag name', 'pre')
    assert not body.is_displayed()                      # collapsed until clicked
    sections[0].find_element('tag name', 'summary').click()
    assert body.is_displayed() and expected_text in body.text


def test_results_page_in_a_browser(browser, pages):
    _, page = pages
    assert open_page(browser, page, 'results_page.png') == []
    columns, rows = grid(browser)
    assert columns == VISUALS
    assert len(rows) == N_TEST and len({name for name, _ in rows}) == N_TEST
    for name, cells in rows:
        assert len(cells) == len(VISUALS)
        for column, cell in zip(columns, cells):
            assert len(cell['widths']) == 1 and cell['widths'][0] > 0, (name, column)
            assert cell['links'] == cell['srcs'] and cell['srcs'][0].endswith(f'/{name}_{column}.png')
        caption = cells[columns.index('uncertainty_A')]['caption']
        assert re.fullmatch(r'max σ = \d\S*', caption), caption
    legend = browser.find_element('css selector', 'table.grid thead th:nth-child(%d) .legend'
                                  % (columns.index('uncertainty_A') + 2))
    assert legend.find_element('css selector', '.low').text == '0'
    assert legend.find_element('css selector', '.high').text == 'max σ'
    bar = legend.find_element('css selector', '.bar')
    assert 'linear-gradient' in bar.value_of_css_property('background-image') and bar.size['width'] > 50
    check_options(browser, ['test options (test_opt.txt)', 'train options (train_opt.txt)'], 'num_test: 3')


def test_training_page_in_a_browser(browser, pages):
    page, _ = pages
    assert open_page(browser, page, 'training_page.png') == []
    plot = browser.find_element('css selector', 'table.images img')
    assert plot.get_attribute('src').endswith('/loss_plot.png') and int(plot.get_attribute('naturalWidth')) > 0
    columns, rows = grid(browser)
    assert columns == TRAIN_VISUALS
    assert [name for name, _ in rows] == ['epoch 2', 'epoch 1']
    for name, cells in rows:
        assert all(len(c['widths']) == 1 and c['widths'][0] > 0 for c in cells), name
    check_options(browser, ['train options (train_opt.txt)'], 'n_epochs_decay: 1')
