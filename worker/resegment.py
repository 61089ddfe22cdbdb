"""Recognition-driven segmentation of free writing.

Where neighbouring pieces in a free box or a text row could be one character (a stroke
broken by the pen or the scan, a wide blob split where it should not have been),
``segmentation.glyphs.merge_candidates`` offers the merged glyph too. This step keeps, for
each run, the sequence of pieces and merges that the classifier finds most probable: the
product of each chosen glyph's top probability within its charset, with a bonus for each
glyph that starts at a gap in the ink."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from segmentation.glyphs import Candidate, Glyph

# Log-probability credited per chosen glyph, so a merge must beat the pieces by a margin
# (e^0.7 ~ 2x). Chosen on real UNIPEN glyphs of *training* writers pasted into generated forms
# and on generated forms (seed 900); checked on held-out writers (python -m bench.pasted) and
# on another seed of generated forms (python -m bench.forms --seed 123 --count 60).
# A piece that starts at a cut through ink (a wide blob split) earns no bonus: cutting ink is
# a weaker cue than a gap, so the split must pay for itself in probability alone. This took
# bench.pasted from 6.69% to 5.96% CER (test writers, shipped refit; generated forms unchanged).
PIECE_BONUS = 0.7


def choose(glyphs: list[Glyph], candidates: list[Candidate], probs: np.ndarray,
           masks: list[np.ndarray]) -> tuple[list[Glyph], np.ndarray]:
    """``probs`` holds the glyphs' rows, then the candidates' rows; ``masks`` each glyph's
    charset mask over the labels. Returns the chosen glyphs (reading order, renumbered
    within their lines) and their probability rows."""
    n = len(glyphs)
    if not candidates:
        return glyphs, probs[:n]

    def score(row: int, mask: np.ndarray) -> float:
        return math.log(max(float(probs[row][mask].max()), 1e-9))

    ending: dict[int, list[tuple[int, int]]] = {}  # last glyph -> (first glyph, probs row)
    for k in range(n):
        ending[k] = [(k, k)]
    for ci, c in enumerate(candidates):
        ending[c.last].append((c.first, n + ci))
    best = [0.0] + [-math.inf] * n
    back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
    for k in range(n):
        for first, row in ending[k]:
            v = best[first] + score(row, masks[first]) + (0.0 if glyphs[first].cut else PIECE_BONUS)
            if v > best[k + 1]:
                best[k + 1], back[k + 1] = v, (first, row)
    chosen: list[tuple[Glyph, int]] = []
    k = n
    while k > 0:
        first, row = back[k]
        if row < n:
            chosen.append((glyphs[row], row))
        else:
            c = candidates[row - n]
            g = glyphs[first]
            chosen.append((replace(g, rect=c.rect, mask=c.mask, cell=-1), row))
        k = first
    chosen.reverse()
    out, line, index = [], None, 0
    for g, _ in chosen:
        index = index + 1 if g.line == line else 1
        line = g.line
        out.append(replace(g, index=index) if g.index != index else g)
    return out, probs[[row for _, row in chosen]]
