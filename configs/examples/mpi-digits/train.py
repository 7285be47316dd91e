"""Data-parallel SGD under MPI (the Horovod pattern) on scikit-learn's bundled digits data (no
download): softmax regression in numpy. Every rank trains on its own shard of the training data;
after each mini-batch the ranks average their gradients with one allreduce and all apply the same
update, so the model stays identical on every rank. As with Horovod, the learning rate grows with
the number of ranks (their averaged gradient covers a batch that many times larger), and decays
over the epochs. Rank 0 evaluates, prints progress per epoch and saves the model to the run's
outputs/.

Run by trainctl: `trainctl submit configs/examples/mpi-digits/job.yaml --stream`.
By hand: `mpirun -np 4 /usr/bin/python3 train.py` (see docs/examples.md for the full command line).
"""
import argparse
import json
import os
import sys

import numpy as np
from mpi4py import MPI  # initialises MPI on import
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

CLASSES = 10


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def accuracy(params, x, y):
    w, b = params[:-1], params[-1]
    return float((np.argmax(x @ w + b, axis=1) == y).mean())


def gradient(params, x, onehot):
    """Mean cross-entropy gradient over the batch, the bias as the last row of `params`."""
    w, b = params[:-1], params[-1]
    error = softmax(x @ w + b) - onehot
    return np.vstack([x.T @ error, error.sum(axis=0)]) / len(x)


def cosine_decay(initial, epoch, epochs):
    """The learning rate of `epoch` (1-based): from `initial` down towards 0 at the last epoch, so
    that the last updates are small and the final model does not depend on the last few batches."""
    return initial * 0.5 * (1 + np.cos(np.pi * (epoch - 1) / epochs))


def save(outputs, params, metrics):
    model_dir = os.path.join(outputs, "model")
    os.makedirs(model_dir, exist_ok=True)
    np.savez(os.path.join(model_dir, "model.npz"), w=params[:-1], b=params[-1])
    with open(os.path.join(outputs, "metrics.json"), "w") as f:
        json.dump(metrics, f)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--learning-rate", type=float, default=0.25,
                        help="for one rank; multiplied by the number of ranks (Horovod's rule)")
    parser.add_argument("--batch-size", type=int, default=16, help="per rank")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data / 16.0, digits.target, test_size=0.25, random_state=args.seed,
        stratify=digits.target)
    # This rank's shard; every rank takes the same number of steps per epoch, or the
    # allreduce calls would not pair up.
    x_shard, y_shard = x_train[rank::size], y_train[rank::size]
    onehot = np.eye(CLASSES)[y_shard]
    steps_per_epoch = -(-(len(x_train) // size) // args.batch_size)

    # Rank 0's initial parameters, broadcast so that every rank starts from the same model.
    params = np.zeros((x_train.shape[1] + 1, CLASSES))
    if rank == 0:
        params[:] = np.random.default_rng(args.seed).normal(0.0, 0.01, params.shape)
    comm.Bcast(params, root=0)

    if rank == 0:
        print(f"{size} ranks training on {len(x_train)} images ({len(x_shard)} per rank), "
              f"testing on {len(x_test)}", flush=True)
    rng = np.random.default_rng(args.seed + rank)
    average = np.empty_like(params)
    for epoch in range(1, args.epochs + 1):
        learning_rate = cosine_decay(args.learning_rate * size, epoch, args.epochs)
        order = rng.permutation(len(x_shard))
        for step in range(steps_per_epoch):
            idx = order[step * args.batch_size:(step + 1) * args.batch_size]
            comm.Allreduce(gradient(params, x_shard[idx], onehot[idx]), average, op=MPI.SUM)
            params -= learning_rate * average / size
        if rank == 0 and (epoch % 5 == 0 or epoch == 1 or epoch == args.epochs):
            print(f"epoch {epoch:3d}  train accuracy {accuracy(params, x_train, y_train):.3f}  "
                  f"test accuracy {accuracy(params, x_test, y_test):.3f}", flush=True)

    if rank != 0:
        return 0
    test_accuracy = accuracy(params, x_test, y_test)
    save(os.environ.get("TRAINCTL_OUTPUTS_DIR", "outputs"), params,
         {"test_accuracy": test_accuracy, "epochs": args.epochs, "world_size": size})
    print(f"final test accuracy {test_accuracy:.3f}; model saved to outputs/model/model.npz",
          flush=True)
    return 0 if test_accuracy >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
