"""Where the datasets are: the one data-root rule of sem-metric (training shapes, SISM tasks, reference models).

The real datasets behind the paper's experiments (Sec. 4.1: Cityscapes, ADE20K, COCO panoptic; here also
CamVid, VOC, animal silhouettes, MPEG-7) are never shipped. Every command that reads them takes a
``--data-root`` option; without it, :func:`default_data_root` applies.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_ROOT_ENV", "default_data_root"]

#: environment variable naming the data folder
DATA_ROOT_ENV = "SEM_METRIC_DATA"


def default_data_root() -> Path:
    """The data folder (Sec. 4.1 datasets): ``$SEM_METRIC_DATA`` when set, else ``../shared/data`` next to
    the repository checkout (the layout of this project's machines)."""
    env = os.environ.get(DATA_ROOT_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
