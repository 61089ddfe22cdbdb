"""How the review threshold trades coverage for accuracy, on writers the shipped model
never saw (the training run's writer-disjoint test split), with field-class masks applied
as the reader applies them.

    python -m bench.review [--run runs/shipped]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from segmentation.charsets import charset_of
from worker.classifier import Classifier
from worker.results import REVIEW_THRESHOLD


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--run", type=Path, default=Path("runs/shipped"))
    args = ap.parse_args()
    if not (args.run / "eval_arrays.npz").exists():
        print(f"bench.review skipped: {args.run}/eval_arrays.npz not found (run make train first)")
        return
    arrays = np.load(args.run / "eval_arrays.npz")
    x, y = arrays["x_test"], arrays["y_test"].astype(str)
    clf = Classifier()
    charsets = [charset_of(c) for c in y]
    if clf.meta.refit_all:
        # the shipped weights saw these writers: score the run's writer-disjoint model instead
        if "p_test_holdout" not in arrays:
            raise SystemExit(f"{args.run}: no held-out probabilities (p_test_holdout); rerun make train")
        preds = clf.decode(arrays["p_test_holdout"], charsets, top_k=1)
        which = "the run's writer-disjoint model (fp32); the shipped refit saw these writers"
    else:
        preds = clf.classify(x, charsets, top_k=1)
        which = f"the shipped model ({clf.meta.precision})"
    conf = np.array([p.confidence for p in preds])
    ok = np.array([p.char == t for p, t in zip(preds, y, strict=True)])
    print(f"{len(y)} held-out glyphs, in-class accuracy {ok.mean():.2%}; scored by {which}")
    print(f"{'threshold':>9s} {'accepted':>9s} {'accuracy of accepted':>21s} {'errors caught':>14s}")
    for t in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99):
        acc = conf >= t
        caught = (~ok & ~acc).sum() / max((~ok).sum(), 1)
        mark = "  <- default" if abs(t - REVIEW_THRESHOLD) < 1e-9 else ""
        print(f"{t:9.2f} {acc.mean():9.1%} {ok[acc].mean():21.2%} {caught:14.1%}{mark}")


if __name__ == "__main__":
    main()
