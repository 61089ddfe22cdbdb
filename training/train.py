"""A training run: load, check labels, split, train with augmentation, report."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from segmentation.charsets import ALNUM
from training.augment import AugmentConfig, augment_batch
from training.data import DEFAULT_SETS, Dataset, load_sets, random_split, scale, writer_split


@dataclass
class TrainOptions:
    data: list[str] = field(default_factory=lambda: list(DEFAULT_SETS))
    out: Path = Path("runs/latest")
    arch: str = "default"
    epochs: int = 10
    batch_size: int = 128
    seed: int = 42
    split: str = "auto"  # auto | writer | random
    test_frac: float = 0.2
    augment: bool = True
    clean_labels: bool = True
    max_samples: int | None = None  # stratified subsample, for smoke runs
    clean_epochs: int = 4
    verbose: int | None = None  # Keras verbosity; default: bar on a tty, a line per epoch otherwise
    # After the held-out evaluation, train the same recipe again on every writer and keep those
    # weights: more writers generalise better, and the held-out numbers still describe the recipe.
    refit_all: bool = False
    # Redraw UNIPEN samples from their pen strokes at random pen widths as part of augmentation,
    # where unipen_raw_strokes.tar.gz lies beside the npz sets (training.strokes). Off by default:
    # at 10 epochs it moved held-out accuracy by less than run-to-run noise (docs/model.md).
    redraw: bool = False
    # Cross-entropy against targets smoothed by this much (Szegedy et al. 2016): 0.1 gained 0.25
    # points in class on held-out writers at 25 epochs, and every pen-width column (docs/model.md).
    # It also makes the model under-confident, which the fitted temperature (below) undoes.
    label_smoothing: float = 0.1
    # Knowledge distillation (Hinton et al. 2015): train this many models of the same recipe
    # (other seeds) first, then train the kept model against targets that mix the smoothed
    # label with the teachers' averaged predictions on the same augmented batch, by
    # ``distill_alpha``. The shipped graph stays one small model; training costs 1 + teachers
    # times as much, and more for the teachers' forward passes.
    teachers: int = 0
    distill_alpha: float = 0.5
    # Decoupled weight decay (AdamW, Loshchilov & Hutter 2019); 0 = plain Adam.
    weight_decay: float = 0.0


# Pen widths (on the 96 px stroke canvas) at which the held-out writers are redrawn for the
# stroke-width report; 6 is about the npz sets' own width.
REPORT_PENS = {"thin": 2.5, "as_npz": 6.0, "thick": 12.0}


def smoothed_loss(n_classes: int, smoothing: float):
    """Sparse categorical cross-entropy, with labels smoothed when ``smoothing`` > 0."""
    if not smoothing:
        return "sparse_categorical_crossentropy"
    import keras
    import tensorflow as tf

    cce = keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)

    def loss(y_true, y_pred):
        return cce(tf.one_hot(tf.cast(tf.reshape(y_true, [-1]), tf.int32), n_classes), y_pred)

    return loss


def fit_temperature(probs: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """The softmax temperature that minimises the negative log-likelihood of ``probs`` on the
    labels ``y`` (class indices): (temperature, NLL at 1, NLL at the temperature). One scalar,
    searched on a grid; it changes no prediction, only how confident each one is."""
    def nll(t: float) -> float:
        return float(-np.log(np.clip(tempered(probs, t)[np.arange(len(y)), y], 1e-300, 1.0)).mean())

    grid = np.round(np.arange(0.25, 4.0001, 0.01), 2)
    scores = [nll(t) for t in grid]
    best = float(grid[int(np.argmin(scores))])
    return best, round(nll(1.0), 5), round(min(scores), 5)


def tempered(probs: np.ndarray, t: float) -> np.ndarray:
    """Softmax probabilities as the same model would give them at temperature ``t``:
    softmax(log p / t), which equals softmax(logits / t)."""
    z = np.log(np.clip(probs.astype(np.float64), 1e-12, 1.0)) / t
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fold_temperature(model, t: float) -> None:
    """Divide the output layer's logits by ``t``, in its weights: softmax(Wx + b) becomes
    softmax((Wx + b) / t), so the exported ONNX file needs no extra operation."""
    out = model.layers[-1]
    kernel, bias = out.get_weights()
    out.set_weights([kernel / t, bias / t])


def _subsample(ds: Dataset, n: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(ds))[:n]
    return ds.subset(np.sort(idx))


def soft_targets(y: np.ndarray, n_classes: int, smoothing: float, teacher: np.ndarray | None = None,
                 alpha: float = 0.5) -> np.ndarray:
    """One-hot targets for class indices ``y``, smoothed, and mixed with teacher probabilities
    (weight ``alpha``) when given."""
    t = np.full((len(y), n_classes), smoothing / n_classes, np.float32)
    t[np.arange(len(y)), y] += 1.0 - smoothing
    return t if teacher is None else (1.0 - alpha) * t + alpha * teacher.astype(np.float32)


def _make_sequence(x: np.ndarray, y: np.ndarray, batch: int, seed: int, cfg: AugmentConfig | None,
                   strokes: np.ndarray | None = None, targets=None):
    """``targets``, when given, maps (augmented batch, class indices) to the soft target rows
    the batch is trained against (distillation); otherwise the batch carries class indices."""
    import keras

    class AugmentedBatches(keras.utils.PyDataset):
        """Shuffled batches, freshly augmented every epoch (seeded per epoch and batch)."""

        def __init__(self):
            super().__init__()
            self.epoch = 0
            self.order = np.random.default_rng(seed).permutation(len(x))

        def __len__(self):
            return int(np.ceil(len(x) / batch))

        def __getitem__(self, i):
            idx = self.order[i * batch : (i + 1) * batch]
            if cfg is None:
                xb = scale(x[idx])
            else:
                rng = np.random.default_rng((seed, self.epoch, i))
                xb = augment_batch(x[idx], rng, cfg, None if strokes is None else strokes[idx])
            return xb, (y[idx] if targets is None else targets(xb, y[idx]))

        def on_epoch_end(self):
            self.epoch += 1
            self.order = np.random.default_rng((seed, self.epoch)).permutation(len(x))

    return AugmentedBatches()


def _pen_width_report(model, test: Dataset, labels: list[str]) -> dict:
    """In-class accuracy on the held-out writers' glyphs redrawn from their pen strokes at a
    thin, the usual and a thick pen (labels checked by eye as wrong left out)."""
    from training import reports
    from training.strokes import render_all

    test = test.with_strokes()
    out = {"samples": len(test), "note": "held-out writers redrawn from UNIPEN pen strokes (training.strokes); "
           "pen width in pixels of the 96 px stroke canvas, whose glyph spans 80 px"}
    for name, pen in REPORT_PENS.items():
        probs = model.predict(render_all(test.strokes, pen), batch_size=1024, verbose=0)
        r = reports.accuracy_report(probs, labels, test.y, test.group)
        out[name] = {"pen": pen, **{k: r[k] for k in ("accuracy_in_class", "letters_in_class", "digits_in_class")}}
        print(f"held-out writers redrawn, {name} pen ({pen:g}): in-class {r['accuracy_in_class']:.4%} "
              f"(letters {r['letters_in_class']}, digits {r['digits_in_class']})", flush=True)
    return out


def run_training(opts: TrainOptions) -> Path:
    """Train, evaluate and write the run directory; returns it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from training import reports
    from training.labels import audited_wrong, find_noisy_labels
    from training.model import build_model

    t_start = time.perf_counter()
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    verbose = opts.verbose if opts.verbose is not None else (1 if sys.stdout.isatty() else 2)
    keras.utils.set_random_seed(opts.seed)

    ds = load_sets(opts.data, strokes=True)  # strokes where the archive is present: redraws and pen report
    print(f"dedupe: {ds.dedupe['duplicates_dropped']} repeated samples dropped, "
          f"{sum(map(len, ds.dedupe['writers_merged'].values()))} writer ids merged into the writer they repeat",
          flush=True)
    if opts.max_samples and len(ds) > opts.max_samples:
        ds = _subsample(ds, opts.max_samples, opts.seed)
    labels = [c for c in ALNUM if c in set(ds.y)]
    index = {c: i for i, c in enumerate(labels)}
    print(f"data: {len(ds)} samples, {len(labels)} classes, sources: "
          + ", ".join(f"{s['name']} ({s['samples']})" for s in ds.sources), flush=True)

    label_report = None
    if opts.clean_labels and ds.has_writers:
        flagged, label_report = find_noisy_labels(ds, labels, epochs=opts.clean_epochs, seed=opts.seed,
                                                  verbose=verbose)
        print(f"label check: dropping {int(flagged.sum())} of {len(ds)} samples whose labels out-of-fold "
              f"models confidently contradict", flush=True)
        keep = ~flagged
    else:
        keep = np.ones(len(ds), bool)
    # labels a person checked and found wrong (training/label_audit.csv): never trained on,
    # and left out of the test_checked numbers
    audited = audited_wrong(ds.x, ds.y)

    split = opts.split
    if split == "auto":
        split = "writer" if ds.has_writers else "random"
        if not ds.has_writers:
            print("split: some data has no writer ids, so the classic random split is used "
                  "(accuracy will be optimistic)", flush=True)
    tr, te = writer_split(ds, opts.test_frac, opts.seed) if split == "writer" else random_split(ds, opts.test_frac, opts.seed)
    tr_keep = tr[keep[tr] & ~audited[tr]]
    te_clean = te[keep[te]]
    y_all = np.array([index[c] for c in ds.y])

    cfg = AugmentConfig() if opts.augment else None
    strokes = ds.strokes if opts.redraw and cfg is not None else None
    if strokes is not None:
        print(f"redraw: {sum(s is not None for s in strokes)} samples can be redrawn from their pen strokes",
              flush=True)

    n_classes = len(labels)

    def compiled_model(n_train: int, soft: bool):
        m = build_model(opts.arch, n_classes)
        steps = int(np.ceil(n_train / opts.batch_size)) * opts.epochs  # cosine decay over the whole run
        schedule = keras.optimizers.schedules.CosineDecay(1e-3, steps, alpha=0.05)
        optimizer = (keras.optimizers.AdamW(schedule, weight_decay=opts.weight_decay) if opts.weight_decay
                     else keras.optimizers.Adam(schedule))
        if soft:  # the batches carry soft target rows, already smoothed
            m.compile(optimizer=optimizer, loss=keras.losses.CategoricalCrossentropy(),
                      metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
        else:
            m.compile(optimizer=optimizer, loss=smoothed_loss(n_classes, opts.label_smoothing),
                      metrics=["accuracy"])
        return m

    def fit(idx: np.ndarray, seed: int, teachers: list | None = None, validation=None):
        """The recipe on samples ``idx``: a compiled model fitted with fresh augmentation every
        epoch, against the teachers' averaged predictions mixed into the targets when given."""
        keras.utils.set_random_seed(seed)
        targets = None
        if teachers:
            def targets(xb, yb):
                p = np.mean([t(xb, training=False).numpy() for t in teachers], axis=0)
                return soft_targets(yb, n_classes, opts.label_smoothing, p, opts.distill_alpha)
            if validation is not None:
                validation = (validation[0], soft_targets(validation[1], n_classes, 0.0))
        m = compiled_model(len(idx), soft=bool(teachers))
        seq = _make_sequence(ds.x[idx], y_all[idx], opts.batch_size, seed, cfg,
                             None if strokes is None else strokes[idx], targets)
        return m, m.fit(seq, epochs=opts.epochs, validation_data=validation, verbose=verbose)

    def fit_teachers(idx: np.ndarray) -> list:
        out_ = []
        for k in range(opts.teachers):
            print(f"distillation: teacher {k + 1}/{opts.teachers} ({len(idx)} samples)", flush=True)
            out_.append(fit(idx, opts.seed + 1000 * (k + 1))[0])
        return out_

    x_te = scale(ds.x[te_clean])
    print(f"train: {len(tr_keep)} samples, test: {len(te_clean)} ({split} split, "
          f"{len(set(ds.writer[te]))} test writers), arch {opts.arch}, {opts.epochs} epochs, batch {opts.batch_size}",
          flush=True)
    t_fit = time.perf_counter()
    teachers = fit_teachers(tr_keep)
    if teachers:
        p_each = [t.predict(x_te, batch_size=1024, verbose=0) for t in teachers]
        each = [reports.accuracy_report(p, labels, ds.y[te_clean], ds.group[te_clean]) for p in p_each]
        for k, r in enumerate(each):
            print(f"distillation: teacher {k + 1} alone scores in-class {r['accuracy_in_class']:.4%} "
                  f"(letters {r['letters_in_class']}, digits {r['digits_in_class']})", flush=True)
        teacher_report = reports.accuracy_report(np.mean(p_each, axis=0), labels, ds.y[te_clean],
                                                 ds.group[te_clean])
        teacher_report["each_in_class"] = [r["accuracy_in_class"] for r in each]
        print(f"distillation: the {len(teachers)} teachers averaged score in-class "
              f"{teacher_report['accuracy_in_class']:.4%} (letters {teacher_report['letters_in_class']}, "
              f"digits {teacher_report['digits_in_class']})", flush=True)
    t_student = time.perf_counter()
    model, hist = fit(tr_keep, opts.seed, teachers, (x_te, y_all[te_clean]))
    fit_s = time.perf_counter() - t_student  # the kept model's own fit (teachers' forward passes included)
    teachers_s = t_student - t_fit

    # calibrate: the temperature that makes the held-out model's confidences honest on the
    # held-out writers, folded into the output layer (the refit below gets the same one)
    probs = model.predict(x_te, batch_size=1024, verbose=0)
    temperature, nll_before, nll_after = fit_temperature(probs, y_all[te_clean])
    fold_temperature(model, temperature)
    probs = tempered(probs, temperature).astype(np.float32)  # what the folded model now gives
    print(f"calibration: temperature {temperature:.2f} (held-out NLL {nll_before:.4f} -> {nll_after:.4f})",
          flush=True)
    y_te = ds.y[te_clean]
    metrics = {
        "test_clean": reports.accuracy_report(probs, labels, y_te, ds.group[te_clean]),
        "train_samples_per_second": round(len(tr_keep) * opts.epochs / fit_s, 1),
        "fit_seconds": round(fit_s, 1),
        "final_val_accuracy": round(float(hist.history["val_accuracy"][-1]), 5),
        "final_val_loss": round(float(hist.history["val_loss"][-1]), 5),
        "final_train_accuracy": round(float(hist.history["accuracy"][-1]), 5),  # on augmented batches
        "final_train_loss": round(float(hist.history["loss"][-1]), 5),
        "history": {k: [round(float(v), 5) for v in vals] for k, vals in hist.history.items()},
    }
    if teachers:
        teacher_report.pop("per_class")
        metrics["teachers_averaged"] = teacher_report | {"fit_seconds": round(teachers_s, 1)}
    checked = ~audited[te_clean]
    if not checked.all():
        metrics["test_checked"] = reports.accuracy_report(probs[checked], labels, y_te[checked],
                                                          ds.group[te_clean][checked])
        metrics["test_checked"].pop("per_class")
        metrics["test_checked"]["note"] = ("test_clean less the labels a person found wrong "
                                           "(training/label_audit.csv)")
    if len(te) != len(te_clean):  # honest number on every test label too, noisy ones included
        probs_raw = model.predict(scale(ds.x[te]), batch_size=1024, verbose=0)
        metrics["test_all_labels"] = reports.accuracy_report(probs_raw, labels, ds.y[te], ds.group[te])
        metrics["test_all_labels"].pop("per_class")

    if ds.strokes is not None:
        metrics["test_pen_width"] = _pen_width_report(model, ds.subset(te_clean[~audited[te_clean]]), labels)

    lab = np.array(labels)
    pred = lab[probs.argmax(1)]
    conf = probs.max(1)
    reports.confusion_png(y_te, pred, labels, out / "confusion.png")
    reports.curves_png(hist.history, out / "curves.png")
    rng = np.random.default_rng(opts.seed)
    pick = rng.choice(len(tr_keep), 9, replace=False)
    reports.grid_png(ds.x[tr_keep][pick], [f"Alphabet : {c}" for c in ds.y[tr_keep][pick]], out / "samples.png")
    pick = rng.choice(len(te_clean), 9, replace=False)
    reports.grid_png(x_te[pick], [f"{t} / {p}" for t, p in zip(y_te[pick], pred[pick], strict=True)],
                     out / "test_predictions.png", "Real / Predicted")
    reports.predictions_csv(y_te, pred, conf, ds.writer[te_clean], out / "predictions.csv")

    m = metrics["test_clean"]
    print(f"test ({split} split): all-36 accuracy {m['accuracy_all36']:.4%}, in-class {m['accuracy_in_class']:.4%} "
          f"(letters {m['letters_in_class']}, digits {m['digits_in_class']})", flush=True)
    if "optdigits" in m["by_group_in_class"]:
        print(f"thick-stroke bitmap digits (optdigits, unseen writer blocks): "
              f"{m['by_group_in_class']['optdigits']['accuracy']:.4%}", flush=True)

    refit = None
    fit_idx = tr_keep
    if opts.refit_all:
        fit_idx = np.nonzero(keep & ~audited)[0]
        print(f"refit: training the same recipe again on all {len(fit_idx)} samples "
              f"({len(set(ds.writer[fit_idx]))} writers); the held-out numbers above describe this recipe",
              flush=True)
        model.save(out / "holdout.keras")  # the writer-disjoint model the metrics describe
        t_refit = time.perf_counter()
        model, _ = fit(fit_idx, opts.seed, fit_teachers(fit_idx))
        fold_temperature(model, temperature)
        refit = {"train_samples": len(fit_idx), "train_writers": len(set(ds.writer[fit_idx])),
                 "fit_seconds": round(time.perf_counter() - t_refit, 1),
                 "note": "shipped weights: the same recipe refit on every writer (held-out writers included). "
                         "The test metrics come from the writer-disjoint model trained first; the refit "
                         "has no held-out score of its own."}

    total_s = time.perf_counter() - t_start
    training = {
        "data": [{k: v for k, v in s.items() if k != "path"} | {"path": s["path"]} for s in ds.sources],
        "samples_used": int((keep & ~audited).sum()),
        "dedupe": ds.dedupe,
        "label_check": label_report,
        "label_audit": {"file": "training/label_audit.csv", "matched": int(audited.sum()),
                        "note": "labels a person checked and found wrong; never trained on"},
        "split": {"kind": split, "test_frac": opts.test_frac, "seed": opts.seed, "train_samples": len(tr_keep),
                  "test_samples": len(te_clean), "test_writers": len(set(ds.writer[te])),
                  "train_writers": len(set(ds.writer[tr]))},
        "arch": opts.arch,
        "params": int(model.count_params()),
        "epochs": opts.epochs,
        "batch_size": opts.batch_size,
        "seed": opts.seed,
        "augment": cfg.to_dict() if cfg else None,
        "label_smoothing": opts.label_smoothing,
        "weight_decay": opts.weight_decay,
        "distillation": {"teachers": opts.teachers, "alpha": opts.distill_alpha,
                         "note": "the kept model was trained against targets mixing the smoothed label with "
                                 "the averaged predictions of this many models of the same recipe (other "
                                 "seeds, same samples) on the same augmented batch"} if opts.teachers else None,
        "calibration": {"temperature": temperature, "held_out_nll_before": nll_before,
                        "held_out_nll_after": nll_after,
                        "note": "softmax temperature fitted (NLL) on the held-out writers' predictions and "
                                "folded into the output layer's weights (of the refit too); it changes no "
                                "prediction, only the confidences the review threshold reads"},
        "redraw": None if strokes is None else {
            "samples_with_strokes": int(sum(s is not None for s in strokes)),
            "note": "augmented samples redrawn from UNIPEN pen strokes (p_redraw, pen in augment)"},
        "refit_all": refit,
        "command": " ".join(["formicr", *sys.argv[1:]]) if sys.argv else "",
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(opts).items()},
        "seconds_total": round(total_s, 1),
        "versions": {"keras": keras.__version__, "tensorflow": __import__("tensorflow").__version__},
    }
    model.save(out / "model.keras")
    calib = scale(ds.x[fit_idx][rng.choice(len(fit_idx), min(1000, len(fit_idx)), replace=False)])
    # p_test_holdout: the held-out model's probabilities, for honest review/threshold studies
    # (bench.review) even when the shipped weights are a refit that saw the test writers
    np.savez_compressed(out / "eval_arrays.npz", x_test=x_te, y_test=y_te.astype(str), x_calib=calib,
                        p_test_holdout=probs.astype(np.float32))
    (out / "metrics.json").write_text(json.dumps({"labels": labels, "training": training, "metrics": metrics},
                                                 indent=2) + "\n")
    print(f"training throughput {metrics['train_samples_per_second']:.0f} samples/s; "
          f"total execution time {total_s:.1f}s")
    return out
