"""Tests for util/: image conversion, heat-maps, the image pool, HTML pages and the visualizer
(loss log, training page, visdom failure handling, wandb offline, test-page images).
CPU only, no network; runs in a few seconds."""
import argparse
import glob
import os
import re
import socket
import time
from collections import OrderedDict

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import parse_page
from util import html, util
from util.image_pool import ImagePool
from util.result_page import save_images
from util.visualizer import Visualizer

LOSS_RE = re.compile(r"(\w+): (-?[\d.]+|nan|inf|-inf)")
HEADER_RE = re.compile(r"^\(epoch: (\d+), iters: (\d+), time: ([\d.]+), data: ([\d.]+)\) (.*)$")


# ----------------------------------------------------------------------------- helpers
def make_opt(tmp_path, **kw):
    opt = dict(name="run", checkpoints_dir=str(tmp_path / "ckpt"), display_id=0,
               display_server="http://localhost", display_port=8097, display_env="main",
               display_ncols=4, display_winsize=64, no_html=False, use_wandb=False,
               wandb_project="au-gan-test", isTrain=True, phase="train")
    opt.update(kw)
    return argparse.Namespace(**opt)


def closed_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nobody listens there now: connections are refused
    return port


def visuals(n=1, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return OrderedDict(
        real_A=torch.rand(n, 3, size, size, generator=g) * 2 - 1,
        fake_B=torch.rand(n, 3, size, size, generator=g) * 2 - 1,
        sigma_A=util.heatmap(torch.rand(n, 1, size, size, generator=g)),
    )


# ----------------------------------------------------------------------------- tensor2im
def test_tensor2im_batch_three_channels_and_extremes():
    t = torch.zeros(2, 3, 4, 5)
    t[0, :, 0, 0] = -1.0
    t[0, :, 0, 1] = 1.0
    t[0, :, 0, 2] = 5.0    # clamped to 1
    t[0, :, 0, 3] = -7.0   # clamped to -1
    t[1] = 1.0             # second image must be ignored
    im = util.tensor2im(t)
    assert im.shape == (4, 5, 3) and im.dtype == np.uint8
    assert (im[0, 0] == 0).all() and (im[0, 1] == 255).all()
    assert (im[0, 2] == 255).all() and (im[0, 3] == 0).all()
    assert (im[1:, :] == 128).all()  # 0 -> middle grey (127.5 rounded)


def test_tensor2im_single_image_and_one_channel():
    single = torch.linspace(-1, 1, 3 * 2 * 2).reshape(3, 2, 2)
    im = util.tensor2im(single)
    assert im.shape == (2, 2, 3) and im.min() == 0 and im.max() == 255

    gray = torch.tensor([[[[-1.0, 1.0], [0.0, 0.5]]]])  # (1,1,2,2)
    im = util.tensor2im(gray)
    assert im.shape == (2, 2, 3)
    assert (im[..., 0] == im[..., 1]).all() and (im[..., 1] == im[..., 2]).all()
    assert im[0, 0, 0] == 0 and im[0, 1, 0] == 255


def test_tensor2im_passes_numpy_through_and_handles_nan():
    arr = np.zeros((3, 3, 3), dtype=np.uint8)
    assert util.tensor2im(arr) is arr
    im = util.tensor2im(torch.full((1, 3, 2, 2), float("nan")))
    assert im.dtype == np.uint8 and (im == 128).all()


def test_tensor2im_rejects_bad_channel_count():
    with pytest.raises(ValueError):
        util.tensor2im(torch.zeros(1, 2, 4, 4))


# ----------------------------------------------------------------------------- heatmap
def _lut_index(colours):
    """Nearest colour-map index of each pixel of an (N,3,H,W) heat-map."""
    lut = util._colormap_lut("cpu")                       # (256, 3) in [0, 1]
    rgb = (colours + 1) / 2                               # back to [0, 1]
    flat = rgb.permute(0, 2, 3, 1).reshape(-1, 3)
    return torch.cdist(flat, lut).argmin(dim=1).reshape(colours.shape[0], *colours.shape[2:])


def test_heatmap_shape_range_dtype_and_no_grad():
    x = (torch.rand(2, 1, 8, 9) * 3).requires_grad_(True)
    out = util.heatmap(x)
    assert out.shape == (2, 3, 8, 9)
    assert out.dtype == torch.float32 and not out.requires_grad
    assert out.min() >= -1 and out.max() <= 1
    # double input works too and still gives float32
    assert util.heatmap(x.detach().double()).dtype == torch.float32


def test_heatmap_is_monotonic_along_the_colour_map():
    ramp = torch.linspace(0, 2.0, 50).reshape(1, 1, 1, 50)
    idx = _lut_index(util.heatmap(ramp))[0, 0]
    assert idx[0] == 0 and idx[-1] == 255          # zero -> first colour, max -> last colour
    assert (idx[1:] >= idx[:-1]).all()              # larger sigma -> later in the map
    assert idx[25] > idx[10]


def test_heatmap_normalises_per_image_and_honours_vmax():
    base = torch.rand(1, 1, 6, 6) + 0.1
    both = torch.cat([base, base * 10])            # same pattern, 10x scale
    out = util.heatmap(both)
    assert torch.allclose(out[0], out[1])           # per-image max normalisation

    fixed = util.heatmap(both, vmax=both.max().item())
    idx = _lut_index(fixed)
    assert idx[0].max() < idx[1].max()              # with a shared vmax the small one is darker
    assert idx[1].max() == 255


def test_heatmap_zeros_give_no_nan():
    out = util.heatmap(torch.zeros(2, 1, 4, 4))
    assert torch.isfinite(out).all()
    assert (_lut_index(out) == 0).all()
    assert torch.isfinite(util.heatmap(torch.zeros(1, 1, 4, 4), vmax=0.0)).all()
    nan_in = torch.full((1, 1, 2, 2), float("nan"))
    assert torch.isfinite(util.heatmap(nan_in)).all()


# ----------------------------------------------------------------------------- save_image / mkdirs
def test_save_image_creates_folders_and_applies_aspect_ratio(tmp_path):
    im = np.random.randint(0, 256, (10, 20, 3), dtype=np.uint8)
    p = tmp_path / "a" / "b" / "x.png"
    util.save_image(im, str(p))
    assert np.array_equal(np.asarray(Image.open(p)), im)   # PNG is lossless
    util.save_image(im, str(tmp_path / "wide.png"), aspect_ratio=2.0)
    assert Image.open(tmp_path / "wide.png").size == (40, 10)   # PIL size is (w, h)
    util.save_image(im, str(tmp_path / "tall.jpg"), aspect_ratio=0.5)
    assert Image.open(tmp_path / "tall.jpg").size == (20, 20)
    util.mkdirs([str(tmp_path / "m1"), str(tmp_path / "m2" / "deep")])
    util.mkdirs(str(tmp_path / "m3"))
    util.mkdir(str(tmp_path / "m3"))  # exists already: fine
    assert all((tmp_path / d).is_dir() for d in ("m1", "m2/deep", "m3"))


# ----------------------------------------------------------------------------- ImagePool
def test_pool_size_zero_is_passthrough():
    pool = ImagePool(0)
    x = torch.randn(3, 3, 4, 4)
    assert pool.query(x) is x


def test_pool_fills_then_mixes():
    pool = ImagePool(4, seed=123)
    first = torch.arange(4.0).reshape(4, 1, 1, 1).expand(4, 3, 2, 2).contiguous()
    out = pool.query(first)
    assert torch.equal(out, first) and len(pool) == 4     # while filling: the images themselves

    seen_old, seen_new = 0, 0
    for step in range(50):
        new = torch.full((2, 3, 2, 2), 100.0 + step, requires_grad=True)
        out = pool.query(new)
        assert out.shape == new.shape and not out.requires_grad
        for img in out:
            if img[0, 0, 0].item() == 100.0 + step:
                seen_new += 1
            else:
                seen_old += 1
                assert img[0, 0, 0].item() < 100.0 + step  # only ever an older image
        assert len(pool) == 4
    # p = 0.5 each: both outcomes must happen often in 100 draws
    assert seen_old > 20 and seen_new > 20


def test_pool_default_seed_follows_the_global_seed():
    def choices():
        torch.manual_seed(42)
        a, b = ImagePool(3), ImagePool(3)
        outs = []
        for step in range(20):
            x = torch.full((2, 1, 1, 1), float(step))
            outs.append((a.query(x).flatten().tolist(), b.query(x).flatten().tolist()))
        return outs

    first, second = choices(), choices()
    assert first == second                                   # same seed, same choices
    assert [o[0] for o in first] != [o[1] for o in first]    # the two pools differ


def test_pool_stores_detached_clones():
    pool = ImagePool(2, seed=0)
    x = torch.zeros(1, 3, 2, 2)
    pool.query(x)
    x.fill_(9.0)  # changing the caller's tensor must not change the history
    assert pool.images[0].abs().sum() == 0


def test_pool_state_dict_round_trip_continues_identically():
    torch.manual_seed(0)
    a = ImagePool(5, seed=7)
    for _ in range(4):
        a.query(torch.randn(2, 3, 4, 4))
    state = a.state_dict()
    assert state["num_imgs"] == 5 and len(state["images"]) == 5
    assert all(im.device.type == "cpu" for im in state["images"])
    snapshot = [im.clone() for im in state["images"]]

    b = ImagePool(5, seed=999)           # different seed: the state must override it
    b.load_state_dict(state)
    assert len(b) == 5
    for _ in range(10):
        x = torch.randn(3, 3, 4, 4)
        assert torch.equal(a.query(x), b.query(x))
    # the saved state is a copy: later queries do not change it
    assert all(torch.equal(x, y) for x, y in zip(snapshot, state["images"]))


# ----------------------------------------------------------------------------- HTML
def test_html_page_rows_images_and_atomic_save(tmp_path):
    web = tmp_path / "web"
    page = html.HTML(str(web), "my title", refresh=5)
    img_dir = page.get_image_dir()
    assert os.path.isdir(img_dir)
    for r in range(3):
        names = [f"r{r}_{c}.png" for c in range(2)]
        for n in names:
            util.save_image(np.zeros((4, 4, 3), np.uint8), os.path.join(img_dir, n))
        page.add_header(f"row {r}")
        page.add_images(names, ["real", "fake"], names, width=128)
    page.add_text("--lr 0.0002\n--name x")
    page.save()

    index = web / "index.html"
    text = index.read_text()
    parsed = parse_page(index)
    assert parsed.rows == 3
    assert len(parsed.imgs) == 6
    for src in parsed.imgs + parsed.links:
        assert (web / src).is_file(), src
    assert parsed.captions.count("real") == 3
    assert "my title" in text and 'loading="lazy"' in text and "refresh" in text
    assert "--lr 0.0002" in text
    assert [p for p in os.listdir(web) if p.endswith(".tmp")] == []  # no temp file left


def test_html_add_images_checks_lengths(tmp_path):
    page = html.HTML(str(tmp_path / "w"), "t")
    with pytest.raises(ValueError):
        page.add_images(["a.png"], ["a", "b"], ["a.png"])


# ----------------------------------------------------------------------------- Visualizer
def test_print_current_losses_format(tmp_path, capsys):
    vis = Visualizer(make_opt(tmp_path))
    losses = OrderedDict(G_A=0.5123, D_A=torch.tensor(0.25), cycle_A=1.2341,
                         bad=float("nan"), big=float("inf"), neg=-float("inf"), m=-0.5)
    vis.print_current_losses(1, 40, losses, 0.1234, 0.0041)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    line = out[0]
    assert line.startswith("(epoch: 1, iters: 40, time: 0.123, data: 0.004) G_A: 0.512 D_A: 0.250 cycle_A: 1.234")

    log = (tmp_path / "ckpt" / "run" / "loss_log.txt").read_text().splitlines()
    assert re.match(r"^================ Training Loss \(.+\) ================$", log[0])
    assert log[-1] == line
    m = HEADER_RE.match(line)
    assert m and m.group(1) == "1" and m.group(2) == "40"
    parsed = dict(LOSS_RE.findall(line[line.index(")") + 1:]))
    assert parsed == {"G_A": "0.512", "D_A": "0.250", "cycle_A": "1.234", "bad": "nan",
                      "big": "inf", "neg": "-inf", "m": "-0.500"}


def test_display_current_results_writes_page_newest_first(tmp_path):
    opt = make_opt(tmp_path)
    vis = Visualizer(opt)
    (tmp_path / "ckpt" / "run" / "train_opt.txt").write_text("                  lr: 0.0002\n")
    vis.plot_current_losses(1, 0.5, {"G_A": 1.0, "D_A": 0.5}, 10)
    vis.plot_current_losses(2, 0.5, {"G_A": 0.8, "D_A": 0.4, "idt_A": 0.1}, 20)  # new loss mid-run
    vis.save_loss_plot()
    assert (tmp_path / "ckpt" / "run" / "loss_plot.png").is_file()

    for epoch in (1, 2, 3):
        vis.display_current_results(visuals(seed=epoch), epoch, epoch * 10, save_result=True)
    vis.display_current_results(visuals(), 4, 40, save_result=False)  # not saved to the page

    web = tmp_path / "ckpt" / "run" / "web"
    for epoch in (1, 2, 3):
        for name in ("real_A", "fake_B", "sigma_A"):
            f = web / "images" / f"epoch{epoch:03d}_{name}.png"
            assert f.is_file()
            assert Image.open(f).size == (16, 16)
    assert not (web / "images" / "epoch004_real_A.png").exists()

    text = (web / "index.html").read_text()
    parsed = parse_page(web / "index.html")
    assert parsed.rows == 1 + 1 + 3                  # the loss plot, the grid's header, 3 epochs
    assert parsed.columns == ["real_A", "fake_B", "sigma_A"]
    assert parsed.row_names == ["epoch 3", "epoch 2", "epoch 1"]
    assert parsed.sections == ["train options (train_opt.txt)"] and "lr: 0.0002" in text
    assert len(parsed.imgs) == 1 + 3 * 3
    for src in parsed.imgs + parsed.links:
        assert os.path.isfile(os.path.normpath(web / src)), src


def test_page_keeps_the_rows_of_earlier_sessions_and_their_extra_visuals(tmp_path):
    vis = Visualizer(make_opt(tmp_path))
    vis.display_current_results(visuals(), 1, 10, save_result=True)
    later = visuals()
    del later["sigma_A"]  # e.g. resumed with --uncertainty none
    vis = Visualizer(make_opt(tmp_path, continue_train=True))
    vis.display_current_results(later, 2, 20, save_result=True)
    parsed = parse_page(tmp_path / "ckpt" / "run" / "web" / "index.html")
    assert parsed.row_names == ["epoch 2", "epoch 1"]
    assert parsed.columns == ["real_A", "fake_B", "sigma_A"]   # a column only epoch 1 had comes last
    assert len(parsed.imgs) == 2 + 3


def test_no_html_writes_no_page(tmp_path):
    vis = Visualizer(make_opt(tmp_path, no_html=True))
    vis.display_current_results(visuals(), 1, 1, save_result=True)
    assert not (tmp_path / "ckpt" / "run" / "web" / "index.html").exists()


def test_visdom_unreachable_prints_one_line_and_continues(tmp_path, capsys):
    port = closed_port()
    start = time.monotonic()
    vis = Visualizer(make_opt(tmp_path, display_id=1, display_port=port,
                              display_server="http://127.0.0.1"))
    vis.display_current_results(visuals(), 1, 1, save_result=True)
    vis.plot_current_losses(1, 0.1, {"G_A": 1.0}, 1)
    vis.print_current_losses(1, 1, {"G_A": 1.0}, 0.0, 0.0)
    assert time.monotonic() - start < 10
    assert vis.vis is None
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "visdom" in ln]
    assert len(lines) == 1
    assert "not reachable" in lines[0] and str(port) in lines[0] and "visdom.server" in lines[0]
    assert (tmp_path / "ckpt" / "run" / "web" / "index.html").is_file()


def test_visdom_server_that_never_answers_does_not_hang(tmp_path, capsys):
    # Accepts connections (kernel backlog) but never replies to a request.
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]
    try:
        start = time.monotonic()
        vis = Visualizer(make_opt(tmp_path, display_id=1, display_port=port,
                                  display_server="http://127.0.0.1"))
        assert time.monotonic() - start < 10
        assert vis.vis is None
        lines = [ln for ln in capsys.readouterr().out.splitlines() if "visdom" in ln]
        assert len(lines) == 1 and "not reachable" in lines[0]
    finally:
        srv.close()


class _FakeVisdom:
    """Stands in for visdom.Visdom: records calls, checks the shapes visdom would need."""
    instances = []

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.calls = []
        self.fail = False
        _FakeVisdom.instances.append(self)

    def check_connection(self, timeout_seconds=0):
        return True

    def images(self, tensor, nrow=8, padding=2, win=None, env=None, opts=None):
        if self.fail:
            raise ConnectionError("Error connecting to Visdom server")
        assert tensor.ndim == 4 and tensor.shape[1] == 3 and 0 <= tensor.min() and tensor.max() <= 1
        self.calls.append(("images", tensor.shape, win))

    def line(self, Y, X=None, win=None, env=None, opts=None, update=None, name=None):
        assert X.shape == Y.shape
        assert len(opts["legend"]) == (1 if Y.ndim == 1 else Y.shape[1])
        assert not np.isinf(Y).any()  # visdom's JSON would break the browser's plot
        self.calls.append(("line", Y.shape, win))
        self.last_line = (X, Y)


def test_visdom_calls_and_failure_mid_run(tmp_path, monkeypatch, capsys):
    visdom = pytest.importorskip("visdom")
    monkeypatch.setattr(visdom, "Visdom", _FakeVisdom)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # so the TCP probe succeeds
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    try:
        vis = Visualizer(make_opt(tmp_path, display_id=2, display_port=srv.getsockname()[1],
                                  display_server="127.0.0.1"))
    finally:
        srv.close()
    fake = vis.vis
    assert fake is not None and fake.kwargs["raise_exceptions"] is True
    vis.display_current_results(visuals(), 1, 1, save_result=False)
    vis.plot_current_losses(1, 0.1, {"G_A": 1.0}, 1)
    vis.plot_current_losses(1, 0.2, {"G_A": 0.9, "D_A": float("inf")}, 2)
    kinds = [(c[0], tuple(c[1]), c[2]) for c in fake.calls]
    assert kinds[0] == ("images", (3, 3, 16, 16), "2_images")
    assert kinds[1] == ("line", (1,), "2_losses")
    assert kinds[2] == ("line", (2, 2), "2_losses")      # whole history, same window
    X, Y = fake.last_line
    assert X[:, 0].tolist() == [1, 2] and Y[0, 0] == 1.0 and np.isnan(Y[:, 1]).all()  # inf: a gap

    fake.fail = True
    vis.display_current_results(visuals(), 1, 3, save_result=False)  # must not raise
    assert vis.vis is None
    vis.plot_current_losses(1, 0.3, {"G_A": 0.8}, 3)                  # visdom off now: fine
    assert sum("visdom" in ln for ln in capsys.readouterr().out.splitlines()) == 1


def test_continue_train_reloads_the_loss_history_from_the_log(tmp_path):
    vis = Visualizer(make_opt(tmp_path))
    for it in (10, 20, 30):
        losses = {"G_A": it / 10, "D_A": float("nan") if it == 20 else 0.5}
        vis.print_current_losses(1, it, losses, 0.1, 0.0)
        vis.plot_current_losses(1, it / 30, losses, it)
    resumed = Visualizer(make_opt(tmp_path, continue_train=True))
    assert resumed.plot_x == [10, 20, 30] and resumed.plot_y["G_A"] == [1.0, 2.0, 3.0]
    assert np.isnan(resumed.plot_y["D_A"][1])
    resumed.plot_current_losses(1, 0.7, {"G_A": 2.5, "D_A": 0.4}, 25)  # resumed from an older checkpoint
    assert resumed.plot_x == [10, 20, 25] and resumed.plot_y["G_A"] == [1.0, 2.0, 2.5]
    assert Visualizer(make_opt(tmp_path)).plot_x == []  # a fresh run starts a fresh plot


def test_display_start_server_only_for_this_machine(tmp_path, capsys):
    vis = Visualizer(make_opt(tmp_path, display_id=1, display_port=closed_port(), display_start_server=True,
                              display_server="http://example.invalid"))
    assert vis.vis is None and vis._visdom_server is None
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "visdom" in ln]
    assert len(lines) == 1 and "this machine only" in lines[0]


def test_wandb_offline_run(tmp_path, monkeypatch, capsys):
    wandb = pytest.importorskip("wandb")
    for var, sub in (("WANDB_DIR", ""), ("WANDB_CONFIG_DIR", "wb_config"),
                     ("WANDB_CACHE_DIR", "wb_cache"), ("WANDB_DATA_DIR", "wb_data")):
        path = tmp_path / sub
        path.mkdir(exist_ok=True)
        monkeypatch.setenv(var, str(path))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    assert wandb.run is None

    vis = Visualizer(make_opt(tmp_path, use_wandb=True))
    assert vis.wandb is not None and wandb.run is not None
    run_id = wandb.run.id
    assert wandb.run.config["wandb_project"] == "au-gan-test"   # the options are the config
    vis.plot_current_losses(1, 0.5, {"G_A": 0.5, "D_A": 0.25}, 5)
    vis.display_current_results(visuals(), 1, 5, save_result=True)
    vis.plot_current_losses(1, 1.0, {"G_A": 0.4, "D_A": 0.2}, 10)
    vis.close()
    assert wandb.run is None
    id_file = tmp_path / "ckpt" / "run" / "wandb_id.txt"
    assert id_file.read_text().strip() == run_id

    out = capsys.readouterr().out
    assert "wandb could not start" not in out and "wandb logging failed" not in out
    runs = glob.glob(str(tmp_path / "wandb" / "offline-run-*" / "run-*.wandb"))
    assert len(runs) == 1 and os.path.getsize(runs[0]) > 0
    assert glob.glob(str(tmp_path / "wandb" / "offline-run-*" / "files" / "media" / "table" / "results_*.json"))

    resumed = Visualizer(make_opt(tmp_path, use_wandb=True, continue_train=True))
    assert wandb.run.id == run_id
    resumed.close()
    fresh = Visualizer(make_opt(tmp_path, use_wandb=True))   # not --continue_train: a new run
    assert wandb.run.id != run_id and id_file.read_text().strip() == wandb.run.id
    fresh.close()


def test_wandb_reuses_existing_run_and_leaves_it_open(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = wandb.init(project="outer", name="outer")
    try:
        vis = Visualizer(make_opt(tmp_path, use_wandb=True))
        vis.plot_current_losses(1, 0.1, {"G_A": 1.0}, 1)
        vis.close()
        assert wandb.run is run  # not ours to finish
    finally:
        wandb.finish()


# ----------------------------------------------------------------------------- save_images (test.py)
def test_save_images_same_basename_gets_distinct_rows_and_files(tmp_path):
    web = tmp_path / "results"
    page = html.HTML(str(web), "test results")
    v = OrderedDict(real=torch.zeros(1, 3, 24, 32), fake=torch.ones(1, 3, 24, 32))
    save_images(page, v, ["/data/a/img.jpg"], width=64)
    save_images(page, v, ["/data/b/img.jpg"], width=64, captions={"fake": "max σ = 0.5"})
    save_images(page, v, "/data/c/other.png", aspect_ratio=2.0, width=64)
    page.save()

    files = sorted(os.listdir(page.get_image_dir()))
    assert files == ["img_1_fake.png", "img_1_real.png", "img_fake.png", "img_real.png",
                     "other_fake.png", "other_real.png"]
    assert Image.open(os.path.join(page.get_image_dir(), "img_real.png")).size == (32, 24)  # full size
    assert Image.open(os.path.join(page.get_image_dir(), "other_real.png")).size == (64, 24)
    parsed = parse_page(web / "index.html")
    assert parsed.row_names == ["img", "img_1", "other"] and parsed.columns == ["real", "fake"]
    assert len(parsed.imgs) == 6 and parsed.captions == ["max σ = 0.5"]
    for src in parsed.imgs + parsed.links:
        assert (web / src).is_file()


def test_html_grid_columns_legend_and_options(tmp_path):
    page = html.HTML(str(tmp_path / "w"), "grid")
    page.add_options("  name: run\n  lr: 0.0002", "test options (test_opt.txt)")
    page.add_legend("sigma", "0", "max σ")              # before its column exists
    page.add_row("a", {"real": "a_real.png", "sigma": "a_sigma.png"}, {"sigma": "max σ = 1.2"})
    page.add_row("b", {"real": "b_real.png", "fake": "b_fake.png"})   # no sigma, a new column
    page.add_legend("fake", "0", "1")                   # after its column exists
    page.save()
    text = (tmp_path / "w" / "index.html").read_text()
    parsed = parse_page(tmp_path / "w" / "index.html")
    assert parsed.columns == ["real", "sigma", "fake"] and parsed.row_names == ["a", "b"]
    assert parsed.sections == ["test options (test_opt.txt)"] and "lr: 0.0002" in text
    assert parsed.legends == ["0", "max σ", "0", "1"] and parsed.captions == ["max σ = 1.2"]
    assert parsed.imgs == ["images/a_real.png", "images/a_sigma.png", "images/b_real.png", "images/b_fake.png"]
    assert parsed.links == parsed.imgs                  # every image links to its full-size file
    # row b has an empty cell under sigma, so fake stays in its own column
    assert re.search(r"b_real.png.*?</td>\s*<td></td>\s*<td>.*?b_fake.png", text, re.S)


def test_heatmap_css_gradient_runs_from_the_darkest_to_the_brightest_colour():
    stops = re.findall(r"#[0-9a-f]{6}", util.heatmap_css_gradient(stops=5))
    assert len(stops) == 5
    ends = util.tensor2im(util.heatmap(torch.tensor([[[[0.0, 1.0]]]])))[0]   # the colours of 0 and max
    assert stops[0] == "#%02x%02x%02x" % tuple(ends[0]) and stops[-1] == "#%02x%02x%02x" % tuple(ends[1])
