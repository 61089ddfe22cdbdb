"""The shipped model and its metadata contract."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

from segmentation.charsets import ALNUM, charset_of
from segmentation.errors import ModelError
from segmentation.normalize import normalize_batch
from tests.conftest import render_glyph
from worker.classifier import Classifier
from worker.model_meta import DEFAULT_MODEL, load_metadata, validate_metadata


def test_shipped_metadata_follows_the_contract():
    meta = load_metadata(DEFAULT_MODEL)  # also checks sha256
    raw = meta.raw
    assert list(meta.labels) == list(ALNUM)  # A-Z then 0-9
    for key in ("file", "labels", "input", "training", "metrics", "sha256"):
        assert key in raw
    t = raw["training"]
    assert all("CC BY 4.0" in s["credit"] for s in t["data"])
    assert t["split"]["kind"] == "writer"
    assert t["epochs"] >= 10 and t["batch_size"] == 128  # make train: --epochs 25
    assert raw["input"]["shape"] == [28, 28, 1]


def test_shipped_onnx_has_dynamic_batch_and_softmax_output():
    meta = load_metadata(DEFAULT_MODEL)
    sess = ort.InferenceSession(str(meta.onnx_path), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    assert inp.shape[1:] == [28, 28, 1] and not isinstance(inp.shape[0], int)
    for n in (1, 7):
        out = sess.run(None, {inp.name: np.random.rand(n, 28, 28, 1).astype(np.float32)})[0]
        assert out.shape == (n, 36)
        np.testing.assert_allclose(out.sum(1), 1.0, atol=1e-3)


def test_shipped_model_reads_generated_glyphs():
    clf = Classifier()
    chars = list(ALNUM) * 2
    x = normalize_batch([render_glyph(c, seed=i) for i, c in enumerate(chars)], stroke=True)
    preds = clf.classify(x, [charset_of(c) for c in chars])
    acc = np.mean([p.char == c for p, c in zip(preds, chars, strict=True)])
    assert acc >= 0.9, acc
    assert all(p.char in ALNUM and 0 < p.confidence <= 1 for p in preds)


def test_charset_mask_applies_before_the_argmax():
    clf = Classifier()
    x = normalize_batch([render_glyph("O", seed=3)])
    assert clf.classify(x, ["digits"])[0].char == "0"
    assert clf.classify(x, ["letters"])[0].char in "OQDCU"
    top = clf.classify(x, ["digits"], top_k=3)[0]
    assert len(top.alternatives) == 2 and all(c in "0123456789" for c, _ in top.alternatives)


def test_bad_model_files_raise_model_errors(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_metadata(tmp_path / "missing.json")
    meta = json.loads(DEFAULT_MODEL.read_text())
    (tmp_path / meta["file"]).write_bytes(b"tampered")
    (tmp_path / "m.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="sha256"):
        load_metadata(tmp_path / "m.json")
    del meta["labels"]
    with pytest.raises(ModelError, match="missing keys"):
        validate_metadata(meta)


def test_evaluate_reports_accuracy_on_every_label_and_on_checked_labels(tmp_path):
    from click.testing import CliRunner

    from segmentation.normalize import normalize_glyph
    from worker.cli import main

    chars = "HELLO2024"
    x = np.stack([(normalize_glyph(render_glyph(c, seed=i)) * 255).astype(np.uint8) for i, c in enumerate(chars)])
    path = tmp_path / "glyphs.npz"
    np.savez(path, x=x, y=np.array(list(chars)), writer=np.array(["t/w"] * len(chars)),
             group=np.array(["t"] * len(chars)))
    res = CliRunner().invoke(main, ["evaluate", "--data", str(path)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["samples"] == len(chars) and out["labels_found_wrong"] == 0
    assert out["accuracy_in_class"] == out["accuracy_in_class_checked_labels"] >= 0.7


def _row_maker(clf):
    """``row(W=0.99, _1=0.5)``: a probability row with those labels' values (a digit's name
    after an underscore), every other label at 1e-4."""
    col = {c: i for i, c in enumerate(clf.labels)}

    def row(**p):
        r = np.full(len(clf.labels), 1e-4)
        for c, v in p.items():
            r[col[c.strip("_")]] = v
        return r

    return row


def test_word_context_is_decided_by_characters_that_are_not_letter_digit_twins():
    clf = Classifier()
    row = _row_maker(clf)

    # W, then a 1 that could be an I, then an S that could be a 5: only W says which
    word = np.stack([row(W=0.99), row(_1=0.9, I=0.09), row(S=0.8, _5=0.19)])
    assert clf.word_charsets(word, [(1, 1)] * 3) == ["letters", "letters", "letters"]
    # a word of twins alone still goes by its majority
    word = np.stack([row(_1=0.9, I=0.09), row(_0=0.8, O=0.19)])
    assert clf.word_charsets(word, [(1, 1)] * 2) == ["digits", "digits"]


def test_a_twin_its_word_made_the_other_class_is_in_doubt_only_where_the_word_is_sure_of_both():
    clf = Classifier()
    row = _row_maker(clf)

    def doubts(*rows):
        probs = np.stack(rows)
        words = [(1, 1)] * len(rows)
        return clf.twins_in_doubt(probs, words, clf.word_charsets(probs, words))

    one = row(_1=0.75, I=0.24)  # a bare stroke, read 1
    # a postcode: J, J, E, A make it letters, so the stroke reads I, yet the 9 is surely a digit
    assert doubts(one, row(_9=0.99), row(J=0.99), row(J=0.99), row(E=0.99), row(A=0.99)) == \
        [True, False, False, False, False, False]
    # a name: nothing in the word is a digit, so the word's I stands
    assert doubts(one, row(T=0.99), row(X=0.99), row(Z=0.99)) == [False] * 4
    # a 9 the model doubts (a g?) is no sure digit
    assert doubts(one, row(_9=0.6, G=0.39), row(J=0.99), row(J=0.99), row(E=0.99), row(A=0.99))[0] is False
    # a 1 in a word of digits keeps its class: nothing overruled it
    assert doubts(one, row(_9=0.99), row(_7=0.99), row(_4=0.99), row(A=0.99)) == [False] * 5
    # each word on its own
    probs = np.stack([one, row(_9=0.99), row(J=0.99), row(J=0.99), row(E=0.99), row(A=0.99)])
    words = [(1, 1), (1, 2), (1, 1), (1, 1), (1, 1), (1, 1)]
    assert clf.twins_in_doubt(probs, words, clf.word_charsets(probs, words))[0] is False


def test_a_word_is_digits_or_letters_only_where_three_quarters_of_its_votes_agree():
    from worker.classifier import word_class

    assert word_class([True, True, True, False]) == "digits"
    assert word_class([False, False, False, True]) == "letters"
    assert word_class([True, True, False]) is None  # two thirds settle nothing
    assert word_class([]) is None
