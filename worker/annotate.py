"""Annotated page PNGs: character boxes coloured by confidence, predictions, fields."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from worker.results import PageResult, atomic_write

GOOD, UNSURE, BAD = (40, 160, 40), (0, 140, 255), (0, 0, 230)  # BGR
FIELD = (200, 90, 20)


def confidence_colour(conf: float) -> tuple[int, int, int]:
    return GOOD if conf >= 0.9 else UNSURE if conf >= 0.6 else BAD


def annotate_page(grey: np.ndarray, result: PageResult, path: Path) -> Path:
    """Draw on the deskewed working-scale page (what the reader actually analysed)."""
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
    for f in result.fields:
        rects = [c.work_rect for c in f.characters if c.work_rect]
        if not rects:
            continue
        x0 = min(r[0] for r in rects)
        y1 = max(r[1] + r[3] for r in rects)
        label = f"{f.name}: {f.text}  {f.confidence:.2f}" + ("  REVIEW" if f.needs_review else "")
        cv2.putText(img, label, (x0, y1 + 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                    BAD if f.needs_review else FIELD, 2, cv2.LINE_AA)
    legend = [("conf >= 0.9", GOOD), ("0.6 - 0.9", UNSURE), ("< 0.6", BAD)]
    for i, (txt, col) in enumerate(legend):
        cv2.rectangle(img, (10, 10 + 24 * i), (28, 28 + 24 * i), col, -1)
        cv2.putText(img, txt, (34, 26 + 24 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (40, 40, 40), 1, cv2.LINE_AA)
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise RuntimeError(f"could not encode annotation for {result.source}")
    atomic_write(path, buf.tobytes())
    return path
