#!/usr/bin/env python3
"""trainctl against Slurm at every client command, side by side in one run (bench/README.md,
"Client commands: trainctl against Slurm's clients").

    bench/client_speed.py --build build/release                  # every row, Slurm beside
    bench/client_speed.py --build build/release --only version,show,list --rounds 200
    bench/client_speed.py --build build/ci --no-slurm             # trainctl only
    bench/client_speed.py --build build/ci --no-slurm --rounds 1 --only version,submit,show,list,follow
                                                                  # smoke: 30-40 s

Rows (--only takes these names):

  version     `trainctl --version`                   | `sbatch --version`
  submit      `trainctl submit job.yaml -o name`, a small unchanged project, the compute target
              held by a sleeping run so nothing starts | `sbatch --hold --parsable --wrap true`;
              each round's run and job are cancelled after it (untimed)
  concurrent  8 clients (threads) each running --per-client of those submits one after another,
              runs/s over the batch | the same with sbatch; a fresh service (and an emptied
              Slurm queue) for each batch. Also the CPU each submit costs: this script's,
              the client's and its controller's (trainctld, slurmctld), beside one batch of
              `/bin/true` spawned the same way, the floor
  show        `trainctl run show ID` with 10,000 runs stored (bench_populate_runs) | `squeue -j
              ID` of one of 500 held jobs
  list        `trainctl run list` (a page of 100 of those 10,000) | `squeue` (500 held jobs)
  follow      a run prints its clock every 20 ms; `trainctl logs RUN -f` receives the lines and
              the bench compares on receipt: p50/p99 (no Slurm counterpart)
  resubmit    `trainctl submit job.yaml -o name` of an unchanged 10,000-file project (the first,
              uploading submit untimed); the bytes it sends are counted with strace on one more
              resubmit, and trainctld's own disk writes (wchar of /proc/PID/io) meanwhile

Timing: every command is timed whole, from spawn to exit, by one small timer in this script:
time.perf_counter() around os.posix_spawn (stdout to a file, stderr to /dev/null) and
os.wait4, the same code for both sides; wait4's rusage gives each command's CPU time (user +
system) and page faults, printed beside the wall times. The timer's own cost is measured too
(`/bin/true`, printed under the table). Each row warms both sides up first, then runs --rounds rounds; every
round runs both commands once, in alternating order (A B, then B A, ...), so that a change in
load hits both alike. Times are medians (and p99 where the tail matters) of the rounds.

Slurm runs on a throwaway cluster (scripts/slurm-cluster.sh; needs root and Debian's
slurm-wlm). Slurm's clients must run in the controller's network namespace; so that both sides
start the same way, the script re-executes itself in that namespace (nsenter --net=...) and does
all its measuring there, with its trainctld on that namespace's loopback. The cluster is taken
down at the end, also on an error or Ctrl-C. Every process started is stopped by its pid and
every temp dir removed.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
# The Slurm cluster, a trainctld with a held target, threads at once (bench/batch_submit.py).
from batch_submit import CLUSTER, Cluster, Fixture, parallel  # noqa: E402
from run import Service, write_project  # noqa: E402  (a private trainctld, a project on disk)
from slurm_start import env_file  # noqa: E402  (the cluster script's cluster.env)

ROWS = ["version", "submit", "concurrent", "show", "list", "follow", "resubmit"]
SLURM_JOBS_LISTED = 500
RUNS_STORED = 10000
CLIENTS = 8


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(fraction * len(ordered))) - 1))]


class Timer:
    """Runs a command from spawn to exit and returns its wall time in ms."""

    def __init__(self, work: Path):
        self.out = str(work / "timer.out")
        self.cpu = self.faults = 0.0  # of the last command run

    def run(self, argv, env):
        actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 1, self.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                   (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0)]
        start = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
        _, status, usage = os.wait4(pid, 0)
        elapsed = (time.perf_counter() - start) * 1000
        self.cpu = (usage.ru_utime + usage.ru_stime) * 1000
        self.faults = usage.ru_minflt + usage.ru_majflt
        if os.waitstatus_to_exitcode(status) != 0:
            # Once more, to say why (untimed).
            done = subprocess.run(argv, env=env, capture_output=True, text=True)
            raise RuntimeError(f"{' '.join(argv)} failed (exit {os.waitstatus_to_exitcode(status)}): "
                               f"{done.stderr.strip()[:500]}")
        return elapsed

    def output(self):
        return Path(self.out).read_text()


class Side:
    """One side of a row: a label, the command, its environment; optional work after each run."""

    def __init__(self, label, argv, env, after=None):
        self.label, self.argv, self.env, self.after = label, argv, env, after
        self.samples = []
        self.cpu = []  # ms of CPU (user + system) per sample, when timed by the Timer
        self.faults = []


def interleave(timer, sides, rounds, warmup):
    """Warms every side up, then runs `rounds` rounds of each side once, in alternating order."""
    for side in sides:
        for _ in range(warmup):
            timer.run(side.argv, side.env)
            if side.after:
                side.after(timer.output())
    for index in range(rounds):
        for side in (sides if index % 2 == 0 else list(reversed(sides))):
            side.samples.append(timer.run(side.argv, side.env))
            side.cpu.append(timer.cpu)
            side.faults.append(timer.faults)
            if side.after:
                side.after(timer.output())


def cpu_split(controller_pid):
    """CPU seconds so far (user + system) of this process, of its ended children, and of
    `controller_pid` (0 when none)."""
    own = os.times()
    controller = 0.0
    if controller_pid:
        fields = Path(f"/proc/{controller_pid}/stat").read_text().rsplit(")", 1)[1].split()
        controller = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return (own.user + own.system, own.children_user + own.children_system, controller)


def which(name):
    path = shutil.which(name)
    if not path:
        raise RuntimeError(f"{name} not found")
    return path


class Bench:
    def __init__(self, args, work: Path):
        self.args = args
        self.build = args.build.resolve()
        self.trainctl = str(self.build / "trainctl")
        self.work = work
        self.timer = Timer(work)
        self.slurm = not args.no_slurm
        self.slurm_env = dict(os.environ)  # SLURM_CONF comes with the re-executed process
        self.rows = []  # (row, trainctl, slurm, ratio, budget, verdict)
        self.details = []  # (row, side, samples summary)
        self.notes = []
        self.anatomies = []  # (command, requests, bytes sent, bytes received)
        self.serial = 0
        self.rounds = args.rounds
        self.warmup = min(5, max(1, args.rounds // 20))
        self.hold = work / "hold"  # a folder of its own, so the blocker's snapshot stays apart
        self.hold.mkdir()
        (self.hold / "hold.py").write_text("import time\ntime.sleep(3600)\n")
        (self.hold / "blocker.yaml").write_text(
            "experiment: blocker\ncompute: bench\nestimator:\n  entry_script: hold.py\n")
        self.small = write_project(work / "small", "print('hi')\n", spec_extra="compute: bench\n")

    # --- helpers -------------------------------------------------------------------------------

    def fixture(self):
        """A fresh trainctld whose target `bench` is held by a sleeping run."""
        self.serial += 1
        return HeldFixture(self.build, self.work, self.small.parent, self.hold / "blocker.yaml",
                           f"home-{self.serial}")

    def sbatch_submit(self):
        return [which("sbatch"), "--hold", "--parsable", "--output=/dev/null", "--wrap", "true"]

    def slurm_cancel_all(self, wait):
        subprocess.run([which("scancel"), "--user", "root"], env=self.slurm_env, check=False)
        deadline = time.time() + 60
        while wait and time.time() < deadline:  # until the records are purged too
            left = subprocess.run([which("squeue"), "-h", "-t", "all"], env=self.slurm_env,
                                  capture_output=True, text=True).stdout
            if not left.strip():
                return
            time.sleep(0.2)

    def add(self, row, sides, budget, verdict, unit="ms", fmt=None):
        fmt = fmt or (lambda s: f"{statistics.median(s.samples):.2f} ms")
        trainctl = sides[0]
        slurm = sides[1] if len(sides) > 1 else None
        t_text = f"{trainctl.label}: {fmt(trainctl)}"
        s_text = f"{slurm.label}: {fmt(slurm)}" if slurm else "—"
        ratio = "—"
        if slurm:
            a, b = statistics.median(trainctl.samples), statistics.median(slurm.samples)
            ratio = f"{a / b:.2f}×"
        self.rows.append((row, t_text, s_text, ratio, budget, verdict))
        for side in sides:
            s = side.samples
            cpu = f"{statistics.median(side.cpu):.2f}" if side.cpu else ""
            faults = f"{statistics.median(side.faults):.0f}" if side.faults else ""
            self.details.append((row, side.label, len(s), min(s), statistics.median(s),
                                 percentile(s, 0.9), percentile(s, 0.99), max(s), unit, cpu, faults))

    @staticmethod
    def verdict(ok):
        return "met" if ok else "**missed**"

    # --- rows ----------------------------------------------------------------------------------

    def row_floor(self):
        """The timer's own cost: spawning /bin/true."""
        side = Side("/bin/true", ["/bin/true"], dict(os.environ))
        interleave(self.timer, [side], self.rounds, self.warmup)
        self.floor = statistics.median(side.samples)

    def row_version(self):
        sides = [Side("`trainctl --version`", [self.trainctl, "--version"], dict(os.environ))]
        if self.slurm:
            sides.append(Side("`sbatch --version`", [which("sbatch"), "--version"], self.slurm_env))
        interleave(self.timer, sides, self.rounds, self.warmup)
        self.anatomy(sides[0])
        t = statistics.median(sides[0].samples)
        ok = t <= 1.5 and (not self.slurm or t <= statistics.median(sides[1].samples))
        self.add("`--version`", sides, "≤ 1.5 ms and ≤ sbatch", self.verdict(ok))

    def row_submit(self):
        fixture = self.fixture()
        try:
            cli = [self.trainctl, "submit", str(self.small), "-o", "name"]
            fixture.cli(cli[1:])  # uploads the project: later submits find it unchanged

            def cancel_run(out):
                fixture.cli(["run", "cancel", out.strip()])

            sides = [Side("`trainctl submit -o name`", cli, fixture.env, cancel_run)]
            if self.slurm:
                sides.append(Side("`sbatch --hold --wrap true`", self.sbatch_submit(), self.slurm_env,
                                  lambda out: self.slurm_cancel_all(wait=False)))
            interleave(self.timer, sides, self.rounds, self.warmup)
            self.anatomy(sides[0])
        finally:
            fixture.stop()
            if self.slurm:
                self.slurm_cancel_all(wait=True)
        t = statistics.median(sides[0].samples)
        ok = not self.slurm or t <= statistics.median(sides[1].samples)
        self.add("submit a trivial job, service warm, nothing runs", sides,
                 "≤ sbatch", self.verdict(ok) if self.slurm else "—")

    def row_concurrent(self):
        per_client = self.args.per_client
        batches = max(1, self.rounds // 20)
        total = CLIENTS * per_client
        splits = {}  # side label -> [(driver, clients, controller) CPU ms per submit, per batch]

        def clients(label, argv, env, controller_pid=None):
            """runs/s of one batch; notes where the CPU went, per submit."""
            def submit(_):
                for _ in range(per_client):
                    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
            before = cpu_split(controller_pid)
            rate = total / parallel(CLIENTS, submit)
            after = cpu_split(controller_pid)
            splits.setdefault(label, []).append(
                tuple((b - a) * 1000 / total for a, b in zip(before, after)))
            return rate

        # The floor: processes that do nothing, spawned the same way (no service).
        clients("`/bin/true`", ["/bin/true"], dict(os.environ))
        t_side = Side("`trainctl submit`", None, None)
        s_side = Side("`sbatch --hold`", None, None)
        order = [t_side, s_side] if self.slurm else [t_side]
        for batch in range(batches):
            for side in (order if batch % 2 == 0 else list(reversed(order))):
                if side is t_side:
                    fixture = self.fixture()
                    try:
                        cli = [self.trainctl, "submit", str(self.small), "-o", "name"]
                        fixture.cli(cli[1:])  # the upload, untimed
                        side.samples.append(clients(side.label, cli, fixture.env,
                                                    fixture.service.proc.pid))
                    finally:
                        fixture.stop()
                else:
                    pid = int((self.work / "cluster" / "run" / "slurmctld.pid").read_text())
                    side.samples.append(clients(side.label, self.sbatch_submit(), self.slurm_env,
                                                pid))
                    self.slurm_cancel_all(wait=True)
        cores = os.cpu_count() or 1
        for label, values in splits.items():
            driver, client, controller = (statistics.median(v[i] for v in values) for i in range(3))
            whole = driver + client + controller
            self.notes.append(
                f"concurrent, CPU per submit of {label} (median of {len(values)} batches): this "
                f"script {driver:.2f} ms + the client {client:.2f} ms + its controller "
                f"{controller:.2f} ms = {whole:.2f} ms; {cores} cores can do at most "
                f"{cores * 1000 / whole:.0f}/s of it")

        def fmt(side):
            return f"{statistics.median(side.samples):.0f} runs/s"

        t = statistics.median(t_side.samples)
        ok = not self.slurm or t >= 2 * statistics.median(s_side.samples)
        label = f"{CLIENTS} concurrent clients × {per_client} submits (median of {batches})"
        self.add(label, order, "≥ 2× sbatch", self.verdict(ok) if self.slurm else "—",
                 unit="runs/s", fmt=fmt)
        if self.slurm:  # for runs/s more is better: the ratio says how many times sbatch's rate
            row = self.rows[-1]
            rate = t / statistics.median(s_side.samples)
            self.rows[-1] = row[:3] + (f"{rate:.2f}× the rate",) + row[4:]

    def populated_service(self):
        home = self.work / "home-populated"
        home.mkdir()
        service = Service(self.build, home)  # creates and migrates the store
        service.stop()
        populate = self.build / "bench" / "bench_populate_runs"
        subprocess.run([str(populate), str(home), str(RUNS_STORED)], check=True, stdout=subprocess.DEVNULL)
        return Service(self.build, home)

    def rows_show_list(self, wanted):
        service = self.populated_service()
        env = service.env()
        jobs = []
        try:
            listed = json.loads(subprocess.run(
                [self.trainctl, "run", "list", "-o", "json", "--limit", "1"], env=env, check=True,
                capture_output=True).stdout)
            items = listed["items"] if isinstance(listed, dict) else listed
            run_id = items[0]["id"]
            if self.slurm:
                for _ in range(SLURM_JOBS_LISTED):
                    jobs.append(subprocess.run(self.sbatch_submit(), env=self.slurm_env, check=True,
                                               capture_output=True, text=True).stdout.strip())
            job_id = jobs[len(jobs) // 2] if jobs else None
            if "show" in wanted:
                sides = [Side("`trainctl run show ID`", [self.trainctl, "run", "show", run_id], env)]
                if self.slurm:
                    sides.append(Side("`squeue -j ID`", [which("squeue"), "-j", job_id],
                                      self.slurm_env))
                interleave(self.timer, sides, self.rounds, self.warmup)
                self.anatomy(sides[0], service)
                t = statistics.median(sides[0].samples)
                ok = not self.slurm or t <= statistics.median(sides[1].samples)
                self.add(f"show one job, {RUNS_STORED:,} stored", sides, "≤ squeue -j",
                         self.verdict(ok) if self.slurm else "—")
            if "list" in wanted:
                sides = [Side("`trainctl run list` (100 of 10,000)",
                              [self.trainctl, "run", "list"], env)]
                if self.slurm:
                    sides.append(Side(f"`squeue` ({SLURM_JOBS_LISTED} held)", [which("squeue")],
                                      self.slurm_env))
                interleave(self.timer, sides, self.rounds, self.warmup)
                self.anatomy(sides[0], service)
                t = statistics.median(sides[0].samples)
                ok = not self.slurm or t <= statistics.median(sides[1].samples)
                self.add("list a page", sides, "≤ squeue",
                         self.verdict(ok) if self.slurm else "—")
                size = len(subprocess.run([self.trainctl, "run", "list", "-o", "json"], env=env,
                                          check=True, capture_output=True).stdout)
                lines = len(subprocess.run([which("squeue")], env=self.slurm_env, capture_output=True,
                                           text=True).stdout.splitlines()) if self.slurm else 0
                self.notes.append(f"list: `run list -o json` prints {size:,} bytes for its page"
                                  + (f"; `squeue` prints {lines} lines" if self.slurm else ""))
        finally:
            service.stop()
            if jobs:
                self.slurm_cancel_all(wait=True)

    def row_follow(self):
        lines = min(200, max(20, self.rounds * 2))
        home = self.work / "home-follow"
        home.mkdir()
        service = Service(self.build, home)
        env = service.env()
        try:
            # The task waits a second before its first line, so the follower is attached by then
            # and every line is one it receives live, not from the backlog.
            spec = write_project(self.work / "ticker",
                                 "import time\ntime.sleep(1.0)\n"
                                 f"for i in range({lines}):\n"
                                 "    print(f'tick {time.time():.6f}', flush=True)\n"
                                 "    time.sleep(0.02)\n")
            run_id = subprocess.run([self.trainctl, "submit", str(spec), "-o", "name"], env=env,
                                    check=True, capture_output=True, text=True).stdout.strip()
            follower = subprocess.Popen([self.trainctl, "logs", run_id, "-f"], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            side = Side("`trainctl logs RUN -f`", None, None)
            tick = re.compile(rb"tick (\d+\.\d+)")
            try:
                for line in follower.stdout:
                    now = time.time()
                    match = tick.search(line)
                    if match:
                        side.samples.append((now - float(match.group(1))) * 1000)
            finally:
                try:
                    follower.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    follower.kill()
                    follower.wait()
            if len(side.samples) != lines:
                raise RuntimeError(f"follow: received {len(side.samples)} of {lines} lines")
        finally:
            service.stop()
        p99 = percentile(side.samples, 0.99)

        def fmt(s):
            return (f"p50 {statistics.median(s.samples):.1f} ms, p99 {p99:.1f} ms "
                    f"({len(s.samples)} lines)")

        self.add("log line → follower", [side], "p99 ≤ 10 ms", self.verdict(p99 <= 10), fmt=fmt)

    def row_resubmit(self):
        fixture = self.fixture()
        try:
            big = write_project(self.work / "big", "print('big')\n", files=10000,
                                spec_extra="compute: bench\n")
            cli = [self.trainctl, "submit", str(big), "-o", "name"]
            start = time.perf_counter()
            fixture.cli(["run", "cancel", fixture.cli(cli[1:]).strip()])
            first = (time.perf_counter() - start) * 1000

            def cancel_run(out):
                fixture.cli(["run", "cancel", out.strip()])

            side = Side("`trainctl submit -o name` (unchanged)", cli, fixture.env, cancel_run)
            interleave(self.timer, [side], max(3, self.rounds // 4), min(2, self.warmup))
            before = self.wchar(fixture.service.proc.pid)
            traced = self.trace(cli, fixture.env)
            wrote = self.wchar(fixture.service.proc.pid) - before
            if traced:
                cancel_run(traced["stdout"])
                self.anatomies.append((side.label, ", ".join(traced["requests"]), traced["sent"],
                                       traced["received"], ""))
        finally:
            fixture.stop()
        t = statistics.median(side.samples)
        blob_bytes = traced["blob_bytes"] if traced else None
        ok = t <= 150 and blob_bytes == 0

        def fmt(s):
            if not traced:
                return f"{statistics.median(s.samples):.1f} ms; bytes not counted (no strace)"
            sent = (f"sent {traced['sent']:,} bytes in {len(traced['requests'])} requests, "
                    f"{blob_bytes:,} of them file uploads")
            return f"{statistics.median(s.samples):.1f} ms; {sent}"

        self.add("resubmit unchanged 10,000-file project", [side], "≤ 150 ms, 0 bytes",
                 self.verdict(ok), fmt=fmt)
        self.notes.append(f"resubmit: the first submit (uploading 10,000 files) took {first:.0f} ms; "
                          f"trainctld wrote {wrote:,} bytes (wchar) while serving one unchanged "
                          "resubmit")

    def trace(self, argv, env):
        """Runs argv once under strace: its requests (method and path) in order, the bytes it
        wrote to and read from sockets, and the bytes of blob uploads (PUT .../blobs/...), the
        request line and headers included. None when strace is missing."""
        strace = shutil.which("strace")
        if not strace:
            return None
        log = self.work / "trace.strace"
        done = subprocess.run([strace, "-f", "-qq", "-y", "-s", "96", "-e", "signal=none",
                               "-e", "trace=sendto,sendmsg,write,writev,recvfrom,recvmsg,read,readv",
                               "-o", str(log), *argv], env=env, check=True, capture_output=True,
                              text=True)
        # A call on a socket; one whose data starts with a request line starts a request, and
        # the calls after it (headers, body) count towards that request.
        call = re.compile(r'^(?:\d+\s+)?(\w+)\(\d+<(?:socket|TCP|TCPv6|UNIX)[^>]*>, (.*) = (\d+)$')
        result = {"requests": [], "targets": [], "sent": 0, "received": 0, "blob_bytes": 0, "stdout": done.stdout}
        in_blob = False
        for line in log.read_text().splitlines():
            match = call.match(line)
            if not match:
                continue
            count = int(match.group(3))
            if match.group(1).startswith(("recv", "read")):
                result["received"] += count
                continue
            result["sent"] += count
            data = re.search(r'"((?:[^"\\]|\\.)*)"', match.group(2))
            request = data and re.match(r"(GET|POST|PUT|DELETE|PATCH|HEAD) (\S+)", data.group(1))
            if request:
                result["requests"].append(f"{request.group(1)} {request.group(2).split('?')[0]}")
                result["targets"].append((request.group(1), request.group(2)))
                in_blob = request.group(1) == "PUT" and "/blobs/" in request.group(2)
            if in_blob:
                result["blob_bytes"] += count
        log.unlink()
        return result

    def anatomy(self, side, service=None):
        """The requests one run of the side's command makes; with `service`, also how long the
        service alone takes to answer its GETs (replayed on one keep-alive connection)."""
        traced = self.trace(side.argv, side.env)
        if traced is None:
            return
        if side.after:
            side.after(traced["stdout"])
        served = ""
        gets = [target for method, target in traced["targets"] if method == "GET"]
        if service and gets and len(gets) == len(traced["targets"]):
            served = f"{self.serve_time(service, gets):.2f} ms"
        self.anatomies.append((side.label, ", ".join(traced["requests"]) or "none",
                               traced["sent"], traced["received"], served))

    def serve_time(self, service, targets, repeats=50):
        """Median ms for the service to answer `targets` (GETs) on one keep-alive connection,
        from the request sent to the last byte of the reply read."""
        endpoint = urlparse(service.endpoint)
        connection = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=30)
        headers = {"Authorization": f"Bearer {service.token}"}
        samples = []
        try:
            for index in range(repeats + 5):
                start = time.perf_counter()
                for target in targets:
                    connection.request("GET", target, headers=headers)
                    reply = connection.getresponse()
                    reply.read()
                    if reply.status != 200:
                        raise RuntimeError(f"GET {target}: HTTP {reply.status}")
                if index >= 5:  # the first few warm the connection up
                    samples.append((time.perf_counter() - start) * 1000)
        finally:
            connection.close()
        return statistics.median(samples)

    @staticmethod
    def wchar(pid):
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("wchar:"):
                return int(line.split()[1])
        return 0

    def source_commit(self):
        """The commit the build's source tree is at now (the build may be older)."""
        source = ROOT
        cache = self.build / "CMakeCache.txt"
        if cache.exists():
            match = re.search(r"^CMAKE_HOME_DIRECTORY:INTERNAL=(.*)$", cache.read_text(), re.M)
            if match:
                source = Path(match.group(1))
        commit = subprocess.run(["git", "-C", str(source), "describe", "--always", "--dirty"],
                                capture_output=True, text=True).stdout.strip()
        return f"source {source} at {commit or 'unknown'}"

    # --- report --------------------------------------------------------------------------------

    def report(self):
        print(f"\ntrainctl ({self.build}, {self.source_commit()}) against Slurm"
              f"{'' if self.slurm else ' (left out: --no-slurm)'}; {self.rounds} rounds, "
              f"load average {os.getloadavg()[0]:.2f}\n")
        print("| row | trainctl | Slurm | trainctl ÷ Slurm | budget | |")
        print("|---|---|---|---|---|---|")
        for row in self.rows:
            print("| " + " | ".join(row) + " |")
        print(f"\nTimer floor (spawning /bin/true): median {self.floor:.2f} ms, included in every "
              "time above, alike for both sides.")
        for note in self.notes:
            print(f"- {note}")
        print("\nEvery sample: wall time (or rate), and the median CPU time (user + system) and page "
              "faults of the command itself")
        print("\n| row | command | n | min | median | p90 | p99 | max | CPU ms | faults |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for row, label, n, lo, median, p90, p99, hi, unit, cpu, faults in self.details:
            print(f"| {row} | {label} | {n} | {lo:.2f} | {median:.2f} | {p90:.2f} | {p99:.2f} | "
                  f"{hi:.2f} {unit} | {cpu} | {faults} |")
        if self.anatomies:
            print("\nWhat each trainctl command does on the wire (strace of one more run, "
                  "untimed), and how long the service alone takes to answer its GETs (median of "
                  "50 on one keep-alive connection):")
            print("\n| command | requests | bytes sent | bytes received | the service alone |")
            print("|---|---|---:|---:|---:|")
            for label, requests, sent, received, served in self.anatomies:
                print(f"| {label} | {requests} | {sent:,} | {received:,} | {served} |")


class HeldFixture(Fixture):
    """batch_submit's fixture, stopped without letting the queued runs start: deleting the target
    with --force cancels its queued runs and the blocker at once."""

    def stop(self):
        try:
            self.cli(["compute", "delete", "bench", "--force", "--wait"], timeout=60)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        self.service.stop()
        shutil.rmtree(self.home, ignore_errors=True)


def measure(args, work: Path):
    """Every row, in this process (in the controller's namespace when Slurm is measured)."""
    bench = Bench(args, work)
    wanted = args.only.split(",")
    bench.row_floor()
    if "version" in wanted:
        bench.row_version()
    if "submit" in wanted:
        bench.row_submit()
    if "concurrent" in wanted:
        bench.row_concurrent()
    if "show" in wanted or "list" in wanted:
        bench.rows_show_list(wanted)
    if "follow" in wanted:
        bench.row_follow()
    if "resubmit" in wanted:
        bench.row_resubmit()
    bench.report()


class Terminated(BaseException):
    """A SIGTERM, raised like a Ctrl-C so that every finally block cleans up."""


def terminate_on_sigterm():
    def handler(signum, frame):
        raise Terminated
    signal.signal(signal.SIGTERM, handler)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", type=Path, default=ROOT / "build" / "release")
    parser.add_argument("--only", default=",".join(ROWS),
                        help="rows, comma-separated: " + ",".join(ROWS))
    parser.add_argument("--rounds", type=int, default=100,
                        help="rounds per row (default 100); resubmit takes a quarter, the concurrent "
                             "row one batch per 20")
    parser.add_argument("--per-client", type=int, default=50,
                        help="submits per client in a concurrent batch (default 50)")
    parser.add_argument("--no-slurm", action="store_true", help="trainctl only (no Slurm here)")
    parser.add_argument("--inside", type=Path, help=argparse.SUPPRESS)  # the re-executed half
    args = parser.parse_args()
    terminate_on_sigterm()
    for name in args.only.split(","):
        if name not in ROWS:
            sys.exit(f"client_speed: unknown row {name!r}; rows: {','.join(ROWS)}")
    if args.rounds < 1 or args.per_client < 1:
        sys.exit("client_speed: --rounds and --per-client must be at least 1")
    if not (args.build / "trainctl").exists():
        sys.exit(f"client_speed: no trainctl in {args.build} (cmake --preset release && "
                 "cmake --build --preset release)")

    if args.inside:  # in the controller's namespace, the cluster up: measure
        os.environ.update(env_file(args.inside / "cluster" / "cluster.env"))
        measure(args, args.inside)
        return
    work = Path(tempfile.mkdtemp(prefix="trainctl-bench-client-"))
    cluster = None
    try:
        if args.no_slurm:
            measure(args, work)
            return
        cluster = True
        netns = Cluster(work / "cluster").netns  # up, with job records purged 2 s after they end
        child = subprocess.Popen(netns + [sys.executable, str(Path(__file__).resolve()),
                                          *sys.argv[1:], "--inside", str(work)])
        try:
            code = child.wait()
        except KeyboardInterrupt:  # a Ctrl-C reaches the child too: it cleans up and ends
            code = child.wait(timeout=120)
        except Terminated:  # a SIGTERM was for this process only: pass it on
            child.send_signal(signal.SIGTERM)
            code = child.wait(timeout=120)
        if code:
            sys.exit(code)
    finally:
        if cluster:  # also a cluster that came up only in part
            subprocess.run([str(CLUSTER), "down", str(work / "cluster")], check=False,
                           stdout=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except (KeyboardInterrupt, Terminated):
        sys.exit("client_speed: interrupted; everything it started is stopped")
