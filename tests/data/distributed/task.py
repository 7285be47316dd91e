"""One task of a distributed test run: records what it was given, prints, then ends as told.

Every task of a run runs this same script with the same arguments; what each one does depends
on its name ($TRAINCTL_TASK, e.g. "ps-0") or its role (the name without "-<index>", e.g. "ps").

1. With --daemon TASK_OR_ROLE, double-forks a daemon in its own session that sleeps forever
   (RELIABILITY 28). Then writes $TRAINCTL_OUTPUTS_DIR/<task>.json atomically: its environment,
   its argv as the kernel holds it (/proc/self/cmdline, the interpreter included), its working
   directory, its pid, the command lines of its parent and grandparent, the daemon's pid, and
   with --mpi the size MPI's allreduce saw.
2. Prints --lines lines "<task> line <i>", --interval seconds apart, then writes <task>.done.
3. With --after-peers N, waits until N tasks of the run are done printing (so every peer is
   running and has printed its lines before this one ends).
4. Sleeps --sleep TASK_OR_ROLE=SECONDS, then ends: --kill TASK_OR_ROLE=SIGNAL dies by that
   signal, --exit TASK_OR_ROLE=CODE exits CODE, --forever TASK_OR_ROLE never ends by itself (as a
   TensorFlow ps or worker), and any other task exits 0.
"""
import argparse
import json
import os
import signal
import sys
import time


def read_cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
        return [part.decode() for part in cmdline.read().split(b"\0")[:-1]]


def parent_of(pid):
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def ancestors(count):
    pids, pid = [], os.getpid()
    for _ in range(count):
        pid = parent_of(pid)
        if pid <= 1:
            break
        pids.append(pid)
    return [read_cmdline(pid) for pid in pids]


def write_json_atomically(path, value):
    temporary = f"{path}.tmp"
    with open(temporary, "w") as out:
        json.dump(value, out)
    os.rename(temporary, path)


def start_daemon():
    """Double-forks a process that leaves this session and sleeps forever; returns its pid."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.setsid()
        daemon = os.fork()
        if daemon == 0:
            while True:
                time.sleep(1)
        os.write(write_end, str(daemon).encode())
        os._exit(0)
    os.close(write_end)
    daemon = int(os.read(read_end, 32))
    os.close(read_end)
    os.waitpid(child, 0)
    return daemon


def mpi_world_size():
    from mpi4py import MPI

    return MPI.COMM_WORLD.allreduce(1)


def record(task, outputs, use_mpi, daemon):
    seen = {
        "env": dict(os.environ),
        "argv": read_cmdline(os.getpid()),
        "cwd": os.getcwd(),
        "pid": os.getpid(),
        "ancestors": ancestors(2),
        "daemon_pid": start_daemon() if daemon else 0,
    }
    if use_mpi:
        seen["mpi_world_size"] = mpi_world_size()
    write_json_atomically(os.path.join(outputs, f"{task}.json"), seen)


def wait_for_peers(outputs, count, timeout_seconds=60):
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        done = [name for name in os.listdir(outputs) if name.endswith(".done")]
        if len(done) >= count:
            return
        time.sleep(0.02)


def value_for(pairs, task, role, convert):
    """The value of the TASK_OR_ROLE=VALUE pair naming `task` or else `role`, or None."""
    values = dict(pair.split("=", 1) for pair in pairs)
    for key in (task, role):
        if key in values:
            return convert(values[key])
    return None


def parse_arguments():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=0)
    parser.add_argument("--interval", type=float, default=0.0)
    parser.add_argument("--after-peers", type=int, default=0)
    parser.add_argument("--sleep", action="append", default=[], metavar="TASK_OR_ROLE=SECONDS")
    parser.add_argument("--kill", action="append", default=[], metavar="TASK_OR_ROLE=SIGNAL")
    parser.add_argument("--exit", action="append", default=[], metavar="TASK_OR_ROLE=CODE")
    parser.add_argument("--forever", action="append", default=[], metavar="TASK_OR_ROLE")
    parser.add_argument("--daemon", action="append", default=[], metavar="TASK_OR_ROLE")
    parser.add_argument("--mpi", action="store_true")
    return parser.parse_args()


def main():
    arguments = parse_arguments()
    task = os.environ["TRAINCTL_TASK"]
    role = task.rsplit("-", 1)[0]
    outputs = os.environ["TRAINCTL_OUTPUTS_DIR"]

    record(task, outputs, arguments.mpi, task in arguments.daemon or role in arguments.daemon)
    for line in range(arguments.lines):
        print(f"{task} line {line}", flush=True)
        time.sleep(arguments.interval)
    open(os.path.join(outputs, f"{task}.done"), "w").close()
    wait_for_peers(outputs, arguments.after_peers)

    time.sleep(value_for(arguments.sleep, task, role, float) or 0)
    signal_number = value_for(arguments.kill, task, role, int)
    if signal_number is not None:
        os.kill(os.getpid(), signal_number)
    exit_code = value_for(arguments.exit, task, role, int)
    if exit_code is not None:
        sys.exit(exit_code)
    if task in arguments.forever or role in arguments.forever:
        while True:
            time.sleep(1)


if __name__ == "__main__":
    main()
