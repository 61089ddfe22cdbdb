"""What the reader makes of lower-case writing, which the model never trained on: UNIPEN's
lower-case glyphs (``../shared/data``) read with the letters charset, as a field of letters
reads them. Each glyph reads as its own capital, as another capital flagged for review
(under the review threshold), or as another capital unflagged: what goes out wrong.

    python -m bench.lowercase [--sample 8000] [--model M.json]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from worker.classifier import Classifier
from worker.model_meta import DEFAULT_MODEL
from worker.results import REVIEW_THRESHOLD


def tally(truth: list[str], read: list[str], confidence: np.ndarray,
          threshold: float = REVIEW_THRESHOLD) -> tuple[dict[str, float], dict[str, float]]:
    """(shares of glyphs read as their own capital, as another flagged and as another not
    flagged; per lower-case letter, its share read as another capital unflagged)."""
    own = np.array([r == t.upper() for t, r in zip(truth, read, strict=True)])
    sure = np.asarray(confidence) >= threshold
    shares = {"own capital": float(own.mean()), "another, flagged": float((~own & ~sure).mean()),
              "another, not flagged": float((~own & sure).mean())}
    totals, wrong = Counter(truth), Counter(t for t, o, s in zip(truth, own, sure, strict=True) if not o and s)
    return shares, {t: wrong[t] / n for t, n in sorted(totals.items())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sample", type=int, default=8000, help="glyphs drawn at random (seed 0)")
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model .json (default: the shipped one)")
    args = ap.parse_args()
    from training.data import SHARED_DATA, scale

    path = SHARED_DATA / "unipen" / "unipen_lowercase_28x28.npz"
    if not path.exists():
        print(f"bench.lowercase skipped: {path} not found (see README, Data)")
        return
    data = np.load(path)
    idx = np.random.default_rng(0).choice(len(data["y"]), min(args.sample, len(data["y"])), replace=False)
    clf = Classifier(args.model)
    preds = clf.classify(scale(data["x"][idx]), ["letters"] * len(idx), top_k=1)
    truth = [str(c) for c in data["y"][idx]]
    shares, by_letter = tally(truth, [p.char for p in preds], np.array([p.confidence for p in preds]))
    print(f"{len(idx)} lower-case glyphs, read as a field of letters (review threshold {REVIEW_THRESHOLD}):")
    print("  " + ", ".join(f"{k} {v:.1%}" for k, v in shares.items()))
    worst = sorted(by_letter.items(), key=lambda kv: -kv[1])[:8]
    print("  read as another capital, not flagged, by letter: " + ", ".join(f"{t} {v:.0%}" for t, v in worst))


if __name__ == "__main__":
    main()
