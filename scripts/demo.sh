#!/usr/bin/env bash
# `make demo`: trains Fashion-MNIST on this machine with two data-parallel trainer processes, through the
# operator's `run` command (backend Local), and ends with the job's status and the model's path.
#
#   1. makes sure the data is there: Debian's dataset-fashion-mnist (apt, as root), else the four files from
#      the dataset's official location into a cache directory (and a copy of the manifest pointing there);
#   2. builds the trainer and the operator (Release);
#   3. runs config/samples/fashion-mnist-local.yaml from a clean slate (earlier demo artifacts removed).
#
# Environment: DOTNET (dotnet), MANIFEST (the sample), FERRY_DATA_CACHE (~/.cache/ferry/fashion-mnist),
# FERRY_RUN_ARGS (extra `ferry run` flags, e.g. --verbose).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
dotnet="${DOTNET:-dotnet}"
manifest="${MANIFEST:-config/samples/fashion-mnist-local.yaml}"
system_data=/usr/share/datasets/fashion-mnist
files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
official=http://fashion-mnist.s3-website.eu-central-1.amazonaws.com

have_all() {
  local dir="$1" f
  for f in "${files[@]}"; do [[ -s "$dir/$f" ]] || return 1; done
}

step() { printf '\n==> %s\n' "$*"; }

step "Fashion-MNIST data"
data="$system_data"
if ! have_all "$system_data" && command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
  echo "installing Debian's dataset-fashion-mnist"
  apt-get install -y -q dataset-fashion-mnist >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null; } || true
fi
if ! have_all "$system_data"; then
  data="${FERRY_DATA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry/fashion-mnist}"
  mkdir -p "$data"
  for f in "${files[@]}"; do
    if [[ ! -s "$data/$f" ]]; then
      echo "downloading $official/$f"
      if command -v curl >/dev/null 2>&1; then
        curl -fsSL --retry 3 -o "$data/$f.part" "$official/$f"
      else
        wget -q -O "$data/$f.part" "$official/$f"
      fi
      mv "$data/$f.part" "$data/$f"
    fi
  done
  # The sample reads the system location; run a copy of it that reads the cache instead.
  copy="$(mktemp --suffix=.yaml)"
  trap 'rm -f "$copy"' EXIT
  sed "s#file://$system_data#file://$data#g" "$manifest" > "$copy"
  manifest="$copy"
fi
echo "data: $data"

step "Building the trainer and the operator (Release)"
"$dotnet" build -c Release -nologo -v q "-clp:ErrorsOnly;NoSummary" src/TrainerImage/Ferry.Trainer.csproj
"$dotnet" build -c Release -nologo -v q "-clp:ErrorsOnly;NoSummary" src/Operator/Ferry.Operator.csproj

step "Running $manifest (backend Local)"
# A demo trains from scratch: earlier runs' model and checkpoints would make it resume at the end.
rm -rf artifacts/fashion-mnist
start=$SECONDS
status=0
# shellcheck disable=SC2086
"$dotnet" src/Operator/bin/Release/net10.0/ferry.dll run "$manifest" ${FERRY_RUN_ARGS:-} || status=$?
echo
echo "demo: ferry run exited with $status after $((SECONDS - start))s"
exit "$status"
