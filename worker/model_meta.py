"""The model metadata contract: ``models/<name>.json`` beside ``models/<name>.onnx``.

This module is the one place that knows the schema; training writes through
:func:`build_metadata` and the worker reads through :func:`load_metadata`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from segmentation.errors import ModelError
from segmentation.normalize import CONTRACT

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = MODELS_DIR / "formicr.json"
SCHEMA_VERSION = 1

REQUIRED_KEYS = ("file", "labels", "input", "training", "metrics", "sha256")
REQUIRED_TRAINING_KEYS = ("data", "split", "arch", "epochs", "batch_size", "seed", "command")

INPUT_DESCRIPTION = {
    **CONTRACT,
    "layout": "NHWC (batch, 28, 28, 1); batch dimension dynamic",
    "description": "float32 pixel/255, white ink on black, glyph fitted into 20x20 keeping aspect "
    "ratio, centred in 28x28 by centre of mass",
}
OUTPUT_DESCRIPTION = {"shape": ["batch", "len(labels)"], "description": "softmax probabilities in label order"}


@dataclass(frozen=True)
class ModelMeta:
    path: Path  # the .json file
    onnx_path: Path
    labels: tuple[str, ...]
    raw: dict

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def precision(self) -> str:
        return str(self.raw.get("precision", "fp32"))

    @property
    def refit_all(self) -> bool:
        """True when the weights were refit on every writer after the held-out evaluation:
        the data's test writers are then not unseen for this model."""
        return bool(self.raw["training"].get("refit_all"))


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def validate_metadata(meta: dict, where: str = "metadata") -> None:
    """Raise :class:`ModelError` unless ``meta`` follows the contract."""
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise ModelError(f"{where}: missing keys {missing}")
    labels = meta["labels"]
    if not isinstance(labels, list) or not labels or not all(isinstance(c, str) and len(c) == 1 for c in labels):
        raise ModelError(f"{where}: 'labels' must be a non-empty list of one-character strings")
    if len(set(labels)) != len(labels):
        raise ModelError(f"{where}: 'labels' has duplicates")
    if not isinstance(meta["training"], dict):
        raise ModelError(f"{where}: 'training' must be an object")
    missing = [k for k in REQUIRED_TRAINING_KEYS if k not in meta["training"]]
    if missing:
        raise ModelError(f"{where}: 'training' lacks {missing}")
    if not all(isinstance(s, dict) and s.get("credit") for s in meta["training"]["data"]):
        raise ModelError(f"{where}: every training data source needs a licence 'credit'")
    if meta["input"].get("shape") != [28, 28, 1]:
        raise ModelError(f"{where}: input shape must be [28, 28, 1]")


def build_metadata(onnx_path: Path, labels: list[str], training: dict, metrics: dict, **extra) -> dict:
    """Assemble and validate the metadata for an exported model."""
    meta = {
        "schema_version": SCHEMA_VERSION,
        "file": onnx_path.name,
        "labels": list(labels),
        "input": INPUT_DESCRIPTION,
        "output": OUTPUT_DESCRIPTION,
        "training": training,
        "metrics": metrics,
        **extra,
        "sha256": sha256_of(onnx_path),
    }
    validate_metadata(meta, str(onnx_path.with_suffix(".json")))
    return meta


def load_metadata(path: str | Path = DEFAULT_MODEL, verify_hash: bool = True) -> ModelMeta:
    """Load and check ``<name>.json`` (or the ``.onnx`` beside it)."""
    path = Path(path)
    if path.suffix == ".onnx":
        path = path.with_suffix(".json")
    if not path.exists():
        raise ModelError(f"{path}: model metadata not found (run 'make train' or pass --model)")
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable metadata ({exc})") from exc
    validate_metadata(meta, str(path))
    onnx_path = path.parent / meta["file"]
    if not onnx_path.exists():
        raise ModelError(f"{onnx_path}: model file named by {path.name} is missing")
    if verify_hash and sha256_of(onnx_path) != meta["sha256"]:
        raise ModelError(f"{onnx_path}: sha256 does not match {path.name} (file changed or corrupt)")
    return ModelMeta(path, onnx_path, tuple(meta["labels"]), meta)


def write_metadata(meta: dict, path: Path) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
