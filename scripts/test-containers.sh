#!/usr/bin/env bash
# `make test-containers`: runs the images `make images` built (scripts/images.sh) and checks what the platform
# relies on. Ends with `N passed, M failed`; exits non-zero when a check fails or no engine is installed (a
# machine without podman fails here, it does not skip). The solution must be built (`make test-containers` does).
#
#   operator image   --help answers with a read-only root filesystem; runs as uid 65532; OCI labels; no SDK or
#                    compiler; started as a container against the Kubernetes API emulator (scripts/e2e.sh with
#                    FERRY_E2E_OPERATOR_IMAGE: non-root, --read-only, kubeconfig mounted, host network) it answers
#                    /readyz and /healthz and reconciles the InCluster sample to Complete
#   trainer image    runs as uid 1000; two containers of it, as that user, train 2 ranks with torchrun variables
#                    and SageMaker's layout (/opt/ml of each from its own host directory) and rank 0 writes the model
#   tests            tests/Operator.Tests/Containers with FERRY_OPERATOR_IMAGE and FERRY_TRAINER_IMAGE set:
#                    `ferry run --mode container` trains 2 replicas in containers and the model scores what
#                    training reported; each replica sees /opt/ml, the SM_* variables and algo-1..N; the pod the
#                    InCluster backend makes, run with podman: the operator image's agent as init container (copies
#                    itself into the shared volume, downloads the channels from moto_server S3), then the trainer
#                    image running `train` through it, the model uploaded to S3; the emulator's container kubelet
#                    (ContainerKubeletTests): the operator's pods train 2 ranks in containers, and its pod semantics
#
# Environment: ENGINE (podman), FERRY_DATA (/usr/share/datasets/fashion-mnist), KEEP=1 keeps the work directory,
# DOTNET (dotnet), CONFIGURATION (Release).
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
engine="${ENGINE:-podman}"
data="${FERRY_DATA:-/usr/share/datasets/fashion-mnist}"
passed=0 failed=0

if ! command -v "$engine" >/dev/null; then
  echo "test-containers: $engine not found: install podman and buildah (scripts/setup.sh, as root)" >&2
  echo "0 passed, 1 failed"; exit 1
fi
images="$(scripts/images.sh)" || { echo "test-containers: building the images failed" >&2; echo "0 passed, 1 failed"; exit 1; }
operator="$(sed -n 's/^OPERATOR_IMAGE=//p' <<<"$images")"
trainer="$(sed -n 's/^TRAINER_IMAGE=//p' <<<"$images")"
work="$(mktemp -d /var/tmp/ferry-containers.XXXXXX)"
[[ "${KEEP:-0}" == 1 ]] || trap 'rm -rf "$work"' EXIT

check() { # NAME COMMAND... : passes when COMMAND exits 0
  local name="$1"; shift
  if "$@" >"$work/last.log" 2>&1; then
    passed=$((passed + 1)); echo "PASS $name"
  else
    failed=$((failed + 1)); echo "FAIL $name"; tail -20 "$work/last.log" | sed 's/^/    /'
  fi
}
run() { "$engine" run --rm --pull=never "$@"; }

# --- operator image ---------------------------------------------------------------------------------------
# Output captured before grep: `grep -q` ending a pipe early would fail the writer with SIGPIPE under pipefail.
operator_help() { local help; help="$(run --read-only "$operator" --help)" || return 1; echo "$help"; grep -q 'operator' <<<"$help"; }
operator_user() { [[ "$(run --entrypoint id "$operator" -u)" == 65532 ]]; }
operator_labels() {
  local labels; labels="$("$engine" image inspect --format '{{json .Labels}}' "$operator")"
  for key in source revision version; do grep -q "org.opencontainers.image.$key" <<<"$labels" || return 1; done
}
operator_no_sdk() { ! run --entrypoint /bin/sh "$operator" -c 'command -v dotnet || command -v gcc || ls /usr/share/dotnet/sdk'; }
check "operator image: --help with a read-only root filesystem" operator_help
check "operator image: runs as uid 65532" operator_user
check "operator image: OCI labels source, revision, version" operator_labels
check "operator image: no SDK or compiler in the final image" operator_no_sdk
operator_reconciles() { FERRY_E2E_OPERATOR_IMAGE="$operator" ENGINE="$engine" FERRY_E2E_NO_BUILD=1 scripts/e2e.sh; }
check "operator image: as a container (non-root, read-only) against the Kubernetes API emulator, /readyz and /healthz answer and a job reaches Complete" operator_reconciles

# --- trainer image: two ranks in two containers -------------------------------------------------------------
trainer_user() { [[ "$(run --entrypoint id "$trainer" -u)" == 1000 ]]; }
trainer_two_ranks() {
  local port=$((29000 + RANDOM % 1000)) rank pids=() status=0
  for rank in 0 1; do
    local ml="$work/algo-$((rank + 1))"
    mkdir -p "$ml/input/config" "$ml/model" "$ml/output"
    cat > "$ml/input/config/hyperparameters.json" <<'JSON'
{"model": "mlp", "epochs": "1", "hidden_units": "32", "max_train_samples": "1024", "max_test_samples": "256", "batch_size": "32", "log_interval": "8"}
JSON
    chown -R 1000:1000 "$ml"
    run --network=host --name "ferry-test-algo-$((rank + 1))-$$" -v "$ml:/opt/ml" -v "$data:/opt/ml/input/data/train:ro" \
      -e MASTER_ADDR=127.0.0.1 -e MASTER_PORT=$port -e RANK=$rank -e WORLD_SIZE=2 -e FERRY_COLLECTIVE_TRANSPORT=tcp \
      -e SM_CURRENT_HOST=algo-$((rank + 1)) -e 'SM_HOSTS=["algo-1","algo-2"]' -e SM_MODEL_DIR=/opt/ml/model \
      -e SM_CHANNEL_TRAIN=/opt/ml/input/data/train -e FERRY_RENDEZVOUS_TIMEOUT_SECONDS=120 \
      "$trainer" train >"$work/rank$rank.log" 2>&1 &
    pids+=($!)
  done
  for rank in 0 1; do wait "${pids[$rank]}" || { status=1; echo "rank $rank failed:"; tail -20 "$work/rank$rank.log"; }; done
  cat "$work/rank0.log"
  [[ $status == 0 ]] || return 1
  [[ -s "$work/algo-1/model/model.pt" && -s "$work/algo-1/model/model.json" ]] || { echo "rank 0 wrote no model.pt/model.json"; return 1; }
  grep -q 'gradients are averaged over tcp' "$work/rank0.log" || { echo "no 2-rank all-reduce reported"; return 1; }
  local accuracy
  accuracy="$(grep -o 'val_accuracy=[0-9.]*' "$work/rank0.log" | tail -1 | cut -d= -f2)"
  echo "val_accuracy=$accuracy"
  # model.json records what rank 0 reported; more than chance (0.1) after one epoch on 1024 samples.
  /usr/bin/python3 - "$work/algo-1/model/model.json" "$accuracy" <<'PY'
import json, sys
recorded = json.load(open(sys.argv[1]))["val_accuracy"]
reported = float(sys.argv[2])
print(f"model.json val_accuracy={recorded}, reported {reported}")
sys.exit(0 if abs(recorded - reported) < 1e-3 and reported > 0.3 else 1)
PY
}
check "trainer image: runs as uid 1000" trainer_user
check "trainer image: two containers train 2 ranks over the network; rank 0 writes the model" trainer_two_ranks

# --- the C# tests that run the images -------------------------------------------------------------------------
container_tests() {
  FERRY_OPERATOR_IMAGE="$operator" FERRY_TRAINER_IMAGE="$trainer" "${DOTNET:-dotnet}" test tests/Operator.Tests \
    -c "${CONFIGURATION:-Release}" --no-build -nologo --filter "FullyQualifiedName~Ferry.Operator.Tests.Containers" \
    --logger "console;verbosity=normal" >"$work/dotnet-test.log" 2>&1
  local status=$?
  grep -E '^\s*(Passed|Failed|Skipped) ' "$work/dotnet-test.log"
  grep -E 'Passed!|Failed!|error' "$work/dotnet-test.log" | tail -5
  [[ $status == 0 ]] && ! grep -qE '^\s*Skipped ' "$work/dotnet-test.log"
}
check "tests/Operator.Tests/Containers: ferry run in container mode, the agent as init container, the container kubelet" container_tests

echo "$images" | grep '^size:' | sed 's/^/test-containers: /'
echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
