"""Augmentation that mimics scanned forms, applied to 28x28 contract images.

Each glyph is upsampled 2x, given a random affine (rotation, slant/shear, scale, aspect,
shift), a stroke change (thin, thick, broken), optional blur, noise and bilevel
thresholding, and then re-normalised with the shared :func:`normalize_glyph` so that the
result still obeys the model's input contract exactly.

A sample that comes with its pen strokes (UNIPEN, see :mod:`training.strokes`) may instead
be redrawn: the affine acts on the pen path and the stroke change is a new pen width,
thin to thick, drawn at full resolution rather than eroded or dilated from 28x28."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from segmentation.normalize import SIZE, normalize_glyph
from training.strokes import draw

UP = 2  # work at 56x56 so morphology has sub-28-pixel resolution


@dataclass(frozen=True)
class AugmentConfig:
    p: float = 0.6  # probability that a sample is augmented at all
    rotate_deg: float = 6.0
    shear: float = 0.25
    scale: tuple[float, float] = (0.85, 1.1)
    aspect: tuple[float, float] = (0.8, 1.2)
    shift_px: float = 1.5
    p_thick: float = 0.3
    thick_px: tuple[int, int] = (2, 6)  # dilation kernel at 56x56
    p_thin: float = 0.1
    p_broken: float = 0.08
    p_blur: float = 0.15
    p_noise: float = 0.15
    p_bilevel: float = 0.3
    p_redraw: float = 0.5  # of the augmented samples that have pen strokes: redraw them
    pen: tuple[float, float] = (2.5, 16.0)  # pen width on the 96 px stroke canvas, log-uniform
    # each stroke of a redrawn glyph moved on its own by up to this fraction of the glyph's size
    # (a crossbar set higher, a stem that overshoots: how writers differ in putting strokes together)
    stroke_jitter: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _linear(rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """A random 2x2 map: rotation, shear (slant), scale and aspect."""
    ang = np.deg2rad(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg))
    s = rng.uniform(*cfg.scale)
    asp = rng.uniform(*cfg.aspect)
    sh = rng.uniform(-cfg.shear, cfg.shear)
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    return rot @ np.array([[1.0, sh], [0.0, 1.0]]) @ np.diag([s * asp, s])


def _broken(g: np.ndarray, rng: np.random.Generator) -> None:
    """Broken strokes: a few thin background-coloured cuts across the glyph, in place."""
    for _ in range(int(rng.integers(1, 3))):
        p1 = rng.integers(0, g.shape[1], 2)
        p2 = rng.integers(0, g.shape[1], 2)
        cv2.line(g, tuple(int(v) for v in p1), tuple(int(v) for v in p2), 0, int(rng.integers(1, 3)))


def _finish(g: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Blur, bilevel thresholding, re-normalisation and noise, on a 56x56 glyph."""
    if rng.random() < cfg.p_blur:
        g = cv2.GaussianBlur(g, (0, 0), rng.uniform(0.6, 1.6))
    if rng.random() < cfg.p_bilevel:
        g = np.where(g > rng.uniform(60, 160), 255, 0).astype(np.uint8)
    out = normalize_glyph(g)
    if rng.random() < cfg.p_noise:
        out = np.clip(out + rng.normal(0, rng.uniform(0.02, 0.08), out.shape).astype(np.float32), 0, 1)
    return out


def augment_one(img: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Augment one (28,28) uint8 glyph; returns (28,28) float32 in [0,1]."""
    g = cv2.resize(img, (SIZE * UP, SIZE * UP), interpolation=cv2.INTER_LINEAR)
    c = SIZE * UP / 2
    lin = _linear(rng, cfg)
    t = np.array([c, c]) - lin @ np.array([c, c]) + rng.uniform(-cfg.shift_px, cfg.shift_px, 2) * UP
    g = cv2.warpAffine(g, np.hstack([lin, t[:, None]]), g.shape[::-1], flags=cv2.INTER_LINEAR)
    r = rng.random()
    if r < cfg.p_thick:
        k = int(rng.integers(cfg.thick_px[0], cfg.thick_px[1] + 1))
        g = cv2.dilate(g, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    elif r < cfg.p_thick + cfg.p_thin:
        thin = cv2.erode(g, np.ones((2, 2), np.uint8))
        if cv2.countNonZero(thin) > 0.4 * cv2.countNonZero(g):
            g = thin
    elif r < cfg.p_thick + cfg.p_thin + cfg.p_broken:
        _broken(g, rng)
    return _finish(g, rng, cfg)


def redraw_one(strokes: tuple[np.ndarray, ...], rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Redraw one glyph from its pen strokes with a random affine and pen width; (28,28) float32."""
    pen = float(np.exp(rng.uniform(*np.log(cfg.pen))))
    if cfg.stroke_jitter > 0 and len(strokes) > 1:
        pts = np.concatenate(strokes)
        size = float((pts.max(0) - pts.min(0)).max())
        strokes = tuple(s + rng.uniform(-cfg.stroke_jitter, cfg.stroke_jitter, 2).astype(np.float32) * size
                        for s in strokes)
    g = cv2.resize(draw(strokes, pen, _linear(rng, cfg)), (SIZE * UP, SIZE * UP), interpolation=cv2.INTER_AREA)
    if rng.random() < cfg.p_broken:
        _broken(g, rng)
    return _finish(g, rng, cfg)


def augment_batch(x: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig,
                  strokes: np.ndarray | None = None) -> np.ndarray:
    """Augment a (N,28,28) uint8 batch into (N,28,28,1) float32; a fraction stays original.

    ``strokes`` (N, object; None where a sample has none) lets samples be redrawn."""
    out = x.astype(np.float32) / 255.0
    for i in np.nonzero(rng.random(len(x)) < cfg.p)[0]:
        if strokes is not None and strokes[i] is not None and rng.random() < cfg.p_redraw:
            out[i] = redraw_one(strokes[i], rng, cfg)
        else:
            out[i] = augment_one(x[i], rng, cfg)
    return out[..., None]
