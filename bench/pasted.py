"""Real handwriting on generated forms: UNIPEN glyphs (``../shared/data``) pasted into the
project's form layout, scanned at 150/200/300 DPI. Prints the template-mode CER by field kind
(comb cells against free boxes) and the template-free CER, with and without
recognition-driven segmentation (``ReadOptions.resegment``), in one run. Beside them it prints
the classifier alone on the very same glyphs (their 28x28 images, each field's charset): the
difference is what finding and cutting the characters on the page costs.

    python -m bench.pasted [--forms 12] [--writers test|train] [--seed 600] [--model M.json] [--all-labels]

Glyphs whose labels were found wrong by eye (``training/label_audit.csv``) are left out of
the pool unless ``--all-labels`` is given.

``test`` draws from the training run's held-out writers. A shipped model refit on every
writer (``training.refit_all``) has seen them too, so read its numbers as a check of the
reading pipeline, not of the classifier's generalisation. For that, export the run's
writer-disjoint model and pass it::

    formicr export --run runs/shipped --weights holdout --out runs/holdout-model
    python -m bench.pasted --model runs/holdout-model/formicr.json"""

from __future__ import annotations

import argparse
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from segmentation.decode import decode
from segmentation.template import parse_template
from worker.pipeline import PageReader, ReadOptions
from worker.synth.forms import Scan, render_form, save_scan, scan, template_dict
from worker.synth.score import Score, levenshtein, score_free


def pasted_forms(out: Path, count: int, writers: str, seed: int = 600,
                 checked: bool = True) -> list[tuple[Path, dict, np.ndarray]]:
    """(scan path, truth, the pasted 28x28 glyphs in truth order) per form. ``checked``
    leaves out the labels found wrong by eye (training/label_audit.csv: dashes labelled I,
    lone strokes labelled H), which no reader should be asked to read as labelled."""
    from training.data import load_sets, writer_split
    from training.labels import audited_wrong

    ds = load_sets(("unipen-upper", "unipen-digits"))
    train, test = writer_split(ds)
    pool = ds.subset(test if writers == "test" else train)
    if checked:
        pool = pool.subset(np.nonzero(~audited_wrong(pool.x, pool.y))[0])
    by_char = {c: np.nonzero(pool.y == c)[0] for c in set(pool.y)}
    used: list[int] = []

    def glyph(ch, rng):
        used.append(by_char[ch][rng.randrange(len(by_char[ch]))])
        return pool.x[used[-1]]

    out.mkdir(parents=True, exist_ok=True)
    forms = []
    for i in range(count):
        used.clear()
        page, truth = render_form(seed + i, glyph_source=glyph)
        sc = Scan(dpi=(150, 200, 300)[i % 3], angle=1.0 - 0.2 * (i % 12), shift=(10.0, -20.0), noise=3, fmt="png")
        img, truth = scan(page, truth, sc, i)
        forms.append((save_scan(img, out / f"pasted_{i:03d}.png", sc), truth, pool.x[used]))
    return forms


def direct_cer(classifier, forms) -> dict[str, float]:
    """The classifier alone on the pasted glyphs, each field's charset applied, by field kind."""
    from training.data import scale

    edits, chars = defaultdict(int), defaultdict(int)
    for _, truth, glyphs in forms:
        k = 0
        for f in truth["fields"]:
            n = len(f["chars"])
            preds = classifier.classify(scale(glyphs[k : k + n]), [f["charset"]] * n, top_k=1)
            k += n
            edits[f["kind"]] += levenshtein("".join(p.char for p in preds), f["text"])
            chars[f["kind"]] += len(f["text"])
    return {"all": sum(edits.values()) / sum(chars.values()), **{kd: edits[kd] / chars[kd] for kd in chars}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--forms", type=int, default=12)
    ap.add_argument("--writers", choices=["test", "train"], default="test")
    ap.add_argument("--seed", type=int, default=600, help="first form's seed (default 600)")
    ap.add_argument("--model", type=Path, default=None, help="model .json (default: the shipped one)")
    ap.add_argument("--all-labels", action="store_true",
                    help="also paste the glyphs whose labels were found wrong by eye (before the ninth session)")
    args = ap.parse_args()
    from training.data import SHARED_DATA

    if not (SHARED_DATA / "unipen").is_dir():
        print(f"bench.pasted skipped: no UNIPEN data at {SHARED_DATA} (see README, Data)")
        return
    tpl = parse_template(template_dict())
    with tempfile.TemporaryDirectory() as tmp:
        forms = pasted_forms(Path(tmp), args.forms, args.writers, args.seed, checked=not args.all_labels)
        on = PageReader(ReadOptions(template=tpl), model=args.model)
        off = PageReader(ReadOptions(template=tpl, resegment=False), classifier=on.classifier)
        if on.classifier.meta.refit_all and args.writers == "test":
            print("note: the shipped model was refit on every writer, these included")
        for name, reader in (("resegment on ", on), ("resegment off", off)):
            edits, chars = defaultdict(int), defaultdict(int)
            for path, truth, _ in forms:
                got = {f.name: f.text.replace(" ", "") for f in reader.read_page(next(decode(path))).fields}
                for f in truth["fields"]:
                    edits[f["kind"]] += levenshtein(got.get(f["name"], ""), f["text"])
                    chars[f["kind"]] += len(f["text"])
            total = sum(edits.values()) / sum(chars.values())
            free = PageReader(ReadOptions(resegment=reader.options.resegment), classifier=on.classifier)
            free_score = Score()
            for path, truth, _ in forms:
                free_score += score_free(truth, free.read_page(next(decode(path))))
            print(f"{name}: template CER {total:.2%} over {sum(chars.values())} chars ({args.writers} writers, "
                  f"{args.forms} forms; " + ", ".join(f"{k} {edits[k] / chars[k]:.2%}" for k in sorted(chars))
                  + f"); template-free CER {free_score.cer_free:.2%}")
        d = direct_cer(on.classifier, forms)
        print(f"classifier alone, same glyphs: CER {d['all']:.2%} ("
              + ", ".join(f"{k} {d[k]:.2%}" for k in sorted(d) if k != "all") + ")")


if __name__ == "__main__":
    main()
