#!/usr/bin/python3
"""The web UI's first render, in headless Chromium (bench/README.md, Web UI).

    bench/ui_render.py --build build/ci                  # 10,000 runs, 100,000 points, 7 loads each
    bench/ui_render.py --build build/ci --runs 1000 --points 10000 --repetitions 3

Starts its own trainctld (a temp home, a free port), stores --runs finished runs with
bench_populate_runs, and runs one real task that logs --points points of one metric. Then, in a
logged-in headless Chromium (Debian's `chromium`, driven over the DevTools protocol with
python3-websocket):

  runs page   from navigation start to the runs table's first rows in the page, navigating from
              another page of the UI and from a blank tab (where the browser starts a renderer)
  run page    from navigation start to the chart of the --points metric holding its points
  log         a task prints its own clock once the page follows its log: print to shown

Times are performance.now() in the page (milliseconds since its navigation started), taken by a
script the page runs before its own that checks every animation frame. Also prints the payload of
each page: the assets and the API replies it reads. Goal: under 300 ms for each first render.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

root = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(root / "tests" / "support"))
from cdp_browser import Browser  # noqa: E402
from trainctl_service import Service  # noqa: E402

# Records window.__rendered = performance.now() at the first animation frame where
# window.__renderedWhen() (set by the benchmark) holds.
WATCHER = """
(() => {
  const check = () => {
    try {
      if (window.__renderedWhen && window.__renderedWhen()) { window.__rendered = performance.now(); return; }
    } catch (ignored) {}
    requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
})();
"""

BIG_METRIC = textwrap.dedent('''\
    import sys, trainctl
    for step in range(int(sys.argv[1])):
        trainctl.log_metric("loss", 1.0 / (step + 1) + (step % 97) * 1e-4, step=step)
    ''')

CLOCK = textwrap.dedent('''\
    import os, sys, time
    trigger = sys.argv[sys.argv.index("--trigger") + 1]
    while not os.path.exists(trigger):
        time.sleep(0.005)
    for i in range(10):
        print("clock %.6f" % time.time(), flush=True)
        time.sleep(0.3)
    ''')


def first_render(page, url, condition, repetitions, start_url):
    times = []
    for _ in range(repetitions):
        page.navigate(start_url)
        page.wait_for("location.href === %s && document.readyState === 'complete'" % json.dumps(start_url))
        # The condition is installed with the watcher, before any script of the page runs.
        source = WATCHER.replace("window.__renderedWhen && window.__renderedWhen()", "(%s)" % condition)
        script = page.send("Page.addScriptToEvaluateOnNewDocument", {"source": source})
        page.navigate(url)
        times.append(page.wait_for("window.__rendered", timeout=60))
        page.send("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]})
    return times


def size_of(service, path, token=True):
    request = urllib.request.Request(service.endpoint + path)
    if token:
        request.add_header("Authorization", "Bearer " + service.token)
    with urllib.request.urlopen(request, timeout=120) as reply:
        return len(reply.read())


def summary(times):
    return "median %.0f ms (min %.0f, max %.0f, n=%d)" % (statistics.median(times), min(times), max(times), len(times))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build/ci")
    parser.add_argument("--runs", type=int, default=10000)
    parser.add_argument("--points", type=int, default=100000)
    parser.add_argument("--repetitions", type=int, default=7)
    options = parser.parse_args()
    build = Path(options.build).resolve()

    with Service(str(build / "trainctld"), str(build / "trainctl")) as service:
        project = Path(service.root) / "project"
        (project / "src").mkdir(parents=True)
        (project / "src" / "big.py").write_text(BIG_METRIC)
        (project / "src" / "clock.py").write_text(CLOCK)
        (project / "big.yaml").write_text("experiment: ui-bench\nestimator:\n  source_directory: src\n"
                                          "  entry_script: big.py\n  script_params:\n    --n: %d\n" % options.points)
        # big.py reads its count as the last argument.
        (project / "src" / "big.py").write_text(BIG_METRIC.replace("sys.argv[1]", "sys.argv[-1]"))
        # The runs first: bench_populate_runs holds the database's write lock while it adds them.
        subprocess.run([str(build / "bench" / "bench_populate_runs"), service.home, str(options.runs)], check=True)
        run_id = json.loads(service.cli("submit", str(project / "big.yaml"), "-o", "json", cwd=str(project)).stdout)["id"]
        print("logging %d points in run %s ..." % (options.points, run_id), flush=True)
        service.wait_run(run_id, {"Completed"}, timeout=600)
        deadline = time.monotonic() + 600
        while True:
            metrics = service.api("GET", "/v1/workspaces/default/runs/" + run_id)["metrics"]
            count = metrics.get("loss", {}).get("count", 0)
            if count >= options.points:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("%d of %d points recorded: %s" % (count, options.points, metrics))
            time.sleep(0.5)

        login = service.cli("ui", "--no-open").stdout.strip().splitlines()[0]
        with Browser() as browser:
            page = browser.page
            page.navigate(login)
            page.wait_for("location.pathname === '/ui/' && document.querySelector('table.runs') !== null", timeout=60)

            runs_url = service.endpoint + "/ui/#/default/runs"
            rows = "document.querySelectorAll('table.runs tbody tr').length > 0"
            # From another page of the UI (the browser's renderer for the service is up), and
            # from a blank tab (a renderer is started for the page).
            other = service.endpoint + "/ui/login"
            runs_times = first_render(page, runs_url, rows, options.repetitions, other)
            runs_blank = first_render(page, runs_url, rows, options.repetitions, "about:blank")
            loaded = page.wait_for("(() => { const s = document.querySelector('.page-head .muted').textContent;"
                                   " return s.includes('loaded so far') ? '' : s; })()", timeout=120)
            run_url = service.endpoint + "/ui/#/default/runs/" + run_id
            chart = "(window.Chart && Chart.getChart(document.querySelector('canvas[data-metric=\"loss\"]')))"
            drawn_chart = "%s && %s.data.datasets[0].data.length > 0" % (chart, chart)
            run_times = first_render(page, run_url, drawn_chart, options.repetitions, other)
            run_blank = first_render(page, run_url, drawn_chart, options.repetitions, "about:blank")
            drawn = page.evaluate("%s.data.datasets[0].data.length" % chart)
            label = page.evaluate("%s.data.datasets[0].label" % chart)

            # Log latency: a run prints its clock while its page follows the log.
            trigger = Path(tempfile.mkdtemp(prefix="ui-bench-")) / "go"
            (project / "clock.yaml").write_text("experiment: ui-bench\nestimator:\n  source_directory: src\n"
                                                "  entry_script: clock.py\n  script_params:\n    --trigger: %s\n" % trigger)
            clock_id = json.loads(service.cli("submit", str(project / "clock.yaml"), "-o", "json", cwd=str(project)).stdout)["id"]
            service.wait_run(clock_id, {"Running"})
            page.navigate(service.endpoint + "/ui/#/default/runs/" + clock_id)
            page.wait_for("document.getElementById('run-log') !== null && "
                          "document.querySelector('.page-head h1').textContent === %s" % json.dumps(clock_id))
            page.evaluate("""window.__lags = []; new MutationObserver(() => {
                const now = Date.now() / 1000;
                const lines = document.getElementById('run-log').textContent.trim().split('\\n');
                const last = lines[lines.length - 1];
                if (last.startsWith('clock ') && window.__lags.length < lines.length) window.__lags.push(now - parseFloat(last.slice(6)));
              }).observe(document.getElementById('run-log'), {childList: true, subtree: true, characterData: true})""")
            trigger.touch()
            lags = page.wait_for("window.__lags.length >= 10 && window.__lags", timeout=60)
            problems = page.problems

        page_assets = sum(size_of(service, "/ui/assets/" + name, token=False) for name in ("app.js", "style.css", "chart.js", "favicon.svg"))
        index = size_of(service, "/ui/", token=False)
        first_page = size_of(service, "/v1/workspaces/default/runs?limit=100")
        all_runs = 0
        token = ""
        while True:
            reply = service.api("GET", "/v1/workspaces/default/runs?limit=1000" + ("&page_token=" + token if token else ""))
            all_runs += len(json.dumps(reply))
            token = reply["next_page_token"]
            if not token:
                break
        run_json = size_of(service, "/v1/workspaces/default/runs/" + run_id)
        # As the run page asks (web/app.js, k_chart_points).
        series = size_of(service, "/v1/workspaces/default/runs/%s/metrics/series?name=loss&max_points=1000" % run_id)
        whole = size_of(service, "/v1/workspaces/default/runs/%s/metrics/series?name=loss&max_points=100000" % run_id)

    print()
    print("runs page, %d runs stored: first rows %s; from a blank tab %s" % (options.runs + 1, summary(runs_times), summary(runs_blank)))
    print("          then, loaded in the background: %s" % loaded)
    print("run page, %d-point metric: chart drawn %s; from a blank tab %s" % (options.points, summary(run_times), summary(run_blank)))
    print("          %d points drawn: %s" % (drawn, label))
    print("log line, print to shown: %s" % summary([lag * 1000 for lag in lags]))
    print("payloads: page %d B + assets %d B (Chart.js included), uncompressed" % (index, page_assets))
    print("          runs: first page (100 runs) %d B, all %d runs %d B in pages of 1,000" % (first_page, options.runs + 1, all_runs))
    print("          run page: run %d B, series downsampled to 1,000 points %d B (all %d points: %d B)" % (run_json, series, options.points, whole))
    if problems:
        print("console problems: %s" % problems)


if __name__ == "__main__":
    main()
