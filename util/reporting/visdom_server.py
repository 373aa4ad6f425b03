"""A visdom server started for a training run (--display_start_server), and stopped with it.

Not `python -m visdom.server`, which first downloads the JavaScript of visdom's browser UI and
dies when that fails (offline): here the download runs beside the server, so the server always
comes up and the UI works as soon as the scripts are there (they are kept in visdom's package
folder). On Linux the server asks the kernel to stop it when the trainer dies, even by SIGKILL,
where atexit never runs; otherwise atexit stops it when training dies before `stop()`.
"""
import atexit
import os
import socket
import subprocess
import sys
import time

from .. import processes

# Seconds to wait for the server to listen (importing visdom takes a few).
START_TIMEOUT = 30.0

_SERVER_CODE = """
import os, signal, sys, threading
if sys.platform.startswith('linux'):
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != int(os.environ['AUGAN_TRAINER_PID']):  # the trainer died before that call
        sys.exit(0)
from visdom.server import build, run_server
threading.Thread(target=build.download_scripts, daemon=True).start()
run_server.main()
"""


def port_open(host, port, timeout):
    """Whether something accepts TCP connections at host:port. A plain probe: refused or
    unroutable fails fast, without visdom's retries."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


class VisdomServer:
    """A visdom server on 127.0.0.1:`port`, its output in `log_path`."""

    def __init__(self, port, log_path):
        self.port = int(port)
        self.log_path = log_path
        self.process = None

    def start(self):
        """Start the server and wait until it listens; on failure say so once and return False."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _SERVER_CODE, "-port", str(self.port), "-bind_local",
                 "-logging_level", "WARNING"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=dict(os.environ, AUGAN_TRAINER_PID=str(os.getpid())))
        atexit.register(self.stop)  # also when training dies before close()
        deadline = time.monotonic() + START_TIMEOUT
        while self.process.poll() is None and time.monotonic() < deadline:
            if port_open("127.0.0.1", self.port, 0.5):
                print(f"started a visdom server at http://localhost:{self.port} (log: {self.log_path}); "
                      f"it stops when training ends")
                return True
            time.sleep(0.2)
        self.stop()
        print(f"could not start a visdom server on port {self.port} (see {self.log_path}); "
              f"visuals go to the web page only")
        return False

    def stop(self):
        """Stop the server if it still runs (terminate, then kill after 5 s)."""
        process, self.process = self.process, None
        processes.stop(process, grace=5)
