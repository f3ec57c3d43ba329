#!/usr/bin/env python3
"""Operator at scale: the real `ferry operator` process against the Kubernetes API emulator.

The driver (Ferry.Bench.Operator, a C# console outside Operator.sln) hosts the emulator in-process with its simulated
kubelet (init containers finish at once, the main container runs BENCH_OPERATOR_POD_RUN_SECONDS, default 5, and
exits 0), measures the emulator's own request capacity, starts `ferry operator` with KUBECONFIG pointing at it, proves
one InCluster TrainingJob of 2 replicas runs end to end, and then for each N in BENCH_OPERATOR_JOBS (default
1000,10000), with a fresh emulator and operator each time:
  sustained  N jobs created at BENCH_OPERATOR_RATE (200) jobs/s; create latency = a job's create request sent ->
             its last replica pod committed (p50/p99);
  burst      N more jobs created at once (64 in flight); jobs/s = N / (first create sent -> last job has its pods);
  requests   every request the operator made during the sustained lifecycle (creation until every job Succeeded),
             by verb and resource, per job, beside the computed minimum;
  idle       API writes by the operator during BENCH_OPERATOR_IDLE_SECONDS (60) after every job settled (must be 0);
  rss        the operator's peak RSS (VmHWM).
Prints per N:
  operator n=10000 create_p50_ms=... create_p99_ms=... burst_jobs_per_s=... requests_per_job=... idle_writes=... rss_mb=...
and writes bench/results/operator.json. BENCH_OPERATOR_ARGS replaces the extra arguments to `ferry operator`
(default DEFAULT_OPERATOR_ARGS below); idle_writes leaves out leader election's Lease renewals (reported apart).
BENCH_OPERATOR_TIMEOUT_S bounds each wait (default max(120, N/20) s: an operator slower than 20 jobs/s fails).
"""

import json
import os
import shlex
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import benchlib  # noqa: E402

# The operator's client-side rate limit defaults to 20 requests/s (burst 30), as controller-runtime's does; at that
# limit 10,000 jobs take most of an hour per phase, so the benchmark raises it (and says so in its results).
DEFAULT_OPERATOR_ARGS = "--qps 5000 --burst 10000"


def main():
    counts = [int(n) for n in os.environ.get("BENCH_OPERATOR_JOBS", "1000,10000").split(",") if n]
    machine = benchlib.machine()
    print(f"# machine: {machine['nproc']} cores, {machine['cpu_model']}, load {machine['loadavg_at_start']}", file=sys.stderr)
    print("# publishing the operator as its image ships it (ReadyToRun) and building the benchmark driver "
          "(with the Kubernetes API emulator)", file=sys.stderr)
    operator_dir = benchlib.dotnet_publish_ready_to_run("src/Operator/Ferry.Operator.csproj", "operator")
    operator_dll = os.path.join(operator_dir, "ferry.dll")
    driver_dir = benchlib.dotnet_build("bench/operator/Ferry.Bench.Operator.csproj")
    driver_dll = os.path.join(driver_dir, "Ferry.Bench.Operator.dll")
    crd = os.path.join(benchlib.source_root(), "config", "crd")
    for path in (operator_dll, driver_dll):
        if not os.path.exists(path):
            benchlib.fail(f"build produced no {path}")

    runs = []
    for n in counts:
        out = tempfile.mktemp(prefix=f"ferry-bench-operator-{n}-", suffix=".json")
        log = os.path.join(benchlib.RESULTS_DIR, f"operator-n{n}.log.tmp")
        os.makedirs(benchlib.RESULTS_DIR, exist_ok=True)
        argv = ["dotnet", driver_dll, "--operator-dll", operator_dll, "--crd", crd, "--jobs", str(n),
                "--rate", os.environ.get("BENCH_OPERATOR_RATE", "200"),
                "--pod-run-seconds", os.environ.get("BENCH_OPERATOR_POD_RUN_SECONDS", "5"),
                "--idle-seconds", os.environ.get("BENCH_OPERATOR_IDLE_SECONDS", "60"),
                *(["--timeout-seconds", os.environ["BENCH_OPERATOR_TIMEOUT_S"]] if os.environ.get("BENCH_OPERATOR_TIMEOUT_S") else []),
                "--out", out, "--operator-log", log, "--",
                "--port", str(benchlib.free_port())] + shlex.split(os.environ.get("BENCH_OPERATOR_ARGS", DEFAULT_OPERATOR_ARGS))
        print(f"# n={n}: {' '.join(argv)}", file=sys.stderr)
        result = subprocess.run(argv, stdout=subprocess.PIPE, text=True)
        if result.returncode != 0:
            benchlib.fail(f"operator benchmark with n={n} failed (exit {result.returncode}); the driver's message is above; "
                          f"the operator's log is {log}")
        print(result.stdout.strip(), flush=True)
        with open(out) as f:
            runs.append(json.load(f))
        os.unlink(out)

    benchlib.write_results("operator", {"benchmark": "operator", "machine": machine,
                                        "operator_args": os.environ.get("BENCH_OPERATOR_ARGS", DEFAULT_OPERATOR_ARGS),
                                        "loadavg_at_end": benchlib.load_average(), "runs": runs})


if __name__ == "__main__":
    main()
