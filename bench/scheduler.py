#!/usr/bin/env python3
"""Scheduling throughput and the time a freed node takes to start the next run.

    bench/scheduler.py --build build/release                   # 1,000 queued runs, 10 handovers
    bench/scheduler.py --build build/release --runs 200 --handovers 5 --max-nodes 4

A private trainctld (bench/run.py's Service: a free port, a temp $TRAINCTL_HOME) gets a compute
target `bench` of --max-nodes nodes. Everything goes through the REST API with one keep-alive
connection; the run scripts are uploaded once as a snapshot.

throughput: a blocker run holding every node of `bench` waits on a gate file while --runs
    trivial one-node runs (`pass`) are submitted behind it, so all of them are Queued. The gate
    opens; reported are the runs started per second from the blocker's end to the last run's
    start (`started_at`, which the service sets when a run's processes are spawned), the runs
    completed per second, and, as the floor the machine sets, the same number of
    `python3 -c pass` processes run --max-nodes at a time.

handover: on a target of one node, run A waits on a gate and run B is queued behind it. The
    gate opens; A writes time.time() and exits; B's first statement writes time.time(). The
    difference is the time from a node being freed to the next run's first line: A's exit and
    reaping, the status update, the scheduler, B's preparation (snapshot files, launch plan),
    its spawn and the interpreter's start. The interpreter's own start (median `python3 -c pass`)
    is reported next to it. The median and the worst over --handovers are reported.
"""
import argparse
import hashlib
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import PYTHON, Service  # noqa: E402

GATED = ("import os, sys, time\n"
         "while not os.path.exists(sys.argv[1]):\n"
         "    time.sleep(0.001)\n"
         "if len(sys.argv) > 2:\n"
         "    open(sys.argv[2], 'w').write(repr(time.time()))\n")
FIRST_LINE = ("import time, sys\n"
              "started = time.time()\n"
              "open(sys.argv[1], 'w').write(repr(started))\n")
TRIVIAL = "pass\n"
TERMINAL = {"Completed", "Failed", "Canceled", "TimedOut"}


class Api:
    """JSON calls to the service over one keep-alive connection."""

    def __init__(self, service: Service):
        url = urlsplit(service.endpoint)
        self.connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        self.headers = {"Authorization": f"Bearer {service.token}"}

    def call(self, method, path, body=None, content_type="application/json", expect=(200, 201)):
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        headers = dict(self.headers, **({"Content-Type": content_type} if data is not None else {}))
        self.connection.request(method, "/v1/workspaces/default" + path, body=data, headers=headers)
        response = self.connection.getresponse()
        payload = response.read()
        if response.status not in expect:
            raise RuntimeError(f"{method} {path}: {response.status} {payload[:500]!r}")
        return json.loads(payload) if payload else None

    def snapshot(self, files):
        manifest = []
        for path, content in files.items():
            data = content.encode()
            digest = hashlib.sha256(data).hexdigest()
            self.call("PUT", f"/blobs/{digest}", data, "application/octet-stream", (200, 201, 204))
            manifest.append({"path": path, "sha256": digest, "size": len(data), "mode": 0o644})
        return self.call("POST", "/snapshots", {"files": manifest})["id"]

    def submit(self, snapshot, script, params=(), node_count=1):
        estimator = {"framework": "generic", "entry_script": script, "script_params": list(params),
                     "node_count": node_count}
        if node_count > 1:
            estimator["distributed_training"] = {"backend": "pytorch"}
        return self.call("POST", "/runs", {"experiment": "bench-scheduler", "snapshot_id": snapshot,
                                           "compute": "bench", "estimator": estimator})["id"]

    def run(self, run_id):
        return self.call("GET", f"/runs/{run_id}")

    def wait(self, run_id, seconds=600):
        deadline = time.time() + seconds
        while time.time() < deadline:
            run = self.call("GET", f"/runs/{run_id}?wait=true&timeout=5")
            if run["status"] in TERMINAL:
                return run
        raise RuntimeError(f"run {run_id} did not finish in {seconds} s")

    def target(self, max_nodes):
        self.call("PUT", "/computes/bench", {"type": "local", "max_nodes": max_nodes})
        while self.call("GET", "/computes/bench")["state"] == "Creating":
            time.sleep(0.05)


def seconds_of(timestamp):
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def interpreter_start_s(samples=20):
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        subprocess.run([PYTHON, "-c", "pass"], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def floor_runs_per_s(count, parallel):
    """`count` interpreters that do nothing, `parallel` at a time: what the machine allows."""
    started = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(lambda _: subprocess.run([PYTHON, "-c", "pass"], check=True), range(count)))
    return count / (time.perf_counter() - started)


def bench_throughput(service, work, runs, max_nodes):
    api = Api(service)
    api.target(max_nodes)
    snapshot = api.snapshot({"gated.py": GATED, "trivial.py": TRIVIAL})
    gate = work / "throughput.gate"
    blocker = api.submit(snapshot, "gated.py", [str(gate)], node_count=max_nodes)
    while api.run(blocker)["status"] != "Running":
        time.sleep(0.02)
    submit_started = time.perf_counter()
    ids = [api.submit(snapshot, "trivial.py") for _ in range(runs)]
    submit_s = time.perf_counter() - submit_started
    queued = sum(1 for run_id in ids[-10:] if api.run(run_id)["status"] == "Queued")
    gate.write_text("open")
    blocker_run = api.wait(blocker)
    finished = [api.wait(run_id) for run_id in ids]
    failed = [run["id"] for run in finished if run["status"] != "Completed"]
    if failed:
        raise RuntimeError(f"{len(failed)} runs did not complete, e.g. {failed[0]}")
    freed = seconds_of(blocker_run["ended_at"])
    last_start = max(seconds_of(run["started_at"]) for run in finished)
    last_end = max(seconds_of(run["ended_at"]) for run in finished)
    return {
        "submit_per_s": runs / submit_s,
        "queued_of_last_10": queued,
        "started_per_s": runs / (last_start - freed),
        "completed_per_s": runs / (last_end - freed),
        "floor_per_s": floor_runs_per_s(runs, max_nodes),
    }


def bench_handover(service, work, handovers):
    api = Api(service)
    api.target(1)
    snapshot = api.snapshot({"gated.py": GATED, "first_line.py": FIRST_LINE})
    gaps = []
    for i in range(handovers + 1):  # the first is a warm-up
        gate, ended, started = (work / f"handover-{i}.{name}" for name in ("gate", "ended", "started"))
        first = api.submit(snapshot, "gated.py", [str(gate), str(ended)])
        while api.run(first)["status"] != "Running":
            time.sleep(0.02)
        second = api.submit(snapshot, "first_line.py", [str(started)])
        while api.run(second)["status"] != "Queued" or api.run(second).get("queue") is None:
            time.sleep(0.01)
        gate.write_text("open")
        api.wait(first)
        if api.wait(second)["status"] != "Completed":
            raise RuntimeError(f"run {second} did not complete")
        if i > 0:
            gaps.append(float(started.read_text()) - float(ended.read_text()))
    return gaps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", type=Path, default=Path("build/release"))
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--max-nodes", type=int, default=8)
    parser.add_argument("--handovers", type=int, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="trainctl-bench-scheduler-") as temp:
        work = Path(temp)
        home = work / "home"
        home.mkdir()
        service = Service(args.build.resolve(), home)
        try:
            throughput = bench_throughput(service, work, args.runs, args.max_nodes)
            gaps = bench_handover(service, work, args.handovers)
        finally:
            service.stop()
    interpreter = interpreter_start_s()
    print(f"throughput: {args.runs} trivial runs queued on {args.max_nodes} nodes "
          f"({throughput['queued_of_last_10']}/10 of the last were Queued)")
    print(f"  submitted       {throughput['submit_per_s']:8.1f} runs/s (one connection, in turn)")
    print(f"  started         {throughput['started_per_s']:8.1f} runs/s after the nodes were freed")
    print(f"  completed       {throughput['completed_per_s']:8.1f} runs/s")
    print(f"  machine floor   {throughput['floor_per_s']:8.1f} runs/s of `python3 -c pass`, "
          f"{args.max_nodes} at a time")
    print(f"handover: node freed -> next run's first line, {len(gaps)} times")
    print(f"  median {statistics.median(gaps) * 1000:7.1f} ms, worst {max(gaps) * 1000:7.1f} ms "
          f"(the interpreter's own start: {interpreter * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
