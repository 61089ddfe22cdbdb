"""Classifier throughput: characters per second with onnxruntime, batch 1/32/256, 1 and
2 threads, fp32 and int8, all in one run (the machine is shared: compare within a run).

    python -m bench.classifier [--seconds 1.5]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import onnxruntime as ort

from worker.model_meta import DEFAULT_MODEL, MODELS_DIR, load_metadata


def throughput(path, batch: int, threads: int, seconds: float) -> float:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x = np.random.default_rng(0).random((batch, 28, 28, 1), dtype=np.float32)
    sess.run(None, {name: x})
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        sess.run(None, {name: x})
        n += batch
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=1.5)
    args = ap.parse_args()
    shipped = load_metadata(DEFAULT_MODEL)
    models = {shipped.raw.get("precision", "fp32"): shipped.onnx_path}
    fp32 = MODELS_DIR / f"{shipped.name}-fp32.onnx"
    if fp32.exists():
        models["fp32"] = fp32
    print(f"model {shipped.onnx_path.name} ({shipped.raw.get('precision')}), params "
          f"{shipped.raw['training'].get('params')}; chars/s, higher is better")
    print(f"{'model':6s} {'threads':>7s} {'batch 1':>10s} {'batch 32':>10s} {'batch 256':>10s}")
    results = {}
    for label, path in sorted(models.items()):
        for threads in (1, 2):
            row = [throughput(path, b, threads, args.seconds) for b in (1, 32, 256)]
            results[(label, threads)] = row
            print(f"{label:6s} {threads:7d} " + " ".join(f"{v:10.0f}" for v in row))
    best = results.get(("int8", 2), results.get(("fp32", 2)))
    print(f"shipped model, batch 256, 2 threads: {best[2]:.0f} chars/s (target >= 10,000)")
    if ("int8", 2) in results and ("fp32", 2) in results:
        print(f"int8 / fp32 speed-up at batch 256, 2 threads: {results[('int8', 2)][2] / results[('fp32', 2)][2]:.2f}x")
    m = shipped.raw["metrics"]
    print(f"training throughput (recorded at training time, this 2-core machine): "
          f"{m.get('train_samples_per_second')} samples/s; " + json.dumps({"fit_seconds": m.get("fit_seconds")}))


if __name__ == "__main__":
    main()
