"""Smoke training on a few hundred generated glyphs, export parity, the metadata schema."""

from __future__ import annotations

import json

import numpy as np
import pytest

from segmentation.charsets import ALNUM
from segmentation.errors import ModelError
from segmentation.normalize import normalize_glyph
from tests.conftest import render_glyph
from worker.model_meta import load_metadata, validate_metadata

pytest.importorskip("keras", reason="training extra not installed (pip install -e .[train])")


@pytest.fixture(scope="module")
def synthetic_npz(tmp_path_factory):
    """~360 glyphs (36 classes x 10 writers) in the shared-data npz layout."""
    xs, ys, writers = [], [], []
    for w in range(10):
        for ch in ALNUM:
            g = normalize_glyph(render_glyph(ch, seed=w * 100 + ord(ch), pen=0.06 + 0.01 * (w % 4)))
            xs.append((g * 255).astype(np.uint8))
            ys.append(ch)
            writers.append(f"synth/w{w}")
    path = tmp_path_factory.mktemp("data") / "synthetic_28x28.npz"
    np.savez(path, x=np.stack(xs), y=np.array(ys), writer=np.array(writers), group=np.array(["synth"] * len(ys)))
    return path


@pytest.fixture(scope="module")
def smoke_run(synthetic_npz, tmp_path_factory):
    from training.train import TrainOptions, run_training

    out = tmp_path_factory.mktemp("run")
    run_training(TrainOptions(data=[str(synthetic_npz)], out=out, epochs=2, batch_size=64, clean_labels=True,
                              clean_epochs=1, verbose=0))
    return out


def test_smoke_training_writes_every_report(smoke_run):
    for name in ["metrics.json", "confusion.png", "curves.png", "samples.png", "test_predictions.png",
                 "predictions.csv", "model.keras"]:
        assert (smoke_run / name).stat().st_size > 0, name
    info = json.loads((smoke_run / "metrics.json").read_text())
    assert info["labels"] == list(ALNUM)
    assert info["training"]["split"]["kind"] == "writer"  # writer ids exist -> writer-disjoint
    m = info["metrics"]["test_clean"]
    assert 0.0 <= m["accuracy_all36"] <= m["accuracy_in_class"] <= 1.0
    assert set(m["per_class"]) == set(ALNUM)
    assert info["training"]["label_check"]["of"] == 360
    assert "final_val_loss" in info["metrics"] and len(info["metrics"]["history"]["loss"]) == 2


def test_the_fitted_temperature_recovers_how_overconfident_a_model_is():
    from training.train import fit_temperature

    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (4000, 36))
    p_true = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(36, p=p) for p in p_true])  # labels drawn from the true confidences
    sharp = np.exp(2 * logits) / np.exp(2 * logits).sum(1, keepdims=True)  # a model twice as sure
    t, before, after = fit_temperature(sharp, y)
    assert t == pytest.approx(2.0, abs=0.15) and after < before
    assert fit_temperature(p_true, y)[0] == pytest.approx(1.0, abs=0.1)


def test_folding_the_temperature_into_the_output_layer_changes_confidence_not_predictions(smoke_run):
    import keras

    from training.train import fold_temperature

    model = keras.models.load_model(smoke_run / "model.keras", compile=False)
    x = np.random.default_rng(1).random((32, 28, 28, 1)).astype(np.float32)
    before = model.predict(x, verbose=0)
    fold_temperature(model, 0.5)
    after = model.predict(x, verbose=0)
    assert (after.argmax(1) == before.argmax(1)).all()
    z = np.log(before) / 0.5
    want = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(after, want / want.sum(1, keepdims=True), atol=1e-4)
    assert after.max(1).mean() > before.max(1).mean()


def test_smoke_run_records_label_smoothing_and_its_calibration(smoke_run):
    info = json.loads((smoke_run / "metrics.json").read_text())["training"]
    assert info["label_smoothing"] == 0.1
    assert 0.25 <= info["calibration"]["temperature"] <= 4.0
    assert info["calibration"]["held_out_nll_after"] <= info["calibration"]["held_out_nll_before"]


def test_writer_split_keeps_writers_apart(synthetic_npz):
    from training.data import load_npz, writer_split

    ds = load_npz(synthetic_npz)
    tr, te = writer_split(ds, 0.2, seed=1)
    assert not set(ds.writer[tr]) & set(ds.writer[te])
    assert 0.1 < len(te) / len(ds) < 0.35


def test_export_passes_parity_and_writes_valid_metadata(smoke_run, tmp_path):
    from training.export import export_run

    meta_path = export_run(smoke_run, tmp_path, "smoke", int8=True)
    meta = json.loads(meta_path.read_text())
    validate_metadata(meta)
    assert meta["metrics"]["parity"]["samples"] >= 1000
    assert meta["metrics"]["parity"]["max_abs_diff"] <= 1e-5
    assert meta["metrics"]["onnx_test_loss"] > 0
    assert "accepted_as_default" in meta["metrics"]["int8"]
    loaded = load_metadata(meta_path)
    assert loaded.labels == tuple(ALNUM)


def test_export_refuses_a_model_that_fails_parity(smoke_run, tmp_path, monkeypatch):
    import training.export as ex

    monkeypatch.setattr(ex, "PARITY_TOL", -1.0)  # nothing can pass
    with pytest.raises(ModelError, match="parity failed"):
        ex.export_run(smoke_run, tmp_path, "bad", int8=False)
    assert not list(tmp_path.glob("bad*.onnx"))


def test_refit_all_keeps_held_out_metrics_and_trains_on_every_writer(synthetic_npz, tmp_path):
    from training.train import TrainOptions, run_training

    out = run_training(TrainOptions(data=[str(synthetic_npz)], out=tmp_path / "refit", epochs=1, batch_size=64,
                                    clean_labels=False, refit_all=True, verbose=0))
    info = json.loads((out / "metrics.json").read_text())
    t = info["training"]
    assert t["refit_all"]["train_writers"] == 10 > t["split"]["train_writers"]
    assert t["refit_all"]["train_samples"] == 360 > t["split"]["train_samples"]
    assert info["metrics"]["test_clean"]["samples"] == t["split"]["test_samples"]  # from the held-out model
    arrays = np.load(out / "eval_arrays.npz")
    assert arrays["p_test_holdout"].shape == (t["split"]["test_samples"], 36)  # for honest review studies
    assert (out / "holdout.keras").stat().st_size > 0


def test_exporting_holdout_weights_of_a_run_without_a_refit_is_refused(smoke_run, tmp_path):
    from training.export import export_run

    with pytest.raises(ModelError, match="holdout"):
        export_run(smoke_run, tmp_path, "smoke", int8=False, weights="holdout")
    assert not list(tmp_path.iterdir())


def test_soft_targets_mix_the_smoothed_label_with_the_teachers_by_alpha():
    from training.train import soft_targets

    y = np.array([0, 2])
    plain = soft_targets(y, 4, 0.0)
    assert plain.tolist() == [[1, 0, 0, 0], [0, 0, 1, 0]]
    smoothed = soft_targets(y, 4, 0.2)
    np.testing.assert_allclose(smoothed[0], [0.85, 0.05, 0.05, 0.05])
    teacher = np.array([[0.0, 1.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]], np.float32)
    mixed = soft_targets(y, 4, 0.2, teacher, alpha=0.25)
    np.testing.assert_allclose(mixed[0], 0.75 * smoothed[0] + 0.25 * teacher[0], rtol=1e-6)
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, rtol=1e-6)


def test_distillation_trains_the_teachers_and_records_them(synthetic_npz, tmp_path):
    from training.train import TrainOptions, run_training

    out = run_training(TrainOptions(data=[str(synthetic_npz)], out=tmp_path / "distil", epochs=1, batch_size=64,
                                    clean_labels=False, teachers=2, distill_alpha=0.5, weight_decay=1e-4,
                                    verbose=0))
    info = json.loads((out / "metrics.json").read_text())
    assert info["training"]["distillation"]["teachers"] == 2
    assert info["training"]["weight_decay"] == 1e-4
    teach = info["metrics"]["teachers_averaged"]
    assert teach["samples"] == info["training"]["split"]["test_samples"]
    assert 0.0 <= teach["accuracy_in_class"] <= 1.0
    assert len(info["metrics"]["history"]["val_accuracy"]) == 1  # the kept model was validated
