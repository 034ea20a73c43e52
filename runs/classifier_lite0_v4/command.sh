#!/bin/sh
# v4 training (issue #25); rerun the same command to resume from last.pt after an interruption.
# Banks: python -m sem_metric.training.build_shapes --out cache/shapes && python -m sem_metric.training.sism_shapes --out cache/shapes
exec python -m sem_metric.training.train_classifier --preset cpu-v4-lite0 --threads 1 --keep-epochs --no-progress \
  --out runs/classifier_lite0_v4 \
  --train cache/shapes/train.npz cache/shapes/train_coco_small.npz cache/shapes/train_sism.npz \
  --val cache/shapes/val_coco.npz cache/shapes/val_voc.npz cache/shapes/val_animal.npz \
        cache/shapes/val_camvid_sism.npz cache/shapes/val_coco_sism.npz
