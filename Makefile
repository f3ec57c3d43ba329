# Ferry — see README.md for what each target does.
SHELL := /bin/bash
DOTNET ?= dotnet
CONFIGURATION ?= Release
RESULTS := $(CURDIR)/artifacts/test-results

.PHONY: all setup build test images test-containers demo bench bench-allreduce bench-trainer bench-accuracy bench-operator bench-sagemaker run deploy crd emulator e2e e2e-containers e2e-sagemaker clean

all: build

setup:
	@scripts/setup.sh

build: setup
	$(DOTNET) build Operator.sln -c $(CONFIGURATION) -nologo -clp:NoSummary

## Every test of every project; ends with the line `N passed, M failed, K skipped`.
test: build
	@rm -rf $(RESULTS)
	@set +e; $(DOTNET) test Operator.sln -c $(CONFIGURATION) --no-build -nologo \
	  --logger "trx" --logger "console;verbosity=minimal" --results-directory $(RESULTS); \
	  status=$$?; scripts/test-summary.sh $(RESULTS); summary=$$?; \
	  [ $$status -eq 0 ] && [ $$summary -eq 0 ]

## The operator image and the trainer's CPU image, with podman, from local stand-ins of the public base images
## (scripts/local-bases.sh makes them once); prints the image names and sizes.
images: setup
	@scripts/images.sh

## The images, run (scripts/test-containers.sh): the operator image against the Kubernetes API emulator (non-root,
## read-only), two trainer containers training 2 ranks, `ferry run --mode container`, the agent as init container.
test-containers: build images
	@scripts/test-containers.sh

## Trains Fashion-MNIST with 2 data-parallel ranks through `ferry run` (Local backend).
demo: setup
	@scripts/demo.sh

## Every benchmark in bench/ (one summary line each; details in bench/results/).
bench: setup
	@bench/run.sh all
bench-allreduce: setup
	@bench/run.sh allreduce
bench-trainer: setup
	@bench/run.sh trainer
bench-accuracy: setup
	@bench/run.sh accuracy
bench-operator: setup
	@bench/run.sh operator
## SageMaker polling: 1,000 jobs of 2 hours against the SageMaker emulator (BENCH_SAGEMAKER_JOBS).
bench-sagemaker: setup
	@bench/run.sh sagemaker

## Regenerates config/crd and the chart's CRD copy from the C# types in src/Crds.
crd:
	UPDATE_CRD=1 $(DOTNET) test tests/Crds.Tests/Ferry.Crds.Tests.csproj -nologo --filter "FullyQualifiedName~CrdIsUpToDate"

## Starts the Kubernetes API emulator on a free loopback port with the CRD loaded; prints its URL and kubeconfig.
emulator: setup
	$(DOTNET) run --project tests/KubeEmulator -c $(CONFIGURATION) -- --crd config/crd

## The kubectl scenario: emulator + `ferry operator` + kubectl apply/wait on the InCluster sample.
e2e: build
	FERRY_E2E_NO_BUILD=1 CONFIGURATION=$(CONFIGURATION) scripts/e2e.sh

## The InCluster sample for real: emulator with its container kubelet (pods as podman containers) + `ferry operator` +
## kubectl apply/wait; the operator image's agent and the trainer image train 2 ranks, model.tar.gz lands in moto_server S3.
e2e-containers: build images
	FERRY_E2E_NO_BUILD=1 CONFIGURATION=$(CONFIGURATION) scripts/e2e-containers.sh

## The SageMaker scenario: both emulators + `ferry operator` + kubectl apply/wait on the SageMaker sample.
e2e-sagemaker: build
	FERRY_E2E_NO_BUILD=1 CONFIGURATION=$(CONFIGURATION) scripts/e2e-sagemaker.sh

## Runs the operator against the current kubeconfig (KUBECONFIG or ~/.kube/config).
run:
	$(DOTNET) run --project src/Operator -c $(CONFIGURATION) -- operator $(ARGS)

## Installs or upgrades the operator with Helm in the current kube context (HELM_ARGS adds flags).
deploy:
	scripts/helm.sh upgrade --install ferry deploy/helm/ferry --namespace ferry-system --create-namespace $(HELM_ARGS)

clean:
	rm -rf artifacts .work
	$(DOTNET) clean Operator.sln -nologo -v q
