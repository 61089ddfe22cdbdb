"""Shared fixtures. Test forms come from the project's own generator; tests that need
``../shared/data`` skip with a reason when it is absent."""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.data import SHARED_DATA
from worker.synth.forms import Scan, Writer, draw_glyph, generate

ROOT = Path(__file__).resolve().parent.parent

needs_shared = pytest.mark.skipif(
    not (SHARED_DATA / "unipen").exists(),
    reason=f"needs the shared handwriting data at {SHARED_DATA} (absent in this checkout)",
)


@pytest.fixture(scope="session")
def forms_dir(tmp_path_factory) -> Path:
    """Three generated forms (PNG, JPEG, bilevel G4 TIFF) with truth and template."""
    out = tmp_path_factory.mktemp("forms")
    rng = random.Random(5)
    for i, fmt in enumerate(["png", "jpg", "tif"]):
        sc = Scan.random(rng, fmt)
        generate(out / fmt, 1, seed=300 + i, scan_override=sc)
    for fmt in ["png", "jpg", "tif"]:
        for f in (out / fmt).iterdir():
            f.rename(out / f.name if f.name != "template.json" else out / "template.json")
        (out / fmt).rmdir()
    return out


@pytest.fixture(scope="session")
def form_files(forms_dir) -> list[Path]:
    return sorted(p for p in forms_dir.iterdir() if p.name.startswith("form_") and not p.name.endswith(".json"))


@pytest.fixture(scope="session")
def reader():
    from worker.pipeline import PageReader

    return PageReader()


def render_glyph(ch: str, seed: int = 0, pen: float = 0.09, size: int = 80) -> np.ndarray:
    """One skeleton glyph drawn like a scan crop: white ink on black, any size."""
    rng = random.Random(seed)
    w = Writer.random(rng)
    w = Writer(w.slant * 0.5, w.jitter, pen, 1.0, 0.7, 0.3, w.variant_seed)
    canvas = np.full((size + 20, size + 20), 255, np.uint8)
    draw_glyph(canvas, ch, 10, 10, size * 0.7, size, w, rng)
    return 255 - canvas


@pytest.fixture
def blank_page() -> np.ndarray:
    return np.full((1200, 900), 250, np.uint8)


def write_png(path: Path, img: np.ndarray) -> Path:
    cv2.imwrite(str(path), img)
    return path
