"""Form lines: find box edges, comb-cell separators (closed cells, or short ticks rising
from a baseline) and underlines; keep their geometry; erase them without erasing the
character strokes that cross them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from segmentation.rects import Rect, label_pieces, overlap_areas, overlap_ious

PEN_DARKER = 50  # grey levels: a vertical run this much darker than pale printed lines is a pen stroke


@dataclass
class Box:
    """A printed box on the page: a free box (one cell) or a comb field (several cells)."""

    rect: Rect
    cells: list[Rect] = field(default_factory=list)
    open_top: bool = False  # a tick comb: only the baseline and cell width are printed, not the top
    placed: int = 0  # separators not found but put back on the comb's pitch

    @property
    def is_comb(self) -> bool:
        return len(self.cells) > 1


@dataclass
class FormLines:
    mask: np.ndarray  # uint8, 255 where a form line is
    boxes: list[Box]
    underlines: list[Rect]
    thickness: float
    horizontal: np.ndarray | None = None  # the horizontal lines of ``mask`` (the rest are upright)
    drawn: np.ndarray | None = None  # dashed or dotted lines drawn whole (dashed_lines), where they were
    creases: np.ndarray | None = None  # lines of ``mask`` across the whole sheet (a fold): erased, no structure


def _rect_kernel(w: int, h: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_RECT, (max(1, w), max(1, h)))


LINE_GAP = 7  # px at working scale: a gap this short in a printed horizontal line is bridged
V_GAP = 2  # px at working scale: upright runs of find_lines this far apart, one above the other, are one
# line (a px of paper between an upright line's dashes run together, and a px a run's end may lose to the opening)
# A comb's cells are printed on one pitch, at most COMB_ASPECT times as wide as they are tall;
# a separator off that pitch by more than COMB_TOL of it is a pen stroke (a tall I, a stem of
# an N or an H) written between the box edges, and one grid place in COMB_MISSING may lack its
# separator (a bilevel scan broke it; one of two in a three-cell comb). Cells are at least
# COMB_NARROW times as wide as tall.
COMB_ASPECT, COMB_TOL, COMB_MISSING, COMB_NARROW = 2.0, 0.12, 4, 0.5
PAGE_PITCH_TOL = 0.15  # _pick: a grid this close to the pitch of the page's other combs is theirs
SLIVER = 3  # px: the narrowest hole between lines kept as a (piece of a) cell
FILLED_GAP = 0.75  # x cell height: cells of one outline this far apart are still one comb


def _runs(binary: np.ndarray, length: int, horizontal: bool) -> np.ndarray:
    """Ink in straight runs at least ``length`` long: an opening (erode, dilate) by a line. The
    dilation is one pixel fatter across the run, taking in a printed line's ragged edge, which
    the AND keeps only where there is ink."""
    along, across = (length, 1), (length, 3)
    if not horizontal:
        along, across = along[::-1], across[::-1]
    return cv2.dilate(cv2.erode(binary, _rect_kernel(*along)), _rect_kernel(*across)) & binary


DASH_LONG = 0.015  # of the long side (30 px at 2000): a printed dash or dot is no longer than this
DASH_THICK = 0.003  # of the long side: ... nor thicker across its line
DASH_GAP = 0.02  # of the long side (6 mm on A4): paper between dashes, or where a corner or a T joins two lines
DASH_CHAIN = 4  # dashes in a row at least (a tick box's side holds four)
TICK_CHAIN = 2  # dashes at least, evenly spaced, in a comb's tick standing on a dashed baseline
DASH_EVEN = 0.35  # a row's dash pitches and lengths lie within this share of their median (most of them)
SIDE_REACH = 2.0  # dash pitches: an upright dashed line is drawn on to a dashed line this near its end
SIDE_STRAY = 2  # pieces: an upright dashed line ends at the dashed line it crosses with no more beyond it


def dots_closed(binary: np.ndarray, dashes: np.ndarray) -> np.ndarray:
    """``binary`` closed across the gaps of its dashed lines (``dashes``: ``dashed_lines``), so
    that a dotted square is one closed outline whatever the drawing made of it (a mark in a
    tick box can join its dots into a line drawn too long, or leave a side out). The gap is
    the lower quartile of the lengths of the drawn lines' stretches over paper (the longer
    ones cross a caption or a corner), in px."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(cv2.bitwise_and(dashes, cv2.bitwise_not(binary)),
                                                      connectivity=4)
    if n < 2:
        return binary
    gap = int(np.percentile(np.maximum(stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]), 25))
    return cv2.morphologyEx(binary, cv2.MORPH_CLOSE, _rect_kernel(gap + 2, gap + 2))


def dashed_lines(binary: np.ndarray) -> np.ndarray | None:
    """The page's dashed and dotted form lines drawn whole (a mask, 255), for find_lines;
    None where it shows none. A dashed line is a row of at least DASH_CHAIN small, thin pieces
    of ink on one line, of much the same length at much the same pitch (``_uneven``; dots a scan
    ran together count as one piece): printed captions and handwriting are neither that thin
    nor that even. Each row is drawn from its first dash to its last, and on through the ink in
    line with it (``_ink_on``: dots run into a piece too long for a dash, the corner or the T it
    runs into); a horizontal one with no such ink on by a dash gap, an upright one first on to
    the dashed line it meets within SIDE_REACH pitches, so that it joins the lines it
    separates. The upright rows leave out the dots of the horizontal lines drawn (in line with
    a side at some phase, they made it uneven), and end at the line they cross with at most
    SIDE_STRAY pieces beyond it (a caption's letters). An upright row too short for a line, of
    TICK_CHAIN or more pieces of one size at the pitch of the horizontal lines drawn (forms
    print their lines with one dash), standing on one of them, is a dotted comb's tick: drawn
    down to it."""
    _, _, stats, centres = label_pieces(binary)
    long_side = max(binary.shape)
    x, y, w, h = (stats[1:, i] for i in range(4))
    small = np.maximum(w, h) <= DASH_LONG * long_side
    max_gap, thick = DASH_GAP * long_side, max(2.0, DASH_THICK * long_side)
    out = np.zeros_like(binary)
    pitches: list[float] = []  # of the horizontal dashed lines drawn
    for horizontal in (True, False):
        start, length, across = (x, w, h) if horizontal else (y, h, w)
        mid, side = (centres[1:, 0], centres[1:, 1]) if horizontal else (centres[1:, 1], centres[1:, 0])
        # along its line, or a dot (for an upright line's, one a px shorter along it than across
        # is still a dot: a close-dotted tick's dots come out 3 px wide by 2 tall; a sliver 1 px
        # long is not, but what is left of a dot the scan lost)
        dot = (length >= across) | ((not horizontal) & (length + 1 >= across) & (length >= 2))
        cand = np.flatnonzero(small & (across <= thick) & dot)
        if not horizontal:  # a dot of a horizontal line drawn is not an upright one's
            cx, cy = np.round(centres[1:, 0]).astype(int), np.round(centres[1:, 1]).astype(int)
            cand = cand[out[cy[cand], cx[cand]] == 0]
            line_pitch = float(np.median(pitches)) if pitches else None
        if len(cand) < DASH_CHAIN:
            continue
        ink = binary | out  # the horizontal lines drawn, for the upright ones to meet
        drawn = out.copy()
        cand = cand[np.argsort(side[cand], kind="stable")]
        near = max(2.0, thick / 2)
        for row in np.split(cand, np.flatnonzero(np.diff(side[cand]) > near) + 1):
            for chain in _chains(row[np.argsort(mid[row], kind="stable")], side, start, length, max_gap, near):
                tick = not horizontal and TICK_CHAIN <= len(chain) < DASH_CHAIN
                if len(chain) < DASH_CHAIN and not tick:
                    continue
                odd_pitch, odd_size, step = _uneven(mid[chain], start[chain], length[chain])
                # a tick's few dashes: all alike, at the pitch of the page's horizontal dashed lines
                if tick and (odd_pitch.any() or odd_size.any() or line_pitch is None
                             or abs(step - line_pitch) > DASH_EVEN * line_pitch):
                    continue
                # a piece of another size off the pitch at either end is not the line's (a caption's
                # stem above a box's side)
                first, last = 0, len(chain)
                while last - first > DASH_CHAIN and odd_pitch[first] and odd_size[first]:
                    first += 1
                while last - first > DASH_CHAIN and odd_pitch[last - 2] and odd_size[last - 1]:
                    last -= 1
                chain, odd_pitch, odd_size = chain[first:last], odd_pitch[first : last - 1], odd_size[first:last]
                if odd_pitch.mean() > 0.25 or odd_size.mean() > 0.25:
                    continue
                reach = int(round(step - np.median(length[chain]) + thick))  # a dash gap and a bit
                a, b = int(start[chain[0]]), int(start[chain[-1]] + length[chain[-1]])
                c, t = int(round(float(np.median(side[chain])))), max(1, int(round(float(np.median(across[chain])))))
                if horizontal:
                    rows = binary[max(0, c - t) : c + t + 1].any(axis=0)
                    a, b = a - (_ink_on(rows, a, -1, reach) or reach), b + (_ink_on(rows, b, 1, reach) or reach)
                    cv2.line(out, (a, c), (b, c), 255, t)
                    pitches.append(step)
                    continue
                cols = slice(max(0, c - t), c + t + 1)
                lines_at, band = drawn[:, cols].any(axis=1), ink[:, cols].any(axis=1)
                far = int(round(SIDE_REACH * step))
                if tick:  # a comb's dotted tick: drawn down to the dashed baseline it stands on
                    low = int(start[chain[-1]])  # (the line drawn may overlap its last dot)
                    if (foot := np.flatnonzero(lines_at[low : b + 1 + far])).size:
                        cv2.line(out, (c, a), (c, low + int(foot[0])), 255, t)
                    continue
                # a side ends at the dashed line it meets near either end: a caption's letter in line
                # with it just beyond (a stem above the box) is not the side's; else it goes on
                crossed, along = np.flatnonzero(lines_at[a : b + 1]) + a, mid[chain]
                if len(crossed) and 0 < (along < crossed[0]).sum() <= SIDE_STRAY:
                    a = int(crossed[0])
                else:
                    a -= _on_to(lines_at, band, a, -1, far, reach)
                if len(crossed) and 0 < (along > crossed[-1]).sum() <= SIDE_STRAY:
                    b = int(crossed[-1])
                else:
                    b += _on_to(lines_at, band, b, 1, far, reach)
                cv2.line(out, (c, a), (c, b), 255, t)
    return out if out.any() else None


BRIDGE_ALONG, BRIDGE_DOWN = (5, 1), (2, 7)  # (w, h) px at working scale: the gaps bridged across and down
BRIDGE_LONG = 0.05  # of the long side (100 px at 2000): a piece of ink this long is no letter
BRIDGE_RUN = 0.025  # of the long side: a straight run of ink this long, once bridged, is a line's
BRIDGE_ROUNDS = 3  # times the runs bridged reach on along their line, at most
BRIDGE_DASHES = 100  # pieces the size of a dash or dot on a page of dashed lines at least (a solid form: under 60)


def bridge_gaps(binary: np.ndarray) -> np.ndarray | None:
    """``binary`` with short gaps along its lines bridged: a line printed with fine gaps, which
    the binarisation left neither whole nor in separate dashes (beads run together in places),
    comes out whole. A closing, kept where it reaches from a thin piece (no thicker across its
    line than DASH_THICK, as a printed dash or dot is; or elongated; or longer than any letter),
    and then from a run of line so bridged (a dot of the line that a letter written on it joined
    is no thin piece). Letters are thicker than a dash, so print set close (a bold title, a
    caption) is not run together into a line. None for a page with fewer than BRIDGE_DASHES
    pieces the size of a dash or dot: its lines are solid, or it has none."""
    _, labels, stats, _ = label_pieces(binary)
    long_side = max(binary.shape)
    thick = max(2.0, DASH_THICK * long_side)
    w, h = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    size = np.maximum(w, h)
    if int(((size <= DASH_LONG * long_side) & (np.minimum(w, h) <= thick) & (size >= 3))[1:].sum()) < BRIDGE_DASHES:
        return None
    long = size >= BRIDGE_LONG * long_side
    # which way each piece is thin: 1 along a row, 2 down a column (one lookup of the labels)
    kind = ((h <= thick) | (w >= 2 * h) | long).astype(np.uint8) + 2 * ((w <= thick) | (h >= 2 * w) | long)
    kind[0] = 0  # the paper
    kinds = kind.astype(np.uint8)[labels]
    out = binary.copy()
    steps = []
    for bit, horizontal, (kw, kh) in ((1, True, BRIDGE_ALONG), (2, False, BRIDGE_DOWN)):
        # across a whole gap from the thin piece: the piece on the other side may be a corner or a
        # T, where a side or a separator joins the line
        reach = _rect_kernel(2 * kw - 1, kh) if horizontal else _rect_kernel(kw, 2 * kh - 1)
        closed = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, _rect_kernel(kw, kh))
        thin = cv2.compare(cv2.bitwise_and(kinds, bit), 0, cv2.CMP_GT)
        out = cv2.bitwise_or(out, cv2.bitwise_and(closed, cv2.dilate(thin, reach)))
        steps.append((horizontal, reach, closed))
    for _ in range(BRIDGE_ROUNDS):  # each gap bridged may make a run long enough to reach the next
        before = cv2.countNonZero(out)
        for horizontal, reach, closed in steps:
            runs = _runs(out, int(BRIDGE_RUN * long_side), horizontal)
            out = cv2.bitwise_or(out, cv2.bitwise_and(closed, cv2.dilate(runs, reach)))
        if cv2.countNonZero(out) == before:
            break
    return out


def _chains(row: np.ndarray, side: np.ndarray, start: np.ndarray, length: np.ndarray, max_gap: float,
            near: float) -> list[np.ndarray]:
    """A row of pieces (in order along it) split where paper longer than ``max_gap`` lies
    between them, each part less the pieces more than ``near`` across from its line (pieces
    elsewhere on the page that chained the row wide, or a caption's letter beside its end).
    The line is where most of the part's pieces lie, not their median: a printed caption's
    specks a bilevel scan left above a dotted box's side can outnumber, and span wider than,
    the side's own dots, and put the median off the side."""
    def split(r: np.ndarray) -> list[np.ndarray]:
        return np.split(r, np.flatnonzero(start[r][1:] - (start[r] + length[r])[:-1] > max_gap) + 1)

    out = []
    for part in split(row):
        s = side[part]
        ss = np.sort(s)  # the piece with the most others within ``near`` of it, and those others
        lo, hi = np.searchsorted(ss, ss - near, "left"), np.searchsorted(ss, ss + near, "right")
        k = int(np.argmax(hi - lo))
        kept = part[np.abs(s - np.median(ss[lo[k] : hi[k]])) <= near]
        out += [part] if len(kept) == len(part) else split(kept)
    return out


def _uneven(mid: np.ndarray, start: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """For a row of pieces along a line (centres ``mid``, in order): which pitches between
    neighbours are off the row's pitch by more than DASH_EVEN of it, which pieces are off their
    median length by as much (and by more than a px), and the pitch. Two or more dots a scan
    ran together are one long piece a dash gap from its neighbours, off the pitch either side:
    those pitches are not odd (a caption's letter in line with the row is, as the paper before
    it is no dash gap)."""
    pitch, size = np.diff(mid), length.astype(float)
    run_together = size >= np.median(size) + np.median(pitch) / 2  # two dots and the gap between: a dot and a pitch
    beside = run_together[:-1] | run_together[1:]
    step = float(np.median(pitch[~beside] if (~beside).any() else pitch))
    gaps = start[1:] - (start + length)[:-1]
    joined = beside & (np.abs(gaps - (step - np.median(size))) <= DASH_EVEN * step)
    odd_pitch = (np.abs(pitch - step) > DASH_EVEN * step) & ~joined
    # (a dot 2 px long beside dots of 3 is the scan's rounding, not another size)
    return odd_pitch, np.abs(size - np.median(size)) > max(1.0, DASH_EVEN * np.median(size)), step


def _ink_on(ink_at: np.ndarray, end: int, step: int, reach: int) -> int:
    """How many px past ``end`` (``step`` -1: back, 1: on) the ink of ``ink_at`` goes on with no
    gap of paper longer than ``reach``."""
    at = np.flatnonzero(ink_at)
    beyond = at[at > end] - end if step > 0 else (end - at[at < end])[::-1]
    gaps = np.diff(beyond, prepend=0)
    stop = int(np.argmax(gaps > reach)) if (gaps > reach).any() else len(beyond)
    return int(beyond[stop - 1]) if stop else 0


def _on_to(lines_at: np.ndarray, ink_at: np.ndarray, end: int, step: int, far: int, reach: int) -> int:
    """How many px past ``end`` (``step`` -1: up, 1: down) an upright dashed line is drawn on: to
    the first dashed line drawn within ``far`` (a dash lost at the corner), else on through the
    ink in line with it (dots run together, the corner or the T it runs into; ``_ink_on``)."""
    hit = np.flatnonzero(lines_at[max(0, end - far) : end][::-1] if step < 0 else lines_at[end + 1 : end + 1 + far])
    return int(hit[0]) + 1 if len(hit) else _ink_on(ink_at, end, step, reach)


def find_lines(binary: np.ndarray, grey: np.ndarray | None = None) -> FormLines:
    """Detect horizontal lines (long runs), vertical lines that join two horizontal lines
    (box sides, comb separators), the boxes/cells they enclose and free underlines.

    ``grey``, given when ``binary`` is the faint binarisation of pale lines: a vertical run
    much darker than the horizontal lines is a pen stroke (a tall 1 between the box
    edges), not a printed separator, which shares the lines' ink."""
    h, w = binary.shape
    line_long = max(30, int(0.05 * w))  # a horizontal run this long is a line
    hmask = _runs(binary, line_long, horizontal=True)
    # a scanner's white streak (dust on the feed glass) cuts every horizontal line at one x:
    # bridge gaps that short along the lines, or each box it crosses comes apart
    hmask = cv2.morphologyEx(hmask, cv2.MORPH_CLOSE, _rect_kernel(LINE_GAP, 1))
    # an upright line's dashes run together at narrow necks, with a px of paper between some
    vrun = max(12, int(0.012 * h))
    vcand = cv2.morphologyEx(_runs(binary, vrun, horizontal=False), cv2.MORPH_CLOSE, _rect_kernel(1, V_GAP + 1))
    # a fold in the paper crosses the whole sheet: erased like a form line, but no box edge,
    # underline or separator (it would cut each box it crosses in two, and a word written across
    # it would be one glyph)
    hrects = _rects(hmask)
    printed = _thickness(hmask, hrects)
    hcrease, vcrease = _creases(hmask, True, printed), _creases(vcand, False, printed)
    if hcrease is None and _through_margins(binary, vrun):
        # a thin fold at a slight slant steps from row to row in runs shorter than a line's: it is
        # sought again among short runs (as upright ones are), only where some run through both margins
        hcrease = _creases(_runs(binary, vrun, horizontal=True), True, printed)
    if hcrease is not None:  # what the fold leaves of the lines it crosses is still a line only if long
        hmask &= ~hcrease
        near = hmask & cv2.dilate(hcrease, _rect_kernel(2 * LINE_GAP + 1, 2 * int(np.ceil(printed)) + 3))
        short = np.zeros_like(near)
        for x, y, ww, hh in _rects(near):
            if ww < line_long:
                short[y : y + hh, x : x + ww] = near[y : y + hh, x : x + ww]
        hmask &= ~short
        hcrease |= short
        hrects = _rects(hmask)
    if vcrease is not None:
        vcand &= ~vcrease
    creases = vcrease if hcrease is None else hcrease if vcrease is None else hcrease | vcrease
    vmask = np.zeros((h, w), np.uint8)  # calloc'd: only the kept lines' pages are touched
    # each joining run filled out to its upright rectangle, for finding cells: beside a slanted
    # pen stroke taken for a separator, a cell stays a rectangle (_cut then drops the stroke)
    vfill = np.zeros((h, w), np.uint8)
    vrects = []
    halves: list[tuple[Rect, bool]] = []  # thin upright runs meeting a line at one end (True: their top)
    line_grey = float(np.median(grey[hmask > 0])) if grey is not None and hmask.any() else None
    for x, y, ww, hh in _rects(vcand):
        if ww > max(8, hh // 3):
            continue
        if line_grey is not None and \
                np.median(grey[y : y + hh, x : x + ww][vcand[y : y + hh, x : x + ww] > 0]) < line_grey - PEN_DARKER:
            continue
        # a box side or comb separator: both of its ends meet a horizontal line
        xa, xb = max(0, x - 1), x + ww + 1
        top, bottom = hmask[max(0, y - 4) : y + 7, xa:xb].any(), hmask[max(0, y + hh - 7) : y + hh + 4, xa:xb].any()
        if top and bottom:
            vmask[y : y + hh, x : x + ww] = vcand[y : y + hh, x : x + ww]
            vfill[max(0, y - 4) : y + hh + 4, x : x + ww] = 255  # to the lines it met
            vrects.append((x, y, ww, hh))
        elif (top or bottom) and ww <= printed + 1:  # (as thin as a printed line: perhaps one broken)
            halves.append(((x, y, ww, hh), top))
    # thin separators that a bilevel scan broke: a run from one line that the ink in line with it
    # carries on to the next, but for short gaps; three or more on one pitch between two lines
    broken = {r for run, top in halves if (r := _broken_separator(binary, hmask, run, top)) is not None}
    for x, y, ww, hh in _on_a_pitch(list(broken), [r for r in vrects if r[2] <= 2 * printed + 1]):
        vmask[y : y + hh, x : x + ww] |= binary[y : y + hh, x : x + ww]
        vfill[max(0, y - 4) : y + hh + 4, x : x + ww] = 255
        vrects.append((x, y, ww, hh))
    thickness = printed if hcrease is None else _thickness(hmask, hrects)
    boxes = _boxes(hmask | vfill, thickness)
    grids = [_grids(b) for b in boxes]
    # a form prints its combs at one pitch, mostly: what most of them come to, cut on their own
    cells = [len(b.cells) if g is None else len(_pick(g)) + 1 for b, g in zip(boxes, grids, strict=True)]
    pitches = [b.rect[2] / n for b, n in zip(boxes, cells, strict=True) if n > 1]
    pitch = float(np.median(pitches)) if len(pitches) >= 3 else None
    boxes = [b if g is None else _cut(b, _pick(g, pitch), vrects, vmask, thickness, binary)
             for b, g in zip(boxes, grids, strict=True)]
    # a line with no room above it to write on is the page's edge (as a photo squared to the
    # sheet shows it) or a rule, no underline
    # a short bar far heavier than the print (a staple, a marker's stroke) is no line to write on
    writable = [r for r in hrects if r[1] >= UNDERLINE_ROOM * h and
                not (r[2] < HEAVY_SHORT * w and r[3] >= max(HEAVY_BAR * thickness, thickness + HEAVY_PX))]
    underlines = _underlines(writable, boxes)
    tick_boxes, tmask, bases = _tick_combs(binary, hmask, underlines, thickness)
    if tick_boxes:
        vmask |= tmask
        boxes = sorted(boxes + tick_boxes, key=lambda b: (b.rect[1], b.rect[0]))
        # a tick comb's baseline is its bottom edge; what runs on past the ticks found, long
        # enough to be a line, is still one to write on (writing there is read once, not twice)
        underlines = [u for u in _underlines(writable, boxes) if u not in [b for b, _ in bases]] + [
            r for u, b in bases for r in _beyond(u, b.rect) if r[2] >= line_long]
    # a fold is erased with the lines, and one along the page as a horizontal line is (a bar
    # written along it is kept)
    mask, horizontal = hmask | vmask, hmask if hcrease is None else hmask | hcrease
    return FormLines(mask if creases is None else mask | creases, boxes, underlines, thickness, horizontal,
                     creases=creases)


CREASE = 0.93  # of the page's width (height): a straight line this long is a fold, not print
CREASE_GAP = 0.01  # of the width (height): gaps this short in it are bridged (a thin fold comes out broken)
CREASE_PRINT = 2  # px thicker than the fold along most of it: a printed line runs into it there
CREASE_ALONE = 0.2  # of its length at least clear of print, to find the fold's own course by
CREASE_MARGIN = 0.05  # of its length at each end: the page's margins, where its own thickness is measured


def _through_margins(ink: np.ndarray, run: int = 1) -> bool:
    """Whether runs of ``ink`` along its rows, at least ``run`` long, lie in both side margins
    (``CREASE_MARGIN`` of its width), within half a degree of the same row: what a fold does, and
    no form's print (the cheap test before any search for creases)."""
    w = ink.shape[1]
    edge = max(run, int(CREASE_MARGIN * w))
    near = max(1, int(0.01 * w))
    rows = []
    for s in (slice(0, edge), slice(w - edge, w)):
        side = np.ascontiguousarray(ink[:, s])
        if not cv2.countNonZero(side):
            return False  # (a blank margin: nearly every page)
        if run > 1:  # a run that long survives an erosion by it (the opening's dilation adds no row)
            side = cv2.erode(side, _rect_kernel(run, 1))
        rows.append(cv2.dilate(side.any(axis=1).astype(np.uint8)[:, None], _rect_kernel(1, 2 * near + 1)))
    return bool((rows[0] & rows[1]).any())


def _creases(mask: np.ndarray, horizontal: bool, thickness: float) -> np.ndarray | None:
    """The lines of ``mask`` (runs along x; along y unless ``horizontal``) that cross nearly the
    whole page (``CREASE``), gaps up to ``CREASE_GAP`` bridged: a fold in the paper or a
    scanner's line, which no form prints edge to edge (its margins); None when there is none.
    Where a printed line runs into one (a box's edge the fold lies on or crosses), the line
    across is thicker than the fold's own (measured in the page's margins) or than print
    (``thickness``): there the fold is only the band along its own straight course, and only
    where it stands apart from the print; where the two touch, both stay print. A fold that lies
    on print most of its way stays print whole, unless it runs alone through both margins."""
    m = mask if horizontal else mask.T  # a view: only crops are copied
    length = m.shape[1]
    if not _through_margins(m):
        return None  # nothing runs through both margins: no fold (the common case, at little cost)
    gap = max(1, int(CREASE_GAP * length))
    bridged = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _rect_kernel(gap, 1) if horizontal else _rect_kernel(1, gap))
    out = None
    for x, y, w, h in _rects(bridged):
        x, y, w, h = (x, y, w, h) if horizontal else (y, x, h, w)
        if w < CREASE * length:
            continue
        crop = (bridged if horizontal else bridged.T)[y : y + h, x : x + w]
        fold = _fold(crop > 0, thickness)
        if fold is not None:
            out = np.zeros_like(m) if out is None else out
            out[y : y + h, x : x + w] |= np.where(fold, crop, 0).astype(out.dtype)
    if out is None:
        return None
    return (out if horizontal else np.ascontiguousarray(out.T)) & mask


def _fold(ink: np.ndarray, thickness: float) -> np.ndarray | None:
    """The fold's pixels in one page-long line's crop (along its columns), or None (print)."""
    h, w = ink.shape
    across = np.count_nonzero(ink, axis=0)  # the line's thickness, column by column
    margin = int(CREASE_MARGIN * w)
    ends = np.r_[across[:margin], across[w - margin :]]
    if not np.count_nonzero(ends):
        return None
    own = float(np.median(ends[ends > 0]))  # in the page's margins, where no form prints
    thick = (across >= own + CREASE_PRINT) | (across >= thickness + CREASE_PRINT)
    thick = cv2.dilate(thick.astype(np.uint8)[None], _rect_kernel(2 * CREASE_PRINT + 1, 1))[0].astype(bool)
    alone = ~thick & (across > 0)
    if np.count_nonzero(alone) < CREASE_ALONE * w:
        # on print nearly all the way: a fold only if it runs alone through both margins (no
        # form prints there), its course taken from them
        left, right = alone[:margin], alone[w - margin:]
        if min(np.count_nonzero(left), np.count_nonzero(right)) < margin / 2:
            return None  # print
        alone = np.zeros_like(alone)
        alone[:margin], alone[w - margin:] = left, right
    cols, rows = np.arange(w), np.arange(h)[:, None]
    centre = (ink * rows).sum(axis=0) / np.maximum(across, 1)
    course = np.polyval(np.polyfit(cols[alone], centre[alone], 1), cols)  # a fold is straight
    r = own / 2 + 1
    band = np.abs(rows - course[None, :]) <= r
    side = np.clip(np.stack([np.floor(course - r - 1), np.ceil(course + r + 1)]).astype(int), 0, h - 1)
    touching = ink[side[0], cols] | ink[side[1], cols]
    return ink & (~thick[None, :] | (band & ~touching[None, :]))


def _structure(lines: FormLines) -> np.ndarray:
    """The upright form lines of ``lines`` (its mask less the horizontal ones and any fold: a
    fold down the page is restored only where a stroke crosses it, not along a separator)."""
    vmask = lines.mask & ~lines.horizontal
    return vmask if lines.creases is None else vmask & ~lines.creases


TICK_END = 0.25  # of a tick comb's pitch: its baseline ends this near a pitch past its end tick, one is lost


def _tick_combs(binary: np.ndarray, hmask: np.ndarray, underlines: list[Rect],
                thickness: float) -> tuple[list[Box], np.ndarray, list[tuple[Rect, Box]]]:
    """Comb fields printed as a baseline with short ticks rising between the cells.

    A tick is a short vertical line whose foot stands on the baseline and whose top is free.
    Character stems standing on a line look alike, so only an evenly spaced run of ticks of
    one height counts: at least three, on a common pitch, with at most one missing. Returns
    the comb boxes (cells above the baseline, as tall as the pitch or 2.5 ticks, whichever is
    more), the ticks' mask and each comb's baseline with its box."""
    h = binary.shape[0]
    tmask = np.zeros_like(binary)
    bases: list[tuple[Rect, Box]] = []
    if not underlines:
        return [], tmask, bases
    vcand = _runs(binary, max(6, int(0.004 * h)), horizontal=False) & ~hmask
    ticks = []  # (x centre, top, height, rect)
    for x, y, ww, hh in _rects(vcand):
        if ww > max(3 * thickness + 2, hh // 2):
            continue
        xa, xb = max(0, x - 1), x + ww + 1
        # (a dashed baseline's last dash may stop a gap short of the comb's end tick)
        foot = hmask[max(0, y + hh - 3) : y + hh + 4, max(0, x - LINE_GAP) : x + ww + LINE_GAP].any()
        head = hmask[max(0, y - 4) : y + 3, xa:xb].any()
        if foot and not head:
            ticks.append((x + ww / 2, y, hh, (x, y, ww, hh)))
    boxes = []
    for ux, uy, uw, uh in underlines:
        mine = [t for t in ticks if ux - LINE_GAP <= t[0] <= ux + uw + LINE_GAP and uy - 3 <= t[1] + t[2] <= uy + uh + 3]
        best = _tick_run(mine)
        if best is None:
            continue
        run, pitch = best
        for t in run:
            tx, ty, tw, th = t[3]
            tmask[ty : ty + th, tx : tx + tw] = vcand[ty : ty + th, tx : tx + tw]
        xs = [t[0] for t in run]
        n = int(round((xs[-1] - xs[0]) / pitch))
        step = (xs[-1] - xs[0]) / n
        # an end tick not found (its dots lost in the scan): the baseline runs on a pitch past the
        # last tick found, where it would end at that tick
        if abs(xs[0] - step - ux) <= TICK_END * step:
            xs, n = [xs[0] - step, *xs], n + 1
        if abs(ux + uw - xs[-1] - step) <= TICK_END * step:
            xs, n = [*xs, xs[-1] + step], n + 1
        cell_h = int(round(max(step, 2.5 * float(np.median([t[2] for t in run])))))
        top = max(0, uy - cell_h)
        cells = [(int(round(xs[0] + k * step)), top, int(round(step)), uy + uh - top) for k in range(n)]
        boxes.append(Box((cells[0][0], top, cells[-1][0] + cells[-1][2] - cells[0][0], uy + uh - top),
                         cells, open_top=True))
        bases.append(((ux, uy, uw, uh), boxes[-1]))
    return boxes, tmask, bases


def _beyond(line: Rect, box: Rect) -> list[Rect]:
    """The parts of a horizontal ``line`` left and right of ``box``."""
    x, y, w, h = line
    left, right = box[0] - x, x + w - (box[0] + box[2])
    return [r for r in ((x, y, left, h), (box[0] + box[2], y, right, h)) if r[2] > 0]


def _tick_run(ticks: list) -> tuple[list, float] | None:
    """The longest evenly spaced run of same-height ticks: (ticks, pitch), or None.

    Each pair of neighbouring ticks seeds a pitch; the run then walks right, re-fitting the
    pitch to its span as it goes (rounding in one pair's spacing adds up over many cells),
    and may skip one missing tick."""
    if len(ticks) < 3:
        return None
    ticks = sorted(ticks)
    xs = np.array([t[0] for t in ticks])
    hs = np.array([t[2] for t in ticks], float)
    best = None
    for i in range(len(ticks) - 2):
        same = np.abs(hs - hs[i]) <= 0.3 * hs[i] + 2
        # seed with the next same-height ticks (the nearest may be a stray stem)
        for j in [j for j in range(i + 1, len(ticks)) if same[j] and xs[j] - xs[i] >= max(8.0, hs[i])][:3]:
            pitch = xs[j] - xs[i]  # cells are wider than their ticks are tall
            got, k_last, kk, missing = [i, j], 1, 2, 0
            while True:
                want = xs[i] + kk * (xs[got[-1]] - xs[i]) / k_last
                near = np.nonzero(same & (np.abs(xs - want) <= max(2.0, 0.06 * pitch)))[0]
                if near.size:
                    got.append(int(near[0]))
                    k_last = kk
                elif missing or want > xs[-1]:
                    break
                else:
                    missing += 1
                kk += 1
            if len(got) >= 3 and (best is None or len(got) > len(best[0])):
                best = ([ticks[g] for g in got], float((xs[got[-1]] - xs[i]) / k_last))
    return best


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


BROKEN_GAP = 0.2  # _broken_separator: of the separator's height, the paper left in it at most
BROKEN_REACH = 2.0  # _broken_separator: x the run's length, the farthest the next line may lie


def _broken_separator(binary: np.ndarray, hmask: np.ndarray, run: Rect, down: bool) -> Rect | None:
    """A separator that a bilevel scan broke (a thin line blurred at a low resolution), found from
    ``run``, an upright run that meets a line at its top (``down``) or its bottom end only: where
    the next line along lies within ``BROKEN_REACH`` of its length and ``binary`` has ink in line
    with it (a pixel either side) on all but ``BROKEN_GAP`` of the rows between, the rect from
    line to line; else None. A pen stroke from a line seldom carries on to the next."""
    x, y, ww, hh = run
    xa, xb = max(0, x - 1), x + ww + 1
    far = int(BROKEN_REACH * hh)
    if down:
        ya, yb = y + hh, min(binary.shape[0], y + hh + far)
    else:
        ya, yb = max(0, y - far), y
    lined = np.flatnonzero(hmask[ya:yb, xa:xb].any(axis=1))
    if not lined.size:
        return None
    end = ya + (int(lined[0]) if down else int(lined[-1]) + 1)  # where the next line starts (ends)
    lo, hi = (ya, end) if down else (end, yb)
    gap = hi - lo - int(np.count_nonzero(binary[lo:hi, xa:xb].any(axis=1)))
    span = hh + hi - lo
    if gap > BROKEN_GAP * span:
        return None
    top = y if down else lo
    return x, top, ww, span


BROKEN_MIN = 3  # _on_a_pitch: broken separators in a row at least
BROKEN_EVEN = 0.15  # _on_a_pitch: of the pitch, how far each lies off it at most


def _same_span(a: Rect, b: Rect) -> bool:
    """Whether two upright rects span the same rows, but for 20% of the longer."""
    return min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]) >= 0.8 * max(a[3], b[3])


def _on_a_pitch(broken: list[Rect], whole: list[Rect]) -> list[Rect]:
    """Of the ``broken`` separators, those in sets between the same two lines (``_same_span``)
    on one pitch (each within ``BROKEN_EVEN`` of it off its place, places missing
    allowed) of ``COMB_NARROW`` to ``COMB_ASPECT`` of their height: ``BROKEN_MIN`` or more of
    them, or two with the ``whole`` upright lines there (a short comb's sides) making as many
    and one more. A printed comb's, not pen strokes from line to line (a 7's stem and a caption
    over it), which seldom stand so. A separator found from both ends is kept once."""
    rows: list[list[tuple[Rect, bool]]] = []
    for r, br in sorted([(r, True) for r in broken] + [(r, False) for r in whole]):
        row = next((row for row in rows if _same_span(row[0][0], r)), None)
        if row is None:
            rows.append([(r, br)])
        elif r[0] > row[-1][0][0] + row[-1][0][2]:  # (the same separator from its other end overlaps)
            row.append((r, br))
    out = []
    for row in rows:
        h = row[0][0][3]
        while sum(br for _, br in row) >= 2:
            c = np.array([x + w / 2 for (x, _, w, _), _ in row])
            is_broken = np.array([br for _, br in row])
            best = np.zeros(len(row), bool)
            for i in range(len(row) - 1):
                pitch = c[i + 1] - c[i]
                if not COMB_NARROW * h <= pitch <= COMB_ASPECT * h:
                    continue
                k = (c - c[i]) / pitch
                on = np.abs(k - np.round(k)) <= BROKEN_EVEN
                if (on & is_broken).sum() > (best & is_broken).sum():
                    best = on
            n = int((best & is_broken).sum())
            if n < 2 or (n < BROKEN_MIN and best.sum() < BROKEN_MIN + 1):
                break
            out += [r for (r, br), b in zip(row, best, strict=True) if b and br]
            row = [x for x, b in zip(row, best, strict=True) if not b]
    return out


def _boxes(mask: np.ndarray, thickness: float) -> list[Box]:
    grid = cv2.dilate(mask, _rect_kernel(3, 3))
    contours, hier = cv2.findContours(grid, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hier is None:
        return []
    cells: list[Rect] = []
    min_side = max(10, int(4 * thickness))
    outlines: dict[int, Rect] = {}
    for i, (c, hrow) in enumerate(zip(contours, hier[0], strict=True)):
        if hrow[3] < 0:  # outer contour, not a hole
            outlines[i] = cv2.boundingRect(c)
            continue
        x, y, w, h = cv2.boundingRect(c)
        # narrow slivers too: a pen stroke taken for a separator cuts one off a cell (_grids)
        if w < SLIVER or h < min_side or cv2.contourArea(c) < 0.8 * w * h:
            continue
        cells.append(((x - 1, y - 1, w + 2, h + 2), int(hrow[3])))  # undo the dilation of the grid
    # Group cells that share top and bottom and sit side by side into comb fields. Beside a
    # slanted stroke taken for a separator, neighbouring cells overlap a little in x; between
    # strokes taken for separators, cells are farther apart, but inside one printed outline.
    groups: list[list[Rect]] = []
    parents: list[int] = []
    for c, parent in sorted(cells, key=lambda r: r[0][0]):
        for g, gp in zip(groups, parents, strict=True):
            last = g[-1]
            tol = max(4, 0.08 * last[3])
            gap = c[0] - (last[0] + last[2])
            if (abs(c[1] - last[1]) <= tol and abs(c[3] - last[3]) <= tol and -tol <= gap
                    and (gap <= 3 * thickness + 4 or (parent == gp and gap <= FILLED_GAP * last[3]))):
                g.append(c)
                break
        else:
            groups.append([c])
            parents.append(parent)
    keep = [max(c[2] for c in g) >= min_side for g in groups]
    sole = {p for p in parents if parents.count(p) == 1}  # outlines holding one comb or box
    boxes = []
    for g, parent in sorted(((g, p) for g, p, k in zip(groups, parents, keep, strict=True) if k),
                            key=lambda gp: (gp[0][0][1], gp[0][0][0])):
        x0 = min(r[0] for r in g)
        y0 = min(r[1] for r in g)
        x1 = max(r[0] + r[2] for r in g)
        y1 = max(r[1] + r[3] for r in g)
        if parent in sole:
            # a stroke written down a box's side leaves only a wedge between them, too far from
            # a rectangle to be a cell: the box still reaches its printed outline
            # (not toward the page's edge, within a box height: the scan may have cut the box
            # off there, its last cell a part)
            px, _, pw, _ = outlines[parent]
            side = 1 + int(round(thickness))  # the grid's dilation, then the printed line
            left, right = px + side, px + pw - side
            if px > y1 - y0 and 0 < x0 - left <= y1 - y0:
                x0 = left
                g = [(x0, g[0][1], g[0][0] + g[0][2] - x0, g[0][3]), *g[1:]]
            if px + pw < mask.shape[1] - (y1 - y0) and 0 < right - x1 <= y1 - y0:
                x1 = right
                g = [*g[:-1], (g[-1][0], g[-1][1], x1 - g[-1][0], g[-1][3])]
        boxes.append(Box((x0, y0, x1 - x0, y1 - y0), g if len(g) > 1 else [g[0]]))
    return boxes


def _even(box: Box) -> bool:
    """Cells as a printed comb has them: of one width, and no wider than COMB_ASPECT heights."""
    widths = [c[2] for c in box.cells]
    cell_h = float(np.median([c[3] for c in box.cells]))
    return max(widths) <= 1.35 * min(widths) and box.rect[2] / len(box.cells) <= COMB_ASPECT * cell_h


Sep = tuple[float, float, float]  # a separator: (x centre, left cell's right edge, right cell's left edge)
Grids = tuple[list[tuple[float, int, list[Sep]]], list[tuple[int, list[Sep]]]]


def _grids(box: Box) -> Grids | None:
    """A comb whose cells are uneven, or too wide for comb cells, holds separators that are pen
    strokes: the pitches its separators fit, for ``_pick``. Fits: (pitch, places missing, the
    separators to cut at) for each grid whose every place has a separator but at most one in
    COMB_MISSING (its cell boundary then goes on the grid), no wider than COMB_ASPECT cell
    heights, most cells first; lost: (separators on it, the separators) for each grid that has
    every separator on it and at least half its places filled. None where the cells stand as
    found (one cell, or even ones: a printed comb)."""
    cells = box.cells
    if len(cells) < 2 or _even(box):
        return None
    x0, _, bw, _ = box.rect
    cell_h = float(np.median([c[3] for c in cells]))
    seps = [((a[0] + a[2] + b[0]) / 2, a[0] + a[2], b[0]) for a, b in zip(cells, cells[1:], strict=False)]
    sx = np.array([c for c, _, _ in seps], float)
    fits: list[tuple[float, int, list[Sep]]] = []
    lost: list[tuple[int, list[Sep]]] = []
    # from the narrowest cells a comb has (half as wide as tall) to the widest
    for n in range(max(len(cells), int(bw / (COMB_NARROW * cell_h))), 1, -1):
        pitch = bw / n
        if pitch > COMB_ASPECT * cell_h:
            break
        grid = x0 + pitch * np.arange(1, n)
        dist = np.abs(sx[None, :] - grid[:, None])
        nearest = dist.argmin(axis=1)
        near = dist[np.arange(n - 1), nearest] <= COMB_TOL * pitch
        fit = [seps[j] if ok else (g, g, g) for g, j, ok in zip(grid, nearest, near, strict=True)]
        if (~near).sum() <= (max(1, (n - 1) // COMB_MISSING) if n > 2 else 0):
            fits.append((pitch, int((~near).sum()), fit))
            continue
        # every separator on this grid, but more places without one: a comb whose separators
        # a bilevel scan of grey print broke (a pen stroke is seldom on the pitch)
        if (dist.min(axis=0) <= COMB_TOL * pitch).all() and near.sum() >= max(2, (n - 1) / 2):
            lost.append((int(near.sum()), fit))
    return fits, lost


def _pick(grids: Grids, page_pitch: float | None = None) -> list[Sep]:
    """The separators to cut a comb at, of its ``_grids``: the most cells that fit; but where
    those lack a separator and a grid at ``page_pitch`` (the page's other combs') has every one,
    that grid (the stems of T, I and U halfway between separators fit one twice as fine, but
    for a place or so). Failing a fit, the lost grid with the most separators; with none, no
    separator: a free box."""
    fits, lost = grids
    if not fits:
        return max(lost, key=lambda c: c[0])[1] if lost else []
    whole = [f for f in fits if not f[1] and page_pitch is not None and abs(f[0] / page_pitch - 1) <= PAGE_PITCH_TOL]
    return whole[0][2] if fits[0][1] and whole else fits[0][2]


def _cut(box: Box, keep: list[Sep], vrects: list[Rect], vmask: np.ndarray, thickness: float,
         binary: np.ndarray) -> Box:
    """``box`` cut at the separators in ``keep`` (all three places the same for one put back on
    the pitch). The upright runs in ``vrects`` that are none of them leave ``vmask``: they are
    writing, not erased as lines; what ``binary`` has of a separator put back (its dashes)
    joins it, so it is erased."""
    x0, y0, bw, bh = box.rect
    x1 = x0 + bw
    kept = {k[0] for k in keep}
    pad, reach = thickness + 3, thickness / 2 + 2
    for x, y, ww, hh in vrects:  # the strokes taken for separators go back to the writing
        cx = x + ww / 2
        # a piece of a kept separator spans its place; a stem beside it, however wide, does not
        if y0 - pad <= y + hh / 2 <= y0 + bh + pad and x0 + pad < cx < x1 - pad and \
                not any(x - reach <= k <= x + ww + reach for k in kept):
            vmask[y : y + hh, x : x + ww] = 0
    half, placed = thickness / 2 + 1, 0
    for g, le, r in keep:
        if g == le == r:  # put back on the pitch: erase what is left of it as a line
            placed += 1
            xa, xb = int(g - half), int(np.ceil(g + half)) + 1
            ya, yb = max(0, y0 - 2), y0 + bh + 2
            vmask[ya:yb, xa:xb] |= binary[ya:yb, xa:xb]
    lefts = [x0, *(r for _, _, r in keep)]
    rights = [*(le for _, le, _ in keep), x1]
    new = [(int(round(a)), y0, int(round(b - a)), bh) for a, b in zip(lefts, rights, strict=True)]
    return Box(box.rect, new if len(new) > 1 else [box.rect], box.open_top, placed)


def impose_combs(lines: FormLines, binary: np.ndarray, combs: list[tuple[Rect, int]]) -> FormLines:
    """``lines`` with each comb a template knows, (its registered rectangle, its number of
    cells), cut into exactly that many cells on one pitch: writing that fills the cells joins
    the box lines as separators do, and a comb then finds more cells, or fewer. The comb is
    the printed box the rectangle lies on (a rectangle on none, or a count that would make cells
    narrower than COMB_NARROW of their height, is left alone); each place on its
    pitch takes the upright run nearest to it (within COMB_TOL of the pitch) as its separator
    or, with none, has one put back; every other upright run in the box is writing."""
    if not combs or lines.horizontal is None:
        return lines
    vmask = _structure(lines)
    vrects = _rects(vmask)
    boxes = list(lines.boxes)
    for rect, n in combs:
        ious = overlap_ious([rect], [b.rect for b in boxes])[0] if boxes else np.zeros(0)
        if not len(ious) or ious.max() < COMB_IOU:
            continue  # no printed box there: the registration may be off, and cells cut blind would be worse
        on = int(ious.argmax())
        box = boxes[on]
        # each end where the printed box has it, unless that is half a cell or more from the
        # registered one (a tick comb found only in part, its first cells' ticks lost in the writing)
        x0, y0, bw, bh = box.rect
        rx0, rx1, half = rect[0], rect[0] + rect[2], rect[2] / n / 2
        x0, x1 = (x0 if abs(x0 - rx0) < half else rx0), (x0 + bw if abs(x0 + bw - rx1) < half else rx1)
        pitch = (x1 - x0) / n
        if pitch < COMB_NARROW * bh:
            continue  # not this comb's cells: the printed box holds fewer, leave it as found
        near = [r for r in vrects if y0 - bh / 2 <= r[1] + r[3] / 2 <= y0 + 1.5 * bh and r[3] >= bh / 2]
        keep, x0, x1 = _refit_pitch(near, x0, x1, n)
        comb = _cut(Box((int(round(x0)), y0, int(round(x1 - x0)), bh), [], box.open_top), keep, vrects, vmask,
                    lines.thickness, binary)
        # a comb the page showed in pieces (a run of its line lost) is one box now: the other
        # pieces within it are its cells already, and read again they would read twice
        within = overlap_areas([comb.rect], [b.rect for b in boxes])[0] >= COMB_WITHIN * np.array(
            [b.rect[2] * b.rect[3] for b in boxes], float)
        boxes = [comb if i == on else b for i, b in enumerate(boxes) if i == on or not within[i]]
    creases = lines.creases if lines.creases is not None else 0
    return replace(lines, mask=lines.horizontal | vmask | creases, boxes=boxes)


def _run_near(near: list[Rect], g: float, tol: float) -> Rect | None:
    """The upright run in ``near`` whose centre is nearest to ``g``, if within ``tol``."""
    dist = [abs(r[0] + r[2] / 2 - g) for r in near]
    return near[int(np.argmin(dist))] if dist and min(dist) <= tol else None


def _on_pitch(near: list[Rect], x0: float, pitch: float, n: int) -> tuple[list[tuple[float, float, float]], list[int]]:
    """Each of a comb's n - 1 separator places from ``x0`` on ``pitch``: the upright run in
    ``near`` nearest to it, within COMB_TOL of the pitch, as (centre, left, right), or the place
    itself (g, g, g); and the places (1 to n - 1) a run was found at."""
    keep, found = [], []
    for k, g in enumerate(x0 + pitch * np.arange(1, n), 1):
        if (r := _run_near(near, g, COMB_TOL * pitch)) is not None:
            keep.append((r[0] + r[2] / 2, r[0], r[0] + r[2]))
            found.append(k)
        else:
            keep.append((g, g, g))
    return keep, found


def _refit_pitch(near: list[Rect], x0: float, x1: float, n: int) -> tuple[list[tuple[float, float, float]], float, float]:
    """A comb's separators (``_on_pitch``) on the pitch its box's ends (``x0``, ``x1``) make, or,
    where COMB_REFIT or more of them found agree on a pitch that finds more (a box end a few px
    off, the back of the sheet's line beside it, drifts the places off them further on), on the
    line fitted through those, with the box's ends moved to its sides on that pitch where it
    finds them (a box's rectangle is its inside: right of its left side, left of its right)."""
    pitch = (x1 - x0) / n
    keep, found = _on_pitch(near, x0, pitch, n)
    if len(found) < COMB_REFIT:
        return keep, x0, x1
    slope, start = np.polyfit(found, [keep[k - 1][0] for k in found], 1)
    if abs(slope - pitch) > COMB_TOL * pitch:
        return keep, x0, x1
    refit, more = _on_pitch(near, start, slope, n)
    if len(more) <= len(found):
        return keep, x0, x1
    left, right = (_run_near(near, start + end * slope, COMB_TOL * slope) for end in (0, n))
    return refit, (x0 if left is None else left[0] + left[2]), (x1 if right is None else right[0])


COMB_REFIT = 3  # impose_combs: separators found on the box's pitch that may refit it
COMB_IOU = 0.4  # impose_combs: a registered comb lies on the printed box it overlaps this much
COMB_WITHIN = 0.5  # impose_combs: another box this much of whose area the comb covers is a piece of it
HEAVY_SHORT, HEAVY_BAR, HEAVY_PX = 0.1, 1.75, 3  # find_lines: a bar under this share of the width, this
# many times as thick as the printed lines and this many px more, is a staple or a marker's stroke
UNDERLINE_ROOM = 0.02  # find_lines: of the page's height (6 mm on A4), the least paper above an underline to write on


def _underlines(hrects: list[Rect], boxes: list[Box]) -> list[Rect]:
    """Horizontal lines that are not a box's edge. A box's rectangle is its interior, and its
    edge lines reach past it by the side lines' thickness (about the line's own), plus a margin
    (a dashed line drawn whole reaches a dash gap past its corner)."""
    out = []
    for x, y, w, h in hrects:
        tol = 4 + 3 * h
        if any(bx - tol <= x and x + w <= bx + bw + tol and by - tol <= y <= by + bh + tol
               for bx, by, bw, bh in (b.rect for b in boxes)):
            continue
        out.append((x, y, w, h))
    return out


CAPTION_LETTERS = 3  # letters of the ink binarisation within a faint underline's band: printed text
# or letters run together (a grey pen raises the threshold and keeps the blurred caption joined):
# ink within the band, at least this many px taller than the bar, across this share of its length
CAPTION_TALL, CAPTION_SPAN = 2, 0.6
BURIED_GAP, BURIED_SHARE = 3, 0.6  # px from a faint bar, share of its length: ink there on both sides is print


def caption_bars(underlines: list[Rect], binary: np.ndarray, faint: np.ndarray | None = None,
                 tall: bool = False) -> list[Rect]:
    """Those of ``underlines`` (found on the faint binarisation, just below paper white) that
    the ink binarisation ``binary`` shows as a row of small letters within the line's own band,
    or as ink taller than the bar along most of it (the letters joined there too): a printed
    caption that blur or a soft scan ran together into a bar, not a line. A pale
    printed line shows there as nothing or as flat dashes, and writing on a line stands far
    above its band. With ``faint`` (the faint binarisation they were found on), also those with
    its ink just above and just below along most of their length: a row inside bigger print run
    together (a bold title), where a line has paper on one side at least, bar what crosses it.
    With ``tall`` (underlines found on a copy widened to join a line's dashes), letters must
    stand taller than the bar: the dashes themselves are small pieces as flat as the line."""
    out = []
    for x, y, w, h in underlines:
        y0, y1 = max(0, y - 2 * h - 4), y + 3 * h + 4  # the bar may be a caption's upper or lower part
        band = np.ascontiguousarray(binary[y0:y1, x : x + w])
        _, _, stats, _ = cv2.connectedComponentsWithStats(band, connectivity=8)
        top, height, width = stats[1:, cv2.CC_STAT_TOP], stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_WIDTH]
        inside = (top > 0) & (top + height < y1 - y0)  # clear of the band's edges: whole within it
        # not a flat piece of a line
        letters = inside & (height >= (h + CAPTION_TALL if tall else 3)) & (width <= 3 * height)
        joined = inside & (height >= 3) & (height >= h + CAPTION_TALL)  # a line's pieces are as flat as it
        if int(letters.sum()) >= CAPTION_LETTERS or int(width[joined].sum()) >= CAPTION_SPAN * w or (
                faint is not None and _buried(faint, (x, y, w, h))):
            out.append((x, y, w, h))
    return out


def _buried(faint: np.ndarray, bar: Rect) -> bool:
    """Whether ``faint`` has ink ``BURIED_GAP`` px above and below ``bar`` along ``BURIED_SHARE``
    of its length."""
    x, y, w, h = bar
    above, below = y - BURIED_GAP, y + h - 1 + BURIED_GAP
    return 0 <= above and below < faint.shape[0] and min(
        np.count_nonzero(faint[above, x : x + w]), np.count_nonzero(faint[below, x : x + w])) >= BURIED_SHARE * w


def reading_order(rects: list[Rect]) -> list[int]:
    """Indices of ``rects`` in reading order: rows (a rect whose top is within half the row's
    first rect's height joins that row), top to bottom, then left to right in each row."""
    rows: list[list[int]] = []
    for i in sorted(range(len(rects)), key=lambda i: rects[i][1]):
        first = rects[rows[-1][0]] if rows else None
        if first is not None and rects[i][1] - first[1] < 0.5 * first[3]:
            rows[-1].append(i)
        else:
            rows.append([i])
    return [i for row in rows for i in sorted(row, key=lambda i: rects[i][0])]


def remove_lines(binary: np.ndarray, lines: FormLines, scale: float = 1.0,
                 flat: np.ndarray | None = None) -> np.ndarray:
    """Erase form lines, then restore line pixels that a character stroke crosses (ink on
    both sides of the line in the same column, or row for vertical lines) or runs along (the
    line is thicker there than printed: a 7's or a T's bar written over a box's top line).
    ``scale``: working px per scanned px; a coarse scan brought up to the working scale has
    edges stepped that coarsely, which no pen stroke is taken from. ``flat``: the page's
    flat-fielded grey (paper 255), in register with ``binary``: it measures the ink across a
    line to a fraction of a pixel, so a bar that thickens it by less than two pixels is found."""
    if not lines.mask.any():
        return binary.copy()
    line_px = cv2.dilate(lines.mask, _rect_kernel(3, 3)) & binary
    ink = binary & ~line_px
    k = int(np.ceil(lines.thickness)) + 6
    across_h = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, _rect_kernel(1, k))
    across_v = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, _rect_kernel(k, 1))
    keep = across_h | across_v
    if lines.horizontal is not None:
        hmask = lines.horizontal
        vmask = _structure(lines)
        near_h, near_v = (cv2.dilate(m, _rect_kernel(3, 3)) for m in (hmask, vmask))
        step = max(1, int(round(scale)))
        hrects, vrects = _rects(hmask), _rects(vmask)
        dark = (flat, _ink_level(flat, lines.mask)) if flat is not None else None
        # a fold down the page is no stroke leaving a horizontal line, though it is no structure
        upright_all = near_v if lines.creases is None else cv2.dilate(lines.mask & ~hmask, _rect_kernel(3, 3))
        for x, y, w, h in _along(binary, hmask, upright_all, lines.thickness, step, hrects, dark):
            keep[y : y + h, x : x + w] = 255
        # a stroke along a fold down the page is kept as one along a side
        along_v = vmask if lines.creases is None else vmask | (lines.creases & ~hmask)
        upright = [(y, x, h, w) for x, y, w, h in _rects(along_v)]  # as the transposed page has them
        for y, x, h, w in _along(binary.T, along_v.T, near_h.T, lines.thickness, step, upright,
                                 None if dark is None else (dark[0].T, dark[1])):
            keep[y : y + h, x : x + w] = 255
        # a stroke kept where it meets a line and a bar kept where it runs along it, a pixel
        # or two of line apart (the corner of a 2 on its baseline): one stroke, joined (line
        # by line: the page as a whole costs ten times as much)
        gap = max(3, int(round(lines.thickness)) + 1)
        for rects, near, other, kernel in ((hrects, near_h, near_v, _rect_kernel(gap, 1)),
                                           (vrects, near_v, near_h, _rect_kernel(1, gap))):
            for x, y, w, h in rects:
                sl = (slice(max(0, y - 1), y + h + 1), slice(max(0, x - 1), x + w + 1))
                restored = keep[sl] & line_px[sl]
                if restored.any():
                    joined = cv2.morphologyEx(restored, cv2.MORPH_CLOSE, kernel)
                    keep[sl] |= joined & near[sl] & ~other[sl]
    return ink | (keep & line_px)


ALONG_EXCESS, ALONG_RUN, ALONG_LEAVE = 0.4, 1.0, 1.5  # x line thickness: see _along
# _along on a grey page: a stretch whose ink across the line exceeds the line's median by this
# many px of the line's own ink (and by DARK_SPREAD x its spread along the line, a ragged or
# stepped scan), measured over the line and DARK_PAD x its thickness (at least 2 px) each side
DARK_EXCESS, DARK_SPREAD, DARK_PAD = 0.5, 4.0, 0.5


def _ink_level(flat: np.ndarray, mask: np.ndarray) -> float:
    """The printed lines' (``mask``) median ink on the flat-fielded page ``flat`` (paper 255):
    the unit _along sums ink across a line in, so a pen darker than the print counts for more."""
    ink = 255 - flat[::2, ::2][mask[::2, ::2] > 0].astype(np.int16)
    return max(float(np.median(ink)) if ink.size else 255.0, 16.0)


def _along(binary: np.ndarray, lmask: np.ndarray, near_other: np.ndarray, thickness: float,
           step: int, rects: list[Rect], dark: tuple[np.ndarray, float] | None = None) -> list[Rect]:
    """Stretches of each horizontal line (``lmask``, its lines' ``rects``; all transposed for
    upright ones) where the ink through the line is thicker than along most of that line by
    ALONG_EXCESS line thicknesses (at least 2 px, and more than the scan's ``step``), over ALONG_RUN thicknesses of length or more (at least 3 px), and from which a
    stroke leaves the line (ink runs on from it for ALONG_LEAVE thicknesses, at least 4 px): a
    pen stroke drawn along the line, not a scan's ragged edge. Ink ``near_other`` lines (a
    box's corner, a separator meeting the line) does not count. With ``dark`` (the flat-fielded
    page and its _ink_level), a stretch only a pixel thicker is taken too where the ink summed
    across the line in grey confirms it by DARK_EXCESS of a pixel: a bar drawn nearly on the
    line (a ragged or stepped edge adds a pixel, but no ink). Returns the stretches'
    rectangles, padded as remove_lines erases."""
    excess = max(2, step + 1, int(round(ALONG_EXCESS * thickness)))
    min_run = max(3, int(round(ALONG_RUN * thickness)))
    leave = max(4, int(round(ALONG_LEAVE * thickness)))
    rects = [r for r in rects if r[2] >= min_run]
    if not rects:
        return []
    # every line's columns side by side: its top and bottom row in each column
    cols, tops, bottoms, has = [], [], [], []
    for x, y, w, hh in rects:
        band = lmask[y : y + hh, x : x + w] > 0
        cols.append(np.arange(x, x + w))
        tops.append(y + band.argmax(axis=0))
        bottoms.append(y + hh - 1 - band[::-1].argmax(axis=0))
        has.append(band.any(axis=0))
    cols, tops, bottoms, has = (np.concatenate(v) for v in (cols, tops, bottoms, has))
    h = binary.shape[0]
    steps = np.arange(1, leave + 1)[:, None]

    def run_from(rows: np.ndarray) -> np.ndarray:
        inside = (rows >= 0) & (rows < h)
        rows = np.clip(rows, 0, h - 1)
        return np.cumprod(inside & (binary[rows, cols] > 0) & (near_other[rows, cols] == 0), axis=0).sum(axis=0)

    up, down = run_from(tops - steps), run_from(bottoms + steps)
    through = bottoms - tops + 1 + up + down
    leaves = np.maximum(up, down) >= leave
    summed = None
    if dark is not None:  # the ink across each column's band, in px of the line's own ink
        pad = max(2, int(round(DARK_PAD * thickness)))
        span = np.arange(-pad, int((bottoms - tops).max()) + pad + 1)[:, None]
        rows = tops + span
        inside = (rows <= bottoms + pad) & (rows >= 0) & (rows < h)
        flat, level = dark
        ink = 255 - flat[np.clip(rows, 0, h - 1), cols].astype(np.int16)
        summed = np.where(inside, ink, 0).sum(axis=0) / level
    out = []
    start = 0
    for x, y, w, hh in rects:
        sl = slice(start, start + w)
        start += w
        if not has[sl].any():
            continue
        base = np.median(through[sl][has[sl]])
        hit = has[sl] & (through[sl] >= base + excess)
        thicker = has[sl] & (through[sl] >= base + 1)
        if summed is not None and thicker.any():  # a pixel thicker, and the grey says it is ink, not a ragged edge
            ink = summed[sl][has[sl]]
            med = np.median(ink)
            spread = np.median(np.abs(ink - med))
            hit |= thicker & (summed[sl] >= med + max(DARK_EXCESS, DARK_SPREAD * spread))
        if not hit.any():
            continue
        # runs of hit columns long enough to be a stroke, not a speck on the line
        edges = np.flatnonzero(np.diff(np.r_[0, hit.astype(np.int8), 0]))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            if b - a >= min_run and leaves[sl][max(0, a - min_run) : b + min_run].any():
                out.append((x + int(a), max(0, y - 2), int(b - a), hh + 4))
    return out


HIDDEN_PEN = 0.5  # px: a pen up to this much wider than the line it touches can hide a bar in it
HIDDEN_SPAN = 0.5  # of a glyph's height: a bar hidden in a line spans at least this (a 7's top over its stem)


def _ink_width(mask: np.ndarray) -> float:
    """A glyph's pen width in px across, as ``FormLines.thickness`` counts a line's: twice its
    ink over its outline (a stroke of width p and length L has ink pL and an outline of about
    2L). Not ``normalize.stroke_width``: its distance-transform steps are about 2 px apart,
    too coarse to tell a pen half a pixel wider than a line. The crop is not padded, and erosion
    takes what lies beyond it for ink: a stroke along the crop's edge (a 1's or an I's stem)
    measures wider than it is, and such a glyph is offered no bar. Padded (forty-first session),
    it flagged up to 4 more fields read right per 180 (``--box-colour green --format jpg``
    without a template: 13 -> 17) on 4 sweep variants, and caught no field read wrong."""
    ink = cv2.countNonZero(mask)
    edge = ink - cv2.countNonZero(cv2.erode(mask, _rect_kernel(3, 3)))
    return 2.0 * ink / max(edge, 1)


# characters that a bar along the line a glyph rests on (hangs from) turns into another:
# read -> what it may be, the bar hidden in the line
HIDDEN_FOOT = {"7": "2Z", "1": "L", "I": "L", "F": "E"}
HIDDEN_TOP = {"1": "7T", "I": "7T", "S": "5"}
# and that a stroke along the upright line beside it turns into another (hidden_sides)
HIDDEN_SIDE = {"L": "U", "J": "U", "3": "B", "C": "DO", "N": "M", "5": "6"}


def creased(binary: np.ndarray, ink: np.ndarray, creases: np.ndarray, rect: Rect, mask: np.ndarray
            ) -> np.ndarray | None:
    """What a glyph (``mask`` at ``rect``) would be with the fold (``creases``) put back where
    it runs along it: the ink remove_lines erased (in ``binary``, not in its line-free ``ink``)
    inside ``rect`` (and CREASE_PAD px round it) in the rows (or columns) the fold crosses it in, between the first and the
    last place the glyph's ink meets that ink along the fold (a 4's bar written along a fold
    leaves its stem and its diagonal meeting it, and a 1 between them). None where it meets
    the glyph's ink at fewer than two places CREASE_APART apart: a fold that crosses a stroke
    hides nothing."""
    x0, y0, w0, h0 = rect  # looked at CREASE_PAD px round the glyph: a fold along its edge took that edge
    x, y = max(0, x0 - CREASE_PAD), max(0, y0 - CREASE_PAD)
    w, h = min(binary.shape[1], x0 + w0 + CREASE_PAD) - x, min(binary.shape[0], y0 + h0 + CREASE_PAD) - y
    on = np.argwhere(creases[y : y + h, x : x + w])
    if len(on) < 2:
        return None
    mask = cv2.copyMakeBorder(mask, y0 - y, y + h - y0 - h0, x0 - x, x + w - x0 - w0, cv2.BORDER_CONSTANT, value=0)
    axis = 1 if np.ptp(on[:, 1]) >= np.ptp(on[:, 0]) else 0  # 1: a fold along the rows
    band = np.zeros((h, w), bool)
    across = np.unique(on[:, 1 - axis])
    across = np.unique(np.clip(np.concatenate([across - 1, across, across + 1]), 0, (h, w)[1 - axis] - 1))
    if axis:
        band[across] = True
    else:
        band[:, across] = True
    fold = np.where(band, binary[y : y + h, x : x + w] & ~ink[y : y + h, x : x + w], 0).astype(np.uint8)
    touch = np.argwhere(fold & cv2.dilate(mask, _rect_kernel(3, 3)))
    if len(touch) < 2:
        return None
    lo, hi = int(touch[:, axis].min()), int(touch[:, axis].max())
    if hi - lo < CREASE_APART * h0:
        return None
    span = np.zeros_like(fold)
    if axis:
        span[:, lo : hi + 1] = fold[:, lo : hi + 1]
    else:
        span[lo : hi + 1] = fold[lo : hi + 1]
    return mask | span


def hidden_sides(binary: np.ndarray, ink: np.ndarray, rect: Rect, mask: np.ndarray, thickness: float
                 ) -> list[np.ndarray]:
    """``hidden_bars`` across: what a glyph (``mask`` at ``rect``) would be with the upright
    box line it touches on its left or right put back along its height (a U whose right stem
    ran down a comb's separator was erased with it and read L). The masks, one per side."""
    x, y, w, h = rect
    return [np.ascontiguousarray(m.T) for _, m, _ in
            hidden_bars(binary.T, ink.T, (y, x, h, w), np.ascontiguousarray(mask.T), thickness)]


CREASE_APART = 0.15  # x a glyph's height: where its ink meets a fold this far apart, a stroke may lie along it
CREASE_PAD = 3  # px round a glyph's box that ``creased`` looks for a fold in


def hidden_bars(binary: np.ndarray, ink: np.ndarray, rect: Rect, mask: np.ndarray, thickness: float,
                edges: tuple[bool, bool] = (True, True)) -> list[tuple[Rect, np.ndarray, bool]]:
    """What a glyph (``mask`` at ``rect``) would be with a bar along the box line it rests on
    or hangs from: for each of its top and bottom edges (those ``edges`` asks for) whose ink
    meets line ink that remove_lines erased (in ``binary``, not in its line-free ``ink``), the
    glyph with that line put back across its width, or across HIDDEN_SPAN of its height about
    it where it is narrower (a 7 whose top lies on the line is left a 1's stem). A bar drawn
    exactly on a line with a pen no thicker than it leaves no trace to tell it from the line,
    so these are the readings a glyph touching a line cannot rule out; none where its pen is
    more than HIDDEN_PEN wider than the line (``thickness``: a bar would have shown). Returns
    (rect, mask, whether it is the top edge's) triples."""
    x0, y, w0, h = rect
    if not any(edges) or _ink_width(mask) > thickness + HIDDEN_PEN:
        return []
    w = min(max(w0, int(round(HIDDEN_SPAN * h))), binary.shape[1])
    x = min(max(0, x0 - (w - w0) // 2), binary.shape[1] - w)
    depth = int(np.ceil(thickness)) + 2
    y0, y1 = max(0, y - depth), min(binary.shape[0], y + h + depth)
    canvas = np.zeros((y1 - y0, w), np.uint8)
    canvas[y - y0 : y - y0 + h, x0 - x : x0 - x + w0] = mask
    touch = cv2.dilate(canvas, _rect_kernel(3, 3))
    out = []
    for top, (a, b) in ((True, (y0, min(y + depth, y1))), (False, (max(y0, y + h - depth), y1))):
        if not edges[0 if top else 1]:
            continue
        line = np.zeros_like(canvas)
        line[a - y0 : b - y0] = binary[a:b, x : x + w] & ~ink[a:b, x : x + w]
        if not (line & touch).any():
            continue
        grown = canvas | line
        rows = np.flatnonzero(grown.max(axis=1))
        out.append(((x, y0 + int(rows[0]), w, int(rows[-1] - rows[0] + 1)), grown[rows[0] : rows[-1] + 1], top))
    return out
