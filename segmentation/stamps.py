"""Rubber stamps the line finder does not find as boxes: a frame in an ink paler than the form's
lines (a red or blue stamp on a grey scan), or turned from them, round a row of print. On a
colour scan an upright stamp's ink reads dark and its frame is found as a box (its print
judged by ``glyphs.printed_row`` there); a pale or turned one's frame breaks into stray
underlines and boxes that would be taken for fields."""

from __future__ import annotations

import cv2
import numpy as np

from segmentation.glyphs import find_glyphs
from segmentation.lines import FormLines
from segmentation.rects import Rect, label_pieces

STAMP_SIDE = 0.015  # of the page's long side: a frame's least height (twice that its least width)
STAMP_MAX_W, STAMP_MAX_H = 0.5, 0.25  # of the page's width and height: a frame at most this big
STAMP_FILL = 0.2  # a frame's ink covers at most this share of its bounding box
STAMP_PALER = 60  # grey levels: a frame's ink (its quartile) is this much paler than the form lines'
STAMP_SAMPLE = 20000  # line pixels sampled for the form lines' grey
STAMP_STEP = 2  # frames are looked for at this fraction of the working scale
STAMP_TURN = 2.0  # degrees: a frame turned this far from the deskewed page's lines was stamped, not printed
STAMP_EDGE = 0.9  # of a turned frame's ink, along the edge of its least-area rectangle


def stamp_frames(faint: np.ndarray, flat: np.ndarray, lines_mask: np.ndarray) -> list[Rect]:
    """Frames on the page (``faint``: binarised just below paper white; ``flat``: the grey page
    it was cut from) drawn in an ink at least ``STAMP_PALER`` paler than the form's lines
    (``lines_mask``), or a rectangle turned ``STAMP_TURN`` or more from the deskewed page, round a
    row of print (``printed_row``, on the faint ink inside the frame, every frame-like piece left
    out: a double frame's broken inner one too): a rubber stamp. Their rects, the outer and inner
    frame of a double one each. Frames are looked for at half scale (``STAMP_STEP``; a block
    holding any ink is ink, so thin lines stay whole), the print inside them at full scale."""
    lines = flat[lines_mask > 0]
    pale = float(np.percentile(lines[:: max(1, lines.size // STAMP_SAMPLE)], 25)) + STAMP_PALER if lines.size \
        else np.inf  # (no form lines to be paler than: only a turned frame is a stamp's)
    h, w = faint.shape
    small = cv2.resize(faint, (w // STAMP_STEP, h // STAMP_STEP), interpolation=cv2.INTER_AREA)
    n, labels, stats, _ = label_pieces((small > 0).astype(np.uint8))
    side = STAMP_SIDE * max(h, w) / STAMP_STEP
    framed = [i for i in range(1, n) if _frame_like(stats[i], side, w // STAMP_STEP, h // STAMP_STEP)]
    frames = [i for i in framed if _stamped(*_full_scale(labels, stats[i], [i], faint), flat, lines_mask, pale)]
    none = FormLines(np.zeros((1, 1), np.uint8), [], [], 1.0)
    out = []
    for i in frames:
        box, frame = _full_scale(labels, stats[i], framed, faint)
        inner = np.where(frame > 0, 0, faint[box]).astype(np.uint8)
        if any(g.printed for g in find_glyphs(inner, none, free_text=True)):
            out.append((box[1].start, box[0].start, frame.shape[1], frame.shape[0]))
    return out


def _stamped(box: tuple[slice, slice], frame: np.ndarray, flat: np.ndarray, lines_mask: np.ndarray,
             pale: float) -> bool:
    """Whether a frame (its ink ``frame`` in ``box``) was stamped, not printed with the form: a
    rectangle (``_rectangular``) turned ``STAMP_TURN`` or more from the page's lines, or no
    darker than ``pale`` (its lower quartile) and holding none of the form's own darker lines
    (``lines_mask``; as much as its height: a section of the form framed in a paler ink, its
    boxes in the form's)."""
    rect = cv2.minAreaRect(cv2.findNonZero(frame))  # its least-area rectangle
    if _turn(rect) >= STAMP_TURN:
        return _rectangular(frame, rect)
    if np.percentile(flat[box][frame > 0], 25) < pale:
        return False
    return np.count_nonzero((lines_mask[box] > 0) & (frame == 0) & (flat[box] < pale)) < frame.shape[0]


def _full_scale(labels: np.ndarray, stat: np.ndarray, pieces: list[int], faint: np.ndarray
                ) -> tuple[tuple[slice, slice], np.ndarray]:
    """The full-scale slices of a half-scale piece's bounding box (its ``stat``), and ``faint``'s
    ink there that belongs to any of ``pieces`` (labels at half scale)."""
    x, y, w, h = (int(v) for v in stat[:4])
    own = np.isin(labels[y : y + h, x : x + w], pieces).astype(np.uint8)
    box = (slice(STAMP_STEP * y, STAMP_STEP * (y + h)), slice(STAMP_STEP * x, STAMP_STEP * (x + w)))
    crop = faint[box]
    own = cv2.resize(own, (STAMP_STEP * w, STAMP_STEP * h), interpolation=cv2.INTER_NEAREST)
    return box, own[: crop.shape[0], : crop.shape[1]] & crop


def _frame_like(stat: np.ndarray, side: float, page_w: int, page_h: int) -> bool:
    """Whether a piece's stats (x, y, w, h, area) are a frame's: at least ``side`` tall and twice
    that wide, at most ``STAMP_MAX_*`` of the page, its ink ``STAMP_FILL`` of its box or less."""
    _, _, w, h, area = (int(v) for v in stat)
    return side <= h <= STAMP_MAX_H * page_h and 2 * side <= w <= STAMP_MAX_W * page_w and \
        area <= STAMP_FILL * w * h


def _turn(rect: tuple) -> float:
    """Degrees a rotated rectangle (``cv2.minAreaRect``'s) is turned from upright, whichever of
    OpenCV's angle conventions it follows."""
    angle = rect[2] % 90
    return min(angle, 90 - angle)


def _rectangular(mask: np.ndarray, rect: tuple) -> bool:
    """Whether ``STAMP_EDGE`` of a piece's ink (``mask``) lies along the edge of ``rect``, its
    least-area rectangle, within twice its line's width (its ink over that rectangle's
    perimeter): a frame, not a run of dashes and writing whose outline merely leans."""
    (w, h) = rect[1]
    ink = cv2.countNonZero(mask)
    width = ink / max(2 * (w + h), 1.0)
    edge = np.zeros_like(mask)
    cv2.polylines(edge, [np.intp(cv2.boxPoints(rect))], True, 255, int(round(4 * width)) + 3)
    return cv2.countNonZero(mask & edge) >= STAMP_EDGE * ink
