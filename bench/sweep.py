"""Every ``bench.forms`` variant the project checks a reading change against, in one run.

    python -m bench.sweep [--count 20] [--jobs 2] [--only dashes] [--variant '--dashes 3 5' ...]
                          [--save base.json] [--compare base.json]

Each variant is a ``bench.forms`` run in its own process (``--jobs`` at a time). The table has,
per variant: template CER, template-free CER, template-free fields read right by place, fields
read wrong and not flagged (template-free, then template), fields read right and flagged (the
same), and tick boxes read right (template, then template-free) where the forms carry them.
``--save`` keeps the numbers; ``--compare`` prints a saved run's number beside each one that
changed, and counts what got better or worse.
A variant that fails is reported with its error and counted, and the exit status is 1."""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

VARIANTS: tuple[str, ...] = (
    "",
    "--seed 123",
    "--format tif",
    "--dpi 150",
    "--dpi 300",
    "--blur 2",
    "--captions",
    "--size 0.85 1.0",
    "--box-grey 100 --format tif",
    "--box-grey 255",
    "--keystone 0.05",
    "--show-through 0.25",
    "--cross-outs 0.2",
    "--folds hv",
    "--folds hv --format tif --dpi 150",
    "--holes 2",
    "--holes 4 --format tif",
    "--staple",
    "--stain",
    "--stain --format jpg",
    "--stamp",
    "--stamp --format jpg",
    "--stamp --format tif",
    "--stamp --grey --format jpg",
    "--stamp --stamp-turn 10 --format png",
    "--pen-colour red --format tif",
    "--shadow 0.5",
    "--blank-fields 3",
    "--coded",
    "--coded --size 0.85 1.0 --seed 123",
    "--marks",
    "--box-colour red",
    "--shade 200",
    "--pen-grey 170 --format png",
    "--box-grey 170 --pen-grey 200 --format png",
    "--pen-grey 150 --show-through 0.25 --format png",
    "--surround 250 --keystone 0.15",
    "--keystone 0.05 --shadow 0.5",
    "--captions --seed 123",
    "--comb-style ticks",
    "--comb-style ticks --seed 123",
    "--comb-style ticks --format tif",
    "--comb-style mixed --blur 2",
    "--pen-colour blue",
    "--pen-colour paleblue --show-through 0.2 --format png",
    "--pen-grey 175 --show-through 0.2 --format jpg",
    "--box-colour pink --show-through 0.2",
    "--box-colour paleblue --show-through 0.25 --format jpg",
    "--pen-colour pink --show-through 0.2 --format png",
    "--box-colour green --format jpg",
    "--tint yellow --shadow 0.5",
    "--tint blue --format jpg",
    "--dashes 3 5",
    "--dashes 3 5 --seed 123",
    "--dashes 3 5 --format tif",
    "--dashes 2 6",
    "--dashes 2 6 --seed 123",
    "--dashes 5 5 --blur 1",
    "--dashes 4 6 --blur 1.5",
    "--dashes 6 4",
    "--dashes 1 3 --dpi 300",
    "--marks --dashes 4 6",
    "--dashes 6 3",
    "--dashes 6 3 --seed 123",
    "--dashes 3 5 --comb-style ticks",
    "--dashes 2 6 --comb-style ticks",
    "--dashes 4 6 --comb-style mixed",
)

# column title, how to show it, and whether higher is better
COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("cer_template", "tpl CER", False),
    ("cer_free", "free CER", False),
    ("free_fields_right", "by place", True),
    ("wrong_unflagged_free", "free wrong", False),
    ("wrong_unflagged_template", "tpl wrong", False),
    ("right_flagged_free", "free flagged", False),
    ("right_flagged_template", "tpl flagged", False),
    ("marks_right_template", "ticks tpl", True),
    ("marks_right_free", "ticks free", True),
)


def run_variant(variant: str, count: int) -> dict:
    """One ``bench.forms`` run's numbers, or ``{"error": ...}`` where it failed."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "numbers.json"
        cmd = [sys.executable, "-m", "bench.forms", "--count", str(count), *shlex.split(variant), "--json", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode or not out.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
            return {"error": tail[0]}
        return json.loads(out.read_text())


def _cell(key: str, n: dict) -> str:
    if key.startswith("cer"):
        return f"{n[key]:.2%}"
    if key not in n:  # (a sweep saved before the column was added)
        return "-"
    if key.startswith("marks"):
        return f"{n[key]}/{n['marks']}" if n.get("marks") else "-"
    if key == "free_fields_right":
        return f"{n[key]}/{n['free_fields']}"
    return str(n[key])


def table(results: dict[str, dict], base: dict[str, dict] | None = None) -> tuple[str, int, int]:
    """The sweep as a text table, with the counts of numbers that got better and worse than ``base``."""
    rows = [("variant", *(title for _, title, _ in COLUMNS))]
    better = worse = 0
    for variant, n in results.items():
        if "error" in n:
            rows.append((variant or "(default)", f"failed: {n['error']}"))
            continue
        old = (base or {}).get(variant)
        cells = []
        for key, _, up in COLUMNS:
            cell = _cell(key, n)
            if old and "error" not in old and key in old and old[key] != n[key] and (old.get("marks") or
                                                                                   not key.startswith("marks")):
                gain = (n[key] > old[key]) == up
                better, worse = better + gain, worse + (not gain)
                cell += f" ({_cell(key, old)}){'+' if gain else '-'}"
            cells.append(cell)
        rows.append((variant or "(default)", *cells))
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in rows]
    return "\n".join(lines), better, worse


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=20, help="forms per variant")
    ap.add_argument("--jobs", type=int, default=2, help="variants run at once")
    ap.add_argument("--only", default=None, metavar="TEXT", help="only the variants whose options contain TEXT")
    ap.add_argument("--variant", action="append", default=None, metavar="OPTIONS",
                    help="run these bench.forms options instead of the list (repeat it; '' is the default "
                         "form; one option alone goes after an equals sign: --variant=--coded)")
    ap.add_argument("--save", type=Path, default=None, metavar="JSON", help="write the numbers here")
    ap.add_argument("--compare", type=Path, default=None, metavar="JSON", help="a saved sweep to compare against")
    args = ap.parse_args(argv)
    variants = [v for v in (args.variant or VARIANTS) if args.only is None or args.only in v]
    if not variants:
        ap.error(f"no variant contains {args.only!r}")
    base = json.loads(args.compare.read_text()) if args.compare else None
    if base is not None and base.get("count") != args.count:
        ap.error(f"{args.compare} was run with --count {base.get('count')}, not {args.count}")
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = {v: pool.submit(run_variant, v, args.count) for v in variants}
        for _ in tqdm(as_completed(futures.values()), total=len(futures), desc="variants", unit="variant",
                      file=sys.stderr):
            pass
    results = {v: f.result() for v, f in futures.items()}
    text, better, worse = table(results, base["results"] if base else None)
    print(f"bench.forms, {args.count} forms per variant ({len(variants)} variants)")
    print(text)
    failed = sum("error" in n for n in results.values())
    if base is not None:
        print(f"against {args.compare}: {better} numbers better, {worse} worse (+ better, - worse; old in brackets)")
    if failed:
        print(f"{failed} variant(s) failed")
    if args.save:
        args.save.write_text(json.dumps({"count": args.count, "results": results}, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
