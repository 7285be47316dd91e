#!/usr/bin/env python3
"""trainctl on Slurm against bare sbatch, side by side on a throwaway 3-node cluster
(scripts/slurm-cluster.sh; needs root and Debian's slurm-wlm):

- submit -> first line of user code: the moment the script's first statement runs minus the
  moment just before `trainctl submit` (or `sbatch`) started, median of --repetitions pairs, each
  sample on an idle cluster, the two sides of a pair submitted at the same phase of slurmctld's
  scheduling pass (below), taking turns at going first; then where the time went, from
  slurmctld's log: before the job reached slurmctld, slurmctld's wait for its scheduling pass,
  and from the job's allocation to the first line;
- trivial runs finished per second: --runs runs submitted one after another, then waited for,
  through trainctl (`submit -o name`, then `run wait` on each) and through sbatch (then squeue
  until the queue is empty).

Runs take --nodes nodes (default 1): trainctl runs a PyTorch-backend run of that many nodes (one
process each); sbatch gets --nodes and srun runs the probe on each. Both ask for whole nodes
(`--exclusive`, as trainctl's jobs do).

    bench/slurm_start.py --build build/ci
    bench/slurm_start.py --build build/ci --repetitions 9 --runs 30
    bench/slurm_start.py --build build/ci --nodes 2 --repetitions 30 --runs 10
    bench/slurm_start.py --build build/ci --nodes 2 --samples samples.json   # every sample too

Why the phases: slurmctld (22.05) only queues a batch job when it is submitted; the job starts at
the next pass of slurmctld's background loop, which comes about once a second. Slurm's own start
is therefore 0 to 1 s depending on when in that second the job arrives. A side whose previous job
ends at the same point of that loop each time also reaches its idle cluster at the same point, so
a random delay before each sample does not make the phase random from run to run: a fixed seed
gives each side one fixed set of phases, and the two medians differed by -180 to +180 ms between
seeds with the code unchanged. Here the passes are read from slurmctld's log (each `sched:
Allocate` line is one), and sample i of both sides starts at phase (i + 0.5) / repetitions of the
period after a pass (the order shuffled by --seed), so both sides wait for Slurm alike. A sample
that reaches slurmctld just after a pass instead of just before it still waits a whole period
more (that is what time spent before sbatch costs on average), which moves a median of 30 by
about 1/30 of a second; the last line, what trainctl adds, is the sum of the two parts that are
trainctl's (before slurmctld has the job, and from its allocation to the first line), compared
median to median, and does not move with that.

The user code is the same Python file for both; it writes time.time() into a file of a folder the
nodes see. trainctld runs in the controller's network namespace with --advertise-url.
"""
import argparse
import datetime
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = ROOT / "scripts" / "slurm-cluster.sh"
PYTHON = "/usr/bin/python3"


def env_file(path: Path):
    values = {}
    for line in path.read_text().splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
    return values


class Cluster:
    def __init__(self, base: Path, hidden: Path):
        subprocess.run([str(CLUSTER), "up", str(base), "--hide", str(hidden)], check=True,
                       stdout=subprocess.DEVNULL)
        self.base = base
        self.env = env_file(base / "cluster.env")
        self.netns = ["nsenter", f"--net=/run/netns/{self.env['CONTROLLER_NETNS']}"]

    def down(self):
        subprocess.run([str(CLUSTER), "down", str(self.base)], check=False)


def wait_for_file(path: Path, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            text = path.read_text().strip()
            if text:
                return float(text)
        except OSError:
            pass
        time.sleep(0.002)
    raise RuntimeError(f"{path} never appeared")


class SlurmctldLog:
    """What slurmctld's log says of the bench's jobs: when each was submitted, when it was
    allocated, and so when slurmctld's scheduling passes come (each `sched: Allocate` line is
    one; they come every ~1.00 s, a little more when slurmctld is busy)."""
    _stamp = re.compile(r"^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})\] (.*)$")

    def __init__(self, path: Path):
        self.path = path
        self.submitted = {}  # job id -> time
        self.allocated = {}
        self.passes = []

    def read(self):
        self.submitted.clear()
        self.allocated.clear()
        self.passes.clear()
        for line in self.path.read_text(errors="replace").splitlines():
            match = self._stamp.match(line)
            if not match:
                continue
            # Slurm writes the local time; naive datetimes are taken as local time too.
            at = datetime.datetime.strptime(match[1], "%Y-%m-%dT%H:%M:%S.%f").timestamp()
            text = match[2]
            if found := re.search(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", text):
                self.submitted[found[1]] = at
            elif found := re.search(r"sched: Allocate JobId=(\d+)", text):
                self.allocated[found[1]] = at
                self.passes.append(at)
            elif found := re.search(r"_start_job: Started JobId=(\d+)", text):
                self.allocated[found[1]] = at  # the backfill scheduler's, not a pass

    def period(self):
        """The loop's period: the median of the gaps between recent passes, each divided by the
        number of periods it spans."""
        periods = []
        for earlier, later in zip(self.passes[-12:], self.passes[-11:]):
            if (count := round(later - earlier)) >= 1:
                periods.append((later - earlier) / count)
        return statistics.median(periods) if periods else 1.0

    def next_time_at_phase(self, phase: float, not_before: float):
        """The first moment after not_before that lies `phase` (0-1) of a period after a pass."""
        self.read()
        if not self.passes:
            return not_before
        period = self.period()
        last = self.passes[-1]
        at = last + phase * period
        if at < not_before:
            at += (int((not_before - at) / period) + 1) * period
        return at

    def job_after(self, start: float):
        """The first job submitted at or after `start` (the bench submits one at a time)."""
        jobs = sorted((at, job) for job, at in self.submitted.items() if at >= start - 0.002)
        return jobs[0][1] if jobs else None


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--repetitions", type=int, default=15)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--nodes", type=int, default=1, choices=[1, 2, 3])
    parser.add_argument("--seed", type=int, default=1, help="of the order of the start phases")
    parser.add_argument("--samples", type=Path,
                        help="write every sample (its phase, times and parts) to this JSON file")
    args = parser.parse_args()
    build = args.build.resolve()

    work = Path(tempfile.mkdtemp(prefix="trainctl-bench-slurm-"))
    hidden = work / "hidden"
    shared = work / "shared"  # the nodes see it: the probe writes its clock here
    hidden.mkdir()
    shared.mkdir()
    cluster = Cluster(work / "cluster", hidden)
    home = hidden / "home"
    home.mkdir()
    service = None
    try:
        service = subprocess.Popen(cluster.netns + [str(build / "trainctld"), "--home", str(home),
                                                    "--bind", "0.0.0.0", "--port", "0",
                                                    "--advertise-url", "http://192.0.2.254"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while not (home / "server.json").exists() and time.time() < deadline:
            time.sleep(0.02)
        endpoint = json.loads((home / "server.json").read_text())["endpoint"]
        env = dict(os.environ, TRAINCTL_ENDPOINT=endpoint,
                   TRAINCTL_TOKEN=(home / "token").read_text().strip(),
                   XDG_CACHE_HOME=str(work / "cache"), NO_COLOR="1",
                   SLURM_CONF=cluster.env["SLURM_CONF"])
        cli = cluster.netns + [str(build / "trainctl")]
        subprocess.run(cli + ["compute", "create", "hpc", "--type", "slurm", "--partition", "debug",
                              "--max-nodes", "3", "--slurm-conf", cluster.env["SLURM_CONF"], "--wait"],
                       env=env, check=True, stdout=subprocess.DEVNULL)

        project = work / "project"
        project.mkdir()
        (project / "probe.py").write_text(
            "import sys, time\nstarted = time.time()\n"
            "open(sys.argv[1], 'w').write(repr(started))\n")
        nodes = args.nodes
        (project / "job.yaml").write_text(
            "experiment: bench\ncompute: hpc\nestimator:\n  entry_script: probe.py\n"
            "  script_params: {--out: x}\n" +
            (f"  node_count: {nodes}\n  distributed_training: {{backend: pytorch}}\n" if nodes > 1 else ""))
        sbatch = cluster.netns + ["sbatch", "--parsable", "--output=/dev/null", f"--nodes={nodes}",
                                  "--exclusive"]

        slurmctld = SlurmctldLog(cluster.base / "log" / "slurmctld.log")

        def wait_idle():
            # Every sample starts on an idle cluster: a job submitted while the last one still
            # holds (or is releasing) the nodes waits for Slurm's next scheduling pass instead.
            while True:
                queue = subprocess.run(cluster.netns + ["squeue", "-h"], env=env,
                                       capture_output=True, text=True).stdout.strip()
                states = subprocess.run(cluster.netns + ["sinfo", "-h", "-o", "%t"], env=env,
                                        capture_output=True, text=True).stdout.split()
                if not queue and states and all(state == "idle" for state in states):
                    break
                time.sleep(0.02)

        def submit_at(phase):
            # A little later than now, at `phase` of slurmctld's scheduling period.
            wait_idle()
            at = slurmctld.next_time_at_phase(phase, time.time() + 0.05)
            time.sleep(max(0.0, at - time.time()))

        def trainctl_submit(out: Path):
            subprocess.run(cli + ["submit", str(project / "job.yaml"), "--set",
                                  f"estimator.script_params={json.dumps([str(out)])}", "-o", "name"],
                           env=env, check=True, stdout=subprocess.DEVNULL)

        def sbatch_submit(out: Path):
            subprocess.run(sbatch + ["--wrap", f"srun {PYTHON} {project / 'probe.py'} {out}"],
                           env=env, check=True, stdout=subprocess.DEVNULL)

        sides = {"trainctl": trainctl_submit, "sbatch + srun": sbatch_submit}

        def first_line(side, phase, out: Path):
            submit_at(phase)
            start = time.time()
            sides[side](out)
            first = wait_for_file(out)
            return {"start": start, "first": first}

        first_line("trainctl", 0.5, shared / "warm-t")  # uploads the project
        first_line("sbatch + srun", 0.5, shared / "warm-s")
        phases = [(i + 0.5) / args.repetitions for i in range(args.repetitions)]
        random.Random(args.seed).shuffle(phases)
        samples = {side: [] for side in sides}
        for i, phase in enumerate(phases):
            order = list(sides) if i % 2 == 0 else list(reversed(sides))
            for side in order:
                sample = first_line(side, phase, shared / f"{side[0]}{i}")
                sample["phase"] = phase
                samples[side].append(sample)

        # Where the time went, from slurmctld's log.
        time.sleep(0.5)
        slurmctld.read()
        for values in samples.values():
            for sample in values:
                job = slurmctld.job_after(sample["start"])
                submitted = slurmctld.submitted.get(job)
                allocated = slurmctld.allocated.get(job)
                sample["total"] = (sample["first"] - sample["start"]) * 1000
                if submitted is not None and allocated is not None:
                    sample["to slurmctld"] = (submitted - sample["start"]) * 1000
                    sample["slurm's wait"] = (allocated - submitted) * 1000
                    sample["allocated -> first line"] = (sample["first"] - allocated) * 1000
                sample["job"] = job
        if args.samples:
            args.samples.write_text(json.dumps(samples, indent=1) + "\n")

        def spread(values):
            values = sorted(values)
            quartile = len(values) // 4
            return (f"{statistics.median(values):7.1f} ms  (quartiles {values[quartile]:.0f}-"
                    f"{values[-1 - quartile]:.0f}, {values[0]:.0f}-{values[-1]:.0f})")

        print(f"submit -> first line of user code, {nodes} node(s), median of {args.repetitions} "
              "(quartiles, range):")
        for side, values in samples.items():
            print(f"  {side:14s} {spread([sample['total'] for sample in values])}")
        paired = [t["total"] - s["total"] for t, s in zip(samples["trainctl"], samples["sbatch + srun"])]
        print(f"  trainctl - sbatch, pair by pair: {spread(paired)}")
        print("where it went, medians (from slurmctld's log):")
        parts = ["to slurmctld", "slurm's wait", "allocated -> first line"]
        print(f"  {'':14s} " + "".join(f"{part:>25s}" for part in parts))
        for side, values in samples.items():
            cells = []
            for part in parts:
                known = [sample[part] for sample in values if part in sample]
                cells.append(f"{statistics.median(known):22.1f} ms" if known else f"{'-':>25s}")
            print(f"  {side:14s} " + "".join(cells))

        def median_of(side, part):
            known = [sample[part] for sample in samples[side] if part in sample]
            return statistics.median(known) if known else None

        # Slurm's wait for its pass is 0-1 s for both alike (the same phases); what trainctl adds
        # to Slurm's start is the rest: its time before the job reaches slurmctld and its time
        # from the allocation to the user's first line.
        own = {part: (median_of("trainctl", part), median_of("sbatch + srun", part))
               for part in ("to slurmctld", "allocated -> first line")}
        if all(None not in pair for pair in own.values()):
            before = own["to slurmctld"][0] - own["to slurmctld"][1]
            after = own["allocated -> first line"][0] - own["allocated -> first line"][1]
            print(f"trainctl adds {before + after:.1f} ms to Slurm's start: {before:+.1f} ms before "
                  f"slurmctld has the job, {after:+.1f} ms from the allocation to the first line")

        # Trivial runs finished per second.
        start = time.time()
        ids = []
        for i in range(args.runs):
            done = subprocess.run(cli + ["submit", str(project / "job.yaml"), "--set",
                                         f"estimator.script_params={json.dumps([str(shared / f'r{i}')])}",
                                         "-o", "name"], env=env, check=True, capture_output=True, text=True)
            ids.append(done.stdout.strip())
        for run in ids:
            subprocess.run(cli + ["run", "wait", run], env=env, check=True, stdout=subprocess.DEVNULL)
        trainctl_rate = args.runs / (time.time() - start)
        start = time.time()
        for i in range(args.runs):
            subprocess.run(sbatch + ["--wrap", f"srun {PYTHON} {project / 'probe.py'} {shared / f'b{i}'}"],
                           env=env, check=True, stdout=subprocess.DEVNULL)
        while subprocess.run(cluster.netns + ["squeue", "-h"], env=env, capture_output=True,
                             text=True).stdout.strip():
            time.sleep(0.02)
        sbatch_rate = args.runs / (time.time() - start)
        print(f"trivial {nodes}-node runs finished per second ({args.runs} runs):")
        print(f"  trainctl       {trainctl_rate:8.2f} /s")
        print(f"  sbatch + srun  {sbatch_rate:8.2f} /s")
    finally:
        if service is not None:
            service.terminate()
            service.wait(timeout=20)
        cluster.down()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
