"""Data never hangs: a remote shard whose server stops talking fails within its deadline.

Real loopback servers, each bounded and shut down by its test: one that accepts and never
replies, one that sends half a tar and falls silent, one that serves a tar. A shard that
times out raises a reason naming the URL and the timeout; in a job it is retried like any
failed shard, and the job ends with its summary.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import webdataset as wds
from synthetic_images import encoded, noise_image
from tiny_jobs import tiny_augment_job

from vea_augment.data.opening import RemoteShardError
from vea_augment.data.readers import read_shard
from vea_augment.data.sources import plan_input
from vea_augment.options import InputOptions, RemoteDeadlines

QUICK = RemoteDeadlines(connect_s=1.0, read_s=1.0, total_s=5.0)
LIFETIME_S = 60.0
"""No server outlives this, whatever its test does."""


@contextmanager
def silent_server() -> Iterator[int]:
    """A TCP server on loopback that accepts connections and never sends a byte."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        deadline = time.monotonic() + LIFETIME_S
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in held:
            connection.close()
        listener.close()


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler] | partial) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    timer = threading.Timer(LIFETIME_S, server.shutdown)
    timer.start()
    try:
        yield server.server_address[1]
    finally:
        timer.cancel()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def write_tar(path: Path, count: int) -> bytes:
    with wds.TarWriter(str(path)) as sink:
        for seed in range(count):
            record = {"id": f"s{seed}", "question": "What is it?", "answers": ["x"]}
            sink.write({"__key__": f"s{seed}", "json": record, "png": encoded(noise_image(8, 8))})
    return path.read_bytes()


def quick_plan(url: str) -> InputOptions:
    return InputOptions(deadlines=QUICK)


def test_a_server_that_never_replies_fails_the_shard_within_the_deadline() -> None:
    with silent_server() as port:
        url = f"http://127.0.0.1:{port}/x.tar"
        (task,) = plan_input(url, quick_plan(url))
        began = time.monotonic()
        with pytest.raises(RemoteShardError) as raised:
            list(read_shard(task))
        waited = time.monotonic() - began
    assert str(raised.value) == f"no reply from {url} within 1 s"
    assert waited < 4.0


def test_a_server_that_stalls_mid_shard_fails_it_with_the_read_timeout(tmp_path: Path) -> None:
    data = write_tar(tmp_path / "x.tar", 40)
    release = threading.Event()

    class HalfThenSilence(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            release.wait(LIFETIME_S)

        def log_message(self, *args: object) -> None:
            pass

    with http_server(HalfThenSilence) as port:
        url = f"http://127.0.0.1:{port}/x.tar"
        (task,) = plan_input(url, quick_plan(url))
        read: list[str] = []
        with pytest.raises(RemoteShardError) as raised:
            read.extend(sample.key for sample in read_shard(task))
        release.set()
    assert str(raised.value) == f"no reply from {url} within 1 s"


def test_a_served_tar_is_read_through_the_same_client(tmp_path: Path) -> None:
    write_tar(tmp_path / "x.tar", 3)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    with http_server(partial(Quiet, directory=str(tmp_path))) as port:
        url = f"http://127.0.0.1:{port}/x.tar"
        (task,) = plan_input(url, quick_plan(url))
        samples = list(read_shard(task))
        with pytest.raises(RemoteShardError) as missing:
            list(read_shard(plan_input(f"http://127.0.0.1:{port}/gone.tar", InputOptions())[0]))
    assert [(s.key, s.error) for s in samples] == [("s0", None), ("s1", None), ("s2", None)]
    assert str(missing.value).startswith(f"cannot fetch http://127.0.0.1:{port}/gone.tar: ")


def test_an_augment_job_retries_a_silent_shard_and_ends_with_its_summary(
    local_ray: None, model_dir: Path, tmp_path: Path
) -> None:
    from vea_augment.jobs.augment import run_augment_job

    with silent_server() as port:
        url = f"http://127.0.0.1:{port}/x.tar"
        job = tiny_augment_job(
            url, tmp_path / "out", model_dir, reading=quick_plan(url), max_attempts=2
        )
        summary = run_augment_job(job, show_progress=False)

    assert (summary.shards_total, summary.shards_done, summary.samples) == (1, 0, 0)
    (failure,) = summary.shards_failed
    reason = f"RemoteShardError: no reply from {url} within 1 s"
    assert failure == f"{url}: attempt 1: {reason}; attempt 2: {reason}"
    assert "attempt 3" not in failure
    assert f"  failed shard: {failure}" in summary.lines()
