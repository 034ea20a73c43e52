"""Classifier weights: the shipped registry, verified loading, and the Hugging Face Hub path.

Weights are safetensors files whose header metadata records the classifier config, the preprocessing
version and the class list (timm's ``pretrained_cfg`` idea). Loading always checks the file's sha256
against the expected value when one is known (registry entry or ``sha256=``), refuses a preprocessing
version this package does not implement, and loads the state dict strictly. There is never a silent
fallback to other weights.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from ..errors import WeightsError
from .classes import COCO_CLASSES

META_CONFIG = "sem_metric.config"
META_PREPROCESSING = "sem_metric.preprocessing"
META_INPUT_SIZE = "sem_metric.input_size"
META_CLASSES = "sem_metric.classes"


@dataclass(frozen=True)
class HubWeights:
    """A weights file on the Hugging Face Hub, fetched with ``huggingface_hub.hf_hub_download``.

    Also written as the string ``hf://<owner>/<repo>/<filename>[@<revision>]``. ``sha256`` pins the exact
    file; leave it ``None`` only for your own experiments (the hash is still recorded in results).
    """

    repo_id: str
    filename: str
    revision: str | None = None
    sha256: str | None = None

    @classmethod
    def parse(cls, ref: str) -> "HubWeights":
        body = ref[len("hf://"):]
        body, _, revision = body.partition("@")
        parts = body.split("/")
        if len(parts) < 3 or not all(parts):
            raise WeightsError(
                f"bad Hub reference {ref!r}: expected hf://<owner>/<repo>/<filename>[@<revision>], "
                "e.g. hf://my-lab/sem-classifier/model.safetensors@v1"
            )
        return cls("/".join(parts[:2]), "/".join(parts[2:]), revision or None)


@dataclass(frozen=True)
class ShippedWeights:
    """A registry entry for weights that ship inside the package (``weights/`` in the repo)."""

    name: str
    filename: str
    sha256: str
    description: str


# name -> entry. Add a new entry (never edit a published one) when weights change: Sem values change.
SHIPPED_WEIGHTS: dict[str, ShippedWeights] = {
    "sem-effb0-v1": ShippedWeights(
        name="sem-effb0-v1",
        filename="sem_effb0_v1.safetensors",
        sha256="ad03a88d3d71928820bbad43ffa7fde1f8e9885dfb9b75662925898118a151f7",
        description="EfficientNet-B0 + gated stem, box-window-v1 @ 96 px, trained on CPU on the open "
                    "COCO/VOC/animal/MPEG-7 shapes (see weights/MODEL_CARD.md)",
    ),
}
DEFAULT_WEIGHTS = "sem-effb0-v1"

WeightsRef = Union[str, os.PathLike, HubWeights, None]


def list_weights() -> dict[str, str]:
    """Names of the shipped Sem classifier weights (F of Eq. 10) with their sha256, default first.

    Like ``torch.hub.list``: each name can be passed as ``weights=`` / ``--weights``; the sha256 is what
    every Sem result records, so it identifies which numbers are comparable.
    """
    names = [DEFAULT_WEIGHTS] + sorted(n for n in SHIPPED_WEIGHTS if n != DEFAULT_WEIGHTS)
    return {n: SHIPPED_WEIGHTS[n].sha256 for n in names}


def sha256_file(path: str | os.PathLike) -> str:
    """sha256 hex digest of a file, read in 1 MiB chunks: the package's one file-hash helper (weights,
    boxes.json, reference checkpoints)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def shipped_weights_path(filename: str) -> Path:
    """Where a shipped weights file lives: inside the installed wheel, or ``weights/`` of a checkout."""
    package = Path(__file__).resolve().parents[1]  # sem_metric/
    for candidate in (package / "_weights" / filename, package.parent / "weights" / filename):
        if candidate.is_file():
            return candidate
    raise WeightsError(
        f"shipped weights file {filename!r} not found (looked in {package / '_weights'} and "
        f"{package.parent / 'weights'}); reinstall sem-metric, or pass weights=<path or hf://...>"
    )


def _fetch_from_hub(ref: HubWeights, cache_dir: str | os.PathLike | None) -> Path:
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as e:  # pragma: no cover - it is a declared dependency
        raise WeightsError("huggingface_hub is required for hf:// weights: pip install huggingface_hub") from e
    try:
        return Path(hf_hub_download(repo_id=ref.repo_id, filename=ref.filename, revision=ref.revision,
                                    cache_dir=cache_dir, library_name="sem-metric"))
    except Exception as e:  # every failure of the Hub client (offline, 404, auth) becomes one clear error
        where = f"hf://{ref.repo_id}/{ref.filename}" + (f"@{ref.revision}" if ref.revision else "")
        raise WeightsError(
            f"could not get classifier weights {where} from the Hugging Face Hub or its cache "
            f"({type(e).__name__}: {e}). Without network, pre-populate the cache (e.g. `hf download "
            f"{ref.repo_id} {ref.filename}` on a connected machine, then copy HF_HOME) and set "
            "HF_HUB_OFFLINE=1, or pass a local file path instead."
        ) from e


def resolve_weights(weights: WeightsRef = None, sha256: str | None = None,
                    cache_dir: str | os.PathLike | None = None) -> tuple[Path, dict[str, Any]]:
    """Turn a weights reference into a local file and its provenance record (no hashing yet).

    ``weights``: ``None`` (the default shipped weights), a registry name (see ``SHIPPED_WEIGHTS``), a
    local path, ``"hf://owner/repo/file[@rev]"`` or a :class:`HubWeights`.
    """
    if weights is None:
        weights = DEFAULT_WEIGHTS
    if isinstance(weights, str) and weights.startswith("hf://"):
        weights = HubWeights.parse(weights)
    if isinstance(weights, HubWeights):
        path = _fetch_from_hub(weights, cache_dir)
        source = f"hf://{weights.repo_id}/{weights.filename}" + (f"@{weights.revision}" if weights.revision else "")
        return path, {"name": Path(weights.filename).stem, "source": source,
                      "expected_sha256": sha256 or weights.sha256}
    if isinstance(weights, str) and weights in SHIPPED_WEIGHTS:
        entry = SHIPPED_WEIGHTS[weights]
        return shipped_weights_path(entry.filename), {"name": entry.name, "source": "shipped",
                                                      "expected_sha256": sha256 or entry.sha256}
    path = Path(weights)
    if not path.is_file():
        raise WeightsError(
            f"classifier weights {str(weights)!r} are neither a shipped name ({', '.join(SHIPPED_WEIGHTS)}), "
            "an existing file, nor an hf://owner/repo/file reference"
        )
    return path, {"name": path.stem, "source": str(path.resolve()), "expected_sha256": sha256}


def read_weights_file(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """Load a safetensors file's tensors and header metadata (no pickle is ever involved)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
        return load_file(str(path)), metadata
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{path}: not a readable safetensors weights file ({e})") from e


def load_classifier(weights: WeightsRef = None, device: str | None = None, sha256: str | None = None,
                    cache_dir: str | os.PathLike | None = None, compile: bool = False):
    """Load the Sem shape classifier F (Sec. 3.3, Eq. 10) in eval mode, verified and strict.

    ``weights``: ``None`` = shipped default, a registry name, a local ``.safetensors`` path,
    ``"hf://owner/repo/file[@revision]"`` or :class:`HubWeights` (uses ``huggingface_hub``'s cache and
    honours ``HF_HUB_OFFLINE``). ``sha256`` pins the expected file hash (mismatch -> :class:`WeightsError`).
    ``device``: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; ``None``/``"auto"`` = CUDA when available, else CPU.
    The returned module has ``.info`` with the name, sha256, source, config and preprocessing version.
    ``compile=True`` applies :func:`sem_metric.sem.classifier.compile_classifier` (opt-in ``torch.compile``:
    faster large runs after a one-time compilation; Sem within 1e-4 of eager).
    """
    import torch

    from .classifier import ClassifierConfig, ShapeClassifier
    from .preprocess import INPUT_SIZE, PREPROCESSING_VERSION

    path, info = resolve_weights(weights, sha256, cache_dir)
    digest = sha256_file(path)
    expected = info.pop("expected_sha256")
    if expected is not None and digest != expected.lower():
        raise WeightsError(
            f"sha256 mismatch for classifier weights {path}: expected {expected}, got {digest}. The file is "
            "corrupted or not the weights you asked for; re-download / reinstall, or pass the intended file."
        )
    state, meta = read_weights_file(path)
    try:
        config = ClassifierConfig.from_dict(json.loads(meta[META_CONFIG]))
        preprocessing = meta[META_PREPROCESSING]
        input_size = int(meta[META_INPUT_SIZE])
        classes = json.loads(meta[META_CLASSES])
    except (KeyError, ValueError, TypeError) as e:
        raise WeightsError(f"{path}: missing or invalid sem-metric metadata in the safetensors header ({e}); "
                           "save weights with sem_metric.sem.weights.save_classifier_weights") from e
    if preprocessing != PREPROCESSING_VERSION or input_size != INPUT_SIZE:
        raise WeightsError(
            f"{path}: weights were trained for preprocessing {preprocessing!r} at {input_size} px, but this "
            f"sem-metric implements {PREPROCESSING_VERSION!r} at {INPUT_SIZE} px; use a matching sem-metric version"
        )
    if list(classes) != list(COCO_CLASSES):
        raise WeightsError(f"{path}: class list in the weights differs from sem_metric.COCO_CLASSES")
    model = ShapeClassifier(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise WeightsError(f"{path}: weights do not match the {config.arch} classifier ({e})") from e
    model.info = {**info, "sha256": digest, "arch": config.arch, "config": config.to_dict(),
                  "preprocessing": preprocessing, "input_size": input_size}
    model.eval()
    # channels_last: ~1.5x faster EfficientNet inference on CPU (oneDNN); numbers are deterministic either way
    model = model.to(resolve_device(device), memory_format=torch.channels_last)
    if compile:
        from .classifier import compile_classifier

        model = compile_classifier(model)
    return model


@functools.lru_cache(maxsize=4)
def default_classifier(device: str | None = None):
    """The shipped default classifier, loaded once per process and device (used when none is passed)."""
    return load_classifier(None, device=device)


def resolve_device(device: str | None) -> str:
    """``None``/``"auto"`` -> ``"cuda"`` if available else ``"cpu"``; other values are checked and returned."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise WeightsError(f"device {device!r} requested but CUDA is not available here; use --device cpu")
    try:
        torch.device(device)
    except RuntimeError as e:
        raise WeightsError(f"unknown device {device!r}: {e}") from e
    return str(device)


def save_classifier_weights(model, path: str | os.PathLike, extra_metadata: dict[str, str] | None = None) -> str:
    """Write F's state dict as safetensors with the metadata :func:`load_classifier` requires; returns sha256."""
    from safetensors.torch import save_file

    from .preprocess import INPUT_SIZE, PREPROCESSING_VERSION

    metadata = {
        META_CONFIG: json.dumps(model.config.to_dict(), sort_keys=True),
        META_PREPROCESSING: PREPROCESSING_VERSION,
        META_INPUT_SIZE: str(INPUT_SIZE),
        META_CLASSES: json.dumps(list(COCO_CLASSES)),
        **(extra_metadata or {}),
    }
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=metadata)
    return sha256_file(path)
