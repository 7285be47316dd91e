"""A real trainctld on a free loopback port in a temp home, and the trainctl CLI pointed at it,
for the Python tests and benchmarks (the C++ tests' ServiceFixture, in Python)."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request


class Service:
    def __init__(self, trainctld, trainctl, extra_args=()):
        self.trainctld = os.path.abspath(trainctld)
        self.trainctl = os.path.abspath(trainctl)
        self.root = tempfile.mkdtemp(prefix="trainctl-ui-")
        self.home = os.path.join(self.root, "home")
        self.process = None
        try:
            self._start(extra_args)
        except BaseException:
            self.stop()
            raise

    def _start(self, extra_args):
        os.makedirs(self.home)
        self._log = open(os.path.join(self.root, "trainctld.out"), "wb")
        self.process = subprocess.Popen([self.trainctld, "--home", self.home, "--port", "0", *extra_args],
                                        stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        self.endpoint = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("trainctld exited with %s" % self.process.returncode)
            try:
                with open(os.path.join(self.home, "server.json")) as file:
                    self.endpoint = json.load(file)["endpoint"]
                with urllib.request.urlopen(self.endpoint + "/v1/health", timeout=2):
                    break
            except (OSError, ValueError, KeyError):
                time.sleep(0.05)
        else:
            raise RuntimeError("trainctld did not answer within 30 s")
        with open(os.path.join(self.home, "token")) as file:
            self.token = file.read().strip()
        self.port = int(self.endpoint.rsplit(":", 1)[1])

    def request(self, method, path, body=None, headers=None, token=True):
        """(status, parsed JSON or text, headers) of one request."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.endpoint + path, data=data, method=method)
        if token:
            request.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                status, text, reply_headers = reply.status, reply.read().decode(), reply.headers
        except urllib.error.HTTPError as error:
            status, text, reply_headers = error.code, error.read().decode(), error.headers
        try:
            return status, json.loads(text) if text else None, reply_headers
        except ValueError:
            return status, text, reply_headers

    def api(self, method, path, body=None):
        status, reply, _ = self.request(method, path, body)
        if status >= 400:
            raise RuntimeError("%s %s: %s %s" % (method, path, status, reply))
        return reply

    def cli(self, *args, cwd=None, check=True):
        env = dict(os.environ)
        env.update({"TRAINCTL_ENDPOINT": self.endpoint, "TRAINCTL_TOKEN": self.token, "NO_COLOR": "1",
                    "XDG_CONFIG_HOME": os.path.join(self.root, "config"),
                    "XDG_CACHE_HOME": os.path.join(self.root, "cache"),
                    "XDG_DATA_HOME": os.path.join(self.root, "data")})
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
        result = subprocess.run([self.trainctl, *args], cwd=cwd or self.root, env=env,
                                capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise RuntimeError("trainctl %s: exit %d\n%s%s" % (" ".join(args), result.returncode,
                                                               result.stdout, result.stderr))
        return result

    def wait_run(self, run_id, statuses, timeout=60, workspace="default"):
        deadline = time.monotonic() + timeout
        while True:
            run = self.api("GET", "/v1/workspaces/%s/runs/%s" % (workspace, run_id))
            if run["status"] in statuses:
                return run
            if time.monotonic() > deadline:
                raise RuntimeError("run %s is %s, not %s, after %s s" % (run_id, run["status"], statuses, timeout))
            time.sleep(0.1)

    def _processes_of_runs(self):
        runs = os.path.join(self.home, "runs") + "/"
        found = []
        if not os.path.isdir(runs):
            return found
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            for name in ("cmdline", "environ"):
                try:
                    with open("/proc/%s/%s" % (entry, name), "rb") as file:
                        if runs.encode() in file.read():
                            found.append(int(entry))
                            break
                except OSError:
                    pass
        return found

    def stop(self):
        """Stops the service, then SIGKILLs whatever its runs left, and removes the home."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for _ in range(10):
            left = self._processes_of_runs()
            if not left:
                break
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.02)
        if getattr(self, "_log", None):
            self._log.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
