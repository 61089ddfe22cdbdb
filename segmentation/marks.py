"""Tick boxes: how much of a printed box's inside is ink, and whether that is a mark."""

from __future__ import annotations

import cv2
import numpy as np

from segmentation.clean import CleanPage
from segmentation.lines import Box
from segmentation.rects import Rect, centre_in, overlap_ious

# The inside read: the box less this share of its shorter side on every edge, which keeps its
# printed border (and a few px of registration slack) out.
MARK_INSET = 0.15
# Rows and columns in the inside's outer quarter that are ink over this share of their length are
# what is left of the printed border; a tick, a cross or a scribble does not run straight across.
BORDER_RUN = 0.7
# A box is marked when ink covers this share of its inside. On generated forms (6 mm boxes, 30
# forms) a tick covers 22% to 42%, a cross 31% to 51%; an empty or specked box at most 0.5%.
MARK_INK = 0.04
SNAP_IOU = 0.5  # a printed box found on the page replaces the registered rectangle above this overlap
SNAP_REACH = 0.75  # ... and so does a tick box found this near (of the registered side), if none overlaps,
SHIFT_REACH = 2.0  # ... once every registered tick box is shifted by their median offset to those this near


def snap_to_box(rect: Rect, boxes: list[Box]) -> Rect:
    """The printed box on the page that the registered ``rect`` lands on, if one overlaps it
    by ``SNAP_IOU`` (intersection over union); else ``rect``. Registration is a few px off;
    the printed box is not."""
    if not boxes:
        return rect
    iou = overlap_ious([rect], [b.rect for b in boxes])[0]
    best = int(np.argmax(iou))
    return boxes[best].rect if iou[best] >= SNAP_IOU else rect


def snap_to_squares(rects: list[Rect], squares: list[Rect]) -> list[Rect]:
    """Each registered tick box in ``rects`` moved onto the tick box found on the page
    (``squares``, from ``split_tick_boxes``) nearest it: its centre within ``SNAP_REACH`` of the
    rect's side and its side within a third of it, once all of ``rects`` are shifted by their
    median offset to the squares within ``SHIFT_REACH`` sides; a rect with no such square stays.
    A photo squared from its lines keeps a little keystone, which can leave registered tick
    boxes below the last registered field a side or more off, all alike."""
    if not rects or not squares:
        return list(rects)
    centres = np.array([(x + w / 2, y + h / 2) for x, y, w, h in squares], float)
    sides = np.array([max(w, h) for _, _, w, h in squares], float)

    def nearest(rect: Rect, shift: np.ndarray, reach: float) -> int | None:
        x, y, w, h = rect
        side = max(w, h)
        dist = np.hypot(*(centres - (x + w / 2, y + h / 2) - shift).T)
        dist[(sides < 0.67 * side) | (sides > 1.5 * side) | (dist > reach * side)] = np.inf
        return int(np.argmin(dist)) if np.isfinite(dist).any() else None

    offsets = [centres[k] - (x + w / 2, y + h / 2) for x, y, w, h in rects
               if (k := nearest((x, y, w, h), np.zeros(2), SHIFT_REACH)) is not None]
    shift = np.median(offsets, axis=0) if offsets else np.zeros(2)
    out = []
    for rect in rects:
        k = nearest(rect, shift, SNAP_REACH)
        out.append(rect if k is None else squares[k])
    return out


def mark_ink(ink: np.ndarray, rect: Rect) -> float:
    """Share of the inside of box ``rect`` (working px) that is ink (255) in ``ink``, the
    binarised page (form lines kept: removing them would take a stroke struck through the box,
    or a box filled in); what the inset leaves of the printed border is left out."""
    x, y, w, h = rect
    m = int(round(MARK_INSET * min(w, h)))
    x0, y0 = max(0, x + m), max(0, y + m)
    x1, y1 = min(ink.shape[1], x + w - m), min(ink.shape[0], y + h - m)
    if x1 <= x0 or y1 <= y0:
        return 0.0
    inside = ink[y0:y1, x0:x1] > 0
    ih, iw = inside.shape
    # only in the outer quarter on each side: a filled box or a stroke through the middle stays
    rows = (inside.mean(axis=1) >= BORDER_RUN) & ((np.arange(ih) < ih / 4) | (np.arange(ih) >= ih * 3 / 4))
    cols = (inside.mean(axis=0) >= BORDER_RUN) & ((np.arange(iw) < iw / 4) | (np.arange(iw) >= iw * 3 / 4))
    inside = inside & ~rows[:, None] & ~cols[None, :]
    return float(inside.mean())


def read_mark(share: float) -> tuple[bool, float]:
    """(marked, confidence) from the inked share of a box's inside: the confidence falls to 0
    at ``MARK_INK``, and is 1 for an empty box or one inked twice that much."""
    return share >= MARK_INK, float(min(1.0, abs(share - MARK_INK) / MARK_INK))


TICK_EDGE = 0.9  # a printed square has ink along this share of each of its four edges; a written O does not
# A square this solid inside is printed (a registration mark, a bullet), not a tick box; one
# scribbled in leaves gaps (at most 77% ink inside on 40 generated forms, 160 boxes).
TICK_SOLID = 0.95
# A QR code's three finder patterns are small printed squares too: a 7-module ring round a solid
# 3-module core (3/7 of the side), apart from it. A square holding such a core is not a tick box.
FINDER_CORE = (0.3, 0.6)
FINDER_FILL = 0.9
TICK_TRIM, TICK_TRIM_RUN = 0.15, 0.2  # _trim: how much may stick out of a tick box's square, how thin
TICK_TRIM_MAX = 1 / (1 - 2 * TICK_TRIM)  # a component this much larger than a tick box may trim down to one
TICK_SIDE = 0.03  # a tick box: square within 20%, no larger than this share of the page's long side (9 mm on A4)
TICK_MIN = 0.008  # ... and no smaller than this (2.4 mm on A4): printed letters and specks are smaller


def find_tick_boxes(binary: np.ndarray, lines_mask: np.ndarray, min_side: int, max_side: int,
                    inside_on: np.ndarray | None = None) -> list[Rect]:
    """Small printed squares on their own (tick boxes, too small for ``find_lines``' line
    lengths): components of the page less its form lines, ``min_side`` to ``max_side`` px
    and square within 20%, inked along each of their four edges, not solid (``TICK_SOLID``;
    judged on ``inside_on`` where given: ``binary`` closed fills a scribble in) and not a QR
    code's finder pattern: empty, ticked, crossed or scribbled in. Working px."""
    rest = cv2.bitwise_and(binary, cv2.bitwise_not(lines_mask))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(rest, connectivity=8)
    out = []
    for i in range(1, n):
        x, y, w, h, _ = stats[i]
        if not (min_side <= min(w, h) and max(w, h) <= TICK_TRIM_MAX * max_side):
            continue
        m, (x, y) = _trim(labels[y : y + h, x : x + w] == i, x, y)
        h, w = m.shape
        if not (min_side <= min(w, h) and max(w, h) <= max_side and _squarish(w, h)):
            continue
        band = max(2, int(round(0.12 * min(w, h))))
        edges = (m[:band].any(axis=0), m[-band:].any(axis=0), m[:, :band].any(axis=1), m[:, -band:].any(axis=1))
        inside = m[band:-band, band:-band] if inside_on is None else \
            inside_on[y + band : y + h - band, x + band : x + w - band] > 0
        if all(e.mean() >= TICK_EDGE for e in edges) and inside.size and inside.mean() < TICK_SOLID \
                and not _finder_core(labels, stats, i, (x, y, w, h), band):
            out.append((int(x), int(y), int(w), int(h)))
    return out


def _trim(m: np.ndarray, x: int, y: int) -> tuple[np.ndarray, tuple[int, int]]:
    """A component's mask less thin bits sticking out of it (a speck joined to a corner, a tick's
    tail over the edge): outer rows (columns) inked over at most ``TICK_TRIM_RUN`` of its width
    (height), up to ``TICK_TRIM`` of its height (width) from each side. Returns it and its corner."""
    h, w = m.shape
    rows, cols = m.sum(axis=1) > TICK_TRIM_RUN * w, m.sum(axis=0) > TICK_TRIM_RUN * h
    k_r, k_c = int(TICK_TRIM * h), int(TICK_TRIM * w)

    def span(keep: np.ndarray, k: int) -> tuple[int, int]:
        idx = np.nonzero(keep)[0]
        if not len(idx):
            return 0, len(keep)
        return min(idx[0], k), max(idx[-1] + 1, len(keep) - k)

    (y0, y1), (x0, x1) = span(rows, k_r), span(cols, k_c)
    return m[y0:y1, x0:x1], (x + x0, y + y0)


def _finder_core(labels: np.ndarray, stats: np.ndarray, ring: int, rect: Rect, band: int) -> bool:
    """Whether the square ``rect`` (component ``ring``) holds, apart from it, a solid square
    (``FINDER_FILL``) centred in it and ``FINDER_CORE`` of its side: a QR code's finder pattern
    (a ring of 7 modules round a core of 3), not a tick box. A hand's filled-in mark is neither
    that square nor that solid."""
    x, y, w, h = rect
    inner = labels[y + band : y + h - band, x + band : x + w - band]
    for j in np.unique(inner):
        if j in (0, ring):
            continue
        cx, cy, cw, ch, area = stats[j]
        side = max(cw, ch) / max(w, h)
        centred = abs(cx + cw / 2 - (x + w / 2)) <= 0.1 * w and abs(cy + ch / 2 - (y + h / 2)) <= 0.1 * h
        if FINDER_CORE[0] <= side <= FINDER_CORE[1] and _squarish(cw, ch) and centred \
                and area >= FINDER_FILL * cw * ch:
            return True
    return False


def _squarish(w: int, h: int) -> bool:
    return 0.8 <= w / max(h, 1) <= 1.25


def split_tick_boxes(clean: CleanPage, lines_mask: np.ndarray, boxes: list[Box]) -> tuple[list[Rect], list[Box]]:
    """(every tick box on a page, the printed ``boxes`` that are not one and are tall enough to
    write in, ``TICK_MIN``: a caption's letters run into a line can close a box round a few of
    them), working px. Tick boxes are the small squares among ``boxes`` (not combs) and those
    too small for the line finder (``find_tick_boxes``) outside every box: on ``clean.squares``, then, on a page with
    dashed lines, those on ``clean.closed_squares`` that overlap none found (less only the solid
    form lines: the dashed ones drawn are what it closed itself; insides judged on the page)."""
    long_side = max(clean.binary.shape)
    small = [not b.is_comb and max(b.rect[2:]) <= TICK_SIDE * long_side and _squarish(*b.rect[2:]) for b in boxes]
    ticks = [b.rect for b, t in zip(boxes, small, strict=True) if t]
    sides = int(TICK_MIN * long_side), int(TICK_SIDE * long_side)
    passes = [(clean.squares, lines_mask, None)]
    if clean.closed_squares is not None:
        solid = cv2.bitwise_and(lines_mask, cv2.bitwise_not(cv2.dilate(clean.dashes, np.ones((3, 3), np.uint8))))
        passes.append((clean.closed_squares, solid, clean.binary))
    taken = [b.rect for b in boxes]
    for page, mask, inside_on in passes:
        for r in find_tick_boxes(page, mask, *sides, inside_on=inside_on):
            if not any(centre_in(r, t) for t in taken):
                ticks.append(r)
                taken.append(r)
    return ticks, [b for b, t in zip(boxes, small, strict=True) if not t and b.rect[3] >= TICK_MIN * long_side]
