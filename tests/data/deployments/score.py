"""Entry script of the deployment tests (tests/integration/test_service_deployments.cpp).

init() loads weights.json from the registered model version ($TRAINCTL_MODEL_DIR); it raises
when the deployment sets FAIL_INIT. run() multiplies "x" by the model's scale; {"raise": msg}
makes it raise ValueError(msg) and {"sleep": s} makes it take s seconds.
"""
import json
import os
import time

model = None


def init():
    global model
    if os.environ.get("FAIL_INIT"):
        raise RuntimeError("cannot load the model: " + os.environ["FAIL_INIT"])
    if os.environ.get("START_DAEMON"):  # a daemon that leaves the replica's process group
        os.system("setsid sleep " + os.environ["START_DAEMON"] + " &")
    with open(os.path.join(os.environ["TRAINCTL_MODEL_DIR"], "weights.json")) as weights:
        model = json.load(weights)
    print("loaded model version", model["version"])


def run(raw_data):
    data = json.loads(raw_data)
    if "raise" in data:
        raise ValueError(data["raise"])
    time.sleep(data.get("sleep", 0))
    print("scoring", data.get("x"))
    return {"prediction": model["scale"] * data.get("x", 0), "model": model["version"],
            "pid": os.getpid()}
