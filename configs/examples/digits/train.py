"""Softmax regression on scikit-learn's bundled digits data (no download), trained with
mini-batch SGD in numpy. Prints progress per epoch and saves the model to ./outputs, as an Azure ML
estimator script does: every task starts in a writable working directory whose ./outputs is the
run's outputs folder (docs/runs.md, The working directory).

Run by trainctl: `trainctl submit configs/examples/digits/job.yaml --stream`.
"""
import argparse
import json
import os
import pickle
import sys

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

try:
    import trainctl  # on every trainctl task's PYTHONPATH (docs/metrics.md)
except ImportError:  # run outside trainctl: nothing is logged
    trainctl = None


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def accuracy(w, b, x, y):
    return float((np.argmax(x @ w + b, axis=1) == y).mean())


def cross_entropy(w, b, x, onehot):
    return float(-(onehot * np.log(softmax(x @ w + b) + 1e-12)).sum(axis=1).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    digits = load_digits()
    x = digits.data / 16.0
    y = digits.target
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=args.seed, stratify=y)

    rng = np.random.default_rng(args.seed)
    classes = 10
    w = np.zeros((x.shape[1], classes))
    b = np.zeros(classes)
    onehot = np.eye(classes)[y_train]

    print(f"training on {len(x_train)} images, testing on {len(x_test)}", flush=True)
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), args.batch_size):
            idx = order[start:start + args.batch_size]
            p = softmax(x_train[idx] @ w + b)
            grad = p - onehot[idx]
            w -= args.learning_rate * x_train[idx].T @ grad / len(idx)
            b -= args.learning_rate * grad.mean(axis=0)
        if trainctl:
            trainctl.log_metrics({"loss": cross_entropy(w, b, x_train, onehot),
                                  "train_accuracy": accuracy(w, b, x_train, y_train),
                                  "test_accuracy": accuracy(w, b, x_test, y_test)}, step=epoch)
        if epoch % 5 == 0 or epoch == 1 or epoch == args.epochs:
            print(f"epoch {epoch:3d}  train accuracy {accuracy(w, b, x_train, y_train):.3f}  "
                  f"test accuracy {accuracy(w, b, x_test, y_test):.3f}", flush=True)

    test_accuracy = accuracy(w, b, x_test, y_test)
    outputs = "./outputs"
    model_dir = os.path.join(outputs, "model")
    os.makedirs(model_dir, exist_ok=True)
    with open(os.path.join(model_dir, "model.pkl"), "wb") as f:
        pickle.dump({"w": w, "b": b}, f)
    with open(os.path.join(outputs, "metrics.json"), "w") as f:
        json.dump({"test_accuracy": test_accuracy, "epochs": args.epochs}, f)
    print(f"final test accuracy {test_accuracy:.3f}; model saved to outputs/model/model.pkl")
    return 0 if test_accuracy >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
