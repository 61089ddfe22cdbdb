"""Template schema validation."""

from __future__ import annotations

import json

import pytest

from segmentation.errors import TemplateError
from segmentation.template import load_template, parse_template

GOOD = {"name": "t", "page_size": [1000, 1400],
        "fields": [{"name": "surname", "box": [10, 20, 300, 60], "charset": "letters"}]}


def with_(**kw):
    d = json.loads(json.dumps(GOOD))
    d.update(kw)
    return d


def field(**kw):
    f = dict(GOOD["fields"][0])
    f.update(kw)
    return with_(fields=[f])


def test_good_template_parses():
    t = parse_template(GOOD)
    assert t.fields[0].charset == "letters" and t.page_size == (1000, 1400)
    assert t.to_dict() == {**GOOD, "fields": [{**GOOD["fields"][0], "box": [10.0, 20.0, 300.0, 60.0]}]}


def test_a_field_pattern_is_matched_in_full_with_spaces_left_out_and_kept_by_to_dict():
    t = parse_template(field(charset="digits", pattern="[0-9]{8}"))
    spec = t.fields[0]
    assert spec.fits("01021990") and spec.fits("0102 1990")
    assert not spec.fits("0102199") and not spec.fits("010219900") and not spec.fits("")
    assert parse_template(GOOD).fields[0].fits("") and parse_template(t.to_dict()) == t


def test_a_multi_page_template_gives_each_page_of_a_file_its_own_fields_in_turn():
    two = [GOOD["fields"][0], {"name": "total", "box": [10, 20, 300, 60], "charset": "digits", "page": 2}]
    t = parse_template(with_(fields=two), "form.json")
    assert t.pages == 2 and parse_template(GOOD).pages == 1
    assert [[f.name for f in t.for_page(k).fields] for k in (1, 2, 3, 4)] == [["surname"], ["total"]] * 2
    assert t.for_page(4).pages == 1 and t.for_page(2).source == "form.json (page 2)"
    assert parse_template(t.to_dict(), "form.json") == t and "page" not in t.to_dict()["fields"][0]


def test_a_comb_field_records_its_cells_and_keeps_them_through_to_dict():
    t = parse_template(field(cells=14))
    assert t.fields[0].cells == 14 and parse_template(GOOD).fields[0].cells is None
    assert parse_template(t.to_dict()) == t and "cells" not in parse_template(GOOD).to_dict()["fields"][0]


def test_a_tick_box_field_has_the_mark_charset():
    t = parse_template(with_(fields=[GOOD["fields"][0], {"name": "agree", "box": [10, 100, 40, 40], "charset": "mark"}]))
    assert [f.charset for f in t.fields] == ["letters", "mark"]
    assert parse_template(t.to_dict()) == t


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"name": "t", "fields": []}, "missing key"),
        (with_(extra=1), "unknown key"),
        (with_(name=""), "'name'"),
        (with_(page_size=[100]), "page_size"),
        (with_(page_size=[0, 100]), "page_size"),
        (with_(fields=[]), "non-empty list"),
        (field(charset="greek"), "charset 'greek'"),
        (field(box=[0, 0, 10]), "'box'"),
        (field(box=[0, 0, -5, 10]), "positive"),
        (field(box=[900, 0, 200, 10]), "outside page_size"),
        (field(charest="letters"), "unknown key"),
        (with_(fields=[GOOD["fields"][0], GOOD["fields"][0]]), "duplicate field name"),
        ([1, 2], "JSON object"),
        (field(pattern="[0-9"), r"fields\[0\] \('surname'\): 'pattern' '\[0-9' is not a valid regular expression"),
        (field(pattern=8), "'pattern' must be a string"),
        (field(charset="mark", pattern="X"), "takes no 'pattern'"),
        (field(page=0), "'page' must be a whole number"),
        (field(page="2"), "'page' must be a whole number"),
        (field(page=True), "'page' must be a whole number"),
        (field(cells=1), "'cells' must be a whole number from 2 to 200"),
        (field(cells=201), "'cells' must be a whole number"),
        (field(cells=8.0), "'cells' must be a whole number"),
        (field(cells=True), "'cells' must be a whole number"),
        (field(charset="mark", cells=2), "takes no 'cells'"),
        (field(cells=20), r"20 cells in a box 300 wide would each be 15 wide, under 0.3 of the box height 60"),
        (with_(fields=[GOOD["fields"][0], {"name": "b", "box": [10, 20, 30, 40], "charset": "digits", "page": 3}]),
         r"page\(s\) \[2\] of the form have no fields"),
    ],
)
def test_invalid_templates_get_clear_errors(doc, message):
    with pytest.raises(TemplateError, match=message):
        parse_template(doc, "t.json")


def test_template_file_errors_name_the_file_and_place(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text('{"name": "x",\n "page_size": [1, 2],,}')
    with pytest.raises(TemplateError, match=r"broken.json: invalid JSON at line 2"):
        load_template(p)
    with pytest.raises(TemplateError, match="no such template"):
        load_template(tmp_path / "missing.json")
