"""The Celery application: JSON only, late acks, one form at a time per process.

Reliability comes from Celery's own settings, not home-made ones:
- ``task_acks_late`` + ``task_reject_on_worker_lost``: a worker killed mid-form does not
  lose it; the message goes back to the queue;
- ``worker_prefetch_multiplier=1``: tasks are long, so no process hoards them;
- Redis ``visibility_timeout`` longer than the hard time limit: an unacknowledged form is
  redelivered only after its worker must be dead (swept every ``restore_interval`` s);
- soft and hard time limits, ``worker_max_tasks_per_child`` and a memory cap per child;
- retries with exponential backoff only for :class:`TransientError` (see tasks.py)."""

from __future__ import annotations

from celery import Celery

from worker.settings import Settings


def make_app(settings: Settings | None = None) -> Celery:
    s = settings or Settings.from_env()
    app = Celery("formicr", broker=s.broker_url, backend=s.result_backend, include=["worker.tasks"])
    ssl = {"ssl_cert_reqs": "required"} if s.broker_url.startswith("rediss://") else None
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=s.soft_time_limit,
        task_time_limit=s.hard_time_limit,
        worker_max_tasks_per_child=s.max_tasks_per_child,
        worker_max_memory_per_child=s.max_memory_per_child_kb,
        worker_concurrency=s.concurrency,
        task_default_queue=s.queue,
        # kombu sweeps for expired unacked messages every interval x throttle seconds
        # (default 10 x 10); throttle 1 makes the interval the whole story.
        broker_transport_options={"visibility_timeout": s.visibility_timeout,
                                  "unacked_restore_interval": s.restore_interval,
                                  "unacked_restore_throttle": 1},
        result_backend_transport_options={"visibility_timeout": s.visibility_timeout},
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a running worker keeps reconnecting to Redis
        result_expires=7 * 24 * 3600,
        task_track_started=True,
        worker_hijack_root_logger=False,
        broker_use_ssl=ssl,
        redis_backend_use_ssl=ssl,
    )
    app.conf.formicr_settings = s
    return app


app = make_app()
