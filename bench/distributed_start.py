#!/usr/bin/env python3
"""Start overhead of an MPI run: from `trainctl submit` to every rank running, for 1, 4 and 8
ranks, against the same `mpirun` command (docs/job-spec.md) started by hand.

    bench/distributed_start.py --build build/release
    bench/distributed_start.py --build build/release --ranks 1,4 --repetitions 9 --probes first-line

"Running" is the first line of user code: each rank's probe script takes time.time() as its first
statement and writes it to a file named by its rank in a shared temp directory. The `mpi-init`
probe imports mpi4py first, so MPI_Init is included. Overhead = latest rank start - the moment
just before `trainctl submit --stream` (or mpirun) was started; the median over the repetitions
is reported, after one unmeasured warm-up of each; the two launches take turns. Like
bench/run.py, it starts its own trainctld on a free port with a temp $TRAINCTL_HOME.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run import PYTHON, Service, trainctl

PROBES = {
    "first-line": "import time\n"
                  "started = time.time()  # the first line of user code\n",
    "mpi-init": "from mpi4py import MPI  # MPI_Init\n"
                "import time\n"
                "started = time.time()\n",
}
RECORD = ("import os, sys\n"
          "with open(os.path.join(sys.argv[1], os.environ['OMPI_COMM_WORLD_RANK']), 'w') as f:\n"
          "    f.write(repr(started))\n")

# The engine's mpirun command line, as it runs it (minus the -x of each run variable).
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
          "--map-by", "slot", "--mca", "btl", "self,tcp",
          "--mca", "btl_vader_single_copy_mechanism", "none", "--mca", "mpi_yield_when_idle", "1"]


def write_probe_project(root: Path, probe: str, ranks: int, starts: Path) -> Path:
    """A project whose MPI run starts `ranks` probes writing into `starts`; returns its job.yaml."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "probe.py").write_text(PROBES[probe] + RECORD)
    (root / "job.yaml").write_text(
        "experiment: bench-distributed-start\n"
        "estimator:\n  entry_script: probe.py\n"
        f"  script_params: ['{starts}']\n"
        f"  node_count: 1\n  process_count_per_node: {ranks}\n"
        "  distributed_training:\n    backend: mpi\n")
    return root / "job.yaml"


def latest_start(starts: Path, ranks: int) -> float:
    """The time the last rank started; fails unless every rank recorded its start."""
    recorded = list(starts.iterdir())
    if len(recorded) != ranks:
        raise RuntimeError(f"{len(recorded)} of {ranks} ranks recorded their start in {starts}")
    return max(float(path.read_text()) for path in recorded)


def start_overhead(command, env, starts: Path, ranks: int) -> float:
    """Seconds from starting `command` to its last rank running; `command` must exit 0."""
    for path in starts.iterdir():
        path.unlink()
    submitted = time.time()
    finished = subprocess.run(command, env=env, capture_output=True, text=True)
    if finished.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {finished.returncode}:\n"
                           f"{finished.stdout}{finished.stderr}")
    return latest_start(starts, ranks) - submitted


def median_overheads_ms(launches, starts, ranks, repetitions):
    """The median overhead of each (command, env) of `launches`, in ms. The launches take turns,
    so that a change in the machine's load hits them alike."""
    for command, env in launches:
        start_overhead(command, env, starts, ranks)  # warm-up: snapshot upload, page cache
    samples = [[] for _ in launches]
    for _ in range(repetitions):
        for sample, (command, env) in zip(samples, launches):
            sample.append(start_overhead(command, env, starts, ranks) * 1000)
    return [statistics.median(sample) for sample in samples]


def measure(build: Path, work: Path, ranks_list, probes, repetitions):
    """Rows of (probe, ranks, trainctl ms, hand ms)."""
    home = work / "home"
    home.mkdir()
    service = Service(build, home)
    rows = []
    try:
        for probe in probes:
            for ranks in ranks_list:
                starts = work / f"starts-{probe}-{ranks}"
                starts.mkdir()
                project = work / f"project-{probe}-{ranks}"
                spec = write_probe_project(project, probe, ranks, starts)
                submit = trainctl(build, "submit", str(spec), "--stream", "-q")
                hand = [*MPIRUN, "-np", str(ranks), "-H", f"localhost:{ranks}",
                        "--output-filename", str(work / f"hand-logs-{probe}-{ranks}"),
                        "-x", "PATH", PYTHON, "-m", "mpi4py", str(project / "probe.py"),
                        str(starts)]
                ours, by_hand = median_overheads_ms(
                    [(submit, service.env()), (hand, dict(os.environ))], starts, ranks, repetitions)
                rows.append((probe, ranks, ours, by_hand))
                print(f"{probe} {ranks} ranks: trainctl {ours:.0f} ms, mpirun by hand "
                      f"{by_hand:.0f} ms", file=sys.stderr, flush=True)
    finally:
        service.stop()
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build/release", type=Path)
    parser.add_argument("--ranks", default="1,4,8")
    parser.add_argument("--probes", default=",".join(PROBES))
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trainctl-bench-distributed-") as tmp:
        rows = measure(args.build.resolve(), Path(tmp), [int(n) for n in args.ranks.split(",")],
                       args.probes.split(","), args.repetitions)
    print(f"\nsubmit → every rank running, median of {args.repetitions}")
    print(f"{'probe':<11} {'ranks':>5} {'trainctl':>10} {'by hand':>10} {'ratio':>6} {'extra':>9}")
    for probe, ranks, ours, hand in rows:
        print(f"{probe:<11} {ranks:>5} {ours:>7.0f} ms {hand:>7.0f} ms {ours / hand:>6.2f} "
              f"{ours - hand:>6.0f} ms")


if __name__ == "__main__":
    main()
