"""The queue: real Redis, real `formicr worker` processes, real faults."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.queue_support import RedisServer, Worker, formicr, free_port, have_redis_server, queue_env
from worker.jobs import JobStore, connect
from worker.synth.forms import generate, template_dict

pytestmark = [pytest.mark.queue]
own_server = pytest.mark.skipif(not have_redis_server(),
                                reason="needs a redis-server binary to start and restart a server of its own")
FAST_LIMITS = {"FORMICR_SOFT_TIME_LIMIT": "20", "FORMICR_HARD_TIME_LIMIT": "30", "FORMICR_VISIBILITY_TIMEOUT": "35"}


FIELDS = len(template_dict(marks=True)["fields"])  # 9 written fields and 4 tick boxes per form


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("queue")
    inbox, outbox = base / "inbox", base / "outbox"
    generate(inbox / "batch", 6, seed=400, marks=True)  # tick boxes too: fields.csv holds them
    (inbox / "batch" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(500))
    outbox.mkdir()
    return base, inbox, outbox


class SharedRedis:
    """Fallback when no redis-server binary is here: the machine's Redis, database 13."""

    url = "redis://127.0.0.1:6379/13"

    def stop(self) -> None:
        import redis

        redis.Redis.from_url(self.url).flushdb()


@pytest.fixture(scope="module")
def server(roots):
    if have_redis_server():
        srv = RedisServer(roots[0] / "redis").start()
    else:
        srv = SharedRedis()
        try:
            connect(srv.url)
        except Exception as exc:
            pytest.skip(f"no redis-server binary and no Redis on 127.0.0.1:6379 ({exc})")
        srv.stop()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def env(server, roots):
    return queue_env(server.url, roots[1], roots[2], **FAST_LIMITS)


@pytest.fixture(scope="module")
def shared_worker(env, roots):
    w = Worker(env, roots[0] / "worker-shared.log", concurrency=2).start()
    yield w
    w.stop()


@pytest.fixture(scope="module")
def baseline(env, roots) -> Path:
    """The in-process read of the same inputs: what every queue run must equal."""
    _, inbox, outbox = roots
    local = formicr(env, "read", *forms_in(inbox), "--template", "batch/template.json",
                    "--out", str(outbox / "inproc"), "--jobs", "2", cwd=inbox)
    assert local.returncode == 0, local.stderr
    return outbox / "inproc"


def settings_for(env: dict[str, str]):
    """The Settings a worker started with ``env`` sees, without touching this process's env."""
    from unittest import mock

    from worker.settings import Settings

    with mock.patch.dict(os.environ, env, clear=True):
        return Settings.from_env()


def forms_in(inbox: Path) -> list[str]:
    return sorted(str(p.relative_to(inbox)) for p in (inbox / "batch").iterdir()
                  if p.suffix in (".png", ".jpg", ".tif") and p.name.startswith("form_"))


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def submit(env, inbox, out: Path, *extra: str, inputs: list[str] | None = None):
    return formicr(env, "submit", *(inputs or forms_in(inbox)), "--template", "batch/template.json",
                   "--out", str(out), "--wait", "--timeout", "150", *extra, cwd=inbox)


def test_queue_results_equal_in_process_read_byte_for_byte(env, roots, shared_worker, baseline):
    _, inbox, outbox = roots
    proc = submit(env, inbox, outbox / "job-a")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "6 files, 6 pages" in proc.stdout
    for name in ("characters.csv", "fields.csv", "errors.csv", "forms.csv"):
        assert (outbox / "job-a" / name).read_bytes() == (baseline / name).read_bytes(), name


def test_corrupt_file_is_an_error_row_and_every_other_form_succeeds(env, roots, shared_worker):
    _, inbox, outbox = roots
    proc = submit(env, inbox, outbox / "job-b", inputs=[*forms_in(inbox), "batch/corrupt.png"])
    assert proc.returncode == 3, proc.stderr  # input errors, the rest read
    errs = read_rows(outbox / "job-b" / "errors.csv")
    assert [e["source"] for e in errs] == ["batch/corrupt.png"] and "corrupt" in errs[0]["error"]
    fields = read_rows(outbox / "job-b" / "fields.csv")
    assert {f["source"] for f in fields} == set(forms_in(inbox))


def test_resubmitting_skips_forms_already_done(env, roots, shared_worker):
    _, inbox, outbox = roots
    first = submit(env, inbox, outbox / "job-c", inputs=forms_in(inbox)[:3])
    assert first.returncode == 0, first.stderr
    again = submit(env, inbox, outbox / "job-c")
    assert again.returncode == 0, again.stderr
    assert "queued 3 forms, skipped 3 already read" in again.stderr
    rows = read_rows(outbox / "job-c" / "fields.csv")
    assert Counter(r["source"] for r in rows) == {s: FIELDS for s in forms_in(inbox)}  # every field once
    job = again.stdout.split()[0]
    status = formicr(env, "status", job)
    assert status.returncode == 0 and "3 skipped" in status.stdout and "done" in status.stdout
    assert str(outbox / "job-c" / "forms.csv") in status.stdout  # the outputs it lists
    other = formicr(env, "submit", *forms_in(inbox)[:3], "--out", str(outbox / "job-c"), "--wait", "--timeout", "150",
                    cwd=inbox)  # no template this time: different rows, so nothing is skipped
    assert other.returncode == 0 and "queued 3 forms, skipped 0" in other.stderr


def test_a_job_without_perspective_reads_as_the_in_process_read_without_it(env, roots, shared_worker):
    """``--no-perspective`` reaches the workers: a photo taken at an angle (no page edge in
    view) reads through the queue exactly as ``read --no-perspective`` reads it, and not as
    the default read, which squares it first."""
    from worker.synth.forms import Scan, render_form, save_scan, scan

    _, inbox, outbox = roots
    sc = Scan(dpi=200, angle=0.5, noise=3, keystone=0.2, fmt="jpg")
    page, truth = render_form(47)
    img, _ = scan(page, truth, sc, 47)
    (inbox / "photo").mkdir(exist_ok=True)
    save_scan(img, inbox / "photo" / "photo.jpg", sc)
    reads = {}
    for flag in ("--perspective", "--no-perspective"):
        proc = formicr(env, "read", "photo/photo.jpg", "--template", "batch/template.json", flag,
                       "--out", str(outbox / f"photo{flag}"), cwd=inbox)
        assert proc.returncode == 0, proc.stderr
        reads[flag] = (outbox / f"photo{flag}" / "fields.csv").read_bytes()
    job = submit(env, inbox, outbox / "job-photo", "--no-perspective", inputs=["photo/photo.jpg"])
    assert job.returncode == 0, job.stderr + job.stdout
    got = (outbox / "job-photo" / "fields.csv").read_bytes()
    assert got == reads["--no-perspective"] and got != reads["--perspective"]


def test_task_naming_a_path_outside_the_input_root_is_refused(env, roots, server, shared_worker, tmp_path):
    from worker.celery_app import make_app

    base, inbox, outbox = roots
    secret = base / "secret.png"
    secret.write_bytes((inbox / forms_in(inbox)[0]).read_bytes())
    (inbox / "escape.png").symlink_to(secret)
    settings = settings_for(env)
    store = JobStore(connect(server.url))
    cases = {"k1": "../secret.png", "k2": str(secret), "k3": "escape.png"}
    job = store.create(outbox / "job-d", dict(cases), {"template": None}, [], set())
    app = make_app(settings)
    for key, path in cases.items():
        app.send_task("formicr.read_form", args=[job, key, path, path, "job-d", {"template": None}],
                      queue=settings.queue)
    deadline = time.time() + 60
    while store.state(job)["finished"] < 3 and time.time() < deadline:
        time.sleep(0.2)
    st = store.state(job)
    assert st["failed"] == 3 and st["done"] == 0
    errs = read_rows(outbox / "job-d" / "errors.csv")
    assert len(errs) == 3 and all("outside-root" in e["error"] for e in errs)
    assert read_rows(outbox / "job-d" / "characters.csv") == []


def test_a_task_that_crashes_still_completes_its_job_with_an_internal_error_row(env, roots, server,
                                                                                shared_worker):
    from segmentation.template import parse_template
    from worker.celery_app import make_app
    from worker.synth.forms import template_dict

    _, inbox, outbox = roots
    settings = settings_for(env)
    store = JobStore(connect(server.url))
    src = forms_in(inbox)[0]
    opts = {"template": parse_template(template_dict()).to_dict(), "review_threshold": "not a number"}
    job = store.create(outbox / "job-crash", {"k": src}, opts, [], set())
    make_app(settings).send_task("formicr.read_form", args=[job, "k", src, src, "job-crash", opts],
                                 queue=settings.queue)
    wait_until(lambda: store.state(job)["merged"], 60, "the crashed job to complete")
    assert store.state(job)["failed"] == 1
    errs = read_rows(outbox / "job-crash" / "errors.csv")
    assert len(errs) == 1 and errs[0]["error"].startswith("internal: TypeError")


def test_a_form_whose_message_the_broker_lost_is_requeued(env, roots, server, shared_worker, baseline):
    _, inbox, outbox = roots
    store = JobStore(connect(server.url))
    src = forms_in(inbox)[0]
    from segmentation.template import load_template

    opts = {"template": load_template(inbox / "batch" / "template.json").to_dict(), "annotate": False}
    # a job whose one message never reached the queue: what kombu issue #305 leaves behind
    job = store.create(outbox / "job-lost", {"k": src}, opts, [], set(), {"k": [src, src, "job-lost", opts]})
    time.sleep(1.0)
    assert not store.state(job)["merged"] and store.state(job)["finished"] == 0
    proc = formicr(env, "status", job, "--requeue")
    assert proc.returncode == 0 and "requeued 1 forms" in proc.stdout
    wait_until(lambda: store.state(job)["merged"], 60, "the requeued form")
    want = [r for r in read_rows(baseline / "fields.csv") if r["source"] == src]
    assert read_rows(outbox / "job-lost" / "fields.csv") == want


def test_a_worker_requeues_a_lost_form_with_nobody_waiting(roots, server, baseline, tmp_path):
    _, inbox, outbox = roots
    # short limits (a stall is 5 + 6 + 2 x 2 = 15 s) on a queue of its own
    env = queue_env(server.url, inbox, outbox, FORMICR_SOFT_TIME_LIMIT="4", FORMICR_HARD_TIME_LIMIT="5",
                    FORMICR_VISIBILITY_TIMEOUT="6", FORMICR_RESTORE_INTERVAL="2", FORMICR_QUEUE="formicr-sweep")
    store = JobStore(connect(server.url))
    src = forms_in(inbox)[1]
    from segmentation.template import load_template

    opts = {"template": load_template(inbox / "batch" / "template.json").to_dict(), "annotate": False}
    job = store.create(outbox / "job-swept", {"k": src}, opts, [], set(), {"k": [src, src, "job-swept", opts]})
    assert job in store.open_jobs()
    worker = Worker(env, tmp_path / "sweeper.log", concurrency=1).start()
    try:
        wait_until(lambda: store.state(job)["merged"], 90, "the worker's sweeper to requeue the lost form")
    finally:
        worker.stop()
    assert store.state(job)["requeued"] == 1
    assert job not in store.open_jobs()
    want = [r for r in read_rows(baseline / "fields.csv") if r["source"] == src]
    assert read_rows(outbox / "job-swept" / "fields.csv") == want


def test_two_workers_on_one_queue_give_no_duplicates(env, roots, shared_worker, baseline):
    base, inbox, outbox = roots
    second = Worker(env, base / "worker-second.log", concurrency=1).start()
    try:
        proc = submit(env, inbox, outbox / "job-e")
        assert proc.returncode == 0, proc.stderr
    finally:
        second.stop()
    rows = read_rows(outbox / "job-e" / "characters.csv")
    keys = [(r["source"], r["page"], r["line"], r["index"]) for r in rows]
    assert len(keys) == len(set(keys))
    assert (outbox / "job-e" / "characters.csv").read_bytes() == (baseline / "characters.csv").read_bytes()


def wait_until(pred, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def submit_waiting(env, inbox, out) -> tuple[subprocess.Popen, str]:
    """`formicr submit --wait` in the background, as a user would leave it running; it
    requeues the forms of a stalled job by itself. Returns (process, job id)."""
    proc = subprocess.Popen([sys.executable, "-m", "worker.cli", "submit", *forms_in(inbox), "--template",
                             "batch/template.json", "--out", str(out), "--wait", "--timeout", "150"],
                            cwd=inbox, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


@own_server
@pytest.mark.slow
def test_worker_killed_with_sigkill_mid_job_still_completes_every_form_once(roots, baseline, tmp_path):
    base, inbox, outbox = roots
    srv = RedisServer(tmp_path / "redis").start()
    try:
        env = queue_env(srv.url, inbox, outbox, FORMICR_SOFT_TIME_LIMIT="4", FORMICR_HARD_TIME_LIMIT="5",
                        FORMICR_VISIBILITY_TIMEOUT="6", FORMICR_RESTORE_INTERVAL="2")
        store = JobStore(connect(srv.url))
        victim = Worker(env, tmp_path / "victim.log", concurrency=1).start()
        waiter, job = submit_waiting(env, inbox, outbox / "job-kill")
        wait_until(lambda: store.state(job)["finished"] >= 1, 60, "a first form")
        victim.kill()  # SIGKILL, main process and pool children alike
        st = store.state(job)
        assert st["finished"] < st["submitted"], "job finished before the kill; nothing was tested"
        rescuer = Worker(env, tmp_path / "rescuer.log", concurrency=1).start()
        try:
            out, err = waiter.communicate(timeout=150)
            assert waiter.returncode == 0, err
        finally:
            rescuer.stop()
    finally:
        srv.stop()
    rows = read_rows(outbox / "job-kill" / "fields.csv")
    assert Counter(r["source"] for r in rows) == {s: FIELDS for s in forms_in(inbox)}
    assert (outbox / "job-kill" / "characters.csv").read_bytes() == (baseline / "characters.csv").read_bytes()


@own_server
@pytest.mark.slow
@pytest.mark.parametrize("outage", [1.0, 7.0], ids=["brief", "longer-than-soft-limit"])
def test_redis_restarted_during_a_job_loses_no_form(roots, baseline, tmp_path, outage):
    base, inbox, outbox = roots
    srv = RedisServer(tmp_path / "redis").start()
    env = queue_env(srv.url, inbox, outbox, FORMICR_SOFT_TIME_LIMIT="4", FORMICR_HARD_TIME_LIMIT="5",
                    FORMICR_VISIBILITY_TIMEOUT="6", FORMICR_RESTORE_INTERVAL="2")
    worker = Worker(env, tmp_path / "worker.log", concurrency=1).start()
    try:
        store = JobStore(connect(srv.url))
        waiter, job = submit_waiting(env, inbox, outbox / f"job-restart-{outage:g}")
        wait_until(lambda: store.state(job)["finished"] >= 1, 60, "a first form")
        st = store.state(job)
        assert st["finished"] < st["submitted"], "job finished before the restart; nothing was tested"
        srv.stop()  # SHUTDOWN: the AOF has every write (appendfsync always)
        time.sleep(outage)
        srv.start()
        out, err = waiter.communicate(timeout=170)
        assert waiter.returncode == 0, err
        assert "6 files, 6 pages" in out
    finally:
        worker.stop()
        srv.stop()
    rows = read_rows(outbox / f"job-restart-{outage:g}" / "fields.csv")
    assert Counter(r["source"] for r in rows) == {s: FIELDS for s in forms_in(inbox)}
    assert (outbox / f"job-restart-{outage:g}" / "fields.csv").read_bytes() == (baseline / "fields.csv").read_bytes()


def read_batch_through(srv: RedisServer, roots, tmp_path: Path, job: str) -> None:
    """Start a worker on ``srv``, submit the batch to ``outbox/job`` and wait for success."""
    _, inbox, outbox = roots
    env = queue_env(srv.url, inbox, outbox)
    worker = Worker(env, tmp_path / f"{job}-worker.log").start()
    try:
        proc = submit(env, inbox, outbox / job)
        assert proc.returncode == 0, proc.stderr
    finally:
        worker.stop()


@own_server
def test_password_protected_redis_works_and_a_wrong_password_is_refused(roots, baseline, tmp_path):
    _, inbox, outbox = roots
    srv = RedisServer(tmp_path / "redis", password="s3cret-pw").start()
    try:
        read_batch_through(srv, roots, tmp_path, "job-auth")
        wrong = queue_env(srv.url.replace(srv.password, "wrong"), inbox, outbox)
        proc = formicr(wrong, "submit", forms_in(inbox)[0], "--out", str(outbox / "x"), cwd=inbox, timeout=30)
        assert proc.returncode == 7 and "***@" in proc.stderr and "wrong" not in proc.stderr
    finally:
        srv.stop()
    assert (outbox / "job-auth" / "fields.csv").read_bytes() == (baseline / "fields.csv").read_bytes()


@own_server
@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a throwaway CA")
def test_tls_redis_url_works_end_to_end(roots, baseline, tmp_path):
    _, inbox, outbox = roots
    try:
        srv = RedisServer(tmp_path / "redis-tls", password="tls-pw", tls=True).start()
    except RuntimeError as exc:
        pytest.skip(f"this redis-server cannot serve TLS: {exc}")
    try:
        read_batch_through(srv, roots, tmp_path, "job-tls")
        plain = queue_env(srv.url.replace("rediss://", "redis://").split("?")[0], inbox, outbox)
        proc = formicr(plain, "submit", forms_in(inbox)[0], "--out", str(outbox / "y"), cwd=inbox, timeout=30)
        assert proc.returncode == 7  # plain TCP to a TLS-only port is refused, fast
    finally:
        srv.stop()
    assert (outbox / "job-tls" / "fields.csv").read_bytes() == (baseline / "fields.csv").read_bytes()


def test_submit_and_worker_fail_fast_when_redis_is_down(roots):
    _, inbox, outbox = roots
    dead = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    env = queue_env(dead, inbox, outbox)
    for args in (["submit", forms_in(inbox)[0], "--out", str(outbox / "x")], ["worker"]):
        t0 = time.time()
        proc = formicr(env, *args, cwd=inbox, timeout=30)
        assert time.time() - t0 < 10
        assert proc.returncode == 7
        assert "cannot reach Redis at redis://:***@127.0.0.1" in proc.stderr
        assert "s3cret" not in proc.stderr and "Traceback" not in proc.stderr


def test_settings_refuse_a_visibility_timeout_shorter_than_the_hard_limit(roots):
    _, inbox, outbox = roots
    env = queue_env("redis://127.0.0.1:1/0", inbox, outbox, FORMICR_HARD_TIME_LIMIT="100",
                    FORMICR_SOFT_TIME_LIMIT="50", FORMICR_VISIBILITY_TIMEOUT="60")
    proc = formicr(env, "worker", timeout=30)
    assert proc.returncode == 2 and "VISIBILITY_TIMEOUT must exceed" in proc.stderr
