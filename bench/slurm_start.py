#!/usr/bin/env python3
"""trainctl on Slurm against bare sbatch, side by side on a throwaway 3-node cluster
(scripts/slurm-cluster.sh; needs root and Debian's slurm-wlm):

- submit -> first line of user code: the moment the script's first statement runs minus the
  moment just before `trainctl submit` (or `sbatch`) started, median of --repetitions, the two
  taking turns, each on an idle cluster at a random phase of slurmctld's scheduling loop;
- trivial runs finished per second: --runs runs submitted one after another, then waited for,
  through trainctl (`submit -o name`, then `run wait` on each) and through sbatch (then squeue
  until the queue is empty).

Runs take --nodes nodes (default 1): trainctl runs a PyTorch-backend run of that many nodes (one
process each); sbatch gets --nodes and srun runs the probe on each. Both ask for whole nodes
(`--exclusive`, as trainctl's jobs do).

    bench/slurm_start.py --build build/ci
    bench/slurm_start.py --build build/ci --repetitions 9 --runs 30
    bench/slurm_start.py --build build/ci --nodes 2

The user code is the same Python file for both; it writes time.time() into a file of a folder the
nodes see. trainctld runs in the controller's network namespace with --advertise-url.
"""
import argparse
import json
import os
import random
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


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--repetitions", type=int, default=15)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--nodes", type=int, default=1, choices=[1, 2, 3])
    parser.add_argument("--seed", type=int, default=1, help="of the random start phases")
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

        jitter = random.Random(args.seed)

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
            # Slurm's own start time depends on when a job arrives relative to slurmctld's
            # periodic work (here 0.3 s or 0.9 s for the same sbatch, in runs of one or the
            # other when submitted in lockstep): a random delay for each sample keeps either side
            # from being lucky.
            time.sleep(jitter.uniform(0.0, 1.0))

        def trainctl_first_line(out: Path):
            wait_idle()
            start = time.time()
            subprocess.run(cli + ["submit", str(project / "job.yaml"), "--set",
                                  f"estimator.script_params={json.dumps([str(out)])}", "-o", "name"],
                           env=env, check=True, stdout=subprocess.DEVNULL)
            return (wait_for_file(out) - start) * 1000

        def sbatch_first_line(out: Path):
            wait_idle()
            start = time.time()
            subprocess.run(sbatch + ["--wrap", f"srun {PYTHON} {project / 'probe.py'} {out}"],
                           env=env, check=True, stdout=subprocess.DEVNULL)
            return (wait_for_file(out) - start) * 1000

        trainctl_first_line(shared / "warm-t")  # uploads the project
        sbatch_first_line(shared / "warm-s")
        samples = {"trainctl": [], "sbatch + srun": []}
        for i in range(args.repetitions):
            samples["trainctl"].append(trainctl_first_line(shared / f"t{i}"))
            samples["sbatch + srun"].append(sbatch_first_line(shared / f"s{i}"))
        print("submit -> first line of user code (median of", args.repetitions, "):")
        for name, values in samples.items():
            print(f"  {name:14s} {statistics.median(values):8.1f} ms")

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
