"""Runtime configuration from environment variables: the one place that knows them.

| variable | default | meaning |
|---|---|---|
| FORMICR_BROKER_URL | redis://localhost:6379/0 | Celery broker and job-state store (redis:// or rediss://, password allowed) |
| FORMICR_RESULT_BACKEND | the broker URL | Celery result backend |
| FORMICR_CONCURRENCY | number of cores | worker processes per `formicr worker` |
| FORMICR_INPUT_ROOT | current directory | workers read only below this |
| FORMICR_OUTPUT_ROOT | current directory | workers write only below this |
| FORMICR_QUEUE | formicr | queue name |
| FORMICR_SOFT_TIME_LIMIT | 300 | seconds before a form's task is asked to stop |
| FORMICR_HARD_TIME_LIMIT | 360 | seconds before its process is killed |
| FORMICR_VISIBILITY_TIMEOUT | 3600 | seconds before Redis redelivers an unacknowledged task (must exceed the hard limit) |
| FORMICR_RESTORE_INTERVAL | 10 | seconds between sweeps that put unacknowledged tasks of dead workers back on the queue (once their visibility timeout has passed) |
| FORMICR_MAX_TASKS_PER_CHILD | 200 | worker processes are recycled after this many forms |
| FORMICR_MAX_MEMORY_PER_CHILD_KB | 1500000 | ...or when they grow past this resident size |
| FORMICR_ORT_THREADS | 1 (in workers) | onnxruntime/OpenCV threads per worker process |
| FORMICR_MAX_PIXELS | 80000000 | per-page pixel cap (decompression-bomb guard) |
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from segmentation.decode import MAX_PIXELS
from segmentation.errors import UsageError


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"{name}={raw!r} is not an integer") from None
    if value <= 0:
        raise UsageError(f"{name} must be positive, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    broker_url: str
    result_backend: str
    concurrency: int
    input_root: Path
    output_root: Path
    queue: str
    soft_time_limit: int
    hard_time_limit: int
    visibility_timeout: int
    restore_interval: int
    max_tasks_per_child: int
    max_memory_per_child_kb: int
    ort_threads: int
    max_pixels: int

    @classmethod
    def from_env(cls) -> Settings:
        broker = os.environ.get("FORMICR_BROKER_URL", "redis://localhost:6379/0")
        s = cls(
            broker_url=broker,
            result_backend=os.environ.get("FORMICR_RESULT_BACKEND", broker),
            concurrency=_int("FORMICR_CONCURRENCY", os.cpu_count() or 1),
            input_root=Path(os.environ.get("FORMICR_INPUT_ROOT", os.getcwd())).resolve(),
            output_root=Path(os.environ.get("FORMICR_OUTPUT_ROOT", os.getcwd())).resolve(),
            queue=os.environ.get("FORMICR_QUEUE", "formicr"),
            soft_time_limit=_int("FORMICR_SOFT_TIME_LIMIT", 300),
            hard_time_limit=_int("FORMICR_HARD_TIME_LIMIT", 360),
            visibility_timeout=_int("FORMICR_VISIBILITY_TIMEOUT", 3600),
            restore_interval=_int("FORMICR_RESTORE_INTERVAL", 10),
            max_tasks_per_child=_int("FORMICR_MAX_TASKS_PER_CHILD", 200),
            max_memory_per_child_kb=_int("FORMICR_MAX_MEMORY_PER_CHILD_KB", 1_500_000),
            ort_threads=_int("FORMICR_ORT_THREADS", 1),
            max_pixels=_int("FORMICR_MAX_PIXELS", MAX_PIXELS),
        )
        if not s.broker_url.startswith(("redis://", "rediss://", "unix://")):
            raise UsageError(f"FORMICR_BROKER_URL must be a redis:// or rediss:// URL, got {redact(s.broker_url)}")
        if s.soft_time_limit >= s.hard_time_limit:
            raise UsageError("FORMICR_SOFT_TIME_LIMIT must be below FORMICR_HARD_TIME_LIMIT")
        if s.visibility_timeout <= s.hard_time_limit:
            raise UsageError("FORMICR_VISIBILITY_TIMEOUT must exceed FORMICR_HARD_TIME_LIMIT, or Redis would "
                             "redeliver forms that are still being read")
        return s


def redact(url: str) -> str:
    """A URL safe to print: the password replaced by ***."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)
