"""What does F read in a vanishing object? The measurement behind Sem's presence rule (issue 24).

For real street-scene objects as Eq. 10 sees them (CamVid *train* and *val* label maps, never the test
split, which is the report: every 8-connected component of car / pedestrian / bicyclist of at least
0.1% of the map, O = the class's pixels inside the component's tight box, neighbours included), the
object is shrunk about its box centre by a linear factor ``s`` (nearest neighbour, box fixed) and F
reads it. Per level we record, over objects:

* ``area_ratio``: |O_s| / |O| (what the presence rule of :mod:`sem_metric.sem.presence` is a function of);
* ``similarity``: ``1 - Sem_F = sum_k min(p_s, p_gt)``, F's agreement between the shrunk and the full
  object (Eq. 10 without the presence rule);
* ``top1_agree``: F's top-1 class on O_s equals its top-1 on O.

A speck (one pixel of l^t at the box centre) and the other-class reference (each object's box holding
an object of another class, resized into it) give the floor: the similarity F assigns to answers that
carry no evidence of the object. Two readings of the curve are reported per weights file:

* ``other_class_crossing``: the area ratio below which a shrunk copy of the *true* object is, in F's
  reading, no closer to the ground truth than an object of another class (the similarity curve falls
  under the other-class reference). Below it, F's output carries no evidence that the answer is the
  object: this fixes :data:`sem_metric.sem.presence.PRESENCE_AREA_RATIO` (the largest crossing over the
  shipped weights, rounded up to a multiple of 0.05);
* ``similarity_minimum``: the area ratio where the curve turns back up (for some weights F's diffuse
  answer to a near-empty input shares more mass with the ground truth than a small object does: the
  non-monotone Sem of issue 24).

Run::

    python benchmarks/validity/vanishing.py --out benchmarks/validity/results/vanishing.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.validity.shapes import default_data_root  # noqa: E402
from benchmarks.validity.transforms import scale  # noqa: E402

CAMVID = {8: "car", 9: "person", 10: "bicycle"}
SCALES = [1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1, 0.07, 0.05, 0.03]
MIN_FRACTION = 0.001  # the camvid-test@1 rule: object >= 0.1% of the map


def street_objects(data_root: Path, splits=("trainannot", "valannot"), limit: int = 400, seed: int = 0):
    """``(crops, coco_names)``: O = class pixels in each component's tight box, a seeded subsample."""
    from PIL import Image
    from scipy import ndimage

    crops, names = [], []
    for split in splits:
        for f in sorted((data_root / "camvid" / split).glob("*.png")):
            lab = np.asarray(Image.open(f))
            for cid, cname in CAMVID.items():
                comp, n = ndimage.label(lab == cid, structure=np.ones((3, 3), dtype=bool))
                areas = np.bincount(comp.ravel(), minlength=n + 1)
                for k, sl in enumerate(ndimage.find_objects(comp), start=1):
                    if areas[k] >= MIN_FRACTION * lab.size:
                        crops.append(lab[sl] == cid)
                        names.append(cname)
    order = np.random.default_rng(seed).permutation(len(crops))[:limit]
    return [crops[i] for i in order], [names[i] for i in order]


def speck(shape) -> np.ndarray:
    """One pixel of the target class at the box centre."""
    out = np.zeros(shape, dtype=bool)
    out[(shape[0] - 1) // 2, (shape[1] - 1) // 2] = True
    return out


def _probs(classifier, crops):
    from sem_metric.sem.metric import probabilities_from_inputs
    from sem_metric.sem.preprocess import windows_from_crops

    return probabilities_from_inputs(windows_from_crops([c.astype(np.float32) for c in crops]), classifier)


def measure(weights: str, crops, names) -> dict:
    """The curves of the module docstring for one weights file."""
    from sem_metric import COCO_CLASSES, load_classifier
    from benchmarks.validity.shapes import resize_mask

    clf = load_classifier(weights)
    p_gt = _probs(clf, crops)
    top_gt = p_gt.argmax(1)
    true = np.array([COCO_CLASSES.index(n) for n in names])
    area = np.array([c.sum() for c in crops], dtype=np.float64)
    levels = []
    for s in SCALES:
        shrunk = [scale(c, s) for c in crops]
        p = _probs(clf, shrunk)
        sim = np.minimum(p, p_gt).sum(1)
        levels.append({"scale": s, "area_ratio": float(np.mean([o.sum() for o in shrunk] / area)),
                       "similarity": float(sim.mean()), "similarity_median": float(np.median(sim)),
                       "top1_agree": float((p.argmax(1) == top_gt).mean()),
                       "top1_true": float((p.argmax(1) == true).mean()),
                       "empty": int(sum(not o.any() for o in shrunk))})
    p_speck = _probs(clf, [speck(c.shape) for c in crops])
    # other-class reference: each object's box gets an object of another class (the next one in the list)
    other = []
    for i, c in enumerate(crops):
        j = next(k for k in list(range(i + 1, len(crops))) + list(range(i)) if names[k] != names[i])
        other.append(resize_mask(crops[j], *c.shape))
    p_other = _probs(clf, other)
    sims = [lv["similarity"] for lv in levels]
    k_min = int(np.argmin(sims))
    other_sim = float(np.minimum(p_other, p_gt).sum(1).mean())
    return {"weights": weights, "n": len(crops), "top1_true_full": float((top_gt == true).mean()),
            "levels": levels,
            "speck": {"similarity": float(np.minimum(p_speck, p_gt).sum(1).mean()),
                      "top1_agree": float((p_speck.argmax(1) == top_gt).mean())},
            "other_class": {"similarity": other_sim,
                            "top1_agree": float((p_other.argmax(1) == top_gt).mean())},
            "other_class_crossing": crossing([lv["area_ratio"] for lv in levels], sims, other_sim),
            "similarity_minimum": {"scale": SCALES[k_min], "area_ratio": levels[k_min]["area_ratio"],
                                   "similarity": sims[k_min]}}


def crossing(ratios, sims, level: float) -> float | None:
    """The area ratio at which the similarity curve (ordered from the whole object down) first falls below
    ``level``, linearly interpolated between the two measured levels around it (None if it never does)."""
    for k in range(1, len(sims)):
        if sims[k] < level <= sims[k - 1]:
            t = (sims[k - 1] - level) / (sims[k - 1] - sims[k])
            return float(ratios[k - 1] + t * (ratios[k] - ratios[k - 1]))
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", nargs="+", default=None, help="registry names (default: every shipped file)")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--limit", type=int, default=400)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="benchmarks/validity/results/vanishing.json")
    args = ap.parse_args(argv)
    import torch

    from sem_metric import list_weights

    torch.set_num_threads(args.threads)
    root = Path(args.data_root) if args.data_root else default_data_root()
    crops, names = street_objects(root, limit=args.limit)
    t0 = time.perf_counter()
    runs = [measure(w, crops, names) for w in (args.weights or sorted(list_weights()))]
    worst = max(r["similarity_minimum"]["area_ratio"] for r in runs)
    informative = max(r["other_class_crossing"] or 0.0 for r in runs)
    out = {"command": "python " + " ".join([Path(__file__).as_posix()] + list(argv or sys.argv[1:])),
           "objects": {"source": "CamVid trainannot + valannot components >= 0.1% of the map",
                       "n": len(crops), "per_class": {n: names.count(n) for n in sorted(set(names))}},
           "scales": SCALES, "runs": runs, "similarity_minimum_area_ratio_max": worst,
           "other_class_crossing_max": informative,
           "seconds": round(time.perf_counter() - t0, 1)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    for r in runs:
        print(r["weights"], "top1(full)=%.2f" % r["top1_true_full"],
              "speck sim=%.3f other sim=%.3f" % (r["speck"]["similarity"], r["other_class"]["similarity"]))
        for lv in r["levels"]:
            print("  s=%.2f r=%.4f sim=%.3f agree=%.2f true=%.2f" % (
                lv["scale"], lv["area_ratio"], lv["similarity"], lv["top1_agree"], lv["top1_true"]))
    print("similarity minimum at area ratio <=", worst, "; other-class crossing <=", informative)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
