"""Run reports: metrics, confusion matrix, curves, sample grids, prediction CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from segmentation.charsets import DIGITS


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def accuracy_report(probs: np.ndarray, labels: list[str], y: np.ndarray, groups: np.ndarray) -> dict:
    """Accuracy over all classes and restricted to the true character's field class,
    plus per-class precision/recall and per-group restricted accuracy."""
    from training.labels import restricted_probs

    lab = np.array(labels)
    pred_all = lab[probs.argmax(1)]
    pred_cls = lab[restricted_probs(probs, labels, y).argmax(1)]
    is_digit = np.array([c in DIGITS for c in y])
    per_class = {}
    for c in labels:
        tp = int(((pred_all == c) & (y == c)).sum())
        per_class[c] = {
            "precision": round(tp / max(int((pred_all == c).sum()), 1), 4),
            "recall": round(tp / max(int((y == c).sum()), 1), 4),
            "recall_in_class": round(int(((pred_cls == c) & (y == c)).sum()) / max(int((y == c).sum()), 1), 4),
            "support": int((y == c).sum()),
        }
    return {
        "samples": len(y),
        "accuracy_all36": round(float((pred_all == y).mean()), 5),
        "accuracy_in_class": round(float((pred_cls == y).mean()), 5),
        "letters_in_class": round(float((pred_cls == y)[~is_digit].mean()), 5) if (~is_digit).any() else None,
        "digits_in_class": round(float((pred_cls == y)[is_digit].mean()), 5) if is_digit.any() else None,
        "by_group_in_class": {
            str(g): {"accuracy": round(float((pred_cls == y)[groups == g].mean()), 5), "samples": int((groups == g).sum())}
            for g in sorted(set(groups))
        },
        "per_class": per_class,
    }


def confusion_png(y: np.ndarray, pred: np.ndarray, labels: list[str], path: Path) -> None:
    plt = _plt()
    idx = {c: i for i, c in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), int)
    for t, p in zip(y, pred, strict=True):
        m[idx[t], idx[p]] += 1
    norm = m / np.clip(m.sum(1, keepdims=True), 1, None)
    fig, ax = plt.subplots(figsize=(11, 10))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    ax.set_title("Confusion matrix (test, row-normalised; off-diagonal counts shown)")
    for i, j in zip(*np.nonzero(m), strict=True):
        if i != j:
            ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=6, color="crimson")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def curves_png(history: dict, path: Path) -> None:
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for key, ax in (("loss", a1), ("accuracy", a2)):
        ax.plot(history.get(key, []), label=f"train {key}")
        ax.plot(history.get(f"val_{key}", []), label=f"validation {key}")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def grid_png(images: np.ndarray, titles: list[str], path: Path, suptitle: str = "") -> None:
    """3x3 grid of glyphs with a title under each."""
    plt = _plt()
    fig, axes = plt.subplots(3, 3, figsize=(6, 6.6))
    for ax, img, title in zip(axes.ravel(), images, titles, strict=False):
        ax.imshow(np.asarray(img).reshape(28, 28), cmap="Greys")
        ax.set_title(title)
        ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def predictions_csv(y: np.ndarray, pred: np.ndarray, conf: np.ndarray, writers: np.ndarray, path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["true", "predicted", "confidence", "writer"])
        for row in zip(y, pred, conf, writers, strict=True):
            w.writerow([row[0], row[1], f"{row[2]:.4f}", row[3]])
