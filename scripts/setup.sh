#!/usr/bin/env bash
# Installs what the build and tests need on a fresh Debian bookworm machine
# (run as root; a no-op for everything already present).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v patchelf >/dev/null || need_apt+=(patchelf)
command -v gcc >/dev/null || need_apt+=(gcc)
command -v python3 >/dev/null || need_apt+=(python3)
# The emulator's independent conformance suite (tests/Conformance) runs Debian's Kubernetes client under /usr/bin/python3.
/usr/bin/python3 -c 'import kubernetes' 2>/dev/null || need_apt+=(python3-kubernetes)
command -v kubectl >/dev/null || echo "setup: kubectl not found; the kubectl tests need /usr/bin/kubectl (1.32)" >&2
command -v moto_server >/dev/null || echo "setup: moto_server not found; the S3 tests need moto 5.2 (pip install 'moto[server]')" >&2
[ -d /usr/share/datasets/fashion-mnist ] || need_apt+=(dataset-fashion-mnist)
command -v node >/dev/null || need_apt+=(nodejs npm)
# The container images and their tests (make images, make test-containers): podman with buildah, runc and
# rootless helpers, debootstrap for the local base images (scripts/local-bases.sh).
for tool in podman buildah runc newuidmap:uidmap fuse-overlayfs slirp4netns debootstrap; do
  command -v "${tool%%:*}" >/dev/null || need_apt+=("${tool##*:}")
done
# The operate tests: Prometheus scrapes the operator and promtool checks the rules; the Argo CD health check runs in Lua.
command -v prometheus >/dev/null || need_apt+=(prometheus)
command -v lua5.4 >/dev/null || need_apt+=(lua5.4)
# The training report is opened in a real headless browser (Microsoft.Playwright drives Debian's chromium).
command -v chromium >/dev/null || need_apt+=(chromium)
lua5.4 -e 'require "cjson"' 2>/dev/null || need_apt+=(lua-cjson)
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing ${need_apt[*]} from Debian"
    apt-get -o DPkg::Lock::Timeout=900 update -qq
    # --no-install-recommends: the prometheus package would otherwise pull in its node exporter and start services.
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "setup: please install: ${need_apt[*]} (needs root and apt)" >&2
    exit 1
  fi
fi

# Node packages used by the tests (pinned by their lockfiles).
for dir in $(find tests -name package-lock.json -not -path '*/node_modules/*' -exec dirname {} \;); do
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
    echo "setup: npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done

# Podman in this kind of sandbox: root lacks CAP_SYS_RESOURCE, so the default ulimits cannot be set
# ("setrlimit RLIMIT_NOFILE: Operation not permitted"), and crun refuses the hybrid cgroup layout; runc works.
containers_conf=/etc/containers/containers.conf
if [ "$(id -u)" -eq 0 ] && command -v podman >/dev/null && ! grep -qs 'ferry: sandbox quirks' "$containers_conf"; then
  if [ -s "$containers_conf" ]; then
    echo "setup: $containers_conf exists; make sure it sets default_ulimits and runtime = \"runc\" (see scripts/setup.sh)" >&2
  else
    echo "setup: writing $containers_conf (ulimits podman may set here, runtime runc)"
    mkdir -p /etc/containers
    cat > "$containers_conf" <<'CONF'
# ferry: sandbox quirks (written by scripts/setup.sh)
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
CONF
  fi
fi
