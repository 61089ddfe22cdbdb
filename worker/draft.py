"""``formicr template``: draft a template from a scan of the form, blank or filled in.

Every printed box, comb and underline the reader finds becomes a field (bar a rubber stamp's,
which holds print), named by its place (``field_01`` in reading order), with the charset
``alnum``, or ``mark`` for a small square box on its own (a tick box); a comb's field records
its number of cells (``cells``: drafted from a blank form, they are the printed ones). On a
filled-in scan, a field written in digits (or letters) only is drafted as a digits (letters)
field. The draft is valid as it stands; a person renames the fields and checks their charsets
and cells, helped by the annotated page written beside it."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from segmentation.charsets import DIGITS, LETTERS, MARK
from segmentation.clean import clean_page
from segmentation.decode import PageImage, decode
from segmentation.errors import BlankPageError
from segmentation.glyphs import find_glyphs, reading_places
from segmentation.lines import reading_order, remove_lines
from segmentation.marks import split_tick_boxes
from segmentation.template import MIN_CELL_ASPECT, parse_template
from worker.pipeline import page_lines, print_places, stamp_places
from worker.results import atomic_write

CHARSET_SHARE = 0.8  # a filled-in field this much digits (or letters) is drafted as a digits (letters) field
UNDERLINE_HEIGHT = 0.03  # writing space above an underline, as a share of the page's long side, without boxes to go by


@dataclass
class DraftField:
    name: str
    box: tuple[int, int, int, int]  # input-page pixels
    charset: str
    kind: str  # box | comb | line | tick
    cells: int
    page: int = 1  # the form's page it is on


def draft_fields(grey: np.ndarray) -> list[DraftField]:
    """The fields a template for this page would have, in reading order."""
    clean = clean_page(grey)
    lines = page_lines(clean)
    long_side = max(grey.shape)
    found: list[tuple[tuple[int, int, int, int], str, int]] = []
    ticks, boxes = split_tick_boxes(clean, lines.mask, lines.boxes)
    for b in boxes:
        found.append((clean.input_box(*b.rect), "comb" if b.is_comb else "box", len(b.cells) if b.is_comb else 1))
    heights = [f[0][3] for f in found]
    space = int(np.median(heights)) if heights else int(UNDERLINE_HEIGHT * long_side)
    for r in lines.underlines:
        x, y, w, h = clean.input_box(*r)
        found.append(((x, max(0, y - space), w, min(space + h, y + h)), "line", 1))
    found += [(clean.input_box(*r), "tick", 1) for r in ticks]
    # ordered as a template-free read names its fields: the same places, on the deskewed page,
    # less those holding print (a rubber stamp: its frame's boxes), which it names print_NN
    char_lines = replace(lines, boxes=boxes)
    where = [p.rect for p in reading_places(char_lines, clean.binary.shape)] + list(ticks)
    glyphs = find_glyphs(remove_lines(clean.binary, lines, clean.scale, clean.faint[1]), char_lines)
    printed = print_places(glyphs, where, stamp_places(clean, char_lines, ticks, glyphs))
    ordered = [found[i] for i in reading_order(where) if i not in printed]
    width = max(2, len(str(len(ordered))))
    return [DraftField(f"field_{i:0{width}d}", box, MARK if kind == "tick" else "alnum", kind, cells)
            for i, (box, kind, cells) in enumerate(ordered, start=1)]


def draft_template(path: str | Path, name: str | None = None,
                   pages: int = 1) -> tuple[dict, list[DraftField], list[np.ndarray]]:
    """(template dict, its fields, the pages) drafted from the first ``pages`` pages of ``path``,
    taken as the pages of one form (fields numbered across them, each with its ``page``).
    Raises InputError subclasses for a bad file, and BlankPageError when a page has no field
    or the file has fewer pages."""
    images, fields = [], []
    for page in decode(path):
        if len(images) == pages:
            break
        where = f"{path}: page {page.page}" if pages > 1 else str(path)
        try:
            found = draft_fields(page.image)
        except BlankPageError as exc:
            raise BlankPageError(f"{where}: {exc}") from exc
        if not found:
            raise BlankPageError(f"{where}: no printed box, comb or underline found to make fields of")
        images.append(page.image)
        fields += [replace(f, page=page.page) for f in found]
    if len(images) < pages:
        raise BlankPageError(f"{path}: has {len(images)} page(s), not the {pages} asked for")
    width = max(2, len(str(len(fields))))
    fields = [replace(f, name=f"field_{i:0{width}d}") for i, f in enumerate(fields, start=1)]
    w, h = max(im.shape[1] for im in images), max(im.shape[0] for im in images)
    doc = {"name": name or Path(path).stem, "page_size": [w, h],
           "fields": [{"name": f.name, "box": list(f.box), "charset": f.charset} | ({"page": f.page} if pages > 1 else {})
                      | ({"cells": f.cells} if f.kind == "comb" and f.box[2] >= MIN_CELL_ASPECT * f.box[3] * f.cells
                         else {}) for f in fields]}
    template = parse_template(doc, str(path))  # the draft is valid as written
    # a filled-in scan says more: a field written in digits only is a digits field
    from worker.pipeline import PageReader, ReadOptions

    reader = PageReader(ReadOptions(template=template))
    read = {f.name: f.text.replace(" ", "") for k, im in enumerate(images, start=1)
            for f in reader.read_page(PageImage(im, str(path), k, None)).fields}
    for f, spec in zip(fields, doc["fields"], strict=True):
        if f.charset != MARK:
            f.charset = spec["charset"] = charset_from(read.get(f.name, ""))
    return doc, fields, images


def charset_from(text: str) -> str:
    """The charset a field's written text suggests: digits or letters when at least
    ``CHARSET_SHARE`` of it (and three characters or more) is one class, else alnum."""
    if len(text) < 3:
        return "alnum"
    digits = sum(c in DIGITS for c in text) / len(text)
    letters = sum(c in LETTERS for c in text) / len(text)
    return "digits" if digits >= CHARSET_SHARE else "letters" if letters >= CHARSET_SHARE else "alnum"


def annotate_draft(grey: np.ndarray, fields: list[DraftField]) -> np.ndarray:
    """The page with each drafted field outlined and labelled with its name and charset."""
    img = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    img = (img * 0.55 + 115).astype(np.uint8)
    scale = max(0.5, max(grey.shape) / 2500)
    for f in fields:
        x, y, w, h = f.box
        col = (40, 140, 40) if f.charset == MARK else (180, 90, 20)
        cv2.rectangle(img, (x, y), (x + w, y + h), col, max(2, int(2 * scale)))
        label = f"{f.name} {f.charset}" + (f" ({f.cells} cells)" if f.kind == "comb" else f" ({f.kind})")
        cv2.putText(img, label, (x, max(14, y - int(6 * scale))), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, col,
                    max(1, int(1.5 * scale)), cv2.LINE_AA)
    return img


def write_draft(path: str | Path, out: Path, name: str | None = None,
                pages: int = 1) -> tuple[list[DraftField], list[Path]]:
    """Draft the template for ``path`` into ``out`` (JSON) and, per page, ``out`` with ``.png``
    (``-p2.png``... for later pages: the annotated page); returns the fields and the PNGs."""
    doc, fields, images = draft_template(path, name, pages)
    atomic_write(out, (json.dumps(doc, indent=2) + "\n").encode())
    pngs = []
    for k, grey in enumerate(images, start=1):
        ok, buf = cv2.imencode(".png", annotate_draft(grey, [f for f in fields if f.page == k]))
        png = out.with_suffix(".png") if k == 1 else out.with_name(f"{out.stem}-p{k}.png")
        if ok:
            atomic_write(png, buf.tobytes())
            pngs.append(png)
    return fields, pngs
