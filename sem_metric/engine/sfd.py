"""Shape Frechet Distance (SFD), THE home of the metric: a distribution-level shape metric. **Beyond the paper** (FID-style).

Sem (Eq. 10) compares each generated object with its own ground truth. SFD compares the two
*distributions*: the Frechet distance between Gaussian fits of the Sem classifier's penultimate
features of the predicted objects and of the ground-truth objects (the construction of FID, Heusel
et al. 2017, applied to the shape classifier F of Sec. 3.3 instead of Inception):

    SFD = |mu_p - mu_g|^2 + tr(S_p + S_g - 2 (S_p^{1/2} S_g S_p^{1/2})^{1/2})

Features: the classifier's input is exactly Sem's (``box-window-v1`` of
:mod:`sem_metric.sem.preprocess`, built from O and M of Eq. 10); the feature is the globally pooled
output of the EfficientNet trunk, i.e. timm's ``forward_head(forward_features(x), pre_logits=True)``
(1280-d for B0), in float64. Lower is better; 0 for identical sets.

Numerics (all float64): square roots of symmetric PSD matrices come from symmetric eigendecompositions
(:func:`sqrtm_psd`), never from a general (complex) ``sqrtm``; eigenvalues below the numerical noise
level ``max(w) * D * eps`` are treated as 0, so rank-deficient covariances (fewer samples than
feature dimensions) are handled exactly. Covariances are unbiased (``n - 1``), as in FID.

When to use it: with many samples (hundreds or more). Like FID it is biased upward at small N (the
covariance estimates are noisy), its value depends on N, and numbers made with different classifier
weights are not comparable (the weights sha256 is recorded). See the README for measured bias.

Ground-truth statistics (mu, sigma, n) can be saved and reused like pytorch-fid's ``--save-stats``
(:class:`ShapeStats`): the file is keyed by the weights sha256, the preprocessing version and a
digest of the ground-truth objects, and a file that does not match is refused with an error.

Here: the linear algebra (:func:`sqrtm_psd`, :func:`frechet_distance`, :func:`mean_cov_from_sums`: the
one covariance, from the sums the engine's states hold), the objects digests, :class:`ShapeStats`
and the engine functions of the registry entry ``sfd`` (:func:`sfd_setup`, :func:`sfd_update`,
:func:`sfd_finalize`, :func:`absence_penalty`). Torch-free. The update / compute object and the
functional forms over the engine are in :mod:`sem_metric.engine.sfd_accumulator`; the classifier's
penultimate features in :mod:`sem_metric.sem.features`.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..atomic import atomic_write
from ..errors import InputError
from ..labelmap.target_object import object_crop
from ..sem.presence import object_areas, presence_factor
from ..version import PREPROCESSING_VERSION, SEM_DEFINITION_VERSION, __version__
from .batch import Batch
from .exact import int_to_limbs, limbs_to_int
from .states import State

__all__ = ["SFD_STATES", "STATS_FORMAT", "sqrtm_psd", "frechet_distance", "mean_cov_from_sums", "ShapeStats", "crop_digest",
           "object_digest", "objects_digest", "sfd_setup", "sfd_update", "sfd_finalize", "absence_penalty"]

def _sfd_states() -> Tuple[State, ...]:
    moments = tuple(s for side in ("pred", "gt") for s in (
        State(f"{side}_n", dtype="int64"), State(f"{side}_sum", shape=("features",)),
        State(f"{side}_outer", shape=("features", "features"))))
    # the order-independent ground-truth objects digest: 256-bit integers summed in 8 exact 32-bit limbs
    # sem-2: the predictions' absence (1 - presence factor, summed exactly) and the count of empty ones
    absence = (State("pred_absence", dtype="exact"), State("pred_missing", dtype="int64"))
    return moments + (State("gt_digest", shape=(8,), dtype="int64"), State("gt_count", dtype="int64")) + absence


#: SFD's declared states (the registry entry names them by import path)
SFD_STATES = _sfd_states()

STATS_FORMAT = "sem-metric-sfd-stats/1"
_DIGEST_MOD = 1 << 256


# ------------------------------------------------------------------------------ linear algebra
def _psd_eigenvalues_cleaned(w: np.ndarray, dim: int) -> np.ndarray:
    """Eigenvalues of a PSD matrix with the numerical zeros (negative or below ``max * dim * eps``) set to 0."""
    top = float(w.max()) if w.size else 0.0
    if top <= 0.0:
        return np.zeros_like(w)
    return np.where(w > top * dim * np.finfo(np.float64).eps, w, 0.0)


def _symmetric(a: Any, name: str) -> np.ndarray:
    m = np.asarray(a, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise InputError(f"{name}: expected a square matrix, got shape {m.shape}")
    if not np.isfinite(m).all():
        raise InputError(f"{name}: contains NaN or infinite values")
    return 0.5 * (m + m.T)


def sqrtm_psd(a: Any) -> np.ndarray:
    """Principal square root of a symmetric positive semi-definite matrix (SFD, beyond the paper).

    ``a`` is symmetrised, decomposed with :func:`numpy.linalg.eigh` (float64), eigenvalues below
    the noise level ``max(w) * D * eps`` (including small negative ones) are set to 0, and
    ``V diag(sqrt(w)) V^T`` is returned: real, symmetric, PSD. Unlike ``scipy.linalg.sqrtm`` there is
    no complex Schur path, and singular matrices are fine.
    """
    m = _symmetric(a, "matrix")
    w, v = np.linalg.eigh(m)
    w = _psd_eigenvalues_cleaned(w, m.shape[0])
    r = (v * np.sqrt(w)) @ v.T
    return 0.5 * (r + r.T)


def frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2) (SFD's formula; beyond the paper, FID-style).

    ``|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1^{1/2} S2 S1^{1/2})^{1/2})``, in float64, with both
    square roots from symmetric eigendecompositions (S1's as in :func:`sqrtm_psd`; the trace from the
    eigenvalues of ``U^T S2 U``, ``U = V W^{1/2}`` on S1's non-zero eigenvalues: the same eigenvalues). Exactly 0.0 when the two
    Gaussians are bitwise identical; never negative (round-off below 0 is clipped). Symmetric in
    its arguments up to round-off.
    """
    m1 = np.asarray(mu1, dtype=np.float64).reshape(-1)
    m2 = np.asarray(mu2, dtype=np.float64).reshape(-1)
    s1 = _symmetric(sigma1, "sigma1")
    s2 = _symmetric(sigma2, "sigma2")
    d = m1.shape[0]
    if m2.shape[0] != d or s1.shape != (d, d) or s2.shape != (d, d):
        raise InputError(f"frechet_distance: shapes do not match: mu1 {m1.shape}, sigma1 {s1.shape}, "
                         f"mu2 {m2.shape}, sigma2 {s2.shape}")
    if not (np.isfinite(m1).all() and np.isfinite(m2).all()):
        raise InputError("frechet_distance: a mean vector contains NaN or infinite values")
    if np.array_equal(m1, m2) and np.array_equal(s1, s2):
        return 0.0
    diff = m1 - m2
    # S1^{1/2} S2 S1^{1/2} = V W^{1/2} (U^T S2 U) W^{1/2} V^T with U = V W^{1/2} on S1's non-zero eigenvalues:
    # its non-zero eigenvalues are those of the (r x r) U^T S2 U (cheaper when S1 has rank r < D, as at n <= D)
    w1, v1 = np.linalg.eigh(s1)
    w1 = _psd_eigenvalues_cleaned(w1, d)
    keep = w1 > 0
    u = v1[:, keep] * np.sqrt(w1[keep])
    inner = u.T @ s2 @ u
    w = _psd_eigenvalues_cleaned(np.linalg.eigvalsh(0.5 * (inner + inner.T)), d) if inner.size else np.zeros(0)
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.sqrt(w).sum())
    return max(value, 0.0)


# ------------------------------------------------------------------------------ digests
def crop_digest(crop: np.ndarray) -> int:
    """Digest of one object as the classifier sees it (boolean O inside its box), a 256-bit int."""
    crop = np.asarray(crop, dtype=bool)
    h = hashlib.sha256(f"{crop.shape[0]}x{crop.shape[1]}:".encode())
    h.update(np.packbits(crop).tobytes())
    return int.from_bytes(h.digest(), "big")


def object_digest(seg: Any, box: Any, label: int) -> int:
    """Digest of what the classifier sees for one sample (O inside the box, Eq. 10), as a 256-bit int.

    sha256 over the crop's size and its bits (``object_crop``): the same object in another image,
    position or class id has the same digest.
    """
    return crop_digest(object_crop(seg, box, label))


def _set_digest(digest_sum: int, n: int) -> str:
    """Order-independent digest of a multiset of objects: sha256 of (count, sum of digests mod 2^256)."""
    return hashlib.sha256(f"sfd-objects|{int(n)}|{int(digest_sum) % _DIGEST_MOD:064x}".encode()).hexdigest()


def objects_digest(segs: Sequence, boxes: Sequence, labels: Sequence[int]) -> str:
    """Order-independent digest of N objects (what :class:`ShapeStats` is keyed by)."""
    total = sum(object_digest(s, b, l) for s, b, l in zip(segs, boxes, labels)) % _DIGEST_MOD
    return _set_digest(total, len(segs))


# ------------------------------------------------------------------------------ statistics
def mean_cov_from_sums(n: int, s: np.ndarray, outer: np.ndarray, what: str = "features"
                       ) -> Tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance from ``n``, ``sum f`` and ``sum f f^T`` (float64, symmetrised)."""
    n = int(n)
    if n < 2:
        raise InputError(f"SFD needs at least 2 {what} to estimate a covariance, got {n}; SFD compares "
                         "distributions and is meant for hundreds of samples or more")
    mu = np.asarray(s, dtype=np.float64) / n
    cov = (np.asarray(outer, dtype=np.float64) - n * np.outer(mu, mu)) / (n - 1)
    return mu, 0.5 * (cov + cov.T)


@dataclass
class ShapeStats:
    """Gaussian fit of a set of objects' features, with what defines it (SFD; like pytorch-fid's ``--save-stats``).

    ``mu`` (D,), ``sigma`` (D, D) float64, ``n`` objects; ``weights_sha256`` and
    ``preprocessing_version`` identify the features; ``objects_digest`` identifies the objects
    (order-independent; see :func:`object_digest`).
    """

    mu: np.ndarray
    sigma: np.ndarray
    n: int
    weights_sha256: str
    preprocessing_version: str
    objects_digest: str

    @property
    def feature_dim(self) -> int:
        return int(self.mu.shape[0])

    def save(self, path: "str | os.PathLike[str]") -> None:
        """Write the statistics as a ``.npz`` (no pickle), atomically."""
        arrays = {"format": np.array(STATS_FORMAT), "mu": np.asarray(self.mu, dtype=np.float64),
                  "sigma": np.asarray(self.sigma, dtype=np.float64), "n": np.array(int(self.n), dtype=np.int64),
                  "weights_sha256": np.array(str(self.weights_sha256)),
                  "preprocessing_version": np.array(str(self.preprocessing_version)),
                  "objects_digest": np.array(str(self.objects_digest)),
                  "package_version": np.array(__version__)}
        target = os.fspath(path)
        if os.path.isdir(target):
            raise InputError(f"SFD statistics path {target!r} is a directory; give a file path such as gt_stats.npz")
        parent = os.path.dirname(os.path.abspath(target))
        if not os.path.isdir(parent):
            raise InputError(f"cannot write SFD statistics {target!r}: directory {parent!r} does not exist")
        atomic_write(target, lambda f: np.savez(f, **arrays), binary=True, what="SFD statistics")

    @classmethod
    def load(cls, path: "str | os.PathLike[str]") -> "ShapeStats":
        """Read a file written by :meth:`save`; an unreadable or foreign file is an :class:`InputError`."""
        target = os.fspath(path)
        fix = "delete it to recompute the statistics, or pass another path"
        try:
            with np.load(target, allow_pickle=False) as data:
                files = set(data.files)
                need = {"format", "mu", "sigma", "n", "weights_sha256", "preprocessing_version", "objects_digest"}
                if not need <= files or str(data["format"][()]) != STATS_FORMAT:
                    raise InputError(f"SFD statistics {target!r} is not a sem-metric SFD statistics file "
                                     f"(format {STATS_FORMAT}); {fix}")
                mu = np.asarray(data["mu"], dtype=np.float64)
                sigma = np.asarray(data["sigma"], dtype=np.float64)
                stats = cls(mu, sigma, int(data["n"][()]), str(data["weights_sha256"][()]),
                            str(data["preprocessing_version"][()]), str(data["objects_digest"][()]))
        except InputError:
            raise
        except Exception as e:  # noqa: BLE001 - any unreadable file is reported the same way
            raise InputError(f"SFD statistics {target!r} cannot be read ({type(e).__name__}: {e}); {fix}") from None
        d = stats.mu.shape[0] if stats.mu.ndim == 1 else -1
        if d < 1 or stats.sigma.shape != (d, d) or stats.n < 2:
            raise InputError(f"SFD statistics {target!r} is malformed (mu {stats.mu.shape}, sigma {stats.sigma.shape}, "
                             f"n {stats.n}); {fix}")
        return stats

    def check(self, where: str, weights_sha256: Optional[str] = None, preprocessing_version: Optional[str] = None,
              objects_digest: Optional[str] = None, n: Optional[int] = None) -> None:
        """Refuse (:class:`InputError`) statistics made with other weights, preprocessing or objects."""
        why = []
        if weights_sha256 is not None and weights_sha256 != self.weights_sha256:
            why.append(f"classifier weights sha256 {self.weights_sha256[:12]}... in the file, "
                       f"{weights_sha256[:12]}... in this run")
        if preprocessing_version is not None and preprocessing_version != self.preprocessing_version:
            why.append(f"preprocessing {self.preprocessing_version!r} in the file, {preprocessing_version!r} here")
        if objects_digest is not None and (objects_digest != self.objects_digest or (n is not None and n != self.n)):
            why.append(f"ground-truth objects differ (file: {self.n} objects, digest {self.objects_digest[:12]}...; "
                       f"this run: {n} objects, digest {objects_digest[:12]}...)")
        if why:
            raise InputError(f"SFD ground-truth statistics {where} do not match this run: " + "; ".join(why)
                             + ". Delete the file to recompute them, or pass another path")


# ------------------------------------------------------------------------------ the engine's SFD entry
def sfd_setup(ctx: Any) -> Dict[str, Any]:
    """Per-run configuration of SFD: the weights sha256, D and the ``--sfd-gt-stats`` file (loaded and verified)."""
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
