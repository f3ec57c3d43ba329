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
    """Two 5x5 conv + 2x2 max-pool blocks (32, 64 channels) then a hidden dense layer and 10 logits."""

    def __init__(self, hidden):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.fc1 = nn.Linear(64 * 7 * 7, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


MODELS = {"mlp": Mlp, "cnn": Cnn}


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
    parser.add_argument("--hidden-units", type=int, required=True)
    parser.add_argument("--batch-size", type=int, required=True, help="per rank")
    parser.add_argument("--steps", type=int, default=100, help="timed steps per rank")
    parser.add_argument("--warmup-steps", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.01)
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
    # This rank's shard (strided, like a DistributedSampler without shuffling), normalised to [0, 1].
    x = torch.from_numpy(images[rank::world].astype(np.float32) / 255.0)
    y = torch.from_numpy(labels[rank::world].astype(np.int64))
    batches_per_epoch = len(x) // args.batch_size

    model = MODELS[args.model](args.hidden_units)
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model)
    if args.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)

    losses = []

    def step(i):
        b = i % batches_per_epoch
        xb, yb = x[b * args.batch_size:(b + 1) * args.batch_size], y[b * args.batch_size:(b + 1) * args.batch_size]
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
            "torch": torch.__version__, "model": args.model, "hidden_units": args.hidden_units,
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
