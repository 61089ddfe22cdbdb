"""Tick boxes: the inked share of a box's inside, and reading generated forms' tick boxes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segmentation.lines import find_lines
from segmentation.marks import MARK_INK, mark_ink, read_mark, snap_to_box, snap_to_squares


def box_page(fill=None, off: int = 0) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A 40 px printed box on a working-scale binary page (ink 255); ``fill`` draws in it.
    Returns the page and the box's rectangle as registration would give it, ``off`` px out."""
    page = np.zeros((200, 200), np.uint8)
    cv2.rectangle(page, (80, 80), (120, 120), 255, 3)
    if fill is not None:
        fill(page)
    return page, (80 + off, 80 + off, 41, 41)


TICK = lambda p: cv2.polylines(p, [np.array([(88, 102), (96, 114), (118, 84)], np.int32)], False, 255, 3)  # noqa: E731
CROSS = lambda p: (cv2.line(p, (86, 86), (114, 114), 255, 3), cv2.line(p, (114, 86), (86, 114), 255, 3))  # noqa: E731
FILLED = lambda p: cv2.rectangle(p, (84, 84), (116, 116), 255, -1)  # noqa: E731
STRUCK = lambda p: cv2.line(p, (84, 100), (116, 100), 255, 3)  # noqa: E731
SPECK = lambda p: cv2.circle(p, (100, 100), 1, 255, -1)  # noqa: E731


@pytest.mark.parametrize(("fill", "marked"), [(None, False), (SPECK, False), (TICK, True), (CROSS, True),
                                              (FILLED, True), (STRUCK, True)],
                         ids=["empty", "speck", "tick", "cross", "filled", "struck-through"])
@pytest.mark.parametrize("off", [0, 4], ids=["registered", "4px-off"])
def test_a_box_is_marked_by_the_ink_inside_its_printed_border(fill, marked, off):
    page, rect = box_page(fill, off)
    share = mark_ink(page, snap_to_box(rect, find_lines(page).boxes))
    assert read_mark(share)[0] == marked, share
    # not snapped to a printed box (a filled box is not found as one): the registered rectangle
    assert read_mark(mark_ink(page, rect))[0] == marked, share


def test_confidence_is_lowest_at_the_threshold_and_full_for_an_empty_or_clearly_marked_box():
    assert read_mark(0.0) == (False, 1.0)
    assert read_mark(2 * MARK_INK) == (True, 1.0)
    assert read_mark(MARK_INK * 0.9)[1] < 0.2 and read_mark(MARK_INK * 1.1)[1] < 0.2


@pytest.mark.parametrize(("pen", "fmt"), [(0, None), (180, "png")], ids=["pen", "pencil"])
def test_tick_boxes_on_generated_forms_are_read_and_never_as_characters(tmp_path, pen, fmt):
    """With the template, by name; without one, every tick box found on the page, a field in
    reading order among the page's other places, its mark kept out of the characters."""
    from segmentation.decode import decode
    from segmentation.template import load_template
    from worker.pipeline import PageReader, ReadOptions
    from worker.synth.forms import TICKS, generate
    from worker.synth.score import load_truth, score_free, score_free_marks, score_marks, score_template

    # PNG, JPEG and bilevel TIFF at 150-400 DPI; a pencil paler than Otsu's threshold on PNG
    paths = generate(tmp_path, 6, seed=31, marks=True, pen_ink=pen, fmt=fmt)
    reader = PageReader(ReadOptions(template=load_template(tmp_path / "template.json")))
    free_reader = PageReader(ReadOptions(), classifier=reader.classifier)
    right = free_right = n = 0
    states = set()
    for p in paths:
        truth, image = load_truth(p), next(decode(p))
        page, free = reader.read_page(image), free_reader.read_page(image)
        r, k, _ = score_marks(truth, page)
        right, n = right + r, n + k
        free_right += score_free_marks(truth, free)[0]
        states |= {f["state"] for f in truth["fields"] if f["kind"] == "mark"}
        assert score_template(truth, page).cer_template < 0.05
        assert score_free(truth, free).cer_free < 0.05
        assert not any(c.field in {t[0] for t in TICKS} for c in page.characters)
        assert {f.text for f in page.fields if f.charset == "mark"} <= {"X", ""}
        assert [f.name for f in free.fields if f.charset == "mark"] == ["field_10", "field_11", "field_12", "field_13"]
        ticks = [f["page_box"] for f in truth["fields"] if f["kind"] == "mark"]
        assert not any(x <= c.x + c.w / 2 <= x + w and y <= c.y + c.h / 2 <= y + h
                       for c in free.characters for x, y, w, h in ticks)
    assert n == 24 and right == n and free_right == n
    assert {"tick", "cross", "empty"} <= states


def _scribble(p):
    for y in range(84, 118, 6):  # strokes run from border to border, 4 px ink and 2 px paper
        cv2.line(p, (80, y), (120, y + 2), 255, 4)


def _corner_speck(p):  # a bilevel scan's speck joined to the box's corner, 6 px out
    cv2.line(p, (80, 74), (80, 80), 255, 2)
    cv2.circle(p, (80, 74), 2, 255, -1)


def _long_tick(p):  # a tick whose tail runs 6 px out over the top edge
    cv2.polylines(p, [np.array([(88, 102), (96, 114), (124, 74)], np.int32)], False, 255, 3)


@pytest.mark.parametrize(("fill", "found"), [(None, True), (TICK, True), (CROSS, True), (_scribble, True),
                                             (_corner_speck, True), (_long_tick, True),
                                             (lambda p: cv2.rectangle(p, (80, 80), (120, 120), 255, -1), False)],
                         ids=["empty", "tick", "cross", "scribbled", "corner-speck", "long-tick", "solid"])
def test_a_tick_box_is_any_small_printed_square_but_a_solid_one(fill, found):
    """A box scribbled in from border to border (most of its inside ink) is still a tick box,
    and so is one with a speck or a tick's tail sticking out of it (found as its printed
    square); a solid square (a printed registration mark or bullet) is not."""
    from segmentation.lines import find_lines
    from segmentation.marks import find_tick_boxes

    page, _ = box_page(fill)
    page = cv2.copyMakeBorder(page, 0, 1800, 0, 1200, cv2.BORDER_CONSTANT, value=0)  # a 2000 px page
    boxes = find_tick_boxes(page, find_lines(page).mask, 16, 60)
    assert (len(boxes) == 1) == found, boxes
    if found:  # the printed square, 40 px and a pen's width
        assert all(abs(a - b) <= 3 for a, b in zip(boxes[0], (78, 78, 45, 45), strict=True)), boxes


def test_a_dotted_tick_box_scribbled_in_is_found_closed_across_its_dots_and_judged_on_its_ink():
    """A tick box printed in dots is one outline only with its dots' gaps closed (``dots_closed``,
    the gap measured on the dashed lines drawn), and a scribble the closing fills in solid is
    judged on the page as it is (``inside_on``): a tick box, not a printed bullet."""
    from segmentation.lines import dots_closed
    from segmentation.marks import find_tick_boxes

    page = np.zeros((2000, 1400), np.uint8)
    square = np.zeros_like(page)
    cv2.rectangle(square, (300, 300), (345, 345), 255, 3)
    dashes = square.copy()  # the square drawn whole, as dashed_lines would
    for k in range(0, 46, 9):  # dots 3 px long, 6 px apart, along each side
        for x0, y0, dx, dy in ((300 + k, 300, 3, 3), (300 + k, 343, 3, 3), (300, 300 + k, 3, 3), (343, 300 + k, 3, 3)):
            page[y0 : y0 + dy, x0 : x0 + dx] = 255
    for y in range(310, 338, 4):  # scribbled in, a stroke every 4 px
        cv2.line(page, (308, y), (338, y + 2), 255, 2)
    none = np.zeros_like(page)
    assert find_tick_boxes(page, none, 16, 60) == []  # its dots are no square
    closed = dots_closed(page, dashes)
    assert find_tick_boxes(closed, none, 16, 60) == []  # closed, the scribble is solid
    found = find_tick_boxes(closed, none, 16, 60, inside_on=page)
    assert len(found) == 1 and all(abs(a - b) <= 3 for a, b in zip(found[0], (300, 300, 46, 46), strict=True)), found


def test_tick_boxes_do_not_count_against_registration(tmp_path):
    """A form of a few boxes and more tick boxes: registration is judged on the boxes it can
    match (tick boxes are mostly too small to be found as boxes), so the page is not flagged."""
    from segmentation.decode import decode
    from segmentation.template import parse_template
    from worker.pipeline import PageReader, ReadOptions
    from worker.synth.forms import Scan, render_form, save_scan, scan, template_dict
    from worker.synth.score import score_marks

    doc = template_dict(marks=True)
    doc["fields"] = [f for f in doc["fields"] if f["name"] in ("surname", "city", "account") or f["charset"] == "mark"]
    page, truth = render_form(12, marks=True)
    sc = Scan(dpi=200, angle=0.6, noise=3)
    img, truth = scan(page, truth, sc, 12)
    result = PageReader(ReadOptions(template=parse_template(doc))).read_page(
        next(decode(save_scan(img, tmp_path / "few.png", sc))))
    assert not result.warnings and not any(f.needs_review for f in result.fields if f.charset == "mark")
    right, n, _ = score_marks(truth, result)
    assert n == 4 and right == 4


def test_a_pale_mark_in_an_empty_box_of_an_ink_form_is_flagged_not_read(tmp_path):
    """A pencil tick beside ink writing: Otsu leaves it out, the pale binarisation sees it; the
    box reads empty, as the ink says, and is flagged for a person to look at."""
    import random

    from segmentation.decode import decode
    from segmentation.template import parse_template
    from worker.pipeline import PageReader, ReadOptions
    from worker.synth.forms import TICKS, Scan, draw_tick, render_form, save_scan, scan, template_dict

    page, truth = render_form(3, marks=True)
    empty = [f for f in truth["fields"] if f.get("state") == "empty"]
    assert empty, "seed 3 leaves a tick box empty"
    name = empty[0]["name"]
    _, _, x, y, side = next(t for t in TICKS if t[0] == name)
    draw_tick(page, "tick", x, y, side, 4, 200, random.Random(0))  # grey 200: a pencil
    sc = Scan(dpi=200, angle=0.4, noise=2)
    img, truth = scan(page, truth, sc, 3)
    result = PageReader(ReadOptions(template=parse_template(template_dict(marks=True)))).read_page(
        next(decode(save_scan(img, tmp_path / "pale.png", sc))))
    field = next(f for f in result.fields if f.name == name)
    assert field.text == "" and field.needs_review
    assert not any(f.needs_review for f in result.fields if f.charset == "mark" and f.name != name)


def test_a_qr_code_printed_on_the_form_is_not_taken_for_tick_boxes(tmp_path):
    """A QR code's three finder patterns are small printed squares inked along their edges;
    their solid cores tell them apart, so a template-free read and a drafted template see
    only the form's four tick boxes."""
    from segmentation.decode import decode
    from worker.draft import draft_fields
    from worker.pipeline import PageReader, ReadOptions
    from worker.synth.forms import generate

    path = generate(tmp_path, 1, seed=31, marks=True, fmt="png")[0]
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    h, w = img.shape
    side = int(0.08 * w)  # 17 mm on A4
    qr = cv2.resize(cv2.QRCodeEncoder.create().encode("https://example.org/forms/application-v1"), (side, side),
                    interpolation=cv2.INTER_NEAREST)
    img[int(0.85 * h) : int(0.85 * h) + side, int(0.8 * w) : int(0.8 * w) + side] = qr
    cv2.imwrite(str(path), img)
    read = PageReader(ReadOptions()).read_page(next(decode(path)))
    assert [f.name for f in read.fields if f.charset == "mark"] == ["field_10", "field_11", "field_12", "field_13"]
    assert [f.name for f in draft_fields(img) if f.kind == "tick"] == ["field_10", "field_11", "field_12", "field_13"]


def test_registered_tick_boxes_a_side_off_all_alike_move_onto_the_ones_printed():
    """Below the last registered field a photo's leftover keystone leaves the registered tick
    boxes a side or more off, all about alike: each moves onto the printed tick box it belongs
    to, not onto a neighbour; one with no printed box near stays, and a square of another size
    is not taken."""
    printed = [(100, 560, 44, 46), (400, 562, 44, 46), (700, 565, 44, 46), (1000, 600, 120, 120)]
    registered = [(120, 515, 40, 40), (415, 518, 40, 40), (710, 520, 40, 40), (1010, 525, 40, 40),
                  (130, 200, 40, 40)]
    assert snap_to_squares(registered, printed) == printed[:3] + registered[3:]
    assert snap_to_squares(registered, []) == registered
