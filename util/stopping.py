"""Stopping training on a signal without losing it: finish the iteration, save, say how to go on.

SIGTERM (a cluster's preemption or time limit, `kill`), SIGINT (Ctrl-C) and SIGUSR1 (SLURM's
`--signal`, before the time limit) only set a flag here: nothing is written from inside a signal
handler. The training loop asks `requested()` after each iteration, saves there with the usual
atomic save, prints `stopped_line(...)` and exits with EXIT_STOPPED. Signals that come while it
saves are only counted, so a second Ctrl-C neither interrupts the save nor hangs it.

Under torchrun every process asks at the same iteration, and `requested()` is true on all of them
when any one was signalled (one tiny all-reduce per iteration): they stop at the same iteration
and the save is written once, by rank 0.
"""
import os
import shlex
import signal
import sys

from util import distributed

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
# sysexits' EX_TEMPFAIL: not an error, the run stopped with a save; running it again with
# --continue_train goes on. Scripts and schedulers tell it from 0 (done) and errors (1, 2, 74).
EXIT_STOPPED = 75


class StopSignals:
    """`with StopSignals() as stop:` around a run; `stop.listen()` once training starts (before
    it, a signal stops the program as usual: there is nothing to save yet). Leaving the block
    gives the signals back their previous handlers, unless the program is ending: after a stop
    signal, or under torchrun with an error on its way out (the launcher sends SIGTERM to the
    processes still running as soon as one has ended). Then more signals are ignored, so that
    none cuts the ending short: the error's line, the lock's release (Python would put back the
    default handlers, which kill, while it shuts down)."""

    def __init__(self):
        self.received = []  # every stop signal received, in order
        self._previous = {}

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        ending = self.received or (exc_type is not None and distributed.launched())
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_IGN if ending else handler)
        self._previous = {}
        return False

    def listen(self):
        """From now on the stop signals set the flag."""
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._note)

    def _note(self, signum, frame):
        self.received.append(signum)  # nothing else: the loop acts on it at a safe point

    def requested(self):
        """Whether this process, or under torchrun any process, got a stop signal. Every process
        must ask at the same point (it is a collective)."""
        return distributed.any_process(bool(self.received))

    def stopped_line(self, label, folder, epoch, total_iters, args):
        """The line that ends a stopped run: what was saved and the command that goes on."""
        name = signal.Signals(self.received[0]).name if self.received else 'a stop signal on another process'
        return (f'stopped by {name} after iteration {total_iters} (epoch {epoch}): saved {label!r} in {folder}; '
                f'exit status {EXIT_STOPPED}; continue with: {resume_command(args)}')


def resume_command(args):
    """The command that continues this run: the same one (under torchrun the launcher's, as the
    system tells it) with --continue_train, and without --overwrite, which would start over.
    `args`: train.py's arguments when main() was called with them, None for sys.argv."""
    words = launcher_command() if distributed.launched() else None
    prefix = ''
    if words is None:
        prefix = 'torchrun [the same torchrun flags] ' if distributed.launched() else 'python '
        words = [sys.argv[0], *sys.argv[1:]] if args is None else ['train.py', *args]
    words = [str(w) for w in words if w != '--overwrite']
    if '--continue_train' not in words:
        words.append('--continue_train')
    return prefix + shlex.join(words)


def launcher_command():
    """The command line of the launcher that started this process (its parent), where Linux
    tells it (/proc); None elsewhere."""
    try:
        with open(f'/proc/{os.getppid()}/cmdline', 'rb') as f:
            words = [w.decode(errors='replace') for w in f.read().split(b'\0') if w]
    except OSError:
        return None
    return words or None
