"""Log metrics, params and tags from a trainctl run (docs/metrics.md).

trainctl puts this module on every task's PYTHONPATH, so a training script needs no install:

    import trainctl
    trainctl.log_param("optimizer", "adam")
    for epoch in range(10):
        trainctl.log_metric("loss", loss, step=epoch)
        trainctl.log_metrics({"accuracy": acc, "val/accuracy": val_acc}, step=epoch)
    trainctl.set_tag("stage", "done")

Each call appends JSON lines to the file named by $TRAINCTL_METRICS_FILE (one per task), which
the service reads while the run goes on. Logging never raises and never blocks the training
loop: a value that cannot be logged (a bad name, a value that is no number) is dropped with a
warning on stderr that says what to fix, once per name. NaN and infinities are logged as such.
Outside a run ($TRAINCTL_METRICS_FILE unset) the calls do nothing, after one notice.
"""

import json
import math
import os
import re
import sys
import time

__all__ = ["log_metric", "log_metrics", "log_param", "log_params", "set_tag"]

_METRIC_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,254}\Z")
_MAX_NAME = 255
_MAX_VALUE = 4096

_fd = None
_fd_pid = None
_warned = set()


def _warn(key, message):
    if key in _warned:
        return
    _warned.add(key)
    try:
        sys.stderr.write("trainctl: %s\n" % message)
        sys.stderr.flush()
    except Exception:  # a closed stderr must not stop training either
        pass


def _file():
    """The metrics file, opened once per process (a forked child opens its own)."""
    global _fd, _fd_pid
    if _fd is not None and _fd_pid == os.getpid():
        return _fd
    path = os.environ.get("TRAINCTL_METRICS_FILE")
    if not path:
        _warn("no-file", "TRAINCTL_METRICS_FILE is not set (not running under trainctl): "
                         "metrics are not recorded")
        return None
    try:
        _fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        _fd_pid = os.getpid()
    except OSError as error:
        _warn("open", "cannot open %s (%s): metrics are not recorded" % (path, error))
        return None
    return _fd


def _append(records):
    """Appends the records in one write, so that other processes' lines never cut into them."""
    if not records:
        return
    fd = _file()
    if fd is None:
        return
    data = "".join(json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"
                   for record in records).encode("utf-8")
    try:
        while data:
            written = os.write(fd, data)
            data = data[written:]
    except OSError as error:
        _warn("write", "cannot write the metrics file (%s): some metrics are lost" % error)


def _number(value):
    """The value as JSON: a float, or "NaN", "Infinity", "-Infinity"."""
    number = float(value)  # int, float, bool, numpy and 1-element torch/tf values alike
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return number


def _metric_record(name, value, step, now):
    if not isinstance(name, str) or not _METRIC_NAME.match(name):
        _warn(("name", str(name)), "metric name %r is not valid: use 1-255 letters, digits and "
                                   "_ . - / : (starting with a letter, digit or _); dropped" % (name,))
        return None
    try:
        number = _number(value)
    except (TypeError, ValueError):
        _warn(("value", name), "metric %r: %r is not a number; dropped" % (name, value))
        return None
    record = {"metric": name, "value": number, "time": now}
    if step is not None:
        try:
            whole = int(step)
        except (TypeError, ValueError):
            whole = -1
        if whole < 0 or whole != step:
            _warn(("step", name), "metric %r: step %r is not a whole number from 0 up; "
                                  "dropped" % (name, step))
            return None
        record["step"] = whole
    return record


def _text_record(kind, name, value):
    if not isinstance(name, str) or not 0 < len(name) <= _MAX_NAME or "," in name or \
            any(not " " <= c <= "~" for c in name):
        _warn((kind, str(name)), "%s name %r is not valid: use 1-255 printable ASCII characters "
                                 "other than ','; dropped" % (kind, name))
        return None
    text = value if isinstance(value, str) else json.dumps(value) \
        if isinstance(value, (bool, int, float)) else str(value)
    if len(text) > _MAX_VALUE:
        _warn((kind + "-value", name), "%s %r: the value is longer than %d characters; "
                                       "dropped" % (kind, name, _MAX_VALUE))
        return None
    return {kind: name, "value": text}


def log_metric(name, value, step=None):
    """Logs one value of metric `name` (a number), at `step` (a whole number) if given."""
    _append([r for r in [_metric_record(name, value, step, time.time())] if r])


def log_metrics(metrics, step=None):
    """Logs each name: value of the dict `metrics`, all at `step` if given."""
    now = time.time()
    _append([r for r in (_metric_record(n, v, step, now) for n, v in dict(metrics).items()) if r])


def log_param(name, value):
    """Records a parameter of the run (shown with its script_params)."""
    _append([r for r in [_text_record("param", name, value)] if r])


def log_params(params):
    """Records each name: value of the dict `params`."""
    _append([r for r in (_text_record("param", n, v) for n, v in dict(params).items()) if r])


def set_tag(name, value):
    """Sets a tag of the run."""
    _append([r for r in [_text_record("tag", name, value)] if r])
