"""Images of the ``--report`` page (:mod:`sem_metric.pipeline.html_report`): the class palette, colourised
crops around a box, the classifier's window (Eq. 10's O and M as F sees them), histograms; PNG writing."""
from __future__ import annotations

import colorsys
import math
from pathlib import Path
from typing import Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..atomic import atomic_write

__all__ = ["palette_color", "colourise", "histogram_png", "crop_image", "window_image", "context_window",
           "save_png", "CROP_PX", "WINDOW_PX"]

_CROP_PX = 176       # longer side of a displayed crop
_WINDOW_PX = 120     # displayed size of the 96 x 96 classifier window
CROP_PX, WINDOW_PX = _CROP_PX, _WINDOW_PX

# Kelly's (1965) colours of maximum contrast, without white and black: ids 0..19; larger ids get a
# golden-ratio hue sequence. The same id always gets the same colour, in every report.
_KELLY = ("#848482", "#875692", "#F38400", "#A1CAF1", "#BE0032", "#C2B280", "#F3C300", "#008856", "#E68FAC",
          "#0067A5", "#F99379", "#604E97", "#F6A600", "#B3446C", "#DCD300", "#882D17", "#8DB600", "#654522",
          "#E25822", "#2B3D26")


# ------------------------------------------------------------------------------------ images
def palette_color(class_id: int) -> Tuple[int, int, int]:
    """Deterministic display colour of a class id (Kelly's contrast colours, then golden-ratio hues)."""
    i = int(class_id)
    if 0 <= i < len(_KELLY):
        h = _KELLY[i]
        return int(h[1:3], 16), int(h[3:5], 16), int(h[5:7], 16)
    hue = (i * 0.6180339887498949) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.45 + 0.35 * ((i * 7) % 3) / 2, 0.55 + 0.4 * ((i * 5) % 4) / 3)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def colourise(seg: np.ndarray) -> np.ndarray:
    """An (H, W, 3) uint8 RGB picture of a label map (pixel = class id, Sec. 3) with :func:`palette_color`."""
    seg = np.asarray(seg)
    ids, inverse = np.unique(seg, return_inverse=True)
    colours = np.array([palette_color(int(i)) for i in ids], dtype=np.uint8).reshape(-1, 3)
    return colours[inverse.reshape(seg.shape)]


def _font(size: int = 11):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def _context_window(box: Sequence[int], shape: Tuple[int, int], margin: float = 0.5) -> Tuple[int, int, int, int]:
    """The crop shown around a box: the box plus ``margin`` x its longer side (at least 4 px) on each side."""
    x0, y0, x1, y1 = (int(v) for v in box)
    pad = max(4, int(round(margin * max(x1 - x0, y1 - y0))))
    return max(0, x0 - pad), max(0, y0 - pad), min(shape[1], x1 + pad), min(shape[0], y1 + pad)


def _crop_image(seg: np.ndarray, box: Sequence[int], window: Tuple[int, int, int, int]) -> Image.Image:
    """Colourised crop ``window`` of ``seg``, enlarged with nearest neighbour, the box outlined."""
    cx0, cy0, cx1, cy1 = window
    rgb = colourise(seg[cy0:cy1, cx0:cx1])
    h, w = rgb.shape[:2]
    scale = _CROP_PX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    img = Image.fromarray(rgb, "RGB").resize(size, Image.NEAREST)
    x0, y0, x1, y1 = (int(v) for v in box)
    bx = [(x0 - cx0) * scale, (y0 - cy0) * scale, (x1 - cx0) * scale - 1, (y1 - cy0) * scale - 1]
    draw = ImageDraw.Draw(img)
    draw.rectangle([bx[0] - 1, bx[1] - 1, bx[2] + 1, bx[3] + 1], outline=(0, 0, 0), width=1)
    draw.rectangle(bx, outline=(255, 255, 255), width=2)
    return img


def _window_image(window: np.ndarray) -> Image.Image:
    """The classifier input (2, S, S): object map O white, the rest of the box (M) dark grey, outside black."""
    o = np.clip(np.asarray(window[0], dtype=np.float64), 0, 1)
    m = np.clip(np.asarray(window[1], dtype=np.float64), 0, 1)
    grey = 255.0 * o + 64.0 * m * (1.0 - o)
    img = Image.fromarray(np.round(grey).astype(np.uint8), "L")
    return img.resize((_WINDOW_PX, _WINDOW_PX), Image.NEAREST)


def histogram_png(values: Sequence[float], title: str, integer: bool = False, mean: Optional[float] = None,
                  size: Tuple[int, int] = (360, 170)) -> Image.Image:
    """A histogram of per-sample metric values (Sec. 4.1 / Eq. 10), drawn with PIL (no matplotlib).

    Up to 20 equal bins over the values' range (one bin per integer for integer metrics with a small
    range); the mean is a red line. Returns an RGB image.
    """
    vals = np.asarray([float(v) for v in values if v is not None], dtype=np.float64)
    w, h = size
    img = Image.new("RGB", size, (255, 255, 255))
    d = ImageDraw.Draw(img)
    font = _font(11)
    d.text((8, 4), title, fill=(20, 20, 20), font=font)
    left, right, top, bottom = 40, w - 12, 22, h - 24
    d.line([(left, bottom), (right, bottom)], fill=(60, 60, 60))
    d.line([(left, top), (left, bottom)], fill=(60, 60, 60))
    if vals.size == 0:
        d.text((left + 10, (top + bottom) // 2), "no values", fill=(120, 120, 120), font=font)
        return img
    lo, hi = float(vals.min()), float(vals.max())
    if integer and hi - lo <= 20:
        edges = np.arange(math.floor(lo) - 0.5, math.floor(hi) + 1.5, 1.0)
    else:
        if hi == lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, min(20, max(5, int(math.sqrt(vals.size)) + 1)) + 1)
    counts, _ = np.histogram(vals, bins=edges)
    peak = max(1, int(counts.max()))
    span = edges[-1] - edges[0]

    def xpos(v: float) -> float:
        return left + (right - left) * (v - edges[0]) / span

    for c, a, b in zip(counts, edges[:-1], edges[1:]):
        if c:
            y = bottom - (bottom - top) * c / peak
            d.rectangle([xpos(a) + 1, y, xpos(b) - 1, bottom - 1], fill=(70, 110, 170))
    if mean is not None and edges[0] <= mean <= edges[-1]:
        d.line([(xpos(mean), top), (xpos(mean), bottom)], fill=(200, 30, 30), width=2)
    fmt = (lambda v: f"{v:g}") if integer else (lambda v: f"{v:.3g}")
    lo_label = fmt(edges[0] + 0.5) if integer and len(edges) > 1 and edges[1] - edges[0] == 1 else fmt(edges[0])
    hi_label = fmt(edges[-1] - 0.5) if integer and len(edges) > 1 and edges[1] - edges[0] == 1 else fmt(edges[-1])
    d.text((left, bottom + 5), lo_label, fill=(60, 60, 60), font=font)
    tw = d.textlength(hi_label, font=font)
    d.text((right - tw, bottom + 5), hi_label, fill=(60, 60, 60), font=font)
    d.text((4, top - 2), str(peak), fill=(60, 60, 60), font=font)
    d.text((4, bottom - 12), "0", fill=(60, 60, 60), font=font)
    if mean is not None:
        label = f"mean {fmt(mean) if not integer else f'{mean:.3g}'}"
        d.text((right - d.textlength(label, font=font), 4), label, fill=(200, 30, 30), font=font)
    return img


def _save_png(img: Image.Image, path: Path) -> None:
    atomic_write(path, lambda f: img.save(f, format="PNG", optimize=True), binary=True, what="report image")



crop_image, window_image, context_window, save_png = _crop_image, _window_image, _context_window, _save_png
