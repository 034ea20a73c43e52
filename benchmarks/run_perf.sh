#!/usr/bin/env bash
# The whole performance suite of issue #10, one command. CPU by default; on a machine with a CUDA GPU
# use benchmarks/run_perf_gpu.sh. Results go to benchmarks/results/ (JSON with machine information).
#   bash benchmarks/run_perf.sh            # label-map, reading, classifier, end to end (1k and 10k samples)
#   BASELINE=../other-checkout bash benchmarks/run_perf.sh   # also time another checkout end to end
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
OUT=${OUT:-benchmarks/results}
mkdir -p "$OUT"
OMP_NUM_THREADS=1 $PY benchmarks/bench_labelmap.py --dtypes uint8,int64 --out "$OUT/labelmap_cpu.json"
$PY benchmarks/bench_read.py --out "$OUT/read_cpu.json"
$PY benchmarks/bench_classifier.py --threads 1,2 --out "$OUT/classifier_cpu.json"
$PY benchmarks/bench_e2e.py --sizes 1000,10000 ${BASELINE:+--baseline-pythonpath "$BASELINE"} --out "$OUT/e2e_cpu.json"
