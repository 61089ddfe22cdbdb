"""onnxruntime wrapper: batch inference, charset masking, top-k alternatives."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segmentation.charsets import CHARSETS, TWINS
from segmentation.errors import ModelError
from worker.model_meta import DEFAULT_MODEL, ModelMeta, load_metadata

WORD_MAJORITY = 0.75  # of a word's characters that are no letter/digit twin: the word is digits (letters)
# A character is surely a letter (digit) where that class holds this much of its probability
SURE_CLASS = 0.98


def word_class(digit_votes, majority: float = WORD_MAJORITY) -> str | None:
    """What a word is, from its characters' votes (True: a digit; its twins left out):
    "digits" where ``majority`` of them are, "letters" where that many are not, else None."""
    share = float(np.mean(digit_votes)) if len(digit_votes) else 0.5
    return "digits" if share >= majority else "letters" if share <= 1 - majority else None


def _word_groups(words: list[tuple]) -> list[list[int]]:
    """The indexes of ``words`` grouped by word key, in first-seen order."""
    groups: dict[tuple, list[int]] = {}
    for i, w in enumerate(words):
        groups.setdefault(w, []).append(i)
    return list(groups.values())


@dataclass(frozen=True)
class Prediction:
    char: str
    confidence: float
    alternatives: tuple[tuple[str, float], ...]  # next candidates, best first


class Classifier:
    """Loads one ONNX model (once per process) and classifies normalised glyph batches."""

    def __init__(self, model: str | Path = DEFAULT_MODEL, threads: int | None = None, batch_size: int = 256):
        import onnxruntime as ort

        self.meta: ModelMeta = load_metadata(model)
        self.labels = self.meta.labels
        so = ort.SessionOptions()
        threads = threads if threads is not None else int(os.environ.get("FORMICR_ORT_THREADS", "0"))
        so.intra_op_num_threads = threads  # 0 = onnxruntime's default (all cores)
        so.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(self.meta.onnx_path), so, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ModelError(f"{self.meta.onnx_path}: onnxruntime cannot load it ({exc})") from exc
        self.input_name = self.session.get_inputs()[0].name
        self.batch_size = batch_size
        self._masks = {name: np.array([c in chars for c in self.labels]) for name, chars in CHARSETS.items()}
        self._is_digit = self._masks["digits"]
        twin_of = {**TWINS, **{d: c for c, d in TWINS.items()}}
        index = {c: i for i, c in enumerate(self.labels)}
        self._twin = np.array([index.get(twin_of.get(c, ""), -1) for c in self.labels])
        # I/1 is not pooled: a bare stroke is what the fragments of a broken character look
        # like, and pooling it would reward cutting them apart
        self._pool = np.where(np.isin(self.labels, ["I", "1"]), -1, self._twin)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(N,28,28,1) float32 -> (N, len(labels)) softmax probabilities."""
        if len(x) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        x = np.ascontiguousarray(x, dtype=np.float32)
        return np.concatenate(
            [self.session.run(None, {self.input_name: x[i : i + self.batch_size]})[0]
             for i in range(0, len(x), self.batch_size)]
        )

    def pooled(self, probs: np.ndarray) -> np.ndarray:
        """Each label's probability plus its twin's (O/0, S/5, Z/2): how surely a glyph
        is that shape, whichever of the pair the field or word makes it. Segmentation scores
        glyphs by this, so a twin read half as O and half as 0 is not taken for a poor glyph."""
        has = self._pool >= 0
        out = probs.copy()
        out[:, has] += probs[:, self._pool[has]]
        return out

    def mask(self, charset: str | None) -> np.ndarray:
        if charset is None:
            return np.ones(len(self.labels), bool)
        if charset not in self._masks:
            raise ModelError(f"unknown charset {charset!r} (expected one of {sorted(self._masks)})")
        return self._masks[charset]

    def decode(self, probs: np.ndarray, charsets: list[str | None] | None = None, top_k: int = 3) -> list[Prediction]:
        """Apply each glyph's charset mask before the argmax, renormalise, return top-k."""
        out = []
        for i, p in enumerate(probs):
            m = self.mask(charsets[i] if charsets else None)
            q = np.where(m, p, 0.0)
            s = q.sum()
            q = q / s if s > 0 else m / m.sum()
            order = np.argsort(-q)[: max(1, top_k)]
            out.append(Prediction(self.labels[order[0]], float(q[order[0]]),
                                  tuple((self.labels[j], float(q[j])) for j in order[1:])))
        return out

    def word_charsets(self, probs: np.ndarray, words: list[tuple], majority: float = WORD_MAJORITY,
                      ambiguous: float = 0.02) -> list[str | None]:
        """Template-free context: a word whose characters are mostly digits (or mostly
        letters) lends that charset to its ambiguous minority characters (O/0, I/1, S/5,
        Z/2). A character is re-read only if the majority class holds at least
        ``ambiguous`` of its probability; clear letters in a digit word stay letters."""
        digit_mass = probs[:, self._is_digit].sum(axis=1) if len(probs) else np.zeros(0)
        # a character read as one of a twin pair says little about its word: it abstains
        twin = np.isin(np.argmax(probs, axis=1), np.nonzero(self._twin >= 0)[0]) if len(probs) else np.zeros(0, bool)
        out: list[str | None] = [None] * len(probs)
        for idx in _word_groups(words):
            if len(idx) < 2:
                continue
            voters = [i for i in idx if not twin[i]] or idx
            cls = word_class(digit_mass[voters] > 0.5, majority)
            if cls is None:
                continue
            for i in idx:
                share = digit_mass[i] if cls == "digits" else 1 - digit_mass[i]
                if share >= ambiguous:
                    out[i] = cls
        return out

    def twins_in_doubt(self, probs: np.ndarray, words: list[tuple], charsets: list[str | None],
                       sure: float = SURE_CLASS) -> list[bool]:
        """Which characters are a letter/digit twin that ``word_charsets`` lent the other class
        than the one it reads as (a 1 made I), in a word where another character is ``sure``
        of the twin's own class: a code of letters and digits alike (a postcode, a reference),
        where nothing on the page says which of the pair was written."""
        out = [False] * len(probs)
        if not len(probs):
            return out
        digit_mass = probs[:, self._is_digit].sum(axis=1)
        top = np.argmax(probs, axis=1)
        own = np.where(self._is_digit[top], "digits", "letters")
        sure_of = np.where(digit_mass >= sure, "digits", np.where(digit_mass <= 1 - sure, "letters", ""))
        for idx in _word_groups(words):
            for i in idx:
                if self._twin[top[i]] >= 0 and charsets[i] not in (None, own[i]):
                    out[i] = any(sure_of[j] == own[i] for j in idx if j != i)
        return out

    def classify(self, x: np.ndarray, charsets: list[str | None] | None = None, top_k: int = 3) -> list[Prediction]:
        return self.decode(self.probabilities(x), charsets, top_k)
