"""A template field's ``pattern`` as a constraint on its reading, not only a check.

Each character's reading (its best label and next candidates, with probabilities) is
combined into the likeliest text, spaces left out, that the pattern matches in full: a
postcode pattern ``[A-Z][0-9][A-Z][0-9][A-Z][0-9]`` settles which of O/0, I/1, S/5 and Z/2
each cell holds, as a field's charset settles them for the whole field. Each character's
confidence is then its label's share of the probability of every fitting text found,
counting the labels no candidate names as fitting; a character the pattern changed to other
than its letter/digit twin marks the fit as an overruling, which the reader flags for review
(the writer may have written what the pattern forbids)."""

from __future__ import annotations

import heapq
import math
import re
from dataclasses import dataclass

from segmentation.charsets import TWINS

MAX_TRIES = 2048  # readings tried, likeliest first, before a field is left as read
FLOOR = 1e-6  # the least probability a candidate is scored with (a log of zero)
NEGLIGIBLE = 1e-2  # a text this much less likely than the fitting ones found ends the search

Reading = tuple[str, float, tuple[tuple[str, float], ...]]  # label, confidence, alternatives


@dataclass(frozen=True)
class Fit:
    """A field's characters refitted to its pattern, one entry per character."""

    chars: tuple[str, ...]
    confidences: tuple[float, ...]
    alternatives: tuple[tuple[tuple[str, float], ...], ...]
    overruled: bool  # a character changed to other than its twin


def twins(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are a letter and the digit of the same shape (O/0, I/1, S/5, Z/2)."""
    return TWINS.get(a) == b or TWINS.get(b) == a


def fit_pattern(readings: list[Reading], pattern: str, max_tries: int = MAX_TRIES) -> Fit | None:
    """``readings`` (in reading order) as read where their text matches ``pattern`` in full,
    else the likeliest text from each character's label and alternatives that does; None when
    none of the ``max_tries`` likeliest does (the field is left as read, and fails its pattern).
    (A label the reader chose over a likelier alternative, a doubt it added from a second
    reading of the same ink, is kept while the text fits.) Each character's confidence is its
    label's share of the fitting texts' probability, counting the labels no candidate names as
    fitting: a kept label is never made less sure."""
    if not readings:
        return None
    rx = re.compile(pattern)
    cands = [_candidates(r) for r in readings]
    fitting, ruled_out = _fitting_texts(cands, rx, max_tries)
    if not fitting:
        return None
    if not ruled_out:  # every text tried fits: the pattern says nothing the charset did not
        return Fit(tuple(r[0] for r in readings), tuple(r[1] for r in readings),
                   tuple(r[2] for r in readings), False)
    chosen = [r[0] for r in readings]
    if rx.fullmatch("".join(chosen)) is None:  # (a text that fits stands: the reader chose each label)
        chosen = [c[i][0] for c, i in zip(cands, fitting[0][0], strict=True)]
    else:  # counted, though the search may have stopped short of it (a doubted label)
        as_read = tuple(next(i for i, (ch, _) in enumerate(c) if ch == r[0]) for c, r in zip(cands, readings, strict=True))
        if all(idx != as_read for idx, _ in fitting):
            fitting.append((as_read, math.prod(c[i][1] for c, i in zip(cands, as_read, strict=True))))
    z = sum(m for _, m in fitting)
    confs, alts = [], []
    for k, (c, (label, conf, alternatives)) in enumerate(zip(cands, readings, strict=True)):
        mass: dict[str, float] = {}
        for idx, m in fitting:
            mass[c[idx[k]][0]] = mass.get(c[idx[k]][0], 0.0) + m
        # the labels no candidate names may fit here too: their probability, times that of the
        # rest of the text fitting round a label here
        p = dict(c)
        rest = max(v / max(p[ch], FLOOR) for ch, v in mass.items())
        unnamed = max(0.0, 1.0 - sum(p.values())) * rest
        share = {ch: v / (z + unnamed) for ch, v in mass.items()}
        confs.append(max(share[chosen[k]], conf) if chosen[k] == label else share[chosen[k]])
        alts.append(tuple(sorted(((ch, v) for ch, v in share.items() if ch != chosen[k]),
                                 key=lambda cv: -cv[1]))[: len(alternatives)])
    overruled = any(ch != r[0] and not twins(ch, r[0]) for ch, r in zip(chosen, readings, strict=True))
    return Fit(tuple(chosen), tuple(confs), tuple(alts), overruled)


def _candidates(r: Reading) -> list[tuple[str, float]]:
    """A character's labels, likeliest first, each once, as probabilities that sum to one at
    most (a doubt the reader added need not sum to one with the rest)."""
    seen: dict[str, float] = {}
    for ch, p in ((r[0], r[1]), *r[2]):
        seen[ch] = max(p, seen.get(ch, 0.0))
    total = max(1.0, sum(seen.values()))
    return sorted(((ch, p / total) for ch, p in seen.items()), key=lambda cp: -cp[1])


def _fitting_texts(cands: list[list[tuple[str, float]]], rx: re.Pattern,
                   max_tries: int) -> tuple[list[tuple[tuple[int, ...], float]], bool]:
    """The texts ``rx`` matches in full (candidate indices, one per character, and their
    probability), likeliest first, among the likeliest ``max_tries`` texts (taken from a heap,
    cheapest first), until the next is under NEGLIGIBLE of those found; and whether a text
    tried did not match."""
    costs = [[-math.log(max(p, FLOOR)) for _, p in c] for c in cands]
    start = (0,) * len(cands)
    heap = [(sum(c[0] for c in costs), start)]
    seen, out, found, missed = {start}, [], 0.0, False
    for _ in range(max_tries):
        if not heap:
            break
        cost, idx = heapq.heappop(heap)
        mass = math.exp(-cost)
        if mass < NEGLIGIBLE * found:
            break
        if rx.fullmatch("".join(c[i][0] for c, i in zip(cands, idx, strict=True))) is not None:
            out.append((idx, mass))
            found += mass
        else:
            missed = True
        for k, i in enumerate(idx):
            if i + 1 < len(cands[k]):
                nxt = idx[:k] + (i + 1,) + idx[k + 1:]
                if nxt not in seen:
                    seen.add(nxt)
                    heapq.heappush(heap, (cost - costs[k][i] + costs[k][i + 1], nxt))
    return out, missed
