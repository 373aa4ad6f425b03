"""Errors meant for the person running a command, not for a debugger.

Anything the user can fix (a wrong path, an unreadable image, a checkpoint that does not fit the
options) raises `UserError` with one line that names the culprit and the fix. The entry points
(`train.py`, `test.py`, scripts) catch it via `exit_on_user_error` and print that line alone, with
the error's exit status (2; a full disk's is 74, util/atomic.py).
"""
import functools
import signal
import sys
import threading


class UserError(Exception):
    """An error with a one-line, user-facing message. `exit_status` is the program's exit status
    when it ends with this error (2; a subclass may choose another, documented in docs/training.md)."""

    exit_status = 2

    def __init__(self, message):
        super().__init__(_one_line(str(message)))


def _one_line(message):
    # A DataLoader worker re-raises our error in the main process with the worker's whole
    # traceback as the message; the user only needs the original last line.
    if "Original Traceback" in message:
        last = [ln for ln in message.strip().splitlines() if ln.strip()][-1]
        prefix = "UserError: "
        message = last[last.index(prefix) + len(prefix):] if prefix in last else last
    return " ".join(message.split())


def exit_on_user_error(main):
    """Decorator for entry points: a UserError ends the program with its line and its exit status (2)."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        if threading.current_thread() is threading.main_thread():
            # Over the file-size limit (ulimit -f) a write then fails with EFBIG, which the writers
            # report in one line (util/atomic.py), instead of SIGXFSZ killing the program mid-write.
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        try:
            return main(*args, **kwargs)
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(e.exit_status)

    return wrapper
