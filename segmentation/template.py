"""Form templates: the exact JSON schema, validation, and registration of a page to it.

Schema (exact)::

    {"name": "...", "page_size": [W, H],
     "fields": [{"name": "surname", "box": [x, y, w, h], "charset": "letters"},
                {"name": "date", "box": [x, y, w, h], "charset": "digits", "pattern": "[0-3][0-9][01][0-9][0-9]{4}",
                 "cells": 8}]}

``box`` is in the template's own pixel coordinates; ``charset`` is ``letters`` (A-Z),
``digits`` (0-9), ``alnum``, or ``mark`` (a tick box: its box is the printed square, and it
reads as marked or empty). ``pattern``, optional and not for tick boxes, is a regular
expression (Python ``re``) the field's text, spaces left out, must match in full: the reader
reads the likeliest text that does (``worker.patterns``), and a field whose text still does
not (a blank one too, unless the pattern allows it) needs review. ``page``,
optional (default 1), is the page of a multi-page form the field is on: a file's pages are
read as that form's pages in turn (page k as page (k - 1) mod P + 1 of a P-page form), so
one file may hold many forms one after another. ``cells``, optional (2 to 200, not for tick
boxes), makes the field a comb of that many cells on one pitch: big writing whose strokes join
the box lines as separators do then cannot add cells to it, or take them away (a field
without it is read in the cells the page shows)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from itertools import product
from pathlib import Path

import cv2
import numpy as np

from segmentation.charsets import FIELD_CHARSETS, MARK
from segmentation.errors import TemplateError
from segmentation.lines import Box
from segmentation.rects import Rect, overlap_ious

TOP_KEYS = {"name", "page_size", "fields"}
FIELD_KEYS = {"name", "box", "charset"}
FIELD_OPTIONAL = frozenset({"pattern", "page", "cells"})
MAX_CELLS = 200
MIN_CELL_ASPECT = 0.3  # a comb field's cells are at least this share of its height wide
MAX_FORM_PAGES = 100


@dataclass(frozen=True)
class FieldSpec:
    name: str
    box: tuple[float, float, float, float]
    charset: str
    pattern: str | None = None  # the text (spaces left out) must match it in full
    page: int = 1  # the page of a multi-page form it is on
    cells: int | None = None  # a comb field: its number of cells, on one pitch

    def fits(self, text: str) -> bool:
        """Whether ``text`` as read passes the field's pattern (always, without one)."""
        return self.pattern is None or re.fullmatch(self.pattern, text.replace(" ", "")) is not None


@dataclass(frozen=True)
class Template:
    name: str
    page_size: tuple[int, int]
    fields: tuple[FieldSpec, ...]
    source: str = "<template>"

    @property
    def pages(self) -> int:
        """How many pages the form has: 1 unless fields name later pages."""
        return max(f.page for f in self.fields)

    def for_page(self, page: int) -> Template:
        """The one-page template for page ``page`` (1-based) of a file: page (page - 1) mod
        ``pages`` + 1 of the form, its fields only."""
        k = (page - 1) % self.pages + 1
        fields = tuple(replace(f, page=1) for f in self.fields if f.page == k)
        return replace(self, fields=fields, source=f"{self.source} (page {k})" if self.pages > 1 else self.source)

    @property
    def framing(self) -> tuple[FieldSpec, ...]:
        """The fields whose printed boxes register the page: all but tick boxes, which are
        mostly too small to be found as boxes (all of them, for a template of tick boxes only)."""
        return tuple(f for f in self.fields if f.charset != MARK) or self.fields

    def to_dict(self) -> dict:
        return {"name": self.name, "page_size": list(self.page_size),
                "fields": [{"name": f.name, "box": list(f.box), "charset": f.charset}
                           | ({"pattern": f.pattern} if f.pattern is not None else {})
                           | ({"page": f.page} if f.page != 1 else {})
                           | ({"cells": f.cells} if f.cells is not None else {}) for f in self.fields]}


def _num(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)


def parse_template(data: dict, source: str = "<template>") -> Template:
    """Validate a template dict; every problem raises TemplateError naming where it is."""
    def fail(msg: str) -> TemplateError:
        return TemplateError(f"{source}: {msg}")

    def check_object(obj, keys: set[str], where: str, optional: frozenset[str] = frozenset()) -> None:
        """An object with exactly ``keys`` (and any of ``optional``) and a non-empty string 'name'."""
        prefix = f"{where}: " if where else ""
        if not isinstance(obj, dict):
            raise fail(f"{prefix or 'template '}must be {'a JSON object' if not where else 'an object'}")
        if keys - set(obj):
            raise fail(f"{prefix}missing key(s) {sorted(keys - set(obj))}")
        if set(obj) - keys - optional:
            raise fail(f"{prefix}unknown key(s) {sorted(set(obj) - keys - optional)} (allowed: {sorted(keys | optional)})")
        if not isinstance(obj["name"], str) or not obj["name"].strip():
            raise fail(f"{prefix}'name' must be a non-empty string")

    check_object(data, TOP_KEYS, "")
    ps = data["page_size"]
    if not (isinstance(ps, list) and len(ps) == 2 and all(_num(v) and v > 0 for v in ps)):
        raise fail(f"'page_size' must be [W, H] with positive numbers, got {ps!r}")
    fields = data["fields"]
    if not isinstance(fields, list) or not fields:
        raise fail("'fields' must be a non-empty list")
    out, seen = [], set()
    for i, f in enumerate(fields):
        where = f"fields[{i}]" + (f" ({f.get('name')!r})" if isinstance(f, dict) and "name" in f else "")
        check_object(f, FIELD_KEYS, where, FIELD_OPTIONAL)
        if f["name"] in seen:
            raise fail(f"{where}: duplicate field name {f['name']!r}")
        seen.add(f["name"])
        box = f["box"]
        if not (isinstance(box, list) and len(box) == 4 and all(_num(v) for v in box)):
            raise fail(f"{where}: 'box' must be [x, y, w, h] numbers, got {box!r}")
        x, y, w, h = box
        if w <= 0 or h <= 0:
            raise fail(f"{where}: box width and height must be positive, got {box!r}")
        if x < 0 or y < 0 or x + w > ps[0] or y + h > ps[1]:
            raise fail(f"{where}: box {box!r} lies outside page_size {ps!r}")
        if f["charset"] not in FIELD_CHARSETS:
            raise fail(f"{where}: charset {f['charset']!r} is not one of {sorted(FIELD_CHARSETS)}")
        pattern = f.get("pattern")
        if pattern is not None:
            if f["charset"] == MARK:
                raise fail(f"{where}: a tick box (charset 'mark') takes no 'pattern'")
            if not isinstance(pattern, str):
                raise fail(f"{where}: 'pattern' must be a string (a regular expression), got {pattern!r}")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise fail(f"{where}: 'pattern' {pattern!r} is not a valid regular expression: {exc}") from exc
        page = f.get("page", 1)
        if not isinstance(page, int) or isinstance(page, bool) or not 1 <= page <= MAX_FORM_PAGES:
            raise fail(f"{where}: 'page' must be a whole number from 1 to {MAX_FORM_PAGES}, got {page!r}")
        cells = f.get("cells")
        if cells is not None:
            if f["charset"] == MARK:
                raise fail(f"{where}: a tick box (charset 'mark') takes no 'cells'")
            if not isinstance(cells, int) or isinstance(cells, bool) or not 2 <= cells <= MAX_CELLS:
                raise fail(f"{where}: 'cells' must be a whole number from 2 to {MAX_CELLS} "
                           f"(the comb's cells; leave it out for a free box), got {cells!r}")
            if w / cells < MIN_CELL_ASPECT * h:
                raise fail(f"{where}: {cells} cells in a box {w:g} wide would each be {w / cells:.3g} wide, "
                           f"under {MIN_CELL_ASPECT:g} of the box height {h:g}: too narrow to write in")
        out.append(FieldSpec(f["name"], tuple(float(v) for v in box), f["charset"], pattern, page, cells))
    missing = sorted(set(range(1, max(f.page for f in out) + 1)) - {f.page for f in out})
    if missing:
        raise fail(f"page(s) {missing} of the form have no fields (pages are numbered 1, 2, ... with none left out)")
    return Template(data["name"], (int(ps[0]), int(ps[1])), tuple(out), source)


def load_template(path: str | Path) -> Template:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise TemplateError(f"{path}: no such template file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: unreadable ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    return parse_template(data, str(path))


# register: the page's width scale over its height scale, tried in this order (a photo rectified
# from its lines keeps no true aspect: ``segmentation.perspective``)
ASPECTS = (1.0, 0.85, 1.18, 0.72, 1.39)
INK_SHIFT_REACH = 0.05  # register_by_ink: the largest feed offset searched, a fraction of the page


@dataclass
class Registration:
    matrix: np.ndarray  # 2x3: template coords -> working coords
    scale: float
    angle: float  # residual rotation (degrees)
    boxed: frozenset[int] = frozenset()  # indexes of the template fields matched to page boxes

    @property
    def matched(self) -> int:
        """Template fields matched to page boxes."""
        return len(self.boxed)

    def field_rect(self, box: tuple[float, float, float, float]) -> Rect:
        x, y, w, h = box
        pts = np.array([[x, y, 1], [x + w, y, 1], [x, y + h, 1], [x + w, y + h, 1]]) @ self.matrix.T
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        return int(round(x0)), int(round(y0)), int(round(x1 - x0)), int(round(y1 - y0))


def register(template: Template, boxes: list[Box], page_shape: tuple[int, int]) -> Registration:
    """Find the affine transform that maps the template onto the (deskewed, working-scale)
    page, from the page's own printed boxes.

    Every (template field, page box) pair of matching size votes for a shift (of the bottom
    edge, which tick combs print too); the shift with most votes wins, and a least-squares
    similarity fit on the matched corners refines it. With three or more fields matched, a
    full affine fit follows, every field is matched again through it, and it is refitted on
    those. A tick comb's top is not printed, so it matches on width alone and only its bottom
    corners enter the fit. Tolerates a different DPI, a few degrees of rotation, large shifts,
    and axes scaled differently (``ASPECTS``)."""
    ph, pw = page_shape
    tw, th = template.page_size
    s0 = float(np.sqrt((pw * ph) / (tw * th)))
    rects = [b.rect for b in boxes]
    open_top = [b.open_top for b in boxes]  # tick combs: only the width and baseline are printed
    if not rects:
        raise TemplateError(f"{template.source}: cannot register page: no printed boxes found on the page")
    best = None
    framing = template.framing  # tick boxes are mostly too small to be found as printed boxes
    # the page may be cropped, padded, or lie small on a larger photo (a slip on a table)
    # (and a page rectified from a photo has its two axes scaled differently: ASPECTS, tried
    # only when a plain scale leaves fields unmatched)
    for aspect, f in product(ASPECTS, (1.0, 0.9, 1.1, 0.8, 1.25, 0.7, 0.6, 0.5)):
        if aspect != ASPECTS[0] and best is not None and best[0] == len(framing):
            break  # every field matched with the axes scaled alike: nearly every page
        sx, sy = s0 * f * np.sqrt(aspect), s0 * f / np.sqrt(aspect)
        votes = []
        for fi, field in enumerate(template.fields):
            if field not in framing:
                continue
            fx, fy, fw, fh = field.box[0] * sx, field.box[1] * sy, field.box[2] * sx, field.box[3] * sy
            for ri, (x, y, w, h) in enumerate(rects):
                if abs(w - fw) <= 0.12 * fw + 4 and (open_top[ri] or abs(h - fh) <= 0.2 * fh + 4):
                    votes.append((x - fx, y + h - fy - fh, fi, ri))
        if not votes:
            continue
        v = np.array([(dx, dy) for dx, dy, _, _ in votes])
        tol = 0.5 * min(fr.box[3] for fr in framing) * sy
        support = [(np.abs(v - v[i]).max(axis=1) <= tol) for i in range(len(v))]
        counts = [int(m.sum()) for m in support]
        i = int(np.argmax(counts))
        if best is None or counts[i] > best[0]:  # ties: the earlier, plainer guess
            pairs = {}
            for k in np.nonzero(support[i])[0]:
                _, _, fi, ri = votes[k]
                pairs.setdefault(fi, ri)
            best = (len(pairs), pairs)
    if best is None or best[0] < min(2, len(framing)):
        found = 0 if best is None else best[0]
        raise TemplateError(f"{template.source}: cannot register page: matched {found} of "
                            f"{len(framing)} field boxes to the page's printed boxes")
    _, pairs = best
    m = _fit(template, rects, open_top, pairs)
    if m is None:
        raise TemplateError(f"{template.source}: cannot register page: degenerate box matches")
    # the shift vote matches only the fields in one band of the page when its axes are scaled
    # differently (a photo rectified from its lines, a scanner feeding faster or slower than it
    # steps across): every field matched again through the fit, and refitted on them
    for _ in range(REFITS):
        again = _rematch(template, rects, open_top, m)
        if len(again) < len(pairs) or (fine := _fit(template, rects, open_top, again)) is None:
            break
        stable, m, pairs = again == pairs, fine, again
        if stable:
            break
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    angle = float(np.degrees(np.arctan2(m[1, 0], m[0, 0])))
    return Registration(m.astype(np.float64), scale, angle, frozenset(pairs))


REFITS = 3  # register: refits on the fields matched again, at most
AFFINE_GAIN = 2.0  # an affine fit replaces the similarity where it lies this many times closer
REMATCH_IOU = 0.5  # a page box overlapping a field's registered box this much is that field's box


def _fit(template: Template, rects: list[Rect], open_top: list[bool], pairs: dict[int, int]) -> np.ndarray | None:
    """The transform that maps the matched (field, box) pairs' corners: a similarity (scale,
    rotation, shift), or, from three fields up, a full affine where it fits ``AFFINE_GAIN`` times
    closer (median corner distance). A tick comb's top is not printed: only its bottom corners
    enter."""
    src, dst = [], []
    for fi, ri in pairs.items():
        x, y, w, h = template.fields[fi].box
        X, Y, W, H = rects[ri]
        src += [(x, y + h), (x + w, y + h)] + ([] if open_top[ri] else [(x, y), (x + w, y)])
        dst += [(X, Y + H), (X + W, Y + H)] + ([] if open_top[ri] else [(X, Y), (X + W, Y)])
    src, dst = np.array(src, np.float32), np.array(dst, np.float32)
    sim, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
    if sim is None or len(pairs) < 3:
        return sim
    aff, _ = cv2.estimateAffine2D(src, dst, method=cv2.LMEDS)
    off = lambda m: float(np.median(np.linalg.norm(src @ m[:, :2].T + m[:, 2] - dst, axis=1)))  # noqa: E731
    return aff if aff is not None and off(sim) > AFFINE_GAIN * off(aff) + 1 else sim


def _rematch(template: Template, rects: list[Rect], open_top: list[bool], m: np.ndarray) -> dict[int, int]:
    """Each framing field's page box through the transform ``m``: the one it overlaps most,
    by at least ``REMATCH_IOU`` (a tick comb, whose top is not printed, as tall as the field)."""
    reg = Registration(m, 1.0, 0.0)
    framing = template.framing
    pairs = {}
    for fi, f in enumerate(template.fields):
        if f not in framing:
            continue
        rect = reg.field_rect(f.box)
        h = rect[3]
        boxes = [(X, Y + H - h, W, h) if top else (X, Y, W, H) for (X, Y, W, H), top in zip(rects, open_top, strict=True)]
        iou = overlap_ious([rect], boxes)[0]
        if len(iou) and iou.max() >= REMATCH_IOU:
            pairs[fi] = int(np.argmax(iou))
    return pairs


def register_by_page(template: Template, page_shape: tuple[int, int]) -> Registration:
    """The fallback when no printed box can be matched (dropout-colour forms whose boxes vanish
    in the scan, faint or missing box lines): the template's page stretched onto the
    (deskewed) page, as a sheet-fed scanner places it. Good to about the scan's shift."""
    ph, pw = page_shape
    tw, th = template.page_size
    sx, sy = pw / tw, ph / th
    return Registration(np.array([[sx, 0.0, 0.0], [0.0, sy, 0.0]]), float(np.sqrt(sx * sy)), 0.0)


def register_by_ink(template: Template, page_shape: tuple[int, int], ink: np.ndarray,
                    reach: float = INK_SHIFT_REACH) -> Registration:
    """``register_by_page``, then shifted to where the fields hold the most ink: a sheet is
    rarely fed exactly to the corner, and with no printed box to match, the writing itself is
    the one landmark left. Searches shifts up to ``reach`` of the page size, coarse then fine,
    on an integral image. Falls back to the plain page geometry when the fields hold no ink."""
    reg = register_by_page(template, page_shape)
    rects = np.array([reg.field_rect(f.box) for f in template.fields], float)
    if not len(rects) or not ink.any():
        return reg
    h, w = ink.shape
    integral = cv2.integral((ink > 0).astype(np.uint8))

    def best(shifts: np.ndarray) -> tuple[np.ndarray, float]:
        x0 = np.clip(rects[None, :, 0] + shifts[:, None, 0], 0, w).astype(int)
        y0 = np.clip(rects[None, :, 1] + shifts[:, None, 1], 0, h).astype(int)
        x1 = np.clip(rects[None, :, 0] + rects[None, :, 2] + shifts[:, None, 0], 0, w).astype(int)
        y1 = np.clip(rects[None, :, 1] + rects[None, :, 3] + shifts[:, None, 1], 0, h).astype(int)
        ink_in = (integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]).sum(axis=1)
        i = int(np.argmax(ink_in))
        return shifts[i], float(ink_in[i])

    r = reach * max(h, w)
    step = max(1.0, r / 16)
    grid = np.arange(-r, r + 1e-9, step)
    coarse, total = best(np.array([(dx, dy) for dy in grid for dx in grid]))
    if total <= 0:
        return reg
    fine = np.arange(-step, step + 1e-9, 1.0)
    shift, _ = best(np.array([(coarse[0] + dx, coarse[1] + dy) for dy in fine for dx in fine]))
    m = reg.matrix.copy()
    m[:, 2] += shift
    return Registration(m, reg.scale, 0.0)
