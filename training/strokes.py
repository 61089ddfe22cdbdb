"""UNIPEN's original pen strokes (``unipen_raw_strokes.tar.gz``), redrawn as glyphs at any pen width.

The npz sets were drawn from these strokes at one pen width. Redrawing them lets training see
the same writing with a thinner or thicker pen, drawn cleanly at full resolution, instead of
eroding or dilating a 28x28 bitmap. The archive holds ``data/1a`` (digits), ``data/1b`` (upper
case) and ``data/1c`` (lower case) label files, and the ``include/`` stroke files they name:

- ``.INCLUDE path`` names a stroke file under ``include/``;
- ``.PEN_DOWN`` blocks hold ``x y [t]`` points, numbered from 0 across the stroke file;
- ``.SEGMENT CHARACTER 8-11 ? "E"`` labels strokes 8 to 11 as one character;
- the y axis points up.
"""

from __future__ import annotations

import re
import tarfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from segmentation.charsets import DIGITS, LETTERS
from segmentation.normalize import normalize_glyph

ARCHIVE = "unipen_raw_strokes.tar.gz"  # beside the UNIPEN npz sets
_SEGMENT = re.compile(r'^\.SEGMENT\s+CHARACTER\s+([0-9:,\-]+)\s+\S+\s+"(.)"')
CANVAS = 96  # render size before normalisation: the glyph's long side spans CANVAS - 2 * MARGIN
MARGIN = 8


@dataclass(frozen=True)
class StrokeGlyph:
    """One labelled character as pen strokes: each stroke an (n, 2) array, y pointing down."""

    label: str
    source: str  # the label file, relative to the archive root
    strokes: tuple[np.ndarray, ...]


def _components(text: str) -> list[np.ndarray]:
    """The ``.PEN_DOWN`` blocks of a stroke file, in order, as (n, 2) float32 arrays, y down."""
    out: list[np.ndarray] = []
    pts: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("."):
            if pts is not None:
                out.append(_points(pts))
            pts = [] if line.startswith(".PEN_DOWN") else None
        elif pts is not None and line.strip():
            pts.append(line)
    if pts is not None:
        out.append(_points(pts))
    return out


def _points(lines: list[str]) -> np.ndarray:
    rows = [r.split() for r in lines]
    xy = np.array([[float(r[0]), -float(r[1])] for r in rows if len(r) >= 2], np.float32)
    return xy.reshape(-1, 2)


def _ref(s: str) -> tuple[int, int | None]:
    comp, _, point = s.partition(":")
    return int(comp), int(point) if point else None


def select_strokes(spec: str, comps: list[np.ndarray]) -> list[np.ndarray]:
    """The strokes a segment names: ``3``, ``8-11``, ``9:0-11:5`` (component:point, inclusive),
    comma-separated; empty when it names a stroke the file lacks."""
    out: list[np.ndarray] = []
    for part in spec.replace(" ", "").split(","):
        a, _, b = part.partition("-")
        (ca, pa), (cb, pb) = _ref(a), _ref(b or a)
        if not b and pa is not None:
            pb = pa
        if cb >= len(comps) or ca > cb:
            return []
        for c in range(ca, cb + 1):
            lo = pa if c == ca and pa is not None else 0
            hi = pb + 1 if c == cb and pb is not None else len(comps[c])
            if hi > lo:
                out.append(comps[c][lo:hi])
    return out


def parse_label_file(text: str, source: str, read_include) -> list[StrokeGlyph]:
    """The labelled characters of one label file; ``read_include(path)`` returns a stroke file's text."""
    comps: list[np.ndarray] = []
    glyphs: list[StrokeGlyph] = []
    for line in text.splitlines():
        if line.startswith(".INCLUDE"):
            name = line.split(None, 1)[1].strip()
            if name.endswith(".dat"):  # the .doc includes hold no strokes
                comps = _components(read_include(name))
        elif m := _SEGMENT.match(line):
            strokes = select_strokes(m.group(1), comps)
            if strokes:
                glyphs.append(StrokeGlyph(m.group(2), source, tuple(strokes)))
    return glyphs


@lru_cache(maxsize=2)
def _archive_files(path: Path) -> dict[str, str]:
    if path.is_dir():
        return {str(p.relative_to(path)): p.read_text("latin-1") for p in path.rglob("*.dat")}
    with tarfile.open(path) as tar:
        return {m.name.removeprefix("./"): tar.extractfile(m).read().decode("latin-1")
                for m in tar.getmembers() if m.isfile() and m.name.endswith(".dat")}


def load_archive(path: str | Path, sets: tuple[str, ...] = ("1a", "1b")) -> list[StrokeGlyph]:
    """Every labelled character in the chosen sets of a ``.tar.gz`` archive or an unpacked folder.

    Characters come out in label-file order (files sorted by path), segment order within a file:
    the order of the npz sets, which were drawn from them."""
    files = _archive_files(Path(path))
    out: list[StrokeGlyph] = []
    for name in sorted(files):
        parts = name.split("/")
        if len(parts) >= 3 and parts[0] == "data" and parts[1] in sets:
            out.extend(parse_label_file(files[name], name, lambda inc: files.get(f"include/{inc}", "")))
    return out


def strokes_for(y: np.ndarray, group: np.ndarray, archive: str | Path) -> np.ndarray | None:
    """The pen strokes of every sample of a UNIPEN npz set, in its order, as an object array;
    None when the archive is missing or does not line up with the set label for label."""
    archive = Path(archive)
    if not archive.exists():
        return None
    labels = set(y)
    sets = ("1a",) if labels <= set(DIGITS) else ("1b",) if labels <= set(LETTERS) else ("1c",)
    groups = set(group)
    glyphs = [g for g in load_archive(archive, sets) if g.source.split("/")[2] in groups]
    if len(glyphs) != len(y) or any(g.label != v for g, v in zip(glyphs, y, strict=True)):
        return None
    out = np.empty(len(glyphs), dtype=object)
    for i, g in enumerate(glyphs):
        out[i] = g.strokes
    return out


def draw(strokes: tuple[np.ndarray, ...], pen: float, affine: np.ndarray | None = None) -> np.ndarray:
    """Draw strokes on a CANVAS x CANVAS uint8 image (white on black), the long side spanning
    CANVAS - 2*MARGIN pixels, with a pen ``pen`` pixels wide.

    ``affine`` (2x2) is applied to the points first, so slant and rotation act on the pen path,
    not on a bitmap."""
    if affine is not None:
        strokes = tuple(s @ affine.T for s in strokes)
    pts = np.concatenate(strokes)
    lo = pts.min(0)
    span = float((pts.max(0) - lo).max()) or 1.0
    k = (CANVAS - 2 * MARGIN) / span
    canvas = np.zeros((CANVAS, CANVAS), np.uint8)
    shift = 4  # sub-pixel precision for cv2 drawing
    t = max(1, int(round(pen)))
    for s in strokes:
        p = np.round(((s - lo) * k + MARGIN) * (1 << shift)).astype(np.int32)
        if len(p) == 1:
            cv2.circle(canvas, tuple(int(v) for v in p[0]), max(1, t // 2) << shift, 255, -1, cv2.LINE_AA, shift)
        else:
            cv2.polylines(canvas, [p.reshape(-1, 1, 2)], False, 255, t, cv2.LINE_AA, shift)
    return canvas


def render(strokes: tuple[np.ndarray, ...], pen: float, affine: np.ndarray | None = None) -> np.ndarray:
    """:func:`draw`, normalised to the model contract: (28, 28) float32 in [0, 1]."""
    return normalize_glyph(draw(strokes, pen, affine))


def render_all(strokes, pen: float) -> np.ndarray:
    """Every glyph of a sequence of stroke tuples at one pen width: (N, 28, 28, 1) float32."""
    return np.stack([render(s, pen) for s in strokes])[..., None]
