#!/usr/bin/env python3
"""Metrics benchmarks (docs/metrics.md; bench/README.md, Metrics).

    bench/metrics.py --build build/ci                       # every measurement, 100,000 points
    bench/metrics.py --build build/ci --points 1000000      # the ingest and run show/list with 1M

Starts its own trainctld (a temp home, a free port) and measures, with the real CLI and service:

  ingest      one task logs N points in one loop with `import trainctl`: the script's own time to
              log them, and the points per second the service records (from the first point
              logged to the last one recorded, which the task stamps in its outputs/ folder)
  follow      a task logs its own clock (time.time()) as a point every 100 ms; `trainctl run
              metrics RUN -f -o json` on a pipe: the delay from logging to the event printed
  show-list   `run show` and `run list` (hyperfine) of a run with N points against a run with
              none: storing points must not slow them
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import Service, hyperfine, trainctl  # noqa: E402

INGEST_SCRIPT = """
import os, sys, time, trainctl
n = int(sys.argv[1])
outputs = os.environ['TRAINCTL_OUTPUTS_DIR']
start = time.time()
for step in range(n):
    trainctl.log_metric('loss', 1.0 / (step + 1), step=step)
end = time.time()
with open(os.path.join(outputs, 'times.json'), 'w') as f:
    f.write('{"start": %r, "end": %r}' % (start, end))
"""

FOLLOW_SCRIPT = """
import sys, time, trainctl
for step in range(int(sys.argv[1])):
    trainctl.log_metric('clock', time.time(), step=step)
    time.sleep(0.1)
"""


def get(service, path):
    request = urllib.request.Request(service.endpoint + path,
                                     headers={"Authorization": "Bearer " + service.token})
    with urllib.request.urlopen(request) as reply:
        return json.loads(reply.read())


def submit(build, service, work, name, script, params):
    project = work / name
    project.mkdir()
    (project / "main.py").write_text(script)
    (project / "job.yaml").write_text(
        "experiment: bench-metrics\nestimator:\n  entry_script: main.py\n"
        f"  script_params: {params}\n")
    out = subprocess.run(trainctl(build, "submit", str(project / "job.yaml"), "-o", "name"),
                         env=service.env(), check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def wait_finished(service, run_id):
    while True:
        run = get(service, f"/v1/workspaces/default/runs/{run_id}?wait=true&timeout=30")
        if run["status"] in ("Completed", "Failed", "Canceled", "TimedOut"):
            return run


def bench_ingest(build, service, work, points, results):
    run_id = submit(build, service, work, "ingest", INGEST_SCRIPT, f"[{points}]")
    recorded_at = None
    while recorded_at is None:
        summary = get(service, f"/v1/workspaces/default/runs/{run_id}/metrics")["metrics"]
        if summary.get("loss", {}).get("count", 0) == points:
            recorded_at = time.time()
        else:
            time.sleep(0.01)
    run = wait_finished(service, run_id)
    assert run["status"] == "Completed", run
    times = json.loads(urllib.request.urlopen(urllib.request.Request(
        service.endpoint + f"/v1/workspaces/default/runs/{run_id}/files/outputs/times.json",
        headers={"Authorization": "Bearer " + service.token})).read())
    logging = times["end"] - times["start"]
    recorded = recorded_at - times["start"]
    results.append((f"log {points:,} points in one loop (script's time)",
                    f"{logging:.2f} s ({points / logging:,.0f} points/s, {logging / points * 1e6:.1f} µs each)"))
    results.append((f"... all {points:,} recorded by the service (from the first logged)",
                    f"{recorded:.2f} s ({points / recorded:,.0f} points/s)"))
    return run_id


def bench_follow(build, service, work, results, count=30):
    run_id = submit(build, service, work, "follow", FOLLOW_SCRIPT, f"[{count}]")
    follower = subprocess.Popen(trainctl(build, "run", "metrics", run_id, "--name", "clock", "-f",
                                         "-o", "json"),
                                env=service.env(), stdout=subprocess.PIPE, text=True)
    delays = []
    for line in follower.stdout:  # -o json: the stream's events, values at full precision
        received = time.time()
        event = json.loads(line)
        if event.get("type") == "point":
            delays.append((received - event["value"]) * 1000)
    follower.wait()
    delays = delays[3:]  # the first ones arrive with the history
    results.append(("point logged -> printed by `run metrics -f` (median, p90, max)",
                    f"{statistics.median(delays):.0f} ms, "
                    f"{sorted(delays)[int(len(delays) * 0.9)]:.0f} ms, {max(delays):.0f} ms"))


def bench_show_list(build, service, work, big_run, results):
    empty = submit(build, service, work, "empty", "print('no metrics')\n", "[]")
    wait_finished(service, empty)
    env = service.env()
    for label, run_id in [("run show (a run with no metrics)", empty),
                          (f"run show (a run with {big_run[1]:,} points)", big_run[0])]:
        mean, sd, _ = hyperfine(trainctl(build, "run", "show", run_id), env, runs=200)
        results.append((label, f"{mean:.2f} ms (±{sd:.2f})"))
    mean, sd, _ = hyperfine(trainctl(build, "run", "list"), env, runs=200)
    results.append(("run list (both runs)", f"{mean:.2f} ms (±{sd:.2f})"))
    mean, sd, _ = hyperfine(trainctl(build, "run", "metrics", big_run[0]), env, runs=50)
    results.append((f"run metrics (summary of {big_run[1]:,} points)", f"{mean:.2f} ms (±{sd:.2f})"))
    mean, sd, _ = hyperfine(trainctl(build, "run", "metrics", big_run[0], "--name", "loss",
                                     "--max-points", "500", "-o", "json"), env, runs=20)
    results.append((f"run metrics --name (500 of {big_run[1]:,} points, downsampled)",
                    f"{mean:.2f} ms (±{sd:.2f})"))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--points", type=int, default=100_000)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="trainctl-bench-metrics-") as temp:
        work = Path(temp)
        home = work / "home"
        home.mkdir()
        service = Service(args.build.resolve(), home)
        try:
            big_run = bench_ingest(args.build, service, work, args.points, results)
            bench_follow(args.build, service, work, results)
            bench_show_list(args.build, service, work, (big_run, args.points), results)
        finally:
            service.stop()
    width = max(len(label) for label, _ in results)
    for label, value in results:
        print(f"{label:<{width}}  {value}")


if __name__ == "__main__":
    main()
