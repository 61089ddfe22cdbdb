"""Score reading results against generated ground truth: CER and characters found."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

from segmentation.charsets import MARK
from segmentation.lines import reading_order
from worker.results import FREE_PRINT, Field, PageResult


def levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def truth_path(form: str | Path) -> Path:
    return Path(form).with_suffix(".truth.json")


def load_truth(form: str | Path) -> dict:
    return json.loads(truth_path(form).read_text())


def truth_lines(truth: dict) -> list[str]:
    """Reading-order lines of the truth: fields on one row, left to right. Rows are taken from
    the form's own layout (``box``), not the scan's: on a page scanned at a slant, the fields
    of one row sit at different scan heights."""
    rows: list[list[dict]] = []
    for f in sorted(_text_fields(truth), key=lambda f: f["box"][1]):
        if rows and abs(rows[-1][0]["box"][1] - f["box"][1]) < 0.5 * f["box"][3]:
            rows[-1].append(f)
        else:
            rows.append([f])
    lines = [" ".join(f["text"] for f in sorted(r, key=lambda f: f["box"][0]) if f["text"]) for r in rows]
    return [ln for ln in lines if ln]  # a row whose fields were all left blank is no line


@dataclass
class Score:
    chars: int = 0  # truth characters
    edits_template: int = 0
    edits_free: int = 0
    found: int = 0
    fields: int = 0  # template mode: text fields, those read wrong and not flagged, read right and flagged
    wrong_unflagged: int = 0
    right_flagged: int = 0
    struck: int = 0  # template mode: text fields holding a struck-out character, those read right, those flagged
    struck_right: int = 0
    struck_flagged: int = 0

    def __add__(self, o: Score) -> Score:
        return Score(*(getattr(self, f.name) + getattr(o, f.name) for f in fields(self)))

    @property
    def cer_template(self) -> float:
        return self.edits_template / max(self.chars, 1)

    @property
    def cer_free(self) -> float:
        return self.edits_free / max(self.chars, 1)

    @property
    def found_rate(self) -> float:
        return self.found / max(self.chars, 1)


def _found(truth: dict, page: PageResult) -> int:
    boxes = [(c.x, c.y, c.w, c.h) for c in page.characters]
    used: set[int] = set()
    n = 0
    for f in truth["fields"]:
        for ch in f["chars"]:
            x, y, w, h = ch["bbox"]
            for i, (px, py, pw, ph) in enumerate(boxes):
                cx, cy = px + pw / 2, py + ph / 2
                if i not in used and x <= cx <= x + w and y <= cy <= y + h:
                    used.add(i)
                    n += 1
                    break
    return n


def _text_fields(truth: dict) -> list[dict]:
    """The fields written in characters: tick boxes are scored apart (``score_marks``)."""
    return [f for f in truth["fields"] if f.get("kind") != "mark"]


def score_template(truth: dict, page: PageResult) -> Score:
    """Per-field CER (spaces ignored), characters found, and how the review flags fell: fields
    read wrong without a flag (what escapes a reviewer), fields read right with one (work for
    nothing), for a template-mode read."""
    got = {f.name: f for f in page.fields}
    text = {n: f.text.replace(" ", "") for n, f in got.items()}
    want = _text_fields(truth)
    s = Score(chars=sum(len(f["text"]) for f in want), found=_found(truth, page), fields=len(want))
    s.edits_template = sum(levenshtein(text.get(f["name"], ""), f["text"]) for f in want)
    for f in want:
        g = got.get(f["name"])
        flagged = g is not None and g.needs_review
        s.wrong_unflagged += text.get(f["name"], "") != f["text"] and not flagged
        s.right_flagged += text.get(f["name"], "") == f["text"] and flagged
        if f.get("crossed"):
            s.struck += 1
            s.struck_right += text.get(f["name"], "") == f["text"]
            s.struck_flagged += flagged
    return s


def score_marks(truth: dict, page: PageResult) -> tuple[int, int, int]:
    """(tick boxes read right, tick boxes, of the wrong ones those flagged for review), for a
    template-mode read: the template names each tick box."""
    got = {f.name: f for f in page.fields}
    return _mark_counts([(f["text"], got.get(f["name"])) for f in truth["fields"] if f.get("kind") == "mark"])


def score_free_fields(truth: dict, page: PageResult) -> tuple[int, int, int, int]:
    """(fields read right, fields, read wrong and not flagged, read right and flagged) for a
    template-free read, whose fields are named by place in reading order (``field_01``...):
    the truth's text fields are matched in the form's own order, which is its reading order, to
    the read's fields that are not tick boxes (a box not found shifts the rest, as it shifts
    their names)."""
    want = [f["text"] for f in _text_fields(truth)]
    got = [f for f in page.fields if f.charset != MARK and not _printed(f.name)]
    right = [k < len(got) and got[k].text.replace(" ", "") == w for k, w in enumerate(want)]
    flagged = [k < len(got) and got[k].needs_review for k in range(len(want))]
    return (sum(right), len(want), sum(not r and not f for r, f in zip(right, flagged, strict=True)),
            sum(r and f for r, f in zip(right, flagged, strict=True)))


def score_free_marks(truth: dict, page: PageResult) -> tuple[int, int, int]:
    """The same as score_marks for a template-free read, whose tick boxes are fields named by
    place in reading order: the truth's tick boxes are matched in the form's reading order (a
    box not found is wrong)."""
    marks = [f for f in truth["fields"] if f.get("kind") == "mark"]
    order = reading_order([tuple(f["box"]) for f in marks])
    got = [f for f in page.fields if f.charset == MARK]
    return _mark_counts([(marks[i]["text"], got[k] if k < len(got) else None) for k, i in enumerate(order)])


def _mark_counts(pairs: list[tuple[str, Field | None]]) -> tuple[int, int, int]:
    right = sum(g is not None and g.text == want for want, g in pairs)
    flagged = sum(g is not None and g.text != want and g.needs_review for want, g in pairs)
    return right, len(pairs), flagged


def _printed(field: str | None) -> bool:
    """A template-free field the reader found to be print (a form's title), not writing: it
    stands apart from the writing's fields, so it is no insertion in them (writing it took
    for print is missing from them, and scored so)."""
    return bool(field) and field.startswith(f"{FREE_PRINT}_")


def score_free(truth: dict, page: PageResult) -> Score:
    """Page CER for a template-free read: lines in reading order, spaces ignored, rows the
    reader found to be print left out."""
    want = "\n".join(ln.replace(" ", "") for ln in truth_lines(truth))
    have = "\n".join(t for ln in page.lines
                     if (t := "".join(c.char for c in ln.characters if not _printed(c.field))))
    s = Score(chars=sum(len(f["text"]) for f in _text_fields(truth)), found=_found(truth, page))
    s.edits_free = levenshtein(have, want)
    return s
