"""Real Redis servers and real Celery workers for the queue tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

from tests.conftest import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server of the tests' own: its own port and directory, AOF on, so a restart
    keeps the queue (like the compose file's Redis)."""

    def __init__(self, workdir: Path, password: str | None = None, tls: bool = False):
        self.port = free_port()
        self.dir = workdir
        self.password = password
        self.tls = tls
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        if self.tls:
            return f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_ca_certs={self.dir / 'ca.crt'}&ssl_cert_reqs=required"
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self, **kw) -> redis.Redis:
        if self.tls:
            kw.update(ssl=True, ssl_ca_certs=str(self.dir / "ca.crt"))
        return redis.Redis(port=self.port, password=self.password, **kw)

    def _make_certs(self) -> list[str]:
        """A throwaway CA and a server certificate for 127.0.0.1."""
        d = self.dir

        def run(*args):
            subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=formicr-test-ca")
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1")
        (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf")
        return ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(d / "server.crt"),
                "--tls-key-file", str(d / "server.key"), "--tls-ca-cert-file", str(d / "ca.crt"),
                "--tls-auth-clients", "no"]

    def start(self) -> RedisServer:
        self.dir.mkdir(parents=True, exist_ok=True)
        listen = self._make_certs() if self.tls else ["--port", str(self.port)]
        self.proc = subprocess.Popen(
            ["redis-server", *listen, "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--maxmemory-policy", "noeviction",
             *(["--requirepass", self.password] if self.password else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                self.client(socket_connect_timeout=0.2).ping()
                return self
            except redis.exceptions.ConnectionError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited (TLS support missing?): {self.proc.returncode}") from None
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                self.client().shutdown(nosave=False)
            except redis.exceptions.ConnectionError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


def have_redis_server() -> bool:
    return shutil.which("redis-server") is not None


def queue_env(broker: str, input_root: Path, output_root: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"FORMICR_BROKER_URL": broker, "FORMICR_RESULT_BACKEND": broker,
                "FORMICR_INPUT_ROOT": str(input_root), "FORMICR_OUTPUT_ROOT": str(output_root),
                "FORMICR_QUEUE": "formicr-test", "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


class Worker:
    """`formicr worker` in its own process group, so a test can SIGKILL all of it."""

    def __init__(self, env: dict[str, str], log: Path, concurrency: int = 1):
        self.env, self.log, self.concurrency = env, log, concurrency
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> Worker:
        self._fh = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "worker", "--concurrency", str(self.concurrency),
             "--loglevel", "INFO"], cwd=ROOT, env=self.env, stdout=self._fh, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if " ready." in self.log.read_text(errors="replace"):
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready in {timeout}s: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL the whole worker: main process and every pool child."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "_fh", None):
            self._fh.close()


def formicr(env: dict[str, str], *args: str, cwd: Path | None = None, timeout: float = 180):
    return subprocess.run([sys.executable, "-m", "worker.cli", *args], cwd=cwd or ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
