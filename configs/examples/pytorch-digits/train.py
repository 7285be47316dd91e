"""PyTorch DistributedDataParallel on scikit-learn's bundled digits data (no download): a small
MLP trained on CPU with the gloo backend. torch.distributed reads MASTER_ADDR, MASTER_PORT,
WORLD_SIZE and RANK from the environment (init_method env://); a DistributedSampler gives every
rank its own part of each epoch, and DDP averages the gradients during backward. Rank 0
evaluates, prints progress per epoch and saves the model to the run's outputs/.

Run by trainctl: `trainctl submit configs/examples/pytorch-digits/job.yaml --stream`.
"""
import argparse
import json
import os
import sys

import torch
import torch.distributed as dist
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler


def load_split(seed):
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data / 16.0, digits.target, test_size=0.25, random_state=seed,
        stratify=digits.target)
    return (TensorDataset(torch.tensor(x_train, dtype=torch.float32), torch.tensor(y_train)),
            TensorDataset(torch.tensor(x_test, dtype=torch.float32), torch.tensor(y_test)))


@torch.no_grad()
def accuracy(model, dataset):
    x, y = dataset.tensors
    return float((model(x).argmax(dim=1) == y).float().mean())


def save(outputs, model, metrics):
    model_dir = os.path.join(outputs, "model")
    os.makedirs(model_dir, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(model_dir, "model.pt"))
    with open(os.path.join(outputs, "metrics.json"), "w") as f:
        json.dump(metrics, f)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=16, help="per rank")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(1)  # one core per rank is all a small MLP needs
    torch.manual_seed(args.seed)  # the same initial model on every rank (DDP also broadcasts it)
    dist.init_process_group("gloo", init_method="env://")
    rank, world_size = dist.get_rank(), dist.get_world_size()

    train_set, test_set = load_split(args.seed)
    sampler = DistributedSampler(train_set, num_replicas=world_size, rank=rank, seed=args.seed)
    loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler)
    net = nn.Sequential(nn.Linear(64, args.hidden), nn.ReLU(), nn.Linear(args.hidden, 10))
    model = DistributedDataParallel(net)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.learning_rate, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    if rank == 0:
        print(f"{world_size} ranks training on {len(train_set)} images "
              f"({len(sampler)} per rank), testing on {len(test_set)}", flush=True)
    for epoch in range(1, args.epochs + 1):
        sampler.set_epoch(epoch)
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()  # DDP averages the gradients over the ranks here
            optimizer.step()
        if rank == 0 and (epoch % 5 == 0 or epoch == 1 or epoch == args.epochs):
            print(f"epoch {epoch:3d}  train accuracy {accuracy(net, train_set):.3f}  "
                  f"test accuracy {accuracy(net, test_set):.3f}", flush=True)

    status = 0
    if rank == 0:
        test_accuracy = accuracy(net, test_set)
        save(os.environ.get("TRAINCTL_OUTPUTS_DIR", "outputs"), net,
             {"test_accuracy": test_accuracy, "epochs": args.epochs, "world_size": world_size})
        print(f"final test accuracy {test_accuracy:.3f}; model saved to outputs/model/model.pt",
              flush=True)
        status = 0 if test_accuracy >= 0.9 else 1
    dist.destroy_process_group()
    return status


if __name__ == "__main__":
    sys.exit(main())
