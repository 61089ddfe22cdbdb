"""Characters struck out: a wrong character scribbled over, inked solid or looped over where it
was written, the right one written after it. Found on the page's ink (form lines removed)
before characters are cut, so a scribble is neither split into strokes nor read; pure
functions."""

from __future__ import annotations

import cv2
import numpy as np

from segmentation.glyphs import components
from segmentation.rects import Rect

CORE = 2.5  # x the page's pen: ink this thick all round is inked solid (or a thick pen's joins)
CORE_SHARE = 0.15  # x a character's height squared: a solid core this large is a struck-out character
CORE_SPECK = 0.02  # x a character's height squared: a smaller solid bit (a stroke's end, a join) is no core
CORE_EDGE = 1.0  # x the pen: ink this close to a solid core goes with it (its ragged edge)
SCRIBBLE_RUNS = 5  # strokes crossed, median over a piece's middle rows or columns: to and fro
SCRIBBLE_INK = 2.0  # x the pen x the piece's height: less ink cannot cross SCRIBBLE_RUNS strokes or draw LOOPS
LOOPS = 5  # enclosed holes: a coil of loops (a B has 2)
HOLE_AREA = 0.02  # x a character's height squared: a smaller hole is a speck of paper, no loop
MIN_HEIGHT = 0.4  # x a character's height: a shorter piece is no character, struck or not
STRUCK_HEIGHT = 0.6  # x a character's height: a solid core less tall is a blob of ink, not a strike
REST_HEIGHT = 0.5  # x a character's height: what a solid core leaves of its piece in shorter bits goes with it
MAX_ASPECT = 1.6  # width over height: a wider piece (touching characters) is judged by its core only


def _depth(mask: np.ndarray) -> np.ndarray:
    """Each ink pixel's distance from the paper (0 on paper)."""
    return cv2.distanceTransform(_border((mask > 0).astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]


def stroke_width(depth: np.ndarray) -> float:
    """A piece of ink's stroke width from its ``_depth``: four times the median depth of its
    pixels (across a stroke of width p those run evenly from 0 to p/2), which a ragged edge
    barely moves."""
    inside = depth[depth > 0]
    return 4.0 * float(np.median(inside)) if inside.size else 0.0


def character_height(heights: np.ndarray, areas: np.ndarray) -> float:
    """The height of the characters among pieces of ink: their median height weighted by ink,
    so the specks a dashed line or a noisy scan leaves, however many, do not count."""
    order = np.argsort(heights)
    cum = np.cumsum(areas[order])
    return float(heights[order][np.searchsorted(cum, cum[-1] / 2)])


def _disc(d: float) -> np.ndarray:
    k = max(3, int(round(d)) | 1)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))


def _border(m: np.ndarray, pad: int) -> np.ndarray:
    return cv2.copyMakeBorder(m, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)


def _runs(m: np.ndarray) -> float:
    """Strokes crossed: the median count of ink runs over the middle rows, or over the middle
    columns, whichever is more."""
    z = m > 0
    h, w = z.shape
    mid = z[int(h * 0.15): int(h * 0.85) + 1]
    rows = mid[:, 0].astype(int) + (mid[:, 1:] & ~mid[:, :-1]).sum(1)  # a run starts at the edge or after paper
    mid = z[:, int(w * 0.15): int(w * 0.85) + 1]
    cols = mid[0].astype(int) + (mid[1:] & ~mid[:-1]).sum(0)
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
    lies in one of ``places`` (the fields): ``ink`` less them, and their boxes.

    A piece is struck out where it holds a solid core (ink at least CORE pens thick all round,
    CORE_SHARE of a character's square: inked solid, or scribbled over densely); then that core,
    the ink within CORE_EDGE pens of it, and what that leaves of the piece in bits under
    REST_HEIGHT are struck, so a character it touches keeps its strokes. Or, a piece the size
    of one character, where its middle rows or columns cross SCRIBBLE_RUNS strokes (scribbled
    to and fro) or it encloses LOOPS holes (looped over): the whole piece. The pen is the
    median stroke width of the pieces of a character's size (``character_height``); with fewer
    than 3 of them nothing is judged."""
    labels, comps = components(ink)
    if not places or not comps:
        return ink, []
    stats = np.array([(0, 0, 0, 0, 0)] + [(c.x, c.y, c.w, c.h, c.area) for c in comps])  # row = label
    cx, cy = stats[1:, 0] + stats[1:, 2] / 2, stats[1:, 1] + stats[1:, 3] / 2
    px, py, pw, ph = (np.array(places, float)[:, j, None] for j in range(4))
    pieces = list(1 + np.nonzero(((px <= cx) & (cx < px + pw) & (py <= cy) & (cy < py + ph)).any(0))[0])
    if len(pieces) < 3:
        return ink, []
    typical = character_height(stats[pieces, 3].astype(float), stats[pieces, 4].astype(float))
    tall = [i for i in pieces if stats[i, 3] >= MIN_HEIGHT * typical]
    if len(tall) < 3:
        return ink, []
    crops = {i: labels[stats[i, 1]: stats[i, 1] + stats[i, 3], stats[i, 0]: stats[i, 0] + stats[i, 2]] == i
             for i in tall}
    depths = {i: _depth(crops[i]) for i in tall}
    pen = float(np.median([stroke_width(d) for d in depths.values()]))
    if pen <= 0:
        return ink, []
    out, struck = ink.copy(), []
    k = CORE * pen
    pad = int(np.ceil(k))
    for i in tall:
        x, y, w, h, _ = stats[i]
        m = crops[i].astype(np.uint8)
        gone = None
        if depths[i].max() >= k / 2 - 1:  # a disc CORE pens wide fits somewhere: look for the core
            core = cv2.morphologyEx(_border(m, pad), cv2.MORPH_OPEN, _disc(k))[pad: pad + h, pad: pad + w]
            cn, clab, cst, _ = cv2.connectedComponentsWithStats(core, connectivity=8)
            big = [j for j in range(1, cn) if cst[j, 4] >= CORE_SPECK * typical ** 2]
            if sum(cst[j, 4] for j in big) >= CORE_SHARE * typical ** 2:
                near = cv2.dilate(_border(np.isin(clab, big).astype(np.uint8), pad),
                                  _disc(2 * CORE_EDGE * pen + 1))[pad: pad + h, pad: pad + w]
                gone = (near > 0) & crops[i]
                # what is left of the piece in bits shorter than a character is the strike's too
                rn, rlab, rst, _ = cv2.connectedComponentsWithStats((crops[i] & ~gone).astype(np.uint8), connectivity=8)
                gone |= np.isin(rlab, [j for j in range(1, rn) if rst[j, 3] < REST_HEIGHT * typical])
        if gone is None and w <= MAX_ASPECT * h and stats[i, 4] >= SCRIBBLE_INK * pen * h:
            filled, loops = _holes(m, HOLE_AREA * typical ** 2)
            if loops >= LOOPS or _runs(filled) >= SCRIBBLE_RUNS:
                gone = crops[i]
        if gone is None:
            continue
        ys, xs = np.nonzero(gone)
        if ys.max() - ys.min() + 1 < STRUCK_HEIGHT * typical:
            continue
        out[y: y + h, x: x + w][gone] = 0
        struck.append((int(x + xs.min()), int(y + ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)))
    return out, struck
