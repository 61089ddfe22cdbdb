"""The review sheet: one HTML page listing every field that needs review, each with the crop
of the page it was read from, so a reviewer keys corrections from the image without opening
the scans. Written with ``--annotate``, beside the CSVs, by both drivers."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import numpy as np

from worker.results import FIELD_COLUMNS, annotation_path, atomic_write

REVIEW_HTML = "review.html"
CROP_MARGIN = 0.35  # around the field: this fraction of its height above and to the sides, twice below (its label)
NARROW_RIGHT = 6  # a crop reaches at least this many field heights right of the field's left edge


def crop_path(page_png: Path, field: str) -> Path:
    """Where the crop of ``field`` on the page annotated at ``page_png`` goes (a sibling folder)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", field)
    return page_png.parent / "review" / f"{page_png.stem}-{safe}.png"


def field_crop(img: np.ndarray, rect: tuple[int, int, int, int]) -> np.ndarray:
    """The annotated page around a field, with a margin for writing run past its edges."""
    x, y, w, h = rect
    m = int(round(CROP_MARGIN * h))
    right = max(x + w + m, x + NARROW_RIGHT * h)  # a tick box: its printed label beside it too
    y0, y1 = max(0, y - m), min(img.shape[0], y + h + 2 * m)
    x0, x1 = max(0, x - m), min(img.shape[1], right)
    return img[y0:y1, x0:x1]


def _href(path: Path, base: Path) -> str:
    return html.escape(Path(os.path.relpath(path, base)).as_posix())


def write_review_sheet(out_dir: str | Path, fields: list[list], annotated_dir: Path) -> Path:
    """``OUT/review.html``: the rows of fields.csv that need review, in its order, each with
    its crop where one was written under ``annotated_dir``.
    Always written, so a sheet left by an earlier run is never taken for this one's."""
    out = Path(out_dir)
    col = {c: i for i, c in enumerate(FIELD_COLUMNS)}
    flagged = [r for r in fields if str(r[col["needs_review"]]).lower() == "true"]
    rows = []
    for r in flagged:
        source, page, name = str(r[col["source"]]), int(r[col["page"]]), str(r[col["field"]])
        png = annotation_path(annotated_dir, source, page)
        crop = crop_path(png, name)
        img = (f'<a href="{_href(png, out)}"><img src="{_href(crop, out)}" alt="{html.escape(name)}"></a>'
               if crop.exists() else "(no crop: the field was not located on the page)")
        text = str(r[col["text"]])
        rows.append(f"<tr><td>{html.escape(source)}</td><td>{page}</td><td>{html.escape(name)}</td>"
                    f"<td class=t>{html.escape(text) or '<i>blank</i>'}</td><td>{float(r[col['confidence']]):.2f}</td>"
                    f"<td>{img}</td></tr>")
    doc = ("<!doctype html><meta charset=utf-8><title>formicr: fields to review</title>"
           "<style>body{font-family:sans-serif}td{padding:4px 8px;border-bottom:1px solid #ddd;vertical-align:middle}"
           "td.t{font-family:monospace;font-size:1.4em}img{max-width:900px}</style>"
           f"<h1>Fields to review</h1><p>{len(flagged)} of {len(fields)} fields need review (the weakest "
           "character under the review threshold, ink left unread, or a page that did not register). "
           "Click a crop for its whole annotated page.</p>"
           "<table><tr><th>source</th><th>page</th><th>field</th><th>read</th><th>confidence</th><th>page crop</th></tr>"
           + "".join(rows) + "</table>\n")
    path = out / REVIEW_HTML
    atomic_write(path, doc)
    return path
