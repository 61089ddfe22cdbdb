"""Characters struck out: found on the ink, left out of the text, their fields flagged."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from segmentation.decode import decode
from segmentation.strike import find_strikes
from segmentation.template import load_template
from worker.pipeline import PageReader, ReadOptions
from worker.synth.forms import STRIKES, Writer, draw_glyph, draw_strike, generate

H = 60  # glyph height, px


def _row(texts: str, strikes: dict[int, str], seed: int = 3, gap: float = 0.45):
    """Ink (255) of one row of characters at H px, some struck out in the given style, and
    each character's place (x, y, w, h)."""
    rng = random.Random(seed)
    w = Writer(0.05, 0.01, 0.1, 1.0, 0.7, 0.3, 11)
    canvas = np.full((H + 60, 40 + int(len(texts) * H * (0.7 + gap))), 255, np.uint8)
    spots = []
    for i, ch in enumerate(texts):
        x, y = 20 + i * H * (0.7 + gap), 30
        bbox = draw_glyph(canvas, ch, x, y, H * 0.7, H, w, rng)
        if i in strikes:
            draw_strike(canvas, (int(x), y, int(H * 0.7), H), 6, rng, style=strikes[i])
        spots.append(bbox)
    return np.where(canvas < 128, 255, 0).astype(np.uint8), spots


def _centre_in(r, spot) -> bool:
    cx, cy = r[0] + r[2] / 2, r[1] + r[3] / 2
    x, y, w, h = spot
    return x - 0.2 * w <= cx <= x + 1.2 * w and y <= cy <= y + h


@pytest.mark.parametrize("style", [s for s in STRIKES if s != "scribble"])  # see Known limitations
def test_a_struck_out_character_is_found_and_its_neighbours_are_not(style):
    text = "WMB8EAH0"
    ink, spots = _row(text, {3: style})
    out, struck = find_strikes(ink, [(0, 0, ink.shape[1], ink.shape[0])])
    assert len(struck) == 1 and _centre_in(struck[0], spots[3])
    x, y, w, h = struck[0]
    assert out[y: y + h, x: x + w].sum() < 0.1 * ink[y: y + h, x: x + w].sum(), "the strike is taken off the ink"
    for i, (sx, sy, sw, sh) in enumerate(spots):
        if i != 3:  # every other character keeps its ink
            assert out[sy: sy + sh, sx: sx + sw].sum() > 0.9 * ink[sy: sy + sh, sx: sx + sw].sum()


def test_writing_without_strikes_loses_nothing():
    ink, _ = _row("WMWNB8QA0R", {})
    out, struck = find_strikes(ink, [(0, 0, ink.shape[1], ink.shape[0])])
    assert struck == [] and (out == ink).all()


def test_a_solid_strike_touching_its_neighbour_leaves_the_neighbours_strokes():
    ink, spots = _row("SEN", {1: "solid"}, gap=0.02)  # written close: the blot joins its neighbours
    rest, _ = _row("ABCDFGKL", {})  # and more of the writer's hand beside it, apart
    ink = np.hstack([ink, rest])
    out, struck = find_strikes(ink, [(0, 0, ink.shape[1], ink.shape[0])])
    assert len(struck) == 1 and _centre_in(struck[0], spots[1])
    for i in (0, 2):
        x, y, w, h = spots[i]
        assert out[y: y + h, x: x + w].sum() > 0.3 * ink[y: y + h, x: x + w].sum()  # (the blot covers some)


def test_pieces_outside_the_places_are_not_judged():
    ink, spots = _row("AB8E", {1: "solid"})
    out, struck = find_strikes(ink, [(0, 0, 5, 5)])
    assert struck == [] and (out == ink).all()


@pytest.fixture(scope="module")
def struck_forms(tmp_path_factory):
    out = tmp_path_factory.mktemp("struck")
    return out, generate(out, count=4, seed=31, fmt="png", cross_outs=1.0)


def test_forms_with_struck_characters_read_without_them_and_are_flagged(struck_forms):
    out, forms = struck_forms
    reader = PageReader(ReadOptions(template=load_template(out / "template.json")))
    crossed = right = found = 0
    for form in forms:
        truth = json.loads(form.with_suffix(".truth.json").read_text())
        page = reader.read_page(next(decode(form)))
        got = {f.name: f for f in page.fields}
        names = {s.field for s in page.struck}
        assert len(page.warnings) >= len(page.struck) and all(
            any(w.startswith("crossed out:") and s.field in w for w in page.warnings) for s in page.struck)
        for name in names:  # every field with a strike found is flagged for review
            assert got[name].needs_review
        for f in truth["fields"]:
            if f.get("crossed"):
                crossed += 1
                found += f["name"] in names
                right += got[f["name"]].text.replace(" ", "") == f["text"]
            else:
                assert f["name"] not in names, f"no strike in {f['name']} of {form.name}"
    assert crossed >= 20
    assert found >= 0.7 * crossed and right >= 0.6 * crossed, (crossed, found, right)


def test_forms_without_strikes_report_none(form_files):
    reader = PageReader()
    for form in form_files:
        page = reader.read_page(next(decode(form)))
        assert page.struck == [] and not any(w.startswith("crossed out") for w in page.warnings)
