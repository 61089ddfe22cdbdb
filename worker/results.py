"""Typed results (Page -> Line -> Character, and Field) and the CSV contracts.

This module is the one place that knows the CSV columns. Files are written atomically
(temp file + rename), so a crash mid-run never leaves a truncated CSV."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

CHARACTER_COLUMNS = ("source", "page", "line", "index", "x", "y", "w", "h", "char", "confidence", "alternatives")
FIELD_COLUMNS = ("source", "page", "field", "text", "confidence", "needs_review")
ERROR_COLUMNS = ("source", "page", "error")
CHARACTERS_CSV, FIELDS_CSV, ERRORS_CSV, FORMS_CSV = "characters.csv", "fields.csv", "errors.csv", "forms.csv"
# forms.csv: one row per page read, a column per field (between these), as a back office keys a form
FORM_KEY, FORM_REVIEW = ("source", "page"), "needs_review"
# Template-free field names: field_01... for the page's places to write, text_01... for rows of
# writing outside them, print_01... for rows of print there (a form's title), not writing
FREE_PLACE, FREE_TEXT, FREE_PRINT = "field", "text", "print"

# A field needs review when its weakest character's confidence (after the field's charset
# mask) is below this. Measured on writers the shipped model never saw (bench/review.py):
# at 0.80, 94.3% of characters pass at 99.08% accuracy and 74.6% of the errors are flagged
# (docs/model.md, Confidence and review).
# A field is also flagged when ink that no read character covers is left in it (writing the
# reader lost; worker.pipeline.UNREAD_INK). A blank field is not flagged, unless the whole
# page is blank (worker.pipeline.NOTHING_WRITTEN): then every field is. A template field
# whose text fails its pattern is flagged, and so is one whose pattern changed a reading to
# other than its letter/digit twin (worker.patterns: the text is the likeliest that fits).
# Without a template, a field is flagged where a word of digits holds a letter that is no
# letter/digit twin (worker.pipeline._letter_among_digits), and where its word made a twin
# the other class while another character is sure of the twin's own (Classifier.twins_in_doubt).
REVIEW_THRESHOLD = 0.80


@dataclass
class Character:
    line: int  # 1-based
    index: int  # 1-based position in its line
    word: int  # 1-based word number in its line
    x: int  # input-page pixels
    y: int
    w: int
    h: int
    char: str
    confidence: float
    alternatives: tuple[tuple[str, float], ...] = ()
    field: str | None = None
    work_rect: tuple[int, int, int, int] | None = None  # working-scale box, for annotation


@dataclass
class Line:
    number: int
    characters: list[Character]

    @property
    def text(self) -> str:
        out, word = [], None
        for c in self.characters:
            if word is not None and c.word != word:
                out.append(" ")
            out.append(c.char)
            word = c.word
        return "".join(out)


@dataclass
class Field:
    name: str
    charset: str
    text: str
    confidence: float  # the weakest character's; 1.0 for an empty field
    needs_review: bool
    characters: list[Character] = field(default_factory=list)
    work_rect: tuple[int, int, int, int] | None = None  # the registered field, working scale, for annotation


@dataclass
class Struck:
    """A character struck out (scribbled over, inked solid, looped over) and left out of its
    field's text: the field is flagged for review and errors.csv says where."""

    field: str | None  # the field whose place holds it (None: outside every field)
    rect: tuple[int, int, int, int]  # input-page pixels
    work_rect: tuple[int, int, int, int] | None = None  # working scale, for annotation

    @property
    def warning(self) -> str:
        x, y, w, h = self.rect
        return (f"crossed out: a struck-out character in {self.field or 'no field'} at x={x} y={y} w={w} h={h}, "
                "left out of the text; the field is flagged for review")


@dataclass
class PageResult:
    source: str
    page: int
    lines: list[Line]
    fields: list[Field] = field(default_factory=list)
    size: tuple[int, int] = (0, 0)  # input page (w, h)
    skew: float = 0.0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)  # read, with a caveat: errors.csv rows ('kind: message')
    rotation: int = 0  # degrees clockwise the page was turned to read it (0, 90, 180, 270)
    struck: list[Struck] = field(default_factory=list)  # characters struck out, left out of the text

    @property
    def characters(self) -> list[Character]:
        return [c for ln in self.lines for c in ln.characters]

    @property
    def text(self) -> str:
        return "\n".join(ln.text for ln in self.lines)


@dataclass
class ErrorRow:
    source: str
    page: int | None  # None: the whole file
    error: str


def format_alternatives(alts: Iterable[tuple[str, float]]) -> str:
    return " ".join(f"{c}:{p:.2f}" for c, p in alts)


def character_rows(page: PageResult) -> list[list]:
    return [[page.source, page.page, c.line, c.index, c.x, c.y, c.w, c.h, c.char, f"{c.confidence:.4f}",
             format_alternatives(c.alternatives)] for c in page.characters]


def field_rows(page: PageResult) -> list[list]:
    return [[page.source, page.page, f.name, f.text, f"{f.confidence:.4f}", "true" if f.needs_review else "false"]
            for f in page.fields]


def error_rows(err: ErrorRow) -> list[list]:
    return [[err.source, "" if err.page is None else err.page, err.error]]


def csv_text(columns: Iterable[str], rows: Iterable[list]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows(rows)
    return buf.getvalue()


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: str | Path, data: str | bytes) -> None:
    """Write via a temp file in the same folder, fsync, then rename over the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def annotation_path(out_dir: str | Path, source: str, page: int) -> Path:
    """The annotated PNG of one page (``--annotate``): its name is the source's stem, a hash
    of the whole source path (two scans named alike in different folders), and the page."""
    tag = hashlib.sha1(source.encode()).hexdigest()[:6]
    return Path(out_dir) / f"{Path(source).stem}-{tag}-p{page}.png"


def sort_rows(rows: list[list]) -> list[list]:
    """The one row order of every output: source, then page (then line, index)."""
    def key(r):
        page = r[1] if r[1] not in ("", None) else 0
        rest = tuple(r[2:4]) if len(r) == len(CHARACTER_COLUMNS) else ()
        return (r[0], int(page), *rest)
    return sorted(rows, key=key)


def form_table(fields: list[list]) -> tuple[list[str], list[list]]:
    """forms.csv from fields.csv's (sorted) rows: a row per page read, a column per field name
    in the order the fields first come (the template's), holding the field's text, and
    ``needs_review`` naming the page's fields flagged for review, space-separated. A field
    named like one of those fixed columns gets its column as ``field:<name>``."""
    col = {n: i for i, n in enumerate(FIELD_COLUMNS)}
    names = list(dict.fromkeys(r[col["field"]] for r in fields))
    pages: dict[tuple, tuple[dict[str, str], list[str]]] = {}
    for r in fields:
        texts, flagged = pages.setdefault((r[col["source"]], r[col["page"]]), ({}, []))
        texts[r[col["field"]]] = r[col["text"]]
        if str(r[col["needs_review"]]).lower() == "true":
            flagged.append(r[col["field"]])
    fixed = {*FORM_KEY, FORM_REVIEW}
    columns = [*FORM_KEY, *(f"field:{n}" if n in fixed else n for n in names), FORM_REVIEW]
    return columns, [[src, page, *(texts.get(n, "") for n in names), " ".join(flagged)]
                     for (src, page), (texts, flagged) in pages.items()]


def write_csvs(out_dir: str | Path, chars: list[list], fields: list[list], errors: list[list]) -> dict[str, Path]:
    """Sort and write the output CSVs atomically (fields keep their order within a page), and
    forms.csv, the fields a row per page (form_table)."""
    out = Path(out_dir)
    paths = {"characters": out / CHARACTERS_CSV, "fields": out / FIELDS_CSV, "errors": out / ERRORS_CSV,
             "forms": out / FORMS_CSV}
    fields = sort_rows(fields)
    atomic_write(paths["characters"], csv_text(CHARACTER_COLUMNS, sort_rows(chars)))
    atomic_write(paths["fields"], csv_text(FIELD_COLUMNS, fields))
    atomic_write(paths["errors"], csv_text(ERROR_COLUMNS, sort_rows(errors)))
    atomic_write(paths["forms"], csv_text(*form_table(fields)))
    return paths


def write_outputs(out_dir: str | Path, pages: list[PageResult], errors: list[ErrorRow]) -> dict[str, Path]:
    """Write characters.csv, fields.csv and errors.csv for these pages."""
    return write_csvs(out_dir, [r for p in pages for r in character_rows(p)], [r for p in pages for r in field_rows(p)],
                      [r for e in errors for r in error_rows(e)])
