"""Entry script of the several-model deployment tests. run() answers what the replica was given
to find its models: "env", the variables TRAINCTL_MODEL_* and AZUREML_MODEL_DIR; "weights", by
variable, the weights.json in the directory it names, if any; "files", by variable, the files
there; "helper", by model name, what trainctl_scoring.model_dir(name) answers.
{"refuse": msg} makes run() raise BadRequest(msg)."""
import json
import os

from trainctl_scoring import BadRequest, model_dir

found = {}


def init():
    env = {name: value for name, value in os.environ.items()
           if name.startswith("TRAINCTL_MODEL") or name == "AZUREML_MODEL_DIR"}
    weights, files = {}, {}
    for name, directory in env.items():
        if name.startswith("TRAINCTL_MODEL_DIR_"):
            files[name] = sorted(os.listdir(directory))
            path = os.path.join(directory, "weights.json")
            if os.path.exists(path):
                with open(path) as stored:
                    weights[name] = json.load(stored)
    root = os.environ["TRAINCTL_MODEL_ROOT"]
    helper = {name: model_dir(name) for name in sorted(os.listdir(root))}
    found.update(env=env, weights=weights, files=files, helper=helper)


def run(raw_data):
    request = json.loads(raw_data)
    if "refuse" in request:
        raise BadRequest(request["refuse"])
    return found
