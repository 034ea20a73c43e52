"""SISMMetrics (streaming, torchmetrics style): exact sums, any chunking = the functional API, DDP over gloo."""
import json
import math
import os
import warnings

import numpy as np
import pytest
from bounds import within
import torch

from sem_metric import SISMMetrics, evaluate_samples, hamm_batch, noise_count_batch, tiou_batch
from sem_metric.errors import InputError
from sem_metric.sem.metric import compute_sem_batch
from sem_metric.sem.sfd import shape_frechet_distance
from sem_metric.streaming import _limbs_to_int, compute_from_state, exact_sum_limbs, limbs_to_float, merge_states

LABELMAP = ("tiou", "hamm", "nn")


def _data(seed, n=13, shape=(36, 48)):
    """n samples (a few identical pairs), each a pair of maps with one box and target label 5."""
    rng = np.random.default_rng(seed)
    preds, gts, boxes, labels = [], [], [], []
    for i in range(n):
        gt = rng.integers(0, 5, size=shape)
        x0, y0 = int(rng.integers(0, 20)), int(rng.integers(0, 14))
        box = (x0, y0, x0 + int(rng.integers(3, 28)), y0 + int(rng.integers(3, 22)))
        h, w = box[3] - box[1], box[2] - box[0]
        gt[box[1]:box[3], box[0]:box[2]] = np.where(rng.random((h, w)) > 0.5, 5, 1)
        pred = gt.copy()
        if i % 4:
            pred[box[1]:box[3], box[0]:box[2]] = rng.choice([5, 2, 7], size=(h, w), p=[0.6, 0.3, 0.1])
        preds.append(pred), gts.append(gt), boxes.append(box), labels.append(5)
    return preds, gts, boxes, labels


def _feed(metric, data, cuts):
    preds, gts, boxes, labels = data
    for a, b in zip(cuts[:-1], cuts[1:]):
        metric.update(preds[a:b], gts[a:b], boxes[a:b], labels[a:b])
    return metric.compute()


def _pipeline(data, metrics, classifier=None):
    preds, gts, boxes, labels = data
    samples = {f"s{i:02d}": (p, g) for i, (p, g) in enumerate(zip(preds, gts))}
    bx = {f"s{i:02d}": [{"bbox": list(b), "label": int(l)}] for i, (b, l) in enumerate(zip(boxes, labels))}
    so = None if classifier is None else {"classifier": classifier}
    return evaluate_samples(samples, bx, metrics=metrics, sem_options=so)


# ------------------------------------------------------------------------------ exact sums
def test_exact_sums_are_exact_in_any_order_and_chunking():
    rng = np.random.default_rng(0)
    vals = np.concatenate([rng.random(200), rng.normal(size=50) * 1e12, [5e-324, -5e-324, 1e-300, 1e300, -1e300],
                           rng.integers(0, 1000, size=30).astype(float)])
    whole = exact_sum_limbs(vals)
    assert limbs_to_float(whole) == math.fsum(vals)
    perm = rng.permutation(len(vals))
    parts = [exact_sum_limbs(vals[perm][i:i + 17]) for i in range(0, len(vals), 17)]
    # limb vectors are not canonical (signed limbs), the integer they hold is
    assert _limbs_to_int(sum(parts)) == _limbs_to_int(whole) and limbs_to_float(sum(parts)) == math.fsum(vals)
    with pytest.raises(InputError, match="non-finite"):
        exact_sum_limbs([1.0, float("nan")])


# ------------------------------------------------------------------------------ label-map metrics
def test_any_chunking_equals_the_functional_api_exactly():
    data = _data(1)
    preds, gts, boxes, labels = data
    results = [_feed(SISMMetrics(LABELMAP), data, cuts) for cuts in ([0, 13], [0, 1, 2, 3, 13], list(range(14)),
                                                                    [0, 7, 8, 13])]
    assert all(r == results[0] for r in results)             # bit-identical whatever the chunking
    ref = _pipeline(data, "tiou,hamm,nn")
    r = results[0]
    for m in LABELMAP:
        assert r[m] == ref["means"][m]                        # exactly the pipeline's means
    assert r["n_samples"] == 13 and r["nn_total"] == ref["nn_total"] and isinstance(r["nn_total"], int)
    assert r["tiou"] == pytest.approx(tiou_batch(preds, gts, boxes, labels).mean(), rel=1e-14)
    assert r["hamm"] == pytest.approx(hamm_batch(preds, gts, boxes).mean(), rel=1e-14)
    assert r["nn"] == pytest.approx(noise_count_batch(preds, gts, boxes).mean(), rel=1e-14)


def test_input_forms_tensors_stacks_lists_and_reset():
    data = _data(2, n=6)
    preds, gts, boxes, labels = data
    ref = _feed(SISMMetrics(LABELMAP), data, [0, 6])
    m = SISMMetrics("tiou,hamm,nn")
    m.update(torch.as_tensor(np.stack(preds[:4])), torch.as_tensor(np.stack(gts[:4])),
             torch.tensor(boxes[:4]), torch.tensor(labels[:4]))
    m.update(np.stack(preds[4:]), np.stack(gts[4:]), np.array(boxes[4:]), np.array(labels[4:]))
    assert m.compute() == ref
    # maps of different sizes in one list
    m.reset()
    assert m.compute() == {"tiou": None, "hamm": None, "nn": None, "n_samples": 0, "nn_total": 0}
    big = np.pad(preds[0], 3), np.pad(gts[0], 3)
    b0 = tuple(v + 3 for v in boxes[0])
    m.update([big[0], preds[1]], [big[1], gts[1]], [b0, boxes[1]], [5, 5])
    assert m.compute() == _feed(SISMMetrics(LABELMAP), data, [0, 2])
    m.update([], [], np.zeros((0, 4), dtype=int), [])         # an empty batch changes nothing
    assert m.n_samples == 2


def test_errors():
    with pytest.raises(InputError, match="unknown metric"):
        SISMMetrics(("tiou", "nope"))
    m = SISMMetrics(LABELMAP)
    preds, gts, boxes, labels = _data(3, n=3)
    with pytest.raises(InputError, match="pair up"):
        m.update(preds, gts[:2], boxes, labels)
    with pytest.raises(InputError, match="3 label maps"):
        m.update(preds, gts, boxes[:2], labels)
    with pytest.raises(InputError, match="outside|inside|exceeds|box"):
        m.update(preds, gts, [(0, 0, 999, 5)] * 3, labels)
    assert m.n_samples == 0


# ------------------------------------------------------------------------------ Sem and SFD
def test_sem_and_sfd_any_chunking_equal_functional(tiny_classifier):
    data = _data(4)
    preds, gts, boxes, labels = data
    names = ("tiou", "hamm", "nn", "sem", "sfd")
    a = _feed(SISMMetrics(names, classifier=tiny_classifier), data, [0, 13])
    b = _feed(SISMMetrics(names, classifier=tiny_classifier, batch_size=3), data, [0, 1, 5, 6, 13])
    ref = _pipeline(data, ",".join(names), tiny_classifier)
    for r in (a, b):
        for m in LABELMAP:
            assert r[m] == ref["means"][m]
        assert r["sem"] == within("sem", ref["means"]["sem"])
        assert r["sem"] == within("sem", compute_sem_batch(preds, gts, boxes, labels,
                                                           classifier=tiny_classifier).mean())
        sfd = shape_frechet_distance(preds, gts, boxes, labels, classifier=tiny_classifier)
        assert r["sfd"] == within("sfd", sfd) and r["sfd"] == within("sfd", ref["means"]["sfd"])
    same = SISMMetrics(("sem", "sfd"), classifier=tiny_classifier)
    same.update(gts, gts, boxes, labels)
    assert same.compute() == {"sem": 0.0, "sfd": 0.0, "n_samples": 13}
    one = SISMMetrics(("sfd",), classifier=tiny_classifier)
    one.update(gts[:1], gts[:1], boxes[:1], labels[:1])
    with pytest.raises(InputError, match="at least 2"):
        one.compute()


def test_sem_with_the_real_classifier_equals_pipeline(random_classifier, one_torch_thread):
    data = _data(5, n=6)
    m = SISMMetrics(("tiou", "sem"), classifier=random_classifier)
    r = _feed(m, data, [0, 2, 6])
    ref = _pipeline(data, "tiou,sem", random_classifier)
    assert r["tiou"] == ref["means"]["tiou"]
    assert r["sem"] == within("sem", ref["means"]["sem"])


# ------------------------------------------------------------------------------ torchmetrics
def test_torchmetrics_subclass_same_numbers(tiny_classifier):
    pytest.importorskip("torchmetrics")
    from sem_metric.torchmetrics import SISMMetric

    import torchmetrics

    data = _data(6)
    names = ("tiou", "hamm", "nn", "sem", "sfd")
    tm = SISMMetric(names, classifier=tiny_classifier)
    assert isinstance(tm, torchmetrics.Metric)
    assert not any(k.startswith("_engine") or "net." in k for k in tm.state_dict())  # the classifier is not state
    got = _feed(tm, data, [0, 4, 13])
    ref = _feed(SISMMetrics(names, classifier=tiny_classifier), data, [0, 4, 13])
    assert set(got) == set(ref)
    for k, v in ref.items():
        assert got[k].item() == v
    tm.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # torchmetrics warns about compute() before update()
        out = tm.compute()
    assert out["n_samples"].item() == 0 and math.isnan(out["tiou"].item())


# ------------------------------------------------------------------------------ two processes over gloo
def _ddp_worker(rank, world, init_file, out_dir, with_tm):
    torch.set_num_threads(1)
    import torch.distributed as dist

    from tiny_classifier import TinyFeatureClassifier

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        clf = TinyFeatureClassifier(seed=0)
        data = _data(7)
        names = ("tiou", "hamm", "nn", "sem", "sfd")
        idx = [i for i in range(13) if (i % 3 == 0) == (rank == 0)]      # uneven, interleaved shards
        sub = [[x[i] for i in idx] for x in data]
        m = SISMMetrics(names, classifier=clf)
        _feed(m, sub, [0, 2, len(idx)])
        out = {"class": m.compute(), "local_n": m.n_samples}
        if with_tm:
            from sem_metric.torchmetrics import SISMMetric

            tm = SISMMetric(names, classifier=clf)
            _feed(tm, sub, [0, len(idx)])
            out["torchmetrics"] = {k: v.item() for k, v in tm.compute().items()}
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump(out, f)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_equal_one_process(tmp_path, tiny_classifier):
    import torch.multiprocessing as mp

    try:
        import torchmetrics  # noqa: F401
        with_tm = True
    except ImportError:
        with_tm = False
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(tmp_path), with_tm), nprocs=2, join=True)
    names = ("tiou", "hamm", "nn", "sem", "sfd")
    single = _feed(SISMMetrics(names, classifier=tiny_classifier), _data(7), [0, 13])
    outs = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert outs[0]["local_n"] + outs[1]["local_n"] == 13 and outs[0]["local_n"] != outs[1]["local_n"]
    for o in outs:                                            # every rank gets the global answer
        for key in ("class",) + (("torchmetrics",) if with_tm else ()):
            got = o[key]
            for m in ("tiou", "hamm", "nn", "n_samples", "nn_total"):
                assert got[m] == single[m], (key, m)
            assert got["sem"] == within("sem", single["sem"])
            assert got["sfd"] == within("sfd", single["sfd"])


def test_state_functions_compose():
    data = _data(8, n=5)
    m1, m2 = SISMMetrics(LABELMAP), SISMMetrics(LABELMAP)
    _feed(m1, [x[:2] for x in data], [0, 2])
    _feed(m2, [x[2:] for x in data], [0, 3])
    merged = compute_from_state(merge_states(m1.state, m2.state), LABELMAP)
    m1.merge(m2)
    assert merged == m1.compute() == _feed(SISMMetrics(LABELMAP), data, [0, 5])


def test_label_map_streaming_never_imports_torch():
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, numpy as np, sem_metric\n"
            "m = sem_metric.SISMMetrics(('tiou', 'hamm', 'nn'))\n"
            "m.update([np.zeros((4, 4), int)], [np.ones((4, 4), int)], [(0, 0, 2, 2)], [1])\n"
            "assert m.compute()['nn_total'] == 4\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    root = str(Path(__file__).resolve().parents[1])
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": root})
    assert proc.returncode == 0, proc.stderr
