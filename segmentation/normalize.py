"""Glyph normalisation: the ONE function that the training data and the reader share.

Contract (also recorded in the model metadata): 28x28 float32 in [0, 1], white ink on
black, the glyph fitted into a 20x20 box keeping its aspect ratio (anti-aliased), then
centred in 28x28 by its centre of mass. This is MNIST's recipe, and the one the UNIPEN
and optdigits sets in ``../shared/data`` were prepared with.
"""

from __future__ import annotations

import cv2
import numpy as np

SIZE = 28
BOX = 20
INK = "white-on-black"
CENTRING = "centre-of-mass"
# Stroke width relative to the glyph's longer side that the reader aims for. Measured on
# the UNIPEN training images (median stroke ~1.9 px at a 20 px glyph); see docs/model.md.
TARGET_STROKE_RATIO = 0.10
# Stroke correction runs on glyphs no longer than this (working px); a longer one is shrunk to
# it first. No character is that big at the working scale: such a blob is a signature, a rule
# or a sideways column of writing, and thickening it at full size took 30-60 ms each.
STROKE_MAX_SIDE = 256

CONTRACT = {
    "shape": [SIZE, SIZE, 1],
    "dtype": "float32",
    "scale": "pixel/255 (0..1)",
    "ink": INK,
    "fit_box": BOX,
    "centring": CENTRING,
}


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary glyph: twice the mean distance to the background
    along the medial ridge (a cheap, skeleton-free estimate)."""
    m = (mask > 0).astype(np.uint8)
    if not m.any():
        return 0.0
    dist = cv2.distanceTransform(np.pad(m, 1), cv2.DIST_L2, 3)
    ridge = dist[dist >= cv2.dilate(dist, np.ones((3, 3), np.uint8))]
    ridge = ridge[ridge > 0]
    return float(2.0 * np.median(ridge)) if ridge.size else 1.0


def normalize_stroke(mask: np.ndarray, target_ratio: float = TARGET_STROKE_RATIO,
                     width: float | None = None) -> np.ndarray:
    """Thicken or thin a binary glyph so its stroke width is ``target_ratio`` of its
    longer side; a 600-DPI marker and a 200-DPI ballpoint then look alike. ``width`` is
    the pen's width if already known (the reader measures it once per page).

    Only corrects when the width is off by more than ~25%, and never erodes a
    glyph away (falls back to the input)."""
    m = (mask > 0).astype(np.uint8) * 255
    _, _, bw, bh = cv2.boundingRect(m)  # of the non-zero pixels
    if bw == 0:
        return m
    side = max(bw, bh)
    width = stroke_width(m) if width is None else width
    want = max(1.0, target_ratio * side)
    if width <= 0 or 0.8 <= want / width <= 1.25:
        return m
    k = int(round(abs(want - width)))
    if k < 1:
        return m
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k + 1, k + 1))
    if want > width:
        return cv2.dilate(np.pad(m, k + 1), kernel)
    thinned = cv2.erode(m, kernel)
    # Keep the result only if the glyph survives intact: no stroke eroded away or cut apart.
    if (_major_parts(thinned) > _major_parts(m)
            or cv2.countNonZero(thinned) < 0.25 * cv2.countNonZero(m)):
        return m
    return thinned


def _major_parts(mask: np.ndarray) -> int:
    """Connected parts holding at least 3% of the ink."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    return int((areas >= 0.03 * max(areas.sum(), 1)).sum())


def normalize_glyph(ink: np.ndarray, *, stroke: bool = False, stroke_px: float | None = None) -> np.ndarray:
    """Normalise one glyph image (ink bright, background 0, any size) to the model input.

    Returns a (28, 28) float32 array in [0, 1]. ``stroke=True`` also normalises stroke
    thickness first (the reader does this for scanned crops; the 28x28 training sets are
    already at the reference width)."""
    img = np.asarray(ink)
    if img.ndim != 2:
        raise ValueError(f"glyph must be 2-D, got shape {img.shape}")
    if img.dtype != np.uint8:
        img = np.clip(img.astype(np.float32) * (255.0 / max(float(img.max()), 1e-6)), 0, 255).astype(np.uint8)
    if stroke:
        side = max(img.shape)
        if side > STROKE_MAX_SIDE:
            f = STROKE_MAX_SIDE / side
            small = cv2.resize(img, (max(1, round(img.shape[1] * f)), max(1, round(img.shape[0] * f))),
                               interpolation=cv2.INTER_AREA)
            img = normalize_stroke(small, width=None)  # any ink stays ink, so measure the width anew
        else:
            img = normalize_stroke(img, width=stroke_px)
    x0, y0, bw, bh = cv2.boundingRect(img)  # of the non-zero pixels
    out = np.zeros((SIZE, SIZE), np.float32)
    if bw == 0:
        return out
    crop = img[y0 : y0 + bh, x0 : x0 + bw].astype(np.float32)
    h, w = crop.shape
    scale = BOX / max(h, w)
    nh, nw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(crop, (nw, nh), interpolation=interp)
    # Centre of mass of the fitted glyph, then translate it to the centre of 28x28.
    total = float(small.sum())
    if total <= 0:
        return out
    cy = float((small.sum(axis=1) * np.arange(nh)).sum() / total)
    cx = float((small.sum(axis=0) * np.arange(nw)).sum() / total)
    oy = int(round(SIZE / 2 - 0.5 - cy))
    ox = int(round(SIZE / 2 - 0.5 - cx))
    oy = min(max(oy, 0), SIZE - nh)
    ox = min(max(ox, 0), SIZE - nw)
    out[oy : oy + nh, ox : ox + nw] = small
    return np.clip(out / 255.0, 0.0, 1.0)


def pen_width(glyphs: list[np.ndarray]) -> float | None:
    """One stroke-width estimate for glyphs written with the same pen (a page's), from all
    their ink at once: steadier than per-glyph estimates, and one pass instead of many.
    Blobs too big to be characters (``STROKE_MAX_SIDE``) are left out."""
    glyphs = [g for g in glyphs if max(g.shape) <= STROKE_MAX_SIDE]
    if not glyphs:
        return None
    h = max(g.shape[0] for g in glyphs)
    strip = np.zeros((h + 2, sum(g.shape[1] + 2 for g in glyphs)), np.uint8)
    x = 1
    for g in glyphs:
        strip[1 : 1 + g.shape[0], x : x + g.shape[1]] = g
        x += g.shape[1] + 2
    return stroke_width(strip)


def normalize_batch(glyphs: list[np.ndarray], *, stroke: bool = False, width: float | None = None) -> np.ndarray:
    """Normalise many glyphs into the model's (N, 28, 28, 1) float32 input. With
    ``stroke``, the glyphs are taken to share one pen: ``width`` (a page's, ``pen_width``),
    else measured once on them."""
    if not glyphs:
        return np.zeros((0, SIZE, SIZE, 1), np.float32)
    if stroke and width is None:
        width = pen_width(glyphs)
    return np.stack([normalize_glyph(g, stroke=stroke, stroke_px=width) for g in glyphs])[..., None]
