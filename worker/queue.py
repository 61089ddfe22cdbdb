"""The queue driver behind ``formicr submit`` / ``formicr status``: enqueue one task per
form file (a path under the input root plus options, never image bytes), track the job."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

from segmentation.errors import BrokerError, FormicrError, UsageError
from segmentation.template import Template
from worker.jobs import JobStore, connect, content_hash, form_key, inside, job_key, part_path
from worker.pipeline import error_message
from worker.results import CHARACTERS_CSV, ERRORS_CSV, FIELDS_CSV, FORMS_CSV, ErrorRow
from worker.runner import Summary, expand_inputs
from worker.settings import Settings, redact


def settings_with(broker: str | None) -> Settings:
    s = Settings.from_env()
    return replace(s, broker_url=broker, result_backend=broker) if broker else s


def submit(inputs: list[str], out: Path, settings: Settings, template: Template | None = None,
           annotate: bool = False, perspective: bool = True) -> tuple[str, JobStore, dict]:
    """Create a job and enqueue its forms; forms already read into ``out`` are skipped. Without
    ``perspective``, photos taken at an angle are not squared (see ``ReadOptions``)."""
    store = JobStore(connect(settings.broker_url))  # fail fast, before anything is queued
    try:
        out_dir = inside(settings.output_root, out)
    except FormicrError:
        raise UsageError(f"--out {out} is outside FORMICR_OUTPUT_ROOT ({settings.output_root})") from None
    files, errors = expand_inputs(inputs)
    options = {"template": template.to_dict() if template else None, "annotate": annotate}
    if not perspective:  # (only when off: a job's form keys stay what they were before the option)
        options["perspective"] = False
    forms: dict[str, str] = {}
    tasks, done = [], set()
    for f in files:
        try:
            local = inside(settings.input_root, f)
            data = local.read_bytes()
        except FormicrError as exc:
            errors.append(ErrorRow(f, None, error_message(exc, f)))
            continue
        except OSError as exc:
            errors.append(ErrorRow(f, None, f"input: {exc.strerror or exc}"))
            continue
        key = form_key(f, content_hash(data), options)
        if key in forms:
            continue
        forms[key] = f
        if part_path(out_dir, key).exists():
            done.add(key)  # read before into this output: skip
        else:
            tasks.append((key, str(local.relative_to(settings.input_root)), f))
    rel_out = str(out_dir.relative_to(settings.output_root))
    args = {key: [rel, source, rel_out, options] for key, rel, source in tasks}
    job_id = store.create(out_dir, forms, options, errors, done, args)
    _send(settings, job_id, args)
    if not tasks:
        store.merge(job_id)
    return job_id, store, {"queued": len(tasks), "skipped": len(done), "refused": len(errors)}


def _send(settings: Settings, job_id: str, tasks: dict[str, list]) -> None:
    from worker.celery_app import make_app

    app = make_app(settings)
    try:
        for key, (rel, source, rel_out, options) in tasks.items():
            app.send_task("formicr.read_form", args=[job_id, key, rel, source, rel_out, options],
                          queue=settings.queue, retry=True,
                          retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5})
    except Exception as exc:  # kombu raises OperationalError and friends
        raise BrokerError(f"lost Redis at {redact(settings.broker_url)} while queueing job {job_id}: {exc}") from exc


def stall_after(settings: Settings) -> float:
    """No form can legitimately stay unfinished without progress for longer than this: the
    hard time limit, then the visibility timeout until Redis hands an orphaned form back,
    then two restore sweeps."""
    return settings.hard_time_limit + settings.visibility_timeout + 2 * settings.restore_interval


def requeue_stalled(store: JobStore, job_id: str, settings: Settings, force: bool = False,
                    state: dict | None = None) -> int:
    """Requeue the unfinished forms of a stalled job; returns how many.

    kombu's Redis transport can lose a message popped at the moment Redis goes down
    (BRPOP then a separate unacked write; kombu issue #305). The job knows every form it
    expects, so a job with pending forms, an empty queue and no progress for longer than
    ``stall_after`` gets them queued again. Tasks are idempotent: a duplicate is harmless.
    ``state`` is the job's ``store.state`` when the caller has just read it."""
    st = state or store.state(job_id)
    if st is None or st["finished"] >= st["submitted"]:
        return 0
    if not force:  # cheap checks first: wait() calls this on every poll
        quiet = time.time() - st["last_progress"]
        if quiet < stall_after(settings) or store.r.llen(settings.queue) > 0:
            return 0
    pending = store.pending_tasks(job_id)
    if not pending:
        return 0
    _send(settings, job_id, pending)
    store.r.hset(job_key(job_id), mapping={"last_progress": time.time(), "requeued": st["requeued"] + len(pending)})
    return len(pending)


def sweep(store: JobStore, settings: Settings) -> dict[str, int]:
    """One pass over every open job, as the workers' sweeper makes it every
    ``restore_interval`` seconds: requeue the lost forms of stalled jobs (so no one has to
    be waiting with ``submit --wait``), merge finished jobs whose merge was missed, and
    forget jobs whose state has expired. Returns {job id: forms requeued}."""
    requeued = {}
    for job_id in store.open_jobs():
        st = store.state(job_id)
        if st is None:
            store.close(job_id)
        elif st["finished"] >= st["submitted"]:
            store.merge(job_id)  # closes it
        elif n := requeue_stalled(store, job_id, settings, state=st):
            requeued[job_id] = n
    return requeued


def summary_of(store: JobStore, job_id: str) -> Summary:
    st = store.state(job_id)
    parts = store.parts(job_id)
    errors = sum(len(p.errors) for p in parts) + len(st["submit_errors"])
    return Summary(st["submitted"], sum(p.pages for p in parts), sum(len(p.characters) for p in parts),
                   sum(len(p.fields) for p in parts), errors, time.time() - st["started"])


def wait(store: JobStore, job_id: str, progress: bool | None = None, poll: float = 0.3,
         timeout: float | None = None, settings: Settings | None = None) -> dict:
    """Block until every form of the job is finished (and merged); show a bar on a tty.
    With ``settings``, a stalled job's lost forms are requeued on the way."""
    progress = sys.stderr.isatty() if progress is None else progress
    st = store.state(job_id)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=st["submitted"], unit="form", desc=f"job {job_id}")
    t0 = time.time()
    try:
        while True:
            st = store.state(job_id)
            if bar:
                bar.n = st["finished"]
                bar.set_postfix(failed=st["failed"])
                bar.refresh()
            if st["finished"] >= st["submitted"]:
                break
            if settings is not None:
                n = requeue_stalled(store, job_id, settings)
                if n:
                    print(f"job {job_id}: no progress for {stall_after(settings):.0f}s; requeued {n} forms",
                          file=sys.stderr)
            if timeout is not None and time.time() - t0 > timeout:
                raise BrokerError(f"job {job_id}: timed out after {timeout:.0f}s "
                                  f"({st['finished']}/{st['submitted']} forms finished); is a worker running?")
            time.sleep(poll)
    finally:
        if bar:
            bar.close()
    if not st["merged"]:
        store.merge(job_id)
    return store.state(job_id)


def status_lines(store: JobStore, job_id: str) -> list[str]:
    st = store.state(job_id)
    if st is None:
        raise UsageError(f"no such job: {job_id}")
    out = Path(st["out"])
    state = "done" if st["finished"] >= st["submitted"] else "running"
    lines = [f"job {job_id}: {state}",
             f"  forms: {st['submitted']} submitted, {st['done']} done, {st['failed']} failed, "
             f"{st['skipped']} skipped (read before), {st['submitted'] - st['finished']} pending",
             f"  started: {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(st['started']))}",
             f"  output: {out}"]
    if st["requeued"]:
        lines.append(f"  requeued after a stall: {st['requeued']} forms")
    for name in (FORMS_CSV, FIELDS_CSV, CHARACTERS_CSV, ERRORS_CSV):
        if (out / name).exists():
            lines.append(f"    {out / name}")
    refused = store.r.lrange(f"formicr:job:{job_id}:refused", 0, -1)
    failures = [e for p in store.parts(job_id) for e in p.errors] + [[e.source, e.page, e.error]
                                                                      for e in st["submit_errors"]]
    for e in failures[:20]:
        lines.append(f"  error: {e[0]}: {e[2]}")
    for r in refused[:20]:
        lines.append(f"  refused: {r}")
    return lines
