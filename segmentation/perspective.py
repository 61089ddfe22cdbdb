"""Perspective from the form's own lines: a page photographed at an angle and cropped inside its
edges shows no outline to rectify by (``clean.rectify``), but its printed lines still converge.

Long horizontal segments give the horizontal vanishing point; the upright edges of boxes (the
upright segments that run from one horizontal line to another, which writing rarely does) give
the vertical one. The homography that sends both to infinity along x and y makes the lines
parallel and square again; lengths along both axes are kept at the page's centre."""

from __future__ import annotations

import cv2
import numpy as np

HALF = 0.5  # segments are found at half the working scale
H_MIN_LEN = 0.08  # a horizontal form line: at least this share of the page width
V_MIN_LEN = 12  # px at half scale: the shortest upright box edge looked at
NEAR_LINE = 5  # px at half scale: an upright edge's ends lie this close to horizontal lines
MAX_TILT = 20.0  # degrees from the axis: segments leaning further are not form lines
INLIER_PX = 1.0  # px at half scale: a segment whose ends lie further off the line to its vanishing point is an outlier
RANSAC_PAIRS = 300  # pairs of segments whose crossing is tried as the vanishing point
CONVERGE_GAIN = 3.0  # a crossing must fit the agreeing segments this many times better than parallel lines
FREE_V = 40  # upright edges that must agree before they may lean off square to the horizontal lines
MIN_H, MIN_V = 4, 6  # segments needed to estimate each vanishing point
SPREAD = 0.3  # ... spread over this share of the page across their direction, else taken as parallel
WARP_MIN = 0.01  # apply only when the page moves this share of its long side beyond a rotation
MAX_GROWTH = 2.5  # a homography that would grow the page's area more than this is refused


def _segments(ink: np.ndarray) -> np.ndarray:
    """Straight edges (x0, y0, x1, y1) at half scale, float, at least ``V_MIN_LEN`` long: the
    line segment detector (LSD), which finds both edges of every stroke, on the grey page (so
    box lines printed pale, which binarisation drops with the paper, are found too)."""
    half = cv2.resize(ink, None, fx=HALF, fy=HALF, interpolation=cv2.INTER_AREA)
    segs = cv2.createLineSegmentDetector().detect(half)[0]
    if segs is None:
        return np.zeros((0, 4))
    segs = segs.reshape(-1, 4).astype(float)
    return segs[np.hypot(*(segs[:, 2:] - segs[:, :2]).T) >= V_MIN_LEN]


def _tilt(segs: np.ndarray, vertical: bool) -> np.ndarray:
    """Each segment's angle (degrees) from the x axis, or from the y axis with ``vertical``."""
    d = segs[:, 2:] - segs[:, :2]
    if vertical:
        d = d[:, ::-1]
    return np.degrees(np.arctan2(np.abs(d[:, 1]), np.abs(d[:, 0])))


def _off(vps: np.ndarray, mid: np.ndarray, d: np.ndarray) -> np.ndarray:
    """(candidates, segments): how far (in the segments' units) each segment's ends lie off the
    line from its midpoint ``mid`` towards each candidate point ``vps`` (homogeneous); ``d``
    runs from one end to the other."""
    to_vp = vps[:, None, :2] - mid[None] * vps[:, None, 2:]  # from each midpoint to the point, sign free
    cross = np.abs(to_vp[..., 0] * d[None, :, 1] - to_vp[..., 1] * d[None, :, 0])
    return cross / (2 * np.linalg.norm(to_vp, axis=-1) + 1e-300)


def vanishing_point(segs: np.ndarray, norm: tuple[float, float, float], prior: np.ndarray | None = None,
                    free_from: int = 2, pairs: int = RANSAC_PAIRS) -> np.ndarray | None:
    """The point (homogeneous, unit length, in coordinates centred and scaled by ``norm``: cx,
    cy, f) that the segments point at. RANSAC over each segment's own direction (parallel
    lines: a point at infinity) and the crossings of random pairs of segments picks the
    segments that agree, their ends within ``INLIER_PX`` of the line to the point (writing
    that touches the lines is the outliers). On those, ``prior`` (an expected point, if any),
    their mean direction and their least-squares crossing are fitted, and a freer fit is kept
    only where it fits ``CONVERGE_GAIN`` times better than a plainer one: short edges that look
    convergent within their own ragged ends stay parallel, and upright edges square to the
    horizontal lines, whatever slant the writing among them has. With fewer than ``free_from``
    segments agreeing, ``prior`` stands. None for fewer than 2 segments."""
    if len(segs) < 2:
        return None
    cx, cy, f = norm
    p0 = np.c_[(segs[:, 0] - cx) / f, (segs[:, 1] - cy) / f, np.ones(len(segs))]
    p1 = np.c_[(segs[:, 2] - cx) / f, (segs[:, 3] - cy) / f, np.ones(len(segs))]
    lines = np.cross(p0, p1)
    lines /= np.hypot(lines[:, 0], lines[:, 1])[:, None]
    length = np.hypot(*(p1 - p0)[:, :2].T)
    mid, d = (p0 + p1)[:, :2] / 2, (p1 - p0)[:, :2]
    tol = INLIER_PX / f
    rng = np.random.default_rng(0)  # the same page reads the same every time
    i, j = rng.integers(0, len(segs), (2, pairs))
    crossings = np.cross(lines[i[i != j]], lines[j[i != j]])
    cands = np.vstack([np.c_[d, np.zeros(len(d))], crossings[np.abs(crossings[:, 2]) > 1e-12]])
    cands /= np.linalg.norm(cands, axis=1)[:, None]
    support = ((_off(cands, mid, d) <= tol) * length).sum(1)
    vp = cands[int(np.argmax(support))]
    for _ in range(2):  # the segments that agree, the two fits on them, and who agrees with the better
        keep = _off(vp[None], mid, d)[0] <= tol
        if keep.sum() < 2:
            break
        fits = ([] if prior is None else [prior]) + [_mean_direction(d[keep]),
                                                     np.linalg.svd(lines[keep] * np.sqrt(length[keep])[:, None])[2][-1]]
        cost = (_off(np.array(fits), mid[keep], d[keep]) ** 2 * length[keep]).sum(1)
        pick = 0  # the plainest fit, unless a freer one fits CONVERGE_GAIN times better
        for k in range(1, len(fits) if keep.sum() >= free_from else 1):
            if cost[pick] > CONVERGE_GAIN * cost[k]:
                pick = k
        vp = fits[pick]
    return vp


def _mean_direction(d: np.ndarray) -> np.ndarray:
    """Parallel lines' vanishing point (homogeneous, at infinity): the length-weighted mean of
    the directions ``d``, each turned to agree with the longest."""
    signed = d * np.sign(d @ d[np.argmax(np.hypot(*d.T))])[:, None]
    mean = signed.sum(0)
    return np.r_[mean / np.hypot(*mean), 0.0]


def _spread(segs: np.ndarray, vertical: bool) -> float:
    """How far apart the segments lie across their direction (pixels)."""
    mids = (segs[:, :2] + segs[:, 2:]) / 2
    across = mids[:, 0] if vertical else mids[:, 1]
    return float(np.ptp(across))


def rectifying_homography(shape: tuple[int, int], vx: np.ndarray, vy: np.ndarray,
                          norm: tuple[float, float, float]) -> np.ndarray | None:
    """The 3x3 homography (pixels of a page of ``shape`` to pixels of the rectified page,
    shifted to start at 0) that sends the vanishing points ``vx`` (horizontal lines) and ``vy``
    (upright lines) to infinity along x and y, keeping lengths along both at the centre. None
    when the vanishing line crosses the page or the page would grow too much."""
    cx, cy, f = norm
    h, w = shape
    horizon = np.cross(vx, vy)
    corners = np.array([[-cx, -cy], [w - cx, -cy], [w - cx, h - cy], [-cx, h - cy]]) / f
    if abs(horizon[2]) < 1e-9:
        return None
    proj = np.eye(3)
    proj[2] = horizon / horizon[2]  # the vanishing line to infinity: parallel lines stay parallel
    denom = corners @ proj[2, :2] + 1
    if denom.min() < 0.5 or denom.max() > 2:
        return None  # the horizon near or across the page: no plausible photograph of a form
    dx, dy = (proj @ vx)[:2], (proj @ vy)[:2]
    dx, dy = dx * np.sign(dx[0] or 1), dy * np.sign(dy[1] or 1)
    axes = np.c_[dx / np.hypot(*dx), dy / np.hypot(*dy)]
    if abs(np.linalg.det(axes)) < 0.5:
        return None  # the two directions nearly one: not a form's lines
    affine = np.eye(3)
    affine[:2, :2] = np.linalg.inv(axes)
    to_norm = np.array([[1 / f, 0, -cx / f], [0, 1 / f, -cy / f], [0, 0, 1]])
    hom = np.linalg.inv(to_norm) @ affine @ proj @ to_norm
    pts = _corners_after(hom, shape)
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    if (x1 - x0) * (y1 - y0) > MAX_GROWTH * w * h:
        return None
    hom = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]]) @ hom
    return hom / hom[2, 2]


def warp_size(hom: np.ndarray, shape: tuple[int, int]) -> tuple[int, int]:
    """(width, height) that holds a page of ``shape`` warped by ``hom`` (which starts it at 0)."""
    pts = _corners_after(hom, shape)
    return int(np.ceil(pts[:, 0].max())), int(np.ceil(pts[:, 1].max()))


def _corners_after(hom: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The corners of a page of ``shape`` mapped by ``hom``: (4, 2)."""
    h, w = shape
    return cv2.perspectiveTransform(np.float64([[[0, 0], [w, 0], [w, h], [0, h]]]), hom)[0]


def _beyond_rotation(hom: np.ndarray, shape: tuple[int, int]) -> float:
    """How far (pixels) ``hom`` moves points of the page beyond the best similarity transform."""
    h, w = shape
    grid = np.float64([[x, y] for x in np.linspace(0, w, 5) for y in np.linspace(0, h, 5)])
    moved = cv2.perspectiveTransform(grid[None], hom)[0]
    sim, _ = cv2.estimateAffinePartial2D(grid, moved)
    if sim is None:
        return 0.0
    return float(np.abs(grid @ sim[:, :2].T + sim[:, 2] - moved).max())


def form_keystone(ink: np.ndarray) -> np.ndarray | None:
    """The homography (working pixels to working pixels) that makes the form lines of the page
    ``ink`` (grey or binary, ink bright: an inverted page) parallel and square, when they
    converge or shear enough to matter (``WARP_MIN`` beyond a rotation, which deskew handles);
    else None: nearly every scan, and every page with too few lines to tell."""
    h, w = ink.shape
    segs = _segments(ink)
    if len(segs) < MIN_H + MIN_V:
        return None
    length = np.hypot(*(segs[:, 2:] - segs[:, :2]).T)
    hw = w * HALF
    horiz = segs[(_tilt(segs, False) <= MAX_TILT) & (length >= H_MIN_LEN * hw)]
    if len(horiz) < MIN_H:
        return None
    near = np.zeros((int(h * HALF) + 1, int(hw) + 1), np.uint8)
    for x0, y0, x1, y1 in horiz.astype(int):
        cv2.line(near, (x0, y0), (x1, y1), 255, 2 * NEAR_LINE + 1)
    upright = segs[(_tilt(segs, True) <= MAX_TILT)]
    ends = np.clip(np.rint(upright).astype(int), 0, [near.shape[1] - 1, near.shape[0] - 1] * 2)
    upright = upright[(near[ends[:, 1], ends[:, 0]] > 0) & (near[ends[:, 3], ends[:, 2]] > 0)]
    if len(upright) < MIN_V:
        return None
    norm = (hw / 2, h * HALF / 2, max(hw, h * HALF))
    vx = vanishing_point(horiz, norm) if _spread(horiz, False) >= SPREAD * h * HALF else None
    vx = _mean_direction(horiz[:, 2:] - horiz[:, :2]) if vx is None else vx
    square = np.array([-vx[1], vx[0], 0.0])  # upright lines square to the horizontal ones at the centre
    vy = vanishing_point(upright, norm, prior=square, free_from=FREE_V) if _spread(upright, True) >= SPREAD * hw else None
    vy = square if vy is None else vy
    half = rectifying_homography((int(h * HALF), int(hw)), vx, vy, norm)
    if half is None:
        return None
    scale = np.diag([HALF, HALF, 1.0])
    hom = np.linalg.inv(scale) @ half @ scale
    if _beyond_rotation(hom, (h, w)) < WARP_MIN * max(h, w):
        return None
    return hom / hom[2, 2]
