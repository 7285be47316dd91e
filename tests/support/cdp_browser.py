"""A headless Chromium driven over the DevTools protocol (CDP), for the web UI's browser test and
its benchmark. Needs Debian's `chromium` and `python3-websocket`; nothing from the network.

    with Browser() as browser:
        page = browser.page
        page.navigate("http://127.0.0.1:8080/ui/")
        page.wait_for("document.querySelector('table') !== null")
        page.screenshot("runs.png")
        assert not page.problems  # console errors, exceptions, failed loads
"""
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import websocket  # python3-websocket (websocket-client)


class BrowserError(Exception):
    pass


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Page:
    """One tab: commands are sent and answered in order; events are kept as they arrive."""

    def __init__(self, ws_url):
        self._socket = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self._next_id = 0
        self.events = []
        # What the page reported as going wrong: console errors, uncaught exceptions, failed loads.
        self.problems = []
        self.console = []
        for domain in ("Page", "Runtime", "Log"):
            self.send(domain + ".enable")

    def close(self):
        self._socket.close()

    def _note(self, event):
        method = event.get("method")
        params = event.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.console.append((params.get("type"), text))
            if params.get("type") in ("error", "assert"):
                self.problems.append("console.%s: %s" % (params.get("type"), text))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            description = details.get("exception", {}).get("description") or details.get("text")
            self.problems.append("exception: %s" % description)
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            if entry.get("level") == "error":
                self.problems.append("log: %s %s" % (entry.get("text"), entry.get("url", "")))
        self.events.append(event)

    def send(self, method, params=None, timeout=60):
        self._next_id += 1
        request_id = self._next_id
        self._socket.send(json.dumps({"id": request_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            self._socket.settimeout(max(0.1, deadline - time.monotonic()))
            message = json.loads(self._socket.recv())
            if message.get("id") == request_id:
                if "error" in message:
                    raise BrowserError("%s: %s" % (method, message["error"]))
                return message.get("result", {})
            if "method" in message:
                self._note(message)
            if time.monotonic() > deadline:
                raise BrowserError("%s: no answer in %s s" % (method, timeout))

    def evaluate(self, expression, await_promise=True):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": await_promise})
        if "exceptionDetails" in result:
            raise BrowserError("evaluate %r: %s" % (expression, result["exceptionDetails"]))
        return result.get("result", {}).get("value")

    def navigate(self, url):
        self.send("Page.navigate", {"url": url})

    def wait_for(self, expression, timeout=20, interval=0.05):
        """Evaluates `expression` until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.evaluate(expression)
            except BrowserError:
                value = None  # the page is between documents
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError("timed out after %s s waiting for: %s" % (timeout, expression))
            time.sleep(interval)

    def click(self, selector):
        self.evaluate("document.querySelector(%s).click()" % json.dumps(selector))

    def screenshot(self, path, full_page=True):
        params = {"format": "png"}
        if full_page:
            metrics = self.send("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics.get("contentSize")
            height = min(int(size["height"]), 4000)
            params["clip"] = {"x": 0, "y": 0, "width": 1400, "height": max(height, 300), "scale": 1}
            params["captureBeyondViewport"] = True
        data = self.send("Page.captureScreenshot", params)["data"]
        with open(path, "wb") as out:
            out.write(base64.b64decode(data))


class Browser:
    """Starts `chromium --headless` with a fresh profile on a free DevTools port, opens one page."""

    def __init__(self, width=1400, height=1000):
        self._profile = tempfile.mkdtemp(prefix="trainctl-chromium-")
        chromium = find_chromium()
        if not chromium:
            raise BrowserError("chromium is not installed (scripts/install-deps.sh installs it)")
        args = [chromium, "--headless=new", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--disable-features=Translate,MediaRouter",
                "--remote-debugging-port=0", "--remote-allow-origins=*", "--user-data-dir=" + self._profile,
                "--window-size=%d,%d" % (width, height), "--hide-scrollbars", "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium's sandbox refuses to run as root
        self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                         start_new_session=True)
        self.page = None
        try:
            port = self._devtools_port()
            self.page = Page(self._page_socket(port))
            self.page.send("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        except Exception:
            self.close()
            raise

    def _devtools_port(self):
        deadline = time.monotonic() + 30
        seen = b""
        while time.monotonic() < deadline:
            line = self._process.stderr.readline()
            if not line and self._process.poll() is not None:
                break
            seen += line
            found = re.search(rb"DevTools listening on ws://[^:]+:(\d+)/", line)
            if found:
                return int(found.group(1))
        raise BrowserError("chromium did not start: %s" % seen.decode(errors="replace")[-2000:])

    def _page_socket(self, port):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=5) as reply:
                for target in json.load(reply):
                    if target.get("type") == "page":
                        return target["webSocketDebuggerUrl"]
            time.sleep(0.1)
        raise BrowserError("chromium has no page")

    def close(self):
        if self.page:
            try:
                self.page.close()
            except Exception:
                pass
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        self._process.stderr.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
