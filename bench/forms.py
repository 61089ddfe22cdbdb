"""Reading accuracy on generated forms the model never trained on (the model is trained on
UNIPEN/optdigits only; these glyphs come from the project's own skeleton generator).

    python -m bench.forms [--count 40] [--seed 900] [--comb-style boxed|ticks|mixed] [--box-grey 0-255]
                          [--format png|jpg|tif|bmp] [--pen-grey 0-255] [--dpi N] [--captions] [--marks]
                          [--box-colour red|pink|green|...] [--pen-colour blue|paleblue|...] [--size LO HI]
                          [--keystone K] [--shade 0-255] [--tint yellow|blue|...] [--dashes ON OFF]
                          [--no-patterns] [--no-cells]
                          [--show-through S] [--blank-fields K] [--folds hv] [--shadow D] [--lamp D]
                          [--blur SIGMA] [--cross-outs P] [--holes 2|3|4] [--staple] [--clip] [--stain] [--stamp] [--stamp-turn DEG] [--grey] [--coded]

Prints template-mode CER, template-free CER and the share of characters found; with
``--marks`` the forms carry four tick boxes each, and their reading is scored too."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from segmentation.decode import decode
from segmentation.errors import InputError
from segmentation.template import load_template
from worker.pipeline import PageReader, ReadOptions
from worker.results import PageResult
from worker.synth.forms import COLOURS, PUNCH_LAYOUTS, TINTS, generate
from worker.synth.score import (
    Score,
    load_truth,
    score_free,
    score_free_fields,
    score_free_marks,
    score_marks,
    score_template,
)


def _read(reader: PageReader, page) -> PageResult:
    """The page read, or read as empty (every character missed) where the reader refuses it."""
    try:
        return reader.read_page(page)
    except InputError as e:
        print(f"  {page.source}: refused ({e}); scored as read empty")
        return PageResult(page.source, page.page, [])


def evaluate(forms: list[Path], template_path: Path, patterns: bool = True,
             cells: bool = True) -> tuple[Score, Score, dict, list[int], list[int], list[int]]:
    """Template and template-free scores, template scores by format, the tick boxes
    [read right, in all, wrong but flagged] read with the template and without, and the
    template-free text fields [read right, in all, wrong and not flagged, right and flagged]. Without
    ``patterns`` (``cells``), the template's field patterns (its combs' numbers of cells) are
    left out."""
    template = load_template(template_path)
    if not patterns:
        template = replace(template, fields=tuple(replace(f, pattern=None) for f in template.fields))
    if not cells:
        template = replace(template, fields=tuple(replace(f, cells=None) for f in template.fields))
    tpl_reader = PageReader(ReadOptions(template=template))
    free_reader = PageReader(ReadOptions(), classifier=tpl_reader.classifier)
    tpl_score, free_score, by_fmt, marks, free_marks = Score(), Score(), {}, [0, 0, 0], [0, 0, 0]
    free_fields = [0, 0, 0, 0]
    for f in forms:
        page = next(decode(f))
        truth = load_truth(f)
        read, free = _read(tpl_reader, page), _read(free_reader, page)
        st = score_template(truth, read)
        marks = [a + b for a, b in zip(marks, score_marks(truth, read), strict=True)]
        sf = score_free(truth, free)
        free_marks = [a + b for a, b in zip(free_marks, score_free_marks(truth, free), strict=True)]
        free_fields = [a + b for a, b in zip(free_fields, score_free_fields(truth, free), strict=True)]
        tpl_score += st
        free_score += sf
        fmt = truth["scan"]["fmt"]
        by_fmt[fmt] = by_fmt.get(fmt, Score()) + st
    return tpl_score, free_score, by_fmt, marks, free_marks, free_fields


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--seed", type=int, default=900)
    ap.add_argument("--comb-style", choices=["boxed", "ticks", "mixed"], default="boxed",
                    help="comb fields as closed cells, as ticks on a baseline, or alternating by form")
    ap.add_argument("--format", choices=["png", "jpg", "tif", "bmp"], default=None,
                    help="scan format (default: a mix of PNG, JPEG and bilevel TIFF)")
    ap.add_argument("--dpi", type=int, default=None, help="one scan resolution (default: 150-400 at random)")
    ap.add_argument("--pen-grey", type=int, default=0, metavar="0-255",
                    help="grey of the handwriting (0 black; 170 and up a pencil paler than the boxes)")
    ap.add_argument("--box-grey", type=int, default=0, metavar="0-255",
                    help="grey the boxes are printed in (0 black; 255 dropout, they vanish)")
    ap.add_argument("--captions", action="store_true", help="print each free box's label inside it, top left")
    ap.add_argument("--surround", type=int, default=0, metavar="PX",
                    help="a dark surround this wide around each page (scanned with the lid open, or on a table)")
    ap.add_argument("--surround-grey", type=int, default=40, metavar="0-255",
                    help="the surround's grey (40 a scanner lid; 90-170 a grey desk or a wooden table)")
    ap.add_argument("--marks", action="store_true", help="four tick boxes per form, ticked, crossed or left empty")
    ap.add_argument("--box-colour", choices=sorted(COLOURS), default=None,
                    help="a colour form: the boxes printed in this colour (red, pink, green: dropout colours)")
    ap.add_argument("--pen-colour", choices=sorted(COLOURS), default=None, help="the handwriting in this ink")
    ap.add_argument("--keystone", type=float, default=0.0, metavar="K",
                    help="photographed at an angle: the top corners move in by up to K of the width (0.05 is steep)")
    ap.add_argument("--shade", type=int, default=255, metavar="GREY",
                    help="every box's inside printed in a tint of this grey, under the writing (shaded fields)")
    ap.add_argument("--tint", choices=sorted(TINTS), default=None,
                    help="every box's inside printed in this pale colour, under the writing (a colour page)")
    ap.add_argument("--dashes", type=int, nargs=2, default=None, metavar=("ON", "OFF"),
                    help="every form line printed dashed: ON px of ink, OFF px of paper, at 200 DPI (1 3: dotted)")
    ap.add_argument("--no-patterns", action="store_true",
                    help="read without the template's field patterns (the date's and the country code's)")
    ap.add_argument("--no-cells", action="store_true",
                    help="read without the template's comb cell counts (cut each comb as the page shows it)")
    ap.add_argument("--size", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                    help="writers' glyph height as a fraction of the box height (default 0.55 0.75; "
                         "from about 0.8 the writing touches the box lines)")
    ap.add_argument("--show-through", type=float, default=0.0, metavar="S",
                    help="another filled form on the back of each sheet, showing through the paper at this "
                         "strength (0.2: its black ink shows at grey ~205)")
    ap.add_argument("--blank-fields", type=int, default=0, metavar="K",
                    help="leave K of each form's 9 text fields unwritten (a form filled in part)")
    ap.add_argument("--shadow", type=float, default=0.0, metavar="D",
                    help="photographed in a shadow: a soft edge across each page, its far side darker by D "
                         "(0.5: paper at half its brightness)")
    ap.add_argument("--lamp", type=float, default=0.0, metavar="D",
                    help="lit from one side: each page darker by up to D towards a random side")
    ap.add_argument("--blur", type=float, default=None, metavar="SIGMA",
                    help="every scan blurred by SIGMA px at 200 DPI (default: 0 to 1 at random; 2: a soft scan)")
    ap.add_argument("--folds", default="", metavar="hv",
                    help="a crease across each sheet per letter: h along its width, v down its height (hv: both)")
    ap.add_argument("--holes", type=int, choices=sorted(PUNCH_LAYOUTS), default=0,
                    help="each sheet punched for a binder along its left edge: 2, 3 or 4 holes")
    ap.add_argument("--staple", action="store_true", help="each sheet stapled at its top left corner")
    ap.add_argument("--clip", action="store_true", help="a paper clip over each sheet's top edge")
    ap.add_argument("--stain", action="store_true", help="a coffee ring across each sheet's fields (a colour scan)")
    ap.add_argument("--stamp", action="store_true", help='a "RECEIVED" rubber stamp at each sheet\'s top right (a colour scan)')
    ap.add_argument("--stamp-turn", type=float, default=3.0, metavar="DEG",
                    help="--stamp turned by up to DEG degrees either way (default: 3)")
    ap.add_argument("--coded", action="store_true",
                    help="the postcode and reference hold codes of a fixed shape, which the template's patterns give")
    ap.add_argument("--grey", action="store_true", help="scanned in grey: a colour form (--stamp, --tint, ...) saved as its luminance")
    ap.add_argument("--cross-outs", type=float, default=0.0, metavar="P",
                    help="the chance a text field holds a wrong character struck out (scribbled over, inked "
                         "solid or looped over) and the writing carried on after it")
    ap.add_argument("--json", type=Path, default=None, metavar="PATH",
                    help="also write the numbers printed to this file (bench.sweep reads it)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        forms = generate(tmp, args.count, seed=args.seed, fmt=args.format, comb_style=args.comb_style, box_ink=args.box_grey,
                         pen_ink=args.pen_grey, dpi=args.dpi, captions=args.captions,
                         surround=args.surround, surround_grey=args.surround_grey, marks=args.marks,
                         box_colour=args.box_colour, pen_colour=args.pen_colour,
                         size=tuple(args.size) if args.size else None, keystone=args.keystone, shade=args.shade, tint=args.tint,
                         dashes=tuple(args.dashes) if args.dashes else None, show=args.show_through,
                         blank_fields=args.blank_fields, folds=args.folds, shadow=args.shadow, lamp=args.lamp,
                         blur=args.blur, cross_outs=args.cross_outs, holes=args.holes,
                         stapled=args.staple, clipped=args.clip, stained=args.stain, stamped=args.stamp,
                         stamp_turn=args.stamp_turn, grey=args.grey, coded=args.coded)
        t1 = time.perf_counter()
        tpl, free, by_fmt, marks, free_marks, free_fields = evaluate(forms, Path(tmp) / "template.json", patterns=not args.no_patterns,
                                                          cells=not args.no_cells)
        t2 = time.perf_counter()
    colours = (f", {args.box_colour or 'black'} boxes, {args.pen_colour or 'black'} pen"
               if args.box_colour or args.pen_colour else "")
    print(f"forms: {args.count} generated (seed {args.seed}, {args.comb_style} combs, box grey {args.box_grey}, pen grey {args.pen_grey}"
          f"{', captions in boxes' if args.captions else ''}"
          f"{colours}{f', writing {args.size[0]}-{args.size[1]} of the box height' if args.size else ''}"
          f"{f', {args.surround} px surround at grey {args.surround_grey}' if args.surround else ''}"
          f"{f', keystone {args.keystone}' if args.keystone else ''}"
          f"{f', fields shaded at grey {args.shade}' if args.shade < 255 else ''}"
          f"{f', lines dashed {args.dashes[0]} on {args.dashes[1]} off' if args.dashes else ''}"
          f"{f', the back showing through at {args.show_through}' if args.show_through else ''}"
          f"{f', {args.blank_fields} fields left blank' if args.blank_fields else ''}"
          f"{f', creased {args.folds}' if args.folds else ''}"
          f"{f', a shadow {args.shadow} deep' if args.shadow else ''}{f', a lamp falling off by {args.lamp}' if args.lamp else ''}"
          f"{f', blurred by {args.blur}' if args.blur is not None else ''}"
          f"{f', a character struck out in {args.cross_outs:.0%} of the fields' if args.cross_outs else ''}"
          f"{f', tinted {args.tint}' if args.tint else ''}{f', punched with {args.holes} holes' if args.holes else ''}"
          f"{', stapled' if args.staple else ''}{', clipped' if args.clip else ''}{', coffee-ringed' if args.stain else ''}"
          f"{f', stamped (turned up to {args.stamp_turn:g} degrees)' if args.stamp else ''}"
          f"{', scanned in grey' if args.grey else ''}{', coded postcodes and references' if args.coded else ''}) in {t1 - t0:.1f}s, read twice in {t2 - t1:.1f}s")
    print(f"characters: {tpl.chars}")
    print(f"template mode:      CER {tpl.cer_template:.2%}  (target <= 2%)   found {tpl.found_rate:.2%}")
    print(f"template-free mode: CER {free.cer_free:.2%}  (target <= 5%)   found {free.found_rate:.2%}")
    print(f"template-free fields (field_01... by place): {free_fields[0]} of {free_fields[1]} read right "
          f"({free_fields[0] / max(free_fields[1], 1):.2%}); {free_fields[2]} read wrong and not flagged, "
          f"{free_fields[3]} read right and flagged")
    print(f"characters found (template mode): {tpl.found_rate:.2%}  (target >= 99.5%)")
    print(f"review flags (template mode): of {tpl.fields} fields, {tpl.wrong_unflagged} read wrong and not flagged, "
          f"{tpl.right_flagged} read right and flagged")
    if tpl.struck:
        print(f"fields holding a struck-out character (template mode): {tpl.struck}; read right (the struck "
              f"one left out) {tpl.struck_right}, flagged for review {tpl.struck_flagged}")
    for fmt, s in sorted(by_fmt.items()):
        print(f"  {fmt:4s}: template CER {s.cer_template:.2%} over {s.chars} chars")
    for mode, m in (("template", marks), ("template-free", free_marks)):
        if m[1]:
            print(f"tick boxes ({mode}): {m[0]} of {m[1]} read right ({m[0] / m[1]:.2%}); "
                  f"of the {m[1] - m[0]} wrong, {m[2]} flagged for review")
    if args.json:
        args.json.write_text(json.dumps(summary(tpl, free, free_fields, marks, free_marks), indent=1))


def summary(tpl: Score, free: Score, free_fields: list[int], marks: list[int], free_marks: list[int]) -> dict:
    """The bench's numbers by name, as ``--json`` writes them (the keys bench.sweep tabulates)."""
    return {
        "chars": tpl.chars,
        "cer_template": tpl.cer_template,
        "cer_free": free.cer_free,
        "found_template": tpl.found_rate,
        "found_free": free.found_rate,
        "fields": tpl.fields,
        "wrong_unflagged_template": tpl.wrong_unflagged,
        "right_flagged_template": tpl.right_flagged,
        "free_fields_right": free_fields[0],
        "free_fields": free_fields[1],
        "wrong_unflagged_free": free_fields[2],
        "right_flagged_free": free_fields[3],
        "marks": marks[1],
        "marks_right_template": marks[0],
        "marks_right_free": free_marks[0],
    }


if __name__ == "__main__":
    main()
