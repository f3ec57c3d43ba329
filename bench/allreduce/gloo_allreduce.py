#!/usr/bin/env python3
"""PyTorch gloo all-reduce peer: one rank per process, float32 sum, timed per iteration.

Run one process per rank (MASTER_ADDR/MASTER_PORT/RANK/WORLD_SIZE in the environment, as torchrun
sets them). Rank r fills its buffer with (r + 1) + i*0 so the reduced value must be n(n+1)/2 in every
element; any other value fails the run. Each iteration starts after a barrier; its time is the slowest
rank's (an all-reduce is done when every rank has the result). Rank 0 prints one JSON object.

Usage: gloo_allreduce.py --sizes 1048576,16777216 [--iters 10] [--warmup 3]
"""

import argparse
import json
import os
import sys
import time

import torch
import torch.distributed as dist


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", required=True, help="comma-separated buffer sizes in bytes")
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    expected = world * (world + 1) / 2
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        count = size // 4
        buf = torch.empty(count, dtype=torch.float32)
        slowest = torch.zeros(1, dtype=torch.float64)
        times = []
        for i in range(args.warmup + args.iters):
            buf.fill_(rank + 1.0)
            dist.barrier()
            start = time.perf_counter()
            dist.all_reduce(buf, op=dist.ReduceOp.SUM)
            elapsed = time.perf_counter() - start
            # Verify every element: a fast wrong answer must never be reported as a figure.
            bad = torch.count_nonzero(buf != expected).item()
            if bad:
                print(f"gloo all-reduce produced a wrong sum in {bad} of {count} elements "
                      f"(expected {expected}) at {size} bytes", file=sys.stderr)
                sys.exit(1)
            slowest.fill_(elapsed)
            dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
            if i >= args.warmup:
                times.append(slowest.item())
        results.append({"bytes": size, "seconds": times})
        del buf
    if rank == 0:
        print(json.dumps({"implementation": "gloo", "torch": torch.__version__, "world_size": world,
                          "results": results}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
