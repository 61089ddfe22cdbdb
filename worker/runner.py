"""The in-process driver behind ``formicr read``: expand inputs, read files in a pool of
processes (each loads the model once), write the CSVs atomically, summarise."""

from __future__ import annotations

import glob
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from segmentation.decode import EXTENSIONS
from segmentation.errors import FormicrError
from worker.pipeline import FileResult, PageReader, ReadOptions, error_message
from worker.results import ErrorRow, field_rows, sort_rows, write_outputs
from worker.review_sheet import write_review_sheet

_READER: PageReader | None = None


def expand_inputs(inputs: list[str]) -> tuple[list[str], list[ErrorRow]]:
    """Files as given; directories searched recursively and globs expanded, both keeping
    only known extensions (.png .jpg .jpeg .tif .tiff .bmp .pdf). A named file is always
    read (a bad one becomes an error row); an input that matches nothing is an error row."""
    files, errors, seen = [], [], set()

    def add(p: str) -> None:
        if p not in seen:
            seen.add(p)
            files.append(p)

    for arg in inputs:
        p = Path(arg)
        if p.is_dir():
            found = [f for f in sorted(p.rglob("*")) if f.is_file() and f.suffix.lower() in EXTENSIONS]
            if not found:
                errors.append(ErrorRow(arg, None, "input: directory holds no PNG/JPEG/TIFF/BMP/PDF files"))
            for f in found:
                add(str(f))
        elif p.exists():
            add(arg)
        elif glob.has_magic(arg):
            matches = sorted(glob.glob(arg, recursive=True))
            if not matches:
                errors.append(ErrorRow(arg, None, "input: glob matched no files"))
            for m in matches:
                if Path(m).is_file() and Path(m).suffix.lower() in EXTENSIONS:
                    add(m)
        else:
            errors.append(ErrorRow(arg, None, "input: no such file or directory"))
    return files, errors


def _init_worker(options: ReadOptions, model: str | None, threads: int | None) -> None:
    """Load the model once per process; ``threads=None`` keeps the libraries' defaults."""
    global _READER
    if threads is not None:
        import cv2

        cv2.setNumThreads(threads)
    _READER = PageReader(options, model=model, threads=threads)


def _read_one(path: str) -> FileResult:
    assert _READER is not None
    try:
        return _READER.read_file(path)
    except FormicrError as exc:  # transient storage trouble: no retry in-process, so a row
        return FileResult(path, [], [ErrorRow(path, None, error_message(exc, path))])
    except Exception as exc:  # a bug, not bad input: report it, keep going
        return FileResult(path, [], [ErrorRow(path, None, f"internal: {type(exc).__name__}: {exc}")])


@dataclass
class Summary:
    files: int
    pages: int
    characters: int
    fields: int
    errors: int
    seconds: float
    internal_errors: int = 0

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return (f"{self.files} files, {self.pages} pages, {self.characters} characters, {self.fields} fields, "
                f"{self.errors} errors in {self.seconds:.1f}s ({self.pages_per_second:.2f} pages/s)")


def summarise(results: list[FileResult], errors: list[ErrorRow], seconds: float) -> Summary:
    pages = [p for r in results for p in r.pages]
    return Summary(len(results), len(pages), sum(len(p.characters) for p in pages),
                   sum(len(p.fields) for p in pages), len(errors), seconds,
                   sum(e.error.startswith("internal:") for e in errors))


def run_read(inputs: list[str], out_dir: Path, options: ReadOptions, *, jobs: int | None = None,
             model: str | None = None, progress: bool | None = None) -> tuple[Summary, list[FileResult]]:
    t0 = time.perf_counter()
    files, errors = expand_inputs(inputs)
    jobs = max(1, min(jobs or os.cpu_count() or 1, max(len(files), 1)))
    progress = sys.stdout.isatty() if progress is None else progress
    results: list[FileResult] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(files), unit="file", desc="reading")
    if jobs == 1:
        _init_worker(options, model, None)
        it = map(_read_one, files)
        pool = None
    else:
        # spawn, not fork: a forked child of a process that already ran OpenCV or onnxruntime
        # threads can deadlock in their thread pools.
        pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(options, model, 1))
        it = pool.map(_read_one, files)
    try:
        for r in it:
            results.append(r)
            if bar:
                bar.update(1)
                bar.set_postfix(pages=sum(len(x.pages) for x in results), errors=sum(len(x.errors) for x in results))
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
        if bar:
            bar.close()
    errors = errors + [e for r in results for e in r.errors]
    pages = [p for r in results for p in r.pages]
    write_outputs(out_dir, pages, errors)
    if options.annotate_dir is not None:
        write_review_sheet(out_dir, sort_rows([r for p in pages for r in field_rows(p)]), options.annotate_dir)
    return summarise(results, errors, time.perf_counter() - t0), results
