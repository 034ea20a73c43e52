"""Denoise Activation (paper Sec. 3.2, Eqs. 2-9), batched torch code usable on any generator's logits.

Shapes: logits / probabilities ``(N, K, H, W)``, label maps ``(N, H, W)`` long, masks ``(N, H, W)``
0/1, target labels ``(N,)`` long, noise filters f^N ``(N, K)`` float 0/1. :func:`noise_filter`,
:func:`fuse`, :func:`inpaint` and :func:`da_test` also take one unbatched sample (``(H, W)`` maps,
``(K, H, W)`` probabilities, a ``(K,)`` filter) and then return an unbatched result.

* :func:`noise_filter` - f^N of Eq. 4 (ring of Eq. 3 + target label); a thin wrapper over the core's
  single implementation :func:`sem_metric.labelmap.context_torch.context_filter`.
* :class:`DenoiseActivation` / :func:`denoise_activation` - Eqs. 5-6, P^d = Softmax(LeakyReLU(P) * f^N)
  + Softmax(P), for training (Eq. 7); :func:`da_log_prob` = log(P^d / 2), the log-likelihood used in
  the reconstruction loss of this repository (P^d sums to 2 per pixel, P^d / 2 is a distribution).
* :func:`fuse` - Eq. 2 / Eq. 8: S^ = S~ * M + S^u * (1 - M).
* :func:`da_test` - Eq. 9: argmax(P * f^N) inside the box, S^u outside.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import InputError
from ..labelmap.context_torch import context_filter


def noise_filter(seg_u, mask, label, num_classes: int) -> torch.Tensor:
    """f^N of Eq. 4: ``min(sum_ij P^u * M^1 + onehot(l^t), 1)`` as an ``(N, K)`` float 0/1 tensor.

    M^1 is the one-pixel ring of Eq. 3 (3x3 dilation of M minus M, clipped at the image border), so
    f^N marks every class present on the ring of the box plus the target label. Since the ring lies
    outside the box, S^u and S^c agree there. Accepts unbatched ``(H, W)`` maps with a scalar label
    (returns ``(K,)``). Delegates to :func:`sem_metric.labelmap.context_torch.context_filter`, the one implementation.
    """
    seg_u = torch.as_tensor(seg_u)
    mask = torch.as_tensor(mask)
    label = torch.as_tensor(label)
    single = seg_u.dim() == 2
    if single:
        seg_u, mask, label = seg_u[None], mask[None], label.reshape(1)
    out = context_filter(seg_u.long(), mask, label.long().reshape(-1), int(num_classes))
    return out[0] if single else out


def _check(logits: torch.Tensor, f_n: torch.Tensor) -> torch.Tensor:
    if logits.dim() != 4:
        raise InputError(f"DA expects logits of shape (N, K, H, W), got {tuple(logits.shape)}")
    f_n = torch.as_tensor(f_n, device=logits.device)
    if f_n.dim() == 1:
        f_n = f_n[None].expand(logits.shape[0], -1)
    if f_n.shape != logits.shape[:2]:
        raise InputError(f"DA: f^N has shape {tuple(f_n.shape)}, expected (N, K) = "
                         f"{tuple(logits.shape[:2])}; build it with noise_filter(seg_u, mask, label, K)")
    return f_n.to(logits.dtype)[:, :, None, None]


def filtered_logits(logits: torch.Tensor, f_n: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
    """P^f of Eq. 5: LeakyReLU(P) * f^N (classes outside f^N get logit 0, before the Softmax of
    Eq. 6)."""
    return F.leaky_relu(logits, negative_slope) * _check(logits, f_n)


def denoise_activation(logits: torch.Tensor, f_n: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
    """P^d of Eqs. 5-6: Softmax(LeakyReLU(P) * f^N) + Softmax(P), softmax over the class axis.

    Each pixel of the result sums to 2. Note on Eq. 5: a class outside f^N gets a filtered logit of 0
    (not -inf), so in the first Softmax it weighs exp(0) - less than any allowed class with a positive
    logit, and less than it would itself weigh if its own logit were positive.
    """
    return torch.softmax(filtered_logits(logits, f_n, negative_slope), 1) + torch.softmax(logits, 1)


def da_log_prob(logits: torch.Tensor, f_n: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
    """log(P^d / 2) of Eqs. 5-6, computed stably as logaddexp(log_softmax(P^f), log_softmax(P)) - log 2.

    P^d / 2 is a proper distribution over the K classes, so NLL on it is the reconstruction loss
    L_rec(P^d, P^c) of Eq. 7 used by :mod:`sem_metric.reference.twosm`.
    """
    lf = torch.log_softmax(filtered_logits(logits, f_n, negative_slope), 1)
    lp = torch.log_softmax(logits, 1)
    return torch.logaddexp(lf, lp) - math.log(2.0)


class DenoiseActivation(nn.Module):
    """Denoise Activation for training (Sec. 3.2, Eqs. 5-6) as a module, usable on any generator's
    logits: ``forward(logits (N,K,H,W), f_n (N,K)) -> P^d (N,K,H,W)`` (each pixel sums to 2);
    :meth:`log_prob` returns log(P^d / 2) for an NLL loss (Eq. 7). No parameters."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, logits: torch.Tensor, f_n: torch.Tensor) -> torch.Tensor:
        """P^d = Softmax(LeakyReLU(P) * f^N) + Softmax(P) (Eqs. 5-6)."""
        return denoise_activation(logits, f_n, self.negative_slope)

    def log_prob(self, logits: torch.Tensor, f_n: torch.Tensor) -> torch.Tensor:
        """log(P^d / 2) (Eqs. 5-6), the log-likelihood used in L_rec of Eq. 7."""
        return da_log_prob(logits, f_n, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


def _maps(seg_u, mask, ref: torch.Tensor):
    seg_u = torch.as_tensor(seg_u, device=ref.device).long()
    mask = torch.as_tensor(mask, device=ref.device)
    if seg_u.shape != mask.shape:
        raise InputError(f"S^u shape {tuple(seg_u.shape)} != M shape {tuple(mask.shape)}")
    return seg_u, mask.bool()


def fuse(s_tilde, seg_u, mask) -> torch.Tensor:
    """Eq. 2 (and Eq. 8 for S~^d): S^ = S~ * M + S^u * (1 - M): the generated map inside the box, the
    incomplete map S^u outside it. All maps (N, H, W) or (H, W); returns long."""
    s_tilde = torch.as_tensor(s_tilde).long()
    seg_u, m = _maps(seg_u, mask, s_tilde)
    if s_tilde.shape != seg_u.shape:
        raise InputError(f"S~ shape {tuple(s_tilde.shape)} != S^u shape {tuple(seg_u.shape)}")
    return torch.where(m, s_tilde, seg_u)


def _batch(name: str, probs, seg_u, mask, f_n=None):
    """``(probs, seg_u, mask, f_n, single)`` with a batch axis: one sample given as ``(K, H, W)``
    probabilities with ``(H, W)`` maps (and a ``(K,)`` f^N) gets one; a batch must be ``(N, K, H, W)``
    with ``(N, H, W)`` maps."""
    probs = torch.as_tensor(probs)
    if probs.dim() == 3:
        seg_u, mask = torch.as_tensor(seg_u), torch.as_tensor(mask)
        if seg_u.dim() != 2 or mask.dim() != 2:
            raise InputError(f"{name}: one sample has probabilities (K, H, W) = {tuple(probs.shape)} and maps "
                             f"(H, W), got S^u {tuple(seg_u.shape)} and M {tuple(mask.shape)}")
        f_n = None if f_n is None else torch.as_tensor(f_n).reshape(1, -1)
        return probs[None], seg_u[None], mask[None], f_n, True
    if probs.dim() != 4:
        raise InputError(f"{name} expects probabilities (N, K, H, W) with maps (N, H, W), or one sample: "
                         f"(K, H, W) with maps (H, W); got probabilities of shape {tuple(probs.shape)}")
    return probs, seg_u, mask, f_n, False


def inpaint(probs: torch.Tensor, seg_u, mask) -> torch.Tensor:
    """Eq. 2 / Eq. 8 from probabilities: S~ = argmax P (or argmax P^d), fused with S^u by :func:`fuse`.

    ``probs`` (N, K, H, W) with maps (N, H, W), or one sample: (K, H, W) with (H, W) maps."""
    probs, seg_u, mask, _, single = _batch("inpaint", probs, seg_u, mask)
    out = fuse(probs.argmax(1), seg_u, mask)
    return out[0] if single else out


def da_test(probs: torch.Tensor, seg_u, mask, f_n: torch.Tensor) -> torch.Tensor:
    """DA at test time, Eq. 9: S^d = argmax(P * f^N) * M + S^u * (1 - M).

    ``probs`` (N, K, H, W) with maps (N, H, W) and f^N (N, K), or one sample: (K, H, W) with (H, W)
    maps and f^N (K,) (as :func:`noise_filter` returns it for an (H, W) map). ``probs`` must be
    non-negative (Softmax(P) of a plain generator, or P^d for TwoSM+DA(Both)); do not pass raw logits
    (multiplying a negative logit by 0 would raise it). Ties with a filtered class (an allowed class
    whose probability underflowed to 0) are resolved in favour of the allowed class, so the result
    inside the box is always a class of f^N.
    """
    probs, seg_u, mask, f_n, single = _batch("da_test", probs, seg_u, mask, f_n)
    f = _check(probs, f_n)
    scores = torch.where(f > 0, probs, torch.full_like(probs, -1.0))  # = P * f^N with ties broken
    out = fuse(scores.argmax(1), seg_u, mask)
    return out[0] if single else out
