#!/usr/bin/env python3
"""Submit → first line of user code, for sources of 1, 1,000 and 10,000 files: what the working
directory (a folder per source folder, a link per source file) costs at start. With --baseline,
the same is measured against another build (e.g. one from before working directories), the two
taking turns so that a change in load hits both alike.

    bench/workdir_start.py --build build/ci
    bench/workdir_start.py --build build/ci --baseline /tmp/old/build/ci --repetitions 15

Each build gets its own trainctld (bench/run.py's Service) with a temp home. The source is
uploaded by an untimed first submit; the timed submits find every file stored already (the hash
cache), so what is timed is the CLI, the service, the snapshot's materialization, the working
directory and the interpreter's start. Reported: the median of the repetitions, and the
interpreter's own start (`python3 -c pass`) for reference.
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import PYTHON, Service, hyperfine, trainctl, write_project  # noqa: E402


def first_line_ms(build: Path, spec: Path, env) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(trainctl(build, "submit", str(spec), "--stream", "-q"), env=env,
                            stdout=subprocess.PIPE, text=True)
    elapsed = None
    for line in proc.stdout:
        if "first line" in line and elapsed is None:
            elapsed = (time.perf_counter() - start) * 1000
    proc.wait()
    if elapsed is None:
        raise RuntimeError(f"{build}: the run printed no first line (exit {proc.returncode})")
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--baseline", type=Path, help="another build to compare with")
    parser.add_argument("--files", default="1,1000,10000", help="source sizes, comma-separated")
    parser.add_argument("--repetitions", type=int, default=11)
    args = parser.parse_args()

    builds = {"build": args.build.resolve()}
    if args.baseline:
        builds["baseline"] = args.baseline.resolve()
    with tempfile.TemporaryDirectory(prefix="trainctl-bench-workdir-") as tmp:
        work = Path(tmp)
        services = {}
        try:
            for name, build in builds.items():
                home = work / f"home-{name}"
                home.mkdir()
                services[name] = Service(build, home)
            _, _, python_start = hyperfine([PYTHON, "-c", "pass"], None, runs=30, warmup=3)
            print(f"python3 -c pass: {python_start:.1f} ms median")
            print(f"{'files':>6}  " + "  ".join(f"{name:>10}" for name in builds) +
                  ("  ratio" if args.baseline else ""))
            for count in (int(n) for n in args.files.split(",")):
                spec = write_project(work / f"src-{count}", "print('first line', flush=True)\n",
                                     files=max(count - 1, 0))
                samples = {name: [] for name in builds}
                for name, build in builds.items():  # upload once, untimed
                    first_line_ms(build, spec, services[name].env())
                for _ in range(args.repetitions):
                    for name, build in builds.items():
                        samples[name].append(first_line_ms(build, spec, services[name].env()))
                medians = {name: statistics.median(values) for name, values in samples.items()}
                row = f"{count:>6}  " + "  ".join(f"{medians[name]:>7.1f} ms" for name in builds)
                if args.baseline:
                    row += f"  {medians['build'] / medians['baseline']:.2f}"
                print(row, flush=True)
        finally:
            for service in services.values():
                service.stop()


if __name__ == "__main__":
    main()
