#!/usr/bin/env python3
"""A sweep of trivial trials against the same runs submitted from a shell loop (bench/README.md,
Sweeps).

    bench/sweeps.py --build build/ci                     # 100 trials, 8 at once

Starts its own trainctld. The sweep: `trainctl submit sweep.yaml --stream` of a random sweep of N
trials, C at once, each trial a Python script that logs one metric; timed from the submit to the
sweep's end. The loop: N `trainctl submit job.yaml --set estimator.script_params.--x=<i>` in
sequence, then `trainctl run wait` for each; timed from the first submit to the last run's end.
The service runs at most 8 runs at once on the local target either way (8 virtual nodes).
"""
import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import Service, trainctl  # noqa: E402

SCRIPT = "import sys, trainctl\ntrainctl.log_metric('score', float(sys.argv[-1]))\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--concurrent", type=int, default=8)
    args = parser.parse_args()
    build = args.build.resolve()
    with tempfile.TemporaryDirectory(prefix="trainctl-bench-sweeps-") as temp:
        work = Path(temp)
        (work / "home").mkdir()
        project = work / "project"
        project.mkdir()
        (project / "main.py").write_text(SCRIPT)
        (project / "job.yaml").write_text(
            "experiment: bench-loop\nestimator:\n  entry_script: main.py\n  script_params: {--x: 0}\n")
        (project / "sweep.yaml").write_text(
            "experiment: bench-sweep\nestimator:\n  entry_script: main.py\n  script_params: {--x: 0}\n"
            "sweep:\n  sampling: random\n  search_space: {--x: {type: uniform, min: 0, max: 1}}\n"
            "  objective: {primary_metric: score}\n"
            f"  limits: {{max_total_trials: {args.trials}, max_concurrent_trials: {args.concurrent}}}\n")
        service = Service(build, work / "home")
        env = service.env()
        try:
            # Warm up: the first run pays for caches.
            subprocess.run(trainctl(build, "submit", str(project / "job.yaml"), "--stream"), env=env,
                           check=True, capture_output=True)
            start = time.perf_counter()
            subprocess.run(trainctl(build, "submit", str(project / "sweep.yaml"), "--stream"), env=env,
                           check=True, capture_output=True)
            sweep_seconds = time.perf_counter() - start

            start = time.perf_counter()
            runs = []
            for i in range(args.trials):
                out = subprocess.run(trainctl(build, "submit", str(project / "job.yaml"), "-o", "name",
                                              "--set", f"estimator.script_params.--x={i}"),
                                     env=env, check=True, capture_output=True, text=True).stdout
                runs.append(out.strip().splitlines()[-1])
            submitted_seconds = time.perf_counter() - start
            for run in runs:
                subprocess.run(trainctl(build, "run", "wait", run), env=env, check=True,
                               capture_output=True)
            loop_seconds = time.perf_counter() - start
        finally:
            service.stop()
    print(f"sweep of {args.trials} trials, {args.concurrent} at once (submit --stream to its end): "
          f"{sweep_seconds:.2f} s ({args.trials / sweep_seconds:.1f} trials/s)")
    print(f"shell loop of {args.trials} submits, then run wait for each: {loop_seconds:.2f} s "
          f"(the submits alone {submitted_seconds:.2f} s)")


if __name__ == "__main__":
    main()
