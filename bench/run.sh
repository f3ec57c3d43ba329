#!/usr/bin/env bash
# Runs Ferry's benchmarks: bench/run.sh [allreduce|trainer|accuracy|operator|sagemaker|sagemaker-live|all]  (default: all)
# Each benchmark prints one summary line per case on stdout (progress goes to stderr), writes details to
# bench/results/<name>.json and exits non-zero, with a "BENCH FAILED:" message, when what it measures is broken.
# Knobs (environment) are listed in bench/RESULTS.md.
set -uo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY=/usr/bin/python3   # Debian's python3 with python3-torch, not the pyenv python3 on PATH
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

run_one() {
  case "$1" in
    allreduce) "$BENCH_DIR/setup.sh" >&2 && "$PY" "$BENCH_DIR/allreduce/run.py" ;;
    trainer)   "$BENCH_DIR/setup.sh" >&2 && "$PY" "$BENCH_DIR/trainer/run.py" throughput ;;
    accuracy)  "$PY" "$BENCH_DIR/trainer/run.py" accuracy ;;
    operator)  "$PY" "$BENCH_DIR/operator/run.py" ;;
    sagemaker)
      # The polling benchmark is a test of tests/Operator.Tests (it drives the real backend against the SageMaker
      # emulator); it writes its summary line and the calls by operation to bench/results/sagemaker.txt.
      mkdir -p "$BENCH_DIR/results"
      BENCH_SAGEMAKER_JOBS="${BENCH_SAGEMAKER_JOBS:-1000}" BENCH_SAGEMAKER_OUT="$BENCH_DIR/results/sagemaker.txt" \
        dotnet test "$BENCH_DIR/../tests/Operator.Tests/Ferry.Operator.Tests.csproj" -c Release -nologo \
        --filter "FullyQualifiedName~SageMakerPollingBenchmark" >&2 \
        && head -n 1 "$BENCH_DIR/results/sagemaker.txt" ;;
    sagemaker-live)
      # Live metrics at scale: 10,000 SageMaker jobs training at once, each logging a metric line a minute, through
      # the real reconciler and backend (simulated clock); summary and details in bench/results/sagemaker-live.txt.
      mkdir -p "$BENCH_DIR/results"
      BENCH_SAGEMAKER_LIVE_JOBS="${BENCH_SAGEMAKER_LIVE_JOBS:-10000}" \
      BENCH_SAGEMAKER_LIVE_TRAINING_MINUTES="${BENCH_SAGEMAKER_LIVE_TRAINING_MINUTES:-30}" \
      BENCH_SAGEMAKER_LIVE_OUT="$BENCH_DIR/results/sagemaker-live.txt" \
        dotnet test "$BENCH_DIR/../tests/Operator.Tests/Ferry.Operator.Tests.csproj" -c Release -nologo \
        --filter "FullyQualifiedName~SageMakerLiveMetricsBenchmark" >&2 \
        && head -n 1 "$BENCH_DIR/results/sagemaker-live.txt" ;;
    *) echo "usage: bench/run.sh [allreduce|trainer|accuracy|operator|sagemaker|sagemaker-live|all]" >&2; return 2 ;;
  esac
}

target="${1:-all}"
if [ "$target" != "all" ]; then
  run_one "$target"
  exit $?
fi

failed=()
for name in allreduce trainer accuracy operator sagemaker sagemaker-live; do
  echo "# --- bench $name ---" >&2
  run_one "$name" || failed+=("$name")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "BENCH FAILED: ${failed[*]}" >&2
  exit 1
fi
