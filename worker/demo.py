"""``make demo``: generate sample forms (if missing), read them in-process, show the result.

No Redis needed: this is the embedded default. Writes CSVs and annotated PNGs under
``out/demo`` (template mode) and ``out/demo-free`` (template-free), then prints what it
read against the ground truth and the character error rate."""

from __future__ import annotations

import sys
from pathlib import Path

from segmentation.template import load_template
from worker.pipeline import ReadOptions
from worker.runner import run_read
from worker.synth.forms import generate
from worker.synth.score import (
    Score,
    load_truth,
    score_free,
    score_free_fields,
    score_free_marks,
    score_template,
)

SAMPLES = Path("samples/forms")
OUT = Path("out")


def main() -> int:
    if not (SAMPLES / "template.json").exists() or not list(SAMPLES.glob("form_*.truth.json")):
        print(f"generating sample forms into {SAMPLES}/ ...")
        generate(SAMPLES, count=4, seed=7, comb_style="mixed", marks=True, coded=True)
    template = SAMPLES / "template.json"
    forms = sorted(str(p) for p in SAMPLES.glob("form_*") if not p.name.endswith(".json"))
    print(f"reading {len(forms)} forms in-process with template {template} ...")
    summary, results = run_read(forms, OUT / "demo", ReadOptions(template=load_template(template),
                                annotate_dir=OUT / "demo" / "annotated"))
    free_summary, free_results = run_read(forms, OUT / "demo-free", ReadOptions(annotate_dir=OUT / "demo-free" / "annotated"))
    total_t, total_f, free_ticks, free_fields = Score(), Score(), [0, 0], [0, 0, 0, 0]
    for r, fr in zip(results, free_results, strict=True):
        truth = load_truth(r.source)
        for e in r.errors:
            print(f"  ERROR {e.source}: {e.error}")
        for page, free_page in zip(r.pages, fr.pages, strict=True):
            s, sf = score_template(truth, page), score_free(truth, free_page)
            total_t, total_f = total_t + s, total_f + sf
            free_ticks = [a + b for a, b in zip(free_ticks, score_free_marks(truth, free_page)[:2], strict=True)]
            free_fields = [a + b for a, b in zip(free_fields, score_free_fields(truth, free_page), strict=True)]
            print(f"\n{page.source} (page {page.page}, skew {page.skew:+.1f} deg): CER {s.cer_template:.1%}")
            want = {f["name"]: f["text"] for f in truth["fields"]}
            for f in page.fields:
                mark = "ok " if f.text.replace(" ", "") == want[f.name] else "ERR"
                flag = "  needs review" if f.needs_review else ""
                print(f"  {mark} {f.name:14s} {f.text:16s} (truth {want[f.name]:14s}) conf {f.confidence:.2f}{flag}")
    print(f"\ntemplate mode:      {summary.line()}")
    print(f"template-free mode: {free_summary.line()}")
    print(f"character error rate: template {total_t.cer_template:.2%}, template-free {total_f.cer_free:.2%}; "
          f"characters found {total_t.found_rate:.2%}")
    print(f"without the template, fields named by place (field_01...): {free_fields[0]} of {free_fields[1]} text fields "
          f"and {free_ticks[0]} of {free_ticks[1]} tick boxes read right")
    print(f"CSVs: {OUT}/demo/{{forms,fields,characters,errors}}.csv (forms.csv: a row per form, a column per field) "
          f"and the same in {OUT}/demo-free/")
    print(f"annotated pages: {OUT}/demo/annotated/*.png")
    flagged = sum(f.needs_review for r in results for p in r.pages for f in p.fields)
    print(f"review sheet ({flagged} fields to review, each with its crop): {OUT}/demo/review.html")
    return 0 if summary.errors == 0 else 3


if __name__ == "__main__":
    sys.exit(main())
