"""Weights loading: sha256 verification, strict loading, metadata checks, the offline Hub path."""
import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from sem_metric.errors import WeightsError
from sem_metric.sem.weights import HubWeights, load_classifier, sha256_file


def test_local_path_roundtrip_records_provenance(random_weights_path):
    m = load_classifier(random_weights_path, device="cpu")
    assert m.info["sha256"] == sha256_file(random_weights_path)
    assert m.info["preprocessing"] == "box-window-v1"
    assert m.info["arch"] == "efficientnet_b0"
    assert not m.training
    assert m(torch.zeros(1, 2, 96, 96)).shape == (1, 80)


def test_sha256_mismatch_is_an_error(random_weights_path):
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        load_classifier(random_weights_path, device="cpu", sha256="0" * 64)
    good = sha256_file(random_weights_path)
    assert load_classifier(random_weights_path, device="cpu", sha256=good).info["sha256"] == good


def test_corrupted_and_missing_files(tmp_path, random_weights_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsError, match="not a readable safetensors"):
        load_classifier(bad, device="cpu")
    with pytest.raises(WeightsError, match="neither a shipped name"):
        load_classifier(tmp_path / "nope.safetensors", device="cpu")


def _rewrite(src, dst, mutate_state=None, mutate_meta=None):
    from safetensors import safe_open

    with safe_open(str(src), "pt") as f:
        meta = dict(f.metadata())
    state = load_file(str(src))
    if mutate_state:
        mutate_state(state)
    if mutate_meta:
        mutate_meta(meta)
    save_file(state, str(dst), metadata=meta)
    return dst


@pytest.mark.parametrize("mutate_state, mutate_meta, match", [
    (lambda s: s.__setitem__("net.unexpected", torch.zeros(1)), None, "do not match"),        # strict: extra key
    (lambda s: s.pop("net.classifier.weight"), None, "do not match"),                          # strict: missing key
    (None, lambda m: m.__setitem__("sem_metric.preprocessing", "whole-image-v0"), "whole-image-v0"),
    (None, lambda m: m.__setitem__("sem_metric.classes", json.dumps(["a"] * 80)), "class list"),
    (None, lambda m: m.pop("sem_metric.config"), "metadata"),
])
def test_mismatching_weights_are_refused(tmp_path, random_weights_path, mutate_state, mutate_meta, match):
    bad = _rewrite(random_weights_path, tmp_path / "bad.safetensors", mutate_state, mutate_meta)
    with pytest.raises(WeightsError, match=match):
        load_classifier(bad, device="cpu")


def test_hub_reference_parsing():
    ref = HubWeights.parse("hf://my-lab/sem-cls/sub/model.safetensors@v2")
    assert (ref.repo_id, ref.filename, ref.revision) == ("my-lab/sem-cls", "sub/model.safetensors", "v2")
    assert HubWeights.parse("hf://a/b/c.safetensors").revision is None
    with pytest.raises(WeightsError, match="bad Hub reference"):
        HubWeights.parse("hf://only-repo")


@pytest.fixture
def offline_hub(monkeypatch, tmp_path, random_weights_path):
    """A pre-populated huggingface_hub cache (the layout `hf download` writes) and offline mode."""
    from huggingface_hub import constants

    commit = "a" * 40
    repo = tmp_path / "hub" / "models--my-lab--sem-cls"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    shutil.copy(random_weights_path, snap / "model.safetensors")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hub"


def test_hub_path_offline_from_prepopulated_cache(offline_hub, random_weights_path):
    m = load_classifier("hf://my-lab/sem-cls/model.safetensors", device="cpu", cache_dir=offline_hub)
    assert m.info["source"] == "hf://my-lab/sem-cls/model.safetensors"
    assert m.info["sha256"] == sha256_file(random_weights_path)
    pinned = HubWeights("my-lab/sem-cls", "model.safetensors", "main", sha256=sha256_file(random_weights_path))
    assert load_classifier(pinned, device="cpu", cache_dir=offline_hub).info["sha256"] == pinned.sha256


def test_hub_miss_or_hash_mismatch_never_falls_back(offline_hub):
    with pytest.raises(WeightsError, match="Hugging Face Hub"):
        load_classifier("hf://my-lab/other-repo/model.safetensors", device="cpu", cache_dir=offline_hub)
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        load_classifier(HubWeights("my-lab/sem-cls", "model.safetensors", sha256="f" * 64), device="cpu",
                        cache_dir=offline_hub)


def test_cuda_requested_without_cuda_is_clear(random_weights_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(WeightsError, match="CUDA is not available"):
        load_classifier(random_weights_path, device="cuda")


# ------------------------------------------------------------------------------ issue 9: weights you cannot verify
def _tampered_copy(src, dst):
    """``src`` with one byte of tensor data changed (the header, metadata included, stays identical)."""
    data = bytearray(src.read_bytes())
    header_end = 8 + int.from_bytes(data[:8], "little")
    data[header_end + 100] ^= 0xFF
    dst.write_bytes(bytes(data))
    return dst


def test_copy_of_shipped_weights_is_checked_against_the_registry(tmp_path, one_torch_thread):
    from sem_metric.sem.weights import DEFAULT_WEIGHTS, SHIPPED_WEIGHTS, shipped_weights_path

    entry = SHIPPED_WEIGHTS[DEFAULT_WEIGHTS]
    original = shipped_weights_path(entry.filename)
    exact = tmp_path / "exact" / entry.filename
    exact.parent.mkdir()
    shutil.copy(original, exact)
    assert load_classifier(exact, device="cpu").info["sha256"] == entry.sha256  # an exact copy is fine
    tampered = _tampered_copy(original, tmp_path / entry.filename)
    with pytest.raises(WeightsError, match=f"presents itself as the shipped classifier weights '{DEFAULT_WEIGHTS}'"):
        load_classifier(tampered, device="cpu")


def test_metadata_naming_a_shipped_entry_is_checked(tmp_path, random_weights_path):
    from sem_metric.sem.weights import DEFAULT_WEIGHTS, META_NAME

    claims = _rewrite(random_weights_path, tmp_path / "mine.safetensors",
                      mutate_meta=lambda m: m.__setitem__(META_NAME, DEFAULT_WEIGHTS))
    with pytest.raises(WeightsError, match="by its metadata"):
        load_classifier(claims, device="cpu")
    own = _rewrite(random_weights_path, tmp_path / "own.safetensors",
                   mutate_meta=lambda m: m.__setitem__(META_NAME, "my-lab-v3"))
    assert load_classifier(own, device="cpu").info["name"] == "my-lab-v3"


def test_sha256_pin_is_checked_before_tensors_are_used(tmp_path, random_weights_path, monkeypatch):
    import sem_metric.sem.weights as W

    def must_not_run(*a, **k):
        raise AssertionError("tensors were read before the sha256 check")

    monkeypatch.setattr(W, "read_weights_file", must_not_run)
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        load_classifier(random_weights_path, device="cpu", sha256="0" * 64)
    with pytest.raises(WeightsError, match="64 characters"):
        load_classifier(random_weights_path, device="cpu", sha256="abc")


def test_saved_weights_are_a_pure_function_of_tensors_and_metadata(tmp_path):
    """safetensors orders header metadata by a randomly seeded hash map; the package's files do not."""
    import torch

    from sem_metric.sem.classifier import build_shape_classifier
    from sem_metric.sem.weights import load_classifier, safetensors_bytes, save_classifier_weights

    torch.manual_seed(0)
    model = build_shape_classifier()
    shas = {save_classifier_weights(model, tmp_path / f"w{i}.safetensors", {"k1": "a", "k2": "b", "k3": "c"})
            for i in range(3)}
    assert len(shas) == 1
    assert (tmp_path / "w0.safetensors").read_bytes() == (tmp_path / "w2.safetensors").read_bytes()
    assert load_classifier(tmp_path / "w1.safetensors", device="cpu").info["sha256"] == shas.pop()
    data = safetensors_bytes({"x": torch.arange(3.0)}, {"b": "2", "a": "1"})
    n = int.from_bytes(data[:8], "little")
    assert n % 8 == 0 and data[8:8 + n].rstrip().decode().startswith('{"__metadata__":{"a":"1","b":"2"}')
