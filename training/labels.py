"""Label-noise check: cross-validated disagreement over writer-grouped folds.

Each fold's model never saw the writers it judges. A sample is flagged when, restricted
to its own field class (letters or digits), the out-of-fold model puts less than
``p_label`` on the given label and more than ``p_other`` on one other label.

``label_audit.csv`` is the other check: test-split labels a person looked at and found
wrong (a dash, a lone stroke, two glyphs, another character). Samples are matched by image
hash and label, so the file holds no data, only verdicts."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np

from segmentation.charsets import DIGITS
from segmentation.errors import DataError
from training.data import Dataset, image_key, scale, writer_folds

AUDIT_PATH = Path(__file__).with_name("label_audit.csv")
AUDIT_COLUMNS = ["image_sha1", "group", "writer", "label", "reason"]


def load_audit(path: Path = AUDIT_PATH) -> dict[tuple[str, str], str]:
    """{(image_sha1, label): reason} for every label the audit found wrong."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and list(rows[0]) != AUDIT_COLUMNS:
        raise DataError(f"{path}: columns {list(rows[0])}, expected {AUDIT_COLUMNS}")
    return {(r["image_sha1"], r["label"]): r["reason"] for r in rows}


def audited_wrong(x: np.ndarray, y: np.ndarray, audit: dict[tuple[str, str], str] | None = None) -> np.ndarray:
    """Boolean mask over (N,28,28) uint8 images ``x`` and labels ``y``: the labels the audit found wrong."""
    audit = load_audit() if audit is None else audit
    return np.array([(image_key(g), str(c)) in audit for g, c in zip(x, y, strict=True)], bool)


def restricted_probs(probs: np.ndarray, labels: list[str], y: np.ndarray) -> np.ndarray:
    """Zero the probabilities of the other field class and renormalise, per sample."""
    is_digit_label = np.array([c in DIGITS for c in labels])
    is_digit_y = np.array([c in DIGITS for c in y])
    mask = is_digit_y[:, None] == is_digit_label[None, :]
    p = probs * mask
    return p / np.clip(p.sum(axis=1, keepdims=True), 1e-12, None)


def find_noisy_labels(ds: Dataset, labels: list[str], *, folds: int = 3, epochs: int = 3, seed: int = 0,
                      p_label: float = 0.05, p_other: float = 0.9, batch_size: int = 128,
                      verbose: int = 2) -> tuple[np.ndarray, dict]:
    """Return (boolean flag per sample, report dict with per-group counts and settings)."""
    import keras

    from training.model import build_model

    fold = writer_folds(ds, folds, seed)
    index = {c: i for i, c in enumerate(labels)}
    yi = np.array([index[c] for c in ds.y])
    oof = np.zeros((len(ds), len(labels)), np.float32)
    x = scale(ds.x)
    for k in range(folds):
        keras.utils.set_random_seed(seed + k)
        tr, te = fold != k, fold == k
        model = build_model("default", len(labels))
        if verbose:
            print(f"label check: fold {k + 1}/{folds} ({tr.sum()} train, {te.sum()} judged)", flush=True)
        model.fit(x[tr], yi[tr], epochs=epochs, batch_size=batch_size, verbose=verbose)
        oof[te] = model.predict(x[te], batch_size=1024, verbose=0)
    rp = restricted_probs(oof, labels, ds.y)
    p_given = rp[np.arange(len(ds)), yi]
    flagged = (p_given < p_label) & (rp.max(axis=1) > p_other)
    by_group = Counter(ds.group[flagged])
    total = Counter(ds.group)
    report = {
        "method": f"{folds}-fold writer-grouped cross-validated disagreement, {epochs} epochs per fold",
        "rule": f"dropped when p(given label | field class) < {p_label} and another label > {p_other}",
        "dropped": int(flagged.sum()),
        "of": len(ds),
        "by_group": {g: {"dropped": int(by_group.get(g, 0)), "of": int(total[g]),
                         "rate": round(by_group.get(g, 0) / total[g], 4)} for g in sorted(total)},
        "oof_disagreement_by_group": {
            g: round(float((rp.argmax(1) != yi)[ds.group == g].mean()), 4) for g in sorted(total)
        },
        "examples": [
            {"writer": str(ds.writer[i]), "label": str(ds.y[i]), "model_says": labels[int(rp[i].argmax())]}
            for i in np.nonzero(flagged)[0][:25]
        ],
    }
    return flagged, report

