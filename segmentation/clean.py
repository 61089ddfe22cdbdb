"""Page cleaning: working scale, binarisation, deskew (specks are dropped per component in glyphs.py).

Analysis runs at a working scale (the long side brought to ~``WORK_LONG_SIDE`` px: down for fine
scans, up for coarse ones), which makes 72-600 DPI inputs look alike and keeps every later step
cheap. The
homography ``to_input`` maps working coordinates back to the pixels of the page as given."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from segmentation.errors import BlankPageError
from segmentation.lines import bridge_gaps, dashed_lines, dots_closed
from segmentation.perspective import form_keystone, warp_size

WORK_LONG_SIDE = 2000
MAX_UPSCALE = 3.0
MAX_SKEW_DEG = 10.0  # a hand-placed flatbed scan or a photo; ADF scans stay within 3
MIN_INK_FRACTION = 2e-4
NEGATIVE_MEDIAN = 96  # a page whose median grey is darker than this may be a negative
INK_TAIL = 0.1  # percent of the page at either end of its grey levels, where the ink lies
NEGATIVE_SOLID = 0.05  # a negative's light part is strokes: less than this share survives an opening


@dataclass
class CleanPage:
    work: np.ndarray  # working-scale grey page, before deskew
    binary: np.ndarray  # deskewed, uint8, ink = 255
    scale: float  # working px per input px
    angle: float  # degrees the page was rotated by to deskew it
    to_input: np.ndarray  # 3x3 homography: working coords -> input page coords
    rotation: np.ndarray  # 2x3 affine: working -> deskewed working
    # a second binary page for finding printed lines (not the writing) in, whose thin or dashed
    # lines are whole (a bilevel scan's strokes widened, a grey page's thin pieces bridged); the
    # reader uses it where it finds clearly more cells
    line_binary: np.ndarray | None = None
    level: float = 128.0  # the grey level ``binary`` was cut at (binarize_level), on ``work``

    @cached_property
    def grey(self) -> np.ndarray:
        """The deskewed grey page (computed on demand, once: for pale lines and annotation)."""
        h, w = self.work.shape
        return cv2.warpAffine(self.work, self.rotation, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)

    @cached_property
    def dashes(self) -> np.ndarray | None:
        """The page's dashed and dotted form lines drawn whole (``dashed_lines`` of ``binary``),
        found once however many line sets a read tries them with."""
        return dashed_lines(self.binary)

    @cached_property
    def squares(self) -> np.ndarray:
        """The page to look for tick boxes on: ``binary`` with its dashed lines drawn whole (a
        dashed tick box's sides are too short for find_lines, or its dashes too far apart for a
        bridged copy, but they close its square), whatever lines the read goes by."""
        return self.binary if self.dashes is None else self.binary | self.dashes

    @cached_property
    def closed_squares(self) -> np.ndarray | None:
        """Where the page has dashed lines, a second page to look for tick boxes on: ``binary``
        closed across their gaps (``dots_closed``; a mark can join a box's dots into a line drawn
        too long, or leave a side undrawn, in ``squares``); else None."""
        return None if self.dashes is None else dots_closed(self.binary, self.dashes)

    @cached_property
    def sharp(self) -> np.ndarray | None:
        """A soft page only (a blurred scan or photo: :func:`softness` above ``SOFT_SIGMA``): the
        deskewed page binarised after an unsharp mask, in which ink that the blur alone joined (the
        notches of a W, the eye of an e) is paper again. None for a sharp page."""
        sigma = softness(self.work)
        if sigma <= SOFT_SIGMA:
            return None
        grey = self.grey  # (in uint8: addWeighted saturates, and costs a third of float32)
        sharpened = cv2.addWeighted(grey, 1 + SHARPEN, cv2.GaussianBlur(grey, (0, 0), sigma), -SHARPEN, 0)
        # cut where the page itself was, so the sharpening only parts strokes: a level of its own
        # could leave out a pencil that the page's threshold was raised to keep
        return cv2.threshold(sharpened, self.level, 255, cv2.THRESH_BINARY_INV)[1]

    @cached_property
    def faint(self) -> tuple[np.ndarray, np.ndarray]:
        """:func:`faint_binary` of this page, computed once for every step that asks."""
        return faint_binary(self)

    def input_box(self, x: float, y: float, w: float, h: float) -> tuple[int, int, int, int]:
        """An axis-aligned working box as the bounding box in input-page pixels."""
        pts = np.array([[x, y, 1], [x + w, y, 1], [x, y + h, 1], [x + w, y + h, 1]], float) @ self.to_input.T
        pts = pts[:, :2] / pts[:, 2:]
        x0, y0 = np.floor(pts.min(0)).astype(int)
        x1, y1 = np.ceil(pts.max(0)).astype(int)
        return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def working_scale(shape: tuple[int, int], long_side: int = WORK_LONG_SIDE) -> float:
    """The long side to ``long_side``: down for a fine scan, and up (at most ``MAX_UPSCALE``
    times) for a coarse one (a fax, a 100 DPI scan), whose thin strokes and narrow cells
    otherwise break up when binarised and cleaned of lines."""
    return min(MAX_UPSCALE, long_side / max(shape))


FLAT_BACKGROUND_RANGE = 24  # grey levels: below this the paper is evenly lit


def downscale(img: np.ndarray, s: float) -> np.ndarray:
    """Shrink by ``s`` (<= 1): pyrDown halvings (cheap, anti-aliased) while the remaining
    factor is <= 0.5, then one bilinear step for a remainder above 0.5, which a 2x2
    interpolation still covers. About 3x cheaper than INTER_AREA at fractional scales."""
    if s > 1:
        return cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC)
    if s == 1:
        return img
    h, w = img.shape
    size = (max(1, int(round(w * s))), max(1, int(round(h * s))))
    while img.shape[1] >= 2 * size[0] and img.shape[0] >= 2 * size[1]:
        img = cv2.pyrDown(img)
    return cv2.resize(img, size, interpolation=cv2.INTER_LINEAR) if img.shape[::-1] != size else img


def _eighth(grey: np.ndarray) -> np.ndarray:
    """``grey`` at 1/8 scale (less where it gets under 32 px): pyrDown is ~10x cheaper than a
    fractional INTER_AREA resize."""
    small = grey
    for _ in range(3):
        if min(small.shape) < 32:
            break
        small = cv2.pyrDown(small)
    return small


def paper_background(grey: np.ndarray, edges: bool = False, small: np.ndarray | None = None) -> np.ndarray:
    """The paper's brightness at 1/8 scale: a local maximum (ink removed), smoothed. With
    ``edges``, the local minimum of that (a closing), lightly smoothed: a shadow's edge stays
    where it is, where the maximum alone moves it 28 working px into the shadow and leaves the
    paper there darker than its background (specks, a false stroke along the edge).
    ``small``: ``grey`` at 1/8 scale already, for a caller that wants both."""
    small = _eighth(grey) if small is None else small
    square = cv2.getStructuringElement(cv2.MORPH_RECT, (7, 7))
    if edges:
        return cv2.GaussianBlur(cv2.morphologyEx(small, cv2.MORPH_CLOSE, square), (0, 0), 1)
    return cv2.GaussianBlur(cv2.dilate(small, square), (0, 0), 3)  # paper = local max


def unevenly_lit(bg: np.ndarray) -> bool:
    """Whether the paper's brightness (a :func:`paper_background`) varies by
    ``FLAT_BACKGROUND_RANGE`` or more across the page (2nd to 98th percentile)."""
    lo, hi = np.percentile(bg, [2, 98])
    return hi - lo >= FLAT_BACKGROUND_RANGE


def flat_field(grey: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """``grey`` divided by its paper background: paper at 255 however the page was lit."""
    h, w = grey.shape
    return cv2.divide(grey, np.maximum(cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR), 1), scale=255)


TINT_RANGE = (0.3, 0.88)  # of the paper's brightness: a printed tint (a shaded field), neither ink nor paper
TINT_SIDE = 0.006  # of the long side (2 mm on A4): a tint is solid over this square, which no pen stroke fills
TINT_MIN = 0.005  # of the page: less solid tint than this is left as it is (nearly every page)
TINT_AREA = 16  # TINT_SIDE squares: a tinted field is at least this large (8 mm square on A4)
TINT_SAME = 0.1  # of the paper's brightness: a smaller solid area this close to the tint's grey is tint too
TINT_EVEN = 0.08  # of the paper's brightness: a tint's greys (quartile to quartile) lie within this
TINT_PAPER = 0.92  # of the paper's brightness: paper, not tint


def drop_tint(work: np.ndarray) -> np.ndarray:
    """The working page with its printed tints divided out to paper: fields shaded grey or in
    a colour, a tinted band. A tint is mid-grey and solid over a TINT_SIDE square (no pen
    stroke, a pencil's included, is that wide) across a field's area (TINT_AREA); so is what
    is solid over half that square in that grey (a shaded tick box, a cell the writing fills).
    The page is divided by the tint's own level there, as flat_field divides by the paper's,
    so writing on it keeps its contrast and the tint reads as paper.
    Otsu would otherwise take a dark tint (under about 60% of the paper's brightness) for
    ink, and every shaded box for a solid blot."""
    half = cv2.pyrDown(work)  # tints are large: found at half scale, a quarter of the cost
    paper = float(np.percentile(half[::4, ::4], 98))
    k = max(3, int(round(TINT_SIDE * max(half.shape))))
    mid = cv2.inRange(half, TINT_RANGE[0] * paper, TINT_RANGE[1] * paper)
    # solid over half that square: a shaded tick box holds its tint in the corners a mark leaves
    solid = cv2.morphologyEx(mid, cv2.MORPH_OPEN, np.ones((max(2, k // 2),) * 2, np.uint8))
    if cv2.countNonZero(solid) < TINT_MIN * solid.size:
        return work
    # the tint: what is solid over the whole square (no pen stroke is) over a field's area
    _, big_labels, big_stats, _ = cv2.connectedComponentsWithStats(
        cv2.morphologyEx(mid, cv2.MORPH_OPEN, np.ones((k, k), np.uint8)), connectivity=4)
    big = np.flatnonzero(big_stats[1:, cv2.CC_STAT_AREA] >= TINT_AREA * k * k) + 1
    if not len(big):
        return work
    x, y, w, h = (big_stats[big, i] for i in range(4))
    if ((x == 0) | (y == 0) | (x + w == half.shape[1]) | (y + h == half.shape[0])).any():
        # a grey that runs off the image is a shadow, or the dark side of a lamp's falloff, not a
        # printed tint (printed within the sheet's margins), and the insides of the boxes under it
        # are as grey: the page is left to the flat field, and its tints are found on the page evened
        return work
    # one printed grey: a shadow or a lamp's falloff across the page shades the paper unevenly,
    # which binarize's flat field is for
    in_big = np.isin(big_labels, big)
    lo, tint, hi = np.percentile(half[in_big], [25, 50, 75])  # (pen strokes' soft edges darken the tail)
    if hi - lo > TINT_EVEN * paper:
        return work
    # and every solid area of that grey (a shaded tick box, a cell the writing fills)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(solid, connectivity=4)
    grey = np.bincount(labels.ravel(), weights=half.ravel(), minlength=n) / np.maximum(stats[:, cv2.CC_STAT_AREA], 1)
    keep = np.abs(grey - tint) <= TINT_SAME * paper
    keep[0] = False
    # its level, spread from where it is solid over the writing and the edges around it (at
    # 1/4 scale: it varies slowly)
    r = max(2, k // 2)
    level, near = _spread(half, keep.astype(np.uint8)[labels], r)
    bg = cv2.resize(np.where(near, np.maximum(level, 1.0), paper).astype(np.float32), work.shape[::-1],
                    interpolation=cv2.INTER_LINEAR)
    # the tint's level reaches past its edge; paper within two pixels keeps its own (a thin line
    # on white paper beside a tint is not lightened with it)
    bg[cv2.dilate(cv2.inRange(work, TINT_PAPER * paper, 255), np.ones((5, 5), np.uint8)) > 0] = paper
    out, at = work.copy(), bg < paper - 0.5
    out[at] = np.clip(work[at] * (paper / bg[at]), 0, 255).astype(np.uint8)
    return out


def _spread(half: np.ndarray, mask: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """(the grey of ``half`` under ``mask``, spread over 2r px about it at half ``half``'s
    scale, where no mask is: the average of the masked pixels nearby; where that reaches)."""
    f = cv2.pyrDown(mask.astype(np.float32))
    v = cv2.pyrDown(half.astype(np.float32) * mask)
    level = cv2.GaussianBlur(v, (0, 0), 2 * r) / np.maximum(cv2.GaussianBlur(f, (0, 0), 2 * r), 1e-3)
    return level, cv2.dilate((f > 0.05).astype(np.uint8), np.ones((4 * r + 1, 4 * r + 1), np.uint8)) > 0


SOFT_SIGMA = 0.95  # working px: a sharp scan measures ~0.8 (the pixel grid's own spread), one blurred by
# 1 px at 200 DPI ~1.1, by 2 px ~1.6
SHARPEN = 6.0  # unsharp-mask amount for a soft page's glyph ink (only ever removes ink: CleanPage.sharp)
SOFT_EDGE = 0.1  # of the ink-to-paper contrast: pixels this close to its middle grey lie on an ink edge


def softness(work: np.ndarray, step: int = 4) -> float:
    """How blurred the page's ink edges are, as the sigma (working px) of a Gaussian blur that
    would give them: a step of contrast C blurred by sigma rises at most C / (sigma sqrt(2 pi))
    a px, at its middle grey. The steep (upper quartile) slope of the pixels at that grey, on
    every ``step``-th row and column; 0.0 where no edge has greys (a bilevel scan)."""
    half = work[1:-1:step, 1:-1:step]
    t, _ = cv2.threshold(half, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    cum = np.bincount(half.ravel(), minlength=256).cumsum()
    ink = int(np.searchsorted(cum, 0.1 * cum[int(t)]))  # the darker tenth of the ink
    paper = int(np.searchsorted(cum, 0.9 * cum[-1]))
    contrast = paper - ink
    mid = np.abs(np.arange(256) - (ink + paper) / 2) < SOFT_EDGE * contrast
    ys, xs = np.nonzero(cv2.LUT(half, mid.astype(np.uint8)))
    if ys.size < 100 or contrast <= 0:
        return 0.0
    ys, xs = step * ys + 1, step * xs + 1
    gx = work[ys, xs + 1].astype(np.float32) - work[ys, xs - 1]
    gy = work[ys + 1, xs].astype(np.float32) - work[ys - 1, xs]
    slope = float(np.percentile(np.hypot(gx, gy), 75)) / 2  # central differences span 2 px
    return contrast / (slope * np.sqrt(2 * np.pi)) if slope > 0 else 0.0


def binarize(grey: np.ndarray) -> np.ndarray:
    """Otsu on the page, flat-fielded first (background divided out) when the paper is
    unevenly lit: shadows, curl, a lamp gradient. Tolerates JPEG noise. Returns ink = 255."""
    return binarize_level(grey)[0]


def binarize_level(grey: np.ndarray, bg: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """:func:`binarize`, and the grey level it cut at (on the page as flat-fielded). ``bg``: the
    page's ``paper_background(grey, edges=True)``, for a caller that has it already."""
    bg = paper_background(grey, edges=True) if bg is None else bg
    page = flat_field(grey, bg) if unevenly_lit(bg) else grey  # evenly lit: no division
    # Otsu's histogram from every other row and column: the same threshold at a quarter the cost
    half = np.ascontiguousarray(page[::2, ::2])
    t, _ = cv2.threshold(half, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    # Otsu on a nearly white page can pick a threshold inside the paper noise; cap it
    # relative to the paper's brightness.
    paper = 255.0 if page is not grey else float(np.percentile(bg, 98))
    t = min(_above_pen(half, t, paper), 200.0 * paper / 255.0)
    return cv2.threshold(page, t, 255, cv2.THRESH_BINARY_INV)[1], t  # ink: page <= t


def _smooth_histogram(half: np.ndarray) -> np.ndarray:
    """The 256-level histogram of a grey page (at half scale: every other row and column says as
    much), smoothed over 5 levels: the peaks and valleys of its inks, not its noise."""
    hist = cv2.calcHist([half], [0], None, [256], [0, 256]).ravel().astype(np.float64)
    return np.convolve(hist, np.ones(5) / 5, mode="same")


def _above_pen(half: np.ndarray, t: float, paper: float) -> float:
    """Otsu's threshold ``t``, raised above a grey pen's level where it cuts through it. With
    black boxes, a mid-grey pen (pencil, a pale ballpoint) and paper, Otsu can settle on the
    pen's own grey and keep part of each stroke: the strokes come out broken, yet too many to
    count as a pen the threshold left out. A narrow peak of the histogram at most
    ``PEN_BELOW`` levels under ``t`` and at most ``PEN_NEAR`` above it, ``PEN_PEAK`` times the
    level of the histogram between ink and paper, is such a pen: the threshold moves to where
    the histogram falls back above it. Not where what that adds is mostly long straight
    lines: boxes printed in grey, which the pale-line steps read. ``half``: the page at half
    scale (every other row and column), as Otsu saw it."""
    smooth = _smooth_histogram(half)
    top = int(paper) - PEN_PAPER
    lo, hi = int(max(t - PEN_BELOW, PEN_PAPER)), int(min(t + PEN_NEAR, top))
    if hi <= lo:
        return t
    mode = lo + int(np.argmax(smooth[lo : hi + 1]))
    base = max(float(np.median(smooth[PEN_PAPER:top])), 1.0)  # anti-aliased edges: a low, even ramp
    back = np.nonzero(smooth[mode:top] <= 2 * base)[0]
    if smooth[mode] < PEN_PEAK * base or not back.size or mode + back[0] <= t:
        return t  # no peak, or a broad grey (a tint, a photo), not a pen's
    raised = float(mode + back[0])
    # what the raised threshold adds, less the edges of what was ink already
    edges = cv2.dilate((half <= t).astype(np.uint8), np.ones((3, 3), np.uint8))
    added = ((half > t) & (half <= raised) & (edges == 0)).astype(np.uint8)
    k = max(half.shape) // PEN_LINE
    straight = cv2.morphologyEx(added, cv2.MORPH_OPEN, np.ones((1, k), np.uint8)) | \
        cv2.morphologyEx(added, cv2.MORPH_OPEN, np.ones((k, 1), np.uint8))
    return t if int(straight.sum()) > PEN_STRAIGHT * max(int(added.sum()), 1) else raised


PEN_NEAR, PEN_BELOW = 30, 10  # grey levels above and below Otsu's threshold where a pen's peak is split by it
PEN_PEAK = 4.0  # a pen's histogram peak stands this many times above the ink-to-paper ramp
PEN_PAPER = 30  # levels kept clear of paper white (and of black) when looking for a pen
PEN_LINE, PEN_STRAIGHT = 60, 0.3  # runs of 1/60 of the page or more are lines; a pen's peak is
# not one whose added pixels are this much lines


MARGIN_THICK = 0.01  # of the long side: a dark mass this thick that touches the image edge is a margin
MARGIN_DARK = 0.35  # darker than this share of the paper's brightness: not paper, however unevenly lit
MARGIN_CROP = 0.8  # a page covering less of the image than this is cropped to before reading
MARGIN_EDGE = 0.05  # share of the image's outermost rows and columns that must be dark, before looking
MARGIN_STEP = 1.5  # the paper just beyond a dark surround is at least this many times as bright as its rim


def _border(a: np.ndarray) -> np.ndarray:
    """The outermost rows and columns of an image, in one array."""
    return np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])


def _solid(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(what of ``mask`` survives an opening by a square ``MARGIN_THICK`` of the long side: a
    solid mass, not strokes; that square, for widening the mass back over its soft edge)."""
    k = max(3, int(round(MARGIN_THICK * max(mask.shape))))
    square = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, square), square


def _paint_paper(work: np.ndarray, where: np.ndarray) -> np.ndarray:
    """A copy of the working page with ``where`` (a mask, or a boolean per column) set to the
    brightness of the paper elsewhere (the 90th percentile of a sample; white when none is left)."""
    cols = where.ndim == 1
    rest = work[:, ~where] if cols else work[where == 0]
    out = work.copy()
    level = np.uint8(np.percentile(rest.ravel()[::16], 90)) if rest.size else 255
    if cols:
        out[:, where] = level
    else:
        out[where > 0] = level
    return out


def dark_margin(grey: np.ndarray) -> np.ndarray | None:
    """Mask (255) of the dark surround of a page scanned or photographed on something dark (an
    open scanner lid, a table): a solid dark mass at least ``MARGIN_THICK`` of the long side
    thick, touching the image edge, with a rim for its soft inner edge. None when there is
    none (nearly every page, answered from the outermost rows and columns). Writing, a printed
    frame or a stroke running off the page is thin and stays; shadowed paper is not dark enough."""
    edges = _border(grey)
    if np.count_nonzero(edges < MARGIN_DARK * 255) < MARGIN_EDGE * edges.size:
        return None
    dark = np.uint8(MARGIN_DARK * float(np.percentile(grey[::8, ::8], 98)))  # the paper, if 2% of it shows
    if np.count_nonzero(edges < dark) < MARGIN_EDGE * edges.size:
        return None
    solid, square = _solid(cv2.threshold(grey, int(dark) - 1, 255, cv2.THRESH_BINARY_INV)[1])
    _, labels = cv2.connectedComponents(solid, connectivity=8)
    touching = np.unique(_border(labels))
    touching = touching[touching > 0]
    if not len(touching):
        return None
    mass = np.isin(labels, touching).astype(np.uint8) * 255
    # a page's edge is a step up from the surround to the paper; where a shadow and a lamp's
    # falloff darken the sheet's corner as much, the mass ends on a smooth ramp of paper
    rim, beyond = mass & ~cv2.erode(mass, square), cv2.dilate(mass, square) & ~mass
    if float(np.median(grey[beyond > 0])) < MARGIN_STEP * max(1.0, float(np.median(grey[rim > 0]))):
        return None
    return cv2.dilate(mass, square)


SURROUND_DIM = 0.8  # page_outline: image edges darker than this share of the paper's brightness are not paper
SURROUND_EDGE = 0.5  # ... along at least this share of the image's outermost rows and columns
PAGE_MIN = 0.2  # the page found is at least this share of the image


def _corners(hull: np.ndarray) -> np.ndarray:
    return cv2.approxPolyDP(hull, 0.02 * cv2.arcLength(hull, True), True)


def _page_hull(page: np.ndarray) -> np.ndarray | None:
    """The convex hull of the largest region of the mask ``page``, when it is page-shaped: four
    corners and at least ``PAGE_MIN`` of the image; else None."""
    contours, _ = cv2.findContours(page, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    hull = cv2.convexHull(max(contours, key=cv2.contourArea))
    if cv2.contourArea(hull) < PAGE_MIN * page.size or len(_corners(hull)) != 4:
        return None
    return hull


def page_outline(grey: np.ndarray) -> np.ndarray | None:
    """Mask (255) of what lies outside the page when it lies on a surround lighter than
    ``dark_margin`` finds (a grey desk, a wooden table): the page is the largest bright region,
    and its convex hull a quadrilateral; the image's edges must be clearly darker than the
    paper. None when they are paper (nearly every scan, answered from the edge pixels) or no
    such page shows. Writing and shadows on the page lie inside its hull and stay."""
    edges = _border(grey)
    if np.count_nonzero(edges < SURROUND_DIM * 255) < SURROUND_EDGE * edges.size:
        return None  # edges as light as any paper: nearly every scan, answered here
    paper = float(np.percentile(grey[::8, ::8], 98))
    if np.count_nonzero(edges < SURROUND_DIM * paper) < SURROUND_EDGE * edges.size:
        return None
    level = float(np.median(edges))
    bright, square = _solid(cv2.threshold(grey, (level + paper) / 2, 255, cv2.THRESH_BINARY)[1])
    hull = _page_hull(bright)
    if hull is None:
        return None  # no page-shaped region: a vignetted photo, a dark page
    outside = np.full(grey.shape, 255, np.uint8)
    cv2.fillConvexPoly(outside, hull, 0)
    if cv2.countNonZero(outside) < MARGIN_EDGE * grey.size:
        return None
    return cv2.dilate(outside, np.ones((5, 5), np.uint8))  # and the page's soft edge


KEYSTONE = 0.03  # rectify: opposite sides of the page's outline this much (of the longer) apart in length


def page_quad(margin: np.ndarray) -> np.ndarray | None:
    """The corners (top-left, top-right, bottom-right, bottom-left; float32) of the page that
    ``margin`` (what lies around it) leaves, when its outline is a quadrilateral; else None."""
    hull = _page_hull(cv2.bitwise_not(margin))
    if hull is None:
        return None
    quad = _corners(hull).reshape(-1, 2).astype(np.float32)
    total, diff = quad.sum(1), np.diff(quad, axis=1).ravel()  # x+y, y-x
    return np.float32([quad[np.argmin(total)], quad[np.argmin(diff)], quad[np.argmax(total)], quad[np.argmax(diff)]])


FRAME_NEAR = 0.01  # of the long side: a corner this near an image edge lies on it


def _framed(quad: np.ndarray, shape: tuple[int, int]) -> bool:
    """Whether three sides of ``quad`` (corners in order) run along the image's edges: what bounds
    the bright part is then a shadow's edge, not the page's, and squaring the page from it skews
    all of it. (A photo where the page runs out of the picture on one side or two still has
    corners near enough the page's own to square it from.)"""
    h, w = shape
    near = FRAME_NEAR * max(h, w)
    x, y = quad[:, 0], quad[:, 1]
    edges = [x < near, x > w - 1 - near, y < near, y > h - 1 - near]
    along = sum(any(e[i] and e[(i + 1) % 4] for e in edges) for i in range(4))
    return along >= 3


def rectify(work: np.ndarray, margin: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A page photographed at an angle (its outline a quadrilateral whose opposite sides differ
    in length by ``KEYSTONE`` or more): (the page warped to the rectangle of its longer sides,
    the margin warped with it, the 3x3 homography from ``work`` to it). None for a page that
    is a rectangle, tilted or not (deskew straightens that), whose outline is not four-sided, or
    runs along three of the image's edges."""
    quad = page_quad(margin)
    if quad is None or _framed(quad, work.shape):
        return None
    side = lambda a, b: float(np.linalg.norm(quad[a] - quad[b]))  # noqa: E731
    top, bottom, left, right = side(0, 1), side(3, 2), side(0, 3), side(1, 2)
    if abs(top - bottom) < KEYSTONE * max(top, bottom) and abs(left - right) < KEYSTONE * max(left, right):
        return None
    w, h = int(round(max(top, bottom))), int(round(max(left, right)))
    hom = cv2.getPerspectiveTransform(quad, np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]]))
    page = cv2.warpPerspective(work, hom, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    rest = cv2.warpPerspective(margin, hom, (w, h), flags=cv2.INTER_NEAREST, borderValue=255)
    return page, rest, hom


PRINT_CONTRAST = 0.6  # darker than this share of the brightness around it: print or writing
PRINT_DEPTH = 0.2  # ... and darker than it by this share of the page's paper
PRINT_MIN = 2e-4  # of the image: this much print (a character or two) makes a region paper
PRINT_PIECES = 3  # ... in at least this many pieces (a pen lying on the desk is one)
PRINT_SPECK = 30  # px at the working scale: a smaller piece is a speck of dust or grain
PRINT_INSET = 0.03  # of the long side: how far inside a region print is looked for (clear of the
# page's own edge, which is darker than the paper beside it)


def holds_print(grey: np.ndarray, region: np.ndarray) -> bool:
    """Whether ``region`` (a mask) holds print or writing: thin strokes darker than
    ``PRINT_CONTRAST`` of the paper around them, and darker by ``PRINT_DEPTH`` of the page's
    paper, over ``PRINT_MIN`` of the image in ``PRINT_PIECES`` pieces or more. Paper in a shadow
    or a lamp's falloff does, however dark it is, and however little of it the writing reaches;
    a desk, a table or a scanner lid does not (its grain is not that dark, and a pen or a phone
    lying on it is solid, not strokes)."""
    # the brightness around each pixel: a local maximum over a few stroke widths at 1/4 scale
    # (paper_background's reaches too far past the page's edge), noise smoothed first
    h, w = grey.shape
    near = cv2.resize(cv2.dilate(cv2.pyrDown(cv2.pyrDown(grey)), np.ones((5, 5), np.uint8)), (w, h),
                      interpolation=cv2.INTER_LINEAR)
    bg = near.astype(np.float32)
    paper = float(np.percentile(grey[::8, ::8], 98))
    square = cv2.getStructuringElement(cv2.MORPH_RECT, (int(round(PRINT_INSET * max(grey.shape))),) * 2)
    inner = cv2.erode(region, square)
    if not cv2.countNonZero(inner):
        # only blotches, thinner than the inset: a shadow's edge near the margin's threshold
        # leaves them, and the dim paper around them holds the print (a thin surround has none)
        inner = cv2.erode(region | cv2.inRange(near, 0, int(SURROUND_DIM * paper)), square)
        if not cv2.countNonZero(inner):
            return False
    g = cv2.medianBlur(grey, 3).astype(np.float32)
    # darker than the paper around it by a share of it and by a share of the page's paper: a dark
    # surround's grain is as dark relative to itself, but not by that much
    ink = ((g < PRINT_CONTRAST * bg) & (bg - g > PRINT_DEPTH * paper) & (inner > 0)).astype(np.uint8)
    ink &= ~_solid(ink)[0] & 1  # strokes, not a solid object
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    areas = areas[areas >= PRINT_SPECK]
    return len(areas) >= PRINT_PIECES and int(areas.sum()) >= PRINT_MIN * grey.size


def surround(grey: np.ndarray) -> np.ndarray | None:
    """What lies around the page, to be painted as paper: a dark surround, or a lighter one
    around a page-shaped region; None on nearly every scan, and where what looks like a
    surround holds print (the page's own paper, in a shadow or at a lamp's dim side)."""
    margin = dark_margin(grey)
    if margin is None:
        margin = page_outline(grey)
    return None if margin is None or holds_print(grey, margin) else margin


STREAK_FILL = 0.985  # a column this much ink, top to bottom, is a scanner streak: a printed frame stops
# at the printer's margin (4 mm or more on A4: 97% of the height)


def streak_columns(binary: np.ndarray) -> np.ndarray:
    """Boolean per column of the unrotated working binary: a dark streak that dust on an ADF's
    feed glass draws down the whole page, with one column either side for its soft edge.
    Printed lines and writing stop at the page's margins; a streak does not."""
    rows = binary[::4]  # every fourth row says as much, at a quarter of the cost
    full = np.count_nonzero(rows, axis=0) >= STREAK_FILL * rows.shape[0]
    if not full.any():
        return full
    return np.convolve(full, np.ones(3), mode="same") > 0


HOLE_SIZE = (0.012, 0.04)  # of the long side: a binder's punched hole, across (5 to 8 mm, A3 to A5)
HOLE_EDGE = 0.08  # of the long side: ... its centre at most this far in from an edge of the page
HOLE_RIM = 0.15  # of the ring just outside it (1.05 to 1.3 radii): ink at most (a filled square's corners: ~0.3)


def punch_holes(binary: np.ndarray) -> np.ndarray | None:
    """Mask (255) of the holes punched along an edge of the page for a binder, where the scan
    shows them dark (the scanner's lid or backing seen through them); None where there are none
    (nearly every page). A hole is a solid round disc, ``HOLE_SIZE`` across, near an edge: its
    centre is a peak of the distance to the paper far deeper than any stroke's, and the ring
    around it is mostly paper (a filled square's corners, a dark strip along the edge are not).
    A box line punched through is left out of the mask (_erase_hole). Only the bands along the
    edges are looked at."""
    h, w = binary.shape
    long_side = max(h, w)
    r_lo, r_hi = (f * long_side / 2 for f in HOLE_SIZE)
    reach = int(HOLE_EDGE * long_side + r_hi) + 2
    out = None
    for band in ((slice(None), slice(0, reach)), (slice(None), slice(max(0, w - reach), w)),
                 (slice(0, reach), slice(None)), (slice(max(0, h - reach), h), slice(None))):
        sub = binary[band]
        if not cv2.erode(sub, cv2.getStructuringElement(cv2.MORPH_RECT, (int(r_lo),) * 2)).any():
            continue  # no ink that solid (a square's worth, cheaply): every stroke and line is thinner
        depth = cv2.distanceTransform(sub, cv2.DIST_L2, cv2.DIST_MASK_5)
        n, labels, stats, _ = cv2.connectedComponentsWithStats((depth >= r_lo).astype(np.uint8))
        y0, x0 = band[0].start or 0, band[1].start or 0
        for k in range(1, n):
            bx, by, bw, bh = stats[k, :4]
            peak = depth[by : by + bh, bx : bx + bw] * (labels[by : by + bh, bx : bx + bw] == k)
            py, px = np.unravel_index(int(np.argmax(peak)), peak.shape)
            r = float(peak[py, px])
            cx, cy = x0 + bx + px, y0 + by + py
            if r > r_hi or min(cx, cy, w - 1 - cx, h - 1 - cy) > HOLE_EDGE * long_side:
                continue
            reach_r = int(np.ceil(1.5 * r))
            wx0, wy0 = max(0, cx - reach_r), max(0, cy - reach_r)
            near = binary[wy0 : cy + reach_r + 1, wx0 : cx + reach_r + 1]
            ring = cv2.circle(np.zeros_like(near), (int(cx - wx0), int(cy - wy0)), int(round(1.175 * r)) + 1, 255,
                              max(1, int(round(0.25 * r))))
            if cv2.countNonZero(near & ring) > HOLE_RIM * cv2.countNonZero(ring):
                continue
            out = np.zeros((h, w), np.uint8) if out is None else out
            _erase_hole(out, binary, int(cx), int(cy), int(np.ceil(r)) + 2)
    return out


def _erase_hole(out: np.ndarray, binary: np.ndarray, cx: int, cy: int, r: int) -> None:
    """Mark the disc of radius ``r`` at (cx, cy) in ``out``, less the rows (columns) whose ink
    runs up to it on both sides (above and below): a box line the hole was punched through is
    bridged across it, so the box stays closed."""
    h, w = binary.shape
    x0, y0, x1, y1 = max(0, cx - r - 4), max(0, cy - r - 4), min(w, cx + r + 5), min(h, cy + r + 5)
    ink = binary[y0:y1, x0:x1] > 0
    disc = cv2.circle(np.zeros(ink.shape, np.uint8), (cx - x0, cy - y0), r, 1, -1) > 0
    rim = (cv2.circle(np.zeros(ink.shape, np.uint8), (cx - x0, cy - y0), r + 3, 1, -1) > 0) & ~disc & ink
    ys, xs = np.mgrid[0 : ink.shape[0], 0 : ink.shape[1]]
    rows = (rim & (xs < cx - x0)).any(axis=1) & (rim & (xs > cx - x0)).any(axis=1)
    cols = (rim & (ys < cy - y0)).any(axis=0) & (rim & (ys > cy - y0)).any(axis=0)
    erase = disc & ~rows[:, None] & ~cols[None, :]
    out[y0:y1, x0:x1][erase] = 255


FAINT_DELTA = 40  # grey levels below the (flat-fielded) paper that still count as printed line
PALE_LINE_GREY = 90  # form lines lighter than this come out of Otsu broken or not at all
# show_level: a valley at most SHOW_SPAN levels under the faint cut, where the cut falls on a lighter
# population (the back of the sheet showing through?) SHOW_RISE times the valley's level, above a
# pale ink's peak (a pencil, pink boxes) at most SHOW_SPAN under the valley that stands SHOW_PEAK
# times above the valley and SHOW_STAND times above that span's darker end (a peak, not the ramp
# down from darker ink: grey boxes' edges under a pencil paler than them)
SHOW_SPAN, SHOW_RISE, SHOW_PEAK, SHOW_STAND = 30, 2.5, 1.3, 2.0


def faint_binary(page: CleanPage) -> tuple[np.ndarray, np.ndarray]:
    """The deskewed page binarised just below paper white: box lines printed in grey or a
    pale colour, which Otsu breaks up or leaves out with the paper, come out whole here.
    Used only where the ink binarisation falls short (pale lines, a pale pen); callers use
    the cached ``CleanPage.faint``. Returns (binary, ink = 255; the flat-fielded grey page it
    was cut from)."""
    small = _eighth(page.grey)
    bg = paper_background(page.grey, edges=True, small=small)  # a shadow's edge kept where it is
    if not unevenly_lit(bg):  # (on evenly lit paper the smooth maximum keeps more of a pale pen)
        bg = paper_background(page.grey, small=small)
    flat = flat_field(page.grey, bg)
    return cv2.threshold(flat, 255 - FAINT_DELTA, 255, cv2.THRESH_BINARY_INV)[1], flat


def show_level(flat: np.ndarray) -> int | None:
    """Where the faint binarisation's cut (``FAINT_DELTA`` under paper white) falls on a population
    of ink paler than a pale pen's or pale print's peak, the histogram's valley between the two
    (``SHOW_*``): the level that would part them. The paler one may be the back of the sheet
    showing through (~205 for black ink at strength 0.2), or a pencil paler than grey boxes; the
    reader tells which (``flat``: the flat-fielded page). None where the histogram shows no such
    valley."""
    cut = 255 - FAINT_DELTA
    smooth = _smooth_histogram(np.ascontiguousarray(flat[::2, ::2]))
    valley = cut - SHOW_SPAN + int(np.argmin(smooth[cut - SHOW_SPAN : cut + 1]))
    floor = max(smooth[valley], 1.0)
    peak = smooth[valley - SHOW_SPAN : valley].max()
    if valley <= cut - SHOW_SPAN + 2 or smooth[cut] < SHOW_RISE * floor or peak < SHOW_PEAK * floor or \
            peak < SHOW_STAND * smooth[valley - SHOW_SPAN]:
        return None  # no valley (the lowest level is the span's end), or no population either side of it
    return valley


def mask_grey(page: CleanPage, mask: np.ndarray, n: int = 4000, q: float = 50) -> float | None:
    """Median (``q``th percentile) grey of the working page under (up to ``n`` of) a deskewed
    mask's pixels, read from the page before deskew, so no full-page rotation is needed; None
    for an empty mask."""
    nz = cv2.findNonZero(np.ascontiguousarray(mask[::2, ::2]))  # lines are >= 2 px thick
    if nz is None:
        return None
    nz = nz.reshape(-1, 2)  # (N, 1, 2) in OpenCV 4, (N, 2) in 5
    xy = 2.0 * nz[:: max(1, len(nz) // n)]
    pts = np.hstack([xy, np.ones((len(xy), 1))]) @ cv2.invertAffineTransform(page.rotation).T
    h, w = page.work.shape
    px = np.clip(np.rint(pts[:, 0]).astype(int), 0, w - 1)
    py = np.clip(np.rint(pts[:, 1]).astype(int), 0, h - 1)
    return float(np.percentile(page.work[py, px], q))


def estimate_skew(binary: np.ndarray, max_deg: float = MAX_SKEW_DEG) -> float:
    """Skew angle (degrees, positive = content rotated counter-clockwise) by projection
    profiles: the angle whose row-sum profile is sharpest. Form lines and text rows both
    vote. Needs no ``cv2.minAreaRect`` (whose angle convention changed in OpenCV 4.5).

    The page is cut into vertical strips whose row profiles are computed once; a candidate
    rotation then only shifts each strip's profile by its centre's displacement, so no
    image is rotated per candidate. Coarse 0.5-degree steps run on rows binned by ~4, the
    0.1-degree refinement at full resolution."""
    h, w = binary.shape
    k = 32 if w >= 320 else max(1, w // 10)
    sw = w // k
    prof_full = cv2.resize(binary[:, : sw * k], (k, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    xc = (np.arange(k) + 0.5) * sw - w / 2  # strip centres, from the page centre
    f = max(1, h // 500)
    prof_coarse = prof_full[: h // f * f].reshape(h // f, f, k).sum(axis=1)

    def score(strips: np.ndarray, bin_rows: int, a: float) -> float:
        # rotating by a moves a strip centred at x (from the centre) by -x sin(a) rows
        shifts = np.rint(-xc * np.sin(np.radians(a)) / bin_rows).astype(int)
        pad = int(np.abs(shifts).max())
        n = strips.shape[0]
        prof = np.zeros(n + 2 * pad, np.float32)
        for j, s in enumerate(shifts):
            prof[pad + s : pad + s + n] += strips[:, j]
        return float(np.square(np.diff(prof)).sum())

    best = max(np.arange(-max_deg, max_deg + 1e-9, 0.5), key=lambda a: score(prof_coarse, f, a))
    # the coarse best is within 0.25 degrees of the peak: refine over +-0.3
    return -float(max(np.arange(best - 0.3, best + 0.3 + 1e-9, 0.1), key=lambda a: score(prof_full, 1, a)))


def is_bilevel(grey: np.ndarray) -> bool:
    """Only black and white pixels: a bilevel (fax, G4 TIFF) scan. A sparse sample answers
    for nearly every grey page, so the full pass runs only on pages that may be bilevel."""
    sample = grey[::8, ::8]
    if ((sample > 0) & (sample < 255)).any():
        return False
    return cv2.countNonZero(cv2.inRange(grey, 1, 254)) == 0


def is_negative(grey: np.ndarray) -> bool:
    """Light writing on a dark page (a microfilm or photostat copy): the page is dark, and its
    ink lies on the light side of the paper. A dark positive (a dim photo, coloured paper) is
    dark too, but its ink reaches more than twice as far to the dark side as anything does to
    the light side; only that page stays as it is. Measured on a 1-in-64 sample."""
    sample = grey[::8, ::8]
    if np.median(sample) >= NEGATIVE_MEDIAN:  # nearly every page: light paper
        return False
    lo, mid, hi = np.percentile(sample, [INK_TAIL, 50, 100 - INK_TAIL])
    if 2 * (hi - mid) < mid - lo:
        return False
    # a light page on a dark table is dark and light too, but its light part is one solid mass
    # (paper), where a negative's is thin strokes
    solid, _ = _solid(cv2.threshold(sample, (mid + hi) / 2, 255, cv2.THRESH_BINARY)[1])
    return cv2.countNonZero(solid) < NEGATIVE_SOLID * sample.size


def clean_page(grey: np.ndarray, *, deskew: bool = True, perspective: bool = True,
               long_side: int = WORK_LONG_SIDE) -> CleanPage:
    """Greyscale input page -> CleanPage. Raises BlankPageError when there is no ink. A
    negative (light writing on a dark page: a microfilm or photostat copy) is read inverted.
    With ``perspective`` (and ``deskew``), a photo whose form lines converge is squared."""
    if is_negative(grey):
        grey = 255 - grey
    s = working_scale(grey.shape, long_side)
    work = downscale(grey, s)
    if int(work.max()) - int(work.min()) < 16:
        raise BlankPageError("blank page (no contrast)")
    margin = surround(work)
    offset = (0, 0)  # input px the page was cropped by
    if margin is not None:
        x, y, w, h = cv2.boundingRect(cv2.bitwise_not(margin))
        if w * h < MARGIN_CROP * work.size and w and h:
            # a page lying small on a dark table: crop the input to it, so the page itself, not
            # the photo, is brought to the working scale
            x0, y0 = int(x / s), int(y / s)
            x1, y1 = min(grey.shape[1], int(np.ceil((x + w) / s))), min(grey.shape[0], int(np.ceil((y + h) / s)))
            grey, offset = grey[y0:y1, x0:x1], (x0, y0)
            s = working_scale(grey.shape, long_side)
            work = downscale(grey, s)
            margin = surround(work)  # what is left: the corners of a tilted page
    keystone = np.eye(3)  # working page before -> after rectify
    if margin is not None and (rect := rectify(work, margin)) is not None:
        work, margin, keystone = rect  # photographed at an angle: the page made a rectangle again
    if margin is not None:  # paint the dark surround as paper, so no later step sees it as ink
        work = _paint_paper(work, margin)
    untinted = drop_tint(work)
    bg = paper_background(untinted, edges=True)
    if unevenly_lit(bg):
        # a shadow or a lamp's falloff (not a tint: that is gone): the paper made even first,
        # so that a tint the shadow split into two greys is one again
        untinted, bg = drop_tint(flat_field(work, paper_background(work, edges=True))), None
    work = untinted
    binary, level = binarize_level(work, bg)
    streaks = streak_columns(binary)
    if streaks.any():  # dark lines a scanner drew down the page: paper, like the surround
        work = _paint_paper(work, streaks)
        binary[:, streaks] = 0
    if (holes := punch_holes(binary)) is not None:  # a binder's holes, the scanner's lid seen through: paper
        work = _paint_paper(work, holes)
        binary[holes > 0] = 0
    # Specks are dropped per component later (glyphs.py); here only a page with no real ink
    # at all is refused, before the more expensive steps.
    min_ink = MIN_INK_FRACTION * binary.size
    # (the opening, which discounts specks, only where the raw count leaves any doubt)
    if cv2.countNonZero(binary) < 10 * min_ink and \
            cv2.countNonZero(cv2.morphologyEx(binary, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))) < min_ink:
        raise BlankPageError("blank page (no ink found)")
    if deskew and perspective and margin is None and (hom := form_keystone(255 - work)) is not None:
        # photographed at an angle, no page edge in view: its printed lines converge (squared
        # with deskew: a page read as it lies is read as it lies)
        size = warp_size(hom, work.shape)
        work = cv2.warpPerspective(work, hom, size, flags=cv2.INTER_LINEAR,
                                   borderValue=int(np.percentile(work[::8, ::8], 90)))
        (binary, level), keystone = binarize_level(work), hom
        if holes is not None:
            holes = cv2.warpPerspective(holes, hom, size, flags=cv2.INTER_NEAREST)
    angle = estimate_skew(binary) if deskew else 0.0
    h, w = work.shape
    line_binary = None
    if is_bilevel(grey):
        if s < 1:  # shrunk with every stroke widened first (by a pixel more than the shrinking
            # takes), so one-pixel lines stay whole and short breaks in dashed ones close
            widened = cv2.erode(grey, np.ones((2, 2), np.uint8), iterations=int(np.ceil(1 / s)))
            line_binary = binarize(downscale(widened, s))
            if not np.allclose(keystone, np.eye(3)):  # the page was rectified: its lines with it
                line_binary = cv2.warpPerspective(line_binary, keystone, (w, h), flags=cv2.INTER_NEAREST)
            if holes is not None:  # (taken from the page as scanned, holes and all)
                line_binary[holes > 0] = 0
        else:  # grey lines a bilevel scanner broke into dashes: bridge short gaps along x and y
            # (upright ones two px wide and longer: a blurred separator comes out as dots that
            # wander a pixel sideways)
            line_binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, np.ones((7, 2), np.uint8)) | \
                cv2.morphologyEx(binary, cv2.MORPH_CLOSE, np.ones((1, 5), np.uint8))
    else:  # a grey page: dashes printed with fine gaps come out half joined, neither line nor dashes
        line_binary = bridge_gaps(binary)
    if abs(angle) >= 0.05:
        rot = cv2.getRotationMatrix2D((w / 2, h / 2), -angle, 1.0)
        binary = cv2.warpAffine(binary, rot, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
        if line_binary is not None:
            line_binary = cv2.warpAffine(line_binary, rot, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
    else:
        angle, rot = 0.0, np.array([[1.0, 0, 0], [0, 1.0, 0]])
    # working(deskewed) -> working(rectified) -> working(original) -> input
    to_input = np.array([[1 / s, 0, offset[0]], [0, 1 / s, offset[1]], [0, 0, 1]]) @ np.linalg.inv(keystone) @ \
        np.vstack([cv2.invertAffineTransform(rot), [0, 0, 1]])
    return CleanPage(work, binary, s, angle, to_input / to_input[2, 2], rot, line_binary, level)
