"""Ground-truth probability cache (sem_metric.sem_cache): keys, round trip, invalidation, atomic writes."""
import os

import numpy as np
import pytest

from sem_metric.errors import InputError
from sem_metric.sem.cache import CACHE_FORMAT, GTProbabilityCache, map_digest, sample_key

SHA_A = "a" * 64
SHA_B = "b" * 64


def probs(n, seed=0):
    p = np.random.default_rng(seed).random((n, 80))
    return p / p.sum(1, keepdims=True)


def open_cache(path, sha=SHA_A, prep="box-window-v1", warnings=None):
    return GTProbabilityCache.open(path, sha, prep, "0.1.0",
                                   warn=(warnings.append if warnings is not None else None))


def test_map_digest_is_content_based():
    a = np.arange(12).reshape(3, 4)
    assert map_digest(a) == map_digest(a.astype(np.uint8)) == map_digest(np.asfortranarray(a))
    assert map_digest(a) != map_digest(a.reshape(4, 3))
    b = a.copy()
    b[0, 0] = 99
    assert map_digest(a) != map_digest(b)


def test_sample_key_depends_on_every_part():
    d = map_digest(np.zeros((4, 4), dtype=np.int64))
    k = sample_key(d, (0, 0, 2, 2), 3)
    assert k == sample_key(d, [0, 0, 2, 2], np.int64(3))
    assert len({k, sample_key(d, (0, 0, 2, 3), 3), sample_key(d, (0, 0, 2, 2), 4),
                sample_key(map_digest(np.ones((4, 4), dtype=np.int64)), (0, 0, 2, 2), 3)}) == 4


def test_round_trip_and_file_layout(tmp_path):
    path = tmp_path / "gt.npz"
    c = open_cache(path)
    assert c.status == "new" and len(c) == 0
    keys = ["k2", "k1", "k3"]
    got, missing = c.lookup(keys)
    assert missing == [0, 1, 2] and np.isnan(got).all()
    p = probs(3)
    c.put(keys, p)
    assert c.save() is True
    assert c.save() is False  # nothing changed since
    with np.load(path, allow_pickle=False) as data:
        assert data["keys"].dtype.kind == "U" and list(data["keys"]) == ["k1", "k2", "k3"]
        assert data["probs"].dtype == np.float64 and data["probs"].shape == (3, 80)
        for name, value in (("weights_sha256", SHA_A), ("preprocessing_version", "box-window-v1"),
                            ("package_version", "0.1.0"), ("format", CACHE_FORMAT)):
            assert data[name].shape == () and str(data[name][()]) == value
    assert [f for f in os.listdir(tmp_path)] == ["gt.npz"]  # no temporary file left behind

    c2 = open_cache(path)
    assert c2.status == "loaded" and len(c2) == 3
    got, missing = c2.lookup(["k1", "k4", "k3"])
    assert missing == [1]
    np.testing.assert_array_equal(got[0], p[1])
    np.testing.assert_array_equal(got[2], p[2])
    assert (c2.hits, c2.misses) == (2, 1)
    assert c2.stats() == {"path": str(path), "status": "loaded", "hits": 2, "misses": 1, "entries": 3}


def test_update_keeps_old_entries(tmp_path):
    path = tmp_path / "gt.npz"
    c = open_cache(path)
    c.put(["a"], probs(1, 1))
    c.save()
    c = open_cache(path)
    c.put(["b"], probs(1, 2))
    c.save()
    assert len(open_cache(path)) == 2


@pytest.mark.parametrize("sha, prep", [(SHA_B, "box-window-v1"), (SHA_A, "other-v9")])
def test_other_classifier_is_ignored_and_rebuilt(tmp_path, sha, prep):
    path = tmp_path / "gt.npz"
    c = open_cache(path)
    c.put(["a", "b"], probs(2))
    c.save()
    warnings = []
    c2 = open_cache(path, sha=sha, prep=prep, warnings=warnings)
    assert c2.status == "rebuilt" and len(c2) == 0
    assert len(warnings) == 1 and "different classifier" in warnings[0] and "rebuilding" in warnings[0]
    assert c2.lookup(["a"])[1] == [0]  # never mixed
    c2.put(["c"], probs(1))
    c2.save()
    with np.load(path, allow_pickle=False) as data:
        assert list(data["keys"]) == ["c"]
        assert str(data["weights_sha256"][()]) == sha
        assert str(data["preprocessing_version"][()]) == prep


def test_incompatible_file_is_replaced_even_without_new_entries(tmp_path):
    path = tmp_path / "gt.npz"
    c = open_cache(path)
    c.put(["a"], probs(1))
    c.save()
    c2 = open_cache(path, sha=SHA_B, warnings=[])
    assert c2.save() is True
    assert open_cache(path, sha=SHA_B).status == "loaded"


def test_corrupt_or_foreign_file_warns_and_rebuilds(tmp_path):
    path = tmp_path / "gt.npz"
    path.write_bytes(b"not a zip file")
    warnings = []
    c = open_cache(path, warnings=warnings)
    assert c.status == "rebuilt" and "cannot be read" in warnings[0]
    np.savez(path, something=np.zeros(3))
    warnings.clear()
    c = open_cache(path, warnings=warnings)
    assert c.status == "rebuilt" and "not a sem-metric ground-truth cache" in warnings[0]


def test_default_warning_uses_warnings_module(tmp_path):
    path = tmp_path / "gt.npz"
    path.write_bytes(b"junk")
    with pytest.warns(UserWarning, match="ignoring it"):
        GTProbabilityCache.open(path, SHA_A, "p")


def test_directory_path_and_bad_put(tmp_path):
    with pytest.raises(InputError, match="is a directory"):
        open_cache(tmp_path)
    c = open_cache(tmp_path / "x.npz")
    with pytest.raises(ValueError, match="shape"):
        c.put(["a", "b"], probs(1))


def test_save_creates_parent_directory(tmp_path):
    path = tmp_path / "sub" / "dir" / "gt.npz"
    c = open_cache(path)
    c.put(["a"], probs(1))
    assert c.save() and path.is_file()
