"""Rubber stamps the line finder does not find as boxes: a frame in an ink paler than the form's
lines (a red or blue stamp on a grey scan), or turned from them, round a row of print. On a
colour scan an upright stamp's ink reads dark and its frame is found as a box (its print
judged by ``glyphs.printed_row`` there); a pale or turned one's frame breaks into stray
underlines and boxes that would be taken for fields. On a bilevel scan an unevenly inked
stamp's frame breaks into dashes: upright and no paler than the form there, it is told from
the form's own frames by being broken where the line finder found no box, and holding only
print and its own lines."""

from __future__ import annotations

import cv2
import numpy as np

from segmentation.glyphs import find_glyphs, printed_row, trimmed_row
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
# a frame the line finder found no box in is a stamp's only this many times STAMP_SIDE tall or more
# (18 mm on A4): a box of one row of writing whose colour a bilevel scan broke up is lower
STAMP_TALL = 4.0
# _dashed_frames: pieces at least DASH_ASPECT times as long as their mean width are dashes; DASH_MIN
# or more of them, joined across gaps up to DASH_GAP times a frame's least height into a piece
# covering DASH_FILL of its bounding box or less, make a frame where they run along DASH_COVER of
# its least-area rectangle's edge and DASH_EDGE of their ink lies there (the rest: the print's bars)
DASH_ASPECT, DASH_MIN, DASH_GAP, DASH_FILL, DASH_COVER, DASH_EDGE = 3.0, 4, 2.0, 0.5, 0.65, 0.6
# inside a frame already turned, pale or standing alone, two copies of a printed letter need only
# overlap this much (``printed_row``'s ``same``): an unevenly inked stamp scanned bilevel at 200 DPI
# leaves its two Es in RECEIVED at 0.76, where the form's own print reaches 0.8
STAMP_SAME = 0.7


def stamp_frames(faint: np.ndarray, flat: np.ndarray, lines_mask: np.ndarray, boxes: list[Rect]) -> list[Rect]:
    """Frames on the page (``faint``: binarised just below paper white; ``flat``: the grey page
    it was cut from) that are a rubber stamp's, their rects (the outer and inner frame of a
    double one each):

    - drawn in an ink at least ``STAMP_PALER`` paler than the form's lines (``lines_mask``), or a
      rectangle turned ``STAMP_TURN`` or more from the deskewed page, round a row of print
      (``printed_row``, on the faint ink inside the frame, every frame-like piece left out: a
      double frame's broken inner one too);
    - or where the line finder found no box (``boxes``, full scale), ``STAMP_TALL`` times the
      least height or taller, and the frame holds no form line but along its edges
      (``_alone``): round a row of print, or, broken into dashes
      (``_dashed_frames``: an unevenly inked stamp on a bilevel scan, its print broken too),
      round any ink.

    Frames are looked for at half scale (``STAMP_STEP``; a block holding any ink is ink, so thin
    lines stay whole), the print inside them at full scale."""
    lines = flat[lines_mask > 0]
    pale = float(np.percentile(lines[:: max(1, lines.size // STAMP_SAMPLE)], 25)) + STAMP_PALER if lines.size \
        else np.inf  # (no form lines to be paler than: only a turned frame is a stamp's)
    h, w = faint.shape
    small = cv2.resize(faint, (w // STAMP_STEP, h // STAMP_STEP), interpolation=cv2.INTER_AREA)
    n, labels, stats, _ = label_pieces((small > 0).astype(np.uint8))
    side = STAMP_SIDE * max(h, w) / STAMP_STEP
    boxed = _in_boxes(stats, boxes)
    framed = [i for i in range(1, n) if _frame_like(stats[i], side, w // STAMP_STEP, h // STAMP_STEP)]
    frames = [(stats[i], framed, True) for i in framed
              if _stamped(*_full_scale(labels, stats[i], [i], faint), flat, lines_mask, pale) or
              (not boxed[i] and stats[i][3] >= STAMP_TALL * side and
               _alone(_least_rect(labels, stats[i], i), stats[i], side, lines_mask))]
    frames += [(stat, framed + own, False) for stat, own in _dashed_frames(labels, stats, side, lines_mask, boxed)]
    none = FormLines(np.zeros((1, 1), np.uint8), [], [], 1.0)
    out = []
    for stat, pieces, print_needed in frames:  # (pieces: the frame-like ones, left out of what it holds)
        box, frame = _full_scale(labels, stat, pieces, faint)
        inner = np.where(frame > 0, 0, faint[box]).astype(np.uint8)
        glyphs = find_glyphs(inner, none, free_text=True)
        holds = _holds_print(glyphs) if print_needed else bool(glyphs)
        if holds:
            out.append((box[1].start, box[0].start, frame.shape[1], frame.shape[0]))
    return out


def _holds_print(glyphs: list) -> bool:
    """Whether a frame's ``glyphs`` hold a row of print (``printed_row`` with ``STAMP_SAME``, on
    each row ``trimmed_row`` of the frame's pieces at its ends)."""
    runs: dict[int, list] = {}
    for g in glyphs:
        runs.setdefault(g.run, []).append((g.rect, g.mask))
    return any(g.printed for g in glyphs) or any(printed_row(trimmed_row(r), same=STAMP_SAME) for r in runs.values())


def _in_boxes(stats: np.ndarray, boxes: list[Rect]) -> np.ndarray:
    """Whether each half-scale piece (``stats``) is centred in one of ``boxes`` (full scale),
    as ``rects.centre_in`` tells, for every piece at once: the line finder found it, and it is
    the form's."""
    cx = (stats[:, 0] + stats[:, 2] / 2) * STAMP_STEP
    cy = (stats[:, 1] + stats[:, 3] / 2) * STAMP_STEP
    out = np.zeros(len(stats), bool)
    for bx, by, bw, bh in boxes:
        out |= (cx >= bx) & (cx <= bx + bw) & (cy >= by) & (cy <= by + bh)
    return out


def _dashed_frames(labels: np.ndarray, stats: np.ndarray, side: float, lines_mask: np.ndarray,
                   boxed: np.ndarray) -> list[tuple[np.ndarray, list[int]]]:
    """Frames broken into dashes (half-scale ``labels`` and their ``stats``; ``side``, a frame's
    least height there; they are ``STAMP_TALL`` times that or taller): ``DASH_MIN`` or more
    dashes, none ``boxed`` (in a box the line finder found), joined across gaps up to
    ``DASH_GAP`` times ``side`` into a piece covering ``DASH_FILL`` of its bounding box or
    less, whose dashes run along ``DASH_COVER`` of its least-area rectangle's edge with
    ``DASH_EDGE`` of their ink within half ``side`` of it, and whose dashes there are
    frame-like (``_frame_like``) and hold no form line but their own (``_alone``). Each one's
    stats (its ink's area its dashes') and dashes."""
    long = np.maximum(stats[:, 2], stats[:, 3])
    thick = stats[:, 4] / np.maximum(long, 1)  # its mean width (a turned dash's box is wider)
    dashes = np.nonzero((long >= DASH_ASPECT * thick) & (thick <= side / 2) & ~boxed)[0]
    dashes = dashes[dashes > 0]
    if len(dashes) < DASH_MIN:
        return []
    ink = np.isin(labels, dashes).astype(np.uint8)
    k = max(3, int(round(DASH_GAP * side)))
    padded = cv2.copyMakeBorder(ink, k, k, k, k, cv2.BORDER_CONSTANT, value=0)  # (else closing fills to the edge)
    joined = cv2.morphologyEx(padded, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))[k:-k, k:-k]
    n, parts, pstats, _ = label_pieces(joined)
    h, w = labels.shape
    out = []
    for j in range(1, n):
        x, y, pw, ph, _ = (int(v) for v in pstats[j])
        if not (STAMP_TALL * side <= ph and 2 * side <= pw):
            continue
        own = parts[y : y + ph, x : x + pw] == j
        sub = np.where(own & (ink[y : y + ph, x : x + pw] > 0), labels[y : y + ph, x : x + pw], 0)
        mine = np.unique(sub[sub > 0])
        if len(mine) < DASH_MIN or np.count_nonzero(own) > DASH_FILL * pw * ph:
            continue  # (a row of strokes closes into a bar, not a ring)
        rect = _least_rect(parts, pstats[j], j)
        edge = _outline((ph, pw), rect, 1)
        near = cv2.dilate(own.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0  # a rectangle's edge is jagged
        if np.count_nonzero(near & (edge > 0)) < DASH_COVER * np.count_nonzero(edge):
            continue
        # the dashes along that edge (a double frame's two lines) are the frame; the print's bars
        # joined to it are not, and most of the dashes' ink is the frame's
        band = _outline((ph, pw), rect, side)
        inside = np.bincount(sub[band > 0].ravel(), minlength=int(mine.max()) + 1)[mine]
        area = stats[mine, 4]
        kept = inside * 2 >= area
        stat = np.array([x, y, pw, ph, int(area[kept].sum())])
        if area[kept].sum() >= DASH_EDGE * area.sum() and kept.sum() >= DASH_MIN and \
                _frame_like(stat, side, w, h) and _alone(rect, stat, side, lines_mask):
            out.append((stat, mine[kept].tolist()))
    return out


def _outline(shape: tuple[int, int], rect: tuple, width: float) -> np.ndarray:
    """A mask of ``shape`` with ``rect`` (a ``cv2.minAreaRect``) outlined ``width`` px wide."""
    return cv2.polylines(np.zeros(shape, np.uint8), [np.intp(cv2.boxPoints(rect))], True, 255,
                         max(1, int(round(width))))


def _alone(rect: tuple, stat: np.ndarray, side: float, lines_mask: np.ndarray) -> bool:
    """Whether a half-scale frame (``stat``; ``rect``, its least-area rectangle, from its
    bounding box's corner) holds less of the form's lines (``lines_mask``, full scale) than its
    height further than ``side`` from its edge: a line along it (a double frame's inner one too)
    is its own, found as an underline; one further inside is the form's, and the frame a
    section of the form."""
    x, y, pw, ph = (int(v) for v in stat[:4])
    box = (slice(STAMP_STEP * y, STAMP_STEP * (y + ph)), slice(STAMP_STEP * x, STAMP_STEP * (x + pw)))
    lines = lines_mask[box] > 0
    near = cv2.resize(_outline((ph, pw), rect, 2 * side), (lines.shape[1], lines.shape[0]),
                      interpolation=cv2.INTER_NEAREST)
    return np.count_nonzero(lines & (near == 0)) < lines.shape[0]


def _least_rect(labels: np.ndarray, stat: np.ndarray, i: int) -> tuple:
    """Piece ``i``'s least-area rectangle (``cv2.minAreaRect``), from its bounding box's corner."""
    x, y, w, h = (int(v) for v in stat[:4])
    return cv2.minAreaRect(cv2.findNonZero((labels[y : y + h, x : x + w] == i).astype(np.uint8)))


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
    edge = _outline(mask.shape, rect, round(4 * width) + 3)
    return cv2.countNonZero(mask & edge) >= STAMP_EDGE * ink
