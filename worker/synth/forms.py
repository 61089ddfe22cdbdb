"""Render synthetic hand-printed forms with ground truth and the matching template.

A form is laid out in template coordinates (A4 at 200 DPI, 1654x2339 px): a printed
title, printed field labels, comb-cell fields and free boxed fields. Each writer has a
slant, jitter, pen width, size and spacing of their own. The page is then "scanned":
resampled to 150-400 DPI, rotated, shifted, blurred, noised, specked, and saved as PNG,
JPEG or bilevel TIFF."""

from __future__ import annotations

import json
import random
import string
from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from segmentation.charsets import CHARSETS, MARK, MARKED
from worker.synth.skeletons import SKELETONS

PAGE_W, PAGE_H = 1654, 2339  # A4 at 200 DPI: the template's own pixel coordinates
TEMPLATE_DPI = 200
MAX_PASTE_WIDTH = 1.5  # a pasted real glyph's width, at most, in units of the writer's glyph width

WORDS = ["SMITH", "JONES", "GARCIA", "MILLER", "DAVIS", "LOPEZ", "WILSON", "TAYLOR", "MOORE", "MARTIN",
         "LEE", "WHITE", "HARRIS", "CLARK", "LEWIS", "YOUNG", "WALKER", "HALL", "ALLEN", "KING", "WRIGHT",
         "SCOTT", "GREEN", "BAKER", "ADAMS", "NELSON", "HILL", "CAMPBELL", "QUINN", "BROOKS", "EVANS",
         "ZHANG", "KOWALSKI", "NOVAK", "PETROV", "JENSEN", "FISCHER", "DUBOIS", "ROSSI", "VARGA"]
CITIES = ["PARIS", "OSLO", "LISBON", "DUBLIN", "VIENNA", "PRAGUE", "BERLIN", "MADRID", "ROME", "WARSAW",
          "ATHENS", "QUEBEC", "KYOTO", "BOSTON", "DENVER", "AUSTIN", "JUNEAU", "YORK", "ZURICH", "GHENT"]

# name, label, kind (comb|box), charset, cells (comb) or max chars (box), x, y, w, h
LAYOUT = [
    ("surname", "SURNAME", "comb", "letters", 14, 120, 330, 1120, 80),
    ("first_name", "FIRST NAME", "comb", "letters", 12, 120, 500, 960, 80),
    ("date_of_birth", "DATE OF BIRTH (DDMMYYYY)", "comb", "digits", 8, 120, 670, 640, 80),
    ("phone", "PHONE", "comb", "digits", 10, 860, 670, 680, 80),
    ("city", "CITY", "box", "letters", 10, 120, 840, 900, 90),
    ("postcode", "POSTCODE", "comb", "alnum", 6, 1100, 840, 432, 80),
    ("account", "ACCOUNT NUMBER", "box", "digits", 12, 120, 1020, 1100, 90),
    ("country", "COUNTRY CODE", "comb", "letters", 3, 1300, 1020, 240, 80),
    ("reference", "REFERENCE", "box", "alnum", 9, 120, 1200, 900, 90),
]

# what a valid entry looks like (template "pattern"): a day, a month and a year from 1900; a
# blank date passes (not every form is filled in)
PATTERNS = {"date_of_birth": "((0[1-9]|[12][0-9]|3[01])(0[1-9]|1[0-2])(19|20)[0-9]{2})?", "country": "([A-Z]{3})?"}
# coded forms (``generate(coded=True)``): the alnum fields hold codes of a fixed shape, L a letter
# and D a digit (a postcode, an insurance number), and the template gives each its pattern
CODES = {"postcode": "LDLDLD", "reference": "LLDDDDDDL"}
CODE_PATTERNS = {name: "(" + "".join("[A-Z]" if k == "L" else "[0-9]" for k in code) + ")?"
                 for name, code in CODES.items()}

# tick boxes (``render_form(marks=True)``): name, label, x, y, side
TICKS = [
    ("consent", "I CONSENT", 120, 1420, 50),
    ("newsletter", "NEWSLETTER", 520, 1420, 50),
    ("resident", "RESIDENT", 920, 1420, 50),
    ("over_18", "OVER 18", 1280, 1420, 50),
]
# how a tick box is filled in, with its weight: a mark, or not
TICK_STATES = {"tick": 4, "cross": 2, "scribble": 1, "empty": 3, "speck": 1}
# colours (BGR) for colour forms: dropout print colours for the boxes, and pen inks
COLOURS = {"black": (0, 0, 0), "red": (90, 90, 230), "pink": (170, 160, 245), "green": (140, 200, 120),
           "blue": (150, 70, 30), "paleblue": (235, 190, 120)}
# pale colours (BGR) that forms print under their entry fields
TINTS = {"yellow": (185, 245, 255), "blue": (250, 228, 200), "green": (215, 245, 215), "pink": (225, 215, 255)}


@dataclass(frozen=True)
class Writer:
    slant: float  # shear: x += slant * (1 - y)
    jitter: float  # point noise, fraction of glyph height
    pen: float  # pen width, fraction of glyph height
    size: float  # glyph height, fraction of the cell/box height
    width: float  # glyph width relative to height
    spacing: float  # gap between free-box glyphs, fraction of height
    variant_seed: int

    @classmethod
    def random(cls, rng: random.Random) -> Writer:
        return cls(slant=rng.uniform(-0.25, 0.3), jitter=rng.uniform(0.005, 0.03), pen=rng.uniform(0.05, 0.14),
                   size=rng.uniform(0.55, 0.75), width=rng.uniform(0.55, 0.8), spacing=rng.uniform(0.2, 0.5),
                   variant_seed=rng.randrange(1 << 30))


def template_dict(name: str = "synthetic-application-v1", marks: bool = False, coded: bool = False) -> dict:
    """The template (the exact schema ``segmentation.template`` validates) for LAYOUT, and
    with ``marks`` its tick boxes (TICKS); ``coded``: its alnum fields' CODE_PATTERNS too."""
    patterns = PATTERNS | (CODE_PATTERNS if coded else {})
    fields = [{"name": f[0], "box": [f[5], f[6], f[7], f[8]], "charset": f[3]}
              | ({"pattern": patterns[f[0]]} if f[0] in patterns else {})
              | ({"cells": f[4]} if f[2] == "comb" else {}) for f in LAYOUT]
    if marks:
        fields += [{"name": t[0], "box": [t[2], t[3], t[4], t[4]], "charset": MARK} for t in TICKS]
    return {"name": name, "page_size": [PAGE_W, PAGE_H], "fields": fields}


def draw_tick(page: np.ndarray, state: str, x: int, y: int, side: int, pen: int, ink: int,
              rng: random.Random) -> bool:
    """Fill in the tick box at (x, y) as ``state`` says (TICK_STATES); True if that is a mark."""
    def jit(v: float) -> int:
        return int(round(v + rng.uniform(-0.08, 0.08) * side))

    if state == "tick":
        pts = [(jit(x + 0.2 * side), jit(y + 0.55 * side)), (jit(x + 0.42 * side), jit(y + 0.85 * side)),
               (jit(x + 0.95 * side), jit(y + 0.05 * side))]
        cv2.polylines(page, [np.array(pts, np.int32)], False, ink, pen, cv2.LINE_AA)
    elif state == "cross":
        cv2.line(page, (jit(x + 0.15 * side), jit(y + 0.15 * side)), (jit(x + 0.85 * side), jit(y + 0.85 * side)),
                 ink, pen, cv2.LINE_AA)
        cv2.line(page, (jit(x + 0.85 * side), jit(y + 0.15 * side)), (jit(x + 0.15 * side), jit(y + 0.85 * side)),
                 ink, pen, cv2.LINE_AA)
    elif state == "scribble":
        pts = [(jit(x + side * (0.2 + 0.6 * (i % 2))), jit(y + side * (0.2 + 0.075 * i))) for i in range(9)]
        cv2.polylines(page, [np.array(pts, np.int32)], False, ink, pen, cv2.LINE_AA)
    elif state == "speck":  # a dot of dust or a pen touching down: not a mark
        cv2.circle(page, (jit(x + 0.5 * side), jit(y + 0.5 * side)), 1, ink, -1)
    return state in ("tick", "cross", "scribble")


def _random_text(field, rng: random.Random, coded: bool = False) -> str:
    name, _, kind, charset, n, *_ = field
    if coded and name in CODES:
        return "".join(rng.choice(string.ascii_uppercase if k == "L" else string.digits) for k in CODES[name])
    if name in ("surname", "first_name"):
        w = rng.choice(WORDS)
        return w[:n]
    if name == "city":
        return rng.choice(CITIES)[:n]
    if name == "date_of_birth":
        return f"{rng.randint(1, 28):02d}{rng.randint(1, 12):02d}{rng.randint(1930, 2015)}"
    if name == "country":
        return "".join(rng.choice(string.ascii_uppercase) for _ in range(3))
    k = rng.randint(max(3, n - 4), n)
    return "".join(rng.choice(CHARSETS[charset]) for _ in range(k))


def draw_glyph(canvas: np.ndarray, ch: str, x: float, y: float, w: float, h: float, writer: Writer,
               rng: random.Random, scale: float = 1.0) -> tuple[int, int, int, int]:
    """Draw one glyph (black ink) into the box (x,y,w,h); returns its ink bbox."""
    variants = SKELETONS[ch]
    strokes = variants[(writer.variant_seed + ord(ch) * 7 + rng.randrange(2)) % len(variants)]
    pen = max(1, int(round(writer.pen * h * rng.uniform(0.85, 1.15))))
    boxes = []
    for stroke in strokes:
        pts = []
        for px, py in stroke:
            jx, jy = rng.gauss(0, writer.jitter), rng.gauss(0, writer.jitter)
            sx = px + writer.slant * (0.5 - py) + jx
            pts.append(((x + sx * w) * 16, (y + (py + jy) * h) * 16))
        arr = np.round(np.array(pts)).astype(np.int32)
        cv2.polylines(canvas, [arr], False, 0, pen, cv2.LINE_AA, shift=4)
        a = arr / 16.0
        boxes.append((a[:, 0].min() - pen / 2, a[:, 1].min() - pen / 2, a[:, 0].max() + pen / 2, a[:, 1].max() + pen / 2))
    b = np.array(boxes)
    x0, y0, x1, y1 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
    return int(x0), int(y0), int(np.ceil(x1 - x0)), int(np.ceil(y1 - y0))


STRIKES = ("scribble", "solid", "loops")  # how a wrong character is struck out (draw_strike)


def draw_strike(canvas: np.ndarray, bbox: tuple[int, int, int, int], pen: int, rng: random.Random,
                style: str | None = None) -> list[int]:
    """Strike out the glyph at ``bbox`` (x, y, w, h) with the writer's ``pen``: "scribble",
    at least 6 strokes to and fro, a little more than a pen's width apart, down the glyph or
    across it; "solid", the same packed closer than the pen, inked solid; "loops", a coil of
    loops along it. Returns the ink's bbox."""
    style = style or rng.choice(STRIKES)
    x, y, w, h = bbox
    x0, y0, x1, y1 = x - 0.12 * w, y - 0.1 * h, x + 1.12 * w, y + 1.1 * h
    if style == "loops":
        turns = rng.uniform(3.0, 5.0)
        t = np.linspace(0.0, 1.0, int(turns * 24))
        r = 0.5 * (y1 - y0) * rng.uniform(0.8, 1.0)
        rx = min(r, (x1 - x0) / (2 * turns) * rng.uniform(1.6, 2.4))
        pts = np.stack([x0 + rx + t * (x1 - x0 - 2 * rx) + rx * np.cos(2 * np.pi * turns * t),
                        (y0 + y1) / 2 + r * np.sin(2 * np.pi * turns * t)], 1)
    else:
        gap = pen * (rng.uniform(1.2, 1.8) if style == "scribble" else rng.uniform(0.4, 0.8))
        across = rng.random() < 0.5  # strokes running across the glyph, stacked down it; else the other way
        span, depth = ((x0, x1), (y0, y1)) if across else ((y0, y1), (x0, x1))
        k = max(6, int((depth[1] - depth[0]) / gap) + 1)  # fewer strokes to and fro would draw a W
        ends = [span[i % 2] + rng.uniform(-0.06, 0.06) * (span[1] - span[0]) for i in range(k)]
        steps = depth[0] + np.linspace(0.0, 1.0, k) * (depth[1] - depth[0])
        pts = np.stack([ends, steps], 1) if across else np.stack([steps, ends], 1)
    pts = pts + np.array([[rng.gauss(0, 0.02 * w), rng.gauss(0, 0.02 * h)] for _ in pts])
    arr = np.round(pts * 16).astype(np.int32)
    cv2.polylines(canvas, [arr], False, 0, pen, cv2.LINE_AA, shift=4)
    lo, hi = pts.min(0) - pen / 2, pts.max(0) + pen / 2
    return [int(lo[0]), int(lo[1]), int(np.ceil(hi[0] - lo[0])), int(np.ceil(hi[1] - lo[1]))]


def render_form(seed: int, *, writer: Writer | None = None, texts: dict[str, str] | None = None,
                glyph_source=None, box_ink: int = 0, comb_style: str = "boxed",
                pen_ink: int = 0, captions: bool = False, marks: bool = False,
                box_colour: str | None = None, pen_colour: str | None = None,
                size: tuple[float, float] | None = None, shade: int = 255,
                dashes: tuple[int, int] | None = None, blank: Collection[str] = (),
                cross_outs: float = 0.0, tint: str | None = None, coded: bool = False) -> tuple[np.ndarray, dict]:
    """Render a clean form in template coordinates; returns (page, truth dict): grey, or BGR
    when ``box_colour`` or ``pen_colour`` names one of COLOURS (the boxes printed in that
    colour, as dropout forms are; the writing in that ink, over the print).
    ``box_ink`` is the grey of the printed boxes: 255 makes a dropout-colour form, whose
    boxes vanish in the scan. ``comb_style`` "ticks" prints comb fields as a baseline with
    short ticks rising between the cells instead of closed boxes. ``pen_ink`` is the grey of the
    handwriting (170 and up is a pencil paler than black boxes' Otsu threshold). ``captions``
    also prints each free box's label small in its top-left corner, inside the box, as many
    real forms do. ``marks`` adds the tick boxes of TICKS, each ticked, crossed, scribbled in,
    left empty or specked (truth ``kind`` "mark", text MARKED or ""). ``size`` (lo, hi) draws
    the writer's glyph height, as a fraction of the box height, from that range (from about 0.8
    the writing touches the box lines). ``shade`` below 255 prints every box's inside in a tint
    of that grey (shaded entry fields), under the writing: ink and tint multiply, as on paper;
    ``tint`` (one of TINTS) prints it in that pale colour instead (a BGR page).
    ``dashes`` (on, off) prints every form line dashed, ``on`` px of ink then ``off`` px of
    paper (1, 3: dotted).

    ``blank`` names text fields left unwritten (truth text ""); ``coded`` fills the alnum
    fields with codes of a fixed shape (CODES).

    ``cross_outs`` is the chance that a text field holds one wrong character, struck out
    where it was written (STRIKES: scribbled over, inked solid or looped over) and the
    writing carried on after it; the truth text leaves it out, and the field's ``crossed``
    lists the struck boxes. A comb whose text fills every cell gets none.

    ``glyph_source(ch, rng)`` may supply a real 28x28 glyph (white on black) instead of a
    skeleton drawing (used by tests that paste ``../shared/data`` glyphs)."""
    rng = random.Random(seed)
    srng = random.Random(seed * 104729 + 3)  # cross-outs: a stream of their own, so other forms stay as they were
    writer = writer or Writer.random(rng)
    if size is not None:
        writer = replace(writer, size=rng.uniform(*size))
    page = np.full((PAGE_H, PAGE_W), 255, np.uint8)
    cv2.putText(page, "APPLICATION FORM", (120, 200), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 0, 3, cv2.LINE_AA)
    fields = []
    colour = bool(box_colour or pen_colour)
    # a pale pen or a colour: the writing and the boxes are layers of their own, composited at the end
    writing = page if not (pen_ink or colour) else np.full_like(page, 255)
    boxes = page if not colour else np.full_like(page, 255)
    if colour:
        box_ink = 0
    for field in LAYOUT:
        name, label, kind, charset, n, fx, fy, fw, fh = field
        text = (texts or {}).get(name) or _random_text(field, rng, coded)
        if name in blank:
            text = ""
        cv2.putText(page, label, (fx, fy - 14), cv2.FONT_HERSHEY_SIMPLEX, 0.55, 0, 1, cv2.LINE_AA)
        ticks = kind == "comb" and comb_style == "ticks"
        if ticks:
            _rule(boxes, (fx, fy + fh), (fx + fw, fy + fh), box_ink, 3, dashes)
        else:
            _frame(boxes, fx, fy, fw, fh, box_ink, 3, dashes)
        if captions and kind == "box":
            cv2.putText(boxes, label.title(), (fx + 6, fy + 19), cv2.FONT_HERSHEY_SIMPLEX, 0.7, box_ink, 1, cv2.LINE_AA)
        chars, crossed = [], []
        gh = fh * writer.size
        text = text[:n] if kind == "comb" else text
        # (character, struck out): a wrong one struck out where it was written, the rest after it
        items = [(ch, False) for ch in text]
        if cross_outs and text and srng.random() < cross_outs and (kind != "comb" or len(text) < n):
            items.insert(srng.randrange(len(text) + 1), (srng.choice(CHARSETS[charset]), True))

        def put(ch, struck, x, y, gw, chars=chars, crossed=crossed, gh=gh):
            if not struck:
                chars.append({"char": ch, "bbox": _put(writing, ch, x, y, gw, gh, writer, rng, glyph_source)})
                return
            bx, by, bw, bh = draw_glyph(writing, ch, x, y, gw, gh, writer, srng)
            x0, y0 = min(bx, x), min(by, y)  # struck over its place, at least: a struck I is struck as wide as a W
            spot = (int(x0), int(y0), int(max(bx + bw, x + gw) - x0), int(max(by + bh, y + gh) - y0))
            crossed.append(draw_strike(writing, spot, max(1, int(round(writer.pen * gh))), srng))

        if kind == "comb":
            cw = fw / n
            for i in range(0 if ticks else 1, n + 1 if ticks else n):
                cx = int(round(fx + i * cw))
                _rule(boxes, (cx, int(fy + fh * 0.7) if ticks else fy), (cx, fy + fh), box_ink, 2, dashes)
            for i, (ch, struck) in enumerate(items):
                gw = min(cw * 0.8, gh * writer.width)
                x = fx + i * cw + (cw - gw) / 2 + rng.uniform(-0.06, 0.06) * cw
                y = fy + (fh - gh) / 2 + rng.uniform(-0.08, 0.08) * fh
                put(ch, struck, x, y, gw)
        else:
            x = fx + fh * 0.3
            for ch, struck in items:
                gw = gh * writer.width * rng.uniform(0.9, 1.1)
                y = fy + (fh - gh) / 2 + rng.uniform(-0.06, 0.06) * fh
                put(ch, struck, x, y, gw)
                x += gw + gh * writer.spacing * rng.uniform(0.8, 1.2)
        fields.append({"name": name, "charset": charset, "kind": kind, "text": text, "box": [fx, fy, fw, fh],
                       "chars": chars} | ({"crossed": crossed} if crossed else {}))
    if marks:  # a stream of its own, so the forms without tick boxes stay as they were
        mrng = random.Random(seed * 7919 + 17)
        pen = max(2, int(round(writer.pen * 60)))
        for name, label, x, y, side in TICKS:
            _frame(boxes, x, y, side, side, box_ink, 3, dashes)
            cv2.putText(page, label, (x + side + 14, y + side - 14), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 0, 1, cv2.LINE_AA)
            state = mrng.choices(list(TICK_STATES), weights=list(TICK_STATES.values()))[0]
            marked = draw_tick(writing, state, x, y, side, pen, 0, mrng)
            fields.append({"name": name, "charset": MARK, "kind": "mark", "text": MARKED if marked else "",
                           "state": state, "box": [x, y, side, side], "chars": []})
    if colour:
        page = _composite([(page, COLOURS["black"]), (boxes, COLOURS[box_colour or "black"]),
                           (writing, COLOURS[pen_colour or "black"])])
    elif pen_ink:
        np.minimum(page, (pen_ink + (255 - pen_ink) * (writing.astype(np.int32)) // 255).astype(np.uint8), out=page)
    if shade < 255 or tint:
        factor = np.array(TINTS[tint], np.float32) / 255.0 if tint else shade / 255.0
        if tint and page.ndim == 2:
            page = cv2.cvtColor(page, cv2.COLOR_GRAY2BGR)
        for f in fields:
            x, y, w, h = f["box"]
            inside = page[y + 2 : y + h - 1, x + 2 : x + w - 1]
            inside[:] = (inside.astype(np.float32) * factor).astype(np.uint8)
    return page, {"template_size": [PAGE_W, PAGE_H], "writer": writer.__dict__, "fields": fields}


def _rule(img: np.ndarray, p0: tuple[int, int], p1: tuple[int, int], ink: int, thickness: int,
          dashes: tuple[int, int] | None) -> None:
    """A straight printed line, solid or dashed (``dashes``: px on, px off, from ``p0``)."""
    if dashes is None:
        cv2.line(img, p0, p1, ink, thickness)
        return
    on, off = dashes
    length = float(np.hypot(p1[0] - p0[0], p1[1] - p0[1]))
    d = (np.array(p1, float) - p0) / max(length, 1.0)
    for t in np.arange(0.0, length, on + off):
        a, b = np.array(p0) + d * t, np.array(p0) + d * min(t + on - 1, length)
        cv2.line(img, tuple(int(round(v)) for v in a), tuple(int(round(v)) for v in b), ink, thickness)


def _frame(img: np.ndarray, x: int, y: int, w: int, h: int, ink: int, thickness: int,
           dashes: tuple[int, int] | None) -> None:
    """A printed box, solid or dashed (see _rule)."""
    corners = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    for p0, p1 in zip(corners, corners[1:] + corners[:1], strict=True):
        _rule(img, p0, p1, ink, thickness, dashes)


def _composite(layers: list[tuple[np.ndarray, tuple[int, int, int]]]) -> np.ndarray:
    """BGR page of grey layers (0 ink, 255 paper) each printed in its colour, inks multiplying
    as they do on paper."""
    out = np.ones((*layers[0][0].shape, 3), np.float32)
    for layer, bgr in layers:
        _multiply_ink(out, 1.0 - layer.astype(np.float32) / 255.0, bgr)
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _multiply_ink(out: np.ndarray, cover: np.ndarray, bgr: tuple[int, int, int]) -> None:
    """Ink of colour ``bgr`` laid on ``out`` (float BGR, in place) where ``cover`` (0 to 1, per
    pixel) says, multiplying with what is there as inks do on paper."""
    out *= 1.0 - cover[..., None] * (1.0 - np.array(bgr, np.float32) / 255.0)


def _in_colour(page: np.ndarray) -> np.ndarray:
    """``page`` (grey or BGR) as float BGR, to lay coloured ink on (_multiply_ink)."""
    return (page if page.ndim == 3 else cv2.cvtColor(page, cv2.COLOR_GRAY2BGR)).astype(np.float32)


def _put(page, ch, x, y, w, h, writer, rng, glyph_source):
    if glyph_source is None:
        return draw_glyph(page, ch, x, y, w, h, writer, rng)
    g = glyph_source(ch, rng)  # 28x28 white-on-black, glyph in the central 20x20
    ys, xs = np.nonzero(g > 40)
    crop = g[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    # Full height, but no wider than a writer's cell allows: a flat glyph (a dash) scaled to
    # full height would otherwise span, and blot out, its neighbours.
    s = min(h / crop.shape[0], MAX_PASTE_WIDTH * w / crop.shape[1])
    tw, th = max(1, int(crop.shape[1] * s)), max(1, int(crop.shape[0] * s))
    big = cv2.resize(crop, (tw, th), interpolation=cv2.INTER_CUBIC)
    x0, y0 = int(x + (w - tw) / 2), int(y + (h - th) / 2)
    region = page[y0 : y0 + th, x0 : x0 + tw]
    np.minimum(region, 255 - big[: region.shape[0], : region.shape[1]], out=region)
    return [x0, y0, tw, th]


@dataclass(frozen=True)
class Scan:
    dpi: int = 300
    angle: float = 0.0  # degrees, counter-clockwise
    shift: tuple[float, float] = (0.0, 0.0)  # pixels at scan resolution
    blur: float = 0.0
    noise: float = 0.0
    specks: int = 0
    fmt: str = "png"  # png | jpg | tif (bilevel G4) | bmp
    jpeg_quality: int = 85
    surround: int = 0  # px of dark surround on every side: a page scanned with the lid open, or on a table
    surround_grey: int = 40
    keystone: float = 0.0  # a photo taken at an angle: the top corners move in by up to this share of the width
    shadow: float = 0.0  # a photo's shadow: one side of a soft edge across the page darker by this share
    lamp: float = 0.0  # a lamp's falloff: the page darker by up to this share towards one side
    grey: bool = False  # the scanner set to grey: a colour page saved as its luminance

    @classmethod
    def random(cls, rng: random.Random, fmt: str | None = None) -> Scan:
        return cls(dpi=rng.choice([150, 200, 300, 400]), angle=rng.uniform(-2, 2),
                   shift=(rng.uniform(-50, 50), rng.uniform(-50, 50)), blur=rng.uniform(0, 1.0),
                   noise=rng.uniform(0, 8), specks=rng.randint(0, 60),
                   fmt=fmt or rng.choice(["png", "png", "jpg", "tif"]), jpeg_quality=rng.randint(60, 92))


def show_through(page: np.ndarray, back: np.ndarray, strength: float, blur: float = 1.5) -> np.ndarray:
    """``page`` with ``back`` (the other side of the sheet, grey, as printed and written) showing
    through the paper: mirrored left to right, blurred by ``blur`` px, its darkness multiplied in
    at ``strength`` (0.2: black ink shows through at grey ~205)."""
    seen = cv2.GaussianBlur(cv2.flip(back, 1), (0, 0), blur).astype(np.float32)
    keep = 1.0 - strength * (255.0 - seen) / 255.0
    if page.ndim == 3:
        keep = keep[..., None]
    return np.clip(page.astype(np.float32) * keep, 0, 255).astype(np.uint8)


def fold(page: np.ndarray, rng: random.Random, horizontal: bool = True) -> np.ndarray:
    """``page`` creased across the whole sheet (folded for an envelope, then flattened): a dark
    thin line at a random place, within 0.3 degrees of the page's edges, and a pale shadow
    beside it."""
    h, w = page.shape[:2]
    if horizontal:
        y = int(rng.uniform(0.1, 0.9) * h)
        p0, p1 = (0, y), (w, y + int(np.tan(np.radians(rng.uniform(-0.3, 0.3))) * w))
        off = (0, 4)
    else:
        x = int(rng.uniform(0.1, 0.9) * w)
        p0, p1 = (x, 0), (x + int(np.tan(np.radians(rng.uniform(-0.3, 0.3))) * h), h)
        off = (4, 0)
    shade = np.full((h, w), 255, np.uint8)
    cv2.line(shade, (p0[0] + off[0], p0[1] + off[1]), (p1[0] + off[0], p1[1] + off[1]), 225, 8)
    cv2.line(shade, p0, p1, 110, 2, cv2.LINE_AA)
    return np.minimum(page, shade[..., None] if page.ndim == 3 else shade)


def _grey_as(page: np.ndarray, grey: int) -> int | tuple[int, int, int]:
    """``grey`` as a colour for drawing on ``page`` (grey or BGR)."""
    return (grey,) * 3 if page.ndim == 3 else grey


PUNCH_LAYOUTS = {  # holes: (diameter mm, centre from the edge mm, centres from the page's middle mm)
    2: (6.0, 12.0, (-40.0, 40.0)),  # ISO 838: two holes 80 mm apart
    3: (8.0, 10.0, (-108.0, 0.0, 108.0)),  # a US three-ring binder
    4: (6.0, 12.0, (-120.0, -40.0, 40.0, 120.0)),  # ISO 838 extended: four holes 80 mm apart
}


def punch(page: np.ndarray, rng: random.Random, holes: int = 2) -> np.ndarray:
    """``page`` (A4 at TEMPLATE_DPI) punched for a binder (``PUNCH_LAYOUTS``) along its left edge,
    the holes showing the scanner's dark lid or backing through them (grey 20 to 90)."""
    mm = TEMPLATE_DPI / 25.4
    diameter, edge, centres = PUNCH_LAYOUTS[holes]
    out = page.copy()
    grey = rng.randint(20, 90)
    for c in centres:
        centre = (int(round(edge * mm)), int(round(page.shape[0] / 2 + c * mm)))
        cv2.circle(out, centre, int(round(diameter * mm / 2)), _grey_as(page, grey), -1, cv2.LINE_AA)
    return out


def staple(page: np.ndarray, rng: random.Random) -> np.ndarray:
    """``page`` (A4 at TEMPLATE_DPI) stapled at its top left corner: a 12 mm bar, 0.8 to 1.2 mm
    thick, dark grey, along the top edge 5 to 9 mm in, along the left edge, or across the corner."""
    mm = TEMPLATE_DPI / 25.4
    length, thick, grey = 12 * mm, rng.uniform(0.8, 1.2) * mm, rng.randint(30, 90)
    kind = rng.choice(["top", "left", "corner"])
    near, along = rng.uniform(5, 9) * mm, rng.uniform(12, 30) * mm
    if kind == "top":
        p0, p1 = (along, near), (along + length, near)
    elif kind == "left":
        p0, p1 = (near, along), (near, along + length)
    else:
        p0, p1 = (near, along), (along, near)
        scale = length / float(np.hypot(p1[0] - p0[0], p1[1] - p0[1]))
        p1 = (p0[0] + (p1[0] - p0[0]) * scale, p0[1] + (p1[1] - p0[1]) * scale)
    out = page.copy()
    cv2.line(out, tuple(int(round(v)) for v in p0), tuple(int(round(v)) for v in p1),
             _grey_as(page, grey), max(1, int(round(thick))), cv2.LINE_AA)
    return out


def paper_clip(page: np.ndarray, rng: random.Random) -> np.ndarray:
    """``page`` (A4 at TEMPLATE_DPI) with a paper clip over its top edge, 20 to 80 mm from the left:
    two nested loops of 1 mm wire, 9 by 32 mm and 5 by 24 mm, their tops off the sheet."""
    mm = TEMPLATE_DPI / 25.4
    x, grey, wire = rng.uniform(20, 80) * mm, rng.randint(40, 110), max(1, int(round(mm)))
    out = page.copy()
    colour = _grey_as(page, grey)
    for width, depth in ((9.0, 22.0), (5.0, 14.0)):  # mm across, mm down from the edge to the bend
        half = width * mm / 2
        cx, bend = x + 4.5 * mm, depth * mm
        for side in (-1, 1):
            cv2.line(out, (int(cx + side * half), -int(8 * mm)), (int(cx + side * half), int(bend)), colour, wire, cv2.LINE_AA)
        cv2.ellipse(out, (int(cx), int(bend)), (int(half), int(half)), 0, 0, 180, colour, wire, cv2.LINE_AA)
    return out


STAMP_INKS = ((60, 50, 200), (170, 80, 40))  # BGR: a red and a blue stamp pad


def rubber_stamp(page: np.ndarray, rng: random.Random, turn: float = 3.0) -> np.ndarray:
    """``page`` (A4 at TEMPLATE_DPI) in colour, stamped "RECEIVED" and a date at its top right,
    beside the title, in a double frame 62 by 24 mm, red or blue, unevenly inked, turned by up
    to ``turn`` degrees."""
    out = _in_colour(page)
    mm = TEMPLATE_DPI / 25.4
    w, h, pad = int(62 * mm), int(24 * mm), int(3 * mm)
    layer = np.zeros((h + 2 * pad, w + 2 * pad), np.uint8)
    cv2.rectangle(layer, (pad, pad), (pad + w, pad + h), 255, max(2, int(0.8 * mm)))
    inset = int(2 * mm)
    cv2.rectangle(layer, (pad + inset, pad + inset), (pad + w - inset, pad + h - inset), 255, max(1, int(0.3 * mm)))
    scale = cv2.getFontScaleFromHeight(cv2.FONT_HERSHEY_DUPLEX, int(7.5 * mm), 1)
    cv2.putText(layer, "RECEIVED", (pad + int(6 * mm), pad + int(12 * mm)), cv2.FONT_HERSHEY_DUPLEX, scale, 255,
                max(2, int(0.9 * mm)), cv2.LINE_AA)
    date = f"{rng.randint(1, 28):02d} {rng.choice(['JAN', 'MAR', 'JUN', 'SEP', 'NOV'])} {rng.randint(1990, 2026)}"
    cv2.putText(layer, date, (pad + int(10 * mm), pad + int(20 * mm)), cv2.FONT_HERSHEY_DUPLEX, scale * 0.65, 255,
                max(2, int(0.6 * mm)), cv2.LINE_AA)
    ink = cv2.GaussianBlur(np.random.default_rng(rng.randint(0, 2**31)).random(layer.shape).astype(np.float32), (0, 0), mm)
    ink = (ink - ink.min()) / max(float(np.ptp(ink)), 1e-6)
    layer = layer.astype(np.float32) / 255.0 * (0.55 + 0.45 * ink)
    turn = cv2.getRotationMatrix2D((layer.shape[1] / 2, layer.shape[0] / 2), rng.uniform(-turn, turn), 1.0)
    layer = cv2.warpAffine(layer, turn, (layer.shape[1], layer.shape[0]))
    x, y = int(out.shape[1] - layer.shape[1] - rng.uniform(10, 25) * mm), int(rng.uniform(2, 5) * mm)
    _multiply_ink(out[y : y + layer.shape[0], x : x + layer.shape[1]], layer, rng.choice(STAMP_INKS))
    return np.clip(out, 0, 255).astype(np.uint8)


COFFEE = (110, 150, 190)  # BGR: a coffee ring's colour where it is laid on at full strength


def stain(page: np.ndarray, rng: random.Random) -> np.ndarray:
    """``page`` (A4 at TEMPLATE_DPI) in colour, with a coffee ring across its fields: a mug's
    rim 50 to 80 mm across, wobbly, its edge drawn sharp outside and soft inside, laid on at a
    strength of 0.35 to 0.9 and fading round the ring, over a pale inside."""
    out = _in_colour(page)
    h, w = out.shape[:2]
    mm = TEMPLATE_DPI / 25.4
    radius, strength = rng.uniform(25, 40) * mm, rng.uniform(0.35, 0.9)
    cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.25, 0.45) * h
    x0, y0 = max(0, int(cx - 1.2 * radius)), max(0, int(cy - 1.2 * radius))
    x1, y1 = min(w, int(cx + 1.2 * radius)), min(h, int(cy + 1.2 * radius))
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    angle = np.arctan2(yy - cy, xx - cx)
    wobble = radius * (1 + 0.03 * np.sin(3 * angle + rng.uniform(0, 6)) + 0.02 * np.sin(7 * angle + rng.uniform(0, 6)))
    d = np.hypot(xx - cx, yy - cy) - wobble  # px outside the rim
    width = rng.uniform(0.4, 1.0) * mm * (0.6 + 0.4 * np.sin(2 * angle + rng.uniform(0, 6)) ** 2)
    rim = np.where(d > 0, np.exp(-0.5 * (d / (0.2 * mm)) ** 2), np.exp(-0.5 * (d / width) ** 2))
    _multiply_ink(out[y0:y1, x0:x1], strength * np.maximum(rim, 0.15 * (d < 0)), COFFEE)
    return np.clip(out, 0, 255).astype(np.uint8)


SHADOW_EDGE = 0.01  # of the page's long side: the width of a shadow's soft edge (one logistic unit)


def light(img: np.ndarray, rng: np.random.Generator, shadow: float = 0.0, lamp: float = 0.0) -> np.ndarray:
    """``img`` (grey or BGR) unevenly lit, as a phone photo is: a shadow (a hand, the phone)
    whose soft straight edge crosses the page at a random place and angle, the far side darker
    by ``shadow``; and a lamp's linear falloff towards a random side, darker by up to ``lamp``."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    keep = np.ones((h, w), np.float32)
    if lamp > 0:
        a = rng.uniform(0, 2 * np.pi)
        t = np.cos(a) * xx / w + np.sin(a) * yy / h
        keep *= 1 - lamp * (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    if shadow > 0:
        a, cx, cy = rng.uniform(0, 2 * np.pi), rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
        t = (np.cos(a) * (xx - cx) + np.sin(a) * (yy - cy)) / (SHADOW_EDGE * max(h, w))
        keep *= 1 - shadow / (1 + np.exp(-np.clip(t, -50, 50)))
    if img.ndim == 3:
        keep = keep[..., None]
    return np.clip(img.astype(np.float32) * keep, 0, 255).astype(np.uint8)


def scan(page: np.ndarray, truth: dict, sc: Scan, seed: int = 0) -> tuple[np.ndarray, dict]:
    """Simulate scanning (a grey or a BGR page); maps every truth box into scan pixel coordinates."""
    rng = np.random.default_rng(seed)
    s = sc.dpi / TEMPLATE_DPI
    h, w = page.shape[:2]
    out_w, out_h = int(round(w * s)), int(round(h * s))
    m = cv2.getRotationMatrix2D((w / 2, h / 2), sc.angle, s)
    m[0, 2] += (out_w - w) / 2 + sc.shift[0]
    m[1, 2] += (out_h - h) / 2 + sc.shift[1]
    img = cv2.warpAffine(page, m, (out_w, out_h), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
                         borderValue=(255, 255, 255))
    if sc.shadow > 0 or sc.lamp > 0:
        img = light(img, np.random.default_rng(seed + 7_000_000), shadow=sc.shadow, lamp=sc.lamp)
    if sc.blur > 0.05:
        img = cv2.GaussianBlur(img, (0, 0), sc.blur * s)
    if sc.noise > 0:
        img = np.clip(img + rng.normal(0, sc.noise, img.shape), 0, 255).astype(np.uint8)
    for _ in range(sc.specks):
        cv2.circle(img, (int(rng.integers(0, out_w)), int(rng.integers(0, out_h))), int(rng.integers(1, 3)), 0, -1)
    if sc.surround > 0:
        pad = sc.surround
        img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(sc.surround_grey,) * 3)
        if sc.noise > 0:  # the surround is as noisy as the page
            noise = rng.normal(0, sc.noise, img.shape)
            noise[pad:-pad, pad:-pad] = 0
            img = np.clip(img + noise, 0, 255).astype(np.uint8)
        m[:, 2] += pad  # truth boxes move with the page
        out_w, out_h = out_w + 2 * pad, out_h + 2 * pad
    persp = np.eye(3)
    if sc.keystone > 0:  # the camera nearer the bottom edge: the top one narrower, each corner a little off
        corners = np.float32([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]])
        inset = rng.uniform(0.5, 1.0) * sc.keystone * out_w
        moved = corners + np.float32([[inset, 0], [-inset, 0], [0, 0], [0, 0]]) + \
            rng.uniform(-0.2, 0.2, (4, 2)).astype(np.float32) * sc.keystone * np.float32([out_w, out_h])
        persp = cv2.getPerspectiveTransform(corners, moved.astype(np.float32))
        img = cv2.warpPerspective(img, persp, (out_w, out_h), flags=cv2.INTER_LINEAR,
                                  borderValue=(sc.surround_grey if sc.surround else 255,) * 3)

    def tf_box(b):
        x, y, bw, bh = b
        pts = np.array([[x, y, 1], [x + bw, y, 1], [x, y + bh, 1], [x + bw, y + bh, 1]], float) @ m.T
        pts = cv2.perspectiveTransform(pts[None].astype(np.float64), persp)[0]
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        return [int(round(x0)), int(round(y0)), int(round(x1 - x0)), int(round(y1 - y0))]

    t = json.loads(json.dumps(truth))
    for f in t["fields"]:
        f["page_box"] = tf_box(f["box"])
        for c in f["chars"]:
            c["bbox"] = tf_box(c["bbox"])
        if "crossed" in f:
            f["crossed"] = [tf_box(b) for b in f["crossed"]]
    t["scan"] = {**sc.__dict__, "shift": list(sc.shift), "size": [out_w, out_h],
                 "affine_template_to_page": m.tolist(), "perspective_after": persp.tolist()}
    return img, t


def save_scan(img: np.ndarray, path: Path, sc: Scan) -> Path:
    """Write the scan in its format (bilevel CCITT G4 TIFF for 'tif', thresholded from grey)."""
    if (sc.fmt == "tif" or sc.grey) and img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if sc.fmt == "jpg":
        cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, sc.jpeg_quality])
    elif sc.fmt == "tif":
        from PIL import Image

        Image.fromarray(img > 128).convert("1").save(path, compression="group4", dpi=(sc.dpi, sc.dpi))
    else:
        cv2.imwrite(str(path), img)
    return path


def generate(out_dir: str | Path, count: int = 4, seed: int = 0, fmt: str | None = None,
             scan_override: Scan | None = None, comb_style: str = "boxed", box_ink: int = 0,
             pen_ink: int = 0, dpi: int | None = None, captions: bool = False, surround: int = 0,
             marks: bool = False, surround_grey: int = 40, box_colour: str | None = None,
             pen_colour: str | None = None, size: tuple[float, float] | None = None,
             keystone: float = 0.0, shade: int = 255, dashes: tuple[int, int] | None = None,
             show: float = 0.0, blank_fields: int = 0, folds: str = "", shadow: float = 0.0,
             lamp: float = 0.0, blur: float | None = None, cross_outs: float = 0.0,
             tint: str | None = None, holes: int = 0, stapled: bool = False, clipped: bool = False,
             stained: bool = False, stamped: bool = False, stamp_turn: float = 3.0,
             grey: bool = False, coded: bool = False) -> list[Path]:
    """Write ``count`` scanned forms plus ``<form>.truth.json`` and ``template.json``
    (``comb_style``: "boxed" closed cells, "ticks" baseline ticks, "mixed" alternating;
    ``box_ink``: the grey the boxes are printed in; ``pen_ink``: the grey of the handwriting;
    ``dpi``: one scan resolution instead of a random one; ``captions``: box labels printed
    inside the boxes; ``surround``: px of surround, of grey ``surround_grey``, around each
    scanned page; ``marks``: tick boxes too; ``box_colour``/``pen_colour``: a colour form,
    ``size``: the writers' glyph heights, ``shade``: shaded fields, ``dashes``: dashed lines, see render_form,
    ``keystone``: photographed at an angle, see Scan; ``show``: another filled form on the back of
    each sheet, showing through at that strength, see show_through; ``blank_fields``: that many
    text fields of each form left unwritten; ``folds``: a crease across each sheet per letter, "h"
    along its width, "v" down its height, see fold; ``shadow``/``lamp``: lit unevenly, see light;
    ``blur``: every scan blurred by this sigma, in template px, instead of a random one up to 1;
    ``cross_outs``: the chance a text field holds a character struck out, ``tint``: shaded fields
    in a pale colour, see render_form; ``holes``: punched for a binder with 2, 3 or 4 holes, see punch;
    ``stapled``: a staple at the top left corner, see staple; ``clipped``: a paper clip over the
    top edge, see paper_clip; ``stained``: a coffee ring across the fields, in colour, see stain;
    ``stamped``: a "RECEIVED" rubber stamp at the top right, in colour, turned by up to
    ``stamp_turn`` degrees, see rubber_stamp;
    ``grey``: scanned in grey, a colour page saved as its luminance; ``coded``: the alnum fields
    hold codes of a fixed shape (CODES), which the template's patterns give)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "template.json").write_text(json.dumps(template_dict(marks=marks, coded=coded), indent=2) + "\n")
    paths = []
    for i in range(count):
        rng = random.Random(seed * 1000 + i)
        style = comb_style if comb_style != "mixed" else ("boxed", "ticks")[i % 2]
        blank = random.Random(seed * 1000 + i + 7).sample([f[0] for f in LAYOUT], blank_fields) if blank_fields else ()
        page, truth = render_form(seed * 1000 + i, blank=blank, comb_style=style, box_ink=box_ink, pen_ink=pen_ink,
                                  captions=captions, marks=marks, box_colour=box_colour, pen_colour=pen_colour,
                                  size=size, shade=shade, dashes=dashes, cross_outs=cross_outs, tint=tint,
                                  coded=coded)
        if show:  # the back of the sheet: another writer's form, in black
            page = show_through(page, render_form(10**6 + seed * 1000 + i, comb_style=style, marks=marks)[0], show)
        frng = random.Random(seed * 1000 + i + 11)
        for direction in folds:
            page = fold(page, frng, horizontal=direction == "h")
        if holes:
            page = punch(page, random.Random(seed * 1000 + i + 13), holes)
        if stapled:
            page = staple(page, random.Random(seed * 1000 + i + 17))
        if clipped:
            page = paper_clip(page, random.Random(seed * 1000 + i + 19))
        if stained:
            page = stain(page, random.Random(seed * 1000 + i + 23))
        if stamped:
            page = rubber_stamp(page, random.Random(seed * 1000 + i + 29), stamp_turn)
        sc = scan_override or Scan.random(rng, fmt)
        if dpi:
            sc = replace(sc, dpi=dpi)
        if surround:
            sc = replace(sc, surround=surround, surround_grey=surround_grey)
        if keystone:
            sc = replace(sc, keystone=keystone)
        if blur is not None:
            sc = replace(sc, blur=blur)
        if grey:
            sc = replace(sc, grey=True)
        if shadow or lamp:  # a photo: no bilevel TIFF (a fixed threshold would blacken the shade)
            sc = replace(sc, shadow=shadow, lamp=lamp, fmt="jpg" if sc.fmt == "tif" else sc.fmt)
        img, truth = scan(page, truth, sc, seed * 1000 + i)
        path = save_scan(img, out / f"form_{seed:03d}_{i:03d}.{sc.fmt}", sc)
        path.with_suffix(".truth.json").write_text(json.dumps(truth, indent=1) + "\n")
        paths.append(path)
    return paths
