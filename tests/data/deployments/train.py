"""A tiny training run for the deployment tests: writes outputs/model/weights.json with the
scale and version given as arguments (train.py SCALE VERSION)."""
import json
import os
import sys

model_dir = os.path.join(os.environ["TRAINCTL_OUTPUTS_DIR"], "model")
os.makedirs(model_dir, exist_ok=True)
with open(os.path.join(model_dir, "weights.json"), "w") as weights:
    json.dump({"scale": float(sys.argv[1]), "version": sys.argv[2]}, weights)
print("trained model", sys.argv[2])
