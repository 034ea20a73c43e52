#!/usr/bin/env bash
# The performance suite on a CUDA GPU (the classifier and Sem end to end on the GPU; label-map metrics
# and reading are CPU code and are measured as on the CPU). Exits 0 without measuring when no CUDA
# device is visible. Results: benchmarks/results/*_cuda.json.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
OUT=${OUT:-benchmarks/results}
if ! $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "no CUDA device visible: nothing measured (the GPU figures in benchmarks/README.md stay to be filled)"
  exit 0
fi
mkdir -p "$OUT"
$PY benchmarks/bench_classifier.py --device cuda --batch-sizes 64,256,1024 --samples 2048 --out "$OUT/classifier_cuda.json"
$PY benchmarks/bench_e2e.py --device cuda --sizes 1000,10000 --out "$OUT/e2e_cuda.json"
OMP_NUM_THREADS=1 $PY benchmarks/bench_labelmap.py --out "$OUT/labelmap_cpu_on_gpu_host.json"
$PY benchmarks/bench_read.py --out "$OUT/read_cpu_on_gpu_host.json"
