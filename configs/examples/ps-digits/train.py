"""Asynchronous SGD with parameter servers on scikit-learn's bundled digits data (no download):
softmax regression in numpy, wired only from TF_CONFIG, the way TensorFlow's parameter-server
training is.

- ps tasks each hold a shard of the parameters and serve pull / push on their cluster address;
  a push applies that worker's gradient at once (asynchronous SGD: no barrier, no lock across ps).
  Like TensorFlow's server.join(), a ps never exits by itself: the run stops it once it succeeded.
- workers loop: pull the parameters from every ps, compute the gradient of a mini-batch of their
  own shard of the training data, push each ps its part.
- the chief evaluates the current parameters on the test split every so often and decides when
  training is done (target accuracy reached, or the step budget spent); it then tells every ps,
  saves the model and metrics.json to the run's outputs/ and exits 0. Workers see "done" in the
  next answer of a ps and exit 0.

Messages are a JSON header and raw float64 bytes over multiprocessing.connection, authenticated
with a key derived from the run id (nothing is unpickled).

Run by trainctl: `trainctl submit configs/examples/ps-digits/job.yaml --stream`.
"""
import argparse
import hashlib
import json
import os
import sys
import threading
import time
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

CLASSES = 10
FEATURES = 64
PARAMS = (FEATURES + 1) * CLASSES  # softmax regression: weights and one bias row


# --- model --------------------------------------------------------------------------------------

def as_matrix(flat):
    return flat.reshape(FEATURES + 1, CLASSES)


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def accuracy(flat, x, y):
    params = as_matrix(flat)
    return float((np.argmax(x @ params[:-1] + params[-1], axis=1) == y).mean())


def gradient(flat, x, onehot):
    """Flat mean cross-entropy gradient over the batch."""
    params = as_matrix(flat)
    error = softmax(x @ params[:-1] + params[-1]) - onehot
    return (np.vstack([x.T @ error, error.sum(axis=0)]) / len(x)).ravel()


def load_split(seed):
    digits = load_digits()
    return train_test_split(digits.data / 16.0, digits.target, test_size=0.25, random_state=seed,
                            stratify=digits.target)


# --- wire protocol ------------------------------------------------------------------------------

def send(conn, header, array=None):
    payload = b"" if array is None else np.ascontiguousarray(array, dtype=np.float64).tobytes()
    conn.send_bytes(json.dumps(header).encode() + b"\0" + payload)


def receive(conn):
    """(header, float64 array or None)."""
    head, _, payload = conn.recv_bytes().partition(b"\0")
    return json.loads(head), (np.frombuffer(payload, dtype=np.float64) if payload else None)


def address(entry):
    host, port = entry.rsplit(":", 1)
    return host, int(port)


def auth_key():
    return hashlib.sha256(b"ps-digits:" + os.environ["TRAINCTL_RUN_ID"].encode()).digest()


def connect(entry, timeout_seconds):
    """A connection to the ps at `entry`, retrying while it is not listening yet (the tasks of a
    run start together, not at the same instant)."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            return Client(address(entry), authkey=auth_key())
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# --- ps -----------------------------------------------------------------------------------------

class ParameterShard:
    """One ps's slice of the parameters. A lock keeps each pull and push whole; there is no lock
    across ps, so a worker may see one shard before and another after someone's update."""

    def __init__(self, values, learning_rate):
        self.values = values
        self.learning_rate = learning_rate
        self.updates = 0
        self.done = False
        self.lock = threading.Lock()

    def answer(self, header, array):
        with self.lock:
            if header["op"] == "push" and not self.done:
                self.values -= self.learning_rate * array
                self.updates += 1
            elif header["op"] == "done":
                self.done = True
            reply = {"updates": self.updates, "done": self.done}
            return reply, (self.values.copy() if header["op"] == "pull" else None)


def serve_connection(conn, shard):
    with conn:
        try:
            while True:
                send(conn, *shard.answer(*receive(conn)))
        except EOFError:
            pass  # the peer is gone


def run_ps(cluster, index, args):
    bounds = shard_bounds(len(cluster["ps"]))[index]
    initial = np.random.default_rng(args.seed).normal(0.0, 0.01, PARAMS)
    shard = ParameterShard(initial[bounds[0]:bounds[1]].copy(), args.learning_rate)
    with Listener(address(cluster["ps"][index]), backlog=64, authkey=auth_key()) as listener:
        print(f"ps {index} serving parameters {bounds[0]}..{bounds[1] - 1} on "
              f"{cluster['ps'][index]}", flush=True)
        while True:  # never returns: the run stops the ps once the chief succeeded
            try:
                conn = listener.accept()
            except (AuthenticationError, EOFError, ConnectionError) as error:
                print(f"ps {index}: refused a connection: {error!r}", file=sys.stderr, flush=True)
                continue
            threading.Thread(target=serve_connection, args=(conn, shard), daemon=True).start()


def shard_bounds(ps_count):
    """[start, end) of each ps's slice of the flat parameters."""
    edges = np.linspace(0, PARAMS, ps_count + 1).astype(int)
    return list(zip(edges[:-1], edges[1:]))


# --- workers and chief: clients of every ps -----------------------------------------------------

class ParameterClient:
    def __init__(self, cluster, timeout_seconds):
        self.conns = [connect(entry, timeout_seconds) for entry in cluster["ps"]]
        self.bounds = shard_bounds(len(self.conns))

    def _call(self, conn, header, array=None):
        send(conn, header, array)
        return receive(conn)

    def pull(self):
        """(flat parameters, updates applied to ps 0, done)."""
        replies = [self._call(conn, {"op": "pull"}) for conn in self.conns]
        return (np.concatenate([values for _, values in replies]), replies[0][0]["updates"],
                any(header["done"] for header, _ in replies))

    def push(self, grad):
        """True once training is done."""
        replies = [self._call(conn, {"op": "push"}, grad[start:end])
                   for conn, (start, end) in zip(self.conns, self.bounds)]
        return any(header["done"] for header, _ in replies)

    def finish(self):
        for conn in self.conns:
            self._call(conn, {"op": "done"})


def run_worker(cluster, index, args):
    x_train, _, y_train, _ = load_split(args.seed)
    workers = len(cluster["worker"])
    x_shard, y_shard = x_train[index::workers], y_train[index::workers]
    onehot = np.eye(CLASSES)[y_shard]
    rng = np.random.default_rng(args.seed + 1 + index)
    client = ParameterClient(cluster, args.connect_timeout)
    print(f"worker {index} training on {len(x_shard)} images", flush=True)
    steps = 0
    while not train_step(client, x_shard, onehot, rng, args.batch_size):
        steps += 1
    print(f"worker {index}: training is done; {steps} steps were mine", flush=True)
    return 0


def train_step(client, x_shard, onehot, rng, batch_size):
    """One asynchronous SGD step; True once training is done (and then no step was taken)."""
    params, _, done = client.pull()
    if done:
        return True
    idx = rng.choice(len(x_shard), batch_size, replace=False)
    return client.push(gradient(params, x_shard[idx], onehot[idx]))


def run_chief(cluster, args):
    _, x_test, _, y_test = load_split(args.seed)
    client = ParameterClient(cluster, args.connect_timeout)
    print(f"chief: evaluating on {len(x_test)} images every {args.eval_every} steps until test "
          f"accuracy {args.target_accuracy} or {args.max_steps} steps", flush=True)
    next_evaluation = args.eval_every
    while True:
        params, steps, _ = client.pull()
        if steps < next_evaluation:
            time.sleep(0.01)
            continue
        test_accuracy = accuracy(params, x_test, y_test)
        print(f"step {steps:5d}  test accuracy {test_accuracy:.3f}", flush=True)
        if test_accuracy >= args.target_accuracy or steps >= args.max_steps:
            break
        next_evaluation = steps + args.eval_every
    client.finish()

    outputs = os.environ.get("TRAINCTL_OUTPUTS_DIR", "outputs")
    model_dir = os.path.join(outputs, "model")
    os.makedirs(model_dir, exist_ok=True)
    matrix = as_matrix(params)
    np.savez(os.path.join(model_dir, "model.npz"), w=matrix[:-1], b=matrix[-1])
    with open(os.path.join(outputs, "metrics.json"), "w") as f:
        json.dump({"test_accuracy": test_accuracy, "steps": steps,
                   "workers": len(cluster["worker"]), "parameter_servers": len(cluster["ps"])}, f)
    print(f"final test accuracy {test_accuracy:.3f} after {steps} steps; "
          f"model saved to outputs/model/model.npz", flush=True)
    return 0 if test_accuracy >= 0.9 else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learning-rate", type=float, default=0.5, help="applied by the ps")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--target-accuracy", type=float, default=0.95)
    parser.add_argument("--max-steps", type=int, default=5000)
    parser.add_argument("--eval-every", type=int, default=100, help="steps")
    parser.add_argument("--connect-timeout", type=float, default=15, help="seconds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    tf_config = json.loads(os.environ["TF_CONFIG"])
    cluster, task = tf_config["cluster"], tf_config["task"]
    if task["type"] == "ps":
        return run_ps(cluster, task["index"], args)
    if task["type"] == "worker":
        return run_worker(cluster, task["index"], args)
    if task["type"] == "chief":
        return run_chief(cluster, args)
    print(f"this example has no {task['type']} task", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
