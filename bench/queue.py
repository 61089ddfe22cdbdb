"""Queue throughput and latency against the in-process reader, in one run.

Starts a Redis server of its own (own port, temporary directory) and one `formicr worker`
with 2 processes, then measures:
- pages/s through Redis + Celery against ``formicr read --jobs 2`` on the same forms;
- end-to-end latency of a single form (submit -> finished), p50 and p95;
- queue overhead per task: that latency minus the in-process read time of the same form.

    python -m bench.queue [--forms 24] [--latency-runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from segmentation.template import load_template
from tests.queue_support import RedisServer, Worker, queue_env
from worker.pipeline import PageReader, ReadOptions
from worker.queue import submit
from worker.runner import run_read
from worker.settings import Settings
from worker.synth.forms import Scan, generate


def wait_done(store, job: str, timeout: float = 600) -> None:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        st = store.state(job)
        if st["merged"]:
            return
        time.sleep(0.005)
    raise TimeoutError(job)


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--forms", type=int, default=24)
    ap.add_argument("--latency-runs", type=int, default=15)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        inbox, outbox = base / "inbox", base / "outbox"
        outbox.mkdir(parents=True)
        forms = generate(inbox, args.forms, seed=55, fmt="png",
                         scan_override=Scan(dpi=300, angle=0.8, blur=0.7, noise=4, fmt="png"))
        tpl = load_template(inbox / "template.json")
        rel = [str(f.relative_to(inbox)) for f in forms]
        srv = RedisServer(base / "redis").start()
        env = queue_env(srv.url, inbox, outbox)
        worker = Worker(env, base / "worker.log", concurrency=2).start()
        try:
            import os

            os.environ.update({k: v for k, v in env.items() if k.startswith("FORMICR_")})
            settings = Settings.from_env()
            cwd = os.getcwd()
            os.chdir(inbox)
            try:
                # warm-up: every worker process loads its model
                job, store, _ = submit(rel[:2], outbox / "warm", settings, tpl)
                wait_done(store, job)
                t0 = time.perf_counter()
                job, store, _ = submit(rel, outbox / "bulk", settings, tpl)
                wait_done(store, job)
                t_queue = time.perf_counter() - t0
                t0 = time.perf_counter()
                summary, _ = run_read(rel, outbox / "inproc", ReadOptions(template=tpl), jobs=2, progress=False)
                t_local = time.perf_counter() - t0
                latencies = []
                for i in range(args.latency_runs):
                    t0 = time.perf_counter()
                    job, store, _ = submit([rel[i % len(rel)]], outbox / f"lat{i}", settings, tpl)
                    wait_done(store, job)
                    latencies.append(time.perf_counter() - t0)
            finally:
                os.chdir(cwd)
            reader = PageReader(ReadOptions(template=tpl), threads=1)
            service = []
            for i in range(args.latency_runs):
                t0 = time.perf_counter()
                reader.read_file(forms[i % len(forms)])
                service.append(time.perf_counter() - t0)
        finally:
            worker.stop()
            srv.stop()
    n = len(rel)
    q_rate, l_rate = n / t_queue, n / t_local
    print(f"{n} A4 pages at 300 DPI (noisy PNG), template mode, 2 worker processes, 1 thread each")
    print(f"queue (Redis + Celery, warm workers): {q_rate:.2f} pages/s ({t_queue:.2f}s)")
    print(f"in-process read --jobs 2 (incl. pool start-up): {l_rate:.2f} pages/s ({t_local:.2f}s)")
    print(f"queue / in-process throughput: {q_rate / l_rate:.0%} (target >= 90%)")
    p50, p95 = statistics.median(latencies), pct(latencies, 95)
    s50 = statistics.median(service)
    print(f"single-form latency, submit -> finished: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms "
          f"({args.latency_runs} runs)")
    print(f"in-process read of the same form: p50 {s50 * 1000:.0f} ms")
    print(f"queue overhead per task: {(p50 - s50) * 1000:.0f} ms (p50 latency minus in-process read time)")


if __name__ == "__main__":
    main()
