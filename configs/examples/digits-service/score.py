"""Scores handwritten digits with the model that configs/examples/digits trains.

The entry script of a trainctl deployment (docs/deployments.md): trainctld calls init() once in
each replica, then run(raw_data) for each request to
POST /v1/workspaces/{ws}/services/{name}/score.

Request:  {"data": [[64 pixel values, 0-16, as in sklearn's load_digits().data], ...]}
Response: {"predictions": [digit, ...], "probabilities": [[10 floats], ...]}
"""
import glob
import json
import os
import pickle

import numpy as np

model = None


def init():
    """Loads model.pkl from the registered model version's files ($TRAINCTL_MODEL_DIR)."""
    global model
    model_dir = os.environ["TRAINCTL_MODEL_DIR"]
    found = sorted(glob.glob(os.path.join(model_dir, "**", "model.pkl"), recursive=True))
    if not found:
        raise FileNotFoundError(f"no model.pkl under {model_dir}")
    with open(found[0], "rb") as f:
        model = pickle.load(f)
    print(f"loaded {found[0]}", flush=True)


def run(raw_data):
    """Predicts the digit of each 8x8 image in raw_data["data"]."""
    request = json.loads(raw_data) if isinstance(raw_data, (str, bytes)) else raw_data
    images = np.asarray(request["data"], dtype=float)
    if images.ndim != 2 or images.shape[1] != 64:
        raise ValueError(f"expected a list of 64-value images, got shape {images.shape}")
    logits = (images / 16.0) @ model["w"] + model["b"]
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return {"predictions": probabilities.argmax(axis=1).tolist(),
            "probabilities": probabilities.round(4).tolist()}
