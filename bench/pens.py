"""The reader's stroke correction on real writing: the held-out UNIPEN writers' pen strokes
(the writer-disjoint test split, seed 42) drawn big at several pen widths, binarised, and
normalised as the reader normalises a scanned glyph, with the shipped correction, with
thickening only, and with none; in-class accuracy of each (docs/model.md). ``--squeeze`` also
scores their upper-case bitmaps squeezed across (letters written narrow in comb cells).

    python -m bench.pens --model runs/x-model/x-fp32.json [--squeeze]

Use a writer-disjoint model (``formicr export --run RUN`` of a run without ``--refit-all``, or
``--weights holdout``): the shipped refit has seen these writers. Needs ``../shared/data``
with ``unipen_raw_strokes.tar.gz``, and the ``train`` extra.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

import segmentation.normalize as norm
from segmentation.charsets import DIGITS, charset_of
from worker.classifier import Classifier

PENS = (4, 8, 12, 16)  # px on the 96 px canvas, whose glyph spans about 80
SQUEEZE = (1.0, 0.8, 0.65, 0.5)


_shipped = norm.normalize_stroke


def _thicken_only(mask: np.ndarray, target_ratio: float = norm.TARGET_STROKE_RATIO,
                  width: float | None = None) -> np.ndarray:
    """The shipped correction where it thickens; a stroke wider than the target left as it is."""
    side = max(cv2.boundingRect(mask)[2:])
    width = norm.stroke_width(mask) if width is None else width
    if target_ratio * side < width:
        return (mask > 0).astype(np.uint8) * 255
    return _shipped(mask, target_ratio, width)


def _in_class(clf: Classifier, x: np.ndarray, y: np.ndarray) -> float:
    """Accuracy with each glyph read within its true character's class, as a field reads it."""
    preds = clf.decode(clf.probabilities(x), [charset_of(c) for c in y], top_k=1)
    return float(np.mean([p.char == c for p, c in zip(preds, y, strict=True)]))


def _normalised(masks: list[np.ndarray], correction) -> np.ndarray:
    if correction is None:
        return norm.normalize_batch(masks, stroke=False)
    norm.normalize_stroke = correction
    try:
        return norm.normalize_batch(masks, stroke=True)
    finally:
        norm.normalize_stroke = _shipped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="a writer-disjoint model's .json")
    ap.add_argument("--squeeze", action="store_true", help="also score upper case squeezed across")
    args = ap.parse_args()
    from segmentation.errors import DataError
    from training.data import load_sets, writer_split  # the train extra

    clf = Classifier(args.model)
    if clf.meta.refit_all:
        print("note: this model was refit on every writer, these test writers included: not held-out")
    try:
        ds = load_sets(["unipen-upper", "unipen-digits"], strokes=True)
    except DataError as e:
        raise SystemExit(f"bench.pens skipped: {e}") from None
    if ds.strokes is None:
        raise SystemExit("bench.pens skipped: unipen_raw_strokes.tar.gz not found beside the UNIPEN sets")
    held = ds.subset(writer_split(ds)[1])
    ds = held.with_strokes()
    y = np.asarray(ds.y)
    from training.strokes import draw

    print(f"{len(y)} held-out glyphs; in-class accuracy by pen width (of about 80 px)")
    print("pen  shipped  thicken-only  none")
    for pen in PENS:
        masks = [np.where(draw(s, pen) > 127, 255, 0).astype(np.uint8) for s in ds.strokes]
        accs = [_in_class(clf, _normalised(masks, c), y) for c in (_shipped, _thicken_only, None)]
        print(f"{pen:3d}  " + "  ".join(f"{a:.2%}" for a in accs), flush=True)
    if args.squeeze:
        hy = np.asarray(held.y)
        upper = ~np.isin(hy, list(DIGITS))
        xs, ys = held.x[upper], hy[upper]
        print(f"{len(ys)} held-out upper-case bitmaps squeezed across (width x), shipped correction:")
        for s in SQUEEZE:
            masks = [np.where(cv2.resize(g, (int(28 * 4 * s), 112)) > 100, 255, 0).astype(np.uint8) for g in xs]
            print(f"  {s:.2f}: {_in_class(clf, _normalised(masks, _shipped), ys):.2%}", flush=True)


if __name__ == "__main__":
    main()
