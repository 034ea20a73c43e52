"""Shape Frechet Distance (SFD): a distribution-level shape metric. **Beyond the paper** (FID-style).

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
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple

import numpy as np
import torch

from ..atomic import atomic_write
from ..errors import InputError
from ..version import PREPROCESSING_VERSION, __version__
from .metric import check_batch_size, distinct_inputs, forward_chunks, inference
from .preprocess import classifier_inputs

__all__ = ["STATS_FORMAT", "sqrtm_psd", "frechet_distance", "classifier_features", "shape_features_batch",
           "ShapeStats", "shape_stats", "shape_frechet_distance", "object_digest", "objects_digest", "SFDAccumulator"]

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


# ------------------------------------------------------------------------------ features
def _resolve_classifier(classifier, device):
    from .metric import _classifier

    return _classifier(classifier, device)


def _trunk(classifier):
    """The timm network inside the classifier (``ShapeClassifier.net``), checked for the features API."""
    net = getattr(classifier, "net", classifier)
    if not (hasattr(net, "forward_features") and hasattr(net, "forward_head")):
        raise InputError(f"classifier {type(classifier).__name__} has no timm forward_features / forward_head; "
                         "SFD needs the penultimate features of a sem_metric ShapeClassifier (load_classifier)")
    return net


def feature_dim(classifier) -> int:
    """Dimension D of the classifier's penultimate features (1280 for EfficientNet-B0)."""
    net = _trunk(classifier)
    d = getattr(net, "num_features", None)
    if d is None:
        raise InputError(f"classifier {type(classifier).__name__} does not report num_features")
    return int(d)


def classifier_features(inputs: torch.Tensor, classifier, batch_size: int = 64,
                        with_probs: bool = False) -> Any:
    """Penultimate features of F for prepared inputs ``(N, 2, S, S)`` (SFD; beyond the paper): ``(N, D)`` float64.

    The features are ``forward_head(forward_features(x), pre_logits=True)`` (global average pool of
    the EfficientNet trunk; dropout is inactive in eval mode). Identical inputs are computed once, so
    they get bit-identical features. With ``with_probs=True`` also returns ``Softmax(F_{-1}(x))`` of
    Eq. 10 from the same forward pass (the classifier head applied to these features).
    """
    batch_size = check_batch_size(batch_size)
    net = _trunk(classifier)
    d = feature_dim(classifier)
    n = int(inputs.shape[0])
    num_classes = int(getattr(getattr(classifier, "config", None), "num_classes", 0) or 0)
    if n == 0:
        feats = np.zeros((0, d), dtype=np.float64)
        return (feats, np.zeros((0, num_classes), dtype=np.float64)) if with_probs else feats
    first, inverse = distinct_inputs(inputs)
    feats = np.empty((len(first), d), dtype=np.float64)
    probs = None
    device = next(classifier.parameters()).device
    with inference(classifier):
        for chunk in forward_chunks(len(first), batch_size):
            rows = first[chunk]
            x = inputs[rows].to(device).contiguous(memory_format=torch.channels_last)
            f = net.forward_head(net.forward_features(x), pre_logits=True)
            feats[chunk] = f.double().cpu().numpy()
            if with_probs:
                logits = net.get_classifier()(f)
                p = torch.softmax(logits.double(), dim=1).cpu().numpy()
                if probs is None:
                    probs = np.empty((len(first), p.shape[1]), dtype=np.float64)
                probs[chunk] = p
    if with_probs:
        return feats[inverse], probs[inverse]
    return feats[inverse]


def shape_features_batch(segs: Sequence, boxes: Sequence, labels: Sequence[int], classifier=None,
                         batch_size: int = 64, device: Optional[str] = None) -> np.ndarray:
    """The shape classifier's penultimate features of N objects (SFD; beyond the paper, FID-style): ``(N, D)`` float64.

    Same inputs as Sem (Eq. 10): the binary target-object map O of ``segs[i]`` inside ``boxes[i]``
    for class ``labels[i]`` plus the box mask M, prepared by ``box-window-v1``. ``classifier``: a
    loaded classifier (default: the shipped weights). ``D`` is 1280 for the shipped EfficientNet-B0.
    """
    model = _resolve_classifier(classifier, device)
    return classifier_features(classifier_inputs(segs, boxes, labels), model, batch_size)


# ------------------------------------------------------------------------------ digests
def object_digest(seg: Any, box: Any, label: int) -> int:
    """Digest of what the classifier sees for one sample (O inside the box, Eq. 10), as a 256-bit int.

    sha256 over the crop's size and its bits (``object_crop``): the same object in another image,
    position or class id has the same digest.
    """
    from ..engine.builtin import crop_digest
    from ..labelmap.target_object import object_crop

    return crop_digest(object_crop(seg, box, label))


def _set_digest(digest_sum: int, n: int) -> str:
    """Order-independent digest of a multiset of objects: sha256 of (count, sum of digests mod 2^256)."""
    return hashlib.sha256(f"sfd-objects|{int(n)}|{int(digest_sum) % _DIGEST_MOD:064x}".encode()).hexdigest()


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


def _weights_sha(classifier) -> Optional[str]:
    return (getattr(classifier, "info", None) or {}).get("sha256")


def shape_stats(segs: Sequence, boxes: Sequence, labels: Sequence[int], classifier=None, batch_size: int = 64,
                device: Optional[str] = None) -> ShapeStats:
    """Gaussian fit (mean, unbiased covariance) of N objects' features, for SFD (beyond the paper, FID-style).

    The objects are defined like Sem's inputs (Eq. 10). Save it with :meth:`ShapeStats.save` and pass
    it (or its path) as ``gt_stats`` to :func:`shape_frechet_distance` to skip the ground truth.
    """
    model = _resolve_classifier(classifier, device)
    feats = shape_features_batch(segs, boxes, labels, classifier=model, batch_size=batch_size)
    mu, sigma = _mean_cov(feats, "ground-truth objects")
    return ShapeStats(mu, sigma, feats.shape[0], str(_weights_sha(model)), PREPROCESSING_VERSION,
                      objects_digest(segs, boxes, labels))


def _mean_cov(features: np.ndarray, what: str) -> Tuple[np.ndarray, np.ndarray]:
    if features.shape[0] < 2:
        mean_cov_from_sums(features.shape[0], features.sum(0), features.T @ features, what)  # raises
    mu = features.mean(axis=0)
    cov = np.cov(features, rowvar=False)
    return mu, 0.5 * (cov + cov.T)


def shape_frechet_distance(preds: Sequence, gts: Sequence, boxes: Sequence, labels: Sequence[int], classifier=None,
                           batch_size: int = 64, device: Optional[str] = None, gt_stats: Any = None) -> float:
    """Shape Frechet Distance between predicted and ground-truth objects (beyond the paper; FID-style).

    The Frechet distance (:func:`frechet_distance`) between Gaussian fits of the classifier's
    penultimate features (:func:`shape_features_batch`) of the predicted objects ``(preds[i],
    boxes[i], labels[i])`` and of the ground-truth objects ``(gts[i], boxes[i], labels[i])``: the
    same O and M as Sem (Eq. 10), compared as distributions rather than pair by pair. Lower is
    better; 0.0 when both sets give identical features.

    ``gt_stats``: None, a :class:`ShapeStats`, or a ``.npz`` path. A path that exists is loaded and
    verified against the weights sha256, the preprocessing version and these ground-truth objects
    (mismatch: :class:`InputError`), and the ground truth is then not classified; a path that does not
    exist is written. Needs at least 2 samples; meaningful with hundreds or more (biased upward at
    small N; numbers from different weights are not comparable).
    """
    n = len(preds)
    if not (n == len(gts) == len(boxes) == len(labels)):
        raise InputError(f"preds, gts, boxes, labels differ in length: {n}, {len(gts)}, {len(boxes)}, {len(labels)}")
    model = _resolve_classifier(classifier, device)
    stats = gt_stats if isinstance(gt_stats, ShapeStats) else None
    acc = SFDAccumulator(model, batch_size=batch_size, gt_stats=None if stats is not None else gt_stats)
    if stats is not None:
        stats.check("(ShapeStats)", _weights_sha(model), PREPROCESSING_VERSION)
        acc.use_stats(stats)
    acc.update(preds, gts, boxes, labels)
    return acc.compute()


def objects_digest(segs: Sequence, boxes: Sequence, labels: Sequence[int]) -> str:
    """Order-independent digest of N objects (what :class:`ShapeStats` is keyed by)."""
    total = sum(object_digest(s, b, l) for s, b, l in zip(segs, boxes, labels)) % _DIGEST_MOD
    return _set_digest(total, len(segs))



# the accumulator over the engine (registry entry ``sfd`` names it here, as before)
from .sfd_accumulator import SFDAccumulator  # noqa: E402,F401
