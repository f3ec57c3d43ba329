#!/usr/bin/env python3
"""All-reduce benchmark: Ferry's CPU ring all-reduce vs PyTorch gloo, beside the loopback TCP limit.

Two ranks as separate processes on 127.0.0.1, float32 sum, buffer sizes BENCH_ALLREDUCE_SIZES (bytes,
default 1 MB, 16 MB, 64 MB, 256 MB). In each of BENCH_ALLREDUCE_ROUNDS rounds (default 3) each side
starts fresh processes, runs BENCH_ALLREDUCE_WARMUP warm-up iterations (default 3) and then
BENCH_ALLREDUCE_ITERS timed ones (default 10); the median over all rounds is reported. Both sides
verify every element of the reduced buffer and fail the run when one is wrong. Ferry's collective is
a mean (sum and scale fused in one pass), gloo's a sum: the same bytes move either way.

Ferry runs twice per round: as the trainer runs by default (FERRY_COLLECTIVE_TRANSPORT unset: two ranks on
one host share memory) and with FERRY_COLLECTIVE_TRANSPORT=tcp (the TCP ring, what ranks on different hosts
use). The summary line's ferry_busbw_gbs is the default; the JSON names the transport of each figure and has
the TCP-only figures and their fraction of loopback beside it (also printed on stderr).

Bus bandwidth = bytes x 2(n-1)/n / time (n = ranks), the figure nccl-tests report, comparable with
the link speed. Prints one line per size:
  allreduce bytes=67108864 ferry_busbw_gbs=... gloo_busbw_gbs=... ratio=... loopback_gbs=...
and writes bench/results/allreduce.json.
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import benchlib  # noqa: E402
import loopback  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SIZES = [1 << 20, 16 << 20, 64 << 20, 256 << 20]
WORLD = 2
TIMEOUT_S = benchlib.env_int("BENCH_ALLREDUCE_TIMEOUT_S", 900)


def run_ranks(name, argv_for_rank, env_extra, base_env=None):
    """Starts WORLD rank processes with the torchrun rendezvous variables; returns rank 0's JSON."""
    port = benchlib.free_port()
    procs = []
    for rank in range(WORLD):
        env = dict(base_env if base_env is not None else os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                   WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank), OMP_NUM_THREADS="1", **env_extra)
        procs.append(subprocess.Popen(argv_for_rank(rank), env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outputs = []
    for rank, p in enumerate(procs):
        try:
            out, err = p.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            benchlib.fail(f"{name} all-reduce rank {rank} did not finish within {TIMEOUT_S} s "
                          "(raise BENCH_ALLREDUCE_TIMEOUT_S for slow machines)")
        outputs.append((p.returncode, out, err))
    for rank, (code, out, err) in enumerate(outputs):
        if code != 0:
            benchlib.fail(f"{name} all-reduce rank {rank} exited with {code}:\n{err.strip()[-4000:]}")
    try:
        return json.loads(outputs[0][1].strip().splitlines()[-1])
    except (ValueError, IndexError):
        benchlib.fail(f"{name} all-reduce rank 0 printed no result JSON; stdout was:\n{outputs[0][1][-2000:]}")


def build_ferry():
    out = benchlib.dotnet_build("bench/allreduce/Ferry.Bench.AllReduce.csproj")
    dll = os.path.join(out, "Ferry.Bench.AllReduce.dll")
    if not os.path.exists(dll):
        benchlib.fail(f"build succeeded but {dll} is missing")
    return dll


def busbw(size, seconds):
    return size * 2 * (WORLD - 1) / WORLD / seconds / 1e9


def main():
    sizes = [int(s) for s in os.environ.get("BENCH_ALLREDUCE_SIZES", ",".join(map(str, DEFAULT_SIZES))).split(",")]
    iters = benchlib.env_int("BENCH_ALLREDUCE_ITERS", 10)
    warmup = benchlib.env_int("BENCH_ALLREDUCE_WARMUP", 3)
    if iters < 1 or warmup < 0:
        benchlib.fail("BENCH_ALLREDUCE_ITERS must be >= 1 and BENCH_ALLREDUCE_WARMUP >= 0")
    size_arg = ",".join(map(str, sizes))
    common = ["--sizes", size_arg, "--iters", str(iters), "--warmup", str(warmup)]

    machine = benchlib.machine()
    print(f"# machine: {machine['nproc']} cores, {machine['cpu_model']}, {machine['mem_gib']} GiB, "
          f"kernel {machine['kernel']}", file=sys.stderr)

    # Rounds interleave loopback, Ferry and gloo so that load from other processes on a shared machine
    # falls on all three alike; the median is taken over every timed iteration of every round.
    rounds = benchlib.env_int("BENCH_ALLREDUCE_ROUNDS", 3)
    lb_runs = benchlib.env_int("BENCH_LOOPBACK_RUNS", 5)
    lb_bytes = benchlib.env_int("BENCH_LOOPBACK_MIB", 1024) << 20
    print("# building Ferry's ring all-reduce benchmark", file=sys.stderr)
    dll = build_ferry()
    lb = []
    ferry = {"results": [{"bytes": s, "seconds": []} for s in sizes]}
    ferry_tcp = {"results": [{"bytes": s, "seconds": []} for s in sizes]}
    gloo = {"results": [{"bytes": s, "seconds": []} for s in sizes]}
    for r in range(rounds):
        print(f"# round {r + 1}/{rounds}: loopback TCP (one stream), Ferry (default transport), Ferry (TCP), PyTorch gloo", file=sys.stderr)
        lb += loopback.measure(lb_runs, 2, lb_bytes, 4 << 20)
        tcp_out = run_ranks("Ferry (FERRY_COLLECTIVE_TRANSPORT=tcp)", lambda rank: ["dotnet", dll] + common, {"FERRY_COLLECTIVE_TRANSPORT": "tcp"})
        if tcp_out.get("transport") != "tcp":
            benchlib.fail(f"Ferry with FERRY_COLLECTIVE_TRANSPORT=tcp reported transport {tcp_out.get('transport')!r}")
        default_env = {k: v for k, v in os.environ.items() if k != "FERRY_COLLECTIVE_TRANSPORT"}
        for into, out in ((ferry, run_ranks("Ferry", lambda rank: ["dotnet", dll] + common, {}, base_env=default_env)),
                          (ferry_tcp, tcp_out),
                          (gloo, run_ranks("gloo", lambda rank: [benchlib.peer_python(), os.path.join(HERE, "gloo_allreduce.py")] + common, {}))):
            for k, v in out.items():
                if k != "results":
                    into[k] = v
            for acc, res in zip(into["results"], out["results"]):
                if acc["bytes"] != res["bytes"]:
                    benchlib.fail(f"result for {res['bytes']} bytes came back where {acc['bytes']} was expected")
                acc["seconds"] += res["seconds"]
    loopback_gbs = benchlib.median(lb)
    iters *= rounds

    cases = []
    for size in sizes:
        f = next((r for r in ferry["results"] if r["bytes"] == size), None)
        t = next((r for r in ferry_tcp["results"] if r["bytes"] == size), None)
        g = next((r for r in gloo["results"] if r["bytes"] == size), None)
        if f is None or g is None or t is None or min(len(f["seconds"]), len(g["seconds"]), len(t["seconds"])) < iters:
            benchlib.fail(f"missing timings for {size} bytes (ferry: {f is not None}, ferry tcp: {t is not None}, gloo: {g is not None})")
        t_med = busbw(size, benchlib.median(t["seconds"]))
        f_bw = [busbw(size, s) for s in f["seconds"]]
        g_bw = [busbw(size, s) for s in g["seconds"]]
        f_med, g_med = busbw(size, benchlib.median(f["seconds"])), busbw(size, benchlib.median(g["seconds"]))
        case = {
            "bytes": size,
            "ferry_transport": ferry.get("transport"),
            "ferry_busbw_gbs": f_med, "gloo_busbw_gbs": g_med, "ratio": f_med / g_med,
            "loopback_gbs": loopback_gbs, "ferry_fraction_of_loopback": f_med / loopback_gbs,
            "ferry_tcp_busbw_gbs": t_med, "ferry_tcp_ratio": t_med / g_med, "ferry_tcp_fraction_of_loopback": t_med / loopback_gbs,
            "ferry_seconds": benchlib.summary(f["seconds"]), "ferry_tcp_seconds": benchlib.summary(t["seconds"]),
            "gloo_seconds": benchlib.summary(g["seconds"]),
            "ferry_busbw_gbs_runs": sorted(f_bw), "ferry_tcp_busbw_gbs_runs": sorted(busbw(size, x) for x in t["seconds"]),
            "gloo_busbw_gbs_runs": sorted(g_bw),
        }
        cases.append(case)
        print(f"# bytes={size}: Ferry over {ferry.get('transport')} {f_med:.3f} GB/s ({f_med / loopback_gbs:.0%} of loopback); "
              f"Ferry over tcp {t_med:.3f} GB/s ({t_med / loopback_gbs:.0%} of loopback, {t_med / g_med:.2f}x gloo)", file=sys.stderr)
        print(f"allreduce bytes={size} ferry_busbw_gbs={f_med:.3f} gloo_busbw_gbs={g_med:.3f} "
              f"ratio={f_med / g_med:.2f} loopback_gbs={loopback_gbs:.3f}", flush=True)

    benchlib.write_results("allreduce", {
        "benchmark": "allreduce",
        "machine": machine,
        "ranks": WORLD,
        "dtype": "float32",
        "op": {"ferry": "mean (AllReduceMean)", "gloo": "sum"},
        "iters_per_round": iters // rounds, "rounds": rounds, "loadavg_at_end": benchlib.load_average(),
        "warmup": warmup,
        "busbw_formula": "bytes * 2(n-1)/n / median seconds / 1e9",
        "loopback": {"runs_gbs": sorted(lb), "median_gbs": loopback_gbs, "streams": 1,
                     "bytes_per_run": lb_bytes, "app_buffer_bytes": 4 << 20},
        "ferry": {k: v for k, v in ferry.items() if k != "results"},
        "ferry_tcp": {k: v for k, v in ferry_tcp.items() if k != "results"},
        "transports": {"ferry_busbw_gbs": f"Ferry as the trainer runs by default between two ranks on this host: {ferry.get('transport')}",
                       "ferry_tcp_busbw_gbs": "Ferry's TCP ring (FERRY_COLLECTIVE_TRANSPORT=tcp), as between hosts",
                       "gloo_busbw_gbs": "PyTorch gloo over TCP", "loopback_gbs": "one TCP stream over loopback"},
        "gloo": {k: v for k, v in gloo.items() if k != "results"},
        "cases": cases,
    })


if __name__ == "__main__":
    main()
