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
WORK=$(mktemp -d -t ferry-e2e.XXXXXX)
E2E_NAME=e2e
# shellcheck source=scripts/e2e-lib.sh
. scripts/e2e-lib.sh

require_tools

step "Build outputs"
build_outputs

step "Start the Kubernetes API emulator (RBAC; simulated kubelet: pods run ${POD_SECONDS}s, then exit 0)"
start_emulator --kubelet-run-seconds "$POD_SECONDS"
echo "KUBECONFIG=$KUBECONFIG"
echo "the operator's kubeconfig (ServiceAccount $RELEASE_NAMESPACE/$SERVICE_ACCOUNT): $OPERATOR_KUBECONFIG"

step "Install the TrainingJob CRD and the chart's RBAC (the operator's ServiceAccount, ClusterRole, leader-election Role and bindings)"
install_crd_and_rbac
show "kubectl --kubeconfig $OPERATOR_KUBECONFIG auth can-i delete trainingjobs.ferry.dev -n default"
KUBECONFIG=$OPERATOR_KUBECONFIG k auth can-i delete trainingjobs.ferry.dev -n default \
  || fail "the operator's ServiceAccount may not delete TrainingJobs (ttlSecondsAfterFinished needs it)."

step "Start ferry operator as the ServiceAccount (leader election on, health/metrics on a free port)"
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
track "$OPERATOR_PID"
wait_operator_ready
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
check_nothing_forbidden

step "e2e passed: $JOB Complete, phase $PHASE"
