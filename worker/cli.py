"""The ``formicr`` command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from segmentation.errors import FormicrError


class FormicrGroup(click.Group):
    """Maps FormicrError subclasses to their exit codes with a one-line message, no traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FormicrError as exc:
            click.echo(f"formicr: error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=FormicrGroup)
@click.version_option(package_name="formicr")
def main() -> None:
    """formicr: read hand-printed capitals and digits on scanned forms into CSV."""


@main.command()
@click.option("--data", "data", multiple=True,
              help="Data set: unipen-upper, unipen-digits, optdigits, a .npz or a Kaggle .csv[.gz]. Repeatable.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/latest"), show_default=True,
              help="Run directory for the model and reports.")
@click.option("--arch", type=click.Choice(["default", "baseline"]), default="default", show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=10, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=128, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--split", type=click.Choice(["auto", "writer", "random"]), default="auto", show_default=True,
              help="auto = writer-disjoint when writer ids exist, else the classic random 80:20.")
@click.option("--augment/--no-augment", default=True, show_default=True)
@click.option("--clean-labels/--no-clean-labels", default=True, show_default=True,
              help="Drop samples whose labels out-of-fold models confidently contradict.")
@click.option("--max-samples", type=click.IntRange(10), default=None, help="Subsample (for smoke runs).")
@click.option("--clean-epochs", type=click.IntRange(1), default=4, show_default=True)
@click.option("--refit-all/--no-refit-all", default=False, show_default=True,
              help="After the held-out evaluation, retrain the same recipe on every writer and keep those "
                   "weights (metrics still come from the held-out run).")
@click.option("--redraw/--no-redraw", default=False, show_default=True,
              help="Also augment by redrawing UNIPEN samples from their pen strokes at other pen widths "
                   "(needs unipen_raw_strokes.tar.gz beside the npz sets).")
@click.option("--label-smoothing", type=click.FloatRange(0.0, 0.5), default=0.1, show_default=True,
              help="Smooth the training targets by this much (0 = plain cross-entropy, the classic recipe).")
@click.option("--teachers", type=click.IntRange(0, 8), default=0, show_default=True,
              help="Distil: train this many models of the same recipe first and teach the kept one "
                   "their averaged predictions (training costs 1 + N times as much).")
@click.option("--distill-alpha", type=click.FloatRange(0.0, 1.0), default=0.5, show_default=True,
              help="With --teachers: the teachers' share of the training targets.")
@click.option("--weight-decay", type=click.FloatRange(0.0, 1.0), default=0.0, show_default=True,
              help="Decoupled weight decay (AdamW); 0 = Adam.")
def train(data, out, arch, epochs, batch_size, seed, split, augment, clean_labels, max_samples, clean_epochs,
          refit_all, redraw, label_smoothing, teachers, distill_alpha, weight_decay):
    """Train the CNN and write reports to a run directory."""
    from training.data import DEFAULT_SETS
    from training.train import TrainOptions, run_training

    run_training(TrainOptions(data=list(data) or list(DEFAULT_SETS), out=out, arch=arch, epochs=epochs,
                              batch_size=batch_size, seed=seed, split=split, augment=augment,
                              clean_labels=clean_labels, max_samples=max_samples, clean_epochs=clean_epochs,
                              refit_all=refit_all, redraw=redraw, label_smoothing=label_smoothing,
                              teachers=teachers, distill_alpha=distill_alpha, weight_decay=weight_decay))


@main.command()
@click.option("--run", "run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=Path("runs/latest"), show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("models"), show_default=True)
@click.option("--name", default="formicr", show_default=True)
@click.option("--int8/--no-int8", default=True, show_default=True,
              help="Also quantise to int8; ship it only if it costs <= 0.1 pp accuracy.")
@click.option("--weights", type=click.Choice(["model", "holdout"]), default="model", show_default=True,
              help="holdout = a --refit-all run's writer-disjoint model, for checks on the held-out writers.")
def export(run_dir, out, name, int8, weights):
    """Export a training run to models/<name>.onnx + .json (parity-checked)."""
    from training.export import export_run

    export_run(run_dir, out, name, int8, weights)


@main.command()
@click.option("--model", type=click.Path(path_type=Path), default=None, help="Model .json/.onnx (default: shipped).")
@click.option("--data", "data", multiple=True, required=True, help="Data set name, .npz or Kaggle .csv. Repeatable.")
@click.option("--writers", type=click.Choice(["all", "test"]), default="all", show_default=True,
              help="test = only the writer-disjoint test split (seed 42), i.e. writers the shipped model never saw.")
@click.option("--pen", type=click.FloatRange(0.5, 40), default=None,
              help="Redraw the UNIPEN samples from their pen strokes with this pen width (pixels on the 96 px "
                   "stroke canvas; about 6 is the npz sets' own, 2.5 thin, 12 thick) and score those; samples "
                   "without strokes are left out.")
def evaluate(model, data, writers, pen):
    """Accuracy of an ONNX model: over all classes and restricted to the field class."""
    import json

    import numpy as np

    from segmentation.charsets import DIGITS
    from training.data import load_sets, scale, writer_split
    from training.labels import audited_wrong
    from worker.classifier import Classifier

    clf = Classifier(model) if model else Classifier()
    ds = load_sets(data, strokes=pen is not None)  # deduplicated as training saw it: the same test split
    if writers == "test":
        ds = ds.subset(writer_split(ds)[1])
        if clf.meta.refit_all:
            click.echo("note: this model was refit on every writer, these test writers included; the numbers "
                       "below are not held-out (the metadata's test_clean metrics are)", err=True)
    if pen is None:
        x = scale(ds.x)
    else:
        from training.strokes import render_all

        if ds.strokes is None:
            raise click.UsageError("--pen needs UNIPEN sets with unipen_raw_strokes.tar.gz beside them")
        ds = ds.with_strokes()
        x = render_all(ds.strokes, pen)
    probs = clf.probabilities(x)
    labels = list(clf.labels)
    pred_all = np.array(labels)[probs.argmax(1)]
    charsets = ["digits" if c in DIGITS else "letters" for c in ds.y]
    pred_cls = np.array([p.char for p in clf.decode(probs, charsets, top_k=1)])
    checked = ~audited_wrong(ds.x, ds.y)
    res = {"model": str(clf.meta.onnx_path), "samples": len(ds), "pen": pen,
           "accuracy_all": round(float((pred_all == ds.y).mean()), 5),
           "accuracy_in_class": round(float((pred_cls == ds.y).mean()), 5),
           "accuracy_in_class_checked_labels": round(float((pred_cls == ds.y)[checked].mean()), 5),
           "labels_found_wrong": int((~checked).sum()),
           "by_group_in_class": {g: round(float((pred_cls == ds.y)[ds.group == g].mean()), 5)
                                 for g in sorted(set(ds.group))}}
    click.echo(json.dumps(res, indent=2))


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--template", "template_path", type=click.Path(path_type=Path), default=None,
              help="Form template JSON: read its fields (fields.csv) with their charsets. Without "
              "one, every box, comb, underline and tick box is a field, field_01... in reading order, "
              "named as 'formicr template' drafts them.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("out"), show_default=True)
@click.option("--jobs", type=click.IntRange(1, 256), default=None, help="Processes (default: number of cores).")
@click.option("--annotate", is_flag=True, help="Write one annotated PNG per page to OUT/annotated/, and "
              "OUT/review.html, the fields that need review with their crops.")
@click.option("--model", type=click.Path(path_type=Path), default=None, help="Model .json (default: shipped).")
@click.option("--review-threshold", type=click.FloatRange(0, 1), default=None,
              help="Fields whose weakest character is below this need review (default 0.80).")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when stdout is a terminal).")
@click.option("--perspective/--no-perspective", default=True, show_default=True,
              help="Square photos taken at an angle from their own form lines (about 28 ms a page); "
              "--no-perspective for flatbed and sheet-fed scans, which never need it.")
def read(inputs, template_path, out, jobs, annotate, model, review_threshold, progress, perspective):
    """Read forms in-process (no Redis): INPUT is files, directories (recursive) or globs."""
    from segmentation.template import load_template
    from worker.pipeline import ReadOptions
    from worker.results import REVIEW_THRESHOLD
    from worker.runner import run_read

    if model is not None:  # fail fast on a bad model, before any file is read
        from worker.model_meta import load_metadata

        load_metadata(model)
    options = ReadOptions(template=load_template(template_path) if template_path else None,
                          annotate_dir=out / "annotated" if annotate else None,
                          review_threshold=REVIEW_THRESHOLD if review_threshold is None else review_threshold,
                          perspective=perspective)
    summary, _ = run_read(list(inputs), out, options, jobs=jobs, model=str(model) if model else None,
                          progress=progress)
    click.echo(summary.line())
    click.echo(f"results in {out}/")
    sys.exit(exit_code(summary))


def exit_code(summary) -> int:
    """0 all well; 3 some inputs failed (the rest were read); 70 an internal failure."""
    from segmentation.errors import FormicrError, InputError

    if summary.internal_errors:
        return FormicrError.exit_code
    return InputError.exit_code if summary.errors else 0


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--template", "template_path", type=click.Path(path_type=Path), default=None)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("out"), show_default=True,
              help="Job output directory (must lie under FORMICR_OUTPUT_ROOT).")
@click.option("--broker", default=None, help="Redis URL (default: $FORMICR_BROKER_URL or redis://localhost:6379/0).")
@click.option("--annotate", is_flag=True, help="Workers write annotated PNGs to OUT/annotated/, and the job "
              "OUT/review.html, the fields that need review with their crops.")
@click.option("--wait", "wait_", is_flag=True, help="Show progress until the job is done, then the summary.")
@click.option("--timeout", type=click.FloatRange(0), default=None, help="With --wait: give up after this many seconds.")
@click.option("--perspective/--no-perspective", default=True, show_default=True,
              help="Square photos taken at an angle from their own form lines (about 28 ms a page); "
              "--no-perspective for flatbed and sheet-fed scans, which never need it.")
def submit(inputs, template_path, out, broker, annotate, wait_, timeout, perspective):
    """Queue forms for Celery workers; prints the job id."""
    from segmentation.template import load_template
    from worker import queue

    settings = queue.settings_with(broker)
    tpl = load_template(template_path) if template_path else None
    job_id, store, info = queue.submit(list(inputs), out, settings, tpl, annotate, perspective=perspective)
    click.echo(job_id)
    click.echo(f"queued {info['queued']} forms, skipped {info['skipped']} already read, "
               f"refused {info['refused']}", err=True)
    if wait_:
        queue.wait(store, job_id, timeout=timeout, settings=settings)
        summary = queue.summary_of(store, job_id)
        click.echo(summary.line())
        click.echo(f"results in {store.state(job_id)['out']}/")
        sys.exit(exit_code(summary))


@main.command()
@click.option("--concurrency", type=click.IntRange(1, 256), default=None,
              help="Worker processes (default: $FORMICR_CONCURRENCY or the number of cores).")
@click.option("--queues", default=None, help="Comma-separated queues (default: $FORMICR_QUEUE or 'formicr').")
@click.option("--broker", default=None, help="Redis URL (default: $FORMICR_BROKER_URL).")
@click.option("--loglevel", default="INFO", show_default=True)
@click.option("--pool", type=click.Choice(["prefork", "solo", "threads"]), default="prefork", show_default=True)
def worker(concurrency, queues, broker, loglevel, pool):
    """Start a Celery worker with formicr's settings (fails fast if Redis is unreachable)."""
    import os

    from worker import queue
    from worker.jobs import connect

    settings = queue.settings_with(broker)
    connect(settings.broker_url)
    if broker:
        os.environ["FORMICR_BROKER_URL"] = broker
        os.environ["FORMICR_RESULT_BACKEND"] = broker
    from worker.celery_app import app

    argv = ["worker", f"--loglevel={loglevel}", f"--concurrency={concurrency or settings.concurrency}",
            f"--queues={queues or settings.queue}", f"--pool={pool}", "--without-gossip", "--without-mingle",
            "--hostname", f"formicr-{os.getpid()}@%h"]
    app.worker_main(argv)


@main.command()
@click.argument("job")
@click.option("--broker", default=None, help="Redis URL (default: $FORMICR_BROKER_URL).")
@click.option("--requeue", is_flag=True, help="Queue the job's unfinished forms again (safe: tasks are idempotent).")
def status(job, broker, requeue):
    """Show a job's progress, failures and output paths."""
    from worker import queue
    from worker.jobs import JobStore, connect

    settings = queue.settings_with(broker)
    store = JobStore(connect(settings.broker_url))
    if requeue:
        click.echo(f"requeued {queue.requeue_stalled(store, job, settings, force=True)} forms")
    for line in queue.status_lines(store, job):
        click.echo(line)


@main.command()
@click.argument("scan", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Template JSON to write (default: SCAN's name with .template.json); an annotated "
                   "PNG of the fields is written beside it.")
@click.option("--name", default=None, help="The template's name (default: SCAN's file name).")
@click.option("--pages", type=click.IntRange(1, 100), default=1, show_default=True,
              help="Draft from the first N pages of SCAN, as the pages of one form (fields say their page).")
def template(scan, out, name, pages):
    """Draft a template from a scan of the form (blank is best): every printed box, comb and
    underline becomes a field named field_01... in reading order, charset alnum, and every
    small square on its own a tick box (charset mark); with --pages N, over the first N pages of
    a multi-page form. Rename the fields and narrow their charsets, then read with --template."""
    from worker.draft import write_draft

    out = out or scan.with_name(scan.stem + ".template.json")
    fields, pngs = write_draft(scan, out, name, pages)
    for f in fields:
        x, y, w, h = f.box
        extra = f"{f.cells} cells" if f.kind == "comb" else f.kind
        click.echo(f"{f.name}  {f.charset:7s} {extra:9s} box [{x}, {y}, {w}, {h}]" + (f"  page {f.page}" if pages > 1 else ""))
    click.echo(f"{len(fields)} fields -> {out} (the fields drawn on the page: {', '.join(map(str, pngs))})")


@main.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("samples"), show_default=True)
@click.option("--count", type=click.IntRange(1), default=4, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["png", "jpg", "tif", "bmp"]), default=None,
              help="Scan format (default: a random mix).")
@click.option("--comb-style", type=click.Choice(["boxed", "ticks", "mixed"]), default="boxed", show_default=True,
              help="Comb fields as closed cells, as ticks on a baseline, or alternating by form.")
@click.option("--marks", is_flag=True, help="Four tick boxes per form too (template charset 'mark').")
@click.option("--size", type=(click.FloatRange(0.3, 1.2), click.FloatRange(0.3, 1.2)), default=None,
              metavar="LO HI", help="Writers' glyph height as a fraction of the box height (default: 0.55 "
              "to 0.75; from about 0.8 the writing touches the box lines).")
@click.option("--shade", type=click.IntRange(0, 255), default=255, show_default=True, metavar="GREY",
              help="Every box's inside printed in a tint of this grey, under the writing (255: none).")
@click.option("--dashes", type=(click.IntRange(1, 50), click.IntRange(1, 50)), default=None, metavar="ON OFF",
              help="Every form line printed dashed: ON px of ink, OFF px of paper at 200 DPI (1 3: dotted).")
@click.option("--coded", is_flag=True, help="The postcode and reference hold codes of a fixed shape (letter, "
              "digit, ...), and the template gives each its pattern.")
def synth(out, count, seed, fmt, comb_style, marks, size, shade, dashes, coded):
    """Generate synthetic hand-printed forms with ground truth and their template."""
    from worker.synth.forms import generate

    if size is not None and size[0] > size[1]:
        raise click.BadParameter(f"LO {size[0]} is above HI {size[1]}", param_hint="--size")
    for p in generate(out, count, seed, fmt, comb_style=comb_style, marks=marks, size=size, shade=shade,
                      dashes=dashes, coded=coded):
        click.echo(str(p))


if __name__ == "__main__":
    main()
