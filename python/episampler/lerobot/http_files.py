"""Files under an `http(s)://` URL, read with the standard library's HTTP client.

A stream asks the size of every file it reads and fetches each one whole, so its cost per
request counts: fsspec's HTTP file system runs aiohttp on an event loop in another thread and
hands every call over to it and back, about twice the CPU per request of a plain blocking
client (see `benches/results_stream.md`). This client keeps one connection per thread and
server (reopened when the server closes it), follows redirects, and leaves retrying to its
caller: every failure raises (`FileNotFoundError` for a missing file, `OSError` otherwise).
"""

from __future__ import annotations

import http.client
import os
import re
import threading
from urllib.parse import quote, urljoin, urlsplit

__all__ = ["HttpFiles"]

_REDIRECTS = (301, 302, 303, 307, 308)
_MOST_REDIRECTS = 10
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class HttpFiles:
    """The files under `base` (an `http://` or `https://` URL).

    Args:
        base: the URL of the directory holding the files.
        timeout: seconds a connection may take to open, and a read may wait for data.
    """

    def __init__(self, base: str, timeout: float) -> None:
        if urlsplit(base).scheme not in ("http", "https"):
            raise ValueError(f"base must be an http(s):// URL, got {base!r}")
        self.base = base.rstrip("/")
        self.timeout = timeout
        self._local = threading.local()

    def __getstate__(self) -> dict[str, object]:
        return {"base": self.base, "timeout": self.timeout}  # connections stay behind

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    def url(self, relative: str) -> str:
        return f"{self.base}/{quote(relative)}"

    def size(self, relative: str) -> int:
        """The file's size in bytes (its `Content-Length` on a HEAD request, else the total of
        a one-byte range)."""
        response, _ = self._request("HEAD", self.url(relative))
        length = response.getheader("Content-Length")
        if length is not None and response.getheader("Content-Encoding") in (None, "identity"):
            return int(length)
        response, _ = self._request("GET", self.url(relative), {"Range": "bytes=0-0"})
        found = _CONTENT_RANGE.fullmatch(response.getheader("Content-Range") or "")
        if found is None or found.group(3) == "*":
            raise OSError(f"{self.url(relative)}: the server gives no size")
        return int(found.group(3))

    def exists(self, relative: str) -> bool:
        try:
            self._request("HEAD", self.url(relative))
        except FileNotFoundError:
            return False
        return True

    def read(self, relative: str, start: int, end: int) -> bytes:
        """Bytes `start` to `end - 1` of the file, all of them (else `OSError`)."""
        headers = {"Range": f"bytes={start}-{end - 1}"}
        response, body = self._request("GET", self.url(relative), headers)
        if response.status == 200:  # the server sent the whole file
            body = body[start:end]
        if len(body) != end - start:
            raise OSError(f"short body: {len(body)} of {end - start} bytes")
        return body

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        """This thread's connection to `netloc` (none inherited across a fork)."""
        if getattr(self._local, "pid", None) != os.getpid():
            self._local.pid, self._local.connections = os.getpid(), {}
        connections: dict[tuple[str, str], http.client.HTTPConnection] = self._local.connections
        connection = connections.get((scheme, netloc))
        if connection is None:
            kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            connection = kind(netloc, timeout=self.timeout)
            connections[scheme, netloc] = connection
        return connection

    def _request(
        self, method: str, url: str, headers: dict[str, str] | None = None
    ) -> tuple[http.client.HTTPResponse, bytes]:
        """The final response (redirects followed) and its body, read whole; raises on any
        status but 200 and 206."""
        sent = {"Accept-Encoding": "identity", **(headers or {})}
        for _ in range(_MOST_REDIRECTS + 1):
            parts = urlsplit(url)
            connection = self._connection(parts.scheme, parts.netloc)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            try:
                connection.request(method, target, headers=sent)
                response = connection.getresponse()
                body = response.read()  # raises IncompleteRead on a body cut short
            except BaseException as error:
                connection.close()  # a half-read response must not be read by the next request
                if isinstance(error, http.client.HTTPException):  # a bad or cut-short response
                    raise OSError(f"{url}: {error!r}") from error
                raise
            if response.will_close:
                connection.close()
            location = response.getheader("Location")
            if response.status in _REDIRECTS and location:
                url = urljoin(url, location)
                continue
            if response.status in (404, 410):
                raise FileNotFoundError(f"{url}: HTTP {response.status}")
            if response.status not in (200, 206):
                raise OSError(f"{url}: HTTP {response.status} {response.reason}")
            return response, body
        raise OSError(f"{url}: more than {_MOST_REDIRECTS} redirects")
