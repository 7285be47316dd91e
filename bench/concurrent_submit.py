#!/usr/bin/env python3
"""The service's share of concurrent single-run submits: runs made per second when N HTTP clients
POST /v1/workspaces/default/runs at once, each on its own keep-alive connection, one run per
request, each answered only once its run is committed and fsynced (no CLI process start here).

Each request is the body `trainctl submit` sends for an unchanged project: the payload with its
snapshot named by id ("snapshot": {"id": ...}, one request); --old-api sends the payload with
"snapshot_id" only, as older clients do after creating the snapshot. Every request has its own
Idempotency-Key. The runs stay Queued: the compute target `bench` (one node) is held by a
sleeping run (bench/batch_submit.py's Fixture), so nothing runs meanwhile.

    bench/concurrent_submit.py --build build/ci                    # 8 clients x 400 runs, 3 reps
    bench/concurrent_submit.py --build build/ci --clients 1,8 --runs 200 --repetitions 5
    bench/concurrent_submit.py --build build/ci --queued 0,1000,4000  # with that many queued first

--queued N makes N runs first (untimed, through the same route) so that they wait on the held
target; the measured runs then join a queue that long. Beside runs/s, each line gives trainctld's
CPU time (user + system, /proc/PID/stat) per measured run.
"""
import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import shutil
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch_submit import Fixture, parallel  # noqa: E402


def submit_body(fixture, project, old_api):
    """The payload of project/job.yaml, its snapshot made by one real submit, as `submit` sends it."""
    dry = json.loads(fixture.cli(["submit", str(project / "job.yaml"), "--dry-run", "-o", "json"]))
    one = fixture.cli(["submit", str(project / "job.yaml"), "-o", "name"]).strip()
    snapshot = json.loads(fixture.cli(["run", "show", one, "-o", "json"]))["snapshot_id"]
    payload = dry["payload"]
    payload["snapshot_id"] = snapshot
    if not old_api:
        payload["snapshot"] = {"id": snapshot}
    return json.dumps(payload).encode()


def post_runs(fixture, body, runs, clients):
    """Wall time of `clients` threads each POSTing `runs` runs; every answer must be 201."""
    endpoint = urlparse(fixture.service.endpoint)
    headers = {"Authorization": f"Bearer {fixture.service.token}", "Content-Type": "application/json"}
    stamp = time.time_ns()

    def post(i):
        connection = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=300)
        for n in range(runs):
            connection.request("POST", "/v1/workspaces/default/runs", body=body,
                               headers={**headers, "Idempotency-Key": f"bench-{stamp}-{i}-{n}"})
            reply = connection.getresponse()
            answer = reply.read()
            if reply.status != 201:
                raise RuntimeError(f"HTTP {reply.status}: {answer[:300]!r}")
        connection.close()

    return parallel(clients, post)


def service_cpu(fixture):
    """CPU seconds trainctld has used so far."""
    fields = Path(f"/proc/{fixture.service.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", required=True, type=Path)
    parser.add_argument("--clients", default="8", help="comma list of client counts")
    parser.add_argument("--runs", type=int, default=400, help="runs per client")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--old-api", action="store_true", help="name the snapshot by snapshot_id only")
    parser.add_argument("--queued", default="0",
                        help="comma list: runs made (and left queued) before each measurement")
    args = parser.parse_args()
    build = args.build.resolve()
    work = Path(tempfile.mkdtemp(prefix="trainctl-bench-concurrent-"))
    try:
        project = work / "project"
        project.mkdir()
        (project / "main.py").write_text("print('hi')\n")
        (project / "job.yaml").write_text(
            "experiment: bench\ncompute: bench\nestimator:\n  entry_script: main.py\n")
        hold = work / "hold"
        hold.mkdir()
        (hold / "hold.py").write_text("import time\ntime.sleep(3600)\n")
        blocker = hold / "blocker.yaml"
        blocker.write_text("experiment: blocker\ncompute: bench\nestimator:\n  entry_script: hold.py\n")
        print(f"{'clients':>7}  {'queued':>6}  {'runs':>6}  {'runs/s (median)':>15}  "
              f"{'service CPU/run':>15}  each repetition")
        serial = 0
        for queued in [int(q) for q in args.queued.split(",")]:
            for clients in [int(c) for c in args.clients.split(",")]:
                rates, cpu = [], []
                for _ in range(args.repetitions):
                    serial += 1
                    fixture = Fixture(build, work, project, blocker, f"home-{serial}")
                    try:
                        body = submit_body(fixture, project, args.old_api)
                        if queued:
                            post_runs(fixture, body, -(-queued // 8), 8)  # untimed
                        before = service_cpu(fixture)
                        elapsed = post_runs(fixture, body, args.runs, clients)
                        cpu.append((service_cpu(fixture) - before) * 1000 / (clients * args.runs))
                        rates.append(clients * args.runs / elapsed)
                    finally:
                        fixture.stop()
                print(f"{clients:>7}  {queued:>6}  {clients * args.runs:>6}  "
                      f"{statistics.median(rates):>15.0f}  {statistics.median(cpu):>12.3f} ms  "
                      + " ".join(f"{r:.0f}" for r in rates))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
