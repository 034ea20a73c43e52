"""The one device resolver of sem-metric: Sem inference (Eq. 10), SFD, the torchrun / --processes ranks
and classifier training all turn ``--device`` into a torch device here."""
from __future__ import annotations

from typing import Optional

from .errors import DeviceError

__all__ = ["resolve_device"]


def resolve_device(device: Optional[str] = None, local_rank: Optional[int] = None) -> str:
    """``None``/``"auto"`` -> ``"cuda"`` when a GPU is visible, else ``"cpu"``; other values are checked.

    With ``local_rank`` (one process per GPU: torchrun, ``sem-score --processes``, DDP training) a
    plain ``"cuda"`` (also from ``"auto"``) becomes ``"cuda:<local_rank>"``, refused when that GPU does
    not exist. Errors are :class:`sem_metric.errors.DeviceError` (an ``InputError``) saying how to fix it.
    """
    import torch

    text = str(device or "auto").strip().lower()
    if text == "auto":
        text = "cuda" if torch.cuda.is_available() else "cpu"
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device {text!r} requested but CUDA is not available here; use --device cpu")
        if text == "cuda" and local_rank is not None:
            n = torch.cuda.device_count()
            if int(local_rank) >= n:
                raise DeviceError(f"LOCAL_RANK {local_rank} but only {n} GPU(s) visible: start at most one process "
                                  "per GPU (torchrun --nproc-per-node / --processes <= number of GPUs)")
            return f"cuda:{int(local_rank)}"
    try:
        torch.device(text)
    except RuntimeError as e:
        raise DeviceError(f"unknown device {device!r}: use cpu, cuda, cuda:N or auto ({e})") from None
    return text
