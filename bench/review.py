"""How the review threshold trades coverage for accuracy, on writers the shipped model
never saw (the training run's writer-disjoint test split), with field-class masks applied
as the reader applies them.

    python -m bench.review [--run runs/shipped] [--errors DIR]

``--errors DIR`` also writes ``errors-letters.png`` and ``errors-digits.png``: 60 random
held-out errors each (seed 7), numbered and titled true>read, for auditing by eye which are
label noise and which are styles the model misses (docs/model.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from segmentation.charsets import charset_of
from training.labels import audited_wrong
from worker.classifier import Classifier
from worker.results import REVIEW_THRESHOLD


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--run", type=Path, default=Path("runs/shipped"))
    ap.add_argument("--errors", type=Path, default=None, help="write grids of random errors to this folder")
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
    digit = np.array([c == "digits" for c in charsets])
    kept = ~audited_wrong(np.rint(x[..., 0] * 255).astype(np.uint8), y)  # x is scaled to [0,1]
    print(f"on the {kept.sum()} labels not found wrong by eye ({(~kept).sum()} dropped, training/label_audit.csv): "
          f"in class {ok[kept].mean():.2%}, letters {ok[kept & ~digit].mean():.2%}, "
          f"digits {ok[kept & digit].mean():.2%} (all labels: letters {ok[~digit].mean():.2%}, "
          f"digits {ok[digit].mean():.2%})")
    print(f"{'threshold':>9s} {'accepted':>9s} {'accuracy of accepted':>21s} {'errors caught':>14s}")
    for t in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99):
        acc = conf >= t
        caught = (~ok & ~acc).sum() / max((~ok).sum(), 1)
        mark = "  <- default" if abs(t - REVIEW_THRESHOLD) < 1e-9 else ""
        print(f"{t:9.2f} {acc.mean():9.1%} {ok[acc].mean():21.2%} {caught:14.1%}{mark}")
    if args.errors is not None:
        read = np.array([p.char for p in preds])
        for cls in ("letters", "digits"):
            idx = np.nonzero(~ok & (np.array(charsets) == cls))[0]
            path = args.errors / f"errors-{cls}.png"
            error_grid(x, y, read, idx, path)
            print(f"{len(idx)} {cls} errors; 60 of them in {path}")


def error_grid(x: np.ndarray, y: np.ndarray, read: np.ndarray, idx: np.ndarray, path: Path, n: int = 60) -> None:
    """A 10-wide grid of up to ``n`` random errors (seed 7), each titled 'k:true>read'."""
    import cv2

    pick = np.random.default_rng(7).choice(idx, min(n, len(idx)), replace=False)
    tiles = []
    for k, i in enumerate(pick):
        t = cv2.resize((np.asarray(x[i]).reshape(28, 28) * 255).astype(np.uint8), (70, 70),
                       interpolation=cv2.INTER_NEAREST)
        t = np.pad(t, ((16, 2), (2, 2)))
        cv2.putText(t, f"{k}:{y[i]}>{read[i]}", (1, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 255, 1)
        tiles.append(t)
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % 10) if tiles else []
    path.parent.mkdir(parents=True, exist_ok=True)
    if tiles:
        cv2.imwrite(str(path), np.vstack([np.hstack(tiles[r : r + 10]) for r in range(0, len(tiles), 10)]))


if __name__ == "__main__":
    main()
