"""The package's own classifier metrics as engine functions: Sem (Eq. 10) and SFD (beyond the paper).

Registered in :data:`sem_metric.registry.METRICS` (``update`` / ``setup`` / ``finalize`` fields); a plugin
metric is written the same way (see the README, "Adding a metric").
"""
from __future__ import annotations

import hashlib
import os
from typing import Any, Dict, Mapping

import numpy as np

from ..errors import InputError
from ..version import PREPROCESSING_VERSION, SEM_DEFINITION_VERSION
from .exact import int_to_limbs, limbs_to_int
from .batch import Batch

__all__ = ["sem_update", "sfd_setup", "sfd_update", "sfd_finalize", "absence_penalty", "crop_digest"]

_DIGEST_MOD = 1 << 256


def sem_update(batch: Batch) -> np.ndarray:
    """Eq. 10 per sample, ``0.5 * || p_pred - p_gt ||_1`` of the classifier's probabilities, with the
    presence rule of definition ``sem-2`` (:mod:`sem_metric.sem.presence`): an empty predicted object
    scores 1, a vanishing one tends to 1."""
    from ..sem.metric import sem_from_probabilities
    from ..sem.presence import object_areas

    return sem_from_probabilities(batch.probs_pred, batch.probs_gt, object_areas(batch.objects_pred),
                                  object_areas(batch.objects_gt))


# ------------------------------------------------------------------------------ SFD
def crop_digest(crop: np.ndarray) -> int:
    """Digest of one object as the classifier sees it (boolean O inside its box), a 256-bit int."""
    crop = np.asarray(crop, dtype=bool)
    h = hashlib.sha256(f"{crop.shape[0]}x{crop.shape[1]}:".encode())
    h.update(np.packbits(crop).tobytes())
    return int.from_bytes(h.digest(), "big")


def sfd_setup(ctx: Any) -> Dict[str, Any]:
    """Per-run configuration of SFD: the weights sha256, D and the ``--sfd-gt-stats`` file (loaded and verified)."""
    from ..sem.sfd import ShapeStats

    path = getattr(ctx.options, "sfd_gt_stats", None)
    cfg: Dict[str, Any] = {"sha256": ctx.sha256, "dim": ctx.dims.get("features"), "loaded": None,
                           "stats_path": None if path is None else os.fspath(path), "status": None}
    if path is None:
        return cfg
    path = cfg["stats_path"]
    if not ctx.sha256:
        raise InputError("--sfd-gt-stats needs classifier weights with a known sha256 "
                         "(load them with sem_metric.load_classifier)")
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path) or not os.path.isdir(parent):
        raise InputError(f"--sfd-gt-stats {path!r}: give a file path in an existing directory")
    if os.path.exists(path):
        loaded = ShapeStats.load(path)
        loaded.check(repr(path), ctx.sha256, PREPROCESSING_VERSION)
        if loaded.feature_dim != cfg["dim"]:
            raise InputError(f"SFD statistics {path!r} have {loaded.feature_dim}-d features, "
                             f"this classifier gives {cfg['dim']}-d; delete the file or pass another path")
        cfg["loaded"] = loaded
        cfg["gt_features"] = False              # the ground truth is in the file: not classified
    return cfg


def sfd_update(batch: Batch, cfg: Mapping[str, Any]) -> Dict[str, Any]:
    """Increments of the feature moments (n, sum f, sum f f^T per side) and of the ground-truth digest."""
    from ..sem.presence import object_areas, presence_factor

    fp = batch.features_pred
    digest = sum(crop_digest(o) for o in batch.objects_gt) % _DIGEST_MOD
    area_pred = object_areas(batch.objects_pred)
    absence = 1.0 - presence_factor(area_pred, object_areas(batch.objects_gt))
    out = {"pred_n": len(fp), "pred_sum": fp.sum(axis=0), "pred_outer": fp.T @ fp,
           "gt_digest": int_to_limbs(digest, 8), "gt_count": len(batch),
           "pred_absence": absence, "pred_missing": int(np.count_nonzero(area_pred == 0))}
    if cfg.get("loaded") is None:
        fg = batch.features_gt
        out.update({"gt_n": len(fg), "gt_sum": fg.sum(axis=0), "gt_outer": fg.T @ fg})
    return out


def sfd_finalize(state: Mapping[str, Any], cfg: Dict[str, Any]) -> Dict[str, Any]:
    """SFD of the two Gaussian fits; writes / verifies the ground-truth statistics file; metadata and runtime."""
    from ..sem.sfd import ShapeStats, _set_digest, frechet_distance, mean_cov_from_sums

    n_gt = int(state["gt_count"])
    digest = _set_digest(limbs_to_int(state["gt_digest"]) % _DIGEST_MOD, n_gt)
    mu_p, s_p = mean_cov_from_sums(state["pred_n"], state["pred_sum"], state["pred_outer"], "predicted objects")
    path, loaded = cfg.get("stats_path"), cfg.get("loaded")
    if loaded is not None:
        loaded.check(repr(path) if path is not None else "(ShapeStats)", objects_digest=digest, n=n_gt)
        mu_g, s_g = loaded.mu, loaded.sigma
        cfg["status"] = "loaded"
    else:
        mu_g, s_g = mean_cov_from_sums(state["gt_n"], state["gt_sum"], state["gt_outer"], "ground-truth objects")
        if path is not None:
            ShapeStats(mu_g, s_g, int(state["gt_n"]), str(cfg["sha256"]), PREPROCESSING_VERSION, digest).save(path)
            cfg["status"] = "written"
    absence = float(state["pred_absence"]) / max(int(state["pred_n"]), 1)
    penalty = absence_penalty(absence, s_g)
    meta = {"weights_sha256": cfg["sha256"], "preprocessing_version": PREPROCESSING_VERSION,
            "definition_version": SEM_DEFINITION_VERSION,
            "feature_dim": cfg["dim"], "n_pred": int(state["pred_n"]), "n_gt": n_gt,
            "n_missing": int(state["pred_missing"]), "absence": absence, "absence_penalty": penalty,
            "gt_objects_digest": digest, "gt_stats": path}
    runtime = {"gt_stats": None if path is None else {"path": path, "status": cfg["status"]}}
    return {"value": frechet_distance(mu_p, s_p, mu_g, s_g) + penalty, "metadata": meta, "runtime": runtime}


def absence_penalty(absence: float, sigma_gt: np.ndarray) -> float:
    """SFD's missing-object term (definition ``sem-2``): ``a * 2 tr(Sigma_gt)``.

    ``a`` is the predictions' mean absence ``1 - pi`` (:mod:`sem_metric.sem.presence`: 1 for an empty
    predicted object, 0 once it has ``PRESENCE_AREA_RATIO`` of the true object's area). ``2 tr(Sigma_gt)``
    is the expected squared feature distance between two ground-truth objects, so each missing object
    costs, on top of F's reading of the empty box, as much as replacing it by a random *other* true
    object would in expectation; without missing objects SFD is the plain Frechet distance (sem-1).
    """
    if absence <= 0.0:
        return 0.0
    return float(absence * 2.0 * np.trace(np.asarray(sigma_gt, dtype=np.float64)))
