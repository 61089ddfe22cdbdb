"""Annotated page PNGs: character boxes coloured by confidence, predictions, fields."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from worker.results import PageResult, atomic_write
from worker.review_sheet import crop_path, field_crop

GOOD, UNSURE, BAD = (40, 160, 40), (0, 140, 255), (0, 0, 230)  # BGR
FIELD = (200, 90, 20)
STRUCK = (200, 0, 200)  # a character struck out, left out of the text


def confidence_colour(conf: float) -> tuple[int, int, int]:
    return GOOD if conf >= 0.9 else UNSURE if conf >= 0.6 else BAD


def annotate_page(grey: np.ndarray, result: PageResult, path: Path) -> Path:
    """Draw on the deskewed working-scale page (what the reader actually analysed); fields
    that need review are also cropped out of it, for the review sheet."""
    img = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    img = (img * 0.55 + 115).astype(np.uint8)  # fade the scan so the annotations stand out
    for c in result.characters:
        if c.work_rect is None:
            continue
        x, y, w, h = c.work_rect
        col = confidence_colour(c.confidence)
        cv2.rectangle(img, (x, y), (x + w, y + h), col, 2)
        scale = max(0.5, h / 45)
        cv2.putText(img, c.char, (x, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, scale, col, 2, cv2.LINE_AA)
    for s in result.struck:
        if s.work_rect is not None:
            x, y, w, h = s.work_rect
            cv2.rectangle(img, (x, y), (x + w, y + h), STRUCK, 2)
            cv2.line(img, (x, y), (x + w, y + h), STRUCK, 2)
            cv2.line(img, (x, y + h), (x + w, y), STRUCK, 2)
    for f in result.fields:
        rects = [c.work_rect for c in f.characters if c.work_rect]
        col = BAD if f.needs_review else FIELD
        if f.work_rect is not None:  # where the template put the field: shows the registration
            x, y, w, h = f.work_rect
            cv2.rectangle(img, (x, y), (x + w, y + h), col, 1)
        if rects:
            x0, y1 = min(r[0] for r in rects), max(r[1] + r[3] for r in rects)
        elif f.work_rect is not None:  # nothing read: still say so, a flagged field most of all
            x0, y1 = f.work_rect[0], f.work_rect[1] + f.work_rect[3]
        else:
            continue
        label = f"{f.name}: {f.text or '(blank)'}  {f.confidence:.2f}" + ("  REVIEW" if f.needs_review else "")
        cv2.putText(img, label, (x0, y1 + 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, col, 2, cv2.LINE_AA)
    legend = [("conf >= 0.9", GOOD), ("0.6 - 0.9", UNSURE), ("< 0.6", BAD)]
    if result.struck:
        legend.append(("struck out, left out", STRUCK))
    turned = f"turned {result.rotation} deg, " if result.rotation else ""
    legend.append((f"{turned}skew {result.skew:+.1f} deg", None))
    for i, (txt, col) in enumerate(legend):
        if col is not None:
            cv2.rectangle(img, (10, 10 + 24 * i), (28, 28 + 24 * i), col, -1)
        cv2.putText(img, txt, (34, 26 + 24 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (40, 40, 40), 1, cv2.LINE_AA)
    _write_png(path, img, result.source)
    for f in result.fields:  # crops for the review sheet (worker.review_sheet)
        if f.needs_review and f.work_rect is not None:
            _write_png(crop_path(path, f.name), field_crop(img, f.work_rect), result.source)
    return path


def _write_png(path: Path, img: np.ndarray, source: str) -> None:
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise RuntimeError(f"could not encode annotation for {source}")
    atomic_write(path, buf.tobytes())
