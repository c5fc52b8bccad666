#!/usr/bin/env bash
# The GPU checks of the benchmark and segmentation paths (bench/gpu_check.py), one run, one table, < 10 minutes.
#
#   bench/gpu_check.sh prepare   # here, with the package registry: the wheels the GPU image lacks -> .gpu-wheels/
#   bench/gpu_check.sh           # on the CUDA machine (device tool: carry [".gpu-wheels"], timeout_s 600)
#
# The GPU image has its own python3 with CUDA PyTorch, NumPy, SciPy, scikit-image and safetensors but no MONAI,
# dynamic_network_architectures, SimpleITK or zfpy, and nothing can be downloaded there.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=.gpu-wheels
if [ "${1:-}" = prepare ]; then
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 -d "$WHEELS" \
    "monai>=1.3" "dynamic-network-architectures>=0.3" SimpleITK zfpy
  du -sh "$WHEELS"
  exit 0
fi
python3 -m pip install -q --no-index --no-deps "$WHEELS"/*.whl
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
exec timeout 570 python3 bench/gpu_check.py
