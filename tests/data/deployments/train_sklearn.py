"""Trains the model of the no-code deployment tests: LogisticRegression on sklearn's bundled iris
data, saved with joblib as outputs/model/model.pkl. Also writes outputs/expected.json: a few
rows and what the model's own predict() and predict_proba() answer for them, to compare the
deployment's answers with; and outputs/weights/model.pkl, a pickled dict that is no model."""
import json
import os

import pickle

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

features, labels = load_iris(return_X_y=True)
model = LogisticRegression(max_iter=1000).fit(features, labels)
outputs = os.environ["TRAINCTL_OUTPUTS_DIR"]
os.makedirs(os.path.join(outputs, "model"), exist_ok=True)
joblib.dump(model, os.path.join(outputs, "model", "model.pkl"))
rows = features[::25].tolist()
with open(os.path.join(outputs, "expected.json"), "w") as expected:
    json.dump({"rows": rows, "predict": model.predict(rows).tolist(),
               "predict_proba": model.predict_proba(rows).tolist(),
               "classes": model.classes_.tolist()}, expected)
os.makedirs(os.path.join(outputs, "weights"), exist_ok=True)
with open(os.path.join(outputs, "weights", "model.pkl"), "wb") as weights:
    pickle.dump({"coef": model.coef_.tolist()}, weights)
print("trained on", len(features), "rows")
