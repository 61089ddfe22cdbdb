"""Characters struck out: a wrong character scribbled over, inked solid or looped over where it
was written, the right one written after it. Found on the page's ink (form lines removed)
before characters are cut, so a scribble is neither split into strokes nor read; pure
functions."""

from __future__ import annotations

import cv2
import numpy as np

from segmentation.rects import Rect

CORE = 2.5  # x the page's pen: ink this thick all round is inked solid (or a thick pen's joins)
CORE_SHARE = 0.15  # x the pieces' median height squared: a solid core this large is a struck-out character
CORE_EDGE = 1.0  # x the pen: ink this close to a solid core goes with it (its ragged edge)
SCRIBBLE_RUNS = 5  # strokes crossed, median over a piece's middle rows or columns: to and fro
LOOPS = 5  # enclosed holes: a coil of loops (a B has 2)
HOLE_AREA = 0.02  # x the pieces' median height squared: a smaller hole is a speck of paper, no loop
MIN_HEIGHT = 0.4  # x the pieces' median height: a shorter piece is no character, struck or not
STRUCK_HEIGHT = 0.6  # x the pieces' median height: a solid core less tall is a blob of ink, not a strike
REST_HEIGHT = 0.5  # x the pieces' median height: what a solid core leaves of its piece in shorter bits goes with it
MAX_ASPECT = 1.6  # width over height: a wider piece (touching characters) is judged by its core only


def stroke_width(mask: np.ndarray) -> float:
    """A piece of ink's stroke width: four times the median distance of its pixels from the
    paper (across a stroke of width p those run evenly from 0 to p/2), which a ragged edge
    barely moves."""
    m = np.pad((mask > 0).astype(np.uint8), 1)
    dist = cv2.distanceTransform(m, cv2.DIST_L2, 3)
    return 4.0 * float(np.median(dist[m > 0])) if m.any() else 0.0


def _disc(d: float) -> np.ndarray:
    k = max(3, int(round(d)) | 1)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))


def _runs(m: np.ndarray) -> float:
    """Strokes crossed: the median count of ink runs over the middle rows, or over the middle
    columns, whichever is more."""
    z = (m > 0).astype(np.int8)
    h, w = z.shape
    rows = (np.diff(np.pad(z, ((0, 0), (1, 0))), axis=1) == 1).sum(1)[int(h * 0.15): int(h * 0.85) + 1]
    cols = (np.diff(np.pad(z, ((1, 0), (0, 0))), axis=0) == 1).sum(0)[int(w * 0.15): int(w * 0.85) + 1]
    return max(float(np.median(rows)) if rows.size else 0.0, float(np.median(cols)) if cols.size else 0.0)


def _holes(m: np.ndarray, min_area: float) -> tuple[np.ndarray, int]:
    """``m`` with its holes under ``min_area`` filled (specks of paper a pale or noisy stroke
    leaves inside itself, which would count as strokes crossed), and how many larger holes
    (loops) it encloses."""
    contours, hier = cv2.findContours((m > 0).astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hier is None:
        return m, 0
    holes = [c for c, h in zip(contours, hier[0], strict=True) if h[3] >= 0]
    small = [c for c in holes if cv2.contourArea(c) < min_area]
    filled = cv2.drawContours(m.copy(), small, -1, 1, -1) if small else m
    return filled, len(holes) - len(small)


def find_strikes(ink: np.ndarray, places: list[Rect]) -> tuple[np.ndarray, list[Rect]]:
    """Struck-out characters among the pieces of ``ink`` (255 ink, lines removed) whose centre
    lies in one of ``places`` (the fields): ``ink`` less them, and their boxes. A piece is
    struck out where it holds a solid core (ink at least CORE pens thick all round, CORE_SHARE
    of a character's square: inked solid, or scribbled over densely), then that core and the ink within
    CORE_EDGE of it are struck, with what that leaves of the piece in bits under REST_HEIGHT,
    so a character it touches keeps its strokes; or, as a whole
    piece the size of a character, where its middle rows or columns cross SCRIBBLE_RUNS
    strokes (scribbled to and fro) or it encloses LOOPS holes (looped over). The pen is the
    median stroke width of the pieces in ``places``; with fewer than 3 pieces nothing is
    judged."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    pieces = []
    for i in range(1, n):
        x, y, w, h, _ = stats[i]
        cx, cy = x + w / 2, y + h / 2
        if any(px <= cx < px + pw and py <= cy < py + ph for px, py, pw, ph in places):
            pieces.append(i)
    if len(pieces) < 3:
        return ink, []
    heights = np.array([stats[i, 3] for i in pieces], float)
    tall = [i for i, h in zip(pieces, heights, strict=True) if h >= MIN_HEIGHT * np.median(heights)]
    crops = {i: (labels[stats[i, 1]: stats[i, 1] + stats[i, 3], stats[i, 0]: stats[i, 0] + stats[i, 2]] == i)
             for i in tall}
    pen = float(np.median([stroke_width(crops[i]) for i in tall])) if tall else 0.0
    typical = float(np.median(heights))
    if len(tall) < 3 or pen <= 0:
        return ink, []
    out, struck = ink.copy(), []
    k = CORE * pen
    for i in tall:
        x, y, w, h, _ = stats[i]
        m = crops[i].astype(np.uint8)
        pad = int(np.ceil(k))
        core = cv2.morphologyEx(np.pad(m, pad), cv2.MORPH_OPEN, _disc(k))[pad: pad + h, pad: pad + w]
        cn, clab, cst, _ = cv2.connectedComponentsWithStats(core, connectivity=8)
        big = [j for j in range(1, cn) if cst[j, 4] >= 0.02 * typical ** 2]  # (not specks at the edge)
        if big and sum(cst[j, 4] for j in big) >= CORE_SHARE * typical ** 2:
            solid = np.isin(clab, big).astype(np.uint8)
            near = cv2.dilate(np.pad(solid, pad), _disc(2 * CORE_EDGE * pen + 1))[pad: pad + h, pad: pad + w]
            gone = (near > 0) & (m > 0)
            # what is left of the piece in bits shorter than a character is the strike's too
            rn, rlab, rst, _ = cv2.connectedComponentsWithStats((m > 0) & ~gone, connectivity=8)
            gone |= np.isin(rlab, [j for j in range(1, rn) if rst[j, 3] < REST_HEIGHT * typical])
        elif w <= MAX_ASPECT * h and ((filled := _holes(m, HOLE_AREA * typical ** 2))[1] >= LOOPS
                                      or _runs(filled[0]) >= SCRIBBLE_RUNS):
            gone = m > 0
        else:
            continue
        ys, xs = np.nonzero(gone)
        if ys.max() - ys.min() + 1 < STRUCK_HEIGHT * typical:
            continue
        out[y: y + h, x: x + w][gone] = 0
        struck.append((int(x + xs.min()), int(y + ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)))
    return out, struck
