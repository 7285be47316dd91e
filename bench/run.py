#!/usr/bin/env python3
"""trainctl benchmarks (budgets: bench/README.md). Builds nothing: pass the build directory.

    bench/run.py --build build/release            # every benchmark, a summary table at the end
    bench/run.py --build build/release --only version,list

Each benchmark starts its own trainctld on a free port with a temp $TRAINCTL_HOME, so it never
touches the user's service. Timings use hyperfine (-N, no shell) where the thing measured is a
whole command, and time.perf_counter around pipes where it is a latency inside a stream.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"


class Service:
    """A trainctld on a free port with its own home."""

    def __init__(self, build: Path, home: Path):
        self.build, self.home = build, home
        self.log = open(home / "trainctld.log", "ab")
        self.proc = subprocess.Popen([str(build / "trainctld"), "--home", str(home), "--port", "0"],
                                     stdout=self.log, stderr=self.log)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                info = json.loads((home / "server.json").read_text())
                if info.get("pid") == self.proc.pid:
                    self.endpoint = info["endpoint"]
                    self.token = (home / "token").read_text().strip()
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
        raise RuntimeError("trainctld did not start; see " + str(home / "trainctld.log"))

    def env(self):
        env = dict(os.environ)
        env.update(TRAINCTL_ENDPOINT=self.endpoint, TRAINCTL_TOKEN=self.token,
                   TRAINCTL_HOME=str(self.home), XDG_CACHE_HOME=str(self.home / "cache"),
                   NO_COLOR="1")
        return env

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=20)


def hyperfine(command, env, runs=200, warmup=10, prepare=None):
    """Mean and stddev in ms of `command` (a list, no shell)."""
    out = Path(tempfile.mkstemp(suffix=".json")[1])
    args = ["hyperfine", "-N", "--warmup", str(warmup), "--runs", str(runs), "--export-json", str(out),
            "--style", "none"]
    if prepare:
        args += ["--prepare", prepare]
    import shlex
    args.append(" ".join(shlex.quote(c) for c in command))
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL)
    result = json.loads(out.read_text())["results"][0]
    out.unlink()
    return result["mean"] * 1000, result["stddev"] * 1000, result["median"] * 1000


def write_project(root: Path, script: str, files: int = 0, spec_extra: str = ""):
    root.mkdir(parents=True, exist_ok=True)
    (root / "main.py").write_text(script)
    for i in range(files):
        sub = root / "data" / f"d{i // 1000:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:05d}.txt").write_text(f"file {i}\n")
    (root / "job.yaml").write_text(
        "experiment: bench\nestimator:\n  entry_script: main.py\n" + spec_extra)
    return root / "job.yaml"


def trainctl(build, *args):
    return [str(build / "trainctl"), *args]


def bench_version(build, work, results):
    mean, sd, median = hyperfine(trainctl(build, "--version"), dict(os.environ), runs=1000, warmup=50)
    hello = work / "hello"
    (work / "hello.cpp").write_text('#include <cstdio>\nint main(){std::puts("hi");}\n')
    subprocess.run(["g++", "-O2", "-o", str(hello), str(work / "hello.cpp")], check=True)
    h_mean, _, _ = hyperfine([str(hello)], dict(os.environ), runs=1000, warmup=50)
    results.append(("trainctl --version", f"{mean:.2f} ms (±{sd:.2f}); C++ hello {h_mean:.2f} ms", "≤ 2 ms"))


def bench_list(build, work, results):
    home = work / "home-list"
    home.mkdir()
    service = Service(build, home)  # creates and migrates the store
    service.stop()
    subprocess.run([str(build / "bench" / "bench_populate_runs"), str(home), "10000"], check=True,
                   stdout=subprocess.DEVNULL)
    service = Service(build, home)
    env = service.env()
    try:
        listed = json.loads(subprocess.run(trainctl(build, "run", "list", "-o", "json", "--limit", "1"),
                                           env=env, check=True, capture_output=True).stdout)
        items = listed["items"] if isinstance(listed, dict) else listed
        run_id = items[0]["id"]
        for label, cmd in [("run list (100 of 10,000 runs)", trainctl(build, "run", "list")),
                           ("run list -o json (100 of 10,000)", trainctl(build, "run", "list", "-o", "json")),
                           ("run show (10,000 runs stored)", trainctl(build, "run", "show", run_id))]:
            mean, sd, median = hyperfine(cmd, env, runs=300)
            results.append((label, f"{mean:.2f} ms (±{sd:.2f})", "≤ 3 ms"))
    finally:
        service.stop()


def bench_submit(build, work, results):
    home = work / "home-submit"
    home.mkdir()
    service = Service(build, home)
    env = service.env()
    try:
        spec = write_project(work / "small", "print('hi')\n")
        subprocess.run(trainctl(build, "submit", str(spec), "-o", "name"), env=env, check=True,
                       capture_output=True)
        mean, sd, _ = hyperfine(trainctl(build, "submit", str(spec), "-o", "name"), env, runs=100)
        results.append(("submit small project (unchanged: nothing uploaded)", f"{mean:.2f} ms (±{sd:.2f})",
                        "≤ 3 ms beyond upload"))

        # Submit to the first line of user code, minus the interpreter's own start.
        py_mean, _, py_median = hyperfine([PYTHON, "-c", "pass"], dict(os.environ), runs=50)
        first = write_project(work / "first", "print('first line', flush=True)\n")
        samples = []
        for _ in range(20):
            start = time.perf_counter()
            proc = subprocess.Popen(trainctl(build, "submit", str(first), "--stream", "-q"), env=env,
                                    stdout=subprocess.PIPE, text=True)
            for line in proc.stdout:
                if "first line" in line:
                    samples.append((time.perf_counter() - start) * 1000)
                    break
            proc.wait()
        median = statistics.median(samples)
        results.append(("submit → first line of user code", f"{median:.1f} ms median; minus python start "
                        f"{py_median:.1f} ms = {median - py_median:.1f} ms", "≤ 50 ms beyond interpreter"))

        # Resubmit of an unchanged 10,000-file project.
        big = write_project(work / "big", "print('big')\n", files=10000)
        t0 = time.perf_counter()
        subprocess.run(trainctl(build, "submit", str(big), "-o", "name"), env=env, check=True,
                       capture_output=True)
        first_submit = (time.perf_counter() - t0) * 1000
        mean, sd, _ = hyperfine(trainctl(build, "submit", str(big), "-o", "name"), env, runs=20, warmup=2)
        results.append(("resubmit unchanged 10,000-file project",
                        f"{mean:.1f} ms (±{sd:.1f}); first submit with upload {first_submit:.0f} ms",
                        "nothing uploaded; ≤ 150 ms"))
    finally:
        service.stop()


def cpu_ticks(pid):
    """User + system CPU time of a process so far, in clock ticks (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def bench_follow(build, work, results):
    home = work / "home-follow"
    home.mkdir()
    service = Service(build, home)
    env = service.env()
    try:
        # Log-follow latency: the task prints its own clock at random phases (10-30 ms apart, so
        # a periodic wake-up anywhere shows as spread); the follower compares on receipt.
        ticker = write_project(work / "ticker",
                               "import random, time\nfor i in range(300):\n"
                               "    print(f'tick {time.time():.6f}', flush=True)\n"
                               "    time.sleep(random.uniform(0.01, 0.03))\n")
        proc = subprocess.Popen(trainctl(build, "submit", str(ticker), "--stream", "-q"), env=env,
                                stdout=subprocess.PIPE, text=True)
        lat = []
        for line in proc.stdout:
            now = time.time()
            if line.startswith("tick "):
                lat.append((now - float(line.split()[1])) * 1000)
        proc.wait()
        lat.sort()
        results.append(("log line → logs --follow", f"p50 {lat[len(lat) // 2]:.1f} ms, p99 "
                        f"{lat[int(len(lat) * 0.99) - 1]:.1f} ms ({len(lat)} lines)", "p99 ≤ 10 ms"))

        # Idle followers: 10 `logs -f` of a running run that prints nothing; CPU over 5 s.
        quiet = write_project(work / "quiet", "import time\nprint('started', flush=True)\ntime.sleep(60)\n")
        run_id = subprocess.run(trainctl(build, "submit", str(quiet), "-o", "name"), env=env, check=True,
                                capture_output=True, text=True).stdout.strip()
        followers = [subprocess.Popen(trainctl(build, "logs", "-f", run_id), env=env,
                                      stdout=subprocess.PIPE, text=True) for _ in range(10)]
        try:
            for follower in followers:
                follower.stdout.readline()  # "started": following, now idle
            pids = [service.proc.pid] + [f.pid for f in followers]
            before = [cpu_ticks(pid) for pid in pids]
            time.sleep(5)
            used = [(cpu_ticks(pid) - b) * 1000 / os.sysconf("SC_CLK_TCK") / 5 for pid, b in zip(pids, before)]
            results.append(("10 idle followers, CPU over 5 s",
                            f"trainctld {used[0]:.1f} ms/s; followers {sum(used[1:]):.1f} ms/s together",
                            "~0"))
        finally:
            subprocess.run(trainctl(build, "run", "cancel", run_id), env=env, capture_output=True)
            for follower in followers:
                follower.wait(timeout=30)
    finally:
        service.stop()


BENCHMARKS = {"version": bench_version, "list": bench_list, "submit": bench_submit,
              "follow": bench_follow}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build/release", type=Path)
    parser.add_argument("--only", default=",".join(BENCHMARKS))
    args = parser.parse_args()
    build = args.build.resolve()
    if not shutil.which("hyperfine"):
        sys.exit("bench: hyperfine is needed (apt-get install hyperfine)")
    results = []
    with tempfile.TemporaryDirectory(prefix="trainctl-bench-") as tmp:
        for name in args.only.split(","):
            BENCHMARKS[name](build, Path(tmp), results)
    width = max(len(r[0]) for r in results)
    print(f"\n{'benchmark'.ljust(width)}  result  [budget]")
    for name, value, budget in results:
        print(f"{name.ljust(width)}  {value}  [{budget}]")


if __name__ == "__main__":
    main()
