"""What keeps the writer-disjoint numbers honest: duplicate writers merged, repeated
samples dropped, per-group splits, and the label audit file."""

from __future__ import annotations

import re

import numpy as np
import pytest

from segmentation.charsets import ALNUM
from segmentation.errors import DataError
from training.data import Dataset, deduplicate, image_key, writer_split
from training.labels import AUDIT_COLUMNS, AUDIT_PATH, audited_wrong, load_audit


def _glyphs(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


def _dataset(x: np.ndarray, writers: list[str], group: str = "g") -> Dataset:
    y = np.array([ALNUM[i % len(ALNUM)] for i in range(len(x))], dtype=object)
    return Dataset(x, y, np.array(writers, dtype=object), np.full(len(x), group, dtype=object))


def test_writer_filed_twice_under_two_ids_becomes_one_writer():
    a = _glyphs(10, 1)
    b = np.concatenate([a[:6], _glyphs(4, 2)])  # b repeats six of a's glyphs: the same person
    c = np.concatenate([a[:1], _glyphs(9, 3)])  # c shares one glyph by chance: someone else
    ds = _dataset(np.concatenate([a, b, c]), ["g/a"] * 10 + ["g/b"] * 10 + ["g/c"] * 10)
    ds.y[:] = np.tile(ds.y[:10], 3)  # repeated glyphs carry the same label
    out = deduplicate(ds)
    assert out.dedupe["writers_merged"] == {"g/a": ["g/b"]}
    assert set(out.writer) == {"g/a", "g/c"}
    assert out.dedupe["duplicates_dropped"] == 6  # b's copies of a; c's chance match is kept
    assert len(out) == 24


def test_writer_split_never_puts_copies_of_one_glyph_on_both_sides():
    x = _glyphs(40, 4)
    writers = [f"g/w{i // 4}" for i in range(40)]
    # w9 re-files w0's glyphs under a new id
    ds = _dataset(np.concatenate([x, x[:4].repeat(2, axis=0)[:8]]), writers + ["g/w9b"] * 8)
    ds.y[40:] = np.repeat(ds.y[:4], 2)
    ds = deduplicate(ds, min_shared=3)
    tr, te = writer_split(ds, 0.3, seed=0)
    assert not {image_key(g) for g in ds.x[tr]} & {image_key(g) for g in ds.x[te]}


def test_a_groups_test_writers_do_not_depend_on_other_sets_loaded():
    one = _dataset(_glyphs(60, 5), [f"alpha/w{i // 6}" for i in range(60)], "alpha")
    other = _dataset(_glyphs(60, 6), [f"beta/w{i // 6}" for i in range(60)], "beta")
    both = Dataset(*(np.concatenate([getattr(one, f), getattr(other, f)]) for f in ("x", "y", "writer", "group")))
    alone = set(one.writer[writer_split(one, 0.2, 42)[1]])
    together = set(both.writer[writer_split(both, 0.2, 42)[1]])
    assert alone and alone == {w for w in together if w.startswith("alpha/")}


def test_label_audit_file_is_well_formed():
    audit = load_audit()
    assert len(audit) >= 100
    rows = AUDIT_PATH.read_text().splitlines()
    assert rows[0].split(",") == AUDIT_COLUMNS
    for (sha, label), reason in audit.items():
        assert re.fullmatch(r"[0-9a-f]{16}", sha) and label in ALNUM and reason


def test_audit_matches_image_and_label_together(tmp_path):
    x = _glyphs(3, 7)
    ds = _dataset(x, ["g/a"] * 3)
    path = tmp_path / "audit.csv"
    path.write_text(",".join(AUDIT_COLUMNS) + f"\n{image_key(x[1])},g,g/a,{ds.y[1]},a dash\n"
                    f"{image_key(x[2])},g,g/a,Z,a dash\n")  # right image, other label: no match
    assert audited_wrong(ds.x, ds.y, load_audit(path)).tolist() == [False, True, False]


def test_audit_file_with_other_columns_is_refused_by_name(tmp_path):
    path = tmp_path / "audit.csv"
    path.write_text("sha,label\nabc,A\n")
    with pytest.raises(DataError, match="audit.csv: columns"):
        load_audit(path)
