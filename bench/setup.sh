#!/usr/bin/env bash
# Installs the benchmarks' peers: Debian's PyTorch (DDP, gloo) with a threaded OpenBLAS, run by /usr/bin/python3.
# The Fashion-MNIST files come from scripts/setup.sh (dataset-fashion-mnist).
set -euo pipefail
if /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y python3-torch libopenblas0-pthread || {
  $SUDO apt-get update && $SUDO apt-get install -y python3-torch libopenblas0-pthread
}
/usr/bin/python3 -c 'import torch; print("bench peers: torch", torch.__version__)'
