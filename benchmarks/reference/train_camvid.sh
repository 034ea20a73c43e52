#!/usr/bin/env bash
# Reference CamVid runs of TwoSM and TwoSM+DA(Train) (paper Sec. 3.1-3.2), 1 CPU thread each, run one
# after the other; re-running with --resume continues interrupted runs. Then the Table-1-style evaluation.
set -euo pipefail
cd "$(dirname "$0")/../.."
COMMON="--dataset camvid --size 96 128 --epochs 4 --batch-size 8 --lr 5e-4 --seed 0 --threads 1 --resume"
python -m sem_metric.reference.train --name twosm    $COMMON      --export benchmarks/reference/checkpoints/twosm.safetensors
python -m sem_metric.reference.train --name twosm_da $COMMON --da --export benchmarks/reference/checkpoints/twosm_da.safetensors
python -m sem_metric.reference.evaluate \
  --twosm benchmarks/reference/checkpoints/twosm.safetensors \
  --twosm-da benchmarks/reference/checkpoints/twosm_da.safetensors \
  --out benchmarks/reference/camvid_table
