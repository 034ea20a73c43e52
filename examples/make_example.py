"""Generate the small ``sem-score`` example deterministically (no randomness beyond a fixed seed).

Writes ``gt/``, ``pred/``, ``boxes.json`` and ``class_names.json`` (``{id: name}`` for ``--class-names``)
next to this file (or under ``--out DIR``)::

    python examples/make_example.py
    sem-score examples/pred examples/gt --boxes examples/boxes.json

Maps are 64 x 96 (H x W) street-like scenes with Cityscapes-style class ids (0 road, 1 sidewalk,
2 building, 3 vegetation, 4 sky, 5 car, 6 person, 7 bicycle, 9 truck). The predictions only differ
from the ground truth inside the boxes, each with a different kind of error, so every metric differs:

=====================  ===========================================================================
``0001.png``           perfect inpainting of a car (tIOU = hamm = 1, NN = 0, Sem = 0)
``0002.png``           car shifted right by 3 px
``city/0003.png``      two boxes: a person with a few noise pixels (class 9, absent from the gt
                       box), and a bicycle drawn too thin
``city/0004.npy``      person replaced by a round blob (a shape error that tIOU under-penalises);
                       stored as a 2-D integer ``.npy``
``0005.png``           no box (counted as a pair without boxes)
=====================  ===========================================================================
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
from PIL import Image

H, W = 64, 96
ROAD, SIDEWALK, BUILDING, VEGETATION, SKY, CAR, PERSON, BICYCLE, TRUCK = 0, 1, 2, 3, 4, 5, 6, 7, 9
CLASS_NAMES = {ROAD: "road", SIDEWALK: "sidewalk", BUILDING: "building", VEGETATION: "vegetation", SKY: "sky",
               CAR: "car", PERSON: "person", BICYCLE: "bicycle", TRUCK: "truck"}


def scene(variant: int) -> np.ndarray:
    """A background street scene; ``variant`` moves the horizon and the vegetation a little."""
    seg = np.full((H, W), ROAD, dtype=np.uint8)
    horizon = 14 + 2 * (variant % 3)
    seg[:horizon] = SKY
    seg[horizon:38] = BUILDING
    seg[38:44] = SIDEWALK
    x = 10 + 17 * variant % 60
    seg[horizon - 4:40, x:x + 12] = VEGETATION
    return seg


def car(seg: np.ndarray, x0: int, y0: int, w: int = 26, h: int = 12, dx: int = 0) -> None:
    """A car silhouette: body, cabin and two wheels, optionally shifted by ``dx``."""
    x0 += dx
    seg[y0 + 4:y0 + h - 2, x0:x0 + w] = CAR                      # body
    seg[y0:y0 + 5, x0 + 6:x0 + w - 6] = CAR                      # cabin
    yy, xx = np.mgrid[:H, :W]
    for cx in (x0 + 5, x0 + w - 6):                              # wheels
        seg[(yy - (y0 + h - 2)) ** 2 + (xx - cx) ** 2 <= 6] = CAR


def person(seg: np.ndarray, x0: int, y0: int) -> None:
    """A person silhouette: head, torso, legs (about 8 x 22 px)."""
    yy, xx = np.mgrid[:H, :W]
    seg[(yy - (y0 + 3)) ** 2 + (xx - (x0 + 4)) ** 2 <= 7] = PERSON  # head
    seg[y0 + 6:y0 + 14, x0 + 1:x0 + 8] = PERSON                    # torso
    seg[y0 + 14:y0 + 22, x0 + 1:x0 + 3] = PERSON                   # legs
    seg[y0 + 14:y0 + 22, x0 + 5:x0 + 7] = PERSON


def bicycle(seg: np.ndarray, x0: int, y0: int, thickness: int = 2) -> None:
    """Two wheel rings and a frame bar."""
    yy, xx = np.mgrid[:H, :W]
    for cx in (x0 + 5, x0 + 17):
        d = (yy - (y0 + 8)) ** 2 + (xx - cx) ** 2
        seg[(d <= 25) & (d >= (5 - thickness) ** 2)] = BICYCLE
    seg[y0 + 3:y0 + 3 + thickness, x0 + 5:x0 + 18] = BICYCLE


def build():
    """Return ``{relpath: (gt, pred)}`` and the boxes dict."""
    rng = np.random.default_rng(20240601)
    maps, boxes = {}, {}

    # 0001: perfect
    gt = scene(0)
    car(gt, 30, 44)
    maps["0001.png"] = (gt, gt.copy())
    boxes["0001.png"] = [{"bbox": [27, 42, 60, 58], "label": CAR}]

    # 0002: car shifted right by 3 px inside the box
    gt = scene(1)
    car(gt, 50, 46)
    pred = gt.copy()
    box = (46, 44, 82, 60)
    region = scene(1)
    car(region, 50, 46, dx=3)
    pred[box[1]:box[3], box[0]:box[2]] = region[box[1]:box[3], box[0]:box[2]]
    maps["0002.png"] = (gt, pred)
    boxes["0002.png"] = [{"bbox": list(box), "label": CAR}]

    # city/0003: person with noise pixels + thin bicycle
    gt = scene(2)
    person(gt, 12, 36)
    bicycle(gt, 50, 44, thickness=3)
    pred = gt.copy()
    pbox = (9, 34, 24, 60)
    ys = rng.integers(pbox[1], pbox[3], size=7)
    xs = rng.integers(pbox[0], pbox[2], size=7)
    pred[ys, xs] = TRUCK                                         # noise: class absent from the gt box
    bbox = (47, 40, 76, 58)
    region = scene(2)
    bicycle(region, 50, 44, thickness=1)
    pred[bbox[1]:bbox[3], bbox[0]:bbox[2]] = region[bbox[1]:bbox[3], bbox[0]:bbox[2]]
    maps["city/0003.png"] = (gt, pred)
    boxes["city/0003.png"] = [{"bbox": list(pbox), "label": PERSON}, {"bbox": list(bbox), "label": BICYCLE}]

    # city/0004.npy: person replaced by a blob
    gt = scene(3)
    person(gt, 70, 38)
    pred = gt.copy()
    box = (66, 35, 82, 62)
    region = scene(3)
    yy, xx = np.mgrid[:H, :W]
    region[((yy - 50) / 9.0) ** 2 + ((xx - 74) / 5.0) ** 2 <= 1.0] = PERSON
    pred[box[1]:box[3], box[0]:box[2]] = region[box[1]:box[3], box[0]:box[2]]
    maps["city/0004.npy"] = (gt, pred)
    boxes["city/0004.npy"] = [{"bbox": list(box), "label": PERSON}]

    # 0005: a pair without boxes
    gt = scene(4)
    maps["0005.png"] = (gt, gt.copy())
    return maps, boxes


def write(out_dir: str) -> None:
    maps, boxes = build()
    for rel, (gt, pred) in maps.items():
        for side, arr in (("gt", gt), ("pred", pred)):
            path = os.path.join(out_dir, side, *rel.split("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if rel.endswith(".npy"):
                np.save(path, arr.astype(np.int32))
            else:
                Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint8)).save(path)
    with open(os.path.join(out_dir, "boxes.json"), "w", encoding="utf-8", newline="\n") as f:
        # one line per box, keys sorted: stable and easy to read / diff
        lines = []
        for rel in sorted(boxes):
            entries = ",\n".join("    " + json.dumps(b, sort_keys=True) for b in boxes[rel])
            lines.append(f"  {json.dumps(rel)}: [\n{entries}\n  ]")
        f.write("{\n" + ",\n".join(lines) + "\n}\n")
    with open(os.path.join(out_dir, "class_names.json"), "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps({str(k): v for k, v in sorted(CLASS_NAMES.items())}, indent=2) + "\n")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)),
                    help="output folder (default: the folder of this script)")
    write(ap.parse_args(argv).out)


if __name__ == "__main__":
    main()
