"""The Kaggle A-Z CSV loader, including every bad-input case."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from segmentation.errors import DataError
from training.data import load_any, load_kaggle_csv


def kaggle_csv(rows: list[list], header: bool = True) -> str:
    head = ",".join(["0"] + [f"0.{i}" for i in range(1, 785)])
    body = "\n".join(",".join(str(v) for v in r) for r in rows)
    return (head + "\n" if header else "") + body + "\n"


def good_rows(n: int = 3) -> list[list]:
    rng = np.random.default_rng(0)
    return [[i % 26] + list(rng.integers(0, 256, 784)) for i in range(n)]


def test_reads_labels_and_pixels_and_renames_first_column(tmp_path):
    p = tmp_path / "az.csv"
    rows = good_rows(3)
    p.write_text(kaggle_csv(rows))
    ds = load_kaggle_csv(p)
    assert list(ds.y) == ["A", "B", "C"]
    assert ds.x.shape == (3, 28, 28) and ds.x.dtype == np.uint8
    assert ds.x[1].ravel().tolist() == rows[1][1:]
    assert not ds.has_writers  # so the split falls back to random


def test_accepts_gzip(tmp_path):
    p = tmp_path / "az.csv.gz"
    p.write_bytes(gzip.compress(kaggle_csv(good_rows(2)).encode()))
    assert len(load_any(str(p))) == 2


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: [r[0][:-1]], "expected 785 columns"),
        (lambda r: [[r[0][0]] + ["x"] + r[0][2:]], "row 2, column 2"),
        (lambda r: [[r[0][0]] + [300] + r[0][2:]], "out of range"),
        (lambda r: [[26] + r[0][1:]], "unknown label 26"),
        (lambda r: [[-1] + r[0][1:]], "unknown label -1"),
    ],
    ids=["wrong-column-count", "non-numeric", "pixel-out-of-range", "label-too-big", "label-negative"],
)
def test_bad_rows_name_the_file_and_place(tmp_path, mutate, message):
    p = tmp_path / "bad.csv"
    p.write_text(kaggle_csv(mutate(good_rows(1))))
    with pytest.raises(DataError, match=message) as exc:
        load_kaggle_csv(p)
    assert str(p) in str(exc.value)


def test_error_names_the_row_of_a_late_bad_value(tmp_path):
    rows = good_rows(5)
    rows[3][100] = "oops"
    p = tmp_path / "late.csv"
    p.write_text(kaggle_csv(rows))
    with pytest.raises(DataError, match="row 5, column 101"):
        load_kaggle_csv(p)


def test_empty_file_and_header_only_are_errors(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        load_kaggle_csv(empty)
    header = tmp_path / "header.csv"
    header.write_text(kaggle_csv([]).strip() + "\n")
    with pytest.raises(DataError, match="no data rows"):
        load_kaggle_csv(header)


def test_corrupt_gzip_and_missing_file(tmp_path):
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="gzip"):
        load_kaggle_csv(bad)
    with pytest.raises(DataError, match="no such file"):
        load_kaggle_csv(tmp_path / "missing.csv")


def test_unknown_data_spec_is_refused():
    with pytest.raises(DataError, match="unknown data set"):
        load_any("mnist-fashion")
