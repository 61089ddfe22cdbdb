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

import ssl
from urllib.parse import parse_qs, urlsplit, urlunsplit

from celery import Celery

from worker.settings import Settings

_CERT_REQS = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}


def tls_options(url: str) -> tuple[str, dict | None]:
    """For ``rediss://`` URLs: (URL without query, Celery's ssl dict). The query may carry
    ``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile`` and ``ssl_cert_reqs``
    (``required`` by default: an unverified TLS server is refused)."""
    parts = urlsplit(url)
    if parts.scheme != "rediss":
        return url, None
    q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    opts = {"ssl_cert_reqs": _CERT_REQS.get(q.get("ssl_cert_reqs", "required").lower(), ssl.CERT_REQUIRED)}
    for key in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
        if key in q:
            opts[key] = q[key]
    return urlunsplit(parts._replace(query="")), opts


def make_app(settings: Settings | None = None) -> Celery:
    s = settings or Settings.from_env()
    broker, broker_ssl = tls_options(s.broker_url)
    backend, backend_ssl = tls_options(s.result_backend)
    app = Celery("formicr", broker=broker, backend=backend, include=["worker.tasks"])
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
        broker_use_ssl=broker_ssl,
        redis_backend_use_ssl=backend_ssl,
    )
    app.conf.formicr_settings = s
    return app


app = make_app()
