#!/usr/bin/env python3
"""Data-parallel training benchmarks: Ferry's trainer vs PyTorch, throughput and scaling; CNN accuracy.

  run.py throughput   MLP (784-2048-10) and CNN, 1 and 2 ranks, one intra-op thread per rank, the same
                      per-rank batch on both sides. Ferry's `train` runs as real processes (rendezvous via
                      MASTER_ADDR/MASTER_PORT/RANK/WORLD_SIZE) with FERRY_OPT_ML pointing at temporary roots
                      where the Fashion-MNIST files are linked into input/data/train. samples/s is taken
                      between two of rank 0's log lines (timestamped as they arrive) after the warm-up steps,
                      so start-up, data loading and the epoch-end evaluation are excluded. The PyTorch peer
                      (ddp_train.py) times the same number of steps after the same warm-up. Rounds alternate
                      the two sides; medians are reported. Prints per model:
                        trainer model=cnn ranks=2 ferry_samples_s=... pytorch_samples_s=... ratio=... efficiency=...
                      (efficiency = Ferry's 2-rank throughput / (2 x its 1-rank throughput), with the trainer's
                      default transport: shared memory between ranks on one host; the JSON also has PyTorch's.)
                      Each round also runs Ferry's 2 ranks with FERRY_COLLECTIVE_TRANSPORT=tcp, and two independent
                      1-rank runs side by side, whose summed throughput / (2 x a lone run) is the ceiling any
                      2-rank job can reach on this machine (no communication, only the shared cores and memory);
                      both go to the JSON and to stderr.
  run.py accuracy     Ferry's CNN trained on the full training set for BENCH_ACCURACY_EPOCHS epochs with 1 and 2
                      ranks at the same global batch (global_batch_size=BENCH_ACCURACY_GLOBAL_BATCH, split evenly
                      over the ranks), so both rank counts run the same optimisation and differ only by data
                      parallelism; test accuracy is the val_accuracy of the last epoch-end line. Prints
                        accuracy model=cnn ranks=1 acc=... ranks=2 acc=...
  run.py accuracy-report
                      Summarises a stopped accuracy run from its rank-0 logs (bench/results/accuracy-ranks*.log.tmp):
                      the accuracy after the last epoch every rank count completed.

Knobs: BENCH_TRAINER_ROUNDS (3), BENCH_TRAINER_BATCH (64), BENCH_TRAINER_MLP_STEPS (300),
BENCH_TRAINER_CNN_STEPS (60), BENCH_TRAINER_WARMUP_STEPS (20), BENCH_TRAINER_MODELS (mlp,cnn),
BENCH_ACCURACY_EPOCHS (see DEFAULT_ACCURACY_EPOCHS), BENCH_ACCURACY_GLOBAL_BATCH (128), BENCH_ACCURACY_RANKS (1,2), BENCH_ACCURACY_PARALLEL (0; 1 runs
the rank counts side by side, which changes wall time only).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import benchlib  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
DATA_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
MLP_HIDDEN = 2048
LOG_INTERVAL = 10
# The epoch budget of the accuracy run: enough for the CNN to pass the published 2-conv figure (0.916)
# with SGD+momentum at the trainer's defaults; raise it with BENCH_ACCURACY_EPOCHS for a longer run.
DEFAULT_ACCURACY_EPOCHS = 8
PUBLISHED = {"cnn": 0.916, "mlp": 0.8833}  # Fashion-MNIST benchmark table: 2 conv + pooling; MLP 256-128-100

TRAIN_LINE = re.compile(r"^epoch=(\d+) step=(\d+) train_loss=(\S+)\s*$")
ALLREDUCE_SHARE = re.compile(r"^all-reduce took (\S+) s of (\S+) s of training steps")
EPOCH_END = re.compile(r"^epoch=(\d+) step=(\d+) train_loss=(\S+) val_loss=(\S+) val_accuracy=(\S+)\s*$")


def check_data():
    missing = [f for f in DATA_FILES if not os.path.exists(os.path.join(DATA_DIR, f))]
    if missing:
        benchlib.fail(f"Fashion-MNIST files missing in {DATA_DIR}: {', '.join(missing)} "
                      "(install Debian's dataset-fashion-mnist: scripts/setup.sh)")


def build_trainer():
    out = benchlib.dotnet_build("src/TrainerImage/Ferry.Trainer.csproj")
    dll = os.path.join(out, "train.dll")
    if not os.path.exists(dll):
        benchlib.fail(f"the trainer build produced no {dll}")
    return dll


def make_root(base, rank):
    """An /opt/ml tree for one rank: the data linked into the train channel, config written by the caller."""
    root = os.path.join(base, f"rank{rank}")
    train = os.path.join(root, "input", "data", "train")
    os.makedirs(train)
    os.makedirs(os.path.join(root, "input", "config"))
    for f in DATA_FILES:
        os.symlink(os.path.join(DATA_DIR, f), os.path.join(train, f))
    return root


def run_ferry(dll, ranks, hyper, label, timeout_s, log_path=None, env_extra=None):
    """Runs `train` as `ranks` processes; returns rank 0's stdout lines as (arrival seconds, text) and stderr.

    With log_path, rank 0's lines are also appended there as they arrive (long runs leave a trace when stopped)."""
    base = tempfile.mkdtemp(prefix="ferry-bench-trainer-")
    port = benchlib.free_port()
    procs, logs = [], []
    try:
        for rank in range(ranks):
            root = make_root(base, rank)
            with open(os.path.join(root, "input", "config", "hyperparameters.json"), "w") as f:
                json.dump({k: str(v) for k, v in hyper.items()}, f)
            with open(os.path.join(root, "input", "config", "resourceconfig.json"), "w") as f:
                json.dump({"current_host": f"algo-{rank + 1}", "hosts": [f"algo-{i + 1}" for i in range(ranks)]}, f)
            env = dict(os.environ, FERRY_OPT_ML=root, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                       RANK=str(rank), WORLD_SIZE=str(ranks), LOCAL_RANK=str(rank), OMP_NUM_THREADS="1",
                       MKL_NUM_THREADS="1", **(env_extra or {}))
            procs.append(subprocess.Popen(["dotnet", dll], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True, bufsize=1, cwd=root))
        start = time.perf_counter()
        lines = []
        stderr = [""] * ranks
        # Drain every pipe on its own thread so no rank blocks on a full pipe; rank 0's stdout is timestamped.

        def read_stdout(rank, stream):
            log = open(log_path, "w", buffering=1) if log_path and rank == 0 else None
            for line in stream:
                if rank == 0:
                    lines.append((time.perf_counter() - start, line.rstrip("\n")))
                    if log:
                        log.write(f"{time.perf_counter() - start:9.1f} {line}")
            if log:
                log.close()

        def read_stderr(rank, stream):
            stderr[rank] = stream.read()

        threads = []
        for rank, p in enumerate(procs):
            threads.append(threading.Thread(target=read_stdout, args=(rank, p.stdout), daemon=True))
            threads.append(threading.Thread(target=read_stderr, args=(rank, p.stderr), daemon=True))
        for t in threads:
            t.start()
        deadline = time.monotonic() + timeout_s
        for rank, p in enumerate(procs):
            remaining = max(1, deadline - time.monotonic())
            try:
                p.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                for q in procs:
                    q.kill()
                benchlib.fail(f"{label}: Ferry's trainer (rank {rank}) did not finish within {timeout_s:.0f} s")
        for t in threads:
            t.join(timeout=10)
        for rank, p in enumerate(procs):
            if p.returncode != 0:
                tail = "\n".join(l for _, l in lines[-20:]) if rank == 0 else ""
                benchlib.fail(f"{label}: Ferry's trainer rank {rank} exited with {p.returncode}:\n"
                              f"{stderr[rank].strip()[-3000:]}\n{tail}")
        return lines, stderr
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        shutil.rmtree(base, ignore_errors=True)


def ferry_throughput(dll, model, ranks, batch, warmup, steps, env_extra=None, label_suffix=""):
    # Enough samples for warm-up + timed steps + one log interval of slack, in a single epoch, so the epoch-end
    # evaluation (on a small test subset) falls after the timed window.
    total_steps = warmup + steps + LOG_INTERVAL
    hyper = {"model": model, "batch_size": batch, "epochs": 1, "threads": 1, "log_interval": LOG_INTERVAL,
             "max_train_samples": total_steps * batch * ranks, "max_test_samples": 1000, "seed": 42}
    if model == "mlp":
        hyper["hidden_units"] = MLP_HIDDEN
    label = f"trainer model={model} ranks={ranks}{label_suffix}"
    lines, _ = run_ferry(dll, ranks, hyper, label, timeout_s=benchlib.env_int("BENCH_TRAINER_TIMEOUT_S", 1800), env_extra=env_extra)
    points = []
    for t, text in lines:
        m = TRAIN_LINE.match(text)
        if m:
            loss = float(m.group(3))
            if loss != loss or loss in (float("inf"), float("-inf")):
                benchlib.fail(f"{label}: Ferry's trainer logged a non-finite loss: {text}")
            points.append((t, int(m.group(2)), loss))
    if not any(EPOCH_END.match(text) for _, text in lines):
        benchlib.fail(f"{label}: Ferry's trainer logged no epoch-end line (epoch=.. val_accuracy=..); "
                      f"last lines:\n" + "\n".join(text for _, text in lines[-10:]))
    timed = [p for p in points if p[1] >= warmup]
    if len(timed) < 2:
        benchlib.fail(f"{label}: too few train_loss lines after step {warmup} to time ({len(timed)}); "
                      f"lines seen: {len(lines)}")
    (t0, s0, _), (t1, s1, _) = timed[0], timed[-1]
    losses = [p[2] for p in points]
    if not losses[-1] < losses[0]:
        benchlib.fail(f"{label}: Ferry's training loss did not decrease ({losses[0]} -> {losses[-1]})")
    result = {"samples_per_s": (s1 - s0) * batch * ranks / (t1 - t0), "timed_steps": s1 - s0, "seconds": t1 - t0,
              "loss_first": losses[0], "loss_last": losses[-1]}
    for _, text in lines:
        m = ALLREDUCE_SHARE.match(text)
        if m:
            # Over every step of the run (warm-up included): rank 0's time inside the all-reduce, waiting included.
            result["allreduce_seconds"], result["step_seconds"] = float(m.group(1)), float(m.group(2))
            result["allreduce_fraction"] = float(m.group(1)) / float(m.group(2))
    return result


def ferry_side_by_side(dll, model, batch, warmup, steps):
    """Two independent 1-rank trainers at once: no communication at all, only the sharing of the machine.

    Their summed samples/s over 2 x a lone 1-rank run is the most a 2-rank job can reach here (its ceiling)."""
    results = [None, None]

    def one(i):
        results[i] = ferry_throughput(dll, model, 1, batch, warmup, steps, label_suffix=f" (side by side, copy {i + 1})")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if any(r is None for r in results):
        benchlib.fail(f"trainer model={model}: a side-by-side 1-rank run failed (see above)")
    return {"samples_per_s": sum(r["samples_per_s"] for r in results), "copies": results}


def pytorch_throughput(model, ranks, batch, warmup, steps):
    label = f"pytorch model={model} ranks={ranks}"
    port = benchlib.free_port()
    argv = [benchlib.peer_python(), os.path.join(HERE, "ddp_train.py"), "--model", model, "--batch-size", str(batch),
            "--steps", str(steps), "--warmup-steps", str(warmup), "--hidden-units", str(MLP_HIDDEN)]
    procs = []
    for rank in range(ranks):
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(ranks),
                   LOCAL_RANK=str(rank), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=benchlib.env_int("BENCH_TRAINER_TIMEOUT_S", 1800)) for p in procs]
    for rank, (p, (_, err)) in enumerate(zip(procs, outs)):
        if p.returncode != 0:
            benchlib.fail(f"{label}: PyTorch peer rank {rank} exited with {p.returncode}:\n{err.strip()[-3000:]}")
    return json.loads(outs[0][0].strip().splitlines()[-1])


def throughput():
    check_data()
    rounds = benchlib.env_int("BENCH_TRAINER_ROUNDS", 3)
    batch = benchlib.env_int("BENCH_TRAINER_BATCH", 64)
    warmup = benchlib.env_int("BENCH_TRAINER_WARMUP_STEPS", 20)
    steps = {"mlp": benchlib.env_int("BENCH_TRAINER_MLP_STEPS", 300), "cnn": benchlib.env_int("BENCH_TRAINER_CNN_STEPS", 60)}
    models = [m for m in os.environ.get("BENCH_TRAINER_MODELS", "mlp,cnn").split(",") if m]
    machine = benchlib.machine()
    print(f"# machine: {machine['nproc']} cores, {machine['cpu_model']}, {machine['mem_gib']} GiB, "
          f"kernel {machine['kernel']}, load {machine['loadavg_at_start']}", file=sys.stderr)
    print("# building Ferry's trainer", file=sys.stderr)
    dll = build_trainer()
    cases = []
    for model in models:
        runs = {(side, r): [] for side in ("ferry", "pytorch") for r in (1, 2)}
        details = {key: [] for key in runs}
        extra = {"ferry_tcp": [], "side_by_side": []}
        extra_details = {key: [] for key in extra}
        for i in range(rounds):
            for ranks in (1, 2):
                print(f"# {model} ranks={ranks} round {i + 1}/{rounds}", file=sys.stderr)
                f = ferry_throughput(dll, model, ranks, batch, warmup, steps[model])
                p = pytorch_throughput(model, ranks, batch, warmup, steps[model])
                runs[("ferry", ranks)].append(f["samples_per_s"])
                runs[("pytorch", ranks)].append(p["samples_per_s"])
                details[("ferry", ranks)].append(f)
                details[("pytorch", ranks)].append(p)
            print(f"# {model} round {i + 1}/{rounds}: Ferry 2 ranks over TCP; two 1-rank Ferry runs side by side", file=sys.stderr)
            t = ferry_throughput(dll, model, 2, batch, warmup, steps[model], env_extra={"FERRY_COLLECTIVE_TRANSPORT": "tcp"}, label_suffix=" (tcp)")
            sbs = ferry_side_by_side(dll, model, batch, warmup, steps[model])
            extra["ferry_tcp"].append(t["samples_per_s"])
            extra["side_by_side"].append(sbs["samples_per_s"])
            extra_details["ferry_tcp"].append(t)
            extra_details["side_by_side"].append(sbs)
        med = {k: benchlib.median(v) for k, v in runs.items()}
        eff_f = med[("ferry", 2)] / (2 * med[("ferry", 1)])
        eff_p = med[("pytorch", 2)] / (2 * med[("pytorch", 1)])
        tcp_med, sbs_med = benchlib.median(extra["ferry_tcp"]), benchlib.median(extra["side_by_side"])
        print(f"# {model}: 2 ranks over tcp {tcp_med:.1f} samples/s (efficiency {tcp_med / (2 * med[('ferry', 1)]):.2f}); "
              f"two 1-rank runs side by side {sbs_med:.1f} samples/s in all (ceiling {sbs_med / (2 * med[('ferry', 1)]):.2f})", file=sys.stderr)
        for ranks in (1, 2):
            case = {"model": model, "ranks": ranks, "batch_size_per_rank": batch,
                    "ferry_samples_s": med[("ferry", ranks)], "pytorch_samples_s": med[("pytorch", ranks)],
                    "ratio": med[("ferry", ranks)] / med[("pytorch", ranks)],
                    "ferry_runs": benchlib.summary(runs[("ferry", ranks)]),
                    "pytorch_runs": benchlib.summary(runs[("pytorch", ranks)]),
                    "ferry_details": details[("ferry", ranks)], "pytorch_details": details[("pytorch", ranks)]}
            if ranks == 2:
                case["efficiency"] = eff_f
                case["pytorch_efficiency"] = eff_p
                case["ferry_transport"] = "default (shared memory between ranks on one host, else TCP)"
                case["ferry_tcp_samples_s"] = tcp_med
                case["ferry_tcp_efficiency"] = tcp_med / (2 * med[("ferry", 1)])
                case["ferry_tcp_runs"] = benchlib.summary(extra["ferry_tcp"])
                case["side_by_side_1rank_samples_s"] = sbs_med
                case["efficiency_ceiling"] = sbs_med / (2 * med[("ferry", 1)])
                case["efficiency_ceiling_note"] = ("two independent 1-rank runs at once (no communication): the share of a "
                                                   "lone run's speed each keeps when both cores are busy")
                case["side_by_side_runs"] = benchlib.summary(extra["side_by_side"])
                case["extra_details"] = extra_details
                fractions = [d["allreduce_fraction"] for d in details[("ferry", 2)] if "allreduce_fraction" in d]
                tcp_fractions = [d["allreduce_fraction"] for d in extra_details["ferry_tcp"] if "allreduce_fraction" in d]
                if fractions and tcp_fractions:
                    # Share of rank 0's step time spent inside the all-reduce (waiting for the other rank included).
                    case["ferry_allreduce_fraction"] = benchlib.median(fractions)
                    case["ferry_tcp_allreduce_fraction"] = benchlib.median(tcp_fractions)
                    print(f"# {model}: rank 0 spent {case['ferry_allreduce_fraction']:.0%} of its step time in the all-reduce "
                          f"(shared memory), {case['ferry_tcp_allreduce_fraction']:.0%} over tcp", file=sys.stderr)
            cases.append(case)
            line = (f"trainer model={model} ranks={ranks} ferry_samples_s={med[('ferry', ranks)]:.1f} "
                    f"pytorch_samples_s={med[('pytorch', ranks)]:.1f} ratio={case['ratio']:.2f}")
            if ranks == 2:
                line += f" efficiency={eff_f:.2f}"
            print(line, flush=True)
    benchlib.write_results("trainer", {
        "benchmark": "trainer", "machine": machine, "loadavg_at_end": benchlib.load_average(),
        "rounds": rounds, "warmup_steps": warmup, "timed_steps": steps, "log_interval": LOG_INTERVAL,
        "threads_per_rank": 1, "mlp_hidden_units": MLP_HIDDEN,
        "method": "Ferry: rank 0 train_loss lines timestamped on arrival, first line at step >= warm-up to the last "
                  "before the epoch end; PyTorch: perf_counter around the timed steps (barriers at both ends).",
        "cases": cases,
    })


def accuracy():
    check_data()
    epochs = benchlib.env_int("BENCH_ACCURACY_EPOCHS", DEFAULT_ACCURACY_EPOCHS)
    rank_counts = [int(r) for r in os.environ.get("BENCH_ACCURACY_RANKS", "1,2").split(",")]
    global_batch = benchlib.env_int("BENCH_ACCURACY_GLOBAL_BATCH", 128)
    uneven = [r for r in rank_counts if global_batch % r != 0]
    if uneven:
        benchlib.fail(f"BENCH_ACCURACY_GLOBAL_BATCH={global_batch} does not divide over {uneven} rank(s); use a multiple of each rank count")
    machine = benchlib.machine()
    print(f"# machine: {machine['nproc']} cores, {machine['cpu_model']}, load {machine['loadavg_at_start']}", file=sys.stderr)
    print("# building Ferry's trainer", file=sys.stderr)
    dll = build_trainer()
    parallel = os.environ.get("BENCH_ACCURACY_PARALLEL", "0") == "1"

    def one(ranks):
        print(f"# cnn, {epochs} epochs, ranks={ranks}, full Fashion-MNIST", file=sys.stderr)
        hyper = {"model": "cnn", "global_batch_size": global_batch, "epochs": epochs, "threads": 1, "seed": 42}
        started = time.perf_counter()
        lines, _ = run_ferry(dll, ranks, hyper, f"accuracy ranks={ranks}",
                             timeout_s=benchlib.env_int("BENCH_ACCURACY_TIMEOUT_S", 4 * 3600),
                             log_path=os.path.join(benchlib.RESULTS_DIR, f"accuracy-ranks{ranks}.log.tmp"))
        wall = time.perf_counter() - started
        ends = [EPOCH_END.match(text) for _, text in lines]
        ends = [m for m in ends if m]
        if len(ends) != epochs:
            benchlib.fail(f"accuracy ranks={ranks}: expected {epochs} epoch-end lines with val_accuracy, got {len(ends)}")
        per_epoch = [{"epoch": int(m.group(1)), "step": int(m.group(2)), "train_loss": float(m.group(3)),
                      "val_loss": float(m.group(4)), "val_accuracy": float(m.group(5))} for m in ends]
        acc = per_epoch[-1]["val_accuracy"]
        if not 0.5 <= acc <= 1.0:
            benchlib.fail(f"accuracy ranks={ranks}: test accuracy {acc} means training is broken")
        return {"ranks": ranks, "epochs": epochs, "global_batch_size": global_batch,
                "batch_size_per_rank": global_batch // ranks, "acc": acc,
                "wall_seconds": wall, "concurrent_with_other_rank_counts": parallel, "per_epoch": per_epoch}

    os.makedirs(benchlib.RESULTS_DIR, exist_ok=True)
    if parallel:
        # Accuracy does not depend on timing (seeded, synchronous): running the rank counts side by side only
        # shortens the wall time; the wall_seconds figures are then not comparable with each other.
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(len(rank_counts)) as pool:
            runs = list(pool.map(one, rank_counts))
    else:
        runs = [one(r) for r in rank_counts]
    line = "accuracy model=cnn " + " ".join(f"ranks={r['ranks']} acc={r['acc']:.4f}" for r in runs)
    print(line, flush=True)
    benchlib.write_results("accuracy", {
        "benchmark": "accuracy", "machine": machine, "loadavg_at_end": benchlib.load_average(), "model": "cnn",
        "epochs": epochs, "global_batch_size": global_batch,
        "published_reference": PUBLISHED, "target": "acc >= 0.916 with 2 ranks, within 0.003 of 1 rank",
        "runs": runs,
    })


def accuracy_report():
    """Summarises the rank-0 logs of an accuracy run that was stopped before its epoch budget (e.g. on a loaded
    machine): the accuracy of each rank count after the last epoch that every rank count completed. With the default
    cosine learning-rate schedule epoch k of a longer run is not a k-epoch run (its learning rate had not decayed
    yet), so the figures are a lower bound of what a k-epoch run reaches."""
    rank_counts = [int(r) for r in os.environ.get("BENCH_ACCURACY_RANKS", "1,2").split(",")]
    per_rank = {}
    for ranks in rank_counts:
        path = os.path.join(benchlib.RESULTS_DIR, f"accuracy-ranks{ranks}.log.tmp")
        if not os.path.exists(path):
            benchlib.fail(f"no log {path}: run `bench/run.sh accuracy` first")
        ends = []
        with open(path) as f:
            for raw in f:
                t, _, text = raw.strip().partition(" ")
                m = EPOCH_END.match(text.strip())
                if m:
                    ends.append({"epoch": int(m.group(1)), "step": int(m.group(2)), "train_loss": float(m.group(3)),
                                 "val_loss": float(m.group(4)), "val_accuracy": float(m.group(5)), "seconds": float(t)})
        per_rank[ranks] = ends
    common = min(len(v) for v in per_rank.values())
    if common == 0:
        benchlib.fail("no rank count has completed an epoch yet")
    runs = [{"ranks": r, "epochs_completed": common, "acc": per_rank[r][common - 1]["val_accuracy"], "per_epoch": per_rank[r]}
            for r in rank_counts]
    print(f"# accuracy after {common} epoch(s), the last one every rank count completed", file=sys.stderr)
    print("accuracy model=cnn " + " ".join(f"ranks={r['ranks']} acc={r['acc']:.4f}" for r in runs), flush=True)
    benchlib.write_results("accuracy", {
        "benchmark": "accuracy", "machine": benchlib.machine(), "model": "cnn", "epochs": common,
        "note": "summarised from rank-0 logs of a run stopped before its epoch budget",
        "published_reference": PUBLISHED, "target": "acc >= 0.916 with 2 ranks, within 0.003 of 1 rank",
        "runs": runs,
    })


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "throughput"
    if what == "throughput":
        throughput()
    elif what == "accuracy":
        accuracy()
    elif what == "accuracy-report":
        accuracy_report()
    else:
        benchlib.fail(f"unknown mode {what!r}; use throughput or accuracy")


if __name__ == "__main__":
    main()
