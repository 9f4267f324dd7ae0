"""A misbehaving HTTP server on 127.0.0.1 in front of a fake index app.

    server = FaultServer(app)                      # app: a FakeIndexApp (or any WSGI app)
    with server.running() as base:                 # http://127.0.0.1:PORT
        server.add("/simple/leaf-a/", Fault.status(503), times=2)   # flaky: 2 x 503
        server.add("/files/*.metadata", Fault.alter(flip_last_byte))  # every time
        ...
    server.log                                     # every request, with the fault it got

Requests no rule matches are answered by the app (called in-process, so its own
request log sees them too). Every connection is closed after one answer, so a
fault never leaks into the next request. Every loop is bounded: a hanging answer
waits at most ``hang_for`` seconds (or until the server stops), an endless body
stops when the client goes away, the server stops, or ``limit`` bytes are sent,
and each handler thread is joined when the server stops.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, NamedTuple
from urllib.parse import unquote

__all__ = ["Fault", "FaultServer", "Hit"]

_CHUNK = 64 * 1024


class Hit(NamedTuple):
    """One request as the fault server saw it."""

    method: str
    path: str  # with the query string, if any
    fault: str | None  # the fault's name, or None when the app answered
    at: float  # time.monotonic() on arrival


@dataclass(frozen=True, kw_only=True)
class Fault:
    """What to do instead of (or to) the app's answer. Build with the class methods."""

    name: str
    kind: str
    code: int = 0
    status_line: str = ""  # raw: e.g. "304 Not Modified"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    transform: Callable[[bytes], bytes] | None = None
    content_type: str | None = None
    cut: str = "headers"  # reset: "headers" or "half"
    rst: bool = True  # reset: RST (True) or an orderly close (FIN)
    declare: int | None = None  # huge: the Content-Length to announce
    limit: int = 0  # huge: bytes to send at most
    hang_for: float = 20.0
    barrier: threading.Barrier | None = field(default=None, compare=False)
    sent: list[int] = field(default_factory=list, compare=False)  # huge: bytes per answer
    gathered: list[bool] = field(default_factory=list, compare=False)  # gather: in time?

    @classmethod
    def status(cls, code: int, *, retry_after: str | None = None) -> Fault:
        """Answer ``code`` (with ``Retry-After`` when given)."""
        headers = (("Retry-After", retry_after),) if retry_after is not None else ()
        return cls(name=f"status {code}", kind="status", code=code, headers=headers)

    @classmethod
    def raw(
        cls, status: str, headers: tuple[tuple[str, str], ...] = (), body: bytes = b""
    ) -> Fault:
        """Answer exactly this (``status`` like ``"304 Not Modified"``), nothing else."""
        return cls(name=f"raw {status}", kind="raw", headers=headers, body=body, status_line=status)

    @classmethod
    def hang(cls, *, hang_for: float = 20.0) -> Fault:
        """Read the request, never answer (until ``hang_for`` or the server stops)."""
        return cls(name="hang", kind="hang", hang_for=hang_for)

    @classmethod
    def gather(cls, parties: int, *, timeout: float = 10.0) -> Fault:
        """Hold each request until ``parties`` requests have arrived (or ``timeout``
        passed), then let the app answer them all: clients are provably concurrent."""
        return cls(
            name=f"gather {parties}",
            kind="gather",
            hang_for=timeout,
            barrier=threading.Barrier(parties, timeout=timeout),
        )

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """The app's answer, ``seconds`` late."""
        return cls(name=f"delay {seconds}", kind="delay", hang_for=seconds)

    @classmethod
    def reset(cls, *, after: str = "headers", rst: bool = True) -> Fault:
        """Send the app's status and headers (``after="headers"``) or those and half of
        the body (``after="half"``), then reset the connection (or close it, ``rst=False``)."""
        assert after in ("headers", "half")
        how = "reset" if rst else "close"
        return cls(name=f"{how} after {after}", kind="reset", cut=after, rst=rst)

    @classmethod
    def alter(
        cls,
        transform: Callable[[bytes], bytes],
        *,
        name: str = "altered",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> Fault:
        """The app's answer with its body passed through ``transform`` (length fixed)
        and ``headers`` added."""
        return cls(name=name, kind="alter", transform=transform, headers=headers)

    @classmethod
    def replace(
        cls, body: bytes, *, content_type: str | None = None, name: str = "replaced"
    ) -> Fault:
        """The app's status and headers with another body (and content type)."""
        return cls(name=name, kind="alter", body=body, content_type=content_type)

    @classmethod
    def redirect_loop(cls) -> Fault:
        """302 to the very same path, forever."""
        return cls(name="redirect loop", kind="redirect")

    @classmethod
    def huge(cls, *, declare: int | None = 600 * 1024 * 1024, limit: int | None = None) -> Fault:
        """200 with a body of zeros that goes on until the client gives up: announced
        as ``declare`` bytes (None: no Content-Length, read until close)."""
        cap = limit if limit is not None else (declare or 600 * 1024 * 1024)
        return cls(name="huge", kind="huge", declare=declare, limit=cap)


@dataclass
class _Rule:
    pattern: str
    fault: Fault
    remaining: int | None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # a client that connects and sends nothing does not hold a thread
    server: _Server

    def do_GET(self) -> None:
        self.server.owner._handle(self)

    do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: FaultServer

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), daemon=True
        )
        with self.owner._lock:
            self.owner._threads.append(thread)
        thread.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away mid-answer is what several faults are about


class FaultServer:
    """Serve ``app`` on 127.0.0.1, misbehaving on the paths given to :meth:`add`."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.log: list[Hit] = []
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._port = 0

    # -- configuration and inspection --------------------------------------------

    def add(self, pattern: str, fault: Fault, *, times: int | None = None) -> None:
        """Misbehave on paths matching ``pattern`` (fnmatch, query string excluded):
        the next ``times`` requests (every one when None). Rules apply in order."""
        with self._lock:
            self._rules.append(_Rule(pattern, fault, times))

    def clear(self) -> None:
        """Forget every rule and the log: from now on the app answers everything."""
        with self._lock:
            self._rules.clear()
            self.log.clear()

    def hits(self, pattern: str = "*") -> list[Hit]:
        """The logged requests whose path (without query) matches ``pattern``."""
        with self._lock:
            return [h for h in self.log if fnmatch.fnmatchcase(h.path.split("?")[0], pattern)]

    def settle(self, timeout: float = 5.0) -> None:
        """Wait (at most ``timeout`` seconds) until every answer so far is finished."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @contextmanager
    def running(self) -> Iterator[str]:
        """Serve until the block ends; yield the base URL."""
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        self._port = server.server_address[1]
        self._stop.clear()
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        try:
            yield self.base
        finally:
            self._stop.set()
            with self._lock:
                for rule in self._rules:
                    if rule.fault.barrier is not None:
                        rule.fault.barrier.abort()
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            with self._lock:
                threads, self._threads = self._threads, []
            for handler in threads:
                handler.join(timeout=5)

    # -- answering ------------------------------------------------------------------

    def _take(self, path: str) -> Fault | None:
        for rule in self._rules:
            if rule.remaining == 0 or not fnmatch.fnmatchcase(path, rule.pattern):
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
            return rule.fault
        return None

    def _handle(self, h: _Handler) -> None:
        path = h.path.split("?")[0]
        with self._lock:
            fault = self._take(path)
            hit = Hit(h.command, h.path, fault.name if fault else None, time.monotonic())
            self.log.append(hit)
        h.close_connection = True
        if fault is None:
            status, headers, body = self._call_app(h)
            _send(h, status, headers, body, head=h.command == "HEAD")
        elif fault.kind == "status":
            text = f"injected {fault.code}\n".encode()
            headers = [("Content-Type", "text/plain"), *fault.headers]
            _send(h, f"{fault.code} Injected", headers, text)
        elif fault.kind == "raw":
            _send(h, fault.status_line, list(fault.headers), fault.body or b"")
        elif fault.kind == "hang":
            self._stop.wait(fault.hang_for)
        elif fault.kind in ("delay", "gather"):
            if fault.barrier is not None:
                try:
                    fault.barrier.wait()
                    fault.gathered.append(True)
                except threading.BrokenBarrierError:
                    fault.gathered.append(False)
            else:
                self._stop.wait(fault.hang_for)
            status, headers, body = self._call_app(h)
            _send(h, status, headers, body, head=h.command == "HEAD")
        elif fault.kind == "reset":
            status, headers, body = self._call_app(h)
            keep = b"" if fault.cut == "headers" else body[: len(body) // 2]
            _send(h, status, headers, body, write=keep)
            _drop(h, rst=fault.rst)
        elif fault.kind == "alter":
            status, headers, body = self._call_app(h)
            if fault.transform is not None:
                body = fault.transform(body)
            if fault.body is not None:
                body = fault.body
            if fault.content_type is not None:
                headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
                headers.append(("Content-Type", fault.content_type))
            headers = [*headers, *fault.headers]
            _send(h, status, headers, body)
        elif fault.kind == "redirect":
            _send(h, "302 Found", [("Location", h.path)], b"")
        elif fault.kind == "huge":
            self._stream_huge(h, fault)
        else:  # pragma: no cover
            raise AssertionError(fault.kind)

    def _call_app(self, h: _Handler) -> tuple[str, list[tuple[str, str]], bytes]:
        path, _, query = h.path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": h.command,
            "PATH_INFO": unquote(path),
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(self._port),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_LENGTH": "0",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.url_scheme": "http",
            "wsgi.errors": io.StringIO(),
        }
        for key, value in h.headers.items():
            environ["HTTP_" + key.upper().replace("-", "_")] = value
        got: dict[str, Any] = {}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> None:
            got["status"], got["headers"] = status, list(headers)

        body = b"".join(self.app(environ, start_response))
        return got["status"], got["headers"], body

    def _stream_huge(self, h: _Handler, fault: Fault) -> None:
        head = ["HTTP/1.1 200 OK", "Content-Type: application/octet-stream", "Connection: close"]
        if fault.declare is not None:
            head.append(f"Content-Length: {fault.declare}")
        sent = 0
        chunk = b"\0" * _CHUNK
        h.connection.settimeout(5)  # a client that neither reads nor closes
        try:
            h.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode())
            while sent < fault.limit and not self._stop.is_set():
                h.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the client gave up: that is the point
        finally:
            with self._lock:
                fault.sent.append(sent)


def _send(
    h: _Handler,
    status: str,
    headers: list[tuple[str, str]],
    body: bytes,
    *,
    head: bool = False,
    write: bytes | None = None,
) -> None:
    """Write a whole answer (or its head and ``write`` bytes of its body)."""
    lines = [f"HTTP/1.1 {status}"]
    for key, value in headers:
        if key.lower() not in ("content-length", "connection") or (
            head and key.lower() == "content-length"
        ):
            lines.append(f"{key}: {value}")
    if not head:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    data += b"" if head else (body if write is None else write)
    with contextlib.suppress(OSError):
        h.wfile.write(data)


def _drop(h: _Handler, *, rst: bool) -> None:
    """Close the connection now: an RST (SO_LINGER 0) or an orderly FIN."""
    sock = h.connection
    try:
        if rst:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            sock.shutdown(socket.SHUT_RDWR)
        h.rfile.close()  # makefile() holds a reference that would keep the socket open
        sock.close()
    except OSError:
        pass
