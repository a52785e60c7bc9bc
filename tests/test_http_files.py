"""`HttpFiles`, the stream's client for `http(s)://` roots, against the tests' loopback server:
sizes, byte ranges and missing files; every injected fault raises an `OSError` (which the stream
retries) and leaves the connection usable; redirects are followed; a stalled response times out;
a copy for another process carries no connection."""

from __future__ import annotations

import contextlib
import http.server
import pickle
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from episampler.lerobot.http_files import HttpFiles
from tests.real_lerobot.http_server import serve

CONTENT = bytes(range(256)) * 40  # 10,240 bytes


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[HttpFiles, object]]:
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "file 000.mp4").write_bytes(CONTENT)
    with serve(tmp_path) as (base, faults):
        yield HttpFiles(base, timeout=5.0), faults


def test_sizes_ranges_and_missing_files(served):
    files, faults = served
    assert files.size("videos/file 000.mp4") == len(CONTENT)
    assert files.read("videos/file 000.mp4", 0, len(CONTENT)) == CONTENT
    assert files.read("videos/file 000.mp4", 1000, 3000) == CONTENT[1000:3000]
    assert files.exists("videos/file 000.mp4")
    assert not files.exists("videos/file 001.mp4")
    with pytest.raises(FileNotFoundError, match="file%20001"):
        files.size("videos/file 001.mp4")
    assert faults.heads == 4 and faults.gets == 2  # one request each, no retry within


@pytest.mark.parametrize("kind", ["reset", "503", "short"])
def test_every_fault_is_an_oserror_and_the_next_request_succeeds(served, kind):
    files, faults = served
    faults.every, faults.kind = 1, kind
    with pytest.raises(OSError):
        files.read("videos/file 000.mp4", 0, 4096)
    faults.every = 0
    assert files.read("videos/file 000.mp4", 0, 4096) == CONTENT[:4096]


def test_a_stalled_body_times_out(tmp_path):
    (tmp_path / "file").write_bytes(CONTENT)
    with serve(tmp_path) as (base, faults):
        faults.always, faults.kind, faults.stall_s = True, "stall", 5.0
        started = time.monotonic()
        with pytest.raises(OSError):
            HttpFiles(base, timeout=0.3).read("file", 0, 100)
        assert time.monotonic() - started < faults.stall_s


@contextlib.contextmanager
def redirecting(target: str) -> Iterator[str]:
    """A server that answers every request with a redirect to the same path under `target`."""

    class Redirect(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_HEAD(self):
            self.send_response(302)
            self.send_header("Location", target + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_HEAD

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_redirects_are_followed(served):
    files, faults = served
    with redirecting(files.base) as base:
        moved = HttpFiles(base, timeout=5.0)
        assert moved.size("videos/file 000.mp4") == len(CONTENT)
        assert moved.read("videos/file 000.mp4", 10, 20) == CONTENT[10:20]
    assert faults.heads == 1 and faults.gets == 1


def test_a_copy_for_another_process_carries_no_connection(served):
    files, _ = served
    files.read("videos/file 000.mp4", 0, 10)
    copy = pickle.loads(pickle.dumps(files))
    assert copy.base == files.base and copy.timeout == files.timeout
    assert not hasattr(copy._local, "connections")
    assert copy.read("videos/file 000.mp4", 0, 10) == CONTENT[:10]


@pytest.mark.parametrize("base", ["ftp://host/x", "127.0.0.1/x", "/local/path"])
def test_a_base_that_is_not_http_is_refused_by_name(base):
    with pytest.raises(ValueError, match="base must be an http"):
        HttpFiles(base, timeout=1.0)
