"""One training run per folder: a lock file in the run folder that names its process and host.

`with held(run_dir):` creates `<run_dir>/train.lock` when training starts and removes it when it
ends, however it ends short of SIGKILL or a machine's crash. The file appears whole (a hard link
of a complete file), and only one process can create it. A second training process on the folder
is refused in one line. A lock left behind is stale and taken over, with a line, when its process
is gone from this host (or the pid now belongs to a newer process), or when an earlier run of this
SLURM job took it (a requeued job's earlier run is over). A lock of another host cannot be checked
from here: it is refused, naming the file to delete if that run is over.
"""
import contextlib
import datetime
import json
import os
import secrets
import socket

from util.errors import UserError

LOCK = 'train.lock'


@contextlib.contextmanager
def held(run_dir, take=True):
    """Hold `run_dir` for this process while the block runs; `take=False` (a process other than
    the launcher's rank 0) holds nothing."""
    if not take:
        yield
        return
    path = os.path.join(run_dir, LOCK)
    mine = acquire(path)
    try:
        yield
    finally:
        if _read(path) == mine:  # never remove a lock that another process has taken over since
            os.remove(path)


def acquire(path):
    """Create the lock at `path` for this process, taking over a stale one; returns its contents."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    mine = {'pid': os.getpid(), 'host': socket.gethostname(), 'process_start': _process_start(os.getpid()),
            'slurm_job': os.environ.get('SLURM_JOB_ID'), 'token': secrets.token_hex(8),
            'since': datetime.datetime.now().isoformat(timespec='seconds')}
    for _ in range(3):  # another process may take or drop the lock between two steps: look again
        if _create(path, mine):
            return mine
        holder = _read(path)
        if holder is None:
            continue  # removed meanwhile
        why = stale(holder)
        if why is None:
            raise UserError(refusal(path, holder))
        if _remove_if_unchanged(path, holder):
            print(f'note: taking over {path}, left by pid {holder.get("pid")} on {holder.get("host")}: {why}')
    raise UserError(f'{path} keeps changing: another training process is starting in the same folder; '
                    f'train under another --name')


def stale(holder):
    """Why the lock `holder` (its contents) is left over by a run that is gone, or None when it may
    be running still."""
    if not isinstance(holder, dict) or 'pid' not in holder:
        return 'it is not a lock of this project'
    job = os.environ.get('SLURM_JOB_ID')
    if job and holder.get('slurm_job') == job:
        return f'an earlier run of this SLURM job ({job}), which is over'
    if holder.get('host') != socket.gethostname():
        return None
    pid = holder['pid']
    if pid == os.getpid():
        return 'its pid is this process (a restarted container)'
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return f'its process ({pid}) is gone'
    except PermissionError:
        pass  # alive, another user's
    start = _process_start(pid)
    if start is not None and holder.get('process_start') not in (None, start):
        return f'its process ({pid}) is gone (the pid belongs to a newer process)'
    return None


def refusal(path, holder):
    """The line that refuses a second run on a held folder."""
    folder = os.path.dirname(path)
    there = '' if holder.get('host') == socket.gethostname() else (
        f'; if no run is going on on {holder.get("host")}, delete {path}')
    return (f'{folder} is in use by another training run (pid {holder.get("pid")} on {holder.get("host")}, since '
            f'{holder.get("since")}; {path}): wait for it to end or stop it, or train under another --name{there}')


def _create(path, contents):
    """Create `path` holding `contents` unless it exists; True when this call created it."""
    tmp = f'{path}.{os.getpid()}.{secrets.token_hex(4)}.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(contents, f)
    try:
        os.link(tmp, path)  # atomic, and fails when the lock exists: no reader sees half a lock
        return True
    except FileExistsError:
        return False
    finally:
        os.remove(tmp)


def _read(path):
    """The lock's contents; None when there is none, {} when it is not JSON."""
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (ValueError, OSError):
        return {}


def _remove_if_unchanged(path, holder):
    """Remove the lock if it still holds `holder`: moved aside first, so that a lock another
    process took meanwhile is put back rather than removed."""
    aside = f'{path}.{os.getpid()}.stale'
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    if _read(aside) == holder:
        os.remove(aside)
        return True
    os.rename(aside, path)
    return False


def _process_start(pid):
    """When process `pid` started (clock ticks since boot, Linux), to tell a reused pid; None
    where unknown."""
    try:
        with open(f'/proc/{pid}/stat', encoding='utf-8') as f:
            return int(f.read().rsplit(')', 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None
