"""The format of a run's loss_log.txt, written by the loss log sink (util/reporting/) and read back
by the loss history (to redraw a resumed run's curves) and by scripts/plot_losses.py: one place,
so writer and readers agree.

    ================ Training Loss (<date>, precision <p>) ================   one per session
    (epoch: E, iters: I, time: T, data: D) name: value name: value ...

Values print with 3 decimals; non-finite ones as nan, inf or -inf, which read back as such.
"""
import math
import re
import time

_SESSION = re.compile(r'^=+ Training Loss .* =+$')
_LINE = re.compile(r'^\(epoch: (\d+), iters: (\d+),[^)]*\) ?(.*)$')
_LOSS = re.compile(r'(\w+): (\S+)')


def session_header(precision=None):
    """The first line of each training session; it names the precision the session trains in."""
    where = f', precision {precision}' if precision else ''
    return f'================ Training Loss ({time.strftime("%c")}{where}) ================'


def format_line(epoch, iters, t_comp, t_data, losses):
    """One log line; `losses` maps names to floats."""
    values = ' '.join(f'{k}: {float(v):.3f}' for k, v in losses.items())
    return f'(epoch: {epoch}, iters: {iters}, time: {float(t_comp):.3f}, data: {float(t_data):.3f}) {values}'.rstrip()


def is_session_header(line):
    return bool(_SESSION.match(line.strip()))


def parse_line(line):
    """(epoch, iters, {name: value}) of a loss line, or None for any other line. A value that is
    not a number reads as nan."""
    m = _LINE.match(line.strip())
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), {k: _to_float(v) for k, v in _LOSS.findall(m.group(3))}


def read_points(path):
    """The points of the log at `path`: ([(iteration, {name: value})], session_starts, replaced).

    Points come in log order. A line at or before an earlier point (a session resumed from an
    older checkpoint, or an earlier run of the same name) replaces the points from there on;
    `replaced` counts them. `session_starts`: the iteration at which each session after the
    first starts."""
    points, session_starts, replaced = [], [], 0
    new_session = False
    with open(path, encoding='utf-8') as f:
        for line in f:
            if is_session_header(line):
                new_session = bool(points)
                continue
            parsed = parse_line(line)
            if not parsed:
                continue
            _, it, losses = parsed
            if new_session:
                session_starts.append(it)
                new_session = False
            while points and points[-1][0] >= it:
                points.pop()
                replaced += 1
            points.append((it, losses))
    return points, session_starts, replaced


def _to_float(text):
    try:
        return float(text)  # also reads nan, inf, -inf
    except ValueError:
        return math.nan
