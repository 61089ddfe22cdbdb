"""Jobs: one submission's forms, state in Redis, per-form parts on disk, the merged CSVs.

A form's results are keyed by ``form_key = sha256(source, content sha256, template)``, so a form
delivered twice (redelivery, resubmission) writes the same part file again and is counted
once. Parts live in ``<out>/.parts/<form_key>.json`` (written atomically); the job's
``characters.csv``/``fields.csv``/``forms.csv``/``errors.csv`` are merged from them, in the same order
as ``formicr read`` (by source, then page), once every form is finished."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import redis

from segmentation.errors import BrokerError, PathOutsideRootError
from worker.results import ErrorRow, character_rows, error_rows, field_rows, sort_rows, write_csvs
from worker.review_sheet import write_review_sheet
from worker.settings import redact

PARTS = ".parts"
PREFIX = "formicr:job:"
OPEN_JOBS = "formicr:jobs:open"  # ids of jobs not merged yet: what the workers' stall sweeper visits
JOB_TTL = 30 * 24 * 3600  # job state is kept in Redis for 30 days


def job_key(job_id: str) -> str:
    return PREFIX + job_id


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def form_key(source: str, digest: str, options: dict | None = None) -> str:
    """The identity of one form's results: its source, its bytes, and the options that
    change its rows (the template), so a resubmission with another template is re-read."""
    opts = json.dumps({"template": (options or {}).get("template")}, sort_keys=True)
    return hashlib.sha256(f"{source}\0{digest}\0{opts}".encode()).hexdigest()[:32]


def part_path(out_dir: Path, key: str) -> Path:
    return out_dir / PARTS / f"{key}.json"


def connect(url: str, timeout: float = 3.0, reconnect_for: float = 120.0) -> redis.Redis:
    """A Redis client that fails fast on the first contact, with a clear message naming the
    (redacted) URL. Once connected, it rides out a Redis restart: redis-py retries
    connection errors with exponential backoff for about ``reconnect_for`` seconds."""
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    retry = Retry(ExponentialBackoff(cap=5.0, base=0.2), retries=max(1, int(reconnect_for / 4)))
    try:
        r = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout + 2,
                                 health_check_interval=30, decode_responses=True)
        r.ping()  # first contact: no retries, so a wrong URL or a dead server fails in seconds
        r.connection_pool.connection_kwargs.update(
            retry=retry, retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError])
        r.connection_pool.reset()
        r = redis.Redis(connection_pool=r.connection_pool, retry=retry,
                        retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError])
        return r
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
        raise BrokerError(f"cannot reach Redis at {redact(url)}: {exc}") from exc
    except redis.exceptions.AuthenticationError as exc:
        raise BrokerError(f"Redis at {redact(url)} refused the credentials: {exc}") from exc
    except redis.exceptions.ResponseError as exc:
        raise BrokerError(f"Redis at {redact(url)}: {exc}") from exc


def inside(root: Path, path: str | Path) -> Path:
    """Resolve ``path`` (relative to ``root``, or absolute) and insist it stays below ``root``
    after following symlinks and ``..``."""
    p = Path(path)
    full = (p if p.is_absolute() else root / p).resolve()
    try:
        full.relative_to(root.resolve())
    except ValueError:
        raise PathOutsideRootError(f"{path}: outside the allowed root {root}") from None
    return full


@dataclass
class FormPart:
    """One form's rows, as the CSV writer will write them."""

    source: str
    pages: int
    characters: list[list]
    fields: list[list]
    errors: list[list]

    def dump(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":")) + "\n"

    @classmethod
    def from_file(cls, path: Path) -> FormPart:
        return cls(**json.loads(path.read_text()))


def part_from_result(result) -> FormPart:
    return FormPart(result.source, len(result.pages), [r for p in result.pages for r in character_rows(p)],
                    [r for p in result.pages for r in field_rows(p)],
                    [r for e in result.errors for r in error_rows(e)])


def write_merged(out_dir: Path, parts: list[FormPart], extra_errors: list[ErrorRow], annotated: bool = False) -> None:
    """The job's CSVs from its forms' parts; with ``annotated``, the review sheet too."""
    fields = [r for p in parts for r in p.fields]
    write_csvs(out_dir, [r for p in parts for r in p.characters], fields,
               [r for p in parts for r in p.errors] + [r for e in extra_errors for r in error_rows(e)])
    if annotated:
        write_review_sheet(out_dir, sort_rows(fields), Path(out_dir) / "annotated")


class JobStore:
    """Job state in Redis: a hash per job plus sets of expected and finished form keys."""

    def __init__(self, r: redis.Redis):
        self.r = r

    def create(self, out_dir: Path, forms: dict[str, str], options: dict, errors: list[ErrorRow],
               already_done: set[str], tasks: dict[str, list] | None = None) -> str:
        """Record a job: its forms (key -> source), the task arguments of those still to
        read (so a stalled job can be requeued), and the ones already done."""
        job_id = uuid.uuid4().hex[:12]
        k = job_key(job_id)
        now = time.time()
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(k, mapping={"submitted": len(forms), "done": 0, "failed": 0, "skipped": len(already_done),
                              "started": now, "last_progress": now, "out": str(out_dir),
                              "options": json.dumps(options), "requeued": 0,
                              "submit_errors": json.dumps([e.__dict__ for e in errors]), "merged": 0})
        if forms:
            pipe.hset(k + ":forms", mapping=forms)  # form_key -> source
        if tasks:
            pipe.hset(k + ":tasks", mapping={key: json.dumps(args) for key, args in tasks.items()})
        if already_done:
            pipe.sadd(k + ":finished", *already_done)
        for suffix in ("", ":forms", ":finished", ":tasks"):
            pipe.expire(k + suffix, JOB_TTL)
        pipe.sadd(OPEN_JOBS, job_id)
        pipe.execute()
        return job_id

    def open_jobs(self) -> list[str]:
        return sorted(self.r.smembers(OPEN_JOBS))

    def close(self, job_id: str) -> None:
        """Take a job off the sweeper's list (merged, or its state expired)."""
        self.r.srem(OPEN_JOBS, job_id)

    def pending_tasks(self, job_id: str) -> dict[str, list]:
        """Task arguments of the forms not finished yet."""
        k = job_key(job_id)
        finished = self.r.smembers(k + ":finished")
        return {key: json.loads(a) for key, a in self.r.hgetall(k + ":tasks").items() if key not in finished}

    def finish_form(self, job_id: str, key: str, failed: bool) -> tuple[int, int]:
        """Mark a form finished (idempotent). Returns (finished, submitted)."""
        k = job_key(job_id)
        if self.r.sadd(k + ":finished", key):
            self.r.hincrby(k, "failed" if failed else "done", 1)
            self.r.hset(k, "last_progress", time.time())
            self.r.expire(k + ":finished", JOB_TTL)
        return self.r.scard(k + ":finished"), int(self.r.hget(k, "submitted") or 0)

    def progress(self, job_id: str) -> tuple[int, int]:
        """(finished, submitted) forms of a job."""
        k = job_key(job_id)
        return self.r.scard(k + ":finished"), int(self.r.hget(k, "submitted") or 0)

    def is_finished(self, job_id: str, key: str) -> bool:
        return bool(self.r.sismember(job_key(job_id) + ":finished", key))

    def state(self, job_id: str) -> dict | None:
        h = self.r.hgetall(job_key(job_id))
        if not h:
            return None
        return {"job": job_id, "submitted": int(h["submitted"]), "done": int(h["done"]), "failed": int(h["failed"]),
                "skipped": int(h["skipped"]), "started": float(h["started"]), "out": h["out"],
                "last_progress": float(h.get("last_progress", h["started"])), "requeued": int(h.get("requeued", 0)),
                "options": json.loads(h["options"]), "merged": h.get("merged") == "1",
                "submit_errors": [ErrorRow(**e) for e in json.loads(h["submit_errors"])],
                "finished": self.r.scard(job_key(job_id) + ":finished")}

    def parts(self, job_id: str) -> list[FormPart]:
        st = self.state(job_id)
        out = Path(st["out"])
        return [FormPart.from_file(part_path(out, k)) for k in self.forms(job_id) if part_path(out, k).exists()]

    def forms(self, job_id: str) -> dict[str, str]:
        return self.r.hgetall(job_key(job_id) + ":forms")

    def merge(self, job_id: str) -> bool:
        """Write the job's combined CSVs from its parts, once every form is finished.
        Safe to call from several places: a short Redis lock serialises it."""
        st = self.state(job_id)
        if st is None or st["finished"] < st["submitted"]:
            return False
        lock = self.r.lock(job_key(job_id) + ":merge", timeout=120, blocking_timeout=60)
        with lock:
            write_merged(Path(st["out"]), self.parts(job_id), st["submit_errors"],
                         annotated=bool(st["options"].get("annotate")))
            self.r.hset(job_key(job_id), "merged", 1)
        self.close(job_id)
        return True
