#!/usr/bin/env python3
"""Batch submission throughput: runs submitted per second by one `trainctl submit` of a batch,
against `sbatch` in a loop and `sbatch --array` on a real Slurm controller (a throwaway cluster,
scripts/slurm-cluster.sh; needs root and Debian's slurm-wlm), side by side in one run, the
methods taking turns within each repetition so that a change in load hits them alike.

Methods, each with 1 and 8 clients (processes or threads submitting at once):

- trainctl batch (CLI): `trainctl submit job.yaml --from-file params.txt -o name`, a line of
  params per run, timed from process start to exit (spec loading, snapshot scan, the one request,
  printing the ids). Each client submits --runs runs in one request.
- batch request (HTTP): the same request body POSTed to /v1/workspaces/default/runs/batch
  (prepared beforehand): the service's share alone. Each client: --runs runs, one request.
- sbatch loop: `sbatch --hold --wrap true` once per run; the clients share --runs runs
  (Slurm keeps MaxJobCount=10000 job records, purged MinJobAge=300 s after they end).
- sbatch --array: `sbatch --hold --array=1-N --wrap true`; each client submits --runs runs.

Every measurement starts from a fresh trainctld whose compute target `bench` (one node) is held
by a sleeping run, so the submitted runs stay Queued and nothing runs meanwhile; Slurm's jobs are
submitted held (--hold) and cancelled after each measurement. The snapshot is uploaded by the
batch itself; the bytes it sent are read from its report on stderr (counted by the CLI as it
uploads), for 1 snapshot shared by every run.

    bench/batch_submit.py --build build/ci
    bench/batch_submit.py --build build/ci --runs 1000 --clients 1,8 --repetitions 3
    bench/batch_submit.py --build build/ci --no-slurm        # trainctl only
"""
import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import Service  # noqa: E402  (bench/run.py: a private trainctld)
from slurm_start import env_file  # noqa: E402  (the cluster script's cluster.env)

CLUSTER = ROOT / "scripts" / "slurm-cluster.sh"


class Cluster:
    def __init__(self, base: Path):
        subprocess.run([str(CLUSTER), "up", str(base)], check=True, stdout=subprocess.DEVNULL)
        self.base = base
        self.env = dict(os.environ, **env_file(base / "cluster.env"))
        self.netns = ["nsenter", f"--net=/run/netns/{self.env['CONTROLLER_NETNS']}"]
        # Records of cancelled jobs are purged after 2 s instead of 300, so that the thousands
        # each measurement makes stay below MaxJobCount (10,000) for the next one.
        conf = base / "slurm.conf"
        conf.write_text(conf.read_text().replace("MinJobAge=300", "MinJobAge=2"))
        self.run(["scontrol", "reconfigure"], check=True)

    def run(self, args, **kwargs):
        return subprocess.run(self.netns + args, env=self.env, **kwargs)

    def cancel_all(self):
        self.run(["scancel", "--user", "root"], check=False)
        deadline = time.time() + 60
        while time.time() < deadline:  # until the records are purged too
            left = self.run(["squeue", "-h", "-t", "all"], capture_output=True, text=True).stdout
            if not left.strip():
                return
            time.sleep(0.2)

    def down(self):
        subprocess.run([str(CLUSTER), "down", str(self.base)], check=False, stdout=subprocess.DEVNULL)


class Fixture:
    """A fresh trainctld whose compute target `bench` is held by a sleeping run."""

    def __init__(self, build: Path, work: Path, project: Path, blocker: Path, name: str):
        self.build = build
        self.home = work / name
        self.home.mkdir()
        self.service = Service(build, self.home)
        self.env = self.service.env()
        self.cli(["compute", "create", "bench", "--max-nodes", "1", "--wait"])
        self.blocker = self.cli(["submit", str(blocker), "-o", "name"]).strip()
        deadline = time.time() + 60
        while time.time() < deadline:
            shown = json.loads(self.cli(["run", "show", self.blocker, "-o", "json"]))
            if shown["status"] == "Running":
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("the blocker run never started")

    def cli(self, args, **kwargs):
        return subprocess.run([str(self.build / "trainctl"), *args], env=self.env, check=True,
                              capture_output=True, text=True, **kwargs).stdout

    def stop(self):
        try:
            self.cli(["run", "cancel", self.blocker])
            self.cli(["run", "wait", self.blocker, "--timeout", "30s"], timeout=60)
        except subprocess.CalledProcessError:
            pass
        self.service.stop()
        shutil.rmtree(self.home, ignore_errors=True)


def parallel(clients, work):
    """Runs work(i) on `clients` threads at once; returns the wall time in seconds."""
    errors = []

    def run(i):
        try:
            work(i)
        except Exception as error:  # noqa: BLE001  (reported after the join)
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return elapsed


UPLOAD_REPORT = re.compile(r"(\d+) snapshots? for (\d+) runs?: uploaded (\d+) of (\d+) files \(([^)]*)\)")


def trainctl_batch(fixture, project, params, runs, clients, reports):
    def submit(i):
        done = subprocess.run([str(fixture.build / "trainctl"), "submit", str(project / "job.yaml"),
                               "--from-file", str(params), "-o", "name"],
                              env=fixture.env, check=True, capture_output=True, text=True)
        ids = done.stdout.split()
        if len(ids) != runs:
            raise RuntimeError(f"expected {runs} run ids, got {len(ids)}: {done.stderr}")
        if i == 0:
            match = UPLOAD_REPORT.search(done.stderr)
            reports.append(match.groups() if match else done.stderr.strip())

    return parallel(clients, submit)


def batch_body(fixture, project, params):
    """The body `trainctl submit --from-file` POSTs, with the real snapshot id."""
    dry = json.loads(fixture.cli(["submit", str(project / "job.yaml"), "--from-file", str(params),
                                  "--dry-run", "-o", "json"]))
    one = fixture.cli(["submit", str(project / "job.yaml"), "-o", "name"]).strip()
    snapshot = json.loads(fixture.cli(["run", "show", one, "-o", "json"]))["snapshot_id"]
    payloads = [item["payload"] for item in dry["items"]]
    for payload in payloads:
        payload["snapshot_id"] = snapshot
    return json.dumps({"runs": payloads}).encode()


def http_batch(fixture, body, runs, clients):
    endpoint = urlparse(fixture.service.endpoint)

    def post(i):
        connection = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=300)
        connection.request("POST", "/v1/workspaces/default/runs/batch", body=body, headers={
            "Authorization": f"Bearer {fixture.service.token}",
            "Content-Type": "application/json",
            "Idempotency-Key": f"bench-{time.time_ns()}-{i}",
        })
        reply = connection.getresponse()
        answer = reply.read()
        if reply.status != 201:
            raise RuntimeError(f"HTTP {reply.status}: {answer[:300]!r}")
        replies[i] = answer  # checked after the clock stops

    replies = [b""] * clients
    elapsed = parallel(clients, post)
    for answer in replies:
        if len(json.loads(answer)["items"]) != runs:
            raise RuntimeError("the batch made the wrong number of runs")
    return elapsed


def sbatch_loop(cluster, runs, clients):
    share = [runs // clients + (1 if i < runs % clients else 0) for i in range(clients)]

    def loop(i):
        for _ in range(share[i]):
            cluster.run(["sbatch", "--hold", "--parsable", "--output=/dev/null", "--wrap", "true"],
                        check=True, stdout=subprocess.DEVNULL)

    return parallel(clients, loop)


def sbatch_array(cluster, runs, clients):
    def array(i):
        cluster.run(["sbatch", "--hold", "--parsable", "--output=/dev/null", f"--array=1-{runs}",
                     "--wrap", "true"], check=True, stdout=subprocess.DEVNULL)

    return parallel(clients, array)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=1000, help="runs per batch (default 1000)")
    parser.add_argument("--clients", default="1,8", help="client counts (default 1,8)")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--no-slurm", action="store_true", help="leave the Slurm methods out")
    args = parser.parse_args()
    build = args.build.resolve()
    client_counts = [int(c) for c in args.clients.split(",")]

    work = Path(tempfile.mkdtemp(prefix="trainctl-bench-batch-"))
    cluster = None
    try:
        project = work / "project"
        project.mkdir()
        (project / "main.py").write_text("import sys\nprint(sys.argv)\n")
        (project / "job.yaml").write_text(
            "experiment: bench\ncompute: bench\nestimator:\n  entry_script: main.py\n")
        hold = work / "hold"  # a folder of its own: the batch's snapshot is not uploaded before it
        hold.mkdir()
        (hold / "hold.py").write_text("import time\ntime.sleep(3600)\n")
        blocker = hold / "blocker.yaml"
        blocker.write_text(
            "experiment: blocker\ncompute: bench\nestimator:\n  entry_script: hold.py\n")
        params = work / "params.txt"
        params.write_text("".join(f"estimator.script_params.--seed={i}\n" for i in range(args.runs)))
        project_bytes = sum(p.stat().st_size for p in project.iterdir())

        if not args.no_slurm:
            cluster = Cluster(work / "cluster")
        methods = ["trainctl batch (CLI)", "batch request (HTTP)"]
        if cluster:
            methods += ["sbatch loop", "sbatch --array"]
        samples = {(m, c): [] for m in methods for c in client_counts}
        reports = []
        serial = 0
        for repetition in range(args.repetitions):
            for clients in client_counts:
                order = methods[repetition % len(methods):] + methods[:repetition % len(methods)]
                for method in order:
                    serial += 1
                    if method.startswith("sbatch"):
                        runs = args.runs if method == "sbatch loop" else args.runs * clients
                        if method == "sbatch loop":
                            elapsed = sbatch_loop(cluster, args.runs, clients)
                        else:
                            elapsed = sbatch_array(cluster, args.runs, clients)
                        cluster.cancel_all()
                    else:
                        runs = args.runs * clients
                        fixture = Fixture(build, work, project, blocker, f"home-{serial}")
                        try:
                            if method == "trainctl batch (CLI)":
                                elapsed = trainctl_batch(fixture, project, params, args.runs,
                                                         clients, reports)
                            else:
                                body = batch_body(fixture, project, params)
                                elapsed = http_batch(fixture, body, args.runs, clients)
                        finally:
                            fixture.stop()
                    samples[(method, clients)].append(runs / elapsed)
                    print(f"  rep {repetition + 1} {method:22s} {clients} client(s): {runs} runs in "
                          f"{elapsed * 1000:8.1f} ms = {runs / elapsed:9.0f} runs/s", flush=True)

        print(f"\nruns submitted per second (median of {args.repetitions}; min-max); "
              f"batches of {args.runs} runs:")
        print(f"  {'method':24s} {'clients':>7s} {'runs':>6s} {'runs/s':>9s}   range")
        for method in methods:
            for clients in client_counts:
                values = samples[(method, clients)]
                total = args.runs if method == "sbatch loop" else args.runs * clients
                print(f"  {method:24s} {clients:7d} {total:6d} {statistics.median(values):9.0f}   "
                      f"{min(values):.0f}-{max(values):.0f}")
        print(f"\nsnapshot of the batch (project: {project_bytes} bytes in "
              f"{len(list(project.iterdir()))} files), as the first client reported it "
              "(snapshots, runs, files uploaded, files, bytes sent):")
        for report in reports[:1] + reports[-1:]:
            print("  ", report)
    finally:
        if cluster:
            cluster.cancel_all()
            cluster.down()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
