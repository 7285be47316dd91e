#!/usr/bin/env python3
"""Dataset upload and hash throughput, against `cp -r` and `sha256sum` of the same data.

    bench/dataset_throughput.py --build build/release                  # 1 GiB + 10,000 small files
    bench/dataset_throughput.py --build build/release --only small --repetitions 5
    bench/dataset_throughput.py --build build/release --via submit     # as a run's snapshot

Two data sets are written to a temp dir (deleted at the end): `large`, a few large random files
(1 GiB by default), and `small`, 10,000 random 4 KiB files in 10 directories. For each, timed with
time.perf_counter around the whole command and reported as the median of the repetitions:

  cp -r             the copy the upload replaces (to the same file system; no fsync, where
                    trainctld fsyncs each blob and its directory)
  sha256sum         the hashing the client does (one process, every file named)
  create            `trainctl dataset create NAME --path DIR` against a fresh trainctld (empty
                    blob store) with no hash cache: hash, upload every blob, verify, store
  create, hash only the same with the hash cache dropped but every blob already stored: the
                    client hashes everything and uploads nothing
  re-create         the same again with the hash cache kept: nothing hashed, nothing uploaded

Caches are warm: nothing is dropped from the page cache, so the data is read from memory by
every command alike (the data is written, then read once by an untimed sha256sum). The bytes
trainctld wrote (wchar of /proc/PID/io; it writes every blob it receives) show what was uploaded:
the data size for `create`, next to nothing for the others.

Each repetition starts its own trainctld on a free port with a temp $TRAINCTL_HOME (bench/run.py's
Service), so it never touches a service you are using. `--via submit` uploads the same directory
as the snapshot of `trainctl submit` (the same scan, hash cache and upload code; an entry script
`main.py` is added to the data) instead of `dataset create`.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import Service, trainctl  # noqa: E402  (bench/run.py: the private trainctld)

MIB = 1 << 20
SMALL_FILE_SIZE = 4096
SMALL_FILES_PER_DIR = 1000
LARGE_FILE_SIZE = 256 * MIB
WRITE_CHUNK = 4 * MIB


def write_large(root: Path, total: int) -> Path:
    """`total` bytes of random data in files of LARGE_FILE_SIZE (the last one may be smaller)."""
    root.mkdir(parents=True)
    index = 0
    while total > 0:
        size = min(total, LARGE_FILE_SIZE)
        with open(root / f"part-{index:03d}.bin", "wb") as out:
            for offset in range(0, size, WRITE_CHUNK):
                out.write(os.urandom(min(WRITE_CHUNK, size - offset)))
        total -= size
        index += 1
    return root


def write_small(root: Path, count: int) -> Path:
    """`count` random files of SMALL_FILE_SIZE bytes, SMALL_FILES_PER_DIR to a directory."""
    for i in range(count):
        sub = root / f"d{i // SMALL_FILES_PER_DIR:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:05d}.bin").write_bytes(os.urandom(SMALL_FILE_SIZE))
    return root


def files_under(root: Path):
    return sorted(str(p) for p in root.rglob("*") if p.is_file())


def timed(command, env=None) -> float:
    """Seconds `command` (a list, no shell) took; it must succeed."""
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def bytes_written_by(pid: int) -> int:
    """Bytes the process has written so far with write(2) (wchar of /proc/PID/io). trainctld
    writes every blob it receives to a temp file, even one it already holds, so this is what was
    uploaded, plus a little SQLite."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise RuntimeError(f"no wchar in /proc/{pid}/io")


class Measurement:
    """The seconds of each repetition, and what trainctld wrote during the last one."""

    def __init__(self):
        self.seconds = []
        self.service_wrote = None

    def add(self, seconds: float, service_wrote=None):
        self.seconds.append(seconds)
        self.service_wrote = service_wrote

    def median(self) -> float:
        return statistics.median(self.seconds)


def upload_command(build: Path, data: Path, via: str):
    """The command that scans, hashes and uploads `data`: `dataset create`, or `submit` of a job
    whose source directory is `data` (the snapshot path, the same client code; it needs an entry
    script in `data`, see add_entry_script)."""
    if via == "dataset":
        return trainctl(build, "dataset", "create", "bench", "--path", str(data), "-o", "json")
    spec = data.parent / f"{data.name}-job.yaml"
    spec.write_text(f"experiment: bench\nestimator:\n  source_directory: {data}\n"
                    "  entry_script: main.py\n")
    return trainctl(build, "submit", str(spec), "-o", "name")


def add_entry_script(data: Path):
    (data / "main.py").write_text("pass\n")


def upload(command, service: Service, into: Measurement):
    """Times one upload `command`, with the bytes trainctld wrote meanwhile."""
    before = bytes_written_by(service.proc.pid)
    seconds = timed(command, service.env())
    into.add(seconds, bytes_written_by(service.proc.pid) - before)


def measure(build: Path, data: Path, files, work: Path, repetitions: int, via: str) -> dict:
    """Every measurement, by name; the commands take turns in each repetition, so that a change
    in the machine's load hits them alike."""
    results = {name: Measurement() for name in ("cp -r", "sha256sum", "create", "hash only",
                                                 "re-create")}
    command = upload_command(build, data, via)
    for repetition in range(repetitions):
        copy = work / "copy"
        results["cp -r"].add(timed(["cp", "-r", str(data), str(copy)]))
        shutil.rmtree(copy)
        results["sha256sum"].add(timed(["sha256sum", *files]))

        home = work / f"home-{repetition}"
        home.mkdir()
        service = Service(build, home)
        try:
            upload(command, service, results["create"])
            shutil.rmtree(home / "cache" / "trainctl")  # the hash cache
            upload(command, service, results["hash only"])
            upload(command, service, results["re-create"])
        finally:
            service.stop()
            shutil.rmtree(home)
    return results


def report(label: str, size: int, count: int, results: dict):
    copy, hashing, create = results["cp -r"], results["sha256sum"], results["create"]
    hash_only, recreate = results["hash only"], results["re-create"]
    baseline = copy.median() + hashing.median()
    rows = [
        ("cp -r", copy, ""),
        ("sha256sum", hashing, ""),
        ("create (hash + upload)", create, f"{create.median() / copy.median():.2f}x cp -r, "
                                           f"{create.median() / baseline:.2f}x cp -r + sha256sum"),
        ("create, hash only", hash_only, f"{hash_only.median() / hashing.median():.2f}x sha256sum"),
        ("unchanged re-create", recreate, "nothing hashed or uploaded"),
    ]
    print(f"\n{label}: {count} files, {size / MIB:.0f} MiB (warm page cache; median of "
          f"{len(copy.seconds)})")
    for name, measurement, ratio in rows:
        seconds = measurement.median()
        wrote = "" if measurement.service_wrote is None else \
            f"trainctld wrote {measurement.service_wrote / MIB:.2f} MiB"
        print(f"  {name:23} {seconds * 1000:8.0f} ms {size / MIB / seconds:8.1f} MiB/s "
              f"{count / seconds:8.0f} files/s  {wrote:28} {ratio}")


def bench(label: str, data: Path, build: Path, work: Path, repetitions: int, via: str):
    if via == "submit":
        add_entry_script(data)
    files = files_under(data)
    size = sum(os.path.getsize(f) for f in files)
    subprocess.run(["sha256sum", *files], check=True, stdout=subprocess.DEVNULL)  # warm the cache
    report(label, size, len(files), measure(build, data, files, work, repetitions, via))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build/release", type=Path)
    parser.add_argument("--only", default="large,small", help="large, small or both")
    parser.add_argument("--large-mib", default=1024, type=int, help="size of the large data set")
    parser.add_argument("--small-files", default=10_000, type=int)
    parser.add_argument("--repetitions", default=3, type=int)
    parser.add_argument("--via", default="dataset", choices=("dataset", "submit"),
                        help="upload with `dataset create` or as the snapshot of `submit`")
    args = parser.parse_args()
    build = args.build.resolve()
    with tempfile.TemporaryDirectory(prefix="trainctl-bench-data-") as tmp:
        work = Path(tmp)
        for name in args.only.split(","):
            if name == "large":
                data = write_large(work / "large", args.large_mib * MIB)
            elif name == "small":
                data = write_small(work / "small", args.small_files)
            else:
                sys.exit(f"bench: --only takes large and small, not {name}")
            bench(name, data, build, work, args.repetitions, args.via)
            shutil.rmtree(data)


if __name__ == "__main__":
    main()
