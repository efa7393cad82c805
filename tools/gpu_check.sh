#!/usr/bin/env bash
# One command that proves the GPU path on one H100 / H200 (target: 8 minutes): builds the
# CUDA kernels, reports every Triton variant's resources, runs every GPU-marked test and the GPU
# benchmarks (losses, clip sampling with NVDEC / torchcodec CUDA / CPU, a training step of the
# released architecture, `predict` with NVDEC + batched bf16), and writes benchmarks/gpu_check/report.md plus rows in benchmarks/results.csv.
# Without a CUDA device (or with --dry-run) it prints what it would run and exits 0.
#
#   tools/gpu_check.sh [--dry-run] [--quick] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
[ -x "$py" ] || py=python3
exec "$py" benchmarks/gpu_check.py "$@"
