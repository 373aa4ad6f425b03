"""Tests for util/reporting/, the training reporter: the fan-out hands every event to every sink
(a failing sink does not keep it from the others), the sinks work from plain arguments, and
from_options picks the sinks the flags ask for. In-process, no network, a second or two.
(The sinks' output itself, page, log, visdom and wandb, is tested through Visualizer in
test_util.py and end to end in test_watching.py.)"""
import argparse
import socket
import sys
from collections import OrderedDict

import numpy as np
import pytest
import torch

from util import reporting
from util.reporting import (LossHistory, LossLogFile, LossPlot, Reporter, Sink, TrainingPage, VisdomDisplay,
                            WandbRun)


class Recorder(Sink):
    """Records the events it gets; raises on those named in `fail`."""

    def __init__(self, log, name, fail=()):
        self.log, self.name, self.fail = log, name, set(fail)

    def _got(self, event, *args):
        self.log.append((self.name, event, args))
        if event in self.fail:
            raise RuntimeError(f'{self.name} broke on {event}')

    def print_losses(self, *args):
        self._got('print_losses', *args)

    def plot_losses(self, *args):
        self._got('plot_losses', *args)

    def show_visuals(self, *args):
        self._got('show_visuals', *args)

    def save_plot(self):
        self._got('save_plot')

    def close(self):
        self._got('close')


def make_opt(tmp_path, **kw):
    opt = dict(name='run', checkpoints_dir=str(tmp_path / 'ckpt'), display_id=0, display_server='http://localhost',
               display_port=8097, display_env='main', display_ncols=4, display_winsize=64, no_html=False,
               use_wandb=False, wandb_project='au-gan-test', isTrain=True, phase='train', continue_train=False,
               display_start_server=False)
    opt.update(kw)
    return argparse.Namespace(**opt)


def test_every_event_reaches_every_sink_in_order_with_values_converted_once():
    log = []
    reporter = Reporter([Recorder(log, 'a'), Recorder(log, 'b')])
    reporter.print_current_losses(1, 10, OrderedDict(G=torch.tensor(0.5), D=torch.tensor([1.0, 3.0])), 0.1, 0.0)
    reporter.plot_current_losses(1, 0.5, {'G': 0.5}, 10)
    visuals = OrderedDict(real=torch.zeros(2, 3, 4, 4), none=None, fake=torch.ones(1, 1, 4, 4))
    reporter.display_current_results(visuals, 1, 10, True)
    reporter.save_loss_plot()
    reporter.close()

    events = ['print_losses', 'plot_losses', 'show_visuals', 'save_plot', 'close']
    assert [(name, event) for name, event, _ in log] == [(n, e) for e in events for n in 'ab']
    _, _, (epoch, iters, losses, _, _) = log[0]
    assert (epoch, iters) == (1, 10) and losses == {'G': 0.5, 'D': 2.0}       # a tensor's mean
    assert all(type(v) is float for v in losses.values())
    _, _, (images, epoch, total_iters, save_result) = log[4]
    assert list(images) == ['real', 'fake']                                     # None left out
    assert all(im.dtype == np.uint8 and im.shape == (4, 4, 3) for im in images.values())
    assert log[4][2][0] is log[5][2][0]                                         # converted once for all


def test_a_failing_sink_does_not_keep_the_event_from_the_others(tmp_path):
    log = []
    reporter = Reporter([Recorder(log, 'a', fail={'plot_losses', 'close'}), Recorder(log, 'b'),
                         Recorder(log, 'c', fail={'close'})])
    with pytest.raises(RuntimeError, match='a broke on plot_losses'):   # not hidden
        reporter.plot_current_losses(1, 0.1, {'G': 1.0}, 1)
    assert [name for name, event, _ in log if event == 'plot_losses'] == ['a', 'b', 'c']
    with pytest.raises(RuntimeError, match='a broke on close'):         # the first error
        reporter.close()
    assert [name for name, event, _ in log if event == 'close'] == ['a', 'b', 'c']


def test_a_reporter_without_sinks_does_nothing():
    reporter = Reporter([])
    reporter.print_current_losses(1, 1, {'G': object()}, 0, 0)          # not even converted
    reporter.plot_current_losses(1, 0.1, {'G': object()}, 1)
    reporter.display_current_results({'x': object()}, 1, 1, True)
    reporter.save_loss_plot()
    reporter.close()


def test_from_options_picks_the_sinks_the_flags_ask_for(tmp_path):
    def kinds(opt):
        return [type(s) for s in reporting.sinks_from_options(opt)]
    assert kinds(make_opt(tmp_path)) == [LossHistory, LossLogFile, LossPlot, TrainingPage]
    assert kinds(make_opt(tmp_path, no_html=True)) == [LossHistory, LossLogFile, LossPlot]
    sinks = reporting.sinks_from_options(make_opt(tmp_path))
    assert sinks[2].history is sinks[0]                  # the plot draws the history the reporter fills
    assert isinstance(reporting.from_options(make_opt(tmp_path)), Reporter)


def test_missing_wandb_prints_one_line_and_the_other_sinks_go_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, 'wandb', None)      # `import wandb` fails as if not installed
    reporter = reporting.from_options(make_opt(tmp_path, use_wandb=True))
    assert [type(s) for s in reporter.sinks][-2:] == [WandbRun, TrainingPage]
    out = capsys.readouterr().out
    assert out.count('wandb could not start') == 1 and 'continuing without it' in out
    reporter.print_current_losses(1, 1, {'G': 1.0}, 0.0, 0.0)
    reporter.plot_current_losses(1, 0.5, {'G': 1.0}, 1)
    reporter.save_loss_plot()
    reporter.display_current_results({'real': torch.zeros(1, 3, 8, 8)}, 1, 1, True)
    reporter.close()
    run = tmp_path / 'ckpt' / 'run'
    assert (run / 'loss_log.txt').read_text().splitlines()[-1].startswith('(epoch: 1, iters: 1,')
    assert (run / 'loss_plot.png').is_file() and (run / 'web' / 'index.html').is_file()
    assert 'wandb' not in capsys.readouterr().out        # no more lines about it


def test_unreachable_visdom_sink_is_off_and_quiet_after_one_line(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]                         # closed once the block ends
    sink = VisdomDisplay('127.0.0.1', port, 'main', 1, 'run', 4, LossHistory())
    assert sink.client is None and sink.server is None
    assert capsys.readouterr().out.count('not reachable') == 1
    sink.plot_losses(1, 0.1, {'G': 1.0}, 1)
    sink.show_visuals({'x': np.zeros((4, 4, 3), np.uint8)}, 1, 1, False)
    sink.close()
    assert capsys.readouterr().out == ''


def test_the_file_sinks_work_from_plain_arguments(tmp_path, capsys):
    run = tmp_path / 'somewhere'
    history = LossHistory()
    log, plot = LossLogFile(str(run / 'losses.txt')), LossPlot(str(run / 'curves.png'), 'exp', history)
    page = TrainingPage(str(run / 'page'), 'exp', str(run), 'train', str(run / 'curves.png'), 64)
    reporter = Reporter([history, log, plot, page])
    for it in (1, 2):
        reporter.print_current_losses(1, it, {'G': 1.0 / it}, 0.0, 0.0)
        reporter.plot_current_losses(1, it / 2, {'G': 1.0 / it}, it)
    reporter.save_loss_plot()
    reporter.display_current_results({'real': torch.zeros(1, 3, 8, 8)}, 1, 2, True)
    assert history.x == [1, 2] and history.y == {'G': [1.0, 0.5]}
    assert capsys.readouterr().out.splitlines()[-1].startswith('(epoch: 1, iters: 2,')
    assert (run / 'curves.png').is_file() and (run / 'page' / 'images' / 'epoch001_real.png').is_file()
    assert 'curves.png' in (run / 'page' / 'index.html').read_text()
    assert LossHistory.from_log(str(run / 'losses.txt')).x == [1, 2]    # what a resumed run redraws
