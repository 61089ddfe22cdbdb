"""Celery tasks: one task reads one form file with the same PageReader as ``formicr read``."""

from __future__ import annotations

import logging
import random
import threading
import time

import redis
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init, worker_ready

from segmentation.errors import FormicrError, TransientError
from segmentation.template import parse_template
from worker.celery_app import app
from worker.jobs import FormPart, JobStore, connect, inside, part_from_result, part_path
from worker.pipeline import PageReader, ReadOptions, error_message
from worker.results import atomic_write

log = logging.getLogger("formicr.tasks")
_READER: PageReader | None = None
_STORE: JobStore | None = None


@worker_process_init.connect
def load_model(**_) -> None:
    """Each worker process loads the ONNX model once, at start, with one thread."""
    global _READER
    import cv2

    s = app.conf.formicr_settings
    cv2.setNumThreads(s.ort_threads)
    _READER = PageReader(ReadOptions(max_pixels=s.max_pixels), threads=s.ort_threads)


@worker_ready.connect
def start_sweeper(**_) -> None:
    """The worker's main process sweeps for stalled jobs in a daemon thread (see
    ``queue.sweep``); with several workers, a short Redis lock lets one sweep at a time."""
    threading.Thread(target=_sweep_forever, args=(app.conf.formicr_settings,), name="formicr-sweeper",
                     daemon=True).start()


def _sweep_forever(s) -> None:
    from worker.queue import sweep

    store = None
    while True:
        time.sleep(s.restore_interval)
        try:
            store = store or JobStore(connect(s.broker_url))
            lock = store.r.lock("formicr:sweeper", timeout=max(60, 3 * s.restore_interval))
            if not lock.acquire(blocking=False):
                continue
            try:
                for job_id, n in sweep(store, s).items():
                    log.warning("job %s: no progress for a while and nothing queued; requeued %d lost forms",
                                job_id, n)
            finally:
                try:
                    lock.release()
                except redis.exceptions.LockError:
                    pass
        except Exception as exc:  # Redis down or restarting: try again next round
            log.warning("stall sweep skipped: %s", exc)


def _reader() -> PageReader:
    if _READER is None:  # solo/threads pools send no process-init signal
        load_model()
    return _READER


def _store() -> JobStore:
    global _STORE
    if _STORE is None:
        _STORE = JobStore(connect(app.conf.formicr_settings.broker_url))
    return _STORE


RETRYABLE = (TransientError, SoftTimeLimitExceeded, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


@app.task(name="formicr.read_form", bind=True, max_retries=6)
def read_form(self, job_id: str, key: str, path: str, source: str, out: str, options: dict) -> dict:
    """Read one form file into ``<out>/.parts/<key>.json`` and mark it finished in the job.

    Bad input (corrupt file, a path outside the input root, ...) is never retried: it
    becomes an error row. Transient trouble (storage briefly unreadable, Redis restarting,
    a time limit hit while waiting on either) is retried with exponential backoff. Whatever
    happens, the form ends with rows or an error row: a failed task is acknowledged
    (acks_late acks failures too), so it must never end silently."""
    try:
        return _read_form(job_id, key, path, source, out, options)
    except RETRYABLE as exc:
        if self.request.retries < self.max_retries:
            delay = min(60.0, 2.0 ** self.request.retries) * random.uniform(0.5, 1.0)
            log.warning("job %s: %s: %s; retry %d in %.1fs", job_id, source, exc, self.request.retries + 1, delay)
            raise self.retry(exc=exc, countdown=delay) from exc
        _record_failure(job_id, key, source, out, f"internal: gave up after {self.max_retries} retries: {exc}")
        raise
    except Exception as exc:  # a bug: record it so the job still completes, then fail loudly
        log.exception("job %s: %s failed", job_id, source)
        _record_failure(job_id, key, source, out, f"internal: {type(exc).__name__}: {exc}")
        raise


def _read_form(job_id: str, key: str, path: str, source: str, out: str, options: dict) -> dict:
    s = app.conf.formicr_settings
    store = _store()
    if store.is_finished(job_id, key):  # redelivered after it was counted: finish the job's merge
        finished, submitted = store.progress(job_id)
        if finished >= submitted and not store.state(job_id)["merged"]:
            store.merge(job_id)
        return {"key": key, "skipped": True}
    try:
        out_dir = inside(s.output_root, out)
    except FormicrError as exc:  # nowhere safe to write: the refusal is kept in the job state
        log.error("job %s: %s", job_id, exc)
        store.r.rpush(f"formicr:job:{job_id}:refused", str(exc))
        store.finish_form(job_id, key, failed=True)
        return {"key": key, "failed": True, "error": str(exc)}
    try:
        local = inside(s.input_root, path)
        reader = _reader()
        reader.options = ReadOptions(
            template=parse_template(options["template"]) if options.get("template") else None,
            annotate_dir=out_dir / "annotated" if options.get("annotate") else None,
            max_pixels=s.max_pixels,
            review_threshold=options.get("review_threshold", ReadOptions.review_threshold),
            perspective=options.get("perspective", True))
        result = reader.read_file(local, display=source)  # TransientError escapes: retried
        part = part_from_result(result)
        failed = not result.pages
    except TransientError:
        raise
    except FormicrError as exc:
        part = _error_part(source, error_message(exc, source, path))
        failed = True
    atomic_write(part_path(out_dir, key), part.dump())
    finished, submitted = store.finish_form(job_id, key, failed)
    if finished >= submitted:
        store.merge(job_id)
    return {"key": key, "failed": failed, "errors": len(part.errors)}


def _error_part(source: str, error: str) -> FormPart:
    return FormPart(source, 0, [], [], [[source, "", error]])


def _record_failure(job_id: str, key: str, source: str, out: str, error: str) -> None:
    """Best effort: an error row for the form, and the form marked finished (failed)."""
    s = app.conf.formicr_settings
    try:
        out_dir = inside(s.output_root, out)
        if not part_path(out_dir, key).exists():
            atomic_write(part_path(out_dir, key), _error_part(source, error).dump())
        store = _store()
        finished, submitted = store.finish_form(job_id, key, failed=True)
        if finished >= submitted:
            store.merge(job_id)
    except Exception:  # Redis or storage still down: the message stays unacked or is retried
        log.exception("job %s: could not record the failure of %s", job_id, source)
