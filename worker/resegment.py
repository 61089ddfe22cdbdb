"""Recognition-driven segmentation of free writing.

Where characters touch, ``segmentation.glyphs`` cuts the blob where the least ink is
crossed and keeps other places each cut could go (``Blob.cuts``); ``choose_cuts`` lets the
classifier pick among them. Then, where neighbouring pieces in a free box or a text row
could be one character (a stroke broken by the pen or the scan, a wide blob split where it
should not have been), ``segmentation.glyphs.merge_candidates`` offers the merged glyph
too. ``choose`` keeps, for each run, the sequence of pieces and merges that the classifier
finds most probable: the
product of each chosen glyph's top probability within its charset (letter/digit twins
pooled), with a bonus for each glyph that starts at a gap in the ink, in full after a gap a
quarter of the line's height wide, less after a narrower one."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from segmentation.glyphs import MERGE_ASPECT, MERGE_PARTS, Blob, Candidate, Glyph, run_heights

# Log-probability credited per chosen glyph, so a merge must beat the pieces by a margin
# (e^0.7 ~ 2x). Chosen on real UNIPEN glyphs of *training* writers pasted into generated forms
# and on generated forms (seed 900); checked on held-out writers (python -m bench.pasted) and
# on another seed of generated forms (python -m bench.forms --seed 123 --count 60).
# A piece that starts at a cut through ink (a wide blob split) earns no bonus: cutting ink is
# a weaker cue than a gap, so the split must pay for itself in probability alone. This took
# bench.pasted from 6.69% to 5.96% CER (test writers, shipped refit; generated forms unchanged).
PIECE_BONUS = 0.7
# A gap this share of the run's height earns a starting glyph the full PIECE_BONUS; a narrower
# one (a pen lifted inside an H or a D) earns it in proportion. Chosen on training writers
# (bench.pasted --writers train, held-out model: 0.15, 0.25 and 0.4 alike, free boxes 5.28% ->
# 4.61%), checked on held-out writers (two seeds) and generated forms.
FULL_GAP = 0.25
# Log-probability a cut must gain to move from where the least ink is crossed.
CUT_MARGIN = 0.5
# A piece of free writing smaller than this share of its run's height, both ways, is no
# character on its own (a speck, a full stop, a caption's letter the writing touches): it is
# merged with a neighbour where that reads better, else left out.
TINY = 0.3
# A piece of free writing lower than this share of its run's height is no character on its own
# either, however wide (a small printed caption's letter the writing runs over, a bar lifted off
# a T or a 5): merged with a neighbour where that reads better, else left out.
FLAT = 0.2
# A piece under this share of its run's height is a bar or a flag lifted off a character (a 5's
# flag written apart, a T's bar) as often as a character: it earns no gap bonus, so it must
# read better alone than merged. bench.pasted --forms 40, test writers, seeds 600/700/800:
# free boxes 2.84% -> 2.62%, 3.52% and 3.76% unchanged (a 5's flag read as an extra 1 at 0.98);
# training writers and bench.forms unchanged. A penalty instead, or never reading a short piece
# wider than tall on its own, cost more characters than it saved.
SHORT = 0.5


def log_best(probs: np.ndarray, mask: np.ndarray) -> float:
    """The log of a glyph's top probability within its charset ``mask`` (floored): how
    segmentation scores a piece or a merge."""
    return math.log(max(float(probs[mask].max()), 1e-9))


def choose_cuts(glyphs: list[Glyph], classify: Callable[[list[np.ndarray]], np.ndarray],
                charset_mask: Callable[[Glyph], np.ndarray]) -> list[Glyph]:
    """Re-cut each split blob where the classifier reads it best: per blob, the path through
    its cut options (``Blob.cuts``, any of which may also be left uncut) that maximises the
    pieces' summed log-probability within the charset, less ``CUT_MARGIN`` for each cut
    moved off its least-ink place. ``classify`` maps glyph masks to probability rows;
    ``charset_mask`` gives a glyph's charset mask over the labels."""
    by_blob: dict[int, list[int]] = {}
    for i, g in enumerate(glyphs):
        if g.blob is not None:
            by_blob.setdefault(id(g.blob), []).append(i)
    if not by_blob:
        return glyphs
    heights = run_heights(glyphs)
    # a lattice per blob: a piece runs from option a of cut i to option b of cut j > i
    # (cut 0 and cut n are the blob's edges), no wider than a merge may be
    plans: list[tuple[list[int], dict[tuple[int, int, int, int], tuple]]] = []
    for idx in by_blob.values():
        blob: Blob = glyphs[idx[0]].blob
        options = [(None,), *blob.cuts, (None,)]
        n = len(options) - 1
        if len(idx) != n:
            continue
        h = heights[glyphs[idx[0]].run]
        pieces = {}
        for i in range(n):
            for j in range(i + 1, min(i + MERGE_PARTS, n) + 1):
                for a, left in enumerate(options[i]):
                    for b, right in enumerate(options[j]):
                        rect, mask = blob.piece(left, right)
                        if rect[2] and (j == i + 1 or rect[2] <= MERGE_ASPECT * max(h, rect[3])):
                            pieces[i, a, j, b] = rect, mask
        plans.append((idx, pieces))
    keys = [(p, key) for p, (_, pieces) in enumerate(plans) for key in pieces]
    if not keys:
        return glyphs
    read = dict(zip(keys, classify([plans[p][1][key][1] for p, key in keys]), strict=True))
    replaced: dict[int, list[Glyph]] = {}
    for p, (idx, pieces) in enumerate(plans):
        charset = charset_mask(glyphs[idx[0]])
        best: dict[tuple[int, int], tuple[float, tuple]] = {(0, 0): (0.0, ())}  # (cut, option) -> score, path
        for i, a, j, b in sorted(pieces):
            if (i, a) not in best:
                continue
            v = best[i, a][0] + log_best(read[p, (i, a, j, b)], charset) - (CUT_MARGIN if b else 0.0)
            if (j, b) not in best or v > best[j, b][0]:
                best[j, b] = (v, (*best[i, a][1], (i, a, j, b)))
        end = best.get((len(idx), 0))
        if end is None:
            continue
        first = glyphs[idx[0]]
        replaced[idx[0]] = [replace(first, rect=pieces[key][0], mask=pieces[key][1], cut=key[0] > 0)
                            for key in end[1]]
        for i in idx[1:]:
            replaced[i] = []
    return [g for i, old in enumerate(glyphs) for g in replaced.get(i, [old])]


def _gap_bonus(glyphs: list[Glyph]) -> list[float]:
    """Each glyph's bonus for starting a character: ``PIECE_BONUS`` after a gap of at least
    ``FULL_GAP`` of its run's height (or at a run's start), less after a narrower one, in
    proportion (a pen lifted inside a character leaves a hair's gap), none after a cut or to a
    ``SHORT`` piece."""
    heights = run_heights(glyphs)
    out = []
    for i, g in enumerate(glyphs):
        if g.cut or (g.run >= 0 and g.rect[3] < SHORT * heights[g.run]):
            out.append(0.0)
            continue
        prev = glyphs[i - 1] if i else None
        if prev is None or g.run < 0 or prev.run != g.run or prev.line != g.line:
            out.append(PIECE_BONUS)
            continue
        gap = g.rect[0] - (prev.rect[0] + prev.rect[2])
        out.append(PIECE_BONUS * min(1.0, max(0.0, gap) / (FULL_GAP * heights[g.run])))
    return out


def choose(glyphs: list[Glyph], candidates: list[Candidate], probs: np.ndarray,
           masks: list[np.ndarray], scores: np.ndarray | None = None) -> tuple[list[Glyph], np.ndarray]:
    """``probs`` holds the glyphs' rows, then the candidates' rows; ``masks`` each glyph's
    charset mask over the labels; ``scores`` (default ``probs``) the rows the choice is
    scored by. A ``TINY`` or ``FLAT`` piece of free writing is never a character on its own: it is
    merged, or left out. Returns the chosen glyphs (reading order, renumbered within their
    lines) and their probability rows."""
    n = len(glyphs)
    heights = run_heights(glyphs)
    tiny = [g.run >= 0 and (max(g.rect[2], g.rect[3]) < TINY * heights[g.run] or g.rect[3] < FLAT * heights[g.run])
            for g in glyphs]
    if not candidates and not any(tiny):
        return glyphs, probs[:n]
    scores = probs if scores is None else scores

    ending: dict[int, list[tuple[int, int]]] = {}  # last glyph -> (first glyph, probs row)
    for k in range(n):
        ending[k] = [(k, k)]
    for ci, c in enumerate(candidates):
        ending[c.last].append((c.first, n + ci))
    bonus = _gap_bonus(glyphs)
    best = [0.0] + [-math.inf] * n
    back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
    for k in range(n):
        for first, row in ending[k]:
            if row == k and tiny[k]:  # not a character on its own: left out (row -1), or merged
                v, row = best[k] + bonus[k], -1
            else:
                v = best[first] + log_best(scores[row], masks[first]) + bonus[first]
            if v > best[k + 1]:
                best[k + 1], back[k + 1] = v, (first, row)
    chosen: list[tuple[Glyph, int]] = []
    k = n
    while k > 0:
        first, row = back[k]
        if 0 <= row < n:
            chosen.append((glyphs[row], row))
        elif row >= n:  # a merge (row -1: a tiny piece left out)
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
