"""Characters from a cleaned, line-free binary page: connected components, merged when a
character is broken, split when characters touch, grouped into lines in reading order."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import cv2
import numpy as np

from segmentation.lines import Box, FormLines
from segmentation.rects import Rect, label_pieces, overlap_areas, union

Cut = tuple[float, float]  # a straight cut through a blob: (x at mid-height, x shift per row)


@dataclass(eq=False)
class Blob:
    """A wide blob split at cuts through ink. ``cuts`` holds, per boundary between its pieces,
    the places that cut could go: the least-ink one first (the split the reader makes), then
    other local minima of ink crossed, for the classifier to choose from."""

    rect: Rect
    mask: np.ndarray
    cuts: tuple[tuple[Cut, ...], ...]

    def piece(self, left: Cut | None, right: Cut | None) -> tuple[Rect, np.ndarray]:
        """The ink between two cuts (``None``: the blob's own edge), trimmed; a zero-width
        rect when none is left, or when the cuts cross inside the blob."""
        x, y, w, h = self.rect
        if left is not None and right is not None and min(
                right[0] - left[0] + (right[1] - left[1]) * r for r in (-h / 2, h / 2)) <= 0:
            return (x, y, 0, 0), np.zeros((0, 0), np.uint8)
        rows = np.arange(h)[:, None] - h / 2
        xs = np.arange(w)[None, :]
        keep = np.ones((h, w), bool)
        if left is not None:
            keep &= xs >= left[0] + left[1] * rows
        if right is not None:
            keep &= xs < right[0] + right[1] * rows
        part = np.where(keep, self.mask, 0).astype(np.uint8)
        bx, by, bw, bh = cv2.boundingRect(part)
        if not bw:
            return (x, y, 0, 0), np.zeros((0, 0), np.uint8)
        return (x + bx, y + by, bw, bh), np.ascontiguousarray(part[by : by + bh, bx : bx + bw])


@dataclass
class Glyph:
    rect: Rect  # working pixels
    mask: np.ndarray  # uint8 crop, ink = 255
    region: int = -1  # index of the box/region it was found in (-1: free text)
    cell: int = -1  # comb cell index within its box (-1: not in a cell)
    line: int = 0  # 1-based after ordering
    index: int = 0  # 1-based position in its line
    word: int = 0  # 1-based word number within its line
    run: int = -1  # free-writing run (a free box's or a text row's characters); -1 in comb cells
    cut: bool = False  # its left edge is a cut through ink (a wide blob split), not a gap
    blob: Blob | None = None  # the wide blob it was cut from, whose cuts could go elsewhere
    printed: bool = False  # in a row of print (a title, a stamp), not writing: printed_row


@dataclass
class Candidate:
    """A possible single character made of the consecutive glyphs ``first..last`` of one
    run: a character broken into pieces, or a blob split where it should not have been."""

    first: int
    last: int  # inclusive
    rect: Rect
    mask: np.ndarray


@dataclass
class _Comp:
    x: int
    y: int
    w: int
    h: int
    area: int
    label: int

    @property
    def x1(self) -> int:
        return self.x + self.w

    @property
    def y1(self) -> int:
        return self.y + self.h


def _crop(labels: np.ndarray, comps: list[_Comp], clip: Rect | None = None) -> tuple[Rect, np.ndarray]:
    """Union mask of some components, optionally clipped to a rectangle; trimmed to ink."""
    x, y, w, h = union([(c.x, c.y, c.w, c.h) for c in comps])
    if clip is not None:
        cx, cy, cw, ch = clip
        nx0, ny0 = max(x, cx), max(y, cy)
        nx1, ny1 = min(x + w, cx + cw), min(y + h, cy + ch)
        x, y, w, h = nx0, ny0, max(0, nx1 - nx0), max(0, ny1 - ny0)
    if w == 0 or h == 0:
        return (x, y, 0, 0), np.zeros((0, 0), np.uint8)
    sub = labels[y : y + h, x : x + w]
    if len(comps) == 1:
        m = (sub == comps[0].label).astype(np.uint8) * 255
    else:
        m = np.isin(sub, [c.label for c in comps]).astype(np.uint8) * 255
    bx, by, bw, bh = cv2.boundingRect(m)  # trimmed to ink
    if bw == 0:
        return (x, y, 0, 0), np.zeros((0, 0), np.uint8)
    return (x + bx, y + by, bw, bh), m[by : by + bh, bx : bx + bw]


def components(ink: np.ndarray) -> tuple[np.ndarray, list[_Comp]]:
    _, labels, stats, _ = label_pieces(ink)
    comps = [_Comp(int(s[0]), int(s[1]), int(s[2]), int(s[3]), int(s[4]), i) for i, s in enumerate(stats) if i > 0]
    return labels, comps


MULTI_LINE = 2.2  # a free box this many times as tall as its writing may hold several rows
BOX_ROW_REF = 0.6  # a row's character scale for _free_glyphs, x its tall components' height
SHORT_PIECE = 0.5  # glyphs under this fraction of the median height are pieces (bars, flags)
SPLIT_AT = 1.45  # blobs this many times the expected width are split (1.35 to 1.6 read the same)
CUT_SLANTS = (0.0, -0.2, 0.2, -0.35, 0.35)  # cut lines tried: x shift per row (0 = upright)
SLANT_COST = 10.0  # ink pixels a slanted cut must save per unit of slant
CUT_NEAR, CUT_FAR = 0.3, 0.45  # the reader's cut lies this near an even boundary, alternatives this
CUT_OPTIONS, CUT_APART = 4, 0.15  # places offered per cut, at least this far apart (x the step)
CAPTION_H, CAPTION_TOP, CAPTION_MIN, CAPTION_GAP, CAPTION_LEFT = 0.3, 0.4, 3, 3.0, 0.3  # _printed_caption
CAPTION_REL, CAPTION_ALONE_H = 0.6, 0.2
SIDE_TALL, SIDE_BAND, SIDE_INK = 0.9, 0.15, 0.8  # _lost_side: x the box's height, and share of ink
CELL_OWN = 0.65  # a component with this share of its box in one comb cell is that cell's, whole
WIDE_CAP = 0.9  # a character's expected width is at most this x the run's median height
MERGE_PARTS, MERGE_ASPECT = 3, 1.4  # a merged character: at most this many pieces, this wide x run height


def _cut_options(ink: np.ndarray, centre: float, step: float) -> tuple[Cut, ...]:
    """Where one boundary of a split blob could go: the straight line (upright or slanted by
    up to ``CUT_SLANTS``) crossing the least ink within ``CUT_NEAR`` of ``centre``, then up to
    ``CUT_OPTIONS - 1`` other local minima within ``CUT_FAR``, at least ``CUT_APART`` away."""
    h, w = ink.shape
    lo, hi = max(int(centre - CUT_FAR * step), 1), min(int(centre + CUT_FAR * step), w - 1)
    if hi <= lo:
        return ()
    xs = np.arange(lo, hi)
    rows = np.arange(h)[:, None] - h / 2
    costs = []
    for t in CUT_SLANTS:
        cols = np.rint(xs[None, :] + t * rows).astype(int)  # (h, candidates)
        inside = (cols >= 0) & (cols < w)
        crossed = (ink[np.arange(h)[:, None], np.clip(cols, 0, w - 1)] & inside).sum(axis=0)
        costs.append(crossed + SLANT_COST * abs(t))
    costs = np.array(costs, float)  # (slants, candidates)
    slant = np.argmin(costs, axis=0)
    cost = costs[slant, np.arange(xs.size)] + 1e-3 * np.abs(xs - centre)
    near = (xs >= int(centre - CUT_NEAR * step)) & (xs < int(centre + CUT_NEAR * step))
    if not near.any():
        return ()
    first = int(np.argmin(np.where(near, cost, np.inf)))
    picked = [first]
    left, right = np.r_[np.inf, cost[:-1]], np.r_[cost[1:], np.inf]
    for i in np.argsort(cost, kind="stable"):
        if len(picked) >= CUT_OPTIONS:
            break
        if cost[i] <= left[i] and cost[i] <= right[i] and all(abs(int(i) - j) >= CUT_APART * step for j in picked):
            picked.append(int(i))
    return tuple((float(xs[i]), float(CUT_SLANTS[slant[i]])) for i in picked)


def _split_wide(rect: Rect, mask: np.ndarray, expected_w: float) -> list[tuple[Rect, np.ndarray, bool, Blob | None]]:
    """Split a blob at least ``SPLIT_AT`` times the expected width into ``n`` pieces, each cut
    near an even boundary along the line that crosses the least ink (slanted writing touches
    along a slant). Returns (rect, mask, cut, blob) pieces; ``cut`` marks a piece whose left
    edge is a cut, and ``blob`` (shared by the pieces) keeps the other places each cut could go."""
    x, y, w, h = rect
    if w < SPLIT_AT * max(expected_w, 1.0):
        return [(rect, mask, False, None)]
    n = max(2, int(round(w / max(expected_w, 1.0))))
    ink = mask > 0
    step = w / n
    cuts = tuple(c for c in (_cut_options(ink, k * step, step) for k in range(1, n)) if c)
    blob = Blob(rect, mask, cuts)
    bounds = [None, *(c[0] for c in cuts), None]
    out = []
    for left, right in zip(bounds, bounds[1:], strict=False):
        piece, part = blob.piece(left, right)
        if piece[2]:
            out.append((piece, part, bool(out), blob))
    if len(out) != len(bounds) - 1:  # a piece came out empty: its neighbours' cuts are fixed
        out = [(r, m, c, None) for r, m, c, _ in out]
    return out


def _free_glyphs(labels: np.ndarray, comps: list[_Comp], ref_h: float) -> list[tuple[Rect, np.ndarray, bool, Blob | None]]:
    """Glyphs in a free box or free text: merge pieces that overlap in x, split wide blobs."""
    comps = sorted(comps, key=lambda c: c.x)
    groups: list[list[_Comp]] = []
    for c in comps:
        if groups:
            g = groups[-1]
            gx0, gx1 = min(k.x for k in g), max(k.x1 for k in g)
            ov = min(gx1, c.x1) - max(gx0, c.x)
            narrow = min(gx1 - gx0, c.w)
            # pieces of one broken character overlap in x, or a tiny fragment sits right beside it
            small = c.h < 0.35 * ref_h and c.w < 0.35 * ref_h
            if ov > 0.4 * narrow or (small and c.x - gx1 < 0.15 * ref_h and c.x1 - gx1 < 0.2 * ref_h):
                g.append(c)
                continue
        groups.append([c])
    groups = _attach_low(groups, ref_h)
    glyphs = [_crop(labels, g) for g in groups]
    glyphs = [(r, m) for r, m in glyphs if r[2] > 0 and r[3] >= 0.3 * ref_h]
    if not glyphs:
        return []
    widths = np.array([r[2] for r, _ in glyphs], float)
    heights = np.array([r[3] for r, _ in glyphs], float)
    # a run of mostly touching characters has a median width of two: its height caps the guess
    expected = max(min(float(np.median(widths)), WIDE_CAP * float(np.median(heights))), 0.55 * ref_h)
    out = []
    for r, m in glyphs:
        out.extend(_split_wide(r, m, expected))
    return out


def _printed_caption(comps: list[_Comp], box: Rect) -> set[int]:
    """Labels of a caption printed small in a box's top-left corner ("Account number"): at
    least ``CAPTION_MIN`` short components (under ``CAPTION_H`` of the box height, centred in
    its top ``CAPTION_TOP``) on one baseline, the first within ``CAPTION_LEFT`` box heights of
    the left edge, each within ``CAPTION_GAP`` of its height of the last (a gap that bridges
    letters lost to handwriting touching them). A bar or flag lifted off a handwritten letter
    is short too, but three of them on one baseline, from the box's left edge, do not happen.
    Writing elsewhere in the box must be clearly taller (``CAPTION_REL``), so the first row of
    writing in a tall box (an address) is not taken for one."""
    bx, by, _, bh = box
    short = sorted((c for c in comps if c.h < CAPTION_H * bh and c.y + c.h / 2 < by + CAPTION_TOP * bh),
                   key=lambda c: c.x)
    if len(short) < CAPTION_MIN or short[0].x > bx + CAPTION_LEFT * bh:
        return set()
    row = [short[0]]
    for c in short[1:]:
        h = max(c.h, *(k.h for k in row))  # the caption's cap height, not a lower-case letter's
        if c.x - row[-1].x1 > CAPTION_GAP * h:
            break
        if abs(c.y1 - row[0].y1) < 0.3 * h:  # on the first letter's baseline
            row.append(c)
    if len(row) < CAPTION_MIN:
        return set()
    # the writing, if any, is taller: a first row of writing in a tall box is not a caption;
    # with no other writing, only a row clearly smaller than the box is (an empty field's caption,
    # not one line written at the top of an address box)
    labels = {k.label for k in row}
    row_h = float(np.median([k.h for k in row]))
    rest = [c.h for c in comps if c.label not in labels and c.area >= 0.25 * min(k.area for k in row)]
    if (rest and row_h >= CAPTION_REL * float(np.percentile(rest, 75))) or (not rest and row_h >= CAPTION_ALONE_H * bh):
        return set()
    return labels


def _attach_low(groups: list[list[_Comp]], ref_h: float) -> list[list[_Comp]]:
    """A group too low to be a character on its own (a crossbar or a flag drawn with a pen
    lift) joins the nearer neighbour within ``0.35 ref_h``; the reader's recognition step can
    then merge that neighbour with the other one. Groups with no neighbour that close stay
    (and are dropped as noise by the caller)."""
    spans = [(min(k.x for k in g), max(k.x1 for k in g), min(k.y for k in g), max(k.y1 for k in g)) for g in groups]
    low = [y1 - y0 < 0.3 * ref_h for _, _, y0, y1 in spans]
    if not any(low) or all(low):
        return groups
    target = list(range(len(groups)))
    for i in np.nonzero(low)[0]:
        gaps = []
        for j in (i - 1, i + 1):
            if 0 <= j < len(groups) and not low[j]:
                gap = max(spans[i][0] - spans[j][1], spans[j][0] - spans[i][1])
                within = spans[j][2] - 0.2 * ref_h <= (spans[i][2] + spans[i][3]) / 2 <= spans[j][3] + 0.2 * ref_h
                if gap <= 0.35 * ref_h and within:
                    gaps.append((gap, j))
        if gaps:
            target[i] = min(gaps)[1]
    out: dict[int, list[_Comp]] = {}
    for i, g in enumerate(groups):
        out.setdefault(target[i], []).extend(g)
    return [out[k] for k in sorted(out)]


INNER_NEAR, INNER_LEAST = 0.15, 0.1  # _inner_pieces: x the character's height


def _inner_pieces(labels: np.ndarray, owned: list[_Comp], kept: list[_Comp]) -> list[_Comp]:
    """Pieces of ``owned`` (a comb's) too small to keep alone that are part of a kept character:
    an E's middle bar written with a pen lift, a stroke the scan broke. Such a piece lies inside the
    extent of the kept pieces above or below it, within ``INNER_NEAR`` of their height of
    their ink, and is at least ``INNER_LEAST`` of that height long (a scanner speck is less)."""
    ids = {c.label for c in kept}
    out = []
    for p in owned:
        if p.label in ids:
            continue
        over = [c for c in kept if c.x < p.x1 and p.x < c.x1]
        if not over:
            continue
        x0, y0 = min(c.x for c in over), min(c.y for c in over)
        x1, y1 = max(c.x1 for c in over), max(c.y1 for c in over)
        tall = y1 - y0
        if not (x0 <= p.x and p.x1 <= x1 and y0 <= p.y and p.y1 <= y1) or max(p.w, p.h) < INNER_LEAST * tall:
            continue
        d = max(2, round(INNER_NEAR * tall))
        near = labels[max(0, p.y - d): p.y1 + d, max(0, p.x - d): p.x1 + d]
        if np.isin(near, [c.label for c in over]).any():
            out.append(p)
    return out


def find_glyphs(ink: np.ndarray, lines: FormLines, *, free_text: bool | None = None,
                regions: list[Rect] | None = None, _cropped: bool = False) -> list[Glyph]:
    """Find characters on a line-free binary page.

    Characters are read inside the page's boxes (comb fields one glyph per cell) and, for
    ``regions`` (template fields, working coords) inside those. ``free_text`` also reads
    ink outside any box (default: only when the page has no boxes at all)."""
    if regions and not free_text and not _cropped:
        return _find_in_crop(ink, lines, regions)
    labels, comps = components(ink)
    if not comps:
        return []
    heights = np.array([c.h for c in comps if c.area >= 12], float)
    ref_h = float(np.percentile(heights, 75)) if heights.size else 10.0
    boxes: list[Box] = list(lines.boxes)
    if regions is not None:  # template fields: a region adopts the comb cells inside it
        boxes = []
        cells = [c for b in lines.boxes for c in b.cells]
        cell_area = np.array([c[2] * c[3] for c in cells], float)
        ov = overlap_areas(regions, cells)
        for ri, r in enumerate(regions):
            inner = [cells[j] for j in np.nonzero(ov[ri] > 0.6 * cell_area)[0]] if cells else []
            boxes.append(Box(r, sorted(inner) if len(inner) > 1 else []))
    if free_text is None:
        free_text = not boxes
    if regions is None:
        boxes = reading_places(lines, ink.shape)
    # Box height sets the scale of its characters (ignore specks well below it).
    min_h = [0.18 * b.rect[3] for b in boxes]
    owner = _owners(comps, boxes)
    out: list[Glyph] = []
    run = -1
    for bi, b in enumerate(boxes):
        bh = b.rect[3]
        # keep character-sized ink; drop specks and thin leftovers of erased box lines
        bx0, by0, bw, _ = b.rect
        owned = [c for c in comps if owner.get(c.label) == bi]
        # print, not writing: a caption in the box's corner, a side the lines did not show
        not_writing = (_printed_caption(owned, b.rect) if not b.is_comb else set()) | \
            {c.label for c in owned if _lost_side(c, b.rect, labels)}
        mine = [c for c in owned if c.label not in not_writing
                and (c.h >= min_h[bi] or (c.h >= 0.06 * bh and c.area >= 0.01 * bh * bh)
                     # a bar drawn with a pen lift (T, E, H, 5, 7) inside the box, clear of its edges
                     or (c.w >= 0.12 * bh and by0 + 0.12 * bh <= c.y and c.y1 <= by0 + 0.88 * bh
                         and bx0 + 0.05 * bh <= c.x and c.x1 <= bx0 + bw - 0.05 * bh))]
        if not mine:
            continue
        if b.is_comb:
            # pieces too small alone that are a character's (not in a free box, which may hold its
            # printed caption's letters among the writing)
            mine += _inner_pieces(labels, [c for c in owned if c.label not in not_writing], mine)
            # a comp lying mostly in one cell (a glyph written wider than its cell) is that
            # cell's, whole; one spread over cells (glyphs joined across a separator) is clipped
            # to each cell holding a fair part of it
            share = overlap_areas([(c.x, c.y, c.w, c.h) for c in mine], b.cells) / \
                np.array([c.w * c.h for c in mine], float)[:, None]
            whole = share.max(axis=1) >= CELL_OWN
            hit = np.where(whole[:, None], share == share.max(axis=1, keepdims=True), share > 0.15)
            for ci, cell in enumerate(b.cells):
                idx = np.nonzero(hit[:, ci])[0]
                if not len(idx):
                    continue
                inside = [mine[i] for i in idx]
                cx, cy, cw, ch = cell
                x0 = min([cx] + [mine[i].x for i in idx if whole[i]])
                x1 = max([cx + cw] + [mine[i].x1 for i in idx if whole[i]])
                clip = (x0, cy - ch // 2, x1 - x0, 2 * ch)
                multi = [mine[i] for i in idx if not whole[i] and (mine[i].x < cx - 2 or mine[i].x1 > cx + cw + 2)]
                rect, m = _crop(labels, inside, clip if multi else None)
                if rect[2] > 0 and rect[3] >= 0.2 * ch and cv2.countNonZero(m) >= 0.004 * cw * ch:
                    out.append(Glyph(rect, m, bi, ci))
        else:
            box_ref = max(ref_h * 0.5, 0.45 * b.rect[3] if regions is None else 0.35 * b.rect[3])
            rows = _box_rows(mine, b.rect[3])
            for row in rows:
                run += 1
                row_ref = box_ref if len(rows) == 1 else \
                    BOX_ROW_REF * float(np.percentile([c.h for c in row], 75))
                found = _free_glyphs(labels, row, row_ref)
                # print in a box found on the page (a rubber stamp's frame), not writing
                printed = regions is None and printed_row(trimmed_row([(r, m) for r, m, *_ in found]))
                out += [Glyph(r, m, bi, run=run, cut=cut, blob=blob, printed=printed) for r, m, cut, blob in found]
    if free_text:
        rest = [c for c in comps if c.label not in owner and c.area >= 12]
        if rest:
            hs = np.array([c.h for c in rest], float)
            text_h = float(np.percentile(hs, 75))
            tall = [c for c in rest if c.h >= 0.45 * text_h or (c.h >= 0.2 * text_h and c.w >= 0.2 * text_h)]
            kept = {c.label for c in tall}
            starts = _caption_starts([c for c in rest if c.label not in kept])  # the small ink left out
            for row in (part for line in _rows(tall) for part in _columns(line, starts)):
                found = _free_glyphs(labels, row, text_h)
                printed = printed_row([(r, m) for r, m, *_ in found])  # a form's title: kept, as print
                run += 1
                out += [Glyph(r, m, -1, run=run, cut=cut, blob=blob, printed=printed) for r, m, cut, blob in found]
    return order_glyphs(out, boxes)


PRINT_MIN = 8  # characters: a shorter row of writing can line up by chance
PRINT_ODD = 12  # characters: a row this long may hold one that strays from the lines
PRINT_PX, PRINT_REL = 1.5, 0.025  # px, and share of the row's height: how far print strays from its lines
PRINT_WIDE = 0.5  # width over height: narrower letters (I, 1) are bars, alike in any hand
PRINT_SAME = 0.8  # overlap (intersection over union) of two copies of one printed letter
PRINT_TRIM = 0.2  # trimmed_row: of a row's median height, how far off a piece at its end is a frame's


def printed_row(glyphs: list[tuple[Rect, np.ndarray]], same: float = PRINT_SAME) -> bool:
    """Whether a row of free text (``(rect, mask)`` per character) is print, a form's title or
    an instruction: at least ``PRINT_MIN`` characters whose tops and bottoms all (bar one from
    ``PRINT_ODD`` on) lie on two straight lines, within ``PRINT_PX`` px or ``PRINT_REL`` of the
    row's height, two of them copies of one letter (their masks the same size, overlapping by
    ``same``; not bars, under ``PRINT_WIDE`` of their height wide, which any two look
    alike). Hand-printed rows that long stray from those lines by 2 px and more."""
    if len(glyphs) < PRINT_MIN:
        return False
    a = np.array([r for r, _ in glyphs], float)
    x = a[:, 0] + a[:, 2] / 2
    tol = max(PRINT_PX, PRINT_REL * float(np.median(a[:, 3])))
    for edge in (a[:, 1], a[:, 1] + a[:, 3]):
        off = np.abs(edge - np.polyval(np.polyfit(x, edge, 1), x))
        if len(glyphs) >= PRINT_ODD:  # one letter may stray (a speck joined to it): fit the rest
            keep = np.arange(len(off)) != int(np.argmax(off))
            off = np.abs(edge[keep] - np.polyval(np.polyfit(x[keep], edge[keep], 1), x[keep]))
        if off.max() > tol:
            return False
    for i, (ri, mi) in enumerate(glyphs):
        for rj, mj in glyphs[i + 1 :]:
            if abs(ri[2] - rj[2]) <= 1 and abs(ri[3] - rj[3]) <= 1 and ri[2] >= PRINT_WIDE * ri[3] and \
                    _alike(mi, mj, same):
                return True
    return False


def trimmed_row(glyphs: list[tuple[Rect, np.ndarray]]) -> list[tuple[Rect, np.ndarray]]:
    """A row in a box less the pieces at its ends whose height is ``PRINT_TRIM`` or more off the
    row's median: what is left of a frame drawn askew (a rubber stamp's), which the lines did
    not take off."""
    if len(glyphs) <= PRINT_MIN:
        return glyphs
    h = float(np.median([r[3] for r, _ in glyphs]))
    lo, hi = 0, len(glyphs)
    while hi - lo > PRINT_MIN and abs(glyphs[lo][0][3] - h) > PRINT_TRIM * h:
        lo += 1
    while hi - lo > PRINT_MIN and abs(glyphs[hi - 1][0][3] - h) > PRINT_TRIM * h:
        hi -= 1
    return glyphs[lo:hi]


def _alike(a: np.ndarray, b: np.ndarray, same: float = PRINT_SAME) -> bool:
    """Two glyph masks overlap by ``same`` (intersection over union) at some shift of a
    pixel or less (the same letter printed at another sub-pixel phase)."""
    h, w = max(a.shape[0], b.shape[0]) + 2, max(a.shape[1], b.shape[1]) + 2
    pa = np.zeros((h, w), bool)
    pa[1 : 1 + a.shape[0], 1 : 1 + a.shape[1]] = a > 0
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            pb = np.zeros((h, w), bool)
            pb[dy : dy + b.shape[0], dx : dx + b.shape[1]] = b > 0
            if np.count_nonzero(pa & pb) >= same * max(np.count_nonzero(pa | pb), 1):
                return True
    return False


def _box_rows(comps: list[_Comp], box_h: int) -> list[list[_Comp]]:
    """A free box's writing as rows: one row, unless the box is at least ``MULTI_LINE`` times
    as tall as the writing and that writing falls into several rows of two or more characters
    (an address box). Rows are set by the full-height components; short ones (bars, flags,
    dots) join the nearest row."""
    heights = np.array([c.h for c in comps], float)
    char_h = float(np.percentile(heights, 75))
    if box_h < MULTI_LINE * char_h:
        return [comps]
    tall = [c for c in comps if c.h >= SHORT_PIECE * char_h]
    rows = [r for r in _rows(tall) if r]
    if len(rows) < 2 or min(len(r) for r in rows) < 2:  # a lone mark above or below is no row
        return [comps]
    rows.sort(key=lambda r: float(np.median([c.y for c in r])))
    centres = [float(np.median([c.y + c.h / 2 for c in r])) for r in rows]
    for c in comps:
        if c.h < SHORT_PIECE * char_h:
            rows[int(np.argmin([abs(c.y + c.h / 2 - m) for m in centres]))].append(c)
    return rows


def reading_places(lines: FormLines, shape: tuple[int, int]) -> list[Box]:
    """Where a template-free read looks for writing, in the order its glyphs' ``region``
    indexes them: the page's boxes and combs, then the band above each free underline (writing
    on a free line reads like a box)."""
    return list(lines.boxes) + _underline_bands(lines, shape)


def _underline_bands(lines: FormLines, shape: tuple[int, int]) -> list[Box]:
    """A pseudo-box over each free underline: as tall as the page's boxes (at least 3.5% of
    the page height), reaching a third of that below the line for descending tails."""
    heights = [b.rect[3] for b in lines.boxes]
    band = max(float(np.median(heights)) if heights else 0.0, 0.035 * shape[0])
    out = []
    for x, y, w, h in lines.underlines:
        top = max(0, int(y - band))
        out.append(Box((x, top, w, int(y + h + band / 3) - top)))
    return out


def _owners(comps: list[_Comp], boxes: list[Box]) -> dict[int, int]:
    """Component label -> index of the box holding most of it (>= 30% of its bbox), or of
    the box whose right edge it overhangs on the same row."""
    if not comps or not boxes:
        return {}
    c = np.array([(k.x, k.y, k.x1, k.y1) for k in comps], float)
    b = np.array([(r[0], r[1], r[0] + r[2], r[1] + r[3]) for r in (bx.rect for bx in boxes)], float)
    ov = overlap_areas([(k.x, k.y, k.w, k.h) for k in comps], [bx.rect for bx in boxes])
    best = ov.argmax(axis=1)
    best_ov = ov[np.arange(len(comps)), best]
    area = (c[:, 2] - c[:, 0]) * (c[:, 3] - c[:, 1])
    owner = {}
    bh = b[:, 3] - b[:, 1]
    cy = (c[:, 1] + c[:, 3]) / 2
    for i, k in enumerate(comps):
        if best_ov[i] >= 0.3 * area[i]:
            owner[k.label] = int(best[i])
        elif best_ov[i] == 0:
            # overhang: a character that runs past a box's right edge on the same row
            hit = np.nonzero((b[:, 1] - 0.2 * bh <= cy[i]) & (cy[i] <= b[:, 3] + 0.2 * bh)
                             & (b[:, 2] <= k.x) & (k.x <= b[:, 2] + 0.6 * bh))[0]
            if hit.size:
                owner[k.label] = int(hit[0])
    return owner


def _shift(r: Rect, dx: int, dy: int) -> Rect:
    return r[0] + dx, r[1] + dy, r[2], r[3]


def _lost_side(c: _Comp, box: Rect, labels: np.ndarray) -> bool:
    """Whether ``c`` is a side of ``box`` that the form lines did not show (printed in dots a
    fine scan ran into a beaded line, too broken for a line and too long for a dot, maybe with
    what the erasing left of a corner): a piece at least SIDE_TALL of the box's height, with at
    least SIDE_INK of its ink within SIDE_BAND of the height from the box's left or right edge.
    Writing stays clear of a box's sides, or only touches them."""
    x, _, w, h = box
    band = SIDE_BAND * h
    if c.h < SIDE_TALL * h or not (c.x <= x + band or c.x1 >= x + w - band):
        return False
    cols = (labels[c.y : c.y + c.h, c.x : c.x1] == c.label).sum(axis=0)
    at = np.arange(c.x, c.x1)
    edge = cols[(at < x + band) | (at >= x + w - band)].sum()
    return bool(edge >= SIDE_INK * cols.sum())


def _find_in_crop(ink: np.ndarray, lines: FormLines, regions: list[Rect]) -> list[Glyph]:
    """Template mode: search only the fields' bounding area (plus room for overhang),
    not the whole page; same result, a fraction of the pixels."""
    h, w = ink.shape
    pad = max(r[3] for r in regions)
    x0 = max(0, min(r[0] for r in regions) - pad)
    y0 = max(0, min(r[1] for r in regions) - pad)
    x1 = min(w, max(r[0] + r[2] for r in regions) + 2 * pad)
    y1 = min(h, max(r[1] + r[3] for r in regions) + pad)
    sub_lines = FormLines(lines.mask, [Box(_shift(b.rect, -x0, -y0), [_shift(c, -x0, -y0) for c in b.cells], b.open_top)
                                       for b in lines.boxes], [], lines.thickness)
    glyphs = find_glyphs(np.ascontiguousarray(ink[y0:y1, x0:x1]), sub_lines, free_text=False,
                         regions=[_shift(r, -x0, -y0) for r in regions], _cropped=True)
    for g in glyphs:
        g.rect = _shift(g.rect, x0, y0)
    for blob in {id(g.blob): g.blob for g in glyphs if g.blob is not None}.values():
        blob.rect = _shift(blob.rect, x0, y0)
    return glyphs


def _rows(comps: list[_Comp]) -> list[list[_Comp]]:
    """Group components into text rows: a component joins the first row whose median band
    (top to bottom, widened by 15%) holds its centre. Sorted tops and bottoms are kept per
    row, so each median is a lookup (a dense page has thousands of components)."""
    rows: list[list[_Comp]] = []
    bands: list[tuple[list[int], list[int]]] = []

    def median(v: list[int]) -> float:
        return (v[(len(v) - 1) // 2] + v[len(v) // 2]) / 2

    for c in sorted(comps, key=lambda c: c.y + c.h / 2):
        cy = c.y + c.h / 2
        for r, (tops, bots) in zip(rows, bands, strict=True):
            top, bot = median(tops), median(bots)
            if top - 0.15 * (bot - top) <= cy <= bot + 0.15 * (bot - top):
                r.append(c)
                bisect.insort(tops, c.y)
                bisect.insort(bots, c.y1)
                break
        else:
            rows.append([c])
            bands.append(([c.y], [c.y1]))
    return rows


COLUMN_GAP = 3.0  # x a row's median height: paper this wide splits a row of free writing in two
CAPTION_GAP = 0.8  # x the row's height: a narrower gap is never cut, caption or not
CAPTION_RUN = 3.0  # x a caption's height: a wider gap ends a run of small print (one caption)
CAPTION_WIDE = 2.5  # x its height: a narrower run of small ink is specks or a stray stroke
CAPTION_ABOVE = 1.5  # x the row's height: how far above its writing a field's caption may end


def _caption_starts(small: list[_Comp]) -> list[tuple[int, int]]:
    """(left x, bottom y) of each caption printed small on a page without boxes: a run of
    ``small`` pieces (those the writing's rows leave out: under 0.45 of its height) on one line
    (one, where its letters ran together), at least CAPTION_WIDE times as wide as it is high and
    parted from the next by CAPTION_RUN of its height. A dropout form's captions stay printed
    where its boxes are gone."""
    out = []
    for line in _rows(small):
        for run in _split(line, CAPTION_RUN * float(np.median([c.h for c in line]))):
            x, y, w, h = union([(c.x, c.y, c.w, c.h) for c in run])
            if w >= CAPTION_WIDE * h:
                out.append((x, int(np.median([c.y1 for c in run]))))
    return out


def _split(row: list[_Comp], gap: float, cuts: list[int] = (), cut_gap: float = np.inf) -> list[list[_Comp]]:
    """``row`` in parts, left to right, cut where more than ``gap`` of paper parts them, or
    more than ``cut_gap`` with one of ``cuts`` (x) in the gap or over the next part's start."""
    parts: list[list[_Comp]] = []
    right = -np.inf
    for c in sorted(row, key=lambda c: c.x):
        if c.x - right > gap or (c.x - right > cut_gap and any(right < x <= c.x + cut_gap for x in cuts)):
            parts.append([])
        parts[-1].append(c)
        right = max(right, c.x1)
    return parts


def _columns(row: list[_Comp], captions: list[tuple[int, int]] = ()) -> list[list[_Comp]]:
    """A row of free writing cut where COLUMN_GAP of paper separates its parts: the fields of
    a form in two columns whose boxes are gone (a dropout form), not one field per row. A
    narrower gap (CAPTION_GAP) is cut where a caption (``_caption_starts``) printed just above
    the row starts in it: two fields closer than a column apart."""
    h = float(np.median([c.h for c in row]))
    top = float(np.median([c.y for c in row]))
    cuts = [x for x, bottom in captions if top - CAPTION_ABOVE * h <= bottom <= top + 0.25 * h]
    if not cuts:
        return _split(row, COLUMN_GAP * h)
    row = sorted(row, key=lambda c: c.x)
    right = np.maximum.accumulate([c.x1 for c in row])
    gaps = [c.x - r for c, r in zip(row[1:], right, strict=False)]
    return _split(row, COLUMN_GAP * h, cuts, max(CAPTION_GAP * h, 2.0 * float(np.median(gaps)) if gaps else 0.0))


def order_glyphs(glyphs: list[Glyph], boxes: list[Box]) -> list[Glyph]:
    """Assign line, index and word numbers in reading order (top-to-bottom rows, then
    left-to-right). A new word starts at an empty comb cell, a new box, or a gap wider
    than the line's median glyph height and twice its median letter gap."""
    if not glyphs:
        return []
    rows: list[list[Glyph]] = []
    bands: list[list[float]] = []  # running [sum of tops, sum of bottoms, count] per row
    # Full-height glyphs set the rows; short pieces (a bar or flag drawn with a pen lift) then
    # join the row nearest them, so they cannot start a row of their own above their line.
    med = float(np.median([g.rect[3] for g in glyphs]))
    tall = [g for g in glyphs if g.rect[3] >= SHORT_PIECE * med]
    for g in sorted(tall, key=lambda g: g.rect[1] + g.rect[3] / 2):
        cy = g.rect[1] + g.rect[3] / 2
        for r, band in zip(rows, bands, strict=True):
            top, bot = band[0] / band[2], band[1] / band[2]
            if top - 0.25 * (bot - top) <= cy <= bot + 0.25 * (bot - top):
                r.append(g)
                band[0] += g.rect[1]
                band[1] += g.rect[1] + g.rect[3]
                band[2] += 1
                break
        else:
            rows.append([g])
            bands.append([g.rect[1], g.rect[1] + g.rect[3], 1])
    for g in glyphs:
        if g.rect[3] >= SHORT_PIECE * med:
            continue
        cy = g.rect[1] + g.rect[3] / 2
        dist = [max(band[0] / band[2] - cy, cy - band[1] / band[2], 0.0) for band in bands]
        near = int(np.argmin(dist)) if dist else -1
        if near >= 0 and dist[near] <= 0.5 * (bands[near][1] - bands[near][0]) / bands[near][2]:
            rows[near].append(g)
        else:
            rows.append([g])
            bands.append([g.rect[1], g.rect[1] + g.rect[3], 1])
    rows.sort(key=lambda r: float(np.median([g.rect[1] for g in r])))
    for li, row in enumerate(rows, start=1):
        row.sort(key=lambda g: g.rect[0])
        med_h = float(np.median([g.rect[3] for g in row]))
        # letters spaced evenly across a box (or along missing comb cells) are one word: a word
        # gap must also be well above the line's typical letter gap
        gaps = [g.rect[0] - (p.rect[0] + p.rect[2]) for p, g in zip(row, row[1:], strict=False)
                if g.region == p.region and g.cell < 0]
        word_gap = max(med_h, 2.0 * float(np.median(gaps))) if len(gaps) >= 3 else med_h
        word = 1
        for i, g in enumerate(row):
            if i > 0:
                p = row[i - 1]
                gap = g.rect[0] - (p.rect[0] + p.rect[2])
                if (g.region != p.region or (g.cell >= 0 and p.cell >= 0 and g.cell - p.cell > 1)
                        or (g.cell < 0 and gap > word_gap)):
                    word += 1
            g.line, g.index, g.word = li, i + 1, word
    return [g for r in rows for g in r]


def run_heights(glyphs: list[Glyph]) -> dict[int, float]:
    """Each free-writing run's median glyph height: the scale its merges are measured by."""
    by_run: dict[int, list[int]] = {}
    for g in glyphs:
        if g.run >= 0:
            by_run.setdefault(g.run, []).append(g.rect[3])
    return {r: float(np.median(hs)) for r, hs in by_run.items()}


def merge_candidates(glyphs: list[Glyph], max_parts: int = MERGE_PARTS, max_aspect: float = MERGE_ASPECT,
                     max_gap: float = 0.3) -> list[Candidate]:
    """Merges of 2..``max_parts`` neighbouring glyphs (reading order, same run and line) that
    could be one character: together no wider than ``max_aspect`` x the run's median glyph
    height, with no gap between them above ``max_gap`` x that height. The reader lets the
    classifier choose between these and the separate pieces."""
    heights = run_heights(glyphs)
    out = []
    for i, g in enumerate(glyphs):
        if g.run < 0:
            continue
        h = heights[g.run]
        for j in range(i + 1, min(i + max_parts, len(glyphs))):
            part, prev = glyphs[j], glyphs[j - 1]
            if part.run != g.run or part.line != g.line:
                break
            if part.rect[0] - (prev.rect[0] + prev.rect[2]) > max_gap * h:
                break
            rect = union([p.rect for p in glyphs[i : j + 1]])
            if rect[2] > max_aspect * max(h, rect[3]):
                break
            mask = np.zeros((rect[3], rect[2]), np.uint8)
            for p in glyphs[i : j + 1]:
                x, y = p.rect[0] - rect[0], p.rect[1] - rect[1]
                np.maximum(mask[y : y + p.rect[3], x : x + p.rect[2]], p.mask, out=mask[y : y + p.rect[3], x : x + p.rect[2]])
            out.append(Candidate(i, j, rect, mask))
    return out


def caption_box(ink: np.ndarray, region: Rect) -> Rect | None:
    """The box, in page coordinates, of a caption printed small in ``region``'s top-left
    corner (``_printed_caption``), which the reader skips; None when there is none."""
    x, y, w, h = (max(0, v) for v in region)
    crop = ink[y : y + h, x : x + w]
    if not crop.any():
        return None
    _, comps = components(crop)
    caption = _printed_caption(comps, (0, 0, crop.shape[1], crop.shape[0]))
    if not caption:
        return None
    cx, cy, cw, ch = union([(c.x, c.y, c.w, c.h) for c in comps if c.label in caption])
    return x + cx, y + cy, cw, ch


def uncovered(ink: np.ndarray, region: Rect, boxes: list[Rect]) -> np.ndarray:
    """A copy of ``ink`` inside ``region`` (clipped to the page) with ``boxes`` (page
    coordinates) made paper: what no read character covers."""
    x, y, w, h = (max(0, v) for v in region)
    return _blank(ink[y : y + h, x : x + w].copy(), region, boxes)


def _blank(crop: np.ndarray, region: Rect, boxes: list[Rect]) -> np.ndarray:
    """``crop`` (of ``region``) with ``boxes`` (page coordinates) made paper, in place."""
    x, y = max(0, region[0]), max(0, region[1])
    for rx, ry, rw, rh in boxes:
        crop[max(0, ry - y) : max(0, ry - y + rh), max(0, rx - x) : max(0, rx - x + rw)] = 0
    return crop


def unread_pieces(ink: np.ndarray, region: Rect, read: list[Rect], captions: list[Rect]) -> int:
    """Pieces of ink, specks included, inside ``region`` that neither a read character's box
    nor one of ``captions`` covers (a pen kept only as dots: each dot is a piece)."""
    crop = _blank(uncovered(ink, region, read), region, captions)
    return cv2.connectedComponents(crop, connectivity=8)[0] - 1


def unread_ink(ink: np.ndarray, region: Rect, read: list[Rect], floor: int = 0,
               captions: list[Rect] | None = None) -> int:
    """Ink pixels inside ``region`` that no read character's box covers, counting only
    pieces bigger than a scanner speck (area >= 0.4% of the region height squared) and not a
    caption printed in its top-left corner: ``captions`` (boxes), or by default the one
    ``caption_box`` finds on ``ink``. 0 when fewer than ``floor`` pixels are left uncovered
    (the caller's threshold: the components and the caption are then never looked for)."""
    h = region[3]
    crop = uncovered(ink, region, read)
    if cv2.countNonZero(crop) < max(floor, 1):
        return 0
    if captions is None:
        captions = [c for c in [caption_box(ink, region)] if c]
    crop = _blank(crop, region, captions)
    _, _, stats, _ = cv2.connectedComponentsWithStats(crop, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    return int(areas[areas >= 0.004 * h * h].sum())
