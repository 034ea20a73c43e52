"""Three metrics from outside the package (issue 18), as a plugin module would ship them.

Importing this module registers them (``sem-score --plugin plugin_metrics``, ``SEM_METRIC_PLUGINS``, or
an entry point in the group ``sem_metric.metrics`` naming ``plugin_metrics:METRICS``):

* ``cover`` (per sample, label maps): share of the box whose predicted class is the target label;
* ``top1`` (per sample, the classifier's probabilities): 1 when the classifier's most likely COCO class
  of the predicted object equals that of the true object, else 0;
* ``pcover`` (dataset level, label maps): predicted target pixels / true target pixels over all boxes,
  with an exact int64 ``sum``, an exact float sum and a ``cat`` state (box areas, for the metadata).
"""
import numpy as np

from sem_metric import Metric, State, register_metric


def cover_batch(preds, gts, boxes, labels):
    """Per-sample share of the box predicted as the target label (in [0, 1])."""
    out = []
    for p, (x0, y0, x1, y1), lab in zip(preds, np.asarray(boxes).tolist(), np.asarray(labels).tolist()):
        region = np.asarray(p)[y0:y1, x0:x1]
        out.append(float(np.count_nonzero(region == lab)) / region.size)
    return np.array(out)


def top1_update(batch):
    """Top-1 agreement of the classifier on the predicted and the true object (Eq. 10's Softmax(F(O)))."""
    return (batch.probs_pred.argmax(axis=1) == batch.probs_gt.argmax(axis=1)).astype(np.float64)


def pcover_update(batch, cfg):
    hit, total, areas = 0, 0, []
    for p, g, (x0, y0, x1, y1), lab in zip(batch.preds, batch.gts, batch.boxes.tolist(), batch.labels.tolist()):
        hit += int(np.count_nonzero(np.asarray(p)[y0:y1, x0:x1] == lab))
        total += int(np.count_nonzero(np.asarray(g)[y0:y1, x0:x1] == lab))
        areas.append(float((x1 - x0) * (y1 - y0)))
    return {"hit": hit, "total": total, "area_sum": areas, "areas": areas}


def pcover_finalize(state, cfg):
    return {"value": int(state["hit"]) / max(1, int(state["total"])),
            "metadata": {"boxes": int(len(state["areas"])), "mean_area": float(state["area_sum"]) / max(1, len(state["areas"])),
                         "median_area": float(np.median(state["areas"])) if len(state["areas"]) else None}}


METRICS = (
    Metric("cover", "cover", True, cover_batch, "plugin (test)", default=False),
    Metric("top1", "top-1 agree", True, "plugin_metrics:top1_update", "plugin (test)", default=False,
           needs=("probs",), update="plugin_metrics:top1_update", identical_value=1.0,
           version_keys=("sem_weights_sha256", "sem_preprocessing_version")),
    Metric("pcover", "pooled cover", True, "plugin_metrics:pcover_update", "plugin (test)", level="dataset",
           default=False, update=pcover_update, finalize=pcover_finalize,
           states=(State("hit", dtype="int64"), State("total", dtype="int64"), State("area_sum", dtype="exact"),
                   State("areas", reduce="cat"))),
)

for _m in METRICS:
    register_metric(_m)
