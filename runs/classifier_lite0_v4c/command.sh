#!/bin/sh
# v4c (issue #25, third attempt; SELECTION_RULE_v4c.md): v4's data and augmentation, warm start from sem-lite0-v3 (v2's recipe idea:
# keep v3's reading of COCO / VOC / animal shapes, add the street-scene views), lr 3e-4, 8 x 12,000 draws,
# both cores. Rerun the same command to resume from last.pt after an interruption.
exec python -m sem_metric.training.train_classifier --preset cpu-v4-lite0 --init sem-lite0-v3 --lr 3e-4 --epochs 8 \
  --threads 2 --keep-epochs --no-progress --out runs/classifier_lite0_v4c \
  --train cache/shapes/train.npz cache/shapes/train_coco_small.npz cache/shapes/train_sism.npz \
  --val cache/shapes/val_coco.npz cache/shapes/val_voc.npz cache/shapes/val_animal.npz \
        cache/shapes/val_camvid_sism.npz cache/shapes/val_coco_sism.npz
