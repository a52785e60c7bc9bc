"""A loopback HTTP server for the streaming tests and benchmark: serves a directory with HEAD,
range requests (206) and HTML directory listings, emulates a remote store (a latency per request,
a bandwidth limit) and injects faults on request: connection resets, 503s, bodies cut short and
stalls (headers, then no body for `stall_s`).
Started and stopped by its user; every request is counted, and the CPU time it took."""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path


class Faults:
    """Which requests fail: every `every`-th GET of a file fails with `kind` ("reset", "503",
    "short" or "stall"); `always` makes every GET of a file fail."""

    def __init__(self) -> None:
        self.every = 0
        self.kind = "503"
        self.always = False
        self.gets = 0
        self.heads = 0
        self.injected = 0
        self.cpu_s = 0.0  # CPU time of the handler threads (the benchmark reports it)
        self.served = 0  # bytes of the bodies sent whole
        self.latency_s = 0.0  # before every response
        self.bytes_per_s = 0.0  # 0: unlimited
        self.stall_s = 10.0  # how long a "stall" keeps the body back before closing
        self.lock = threading.Lock()

    def next_fault(self) -> str | None:
        with self.lock:
            self.gets += 1
            if self.always or (self.every and self.gets % self.every == 0):
                self.injected += 1
                return self.kind
            return None


def _handler(directory: Path, faults: Faults) -> type[http.server.SimpleHTTPRequestHandler]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(directory), **kwargs)

        def log_message(self, *args):  # quiet
            pass

        def handle_one_request(self):
            started = time.thread_time()
            try:
                super().handle_one_request()
            finally:
                with faults.lock:
                    faults.cpu_s += time.thread_time() - started

        def do_GET(self):
            if faults.latency_s:
                time.sleep(faults.latency_s)
            path = Path(self.translate_path(self.path))
            if not path.is_file():
                return super().do_GET()
            fault = faults.next_fault()
            if fault == "reset":
                self.connection.shutdown(2)  # no response at all
                self.close_connection = True
                return None
            if fault == "503":
                self.send_error(503, "injected")
                return None
            data = path.read_bytes()
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "") or "")
            start, end = 0, len(data)
            if match:
                start = int(match.group(1))
                end = min(len(data), int(match.group(2)) + 1) if match.group(2) else len(data)
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:end]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if fault == "short":
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
                return None
            if fault == "stall":
                self.wfile.flush()
                time.sleep(faults.stall_s)
                self.close_connection = True
                return None
            if not faults.bytes_per_s:
                self.wfile.write(body)
            else:
                piece = 64 * 1024
                for start in range(0, len(body), piece):
                    self.wfile.write(body[start : start + piece])
                    time.sleep(len(body[start : start + piece]) / faults.bytes_per_s)
            with faults.lock:
                faults.served += len(body)
            return None

        def do_HEAD(self):
            with faults.lock:
                faults.heads += 1
            if faults.latency_s:
                time.sleep(faults.latency_s)
            path = Path(self.translate_path(self.path))
            if not path.is_file():
                return super().do_HEAD()
            self.send_response(200)
            self.send_header("Content-Length", str(os.path.getsize(path)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            return None

    return Handler


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[tuple[str, Faults]]:
    """Serves `directory` on 127.0.0.1 (a free port) until the block ends: the base URL and the
    fault switch."""
    faults = Faults()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(directory, faults))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", faults
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
