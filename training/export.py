"""ONNX export with a parity gate, optional static int8 quantisation, and metadata."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from segmentation.errors import ModelError
from worker.model_meta import build_metadata, write_metadata

PARITY_TOL = 1e-5
PARITY_MIN_SAMPLES = 1000
INT8_MAX_DROP_PP = 0.1


def _ort_predict(onnx_path: Path, x: np.ndarray, batch: int = 512) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i : i + batch]})[0] for i in range(0, len(x), batch)])


def export_onnx(model, path: Path, parity_x: np.ndarray) -> dict:
    """Export with Keras' own ONNX exporter; refuse to write unless ONNX matches Keras
    within ``PARITY_TOL`` on at least ``PARITY_MIN_SAMPLES`` samples."""
    if len(parity_x) < PARITY_MIN_SAMPLES:
        raise ModelError(f"parity check needs >= {PARITY_MIN_SAMPLES} samples, got {len(parity_x)}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp) / path.name
        ref = model.predict(parity_x, batch_size=512, verbose=0)  # also builds a freshly loaded model
        model.export(str(tmp_path), format="onnx", verbose=False)
        got = _ort_predict(tmp_path, parity_x)
        diff = float(np.abs(ref - got).max())
        if not diff <= PARITY_TOL:
            raise ModelError(f"ONNX/Keras parity failed: max |diff| {diff:.2e} > {PARITY_TOL:g}; model not written")
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path, path)
    return {"samples": len(parity_x), "max_abs_diff": diff, "tolerance": PARITY_TOL}


class _Calibration:
    """onnxruntime CalibrationDataReader over training samples."""

    def __init__(self, input_name: str, x: np.ndarray, batch: int = 64):
        self._it = iter([{input_name: x[i : i + batch]} for i in range(0, len(x), batch)])

    def get_next(self):
        return next(self._it, None)


def quantize_int8(fp32: Path, out: Path, calib_x: np.ndarray) -> None:
    """Static int8 quantisation: QOperator format, per-channel weights, calibrated on
    training samples. Softmax stays float so probabilities are not quantised."""
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    name = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre), str(out), _Calibration(name, calib_x),
            quant_format=QuantFormat.QOperator, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            op_types_to_quantize=["Conv", "MatMul", "Gemm", "MaxPool", "Relu"],
        )


def in_class_accuracy(probs: np.ndarray, labels: list[str], y: np.ndarray) -> float:
    from training.labels import restricted_probs

    return float((np.array(labels)[restricted_probs(probs, labels, y).argmax(1)] == y).mean())


def parity_inputs(x: np.ndarray, n: int = 2000, seed: int = 0) -> np.ndarray:
    """Up to ``n`` real inputs; a small run is topped up with noise-perturbed copies, since
    parity is about numerical equivalence, not accuracy."""
    if len(x) >= n:
        return x[:n]
    rng = np.random.default_rng(seed)
    extra = x[rng.integers(0, len(x), n - len(x))] + rng.normal(0, 0.1, (n - len(x), *x.shape[1:]))
    return np.concatenate([x, np.clip(extra, 0, 1).astype(np.float32)])


WEIGHTS = {"model": "model.keras", "holdout": "holdout.keras"}


def export_run(run_dir: Path, out_dir: Path, name: str = "formicr", int8: bool = True,
               weights: str = "model") -> Path:
    """Export a finished training run to ``out_dir/<name>.onnx`` + ``.json``.

    With ``int8``, also quantises; the int8 model becomes ``<name>.onnx`` only when its
    in-class test accuracy is within ``INT8_MAX_DROP_PP`` points of fp32, and the fp32
    model is then kept as ``<name>-fp32.onnx``. ``weights="holdout"`` exports a refit run's
    writer-disjoint model instead, for honest end-to-end checks on the held-out writers.
    Returns the default model's json path."""
    import keras

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    info = json.loads((run_dir / "metrics.json").read_text())
    arrays = np.load(run_dir / "eval_arrays.npz", allow_pickle=False)
    keras_path = run_dir / WEIGHTS[weights]
    if not keras_path.exists():
        hint = " (holdout weights exist only for --refit-all runs)" if weights == "holdout" else ""
        raise ModelError(f"{keras_path}: not found{hint}")
    model = keras.models.load_model(keras_path, compile=False)  # inference only: no loss or optimiser needed
    if weights == "holdout":
        info["training"] = {**info["training"], "refit_all": None,
                            "weights": "held-out: trained on the writer-disjoint training side only"}
    labels = info["labels"]
    x_test, y_test, calib = arrays["x_test"], arrays["y_test"].astype(str), arrays["x_calib"]
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    fp32_path = out_dir / f"{name}-fp32.onnx" if int8 else out_dir / f"{name}.onnx"
    parity = export_onnx(model, fp32_path, parity_inputs(np.concatenate([x_test, calib])))
    probs = _ort_predict(fp32_path, x_test)
    acc_fp32 = in_class_accuracy(probs, labels, y_test)
    index = {c: i for i, c in enumerate(labels)}
    p_true = probs[np.arange(len(y_test)), [index[c] for c in y_test]]
    metrics = {**info["metrics"], "parity": parity, "onnx_test_accuracy_in_class_fp32": round(acc_fp32, 5),
               "onnx_test_loss": round(float(-np.log(np.clip(p_true, 1e-7, 1)).mean()), 5)}
    training = info["training"]
    if training.get("refit_all"):
        metrics["onnx_test_note"] = ("the shipped weights are a refit that saw these test writers: the onnx_test_* "
                                     "and int8 numbers check export and quantisation, not generalisation "
                                     "(see test_clean for that)")
    extra = {"precision": "fp32"}
    default_path = fp32_path
    if int8:
        int8_path = out_dir / f"{name}-int8.tmp.onnx"
        quantize_int8(fp32_path, int8_path, calib)
        probs8 = _ort_predict(int8_path, x_test)
        acc_int8 = in_class_accuracy(probs8, labels, y_test)
        drop_pp = (acc_fp32 - acc_int8) * 100
        accepted = drop_pp <= INT8_MAX_DROP_PP
        metrics["int8"] = {"test_accuracy_in_class": round(acc_int8, 5), "drop_pp": round(drop_pp, 3),
                           "top1_agreement_with_fp32": round(float((probs8.argmax(1) == probs.argmax(1)).mean()), 5),
                           "max_drop_pp": INT8_MAX_DROP_PP, "accepted_as_default": accepted}
        if accepted:
            default_path = out_dir / f"{name}.onnx"
            int8_path.replace(default_path)
            extra = {"precision": "int8", "quantisation": "static QOperator per-channel, MinMax calibration "
                     f"on {len(calib)} training samples", "fp32_reference": fp32_path.name}
            write_metadata(build_metadata(fp32_path, labels, training, metrics, precision="fp32"),
                           fp32_path.with_suffix(".json"))
        else:
            int8_path.unlink()
            default_path = out_dir / f"{name}.onnx"
            fp32_path.replace(default_path)
            for stale in (out_dir / f"{name}-fp32.json",):
                stale.unlink(missing_ok=True)
    meta = build_metadata(default_path, labels, training, metrics, **extra)
    write_metadata(meta, default_path.with_suffix(".json"))
    print(f"exported {default_path} ({extra['precision']}) in {time.perf_counter() - t0:.1f}s; "
          f"parity max|diff| {parity['max_abs_diff']:.1e}")
    if int8:
        print(f"int8: in-class accuracy {metrics['int8']['test_accuracy_in_class']:.4%} vs fp32 {acc_fp32:.4%} "
              f"(drop {metrics['int8']['drop_pp']:.3f} pp) -> {'shipped' if metrics['int8']['accepted_as_default'] else 'rejected'}")
    return default_path.with_suffix(".json")
