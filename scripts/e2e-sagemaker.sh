#!/usr/bin/env bash
# The SageMaker scenario, end to end on this machine: the Kubernetes API emulator, the SageMaker emulator (requests
# validated against botocore's service model, SigV4 checked), the real `ferry operator` process and the real kubectl.
#
#   kubectl apply -f config/crd/  →  ferry operator (SageMaker endpoint: the emulator)
#   →  kubectl apply -f config/samples/fashion-mnist-sagemaker.yaml  →  one SageMaker training job
#   →  kubectl wait --for=condition=Complete  →  phase Succeeded, status.artifacts.model and status.metrics set
#
# Environment: CONFIGURATION (default Release), FERRY_E2E_NO_BUILD=1 (use existing outputs), FERRY_E2E_TIMEOUT
# (seconds kubectl wait waits, default 120), KUBECTL, DOTNET.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CONFIGURATION=${CONFIGURATION:-Release}
DOTNET=${DOTNET:-dotnet}
KUBECTL=${KUBECTL:-kubectl}
WAIT_TIMEOUT=${FERRY_E2E_TIMEOUT:-120}
SAMPLE=config/samples/fashion-mnist-sagemaker.yaml
REGION=eu-west-1
ROLE=arn:aws:iam::123456789012:role/ferry-sagemaker-training

WORK=$(mktemp -d -t ferry-e2e-sagemaker.XXXXXX)
PIDS=()
STARTED=$SECONDS

step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }
k() { timeout 60 "$KUBECTL" --kubeconfig "$KUBECONFIG" --cache-dir "$WORK/kube-cache" --request-timeout=20s "$@"; }
kshow() { printf '$ kubectl %s\n' "$*"; k "$@"; }

on_exit() {
  local rc=$? pid
  trap - EXIT INT TERM
  if [ "$rc" -ne 0 ]; then
    printf '\n==> e2e-sagemaker FAILED (exit %s) after %ss\n' "$rc" "$((SECONDS - STARTED))" >&2
    for log in operator sagemaker emulator; do
      [ -s "$WORK/$log.log" ] && { printf -- '--- %s log (last 40 lines) ---\n' "$log" >&2; tail -n 40 "$WORK/$log.log" >&2; }
    done
  fi
  for pid in "${PIDS[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

output_of() {
  local dir=$1 file=$2 config
  for config in "$CONFIGURATION" Debug; do
    [ -f "$dir/bin/$config/net10.0/$file" ] && { printf '%s\n' "$dir/bin/$config/net10.0/$file"; return 0; }
  done
  return 1
}

step "Build outputs"
if [ "${FERRY_E2E_NO_BUILD:-}" != 1 ]; then
  for project in tests/KubeEmulator/Ferry.KubeEmulator.csproj tests/SageMakerEmulator/Ferry.SageMakerEmulator.csproj src/Operator/Ferry.Operator.csproj; do
    "$DOTNET" build "$project" -c "$CONFIGURATION" -nologo -v q -clp:NoSummary
  done
fi
EMULATOR_DLL=$(output_of tests/KubeEmulator Ferry.KubeEmulator.dll) || fail "build tests/KubeEmulator first"
SAGEMAKER_DLL=$(output_of tests/SageMakerEmulator Ferry.SageMakerEmulator.dll) || fail "build tests/SageMakerEmulator first"
OPERATOR_DLL=$(output_of src/Operator ferry.dll) || fail "build src/Operator first"

step "Start the Kubernetes API emulator"
export KUBECONFIG=$WORK/kubeconfig
: >"$WORK/emulator.log"
setsid "$DOTNET" "$EMULATOR_DLL" --kubeconfig "$KUBECONFIG" >"$WORK/emulator.log" 2>&1 &
PIDS+=($!)
for ((i = 0; i < 300; i++)); do
  [ -s "$KUBECONFIG" ] && k get namespace default -o name >/dev/null 2>&1 && break
  sleep 0.1
done
k get namespace default -o name >/dev/null || fail "the Kubernetes API emulator did not answer within 30s"

step "Start the SageMaker emulator (jobs: 5 s starting, 5 s downloading, 3 s training, 5 s uploading)"
: >"$WORK/sagemaker.log"
setsid "$DOTNET" "$SAGEMAKER_DLL" --region "$REGION" --training-seconds 3 >"$WORK/sagemaker.log" 2>&1 &
PIDS+=($!)
ENDPOINT=
for ((i = 0; i < 300; i++)); do
  ENDPOINT=$(sed -n 's#^SageMaker emulator listening on \(http://[^ ]*\) .*#\1#p' "$WORK/sagemaker.log" | head -n 1)
  [ -n "$ENDPOINT" ] && break
  sleep 0.1
done
[ -n "$ENDPOINT" ] || fail "the SageMaker emulator did not start within 30s"
echo "SageMaker endpoint: $ENDPOINT"

step "Install the CRD and start ferry operator (SageMaker endpoint override, role allowlist, fast polling)"
kshow apply -f config/crd/
kshow wait --for=condition=Established crd/trainingjobs.ferry.dev --timeout=20s
cat >"$WORK/operator.json" <<JSON
{ "SageMaker": { "Region": "$REGION", "Endpoint": "$ENDPOINT", "AllowedRoles": { "default": [ "$ROLE" ] },
  "Polling": { "StartingPollSeconds": 1, "ChangeFeedSeconds": 2, "RecheckSeconds": 2, "StoppingPollSeconds": 2 } } }
JSON
: >"$WORK/operator.log"
FERRY_CONFIG_FILE=$WORK/operator.json AWS_ACCESS_KEY_ID=AKIDFERRYEMULATOR AWS_SECRET_ACCESS_KEY=ferry-emulator-secret-access-key \
  setsid "$DOTNET" "$OPERATOR_DLL" operator --kubeconfig "$KUBECONFIG" --leader-elect false --port 0 >"$WORK/operator.log" 2>&1 &
PIDS+=($!)

step "Submit the SageMaker sample"
printf '$ kubectl apply -f %s\n' "$SAMPLE"
JOB=$(k apply -f "$SAMPLE" -o name)
echo "$JOB created"

step "Wait for the job to complete"
kshow wait --for=condition=Complete "$JOB" --timeout="${WAIT_TIMEOUT}s"
kshow get "$JOB"
for field in phase sageMaker.jobName sageMaker.secondaryStatus artifacts.model; do
  printf '%s: %s\n' "$field" "$(k get "$JOB" -o jsonpath="{.status.$field}")"
done
printf 'metrics: %s\n' "$(k get "$JOB" -o jsonpath='{range .status.metrics[*]}{.name}={.value} {end}')"
[ "$(k get "$JOB" -o jsonpath='{.status.phase}')" = Succeeded ] || fail "$JOB is Complete but not Succeeded"
[ -n "$(k get "$JOB" -o jsonpath='{.status.artifacts.model}')" ] || fail "$JOB has no status.artifacts.model"

step "e2e-sagemaker passed: $JOB Complete ($((SECONDS - STARTED))s)"
