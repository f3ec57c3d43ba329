#!/usr/bin/env bash
# The InCluster sample run for real on this machine: the Kubernetes API emulator with its container kubelet (pods
# run as podman containers, tests/KubeEmulator/Kubelet/ContainerPodRuntime.cs), the real `ferry operator`, the real
# kubectl, moto_server as S3, and the images `make images` built.
#
#   make images  →  moto_server (the sample's buckets; the Fashion-MNIST files uploaded as its input channel)
#   →  emulator (RBAC, container kubelet)  →  CRD + the chart's RBAC  →  ferry operator as the chart's ServiceAccount,
#      its agent image the operator image and its S3 endpoint moto_server
#   →  kubectl apply config/samples/fashion-mnist-incluster.yaml, adapted to a CPU machine (below)
#   →  2 pods: the operator image's agent as init container (installs itself, downloads the channels), then the trainer
#      image training rank 0 and rank 1 over TCP through the headless Service's names (algo-1, algo-2)
#   →  kubectl wait --for=condition=Complete  →  status.artifacts.model is the model.tar.gz that exists in S3
#
# The sample is applied as written except for what a CPU machine without a registry needs: the image (the local
# trainer image), the buckets (moto_server), no GPU (gpusPerReplica, the GPU nodeSelector and toleration removed,
# cpu 1, memory 2Gi) and a short training (mlp, 1 epoch, 1024 samples). Resource requests are not enforced
# by this kubelet (tests/KubeEmulator/Kubelet/README.md lists what it does not do).
#
# Environment:
#   CONFIGURATION          build configuration of the outputs to run (default Release; Debug when only that exists)
#   FERRY_E2E_NO_BUILD=1   do not build when the outputs exist (`make e2e-containers` builds first)
#   FERRY_E2E_TIMEOUT      seconds `kubectl wait` waits for Complete (default 900)
#   FERRY_OPERATOR_IMAGE, FERRY_TRAINER_IMAGE  the images (default: what scripts/images.sh builds or finds cached)
#   FERRY_DATA             the Fashion-MNIST files (default /usr/share/datasets/fashion-mnist)
#   FERRY_E2E_KEEP=1       keep the work directory (logs) after a failure
#   ENGINE, KUBECTL, DOTNET, HELM  the binaries (podman, kubectl, dotnet, the helm that scripts/setup.sh installs)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CONFIGURATION=${CONFIGURATION:-Release}
DOTNET=${DOTNET:-dotnet}
KUBECTL=${KUBECTL:-kubectl}
ENGINE=${ENGINE:-podman}
DATA=${FERRY_DATA:-/usr/share/datasets/fashion-mnist}
WAIT_TIMEOUT=${FERRY_E2E_TIMEOUT:-900}
SAMPLE=config/samples/fashion-mnist-incluster.yaml
BUCKET=ferry-e2e
WORK=$(mktemp -d /var/tmp/ferry-e2e-containers.XXXXXX)
MOTO_LOG=$WORK/moto.log
E2E_NAME=e2e-containers
# The emulator stops its containers before it exits (SIGTERM and their grace period): give it a minute.
STOP_SECONDS=60 OPERATOR_TAIL=40 EMULATOR_TAIL=60
# shellcheck source=scripts/e2e-lib.sh
. scripts/e2e-lib.sh

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# S3 calls against moto_server with boto3 (what moto itself is installed with).
s3() {
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 S3_ENDPOINT=$S3_ENDPOINT python3 - "$@"
}

require_tools
command -v "$ENGINE" >/dev/null || fail "$ENGINE not found; install podman (scripts/setup.sh does, as root) or set ENGINE."
command -v moto_server >/dev/null || fail "moto_server not found; pip install 'moto[server]' (scripts/setup.sh checks it)."
[ -f "$DATA/train-images-idx3-ubyte.gz" ] || fail "no Fashion-MNIST files in $DATA; set FERRY_DATA to a directory with the four *-ubyte.gz files."

step "Images"
if [ -n "${FERRY_OPERATOR_IMAGE:-}" ] && [ -n "${FERRY_TRAINER_IMAGE:-}" ]; then
  OPERATOR_IMAGE=$FERRY_OPERATOR_IMAGE TRAINER_IMAGE=$FERRY_TRAINER_IMAGE
else
  IMAGES=$(ENGINE=$ENGINE scripts/images.sh) || fail "building the images failed (scripts/images.sh, output above)."
  OPERATOR_IMAGE=$(sed -n 's/^OPERATOR_IMAGE=//p' <<<"$IMAGES")
  TRAINER_IMAGE=$(sed -n 's/^TRAINER_IMAGE=//p' <<<"$IMAGES")
fi
for image in "$OPERATOR_IMAGE" "$TRAINER_IMAGE"; do
  "$ENGINE" image exists "$image" || fail "image $image is not in $ENGINE's store; run make images."
done
echo "operator (and agent) image: $OPERATOR_IMAGE"
echo "trainer image: $TRAINER_IMAGE"

step "Build outputs"
build_outputs

step "S3: moto_server, the bucket, the Fashion-MNIST files as the input channel"
MOTO_PORT=$(free_port)
S3_ENDPOINT=http://127.0.0.1:$MOTO_PORT
: >"$MOTO_LOG"
setsid moto_server -H 127.0.0.1 -p "$MOTO_PORT" >"$MOTO_LOG" 2>&1 &
MOTO_PID=$!
track "$MOTO_PID"
for ((i = 0; i < 300; i++)); do
  kill -0 "$MOTO_PID" 2>/dev/null || { cat "$MOTO_LOG" >&2; fail "moto_server exited before it was ready."; }
  curl -fsS --max-time 2 "$S3_ENDPOINT/" >/dev/null 2>&1 && break
  sleep 0.1
done
echo "moto_server: $S3_ENDPOINT"
s3 "$BUCKET" "$DATA" <<'PY'
import boto3, os, sys
bucket, data = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"])
s3.create_bucket(Bucket=bucket)
for name in sorted(os.listdir(data)):
    if name.endswith(".gz"):
        s3.upload_file(os.path.join(data, name), bucket, "fashion-mnist/" + name)
        print(f"uploaded s3://{bucket}/fashion-mnist/{name}")
PY

step "Start the Kubernetes API emulator (RBAC; container kubelet: pods run as $ENGINE containers)"
start_emulator --kubelet-containers "$ENGINE"

step "Install the TrainingJob CRD and the chart's RBAC"
install_crd_and_rbac

step "Start ferry operator as the ServiceAccount (agent image: $OPERATOR_IMAGE, S3: moto_server)"
: >"$OPERATOR_LOG"
# The chart's values as environment: inCluster.agentImage, s3.endpoint, and the pods' credentials for moto_server.
FERRY_InCluster__AgentImage=$OPERATOR_IMAGE \
FERRY_InCluster__StopGracePeriod=00:00:10 \
FERRY_S3__Endpoint=$S3_ENDPOINT FERRY_S3__ForcePathStyle=true \
FERRY_InCluster__AgentEnvironment__AWS_ACCESS_KEY_ID=test \
FERRY_InCluster__AgentEnvironment__AWS_SECRET_ACCESS_KEY=test \
FERRY_InCluster__AgentEnvironment__AWS_REGION=us-east-1 \
AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
  setsid "$DOTNET" "$OPERATOR_DLL" operator --kubeconfig "$OPERATOR_KUBECONFIG" --leader-elect true \
  --lease-namespace "$RELEASE_NAMESPACE" --port 0 >"$OPERATOR_LOG" 2>&1 &
OPERATOR_PID=$!
track "$OPERATOR_PID"
wait_operator_ready

step "Submit the sample, adapted to this machine"
# The sample's pods run as its ServiceAccount, which the user creates (IRSA on EKS); here it carries no credentials.
kshow create serviceaccount ferry-training
python3 - "$SAMPLE" "$TRAINER_IMAGE" "$BUCKET" >"$WORK/job.yaml" <<'PY'
import sys, yaml
sample, image, bucket = sys.argv[1:]
job = yaml.safe_load(open(sample))
spec = job["spec"]
spec["image"] = image
for channel in spec["inputs"]:
    channel["uri"] = f"s3://{bucket}/fashion-mnist/"
spec["output"]["uri"] = f"s3://{bucket}/fashion-mnist"
spec["checkpoint"]["uri"] = f"s3://{bucket}/fashion-mnist/checkpoints"
# No GPU here: the GPU request, node selector and toleration go; cpu/memory are requests this kubelet does not enforce.
del spec["resources"]["gpusPerReplica"]
spec["resources"].update(cpu="1", memory="2Gi")
spec["inCluster"].pop("nodeSelector")
spec["inCluster"].pop("tolerations")
spec["hyperParameters"] = {"model": "mlp", "epochs": "1", "hidden_units": "32", "max_train_samples": "1024",
                           "max_test_samples": "256", "batch_size": "32", "log_interval": "8"}
yaml.safe_dump(job, sys.stdout, sort_keys=False)
PY
show "diff $SAMPLE job.yaml (the sample, normalized, against what is applied)"
diff <(python3 -c 'import sys, yaml; yaml.safe_dump(yaml.safe_load(open(sys.argv[1])), sys.stdout, sort_keys=False)' "$SAMPLE") "$WORK/job.yaml" || true
show "kubectl apply -f job.yaml"
JOB=$(k apply -f "$WORK/job.yaml" -o name)
NAME=${JOB#*/}
echo "$JOB created"

step "The operator creates the pods; the kubelet runs them as containers"
for ((i = 0; i < 600; i++)); do
  [ "$(k get pods -l "ferry.dev/job-name=$NAME" -o name 2>/dev/null | wc -l)" -ge 2 ] && break
  kill -0 "$OPERATOR_PID" 2>/dev/null || fail "ferry operator exited."
  sleep 0.1
done
kshow get pods -l "ferry.dev/job-name=$NAME" -o wide
kshow get services -l "ferry.dev/job-name=$NAME"

step "Wait for the job to complete (trains 2 ranks in the trainer containers)"
kshow wait --for=condition=Complete "$JOB" --timeout="${WAIT_TIMEOUT}s"
kshow get tj "$NAME"
kshow get pods -l "ferry.dev/job-name=$NAME"
show "kubectl get pods -l ferry.dev/job-name=$NAME -o jsonpath=<each container's exit code>"
k get pods -l "ferry.dev/job-name=$NAME" \
  -o jsonpath='{range .items[*]}{.metadata.name}: init {.status.initContainerStatuses[0].state.terminated.exitCode}, train {.status.containerStatuses[0].state.terminated.exitCode}{"\n"}{end}'
echo "--- rank 0's training log (from the container kubelet's output) ---"
grep -E "^$NAME-0/train: .*(val_accuracy|gradients are averaged)" "$EMULATOR_LOG" | tail -n 5

PHASE=$(k get "$JOB" -o jsonpath='{.status.phase}')
[ "$PHASE" = Succeeded ] || fail "$JOB is Complete but its phase is '$PHASE', expected Succeeded."
MODEL=$(k get "$JOB" -o jsonpath='{.status.artifacts.model}')
echo "status.artifacts.model: $MODEL"
[ "$MODEL" = "s3://$BUCKET/fashion-mnist/$NAME/output/model.tar.gz" ] \
  || fail "status.artifacts.model is '$MODEL', expected s3://$BUCKET/fashion-mnist/$NAME/output/model.tar.gz."
grep -q 'gradients are averaged over' "$EMULATOR_LOG" || fail "rank 0 did not report a 2-rank all-reduce."
check_nothing_forbidden

step "The model in S3"
s3 "$MODEL" <<'PY'
import boto3, io, os, sys, tarfile, json
bucket, key = sys.argv[1][len("s3://"):].split("/", 1)
body = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"]).get_object(Bucket=bucket, Key=key)["Body"].read()
with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
    names = sorted(archive.getnames())
    print(f"{sys.argv[1]}: {len(body)} bytes, {names}")
    if "model.pt" not in names or "model.json" not in names:
        sys.exit("model.tar.gz lacks model.pt or model.json")
    print("model.json:", json.load(archive.extractfile("model.json")).get("val_accuracy"), "val_accuracy")
PY

step "e2e-containers passed: $JOB Complete, phase $PHASE, the model in S3"
