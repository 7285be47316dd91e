"""The trainctl scoring harness: one deployment replica (docs/deployments.md).

Usage: python3 -u scoring_harness.py SOURCE_DIR ENTRY_SCRIPT

trainctld starts it with a connected Unix socket on descriptor 3 and its stdout/stderr on the
replica's log file, so whatever the entry script prints goes to the log and never into the
protocol. Frames on the socket are a 4-byte big-endian length followed by that many bytes of
UTF-8 JSON:

  harness -> trainctld, once:  {"type": "ready"} after init() returned, or
                               {"type": "init_failed", "message": "<the exception's last line>"}
  trainctld -> harness:        {"data": "<the request body, JSON text>"}
  harness -> trainctld:        {"ok": true, "result": <run()'s JSON result>} or
                               {"ok": false, "message": "<the exception's last line>"} or, when
                               run() raised trainctl_scoring.BadRequest,
                               {"ok": false, "status": 400, "message": "<str(the exception)>"}

The harness exits when trainctld closes the socket.

Before the entry script is imported, the harness installs the module `trainctl_scoring`, which
any entry script may import: model_dir(name, version=None) and the exception BadRequest.
"""
import importlib.util
import json
import os
import socket
import struct
import sys
import traceback
import types

_HEADER = struct.Struct(">I")


def _read_exactly(channel, size):
    data = bytearray()
    while len(data) < size:
        chunk = channel.recv(size - len(data))
        if not chunk:
            return None
        data.extend(chunk)
    return bytes(data)


def read_frame(channel):
    header = _read_exactly(channel, _HEADER.size)
    if header is None:
        return None
    body = _read_exactly(channel, _HEADER.unpack(header)[0])
    return None if body is None else json.loads(body.decode("utf-8"))


def write_frame(channel, text):
    body = text.encode("utf-8")
    channel.sendall(_HEADER.pack(len(body)) + body)


class BadRequest(Exception):
    """Raised by run() for a request the client must fix: the caller gets a 400 whose message is
    str(error), and no traceback is logged."""


def model_dir(name, version=None):
    """The directory of model `name` in this deployment, $TRAINCTL_MODEL_ROOT/<name>/<version>,
    whatever the number of models. `version` may be left out: a deployment holds one version of
    each model. LookupError names the deployment's models when `name` (or `version`) is not one."""
    root = os.environ["TRAINCTL_MODEL_ROOT"]
    held = {}  # model name -> the version directory's name
    for model in sorted(os.listdir(root)):
        for held_version in os.listdir(os.path.join(root, model)):
            held[model] = held_version
    if name in held and (version is None or str(version) == held[name]):
        return os.path.join(root, name, held[name])
    wanted = name if version is None else f"{name}:{version}"
    models = ", ".join(f"{model}:{held_version}" for model, held_version in held.items())
    raise LookupError(f"model {wanted} is not in this deployment; it has {models}")


def install_helper_module():
    helper = types.ModuleType("trainctl_scoring", "What the trainctl scoring harness offers an "
                              "entry script: model_dir() and BadRequest (docs/deployments.md).")
    BadRequest.__module__ = helper.__name__
    helper.BadRequest = BadRequest
    helper.model_dir = model_dir
    sys.modules[helper.__name__] = helper


def last_line(error):
    return traceback.format_exception_only(type(error), error)[-1].strip()


def load_entry_script(source_dir, entry_script):
    sys.path.insert(0, source_dir)
    spec = importlib.util.spec_from_file_location("score", os.path.join(source_dir, entry_script))
    module = importlib.util.module_from_spec(spec)
    sys.modules["score"] = module
    spec.loader.exec_module(module)
    return module


def answer(run, data):
    try:
        result = json.dumps(run(data), allow_nan=False)
        return '{"ok": true, "result": ' + result + "}"
    except BadRequest as error:  # the client's fault: a 400, and no traceback in the log
        print(f"trainctl: answered 400: {error}", flush=True)
        return json.dumps({"ok": False, "status": 400, "message": str(error)})
    except Exception as error:  # the replica lives on; the caller gets a 500 with the message
        traceback.print_exc()
        return json.dumps({"ok": False, "message": last_line(error)})


def main():
    source_dir, entry_script = sys.argv[1], sys.argv[2]
    channel = socket.socket(fileno=3)
    try:
        install_helper_module()
        module = load_entry_script(source_dir, entry_script)
        if hasattr(module, "init"):
            module.init()
        run = module.run
    except BaseException as error:
        traceback.print_exc()
        write_frame(channel, json.dumps({"type": "init_failed", "message": last_line(error)}))
        return 1
    print("trainctl: init() finished; ready to score", flush=True)
    write_frame(channel, json.dumps({"type": "ready"}))
    while True:
        request = read_frame(channel)
        if request is None:
            return 0
        write_frame(channel, answer(run, request["data"]))


if __name__ == "__main__":
    sys.exit(main())
