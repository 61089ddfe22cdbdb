"""UNIPEN pen strokes: parsing the original text files, lining them up with the npz sets,
redrawing at other pen widths, and training with the redraws."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest

from segmentation.charsets import LETTERS
from tests.conftest import needs_shared
from training.strokes import ARCHIVE, load_archive, parse_label_file, render, select_strokes

STROKE_FILE = """.VERSION 1.0
.COORD X Y T
.PEN_DOWN
0 100 1
0 0 2
.PEN_UP
.PEN_DOWN
0 100 3
50 100 4
.PEN_UP
.PEN_DOWN
10 10 5
20 20 6
30 30 7
.PEN_UP
"""


def test_segments_name_strokes_by_number_and_by_point():
    label = ('.INCLUDE grp/grp.doc\n.INCLUDE grp/data/w1.dat\n'
             '.SEGMENT CHARACTER 0-1 ? "T"\n.SEGMENT CHARACTER 2:1-2:2 OK  "I"\n')
    glyphs = parse_label_file(label, "data/1b/grp/w1.dat", {"grp/data/w1.dat": STROKE_FILE}.get)
    assert [g.label for g in glyphs] == ["T", "I"]
    first = glyphs[0].strokes
    assert len(first) == 2 and first[0].tolist() == [[0, -100], [0, 0]]  # y flipped to point down
    assert glyphs[1].strokes[0].tolist() == [[20, -20], [30, -30]]  # points 1..2 of stroke 2


def test_a_segment_naming_a_stroke_the_file_lacks_is_skipped():
    comps = [np.zeros((2, 2), np.float32)] * 3
    assert select_strokes("2-5", comps) == []
    assert len(select_strokes("0,2", comps)) == 2


def test_a_thicker_pen_draws_more_ink_in_the_same_place():
    strokes = (np.array([[0, 0], [0, 100]], np.float32), np.array([[0, 0], [60, 0]], np.float32))
    thin, thick = render(strokes, 2.5), render(strokes, 12)
    assert thick.sum() > 1.5 * thin.sum()
    for g in (thin, thick):
        ys, xs = np.nonzero(g > 0.3)
        assert ys.max() - ys.min() >= 17 and abs(np.average(np.arange(28), weights=g.sum(1)) - 13.5) < 1.5


def _glyph_strokes(ch: str, writer: int) -> list[np.ndarray]:
    """Two strokes whose shape depends on the character and, a little, on the writer."""
    rng = np.random.default_rng([ord(ch), writer])
    base = np.random.default_rng(ord(ch)).uniform(0, 100, (2, 4, 2))
    return [b + rng.normal(0, 4, b.shape) for b in base]


def _write_set(folder, writers: int = 8, scramble: bool = False):
    """A letters npz and the matching UNIPEN archive beside it, as the shared data lays them out."""
    xs, ys, ws, files = [], [], [], {}
    for w in range(writers):
        segs, pen, n = [], [], 0
        for ch in LETTERS:
            strokes = _glyph_strokes(ch, w)
            segs.append(f'.SEGMENT CHARACTER {n}-{n + len(strokes) - 1} ? "{ch}"')
            for s in strokes:
                pen.append(".PEN_DOWN\n" + "\n".join(f"{x:.1f} {-y:.1f}" for x, y in s) + "\n.PEN_UP")
                n += 1
            xs.append((render(tuple(s.astype(np.float32) for s in strokes), 6) * 255).astype(np.uint8))
            ys.append(ch)
            ws.append(f"syn/w{w}")
        files[f"data/1b/syn/w{w}.dat"] = f".INCLUDE syn/data/w{w}.dat\n" + "\n".join(segs) + "\n"
        files[f"include/syn/data/w{w}.dat"] = ".COORD X Y\n" + "\n".join(pen) + "\n"
    y = np.array(ys)
    if scramble:
        y = np.roll(y, 1)
    np.savez(folder / "syn_28x28.npz", x=np.stack(xs), y=y, writer=np.array(ws), group=np.array(["syn"] * len(ys)))
    with tarfile.open(folder / ARCHIVE, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo("./" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return folder / "syn_28x28.npz"


def test_strokes_attach_only_when_the_archive_lines_up_with_the_set(tmp_path):
    from training.data import load_sets

    good = tmp_path / "good"
    bad = tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    ds = load_sets([str(_write_set(good))], strokes=True)
    assert ds.strokes is not None and all(s is not None for s in ds.strokes)
    assert "every sample matched" in ds.sources[0]["strokes"]
    ds = load_sets([str(_write_set(bad, scramble=True))], strokes=True)
    assert ds.strokes is None and "did not line up" in ds.sources[0]["strokes"]
    assert load_sets([str(_write_set(good))]).strokes is None  # only when asked


def test_training_redraws_glyphs_and_reports_accuracy_by_pen_width(tmp_path):
    pytest.importorskip("keras", reason="training extra not installed (pip install -e .[train])")
    from training.train import TrainOptions, run_training

    npz = _write_set(tmp_path)
    run_training(TrainOptions(data=[str(npz)], out=tmp_path / "run", epochs=1, batch_size=64,
                              clean_labels=False, redraw=True, verbose=0))
    info = json.loads((tmp_path / "run" / "metrics.json").read_text())
    pens = info["metrics"]["test_pen_width"]
    assert pens["samples"] == info["metrics"]["test_clean"]["samples"]
    assert {"thin", "as_npz", "thick"} <= set(pens)
    assert 0.0 <= pens["thin"]["letters_in_class"] <= 1.0
    assert info["training"]["redraw"]["samples_with_strokes"] == 8 * len(LETTERS)


def test_redrawn_batches_follow_the_configured_pen():
    from training.augment import AugmentConfig, augment_batch

    strokes = np.empty(4, dtype=object)
    for i in range(4):
        strokes[i] = tuple(s.astype(np.float32) for s in _glyph_strokes("E", i))
    x = np.zeros((4, 28, 28), np.uint8)  # blank bitmaps: only a redraw can put ink in
    plain = dict(p=1.0, p_redraw=1.0, p_blur=0, p_noise=0, p_bilevel=0, p_broken=0, rotate_deg=0, shear=0)
    thin = augment_batch(x, np.random.default_rng(0), AugmentConfig(pen=(3, 3), **plain), strokes)
    thick = augment_batch(x, np.random.default_rng(0), AugmentConfig(pen=(14, 14), **plain), strokes)
    assert (thin.sum(axis=(1, 2, 3)) > 5).all()
    assert (thick.sum(axis=(1, 2, 3)) > 1.5 * thin.sum(axis=(1, 2, 3))).all()
    assert augment_batch(x, np.random.default_rng(0), AugmentConfig(**plain)).sum() == 0  # no strokes: bitmap path


@needs_shared
def test_unipen_strokes_line_up_with_the_npz_sets_and_redraw_like_them():
    from training.data import SHARED_DATA, load_npz
    from training.strokes import strokes_for

    for name in ("unipen_uppercase_28x28.npz", "unipen_digits_28x28.npz"):
        ds = load_npz(SHARED_DATA / "unipen" / name)
        strokes = strokes_for(ds.y, ds.group, SHARED_DATA / "unipen" / ARCHIVE)
        assert strokes is not None, name
        idx = np.arange(0, len(ds), 97)
        a = np.stack([render(strokes[i], 6) for i in idx]).reshape(len(idx), -1)
        b = ds.x[idx].reshape(len(idx), -1).astype(np.float32)
        a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
        corr = (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))
        assert np.median(corr) > 0.7, (name, np.median(corr))  # 0.81 measured; a glyph against its neighbour in the set scores 0.26
    assert len(load_archive(SHARED_DATA / "unipen" / ARCHIVE, ("1b",))) >= 26327  # dropped groups included


def test_evaluate_scores_a_set_redrawn_at_a_chosen_pen_and_refuses_a_set_without_strokes(tmp_path):
    from click.testing import CliRunner

    from worker.cli import main

    npz = _write_set(tmp_path, writers=2)
    res = CliRunner().invoke(main, ["evaluate", "--data", str(npz), "--pen", "3"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output[res.output.index("{"):])
    assert out["pen"] == 3.0 and out["samples"] == 2 * len(LETTERS)
    (tmp_path / ARCHIVE).unlink()
    res = CliRunner().invoke(main, ["evaluate", "--data", str(npz), "--pen", "3"])
    assert res.exit_code == 2 and "unipen_raw_strokes" in res.output
