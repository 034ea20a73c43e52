"""Build the shape-classifier training / validation caches (paper Sec. 3.3, 4.1).

    python -m sem_metric.training.build_shapes --data-root ../shared/data --out cache/shapes

writes ``train.npz`` (COCO instances train + VOC train components + animal-mnist minus a held-out
10% + all MPEG-7), ``val_coco.npz``, ``val_voc.npz``, ``val_animal.npz`` (and ``*_panoptic.npz`` when
``--coco-panoptic`` is given) plus ``summary.json``. The data root defaults to ``$SEM_METRIC_DATA``,
else ``../shared/data`` relative to the repository root. With the full PS-COCO, the paper's recipe is
``--sources panoptic --coco-panoptic panoptic_train2017.json panoptic_train2017/
--coco-panoptic-val panoptic_val2017.json panoptic_val2017/``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from sem_metric.atomic import atomic_write
from sem_metric.errors import InputError, run_command
from sem_metric.sem.classes import COCO_CLASSES, NUM_CLASSES
from sem_metric.training import shape_sources as S
from sem_metric.data_root import default_data_root  # noqa: F401 (re-exported: the one data-root rule)
from sem_metric.training.shape_bank import DEFAULT_MAX_SIDE, ShapeBank

REPO_ROOT = Path(__file__).resolve().parents[2]
ALL_SOURCES = ("coco", "coco_small", "voc", "animal", "mpeg7", "panoptic")
DEFAULT_SOURCES = ("coco", "coco_small", "voc", "animal", "mpeg7")




def _parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m sem_metric.training.build_shapes",
        description="Extract binary object shapes (COCO index 0..79) into ShapeBank .npz caches.",
    )
    ap.add_argument("--data-root", type=Path, default=None,
                    help="shared data folder (default: $SEM_METRIC_DATA or <repo>/../shared/data)")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "cache" / "shapes", help="output folder")
    ap.add_argument("--sources", default=",".join(DEFAULT_SOURCES),
                    help=f"comma-separated subset of {','.join(ALL_SOURCES)} (default: %(default)s); "
                         "'panoptic' needs --coco-panoptic")
    ap.add_argument("--coco-instances-train", type=Path, default=None,
                    help="COCO instances JSON for training (default: <data-root>/coco-union/instances_train.json)")
    ap.add_argument("--coco-instances-val", type=Path, default=None,
                    help="COCO instances JSON for validation (default: <data-root>/coco-union/instances_val.json)")
    ap.add_argument("--coco-panoptic", nargs=2, metavar=("JSON", "PNG_DIR"), default=None,
                    help="PS-COCO panoptic train JSON + PNG folder (the paper's training data)")
    ap.add_argument("--coco-panoptic-val", nargs=2, metavar=("JSON", "PNG_DIR"), default=None,
                    help="PS-COCO panoptic val JSON + PNG folder (written as val_panoptic.npz)")
    ap.add_argument("--coco-panoptic-categories", type=Path, default=None,
                    help="panoptic_coco_categories.json, if the panoptic JSON has no 'categories'")
    ap.add_argument("--voc-root", type=Path, default=None,
                    help="VOC SegmentationClassAug root (default: <data-root>/voc-segclassaug)")
    ap.add_argument("--animal-npz", type=Path, default=None,
                    help="animal-mnist npz (default: <data-root>/animal-mnist/animal_mnist.npz)")
    ap.add_argument("--mpeg7-root", type=Path, default=None, help="MPEG-7 root (default: <data-root>/mpeg7)")
    ap.add_argument("--min-area-frac", type=float, default=S.DEFAULT_MIN_AREA_FRAC,
                    help="drop instances smaller than this fraction of the image (paper: 0.01)")
    ap.add_argument("--max-side", type=int, default=DEFAULT_MAX_SIDE, help="max side of stored crops")
    ap.add_argument("--coco-small-min-px", type=int, default=400,
                    help="source 'coco_small': COCO train instances with at least this many pixels but below "
                         "--min-area-frac of the image (extra shapes for rare classes; written to train_coco_small.npz)")
    ap.add_argument("--include-crowd", action="store_true", help="keep COCO iscrowd annotations")
    ap.add_argument("--animal-val-frac", type=float, default=0.1, help="held-out fraction of animal-mnist")
    ap.add_argument("--animal-threshold", type=int, default=S.ANIMAL_MNIST_THRESHOLD)
    ap.add_argument("--seed", type=int, default=0, help="seed of the animal-mnist hold-out split")
    ap.add_argument("--workers", type=int, default=2, help="processes for VOC label maps")
    ap.add_argument("--no-progress", action="store_true", help="no tqdm bars on stderr")
    return ap.parse_args(argv)


def _class_stats(bank: ShapeBank) -> Dict:
    counts = bank.class_counts()
    present = np.flatnonzero(counts)
    out: Dict = {
        "total": len(bank),
        "per_source": bank.source_counts(),
        "num_classes_present": int(present.size),
        "missing_classes": [COCO_CLASSES[i] for i in range(NUM_CLASSES) if counts[i] == 0],
        "per_class": {COCO_CLASSES[i]: int(counts[i]) for i in range(NUM_CLASSES)},
    }
    if present.size:
        lo = int(present[np.argmin(counts[present])])
        hi = int(np.argmax(counts))
        out["class_min"] = {"class": COCO_CLASSES[lo], "count": int(counts[lo])}
        out["class_max"] = {"class": COCO_CLASSES[hi], "count": int(counts[hi])}
    return out


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise InputError(f"build_shapes: {what} not found at {path} (set --data-root, $SEM_METRIC_DATA, "
                         f"or the specific path option)")
    return path


# ------------------------------------------------------------------------------ one builder per source
# each returns (training banks, {validation file name: bank}); ``kw`` = min_area_frac / max_side
def _panoptic(args, root: Path, kw: Dict, progress) -> Tuple[List[ShapeBank], Dict[str, ShapeBank]]:
    train, vals = [], {}
    if args.coco_panoptic:
        js, png = args.coco_panoptic
        train.append(S.from_coco_panoptic(_require(Path(js), "panoptic JSON"), _require(Path(png), "panoptic PNG dir"),
                                          args.coco_panoptic_categories, progress=progress, **kw))
    if args.coco_panoptic_val:
        js, png = args.coco_panoptic_val
        vals["val_panoptic"] = S.from_coco_panoptic(_require(Path(js), "panoptic val JSON"),
                                                    _require(Path(png), "panoptic val PNG dir"),
                                                    args.coco_panoptic_categories, progress=progress, **kw)
    return train, vals


def _coco(args, root: Path, kw: Dict, progress) -> Tuple[List[ShapeBank], Dict[str, ShapeBank]]:
    tr = args.coco_instances_train or root / "coco-union" / "instances_train.json"
    va = args.coco_instances_val or root / "coco-union" / "instances_val.json"
    train = S.from_coco_instances(_require(tr, "COCO instances train JSON"), include_crowd=args.include_crowd,
                                  progress=progress, **kw)
    val = S.from_coco_instances(_require(va, "COCO instances val JSON"), include_crowd=args.include_crowd,
                                progress=progress, **kw)
    return [train], {"val_coco": val}


def _coco_small(args, root: Path, kw: Dict, progress) -> Tuple[List[ShapeBank], Dict[str, ShapeBank]]:
    tr = args.coco_instances_train or root / "coco-union" / "instances_train.json"
    extra = S.from_coco_instances(_require(tr, "COCO instances train JSON"), min_area_frac=0.0,
                                  max_side=args.max_side, max_area_frac=args.min_area_frac,
                                  min_area_px=args.coco_small_min_px, include_crowd=args.include_crowd,
                                  source="coco_instances_small", progress=progress)
    return [], {"train_coco_small": extra}  # a separate training file, saved beside train.npz


def _voc(args, root: Path, kw: Dict, progress) -> Tuple[List[ShapeBank], Dict[str, ShapeBank]]:
    voc = _require(args.voc_root or root / "voc-segclassaug", "VOC root")
    return ([S.from_voc(voc, "train", workers=args.workers, progress=progress, **kw)],
            {"val_voc": S.from_voc(voc, "val", workers=args.workers, progress=progress, **kw)})


def _animal(args, root: Path, kw: Dict, progress) -> Tuple[List[ShapeBank], Dict[str, ShapeBank]]:
    npz = _require(args.animal_npz or root / "animal-mnist" / "animal_mnist.npz", "animal-mnist npz")
    with np.load(npz, allow_pickle=False) as z:
        labels = z["labels"]
    tr_idx, va_idx = S.animal_mnist_split(labels, args.animal_val_frac, args.seed)
    return ([S.from_animal_mnist(npz, threshold=args.animal_threshold, indices=tr_idx, **kw)],
            {"val_animal": S.from_animal_mnist(npz, threshold=args.animal_threshold, indices=va_idx, **kw)})


def _mpeg7(args, root: Path, kw: Dict, progress) -> Tuple[List[ShapeBank], Dict[str, ShapeBank]]:
    return [S.from_mpeg7(_require(args.mpeg7_root or root / "mpeg7", "MPEG-7 root"), **kw)], {}


#: source name -> builder, in build order (the order of the shapes in train.npz)
SOURCE_BUILDERS = {"panoptic": _panoptic, "coco": _coco, "coco_small": _coco_small, "voc": _voc,
                   "animal": _animal, "mpeg7": _mpeg7}


def _selected_sources(args) -> List[str]:
    sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    bad = [s for s in sources if s not in ALL_SOURCES]
    if bad:
        raise InputError(f"build_shapes: unknown source(s) {bad}; choose from {list(ALL_SOURCES)}")
    if args.coco_panoptic and "panoptic" not in sources:
        sources.append("panoptic")
    if "panoptic" in sources and not (args.coco_panoptic or args.coco_panoptic_val):
        raise InputError("build_shapes: source 'panoptic' needs --coco-panoptic JSON PNG_DIR")
    return sources


def main(argv: Optional[List[str]] = None) -> Dict:
    """CLI entry point: build the ShapeBank caches and print/write the summary."""
    args = _parse_args(argv)
    if args.no_progress:
        os.environ["SEM_METRIC_NO_PROGRESS"] = "1"
    progress = None if not args.no_progress else False
    root = Path(args.data_root) if args.data_root is not None else default_data_root()
    sources = _selected_sources(args)
    kw = dict(min_area_frac=args.min_area_frac, max_side=args.max_side)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.time()
    train_parts: List[ShapeBank] = []
    vals: Dict[str, ShapeBank] = {}
    seconds: Dict[str, float] = {}
    for name, build in SOURCE_BUILDERS.items():
        if name in sources:
            t = time.time()
            parts, more = build(args, root, kw, progress)
            train_parts += parts
            vals.update(more)
            seconds[name] = time.time() - t
            print(f"[build_shapes] {name} done in {seconds[name]:.1f}s", file=sys.stderr, flush=True)
    train = ShapeBank.concat(train_parts)
    files = {"train": str(train.save(out / "train.npz"))}
    for name, bank in vals.items():
        files[name] = str(bank.save(out / f"{name}.npz"))
    summary = {
        "data_root": str(root), "sources": sources, "min_area_frac": args.min_area_frac, "max_side": args.max_side,
        "animal_val_frac": args.animal_val_frac if "animal" in sources else None, "seed": args.seed,
        "files": files, "splits": {"train": _class_stats(train), **{k: _class_stats(v) for k, v in vals.items()}},
        "seconds": {**{k: round(v, 2) for k, v in seconds.items()}, "total": round(time.time() - t_all, 2)},
    }
    text = json.dumps(summary, indent=2) + "\n"
    atomic_write(out / "summary.json", lambda f: f.write(text), what="shape summary")
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":  # pragma: no cover
    # bad input (a missing data folder, an unknown source) is one error line and exit 2
    raise SystemExit(run_command(lambda argv: main(argv) and 0))
