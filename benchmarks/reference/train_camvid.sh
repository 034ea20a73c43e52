#!/usr/bin/env bash
# Reference CamVid runs of TwoSM and TwoSM+DA(Train) (paper Sec. 3.1-3.2): two seeds each, 1 CPU thread,
# one run after the other (11-15 min each on a shared 2-core machine). Re-running this script resumes
# interrupted runs (--resume; checkpoints in runs/reference/checkpoints/<name>/last.pt). Then the
# Table-1-style evaluation (benchmarks/reference/camvid_table.{json,md}).
set -euo pipefail
cd "$(dirname "$0")/../.."
COMMON="--dataset camvid --size 96 128 --epochs 4 --batch-size 8 --lr 5e-4 --threads 1 --resume"
CK=benchmarks/reference/checkpoints
python -m sem_metric.reference.train --name twosm       $COMMON --seed 0      --export $CK/twosm.safetensors
python -m sem_metric.reference.train --name twosm_da    $COMMON --seed 0 --da --export $CK/twosm_da.safetensors
python -m sem_metric.reference.train --name twosm_s1    $COMMON --seed 1      --export $CK/twosm_s1.safetensors
python -m sem_metric.reference.train --name twosm_da_s1 $COMMON --seed 1 --da --export $CK/twosm_da_s1.safetensors
python -m sem_metric.reference.evaluate \
  --twosm $CK/twosm.safetensors $CK/twosm_s1.safetensors \
  --twosm-da $CK/twosm_da.safetensors $CK/twosm_da_s1.safetensors \
  --out benchmarks/reference/camvid_table
