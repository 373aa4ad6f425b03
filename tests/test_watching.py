"""Watching a run, tested against the real tools: train.py posting to a real visdom server
(started here, offline, on a free loopback port) and read back from it; train.py starting its
own server with --display_start_server (an unreachable server is tested in test_util.py);
train.py logging to wandb in offline mode, read back from the run's transaction log, then
resumed into the same wandb run with --continue_train. CPU only, no network; about two minutes
on two cores."""
import json
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import AU_GAN_LOSSES, TINY, TRAIN_VISUALS, read_losses, run_cli

pytestmark = pytest.mark.slow  # trains in processes, starts servers


def tiny_run(daynight, tmp_path, name, *extra):
    """A few iterations of train.py at toy sizes: 3 images, one epoch, losses logged each iteration."""
    return run_cli('train.py', '--dataroot', daynight, '--name', name, '--checkpoints_dir', tmp_path / 'ckpt',
                   *TINY, '--load_size', '40', '--crop_size', '32', '--max_dataset_size', '3',
                   '--n_epochs', '1', '--n_epochs_decay', '0', '--print_freq', '1', *extra)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
        return True
    except OSError:
        return False


# ----------------------------------------------------------------------------- visdom
@pytest.fixture
def visdom_server(tmp_path):
    """A real visdom server on a free loopback port. Started through its `main()` rather than
    `python -m visdom.server`, which first downloads the browser UI's scripts and dies offline;
    the server itself is the same."""
    pytest.importorskip('visdom')
    port = free_port()
    log = tmp_path / 'visdom_server.log'
    with open(log, 'wb') as out:
        server = subprocess.Popen([sys.executable, '-c', 'from visdom.server.run_server import main; main()',
                                   '-port', str(port), '-env_path', str(tmp_path / 'visdom_env'), '-bind_local',
                                   '-logging_level', 'WARNING'], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not port_open(port):
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.filterwarnings("ignore:The 'warn' method is deprecated:DeprecationWarning")  # inside visdom's client
def test_training_posts_every_loss_point_and_the_visuals_to_visdom(tmp_path, daynight, visdom_server):
    import visdom

    proc = tiny_run(daynight, tmp_path, 'vis', '--display_freq', '1', '--display_id', '1',
                    '--display_server', 'http://127.0.0.1', '--display_port', visdom_server,
                    '--display_env', 'augan_test')
    assert 'not reachable' not in proc.stdout and 'stopped responding' not in proc.stdout

    client = visdom.Visdom(server='http://127.0.0.1', port=visdom_server, env='augan_test',
                           use_incoming_socket=False, raise_exceptions=True)
    losses = json.loads(client.get_window_data('1_losses', env='augan_test'))
    logged = read_losses(tmp_path / 'ckpt' / 'vis' / 'loss_log.txt')
    iters = [int(line.split('iters: ')[1].split(',')[0]) for line in
             (tmp_path / 'ckpt' / 'vis' / 'loss_log.txt').read_text().splitlines() if line.startswith('(epoch:')]
    assert len(logged) == 3 and iters == [1, 2, 3]
    traces = {t['name']: t for t in losses['content']['data']}
    assert sorted(traces) == sorted(AU_GAN_LOSSES)
    for name, trace in traces.items():
        assert trace['x'] == iters, name                      # every logged point, at its iteration
        assert trace['y'] == pytest.approx([row[name] for row in logged], abs=6e-4), name

    images = json.loads(client.get_window_data('1_images', env='augan_test'))
    assert images['type'] == 'image' and images['content']['src'].startswith('data:image/png;base64,')
    assert all(v in images['title'] for v in TRAIN_VISUALS)


def test_display_start_server_starts_a_local_server_and_stops_it(tmp_path, daynight):
    pytest.importorskip('visdom')
    port = free_port()
    proc = tiny_run(daynight, tmp_path, 'own', '--display_freq', '1', '--display_id', '1',
                    '--display_port', port, '--display_start_server')
    started = [ln for ln in proc.stdout.splitlines() if 'visdom server' in ln]
    assert len(started) == 1 and f'started a visdom server at http://localhost:{port}' in started[0]
    assert not port_open(port)  # stopped with training
    assert (tmp_path / 'ckpt' / 'own' / 'visdom_server.log').is_file()


def test_a_killed_trainer_takes_its_visdom_server_with_it(tmp_path, daynight):
    """SIGKILL leaves no atexit handler to run: the server must not outlive the trainer (Linux)."""
    pytest.importorskip('visdom')
    if not sys.platform.startswith('linux'):
        pytest.skip('parent-death signals are Linux only')
    port = free_port()
    cmd = [sys.executable, 'train.py', '--dataroot', daynight, '--name', 'killed', '--checkpoints_dir',
           tmp_path / 'ckpt', *TINY, '--crop_size', '32', '--load_size', '32', '--n_epochs', '1000',
           '--display_freq', '1', '--display_id', '1', '--display_port', port, '--display_start_server']
    log = open(tmp_path / 'out.txt', 'w')
    trainer = subprocess.Popen([str(c) for c in cmd], cwd=Path(__file__).resolve().parents[1], stdout=log,
                               stderr=subprocess.STDOUT, env=dict(os.environ, WANDB_MODE='offline'))
    try:
        deadline = time.monotonic() + 120
        while not port_open(port) and trainer.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert port_open(port), (tmp_path / 'out.txt').read_text()[-2000:]
    finally:
        trainer.kill()
        trainer.wait()
        log.close()
    deadline = time.monotonic() + 30
    while port_open(port) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not port_open(port)


# ----------------------------------------------------------------------------- wandb
def wandb_records(path):
    """The records of a `.wandb` transaction log (LevelDB's log format: 32 KiB blocks of
    chunks, each with a 7-byte header crc32/length/type, behind a 7-byte W&B file header)."""
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    assert data[:4] == b':W&B', data[:8]
    pos, block, parts = 7, 32768, []
    while pos + 7 <= len(data):
        left = block - pos % block
        _, length, kind = struct.unpack('<IHB', data[pos:pos + 7])
        if left < 7 or kind == 0:  # block trailer or padding
            pos += left
            continue
        parts.append(data[pos + 7:pos + 7 + length])
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(b''.join(parts))
            parts = []
            yield record


def read_wandb_run(run_dir):
    """(run record, config {key: value}, history [(step, {key: value})]) of an offline run."""
    run, config, history = None, {}, []
    for record in wandb_records(next(Path(run_dir).glob('run-*.wandb'))):
        kind = record.WhichOneof('record_type')
        if kind == 'run':
            run = record.run
        elif kind == 'config':
            config.update({u.key or '/'.join(u.nested_key): json.loads(u.value_json) for u in record.config.update})
        elif kind == 'history':
            items = {i.key or '/'.join(i.nested_key): json.loads(i.value_json) for i in record.history.item}
            history.append((record.history.step.num, items))
    return run, config, history


def test_wandb_logs_losses_images_options_and_a_results_table_and_resumes(tmp_path, daynight, monkeypatch):
    pytest.importorskip('wandb')
    for var, sub in (('WANDB_DIR', ''), ('WANDB_CONFIG_DIR', 'wb_config'), ('WANDB_CACHE_DIR', 'wb_cache'),
                     ('WANDB_DATA_DIR', 'wb_data')):
        (tmp_path / sub).mkdir(exist_ok=True)
        monkeypatch.setenv(var, str(tmp_path / sub))  # run_cli passes the environment on, offline
    wandb_flags = ('--use_wandb', '--wandb_project', 'augan-test', '--display_freq', '2')
    proc = tiny_run(daynight, tmp_path, 'wb', *wandb_flags)
    assert not [ln for ln in proc.stdout.splitlines() if ln.startswith('wandb')]  # no "could not start", "... failed"
    run_id = (tmp_path / 'ckpt' / 'wb' / 'wandb_id.txt').read_text().strip()
    # continue into a second epoch, with an option changed
    run_cli('train.py', '--dataroot', daynight, '--name', 'wb', '--checkpoints_dir', tmp_path / 'ckpt', *TINY,
            '--load_size', '40', '--crop_size', '32', '--max_dataset_size', '3', '--n_epochs', '2',
            '--n_epochs_decay', '0', '--print_freq', '1', *wandb_flags, '--continue_train')

    runs = sorted((tmp_path / 'wandb').glob('offline-run-*'))
    assert [r.name.rsplit('-', 1)[1] for r in runs] == [run_id, run_id]  # one wandb run, resumed
    logged = read_losses(tmp_path / 'ckpt' / 'wb' / 'loss_log.txt')
    assert len(logged) == 6
    for session, (run_dir, steps, n_epochs) in enumerate(zip(runs, ([1, 2, 3], [4, 5, 6]), (1, 2))):
        run, config, history = read_wandb_run(run_dir)
        assert run.run_id == run_id and run.display_name == 'wb' and run.project == 'augan-test'
        assert config['name'] == 'wb' and config['n_epochs'] == n_epochs and config['lr'] == 0.0002
        rows = dict(history)
        assert sorted(rows) == steps
        for i, step in enumerate(steps):                      # losses every --print_freq
            expected = logged[3 * session + i]
            assert {k: rows[step][k] for k in AU_GAN_LOSSES} == pytest.approx(expected, abs=6e-4)
            assert rows[step]['epoch'] == pytest.approx(n_epochs + i / 3)  # epoch + fraction done before
        for step in steps:                                    # images every --display_freq and at the epoch's end
            has_images = {f'visuals/{v}/_type' for v in TRAIN_VISUALS} <= set(rows[step])
            assert has_images == (step % 2 == 0 or step == steps[-1]), step
        assert rows[steps[-1]]['results/_type'] == 'table-file'  # the results table, logged at the end
        assert rows[steps[-1]]['results/nrows'] == n_epochs      # one row per epoch so far
        assert all('results/_type' not in rows[s] for s in steps[:-1])
        table = json.loads(next((run_dir / 'files' / 'media' / 'table').glob('results_*.table.json')).read_text())
        assert table['columns'] == ['epoch', *TRAIN_VISUALS] and [r[0] for r in table['data']] == list(range(1, n_epochs + 1))
