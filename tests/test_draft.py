"""``formicr template``: a template drafted from a scan of the form reads the form."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.test_read_cli import formicr
from worker.synth.forms import LAYOUT, TICKS, Scan, render_form, save_scan, scan


def scanned(tmp_path, name: str, seed: int, sc: Scan, blank: bool = False):
    page, truth = render_form(seed, marks=True, pen_ink=255 if blank else 0)  # a white pen: the blank form
    img, truth = scan(page, truth, sc, seed)
    return save_scan(img, tmp_path / f"{name}.{sc.fmt}", sc), truth


def test_a_template_drafted_from_a_blank_form_reads_filled_ones(tmp_path):
    from segmentation.decode import decode
    from segmentation.template import load_template
    from worker.pipeline import PageReader, ReadOptions
    from worker.synth.score import score_marks, score_template

    blank, _ = scanned(tmp_path, "blank", 1, Scan(dpi=300, angle=0.8, noise=3), blank=True)
    proc = formicr("template", str(blank), "--out", str(tmp_path / "draft.json"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "draft.png").is_file() and "13 fields" in proc.stdout
    doc = json.loads((tmp_path / "draft.json").read_text())
    # reading order: the layout's fields row by row, then the tick boxes
    kinds = [f"{f[4]} cells" if f[2] == "comb" else "box" for f in LAYOUT] + ["tick"] * len(TICKS)
    listed = [line.split()[2] + (" cells" if line.split()[3] == "cells" else "") for line in proc.stdout.splitlines()[:-1]]
    assert listed == kinds
    assert [f["charset"] for f in doc["fields"]] == ["alnum"] * len(LAYOUT) + ["mark"] * len(TICKS)
    assert [f.get("cells") for f in doc["fields"]] == [f[4] if f[2] == "comb" else None for f in LAYOUT] + [None] * len(TICKS)
    for f, layout in zip(doc["fields"], LAYOUT, strict=False):  # where the layout put it, at 300 DPI
        assert np.allclose(f["box"], np.array(layout[5:9]) * 1.5, atol=0.03 * 1654 * 1.5), (f, layout)
    # name the fields and narrow their charsets as a person would, then read filled forms
    for f, (name, *_rest) in zip(doc["fields"], LAYOUT + [(t[0],) for t in TICKS], strict=True):
        f["name"] = name
    for f, layout in zip(doc["fields"], LAYOUT, strict=False):
        f["charset"] = layout[3]
    (tmp_path / "named.json").write_text(json.dumps(doc))
    reader = PageReader(ReadOptions(template=load_template(tmp_path / "named.json")))
    for i, sc in enumerate([Scan(dpi=200, angle=-1.0, shift=(15, -20), noise=4), Scan(dpi=150, fmt="tif")]):
        path, truth = scanned(tmp_path, f"filled{i}", 40 + i, sc)
        page = reader.read_page(next(decode(path)))
        assert not page.warnings
        assert score_template(truth, page).cer_template < 0.05
        right, n, _ = score_marks(truth, page)
        assert n == len(TICKS) and right == n


def test_a_page_with_nothing_to_make_fields_of_is_a_clear_error(tmp_path, blank_page):
    import cv2

    page = np.full((1400, 1000), 255, np.uint8)
    cv2.putText(page, "NO BOXES HERE", (100, 700), cv2.FONT_HERSHEY_SIMPLEX, 2, 0, 3)
    cv2.imwrite(str(tmp_path / "text.png"), page)
    proc = formicr("template", str(tmp_path / "text.png"))
    assert proc.returncode == 3 and "no printed box" in proc.stderr and "text.png" in proc.stderr
    cv2.imwrite(str(tmp_path / "blank.png"), blank_page)
    proc = formicr("template", str(tmp_path / "blank.png"))
    assert proc.returncode == 3 and "blank.png: blank page" in proc.stderr and "Traceback" not in proc.stderr


def test_a_draft_from_a_filled_form_suggests_each_fields_charset_from_its_writing(tmp_path):
    from worker.draft import charset_from, draft_template

    path, truth = scanned(tmp_path, "filled", 9, Scan(dpi=200, angle=0.5, noise=3))
    doc, _, _ = draft_template(path)
    # what the true writing suggests (read as alnum, 3 characters come out as twins: DAV1S, O2021949, 679184872O1)
    want = [charset_from(f["text"]) for f in truth["fields"] if f["kind"] != "mark"] + ["mark"] * len(TICKS)
    assert [f["charset"] for f in doc["fields"]] == want
    layout = [f["charset"] for f in truth["fields"]]
    assert sum(a == b for a, b in zip(want, layout, strict=True)) >= len(layout) - 1  # the layout's own, but one


def test_a_template_drafted_from_the_pages_of_a_multi_page_form_reads_each_page(tmp_path):
    """`formicr template --pages 2` on a two-page scan: fields numbered across the pages, each
    with its page; the draft reads a batch of such forms page by page."""
    from PIL import Image

    from segmentation.template import load_template
    from worker.pipeline import PageReader, ReadOptions
    from worker.synth.score import score_template

    paths = [scanned(tmp_path, f"p{k}", 60 + k, Scan(dpi=200, angle=0.4, noise=3), blank=True)[0] for k in range(2)]
    pages = [Image.open(p) for p in paths]
    pages[0].save(tmp_path / "blank.tif", save_all=True, append_images=pages[1:], compression="tiff_lzw")
    proc = formicr("template", str(tmp_path / "blank.tif"), "--pages", "2", "--out", str(tmp_path / "two.json"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "two.png").is_file() and (tmp_path / "two-p2.png").is_file() and "26 fields" in proc.stdout
    doc = json.loads((tmp_path / "two.json").read_text())
    assert [f.get("page") for f in doc["fields"]] == [1] * 13 + [2] * 13
    assert [f["name"] for f in doc["fields"]] == [f"field_{i:02d}" for i in range(1, 27)]
    # renamed as a person would (page 2 the same layout here), it reads filled pages in turn
    for f, (name, *_rest) in zip(doc["fields"], (LAYOUT + [(t[0],) for t in TICKS]) * 2, strict=True):
        f["name"] = name + ("_2" if f["page"] == 2 else "")
    (tmp_path / "named.json").write_text(json.dumps(doc))
    reader = PageReader(ReadOptions(template=load_template(tmp_path / "named.json")))
    from segmentation.decode import decode

    for k in range(2):
        path, truth = scanned(tmp_path, f"filled{k}", 70 + k, Scan(dpi=200, angle=-0.5, noise=3))
        page = next(decode(path))
        page.page = k + 1  # as the file's k-th page
        read = reader.read_page(page)
        if k:
            for f in read.fields:
                f.name = f.name.removesuffix("_2")
        assert score_template(truth, read).cer_template < 0.05
    proc = formicr("template", str(tmp_path / "blank.tif"), "--pages", "3", "--out", str(tmp_path / "three.json"))
    assert proc.returncode == 3 and "has 2 page(s), not the 3 asked for" in proc.stderr


def test_a_template_free_read_names_its_fields_as_the_drafted_template_does(tmp_path):
    """Read without a template, every box, comb and tick box is a field named by its place, as
    ``formicr template`` drafts it from the blank form, so one form's reads line up column for
    column with the drafted template's (both skewed, differently)."""
    from segmentation.decode import decode
    from worker.draft import draft_template
    from worker.pipeline import PageReader, ReadOptions
    from worker.synth.score import levenshtein

    blank, _ = scanned(tmp_path, "blank", 3, Scan(dpi=300, angle=1.2, noise=3), blank=True)
    _, drafted, _ = draft_template(blank)
    filled, truth = scanned(tmp_path, "filled", 44, Scan(dpi=200, angle=-1.5, noise=4))
    page = PageReader(ReadOptions()).read_page(next(decode(filled)))
    assert [f.name for f in page.fields] == [f.name for f in drafted]
    assert [f.charset == "mark" for f in page.fields] == [f.kind == "tick" for f in drafted]
    # in reading order, field for field: the layout's fields row by row, then the tick boxes
    want = {f["name"]: f["text"] for f in truth["fields"]}
    names = [f[0] for f in LAYOUT] + [t[0] for t in TICKS]
    edits = sum(levenshtein(f.text.replace(" ", ""), want[n]) for f, n in zip(page.fields, names, strict=True))
    assert edits <= 0.05 * sum(len(want[n]) for n in names), [(f.name, f.text, want[n]) for f, n in zip(page.fields, names, strict=True)]
    for f in page.fields:
        assert all(c.field == f.name for c in f.characters)
        assert f.needs_review == (bool(f.characters) and f.confidence < 0.8) or f.charset == "mark"


@pytest.mark.parametrize(("grey", "index", "fmt"), [(False, 5, "png"), (True, 0, "png"), (False, 0, None)])
def test_a_template_drafted_from_a_stamped_form_leaves_the_stamp_out(tmp_path, grey, index, fmt):
    """A "RECEIVED" stamp's frame is a box (in colour) or breaks into boxes and underlines (in
    grey, or into dashes on a bilevel scan: the third case, a TIFF), and each was drafted as a
    field (HEAD before the fix: 11 and 10 fields for the form's 9; before the dashed frames, 11
    for the third). Drafted as a template-free read names them: the stamp is print, no field."""
    from segmentation.decode import decode
    from worker.draft import draft_template
    from worker.pipeline import PageReader
    from worker.synth.forms import generate

    form = generate(tmp_path, index + 1, seed=900, stamped=True, grey=grey, fmt=fmt)[index]
    _, drafted, _ = draft_template(form)
    read = PageReader().read_page(next(iter(decode(form))))
    assert len(drafted) == len(LAYOUT), [f.box for f in drafted]
    assert [f.name for f in drafted] == [f.name for f in read.fields if f.name.startswith("field_")]


def test_a_template_drafted_from_a_blank_form_printed_dashed_has_its_boxes_combs_and_tick_boxes():
    from worker.draft import draft_fields
    from worker.synth.forms import render_form, scan

    page, truth = render_form(3, marks=True, pen_ink=255, dashes=(4, 6))  # a white pen: the blank form
    img, _ = scan(page, truth, Scan(dpi=300, angle=0.8, noise=3), 3)
    drafted = draft_fields(img)
    # every box and comb, with its printed cells, then the tick boxes (four dashes a side)
    assert [(f.kind, f.cells) for f in drafted] == \
        [("comb", f[4]) if f[2] == "comb" else ("box", 1) for f in LAYOUT] + [("tick", 1)] * len(TICKS)
