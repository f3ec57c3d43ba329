#!/usr/bin/env bash
# `make images`: builds the operator image and the trainer's CPU image with podman from the Dockerfiles users
# build, substituting only the base images (build arguments) with the local stand-ins of scripts/local-bases.sh.
# Each image is tagged with a hash of its inputs (the Dockerfile, the files it copies, the base images), so an
# unchanged tree is not rebuilt; `:dev` tags point at the latest. Prints `OPERATOR_IMAGE=...`, `TRAINER_IMAGE=...`
# and the sizes. The host's NuGet package folder is mounted into the build stage so that restore reuses it.
#
# Environment: ENGINE (podman), FERRY_PUBLIC_BASES=1 (keep the Dockerfiles' public base images),
# NUGET_PACKAGES (~/.nuget/packages), VERSION (dev), FERRY_IMAGE_SOURCE (the repository URL for the source label; default: the
# origin remote of this checkout, if any).
set -euo pipefail
shopt -s inherit_errexit
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
engine="${ENGINE:-podman}"
command -v "$engine" >/dev/null || { echo "images: $engine not found; install podman and buildah (scripts/setup.sh does)" >&2; exit 1; }

base_args=()
if [[ "${FERRY_PUBLIC_BASES:-0}" != 1 ]]; then
  while IFS='=' read -r name value; do base_args+=(--build-arg "$name=$value"); done < <(scripts/local-bases.sh)
fi
nuget="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
mkdir -p "$nuget"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
git diff --quiet HEAD 2>/dev/null || revision="$revision-dirty"
version="${VERSION:-dev}"
# org.opencontainers.image.source: FERRY_IMAGE_SOURCE, else the checkout's origin remote, else left empty.
source_url="${FERRY_IMAGE_SOURCE:-$(git remote get-url origin 2>/dev/null || true)}"

# Hash of every file under the given paths (tracked or not, ignored ones excluded), plus the base images' ids.
input_hash() {
  local ids=() a
  for a in "${base_args[@]}"; do [[ "$a" == *=* ]] && ids+=("$("$engine" image inspect --format '{{.Id}}' "${a#*=}")"); done
  { git ls-files -co --exclude-standard -- "$@" | sort | xargs sha256sum; printf '%s\n' "${ids[@]}" "$version"; } \
    | sha256sum | cut -c1-16
}

build() { # NAME DOCKERFILE TARGET PATHS...
  local name="$1" dockerfile="$2" target="$3"; shift 3
  local tag="localhost/$name:$(input_hash "$dockerfile" global.json Directory.Build.props Directory.Packages.props .editorconfig "$@")"
  if "$engine" image exists "$tag"; then
    echo "images: $tag is up to date" >&2
  else
    echo "images: building $tag" >&2
    local start=$SECONDS target_args=()
    [[ -n "$target" ]] && target_args=(--target "$target")
    "$engine" build --pull=never --network=host --layers=false -f "$dockerfile" "${target_args[@]}" \
      "${base_args[@]}" --build-arg "VERSION=$version" --build-arg "REVISION=$revision" --build-arg "SOURCE=$source_url" \
      -v "$nuget:/root/.nuget/packages" -t "$tag" . >&2 \
      || { echo "images: building $name from $dockerfile failed (output above)" >&2; exit 1; }
    echo "images: built $tag in $((SECONDS - start)) s" >&2
  fi
  "$engine" tag "$tag" "localhost/$name:dev"
  echo "$tag"
}

operator="$(build ferry-operator src/Operator/Dockerfile "" src/Crds src/Operator)" || exit 1
trainer="$(build ferry-trainer src/TrainerImage/Dockerfile cpu src/TrainerImage)" || exit 1
echo "OPERATOR_IMAGE=$operator"
echo "TRAINER_IMAGE=$trainer"
"$engine" image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^(${operator}|${trainer}) " | sed 's/^/size: /'
