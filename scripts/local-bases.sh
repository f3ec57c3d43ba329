#!/usr/bin/env bash
# Makes, once, the local stand-ins for the public base images the Dockerfiles name, for a machine that can
# reach the Debian archive but no image registry. Each is made only when missing from the local image store,
# so a second run costs nothing:
#
#   localhost/ferry-base:bookworm          stands in for mcr.microsoft.com/dotnet/runtime-deps: Debian bookworm
#                                          (debootstrap minbase) + ca-certificates, libssl3, zlib, tzdata
#   localhost/ferry-dotnet-runtime:<ver>   stands in for mcr.microsoft.com/dotnet/runtime: the base + this
#                                          machine's .NET runtime (dotnet host and Microsoft.NETCore.App only)
#   localhost/ferry-dotnet-sdk:<ver>       stands in for mcr.microsoft.com/dotnet/sdk: the base + this machine's
#                                          .NET SDK + gcc, python3 and patchelf (the trainer's libstdc++
#                                          compatibility patch is needed on bookworm, see src/TrainerImage/README.md)
#                                          + the host's extra certificate authorities (/usr/local/share/ca-certificates)
#
# <ver> is the host SDK's version, so a new SDK makes new images. Prints `NAME=IMAGE` lines for scripts/images.sh.
#
# Environment: ENGINE (podman), DEBIAN_MIRROR (the first Debian URI apt is configured with), DOTNET_ROOT
# (the directory of the host's dotnet executable), FERRY_BASE_CACHE (/var/cache/ferry: debootstrap's tarball).
set -euo pipefail

engine="${ENGINE:-podman}"
command -v "$engine" >/dev/null || { echo "local-bases: $engine not found; install podman (scripts/setup.sh does)" >&2; exit 1; }
command -v buildah >/dev/null || { echo "local-bases: buildah not found; install buildah (scripts/setup.sh does)" >&2; exit 1; }

dotnet_root="${DOTNET_ROOT:-$(dirname "$(readlink -f "$(command -v dotnet)")")}"
sdk_version="$("$dotnet_root/dotnet" --version)"
runtime_dir="$(ls -d "$dotnet_root"/shared/Microsoft.NETCore.App/* | sort -V | tail -1)"
cache="${FERRY_BASE_CACHE:-/var/cache/ferry}"

base=localhost/ferry-base:bookworm
runtime=localhost/ferry-dotnet-runtime:$sdk_version
sdk=localhost/ferry-dotnet-sdk:$sdk_version

exists() { "$engine" image exists "$1"; }
log() { echo "local-bases: $*" >&2; }

debian_mirror() {
  if [[ -n "${DEBIAN_MIRROR:-}" ]]; then echo "$DEBIAN_MIRROR"; return; fi
  local uri
  uri="$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1 || true)"
  [[ -n "$uri" ]] || uri="$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -1 || true)"
  echo "${uri:-http://deb.debian.org/debian}"
}

# A container from IMAGE, CMDS run in it, committed as NAME; the working container is removed either way.
commit_from() {
  local from="$1" name="$2"; shift 2
  local ctr
  ctr="$(buildah from --pull=never "$from")"
  trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' RETURN
  "$@" "$ctr"
  buildah config --label org.opencontainers.image.description="local stand-in for a public .NET base image" "$ctr"
  buildah commit --quiet --rm "$ctr" "$name" >/dev/null
  trap - RETURN
}

if ! exists "$base"; then
  tarball="$cache/debian-bookworm-minbase.tar"
  if [[ ! -s "$tarball" ]]; then
    command -v debootstrap >/dev/null || { log "debootstrap not found; install it (scripts/setup.sh does)"; exit 1; }
    mirror="$(debian_mirror)"
    root="$(mktemp -d /var/tmp/ferry-rootfs.XXXXXX)"
    log "debootstrap bookworm from $mirror (about 90 s)"
    debootstrap --variant=minbase --include=ca-certificates,libssl3,zlib1g,tzdata bookworm "$root" "$mirror" >"$root.log" 2>&1 \
      || { log "debootstrap failed; its log: $root.log"; tail -5 "$root.log" >&2; exit 1; }
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root.log"
    mkdir -p "$cache"
    tar -C "$root" --numeric-owner -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
  fi
  log "importing $base"
  "$engine" import --quiet --change 'CMD ["/bin/bash"]' "$tarball" "$base" >/dev/null
fi

if ! exists "$runtime"; then
  log "making $runtime from $runtime_dir"
  add_runtime() {
    buildah run "$1" -- mkdir -p /usr/share/dotnet/shared/Microsoft.NETCore.App
    buildah copy --quiet "$1" "$dotnet_root/dotnet" /usr/share/dotnet/dotnet >/dev/null
    buildah copy --quiet "$1" "$dotnet_root/host" /usr/share/dotnet/host >/dev/null
    buildah copy --quiet "$1" "$runtime_dir" "/usr/share/dotnet/shared/Microsoft.NETCore.App/$(basename "$runtime_dir")" >/dev/null
    buildah run "$1" -- ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet
    # The base has no ICU (Microsoft's runtime images do): the SDK and apps run with invariant globalization.
    buildah config --env DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 "$1"
  }
  commit_from "$base" "$runtime" add_runtime
fi

if ! exists "$sdk"; then
  log "making $sdk from $dotnet_root (apt-get installs gcc, python3, patchelf)"
  add_sdk() {
    buildah run --network=host "$1" -- sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev python3 patchelf >/dev/null && rm -rf /var/lib/apt/lists/*'
    # The host's own certificate authorities (e.g. an egress proxy's), so that restore reaches NuGet as the host does.
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
      buildah copy --quiet "$1" /usr/local/share/ca-certificates/ /usr/local/share/ca-certificates/ >/dev/null
      buildah run "$1" -- update-ca-certificates >/dev/null
    fi
    [[ -z "${NUGET_CERT_REVOCATION_MODE:-}" ]] || buildah config --env "NUGET_CERT_REVOCATION_MODE=$NUGET_CERT_REVOCATION_MODE" "$1"
    buildah copy --quiet "$1" "$dotnet_root" /usr/share/dotnet >/dev/null
    buildah run "$1" -- ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet
    buildah config --env DOTNET_CLI_TELEMETRY_OPTOUT=1 --env DOTNET_NOLOGO=1 --env DOTNET_ROOT=/usr/share/dotnet --env DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 "$1"
  }
  commit_from "$base" "$sdk" add_sdk
fi

echo "BASE_IMAGE=$base"
echo "DOTNET_RUNTIME_IMAGE=$runtime"
echo "SDK_IMAGE=$sdk"
