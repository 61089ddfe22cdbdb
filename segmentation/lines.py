"""Form lines: find box edges, comb-cell separators and underlines; keep their geometry;
erase them without erasing the character strokes that cross them."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

Rect = tuple[int, int, int, int]  # x, y, w, h (working pixels)


@dataclass
class Box:
    """A printed box on the page: a free box (one cell) or a comb field (several cells)."""

    rect: Rect
    cells: list[Rect] = field(default_factory=list)

    @property
    def is_comb(self) -> bool:
        return len(self.cells) > 1


@dataclass
class FormLines:
    mask: np.ndarray  # uint8, 255 where a form line is
    boxes: list[Box]
    underlines: list[Rect]
    thickness: float


def _rect_kernel(w: int, h: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_RECT, (max(1, w), max(1, h)))


def find_lines(binary: np.ndarray) -> FormLines:
    """Detect horizontal lines (long runs), vertical lines that join two horizontal lines
    (box sides, comb separators), the boxes/cells they enclose and free underlines."""
    h, w = binary.shape
    # opening (erode, dilate) by a long line; the dilation also takes in the line's ragged
    # edge pixels (one row/column either side), which the AND keeps only where there is ink
    lh = max(30, int(0.05 * w))
    hmask = cv2.dilate(cv2.erode(binary, _rect_kernel(lh, 1)), _rect_kernel(lh, 3)) & binary
    lv = max(12, int(0.012 * h))
    vcand = cv2.dilate(cv2.erode(binary, _rect_kernel(1, lv)), _rect_kernel(3, lv)) & binary
    vmask = np.zeros((h, w), np.uint8)  # calloc'd: only the kept lines' pages are touched
    for x, y, ww, hh in _rects(vcand):
        if ww > max(8, hh // 3):
            continue
        # a box side or comb separator: both of its ends meet a horizontal line
        xa, xb = max(0, x - 1), x + ww + 1
        if hmask[max(0, y - 4) : y + 7, xa:xb].any() and hmask[max(0, y + hh - 7) : y + hh + 4, xa:xb].any():
            vmask[y : y + hh, x : x + ww] = vcand[y : y + hh, x : x + ww]
    mask = hmask | vmask
    hrects = _rects(hmask)
    thickness = _thickness(hmask, hrects)
    boxes = _boxes(mask, thickness)
    underlines = _underlines(hrects, boxes)
    return FormLines(mask, boxes, underlines, thickness)


def _rects(mask: np.ndarray) -> list[Rect]:
    """Bounding boxes of a sparse mask's blobs (findContours is far cheaper than a
    full-page connected-components pass here)."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [tuple(int(v) for v in cv2.boundingRect(c)) for c in contours]


def _thickness(hmask: np.ndarray, hrects: list[Rect]) -> float:
    """Median line thickness: ink pixels per column within each horizontal line."""
    if not hrects:
        return 2.0
    per_line = [cv2.countNonZero(hmask[y : y + h, x : x + w]) / max(w, 1) for x, y, w, h in hrects]
    return float(np.median(per_line))


def _boxes(mask: np.ndarray, thickness: float) -> list[Box]:
    grid = cv2.dilate(mask, _rect_kernel(3, 3))
    contours, hier = cv2.findContours(grid, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hier is None:
        return []
    cells: list[Rect] = []
    min_side = max(10, int(4 * thickness))
    for c, hrow in zip(contours, hier[0], strict=True):
        if hrow[3] < 0:  # outer contour, not a hole
            continue
        x, y, w, h = cv2.boundingRect(c)
        if w < min_side or h < min_side or cv2.contourArea(c) < 0.8 * w * h:
            continue
        cells.append((x - 1, y - 1, w + 2, h + 2))  # undo the dilation of the grid
    # Group cells that share top and bottom and sit side by side into comb fields.
    groups: list[list[Rect]] = []
    for c in sorted(cells, key=lambda r: r[0]):
        for g in groups:
            last = g[-1]
            tol = max(4, 0.08 * last[3])
            if (abs(c[1] - last[1]) <= tol and abs(c[3] - last[3]) <= tol
                    and -2 <= c[0] - (last[0] + last[2]) <= 3 * thickness + 4):
                g.append(c)
                break
        else:
            groups.append([c])
    groups.sort(key=lambda g: (g[0][1], g[0][0]))
    boxes = []
    for g in groups:
        x0 = min(r[0] for r in g)
        y0 = min(r[1] for r in g)
        x1 = max(r[0] + r[2] for r in g)
        y1 = max(r[1] + r[3] for r in g)
        boxes.append(Box((x0, y0, x1 - x0, y1 - y0), g if len(g) > 1 else [g[0]]))
    return boxes


def _underlines(hrects: list[Rect], boxes: list[Box]) -> list[Rect]:
    out = []
    for x, y, w, h in hrects:
        if any(bx - 4 <= x and x + w <= bx + bw + 4 and by - 4 <= y <= by + bh + 4
               for bx, by, bw, bh in (b.rect for b in boxes)):
            continue
        out.append((x, y, w, h))
    return out


def remove_lines(binary: np.ndarray, lines: FormLines) -> np.ndarray:
    """Erase form lines, then restore line pixels that a character stroke crosses (ink on
    both sides of the line in the same column, or row for vertical lines)."""
    if not lines.mask.any():
        return binary.copy()
    line_px = cv2.dilate(lines.mask, _rect_kernel(3, 3)) & binary
    ink = binary & ~line_px
    k = int(np.ceil(lines.thickness)) + 6
    across_h = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, _rect_kernel(1, k))
    across_v = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, _rect_kernel(k, 1))
    repaired = ink | ((across_h | across_v) & line_px)
    return repaired
