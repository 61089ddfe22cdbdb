"""Page pipeline speed on an A4 page at 300 DPI, against decoding that image alone, in
one run; then pages per second for ``formicr read --jobs 1`` and ``--jobs 2``.

    python -m bench.pipeline [--repeat 9] [--pages 12]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from segmentation.clean import clean_page
from segmentation.decode import decode
from segmentation.glyphs import find_glyphs
from segmentation.lines import find_lines, remove_lines
from segmentation.normalize import normalize_batch
from segmentation.template import load_template, register
from worker.pipeline import PageReader, ReadOptions
from worker.runner import run_read
from worker.synth.forms import Scan, generate


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--pages", type=int, default=12)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # scanner noise and blur as in real scans (a noise-free synthetic PNG decodes unrealistically fast)
        form = generate(tmp / "a4", 1, seed=77, scan_override=Scan(dpi=300, angle=1.2, shift=(20, -15), blur=0.7,
                                                                    noise=4, fmt="png"))[0]
        tpl = load_template(tmp / "a4" / "template.json")
        reader = PageReader(ReadOptions(template=tpl), threads=1)
        page = next(decode(form))
        h, w = page.image.shape
        print(f"page: {form.name}, {w}x{h} px (A4 at 300 DPI), {form.stat().st_size / 1e6:.2f} MB PNG; "
              f"medians of {args.repeat}, 1 thread")
        t_decode, _ = timed(lambda: next(decode(form)), args.repeat)
        t_read, result = timed(lambda: reader.read_page(page), args.repeat)
        t_total, _ = timed(lambda: reader.read_page(next(decode(form))), args.repeat)
        # step breakdown
        t_clean, c = timed(lambda: clean_page(page.image), args.repeat)
        t_lines, lines = timed(lambda: find_lines(c.binary), args.repeat)
        flat = c.faint[1]  # computed once per page (the reader needs it for pale ink too)
        t_remove, ink = timed(lambda: remove_lines(c.binary, lines, c.scale, flat), args.repeat)
        t_reg, reg = timed(lambda: register(tpl, lines.boxes, c.binary.shape), args.repeat)
        regions = [reg.field_rect(f.box) for f in tpl.fields]
        t_glyphs, glyphs = timed(lambda: find_glyphs(ink, lines, regions=regions, free_text=False), args.repeat)
        t_norm, x = timed(lambda: normalize_batch([g.mask for g in glyphs], stroke=True), args.repeat)
        t_cls, _ = timed(lambda: reader.classifier.probabilities(x), args.repeat)
        print(f"decode only:                {t_decode * 1000:7.1f} ms")
        print(f"segment + classify (no decode): {t_read * 1000:7.1f} ms  = {t_read / t_decode:.2f}x decode "
              f"(target <= 1.0x)")
        print(f"whole page (decode + read): {t_total * 1000:7.1f} ms  = {t_total / t_decode:.2f}x decode (target <= 2.0x)")
        print(f"  steps: clean {t_clean * 1000:.1f}, lines {t_lines * 1000:.1f}, remove {t_remove * 1000:.1f}, "
              f"register {t_reg * 1000:.1f}, glyphs {t_glyphs * 1000:.1f}, normalise {t_norm * 1000:.1f}, "
              f"classify {t_cls * 1000:.1f} ms ({len(glyphs)} characters)")
        # pages per second through the in-process driver
        forms = generate(tmp / "many", args.pages, seed=78, fmt="png",
                         scan_override=Scan(dpi=300, angle=0.8, blur=0.7, noise=4, fmt="png"))
        opts = ReadOptions(template=tpl)
        rates = {}
        for jobs in (1, 2):
            s, _ = run_read([str(f) for f in forms], tmp / f"out{jobs}", opts, jobs=jobs, progress=False)
            rates[jobs] = s.pages_per_second
            print(f"formicr read --jobs {jobs}: {s.pages} pages in {s.seconds:.2f}s = {s.pages_per_second:.2f} pages/s "
                  "(includes process start-up and model load)")
        print(f"--jobs 2 / --jobs 1: {rates[2] / rates[1]:.2f}x")
        assert result.fields and np.isfinite(t_total)


if __name__ == "__main__":
    main()
