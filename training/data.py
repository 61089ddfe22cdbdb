"""Training datasets: the Kaggle A-Z CSV, the shared ``.npz`` sets, splits and scaling."""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np

from segmentation.charsets import ALNUM, LETTERS
from segmentation.errors import DataError
from segmentation.normalize import SIZE

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"

UNIPEN_CREDIT = (
    "UNIPEN train_r01_v07 (International Unipen Foundation), DOI 10.5281/zenodo.1195803, CC BY 4.0"
)
OPTDIGITS_CREDIT = (
    "UCI Optical Recognition of Handwritten Digits (Alpaydin & Kaynak), UCI ML Repository, CC BY 4.0"
)
KAGGLE_CREDIT = "Kaggle 'A-Z Handwritten Alphabets' (sachinpatel21), derived from NIST SD19"

# Named shortcuts for ``--data``: relative to the shared data folder.
NAMED_SETS = {
    "unipen-upper": "unipen/unipen_uppercase_28x28.npz",
    "unipen-digits": "unipen/unipen_digits_28x28.npz",
    "optdigits": "optdigits/optdigits_train_28x28.npz",
}
DEFAULT_SETS = ("unipen-upper", "unipen-digits", "optdigits")
OPTDIGITS_WRITERS = 30
# Two writer ids sharing this many pixel-identical glyphs are one person filed twice
# (UNIPEN's ibm r01-04/r02-04/... and gmd alek/kast share 20 to 114; unrelated writers
# share at most 1, a plain stroke or dash).
SAME_WRITER_MIN_SHARED = 5


@dataclass
class Dataset:
    """Images (N,28,28) uint8 white-on-black, labels (N,) one-char str, writer/group ids."""

    x: np.ndarray
    y: np.ndarray
    writer: np.ndarray
    group: np.ndarray
    sources: list[dict] = field(default_factory=list)
    dedupe: dict | None = None  # what :func:`deduplicate` merged and dropped
    # per sample, the pen strokes it was drawn from (training.strokes), or None; None when no
    # sample has them (see ``load_sets(strokes=True)``)
    strokes: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, idx: np.ndarray) -> Dataset:
        return Dataset(self.x[idx], self.y[idx], self.writer[idx], self.group[idx], self.sources, self.dedupe,
                       None if self.strokes is None else self.strokes[idx])

    def with_strokes(self) -> Dataset:
        """The samples that carry pen strokes (none when no strokes were attached)."""
        if self.strokes is None:
            return self.subset(np.zeros(0, int))
        return self.subset(np.nonzero([s is not None for s in self.strokes])[0])

    @property
    def has_writers(self) -> bool:
        return bool(np.all(self.writer != ""))


def _fail(path: Path, msg: str) -> DataError:
    return DataError(f"{path}: {msg}")


def load_kaggle_csv(path: str | Path) -> Dataset:
    """Read the Kaggle 'A-Z Handwritten Data.csv' (label 0..25 in column 0, then 784 pixels).

    The header names the first column ``0``; it is renamed ``label``. Accepts ``.csv`` and
    ``.csv.gz``. Every malformed file raises :class:`DataError` naming the file and the row
    (1-based, header = row 1) or column."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise _fail(path, "no such file")
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise _fail(path, f"not a valid gzip file ({exc})") from exc
    if not raw.strip():
        raise _fail(path, "file is empty")
    try:
        df = pd.read_csv(io.BytesIO(raw), header=0, dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        raise _fail(path, f"malformed CSV ({exc})") from exc
    except pd.errors.EmptyDataError as exc:
        raise _fail(path, "file is empty") from exc
    if len(df) == 0:
        raise _fail(path, "file has a header but no data rows")
    ncol = SIZE * SIZE + 1
    if df.shape[1] != ncol:
        raise _fail(path, f"expected {ncol} columns (label + 784 pixels), found {df.shape[1]}")
    df = df.rename(columns={df.columns[0]: "label"})
    empty = (df == "").to_numpy()
    if empty.any():  # pandas pads a short row with empty strings
        r = int(np.argmax(empty.any(axis=1)))
        found = ncol - int(empty[r][::-1].argmin()) if empty[r][-1] else None
        what = f"expected {ncol} columns, found {found}" if found is not None else \
            f"empty value in column {int(np.argmax(empty[r])) + 1}"
        raise _fail(path, f"row {r + 2}: {what}")
    try:
        values = df.to_numpy(dtype=np.float64)
    except ValueError:
        for c_i, col in enumerate(df.columns):
            bad = pd.to_numeric(df[col], errors="coerce").isna()
            if bad.any():
                r = int(np.argmax(bad.to_numpy()))
                raise _fail(
                    path, f"row {r + 2}, column {c_i + 1} ({col!r}): non-numeric value {df[col].iloc[r]!r}"
                ) from None
        raise
    labels, pixels = values[:, 0], values[:, 1:]
    bad_rows = np.nonzero((labels != np.round(labels)) | (labels < 0) | (labels >= len(LETTERS)))[0]
    if bad_rows.size:
        r = int(bad_rows[0])
        raise _fail(path, f"row {r + 2}, column 1 ('label'): unknown label {labels[r]:g} (expected 0..25 = A..Z)")
    bad = np.argwhere((pixels < 0) | (pixels > 255) | (pixels != np.round(pixels)))
    if bad.size:
        r, c = (int(v) for v in bad[0])
        raise _fail(path, f"row {r + 2}, column {c + 2}: pixel value {pixels[r, c]:g} out of range 0..255")
    x = pixels.astype(np.uint8).reshape(-1, SIZE, SIZE)
    y = np.array(LETTERS)[labels.astype(int)]
    n = len(y)
    return Dataset(
        x, y, np.full(n, "", dtype=object), np.full(n, "kaggle", dtype=object),
        [{"name": "kaggle-az", "path": str(path), "credit": KAGGLE_CREDIT, "samples": n, "writers": None}],
    )


def load_npz(path: str | Path) -> Dataset:
    """Read one of the shared ``.npz`` sets (``x``, ``y``, optional ``writer``/``group``)."""
    path = Path(path)
    if not path.exists():
        raise _fail(path, "no such file")
    try:
        d = np.load(path, allow_pickle=False)
        x, y = d["x"], d["y"]
    except KeyError as exc:
        raise _fail(path, f"missing array {exc}") from exc
    except Exception as exc:  # zipfile/pickle/ValueError: all mean a bad file
        raise _fail(path, f"not a readable .npz ({exc})") from exc
    if x.ndim != 3 or x.shape[1:] != (SIZE, SIZE):
        raise _fail(path, f"x must be (N,28,28), found {x.shape}")
    if len(x) == 0:
        raise _fail(path, "file holds no samples")
    y = np.array([str(v) for v in y], dtype=object)
    unknown = sorted(set(y) - set(ALNUM))
    if unknown:
        raise _fail(path, f"unknown labels {unknown[:5]} (expected A-Z, 0-9)")
    x = np.clip(x, 0, 255).astype(np.uint8)
    n = len(y)
    if "writer" in d.files:
        writer = np.array([str(w) for w in d["writer"]], dtype=object)
        group = np.array([str(g) for g in d["group"]], dtype=object) if "group" in d.files else writer
        credit, name = UNIPEN_CREDIT, path.stem
    else:
        # optdigits ships no writer ids; its 1,934 samples come in writer order from 30
        # writers, so contiguous blocks approximate writers (documented as approximate).
        block = (np.arange(n) * OPTDIGITS_WRITERS) // n
        writer = np.array([f"optdigits/w{b:02d}" for b in block], dtype=object)
        group = np.full(n, "optdigits", dtype=object)
        credit, name = OPTDIGITS_CREDIT, path.stem
    src = {"name": name, "path": str(path), "credit": credit, "samples": n,
           "writers": int(len(set(writer))), "writer_ids": "approximate (contiguous blocks)"
           if "writer" not in d.files else "from file"}
    return Dataset(x, y, writer, group, [src])


def load_any(spec: str, shared: Path = SHARED_DATA) -> Dataset:
    """Load a named set (``unipen-upper``), an ``.npz`` path or a Kaggle CSV path."""
    if spec in NAMED_SETS:
        path = shared / NAMED_SETS[spec]
        if not path.exists():
            raise DataError(f"{path}: named set {spec!r} not found (is ../shared/data present? use --data PATH)")
        return load_npz(path)
    p = Path(spec)
    if p.name.endswith((".csv", ".csv.gz")):
        return load_kaggle_csv(p)
    if p.suffix == ".npz":
        return load_npz(p)
    raise DataError(f"{spec}: unknown data set (expected one of {sorted(NAMED_SETS)}, a .npz or a .csv[.gz])")


def combine(sets: list[Dataset]) -> Dataset:
    if not sets:
        raise DataError("no data sets given")
    strokes = None
    if any(s.strokes is not None for s in sets):
        strokes = np.concatenate([s.strokes if s.strokes is not None else np.full(len(s), None, dtype=object)
                                  for s in sets])
    return Dataset(
        np.concatenate([s.x for s in sets]), np.concatenate([s.y for s in sets]),
        np.concatenate([s.writer for s in sets]), np.concatenate([s.group for s in sets]),
        [src for s in sets for src in s.sources], strokes=strokes,
    )


def attach_strokes(ds: Dataset) -> Dataset:
    """Attach UNIPEN's pen strokes (``unipen_raw_strokes.tar.gz`` beside the npz) to a loaded
    UNIPEN set, sample by sample; records in the source whether they lined up."""
    from training.strokes import ARCHIVE, strokes_for

    src = ds.sources[0]
    archive = Path(src["path"]).parent / ARCHIVE
    if src.get("writer_ids") != "from file" or not archive.exists():
        return ds
    strokes = strokes_for(ds.y, ds.group, archive)
    src["strokes"] = f"{archive.name}: {'every sample matched' if strokes is not None else 'did not line up, unused'}"
    ds.strokes = strokes
    return ds


def image_key(img: np.ndarray) -> str:
    """First 16 hex digits of the SHA-1 of a (28,28) uint8 image's bytes."""
    return hashlib.sha1(np.ascontiguousarray(img, dtype=np.uint8).tobytes()).hexdigest()[:16]


def deduplicate(ds: Dataset, min_shared: int = SAME_WRITER_MIN_SHARED) -> Dataset:
    """Merge writer ids that share at least ``min_shared`` pixel-identical glyphs, then drop
    repeated samples (same writer, image and label).

    UNIPEN files some writers twice under different ids with the same glyphs; left alone,
    a "writer-disjoint" split puts one copy on each side and overstates accuracy."""
    keys = np.array([image_key(x) for x in ds.x], dtype=object)
    writers_of: dict[str, set[str]] = defaultdict(set)
    for k, w in zip(keys, ds.writer, strict=True):
        writers_of[k].add(w)
    shared: Counter = Counter()
    for ws in writers_of.values():
        shared.update(combinations(sorted(ws), 2))
    parent: dict[str, str] = {}

    def root(w: str) -> str:
        while parent.get(w, w) != w:
            w = parent[w]
        return w

    for (a, b), n in sorted(shared.items()):
        if n >= min_shared and root(a) != root(b):
            ra, rb = sorted((root(a), root(b)))
            parent[rb] = ra
    writer = np.array([root(w) for w in ds.writer], dtype=object)
    seen: set[tuple] = set()
    keep = np.ones(len(ds), bool)
    for i, key in enumerate(zip(writer, keys, ds.y, strict=True)):
        keep[i] = key not in seen
        seen.add(key)
    merged: dict[str, list[str]] = defaultdict(list)
    for w in sorted(parent):
        merged[root(w)].append(w)
    report = {"rule": f"writer ids sharing >= {min_shared} identical glyphs are merged; then repeated "
                      f"(writer, image, label) samples are dropped",
              "writers_merged": dict(sorted(merged.items())), "duplicates_dropped": int((~keep).sum()),
              "of": len(ds)}
    idx = np.nonzero(keep)[0]
    return Dataset(ds.x[idx], ds.y[idx], writer[idx], ds.group[idx], ds.sources, report,
                   None if ds.strokes is None else ds.strokes[idx])


def load_sets(specs: tuple[str, ...] | list[str] = DEFAULT_SETS, shared: Path = SHARED_DATA,
              strokes: bool = False) -> Dataset:
    """Load, combine and :func:`deduplicate` data sets: what training and evaluation read.

    ``strokes=True`` also attaches UNIPEN's pen strokes where the archive is present (for
    redrawing at other pen widths); it costs a few seconds of parsing."""
    sets = [load_any(s, shared) for s in specs]
    if strokes:
        sets = [attach_strokes(s) for s in sets]
    return deduplicate(combine(sets))


def random_split(ds: Dataset, test_frac: float = 0.2, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """Classic stratified, seeded 80:20 split (per class). Mixes writers: overstates accuracy."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in sorted(set(ds.y)):
        idx = np.nonzero(ds.y == label)[0]
        rng.shuffle(idx)
        k = int(round(len(idx) * test_frac))
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def writer_split(ds: Dataset, test_frac: float = 0.2, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """Writer-disjoint split: whole writers go to test until it holds ~test_frac of samples.

    Writers are drawn per source group so every group is represented on both sides, each
    group with its own seeded draw: a group's test writers do not depend on which other
    sets were loaded alongside it."""
    if not ds.has_writers:
        raise DataError("writer-disjoint split needs writer ids; this data has none (use --split random)")
    test_writers: set[str] = set()
    for g in sorted(set(ds.group)):
        rng = np.random.default_rng([seed, zlib.crc32(g.encode())])
        in_g = ds.group == g
        writers = np.array(sorted(set(ds.writer[in_g])), dtype=object)
        rng.shuffle(writers)
        counts = {w: int(n) for w, n in zip(*np.unique(ds.writer[in_g], return_counts=True), strict=True)}
        goal, acc = test_frac * in_g.sum(), 0
        for w in writers:
            if acc >= goal or len(test_writers & set(writers)) >= len(writers) - 1:
                break
            test_writers.add(w)
            acc += counts[w]
    is_test = np.isin(ds.writer, list(test_writers))
    return np.nonzero(~is_test)[0], np.nonzero(is_test)[0]


def writer_folds(ds: Dataset, k: int, seed: int = 0) -> np.ndarray:
    """Assign every sample to one of k writer-grouped folds (for cross-validated label checks)."""
    rng = np.random.default_rng(seed)
    writers = np.array(sorted(set(ds.writer)), dtype=object)
    rng.shuffle(writers)
    fold_of = {w: i % k for i, w in enumerate(writers)}
    return np.array([fold_of[w] for w in ds.writer])


def scale(x: np.ndarray) -> np.ndarray:
    """Min-max scale uint8 images to [0,1] and reshape to (N,28,28,1) float32 (the recipe)."""
    return (x.astype(np.float32) / 255.0).reshape(-1, SIZE, SIZE, 1)
