#!/usr/bin/env python3
"""PyTorch data-parallel peer of Ferry's trainer: same model, same per-rank batch, one thread per rank.

One process per rank with the torchrun variables (MASTER_ADDR/MASTER_PORT/RANK/WORLD_SIZE). With one
rank the model is trained plainly (what a user would run); with more it is wrapped in
DistributedDataParallel over gloo. Runs --warmup-steps untimed steps and then --steps timed ones on
Fashion-MNIST held in memory, and rank 0 prints one JSON object with samples/s over the timed steps
(all ranks' samples). The loss must stay finite and must decrease from the first steps, otherwise the
run fails: a throughput of a broken training loop is not a figure.

The architectures mirror src/TrainerImage (see MODELS below); keep them in step with it.
"""

import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

DATA_DIR = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")


class Mlp(nn.Module):
    """784 -> hidden (ReLU) -> 10."""

    def __init__(self, hidden):
        super().__init__()
        self.fc1 = nn.Linear(784, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class Cnn(nn.Module):
    """Ferry's CnnNetwork: conv5x5 1-32, pool, relu, conv5x5 32-64, pool, relu, fc 3136-256, relu, fc 256-10."""

    def __init__(self, hidden):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.fc1 = nn.Linear(64 * 7 * 7, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


MODELS = {"mlp": Mlp, "cnn": Cnn}
# Ferry's ModelSpec.Cnn fixes the CNN's hidden layer at 256 (hidden_units sizes only the MLP).
CNN_HIDDEN_UNITS = 256
# Ferry's FashionMnist.Mean / StandardDeviation.
PIXEL_MEAN, PIXEL_STD = 0.2860, 0.3530


def load_images(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    n, rows, cols = int.from_bytes(data[4:8], "big"), int.from_bytes(data[8:12], "big"), int.from_bytes(data[12:16], "big")
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, 1, rows, cols)


def load_labels(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    return np.frombuffer(data, dtype=np.uint8, offset=8)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=sorted(MODELS), required=True)
    parser.add_argument("--hidden-units", type=int, default=256, help="MLP hidden width (the CNN's is fixed)")
    parser.add_argument("--batch-size", type=int, required=True, help="per rank")
    parser.add_argument("--steps", type=int, default=100, help="timed steps per rank")
    parser.add_argument("--warmup-steps", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        dist.init_process_group("gloo")

    images = load_images(os.path.join(DATA_DIR, "train-images-idx3-ubyte.gz"))
    labels = load_labels(os.path.join(DATA_DIR, "train-labels-idx1-ubyte.gz"))
    # Normalised as Ferry does; each epoch a seeded permutation of which this rank takes every world-th
    # sample, gathered into batches by index (Ferry's EpochSharding).
    x = torch.from_numpy((images.astype(np.float32) / 255.0 - PIXEL_MEAN) / PIXEL_STD)
    y = torch.from_numpy(labels.astype(np.int64))
    batches_per_epoch = len(x) // world // args.batch_size
    shard = None

    model = MODELS[args.model](CNN_HIDDEN_UNITS if args.model == "cnn" else args.hidden_units)
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model)
    if args.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)

    losses = []

    def step(i):
        nonlocal shard
        epoch, b = divmod(i, batches_per_epoch)
        if b == 0:
            g = torch.Generator().manual_seed(42 + epoch)
            shard = torch.randperm(len(x), generator=g)[rank::world][:batches_per_epoch * args.batch_size]
        idx = shard[b * args.batch_size:(b + 1) * args.batch_size]
        xb, yb = x.index_select(0, idx), y.index_select(0, idx)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss.item()

    for i in range(args.warmup_steps):
        losses.append(step(i))
    if world > 1:
        dist.barrier()
    start = time.perf_counter()
    for i in range(args.warmup_steps, args.warmup_steps + args.steps):
        losses.append(step(i))
    if world > 1:
        dist.barrier()
    elapsed = time.perf_counter() - start

    if not all(math.isfinite(v) for v in losses):
        print(f"rank {rank}: the loss became non-finite", file=sys.stderr)
        sys.exit(1)
    head, tail = np.mean(losses[:5]), np.mean(losses[-10:])
    if not tail < head:
        print(f"rank {rank}: the loss did not decrease (first steps {head:.4f}, last steps {tail:.4f})", file=sys.stderr)
        sys.exit(1)
    if rank == 0:
        print(json.dumps({
            "implementation": "pytorch-ddp-gloo" if world > 1 else "pytorch",
            "torch": torch.__version__, "model": args.model,
            "hidden_units": CNN_HIDDEN_UNITS if args.model == "cnn" else args.hidden_units,
            "optimizer": args.optimizer, "lr": args.lr, "momentum": args.momentum,
            "ranks": world, "batch_size_per_rank": args.batch_size, "steps": args.steps,
            "warmup_steps": args.warmup_steps, "seconds": elapsed,
            "samples_per_s": world * args.batch_size * args.steps / elapsed,
            "loss_first": float(head), "loss_last": float(tail),
            "parameters": sum(p.numel() for p in model.parameters()),
        }))
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
