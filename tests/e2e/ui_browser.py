#!/usr/bin/python3
"""The web UI in a real browser: headless Chromium (Debian's) driven over the DevTools protocol
against a real trainctld with real runs. Logs in with the link `trainctl ui` prints; the runs
table shows a finished and a running run; the run page follows the log live and charts the
logged metric; cancel from the page cancels; the sweep page shows the trials; markup that runs
write into log lines, params, tags and file names stays text and nothing of it runs; no page
reports a console error. Saves screenshots of the main pages in --screenshots.

    ui_browser.py --trainctld build/ci/trainctld --trainctl build/ci/trainctl --screenshots DIR

Exit 0: passed; 1: failed; 77: skipped (no chromium or python3-websocket here).
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import textwrap
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))

try:
    from cdp_browser import Browser, find_chromium
except ImportError as error:  # python3-websocket missing
    print("SKIP: %s (install python3-websocket)" % error)
    sys.exit(77)
from trainctl_service import Service

# Markup a run writes where the UI shows it; each would set window.__xss if it ran.
XSS_LOG = ['<script>window.__xss = "log-script"</script>', '<img src=x onerror="window.__xss = \'log-img\'">']
XSS_PARAM = ('<b id="xss-param">p</b>', '<img src=x onerror="window.__xss = \'param\'">')
XSS_TAG = ('<img src=x onerror="window.__xss = \'tag-key\'">', '<script>window.__xss = "tag-value"</script>')
XSS_FILE = '<img src=x onerror="window.__xss = \'file\'">.txt'

FINISHED = textwrap.dedent('''\
    import os
    import trainctl
    for line in %r:
        print(line, flush=True)
    trainctl.log_param(%r, %r)
    trainctl.set_tag(%r, %r)
    for step in range(20):
        trainctl.log_metric("loss", 2.0 / (step + 1), step=step)
        trainctl.log_metric("accuracy", step / 20.0, step=step)
    with open(os.path.join("outputs", %r), "w") as out:
        out.write("payload\\n")
    with open(os.path.join("outputs", "model.txt"), "w") as out:
        out.write("weights\\n")
    print("finished", flush=True)
    ''') % (XSS_LOG, *XSS_PARAM, *XSS_TAG, XSS_FILE)

RUNNING = textwrap.dedent('''\
    import os
    import sys
    import time
    import trainctl
    trigger = sys.argv[sys.argv.index("--trigger") + 1]
    print("started", flush=True)
    for step in range(3):
        trainctl.log_metric("progress", step, step=step)
    while not os.path.exists(trigger):
        time.sleep(0.01)
    print("marker printed at %.3f" % time.time(), flush=True)
    while True:
        time.sleep(0.2)
    ''')

TRIAL = textwrap.dedent('''\
    import sys
    import trainctl
    x = float(sys.argv[sys.argv.index("--x") + 1])
    for step in range(3):
        trainctl.log_metric("score", x * (step + 1) / 3.0, step=step)
    ''')


SCORE = textwrap.dedent('''\
    import json
    def init():
        print("replica ready", flush=True)
    def run(raw_data):
        return {"echo": json.loads(raw_data), "markup": "<img src=x onerror=\\"window.__xss = 'score'\\">"}
    ''')


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as file:
        file.write(text)


def submit(service, project, spec):
    path = os.path.join(project, "job-%d.yaml" % abs(hash(spec)))
    write(path, spec)
    out = service.cli("submit", path, "-o", "json", cwd=project).stdout
    return json.loads(out)["id"]


class Checks:
    def __init__(self):
        self.failures = []

    def check(self, condition, what):
        print(("ok   " if condition else "FAIL ") + what, flush=True)
        if not condition:
            self.failures.append(what)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trainctld", required=True)
    parser.add_argument("--trainctl", required=True)
    parser.add_argument("--screenshots", required=True)
    options = parser.parse_args()
    if not find_chromium():
        print("SKIP: chromium is not installed (scripts/install-deps.sh installs it)")
        return 77
    os.makedirs(options.screenshots, exist_ok=True)
    checks = Checks()
    trigger_dir = tempfile.mkdtemp(prefix="trainctl-ui-trigger-")
    trigger = os.path.join(trigger_dir, "go")
    started = time.monotonic()
    try:
        run_checks(options, checks, trigger)
    finally:
        shutil.rmtree(trigger_dir, ignore_errors=True)
    print("%d checks failed; %.1f s; screenshots in %s" % (len(checks.failures), time.monotonic() - started,
                                                          options.screenshots))
    return 1 if checks.failures else 0


def run_checks(options, checks, trigger):
    with Service(options.trainctld, options.trainctl) as service:
        project = os.path.join(service.root, "project")
        write(os.path.join(project, "src", "finished.py"), FINISHED)
        write(os.path.join(project, "src", "running.py"), RUNNING)
        write(os.path.join(project, "src", "trial.py"), TRIAL)
        base = "estimator:\n  source_directory: src\n"
        finished_id = submit(service, project, "experiment: ui-finished\n" + base + "  entry_script: finished.py\n")
        running_id = submit(service, project, "experiment: ui-live\n" + base + "  entry_script: running.py\n"
                            "  script_params:\n    --trigger: %s\n" % trigger)
        waiting_id = submit(service, project, "experiment: ui-waiting\n" + base + "  entry_script: running.py\n"
                            "  script_params:\n    --trigger: %s\n" % (trigger + "-never"))
        sweep_id = submit(service, project, "experiment: ui-sweep\n" + base + "  entry_script: trial.py\n"
                          "  script_params:\n    --x: 1\n"
                          "sweep:\n  sampling: grid\n  search_space:\n    --x: {type: choice, values: [1, 2, 3]}\n"
                          "  objective: {primary_metric: score, goal: maximize}\n"
                          "  limits: {max_total_trials: 3, max_concurrent_trials: 3}\n")
        service.wait_run(finished_id, {"Completed"})
        service.wait_run(running_id, {"Running"})
        # A model version of the finished run, served by a deployment whose answers echo requests.
        service.cli("register", "--run", finished_id, "--name", "ui-model", "--path", "outputs/model.txt")
        write(os.path.join(project, "serve", "score.py"), SCORE)
        service.cli("deploy", "create", "ui-echo", "--model", "ui-model", "--entry-script", "score.py",
                    "--source-dir", os.path.join(project, "serve"), "--wait", "--timeout", "60s")

        # The login link comes from `trainctl ui`; the token never sits in it.
        login = service.cli("ui", "--no-open").stdout.strip().splitlines()[0]
        checks.check(login.startswith(service.endpoint + "/ui/login#code=") and service.token not in login,
                      "trainctl ui prints a login link with a one-time code, not the token")

        with Browser() as browser:
            page = browser.page
            page.navigate(login)
            page.wait_for("location.pathname === '/ui/' && document.querySelector('table.runs') !== null")
            checks.check(True, "the login link logs the browser in")
            checks.check(page.evaluate("document.cookie") == "",
                         "the session cookie is not readable by scripts (HttpOnly)")

            # The runs table: the finished run and the running one, with their statuses.
            row = "document.querySelector('tr[data-run=\"%s\"]')"
            page.wait_for("%s && %s.textContent.includes('Completed')" % (row % finished_id, row % finished_id))
            page.wait_for("%s && %s.textContent.includes('Running')" % (row % running_id, row % running_id))
            checks.check(True, "the runs table shows the finished run Completed and the running run Running")
            page.wait_for("[...document.querySelectorAll('th')].some(th => th.textContent.startsWith('loss'))")
            checks.check(True, "the runs table has a metric column (loss)")
            page.screenshot(os.path.join(options.screenshots, "runs.png"))

            # The finished run: its metric chart holds the 20 logged points; markup stays text.
            page.navigate(service.endpoint + "/ui/#/default/runs/" + finished_id)
            chart = "Chart.getChart(document.querySelector('canvas[data-metric=\"loss\"]'))"
            points = page.wait_for("(() => { const c = %s; return c && c.data.datasets[0].data.length; })()" % chart)
            values = page.evaluate("%s.data.datasets[0].data.map(p => [p.x, p.y])" % chart)
            checks.check(points == 20 and values[0] == [0, 2.0] and values[19] == [19, 0.1],
                         "the loss chart has the 20 logged points (step 0: 2.0 ... step 19: 0.1)")
            page.wait_for("document.getElementById('run-log').textContent.includes('finished')")
            page.wait_for("document.body.textContent.includes(%s)" % json.dumps(XSS_FILE))
            page.wait_for("document.body.textContent.includes(%s)" % json.dumps(XSS_TAG[0]))
            body = page.evaluate("document.body.textContent")
            shown = all(text in body for text in XSS_LOG + list(XSS_PARAM) + list(XSS_TAG) + [XSS_FILE])
            checks.check(shown, "log lines, params, tags and file names with markup are shown as text")
            checks.check(page.evaluate("document.querySelectorAll('img').length") == 0 and
                         page.evaluate("document.getElementById('xss-param')") is None and
                         page.evaluate("document.querySelectorAll('script').length") == 2,
                         "no element was made from a run's markup")
            page.screenshot(os.path.join(options.screenshots, "run-finished.png"))

            # The running run: a line appears while the run goes on (the log is followed).
            page.navigate(service.endpoint + "/ui/#/default/runs/" + running_id)
            page.wait_for("document.getElementById('run-log').textContent.includes('started')")
            with open(trigger, "w"):
                pass
            text = page.wait_for("(() => { const t = document.getElementById('run-log').textContent;"
                                 " return t.includes('marker printed') ? t : ''; })()")
            shown_at = time.time()
            printed_at = float(text.split("marker printed at ")[1].split()[0])
            still_running = service.api("GET", "/v1/workspaces/default/runs/" + running_id)["status"] == "Running"
            checks.check(still_running, "the run page shows a line printed while the run goes on "
                                        "(%.0f ms after its print)" % ((shown_at - printed_at) * 1000))
            page.wait_for("document.querySelector('canvas[data-metric=\"progress\"]') !== null")
            page.screenshot(os.path.join(options.screenshots, "run-running.png"))

            # Cancel from the page: the API sees the run canceled.
            page.click("#cancel-run")
            run = service.wait_run(running_id, {"Canceled", "Failed", "Completed"}, timeout=30)
            checks.check(run["status"] == "Canceled", "the page's cancel button cancels the run (API: %s)" % run["status"])
            page.wait_for("document.querySelector('.page-head .status').textContent === 'Canceled'", timeout=20)

            # The sweep: its three trials, ranked, with the charts.
            deadline = time.monotonic() + 60
            while service.api("GET", "/v1/workspaces/default/sweeps/" + sweep_id)["status"] == "Running":
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            page.navigate(service.endpoint + "/ui/#/default/sweeps/" + sweep_id)
            trials = page.wait_for("document.querySelectorAll('tr[data-trial]').length === 3 && "
                                   "[...document.querySelectorAll('tr[data-trial]')].map(r => r.dataset.trial)")
            checks.check(trials is not None and len(trials) == 3, "the sweep page shows its 3 trials")
            first_objective = page.evaluate("document.querySelector('tr[data-trial] td:nth-child(5)').textContent")
            checks.check(first_objective == "3", "the best trial (score 3) is first")
            progress_points = page.evaluate("Chart.getChart(document.getElementById('sweep-progress')).data.datasets[0].data.length")
            checks.check(progress_points == 3, "the primary metric over trials has a point per trial")
            page.screenshot(os.path.join(options.screenshots, "sweep.png"))

            # A deployment: its replicas, and the scoring form's answer (its markup stays text).
            page.navigate(service.endpoint + "/ui/#/default/deployments/ui-echo")
            page.wait_for("document.querySelector('#score-request') !== null && "
                          "document.body.textContent.includes('replica ready')")
            page.evaluate("document.getElementById('score-request').value = '{\"data\": [1, 2]}'")
            page.click("form.score button")
            answer = page.wait_for("(() => { const t = document.getElementById('score-answer').textContent;"
                                   " return t.startsWith('200') ? t : ''; })()")
            checks.check('"echo"' in answer and '"data"' in answer and "onerror" in answer,
                         "the deployment page's form sends a scoring request and shows the answer")
            page.screenshot(os.path.join(options.screenshots, "deployment.png"))

            page.navigate(service.endpoint + "/ui/#/default/models/ui-model")
            page.wait_for("document.body.textContent.includes('model.txt') && "
                          "document.body.textContent.includes(%s)" % json.dumps(finished_id))
            checks.check(True, "the model page shows the version's file and the run it came from")
            page.screenshot(os.path.join(options.screenshots, "model.png"))

            # The runs table follows statuses: a run canceled meanwhile shows Canceled, unreloaded.
            page.navigate(service.endpoint + "/ui/#/default/runs")
            page.wait_for("%s && %s.textContent.includes('Running')" % (row % waiting_id, row % waiting_id))
            page.evaluate("window.__notReloaded = true")
            service.api("POST", "/v1/workspaces/default/runs/%s/cancel" % waiting_id, {})
            page.wait_for("%s.textContent.includes('Canceled')" % (row % waiting_id), timeout=30)
            checks.check(page.evaluate("window.__notReloaded === true"),
                         "the runs table shows a run's new status without a reload")

            for view in ("computes", "datasets", "models", "deployments", "sweeps"):
                page.navigate(service.endpoint + "/ui/#/default/" + view)
                page.wait_for("document.querySelector('main .card') !== null")
                page.screenshot(os.path.join(options.screenshots, view + ".png"))

            checks.check(page.evaluate("window.__xss === undefined"), "no script of a run's markup ran")
            checks.check(not page.problems, "no console errors, exceptions or failed loads: %s" % page.problems)

        # The one-time code is used up.
        code = login.split("#code=")[1]
        status, _, _ = service.request("POST", "/ui/session", {"code": code}, token=False)
        checks.check(status == 401, "a used login code is refused (%d)" % status)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        sys.exit(1)
