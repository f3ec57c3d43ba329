#!/usr/bin/env python3
"""Loopback TCP throughput of one stream: the physical ceiling beside the all-reduce figures.

A receiver process and a sender process (so the two ends run on different cores, as two ranks do)
move TOTAL bytes over one 127.0.0.1 connection with large application buffers; the sender's clock
runs from the first byte until the receiver acknowledges the last one. Kernel socket buffers are left
to autotuning, as the all-reduce implementations leave them.

Usage: loopback.py [--runs N] [--warmup N] [--total-mib N] [--chunk-mib N]   (prints JSON)
"""

import argparse
import json
import os
import socket
import statistics
import sys
import time


def receiver(listener, total, chunk, runs):
    conn, _ = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray(chunk)
    view = memoryview(buf)
    for _ in range(runs):
        remaining = total
        while remaining > 0:
            n = conn.recv_into(view, min(chunk, remaining))
            if n == 0:
                raise SystemExit("loopback receiver: connection closed early")
            remaining -= n
        conn.sendall(b"k")
    conn.close()


def sender(port, total, chunk, runs):
    conn = socket.create_connection(("127.0.0.1", port))
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    data = memoryview(os.urandom(chunk))
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        remaining = total
        while remaining > 0:
            n = min(chunk, remaining)
            conn.sendall(data[:n])
            remaining -= n
        if conn.recv(1) != b"k":
            raise SystemExit("loopback sender: no acknowledgement from the receiver")
        seconds.append(time.perf_counter() - start)
    conn.close()
    return seconds


def measure(runs, warmup, total_bytes, chunk_bytes):
    """Returns per-run GB/s (10^9 bytes per second) of the measured runs, warm-up runs dropped."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    pid = os.fork()
    if pid == 0:
        try:
            receiver(listener, total_bytes, chunk_bytes, runs + warmup)
            os._exit(0)
        except BaseException as e:  # the child must never return into the parent's code
            print(f"loopback receiver failed: {e}", file=sys.stderr)
            os._exit(1)
    listener.close()
    seconds = sender(port, total_bytes, chunk_bytes, runs + warmup)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise SystemExit("loopback receiver exited with an error")
    return [total_bytes / s / 1e9 for s in seconds[warmup:]]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--total-mib", type=int, default=1024)
    parser.add_argument("--chunk-mib", type=int, default=4)
    args = parser.parse_args()
    gbs = measure(args.runs, args.warmup, args.total_mib << 20, args.chunk_mib << 20)
    print(json.dumps({
        "total_bytes": args.total_mib << 20,
        "chunk_bytes": args.chunk_mib << 20,
        "gbs": sorted(gbs),
        "median_gbs": statistics.median(gbs),
    }))


if __name__ == "__main__":
    main()
