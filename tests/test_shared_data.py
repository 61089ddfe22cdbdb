"""Real handwriting from ../shared/data: the model on unseen writers, and real glyphs
pasted into generated forms. Skipped with a reason where the data is absent."""

from __future__ import annotations

import numpy as np
import pytest

from segmentation.charsets import DIGITS
from tests.conftest import needs_shared

pytestmark = [needs_shared, pytest.mark.shared_data]


@pytest.fixture(scope="module")
def test_writers():
    from training.data import load_sets, writer_split

    ds = load_sets(("unipen-upper", "unipen-digits"))
    return ds.subset(writer_split(ds)[1])  # the training run's held-out writers (seed 42)


def test_shipped_model_on_the_test_writers_stays_above_its_recorded_floor(test_writers):
    from training.data import scale
    from worker.classifier import Classifier

    clf = Classifier()
    # A refit model (training.refit_all) has seen these writers, so this is a regression guard;
    # the held-out score is the metadata's test_clean, which must clear the same floor.
    assert clf.meta.raw["metrics"]["test_clean"]["accuracy_in_class"] >= 0.93
    preds = clf.classify(scale(test_writers.x), ["digits" if c in DIGITS else "letters" for c in test_writers.y],
                         top_k=1)
    acc = np.mean([p.char == t for p, t in zip(preds, test_writers.y, strict=True)])
    assert acc >= 0.93, acc  # the refit, which saw these writers, reads 98.0% of all their labels


def test_real_glyphs_pasted_into_forms_are_read(test_writers, tmp_path):
    from segmentation.decode import decode
    from segmentation.template import parse_template
    from worker.pipeline import PageReader, ReadOptions
    from worker.synth.forms import Scan, render_form, save_scan, scan, template_dict
    from worker.synth.score import Score, score_template

    by_char: dict[str, np.ndarray] = {}
    for c in set(test_writers.y):
        by_char[c] = test_writers.x[test_writers.y == c]

    def glyph_source(ch, rng):
        pool = by_char[ch]
        return pool[rng.randrange(len(pool))]

    reader = PageReader(ReadOptions(template=parse_template(template_dict())))
    total = Score()
    for seed in range(3):
        page, truth = render_form(500 + seed, glyph_source=glyph_source)
        sc = Scan(dpi=300, angle=1.0 - seed, shift=(10.0 * seed, -20.0), noise=3, fmt="png")
        img, truth = scan(page, truth, sc, seed)
        path = save_scan(img, tmp_path / f"real_{seed}.png", sc)
        total += score_template(truth, reader.read_page(next(decode(path))))
    assert total.found_rate >= 0.97, total.found_rate
    assert total.cer_template <= 0.12, total.cer_template
