#!/usr/bin/env python3
"""Scoring latency and throughput through trainctld, against calling run() in-process.

    bench/scoring.py --build build/release                       # 1 and 4 replicas, 1 and 8 clients
    bench/scoring.py --build build/release --requests 5000 --clients 1,4,16

A private trainctld (bench/run.py's Service: a free port, a temp $TRAINCTL_HOME) gets a model
registered from a tiny run, and a deployment of a trivial entry script (run() returns the length
of its input) made with the real CLI (`trainctl deploy create ... --wait`, then `deploy update
--replicas 4 --wait`). Each client is a thread with one keep-alive http.client connection that
POSTs a small JSON body to the score route with the deployment's scoring key, back to back;
every request's latency is taken with time.perf_counter around request + response. Reported per
(replicas, clients): p50 and p99 latency and the throughput over the whole batch. The baseline
is the same init() and run() imported and called in this process, one call at a time.

Python's threads share one interpreter lock, so with many clients the load generator itself is
part of what is measured: compare rows with the same client count.
"""
import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import PYTHON, Service  # noqa: E402

SCORE_PY = '''\
import json

def init():
    pass

def run(raw_data):
    return {"length": len(json.loads(raw_data)["data"])}
'''

TRAIN_PY = '''\
import json, os
model = os.path.join(os.environ["TRAINCTL_OUTPUTS_DIR"], "model")
os.makedirs(model, exist_ok=True)
with open(os.path.join(model, "weights.json"), "w") as f:
    json.dump({"w": 1}, f)
'''

BODY = json.dumps({"data": list(range(16))})
EXPECTED = {"length": 16}


def cli(build: Path, service: Service, *args, timeout=300):
    """Runs trainctl; returns its stdout, raising with its stderr when it fails."""
    done = subprocess.run([str(build / "trainctl"), *args], env=service.env(), capture_output=True,
                          text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"trainctl {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done.stdout


def deploy_trivial_model(build: Path, service: Service, work: Path):
    """A registered model (from a real run) and deployment `bench` of SCORE_PY on 1 replica."""
    project = work / "project"
    project.mkdir()
    (project / "train.py").write_text(TRAIN_PY)
    (project / "score.py").write_text(SCORE_PY)
    (project / "job.yaml").write_text("experiment: bench\nestimator:\n  entry_script: train.py\n")
    run_id = cli(build, service, "submit", str(project / "job.yaml"), "-o", "name").strip()
    cli(build, service, "run", "wait", run_id)
    cli(build, service, "register", "--run", run_id, "--name", "bench", "--path", "outputs/model")
    cli(build, service, "deploy", "create", "bench", "--model", "bench:1", "--entry-script",
        "score.py", "--source-dir", str(project), "--replicas", "1", "--wait")
    shown = json.loads(cli(build, service, "deploy", "show", "bench", "--show-key", "-o", "json"))
    return shown["scoring_path"], shown["scoring_key"]


def client_thread(endpoint, path, key, count, latencies, errors):
    parts = urlsplit(endpoint)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    for index in range(count):
        start = time.perf_counter()
        connection.request("POST", path, body=BODY, headers=headers)
        response = connection.getresponse()
        body = response.read()
        latencies.append(time.perf_counter() - start)
        if response.status != 200:
            errors.append(response.status)
        elif index == 0 and json.loads(body) != EXPECTED:  # run() really answered
            errors.append(body)
    connection.close()


def measure_service(endpoint, path, key, clients, requests):
    """(p50 ms, p99 ms, requests/s, errors) of `requests` spread over `clients` threads; an error
    is a status other than 200, or a first answer of a client that is not run()'s."""
    latencies, errors = [], []
    per_client = max(1, requests // clients)
    threads = [threading.Thread(target=client_thread,
                                args=(endpoint, path, key, per_client, latencies, errors))
               for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    return summarize(latencies, elapsed) + (len(errors),)


def measure_in_process(requests):
    namespace = {}
    exec(SCORE_PY, namespace)  # the same functions the replicas import
    namespace["init"]()
    latencies = []
    start = time.perf_counter()
    for _ in range(requests):
        call = time.perf_counter()
        json.dumps(namespace["run"](BODY))  # the harness serializes run()'s result too
        latencies.append(time.perf_counter() - call)
    return summarize(latencies, time.perf_counter() - start)


def summarize(latencies, elapsed):
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    return p50, p99, len(ordered) / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", type=Path, required=True, help="holds trainctl and trainctld")
    parser.add_argument("--requests", type=int, default=2000, help="per row (default 2000)")
    parser.add_argument("--clients", default="1,8", help="client counts (default 1,8)")
    args = parser.parse_args()
    client_counts = [int(count) for count in args.clients.split(",")]

    rows = []
    p50, p99, rate = measure_in_process(args.requests)
    rows.append(("in-process run()", "-", "1", p50, p99, rate, 0))
    with tempfile.TemporaryDirectory(prefix="trainctl-bench-scoring-") as temp:
        work = Path(temp)
        (work / "home").mkdir()
        service = Service(args.build, work / "home")
        try:
            path, key = deploy_trivial_model(args.build, service, work)
            for replicas in (1, 4):
                if replicas != 1:
                    cli(args.build, service, "deploy", "update", "bench", "--replicas",
                        str(replicas), "--wait")
                for clients in client_counts:
                    measure_service(service.endpoint, path, key, clients, args.requests // 10)
                    rows.append(("trainctld", str(replicas), str(clients),
                                 *measure_service(service.endpoint, path, key, clients,
                                                  args.requests)))
        finally:
            service.stop()

    print(f"{'path':<18} {'replicas':>8} {'clients':>7} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'req/s':>9} {'errors':>6}")
    for name, replicas, clients, p50, p99, rate, errors in rows:
        print(f"{name:<18} {replicas:>8} {clients:>7} {p50:>8.3f} {p99:>8.3f} {rate:>9.0f} "
              f"{errors:>6}")
    print(f"(python for the baseline: {sys.executable}; replicas use trainctld's --python, "
          f"default {PYTHON})")


if __name__ == "__main__":
    main()
