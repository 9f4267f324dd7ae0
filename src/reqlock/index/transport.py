"""The network under the HTTP client: HTTP/1.1 GETs over keep-alive sockets.

A lock makes hundreds of requests from dozens of threads sharing one interpreter
lock: through httpx, httpcore and h11 a small GET took four times the CPU of one
made here on ``socket`` and ``ssl``. Only what an index needs is spoken: GET,
keep-alive, bodies framed by length, chunks or the connection's end, and gzip.
"""

from __future__ import annotations

__all__ = ["BodyTooLarge", "Network", "NetworkError", "Reply"]

import contextlib
import select
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from reqlock.index.once import hedged

_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_HEAD = 64 * 1024  # status line and headers, or one trailer
_MAX_LINE = 4096  # one chunk-size line
_READ = 256 * 1024  # bytes asked of the socket at once
_KEEP_SMALL = 64 * 1024  # an unwanted body up to this is read to keep the connection
_IDLE_PER_ORIGIN = 64
_NO_BODY = frozenset({204, 304})
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


class NetworkError(Exception):
    """The request failed on the way (connection, time-out, malformed answer):
    worth another try. The message names no URL."""


class BodyTooLarge(Exception):
    """The body is (or says it is) larger than the caller accepts."""


# Opens a TCP connection: (host, port, time-out) -> a connected socket.
Opener = Callable[[str, int, float], Any]


class Network:
    """HTTP/1.1 GETs over a pool of keep-alive connections, safe across threads.

    ``opener`` replaces the TCP connect (tests); the TLS context is made once,
    when the first https URL needs it (loading certificates takes tens of
    milliseconds, and many threads doing it at once in OpenSSL 3 far more).
    """

    def __init__(
        self,
        *,
        timeout: float,
        connect_timeout: float,
        user_agent: str,
        context: Callable[[], ssl.SSLContext],
        opener: Opener | None = None,
        keepalive: float = 5.0,
    ) -> None:
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._defaults = {
            "accept": "*/*",
            "accept-encoding": "gzip",
            "connection": "keep-alive",
            "user-agent": user_agent,
        }
        self._make_context = context
        self._context: ssl.SSLContext | None = None
        self._open = opener or _open_tcp
        self._keepalive = keepalive
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}

    def get(self, url: str, headers: Mapping[str, str]) -> Reply:
        """Send a GET for ``url`` (no user info) and read the answer's head; a
        kept-alive connection the server closed meanwhile is replaced once, silently.
        Raises :class:`NetworkError`."""
        scheme, host, port, target, host_header = _parts(url)
        fields = {**self._defaults, **{k.lower(): v for k, v in headers.items()}}
        request = _request(target, host_header, fields)
        origin = (scheme, host, port)
        for fresh in (False, True):
            conn = reused = None if fresh else self._reuse(origin)
            try:
                conn = reused or self._connect(scheme, host, port)
                conn.send(request)
                return conn.read_reply(url, self)
            except (OSError, NetworkError) as exc:
                if conn is not None:
                    conn.close()
                stale = reused is not None and not reused.received
                if not stale or not isinstance(exc, _STALE_ERRORS):
                    raise _network_error(exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close every idle connection; connections in use close when released."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for conn in [conn for conns in idle.values() for conn in conns]:
            conn.close()

    def _reuse(self, origin: tuple[str, str, int]) -> _Connection | None:
        now = time.monotonic()
        while True:
            with self._lock:
                conns = self._idle.get(origin)
                if not conns:
                    return None
                conn = conns.pop()
            if now - conn.idle_since < self._keepalive and conn.quiet():
                return conn
            conn.close()

    def release(self, conn: _Connection) -> None:
        """Take back a connection whose answer was read to its end."""
        conn.idle_since = time.monotonic()
        with self._lock:
            conns = self._idle.setdefault(conn.origin, [])
            if len(conns) < _IDLE_PER_ORIGIN:
                conns.append(conn)
                return
        conn.close()

    def _connect(self, scheme: str, host: str, port: int) -> _Connection:
        sock = self._open(host, port, self._connect_timeout)
        try:
            if scheme == "https":
                sock.settimeout(self._connect_timeout)
                sock = self._tls().wrap_socket(sock, server_hostname=host)
            sock.settimeout(self._timeout)
        except BaseException:
            sock.close()
            raise
        return _Connection(sock, (scheme, host, port))

    def _tls(self) -> ssl.SSLContext:
        with self._lock:
            if self._context is None:
                self._context = self._make_context()
            return self._context


_STALE_ERRORS = (ConnectionError, EOFError, NetworkError)


class Reply:
    """The head of an answer; its body is read with :meth:`read`, or dropped.
    :meth:`close` hands the connection back when the body was read to its end,
    and closes it otherwise."""

    def __init__(
        self,
        conn: _Connection,
        network: Network,
        *,
        url: str,
        status: int,
        headers: dict[str, str],
        framing: tuple[str, int],
    ) -> None:
        self.url = url
        self.status = status
        self.headers = headers
        self._conn = conn
        self._network = network
        self._framing = framing
        self._done = framing[0] == "none"

    def read(self, max_bytes: int) -> bytes:
        """The whole body, decoded; raises :class:`BodyTooLarge` past ``max_bytes``
        (before reading, when its length says so) and :class:`NetworkError`."""
        kind, length = self._framing
        if kind == "none":
            return b""
        if kind == "length" and length > max_bytes:
            raise BodyTooLarge(length)
        decode = _decoder(self.headers.get("content-encoding", ""))
        conn = self._conn
        try:
            if decode is None and kind == "length":
                body = conn.read_exact(length)
            else:
                body = _limited(self._raw(conn), decode, max_bytes)
        except (OSError, zlib.error) as exc:
            raise _network_error(exc) from None
        self._done = True
        return body

    def discard(self) -> None:
        """Drop the body: read when small (to keep the connection), else abandon."""
        kind, length = self._framing
        if kind == "length" and length <= _KEEP_SMALL:
            with contextlib.suppress(OSError, NetworkError):
                self._conn.read_exact(length)
                self._done = True

    def close(self) -> None:
        """Hand the connection back, or close it if the answer was not read whole."""
        if self._done and self._conn.reusable:
            self._done = False  # once
            self._network.release(self._conn)
        else:
            self._conn.close()

    def _raw(self, conn: _Connection) -> Iterator[bytes]:
        kind, length = self._framing
        if kind == "length":
            while length:
                piece = conn.read_some(min(length, _READ))
                length -= len(piece)
                yield piece
        elif kind == "chunked":
            yield from conn.read_chunks()
        else:  # until the server closes the connection
            conn.reusable = False
            while piece := conn.read_some(_READ, eof_ok=True):
                yield piece


class _Connection:
    """One socket, used by one request at a time, with what it read ahead."""

    def __init__(self, sock: Any, origin: tuple[str, str, int]) -> None:
        self.sock = sock
        self.origin = origin
        self.buffer = b""
        self.received = False  # any byte of an answer since the last request
        self.reusable = True
        self.idle_since = 0.0

    def send(self, data: bytes) -> None:
        self.received = False
        self.sock.sendall(data)

    def quiet(self) -> bool:
        # A server that closed an idle connection (or sent anything) makes it readable.
        if self.buffer:
            return False
        if getattr(self.sock, "pending", lambda: 0)():
            return False
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError, TypeError):
            return False
        return not readable

    def close(self) -> None:
        self.reusable = False
        with contextlib.suppress(OSError):
            self.sock.close()

    def read_some(self, limit: int = _READ, *, eof_ok: bool = False) -> bytes:
        """Up to ``limit`` bytes, read ahead ones first (none only at an ``eof_ok`` end)."""
        if self.buffer:
            piece, self.buffer = self.buffer[:limit], self.buffer[limit:]
            return piece
        return self.receive(limit, eof_ok=eof_ok)

    def receive(self, limit: int = _READ, *, eof_ok: bool = False) -> bytes:
        got: bytes = self.sock.recv(limit)
        if not got and not eof_ok:
            raise NetworkError("the server closed the connection before the end of the answer")
        self.received = True
        return got

    def read_exact(self, n: int) -> bytes:
        out = bytearray(n)
        view = memoryview(out)
        got = min(n, len(self.buffer))
        view[:got] = self.buffer[:got]
        self.buffer = self.buffer[got:]
        while got < n:
            k = self.sock.recv_into(view[got:], min(n - got, _READ))
            if not k:
                raise NetworkError(
                    f"the server closed the connection after {got} of {n} bytes of the body"
                )
            self.received = True
            got += k
        return bytes(out)

    def read_line(self, limit: int) -> bytes:
        """One CRLF-ended line (without it), at most ``limit`` bytes long."""
        while True:
            end = self.buffer.find(b"\r\n")
            if end >= 0:
                line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
                return line
            if len(self.buffer) > limit:
                raise NetworkError("the answer has a line too long to be HTTP")
            self.buffer += self.receive()

    def read_reply(self, url: str, network: Network) -> Reply:
        """Read the head of the next answer (skipping 1xx ones)."""
        while True:
            while (end := self.buffer.find(b"\r\n\r\n")) < 0:
                if len(self.buffer) > _MAX_HEAD:
                    raise NetworkError("the answer's headers are too large")
                self.buffer += self.receive()
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            version, status, headers = _parse_head(head)
            if status >= 200:
                break
        framing = _framing(status, headers)
        connection = headers.get("connection", "").lower()
        if "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection):
            self.reusable = False
        return Reply(self, network, url=url, status=status, headers=headers, framing=framing)

    def read_chunks(self) -> Iterator[bytes]:
        while True:
            size_text = self.read_line(_MAX_LINE).split(b";", 1)[0].strip()
            if not size_text or size_text.strip(b"0123456789abcdefABCDEF"):
                raise NetworkError("the answer's chunked body is malformed")
            size = int(size_text, 16)
            if size == 0:
                break
            yield self.read_exact(size)
            if self.read_line(_MAX_LINE):
                raise NetworkError("the answer's chunked body is malformed")
        for _ in range(100):  # trailers, ignored
            if not self.read_line(_MAX_HEAD):
                return
        raise NetworkError("the answer has too many trailers")


def _parse_head(head: bytes) -> tuple[str, int, dict[str, str]]:
    """(HTTP version, status, headers with lower-case names, repeats joined)."""
    try:
        lines = head.decode("latin-1").split("\r\n")
        version, code, *_ = lines[0].split(" ", 2)
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise ValueError(lines[0])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            name = name.strip().lower()
            if not sep or not name or " " in name:
                raise ValueError(line)
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
    except ValueError as exc:
        raise NetworkError(f"the answer is not HTTP ({str(exc)[:80]!r})") from None
    return version, int(code), headers


def _framing(status: int, headers: Mapping[str, str]) -> tuple[str, int]:
    """How the body ends: ("none", 0), ("length", n), ("chunked", 0) or ("close", 0)."""
    if status in _NO_BODY:
        return ("none", 0)
    coding = headers.get("transfer-encoding")
    if coding is not None:
        if coding.strip().lower() != "chunked":
            raise NetworkError(f"the answer's transfer encoding {coding!r} is not supported")
        return ("chunked", 0)
    declared = headers.get("content-length")
    if declared is None:
        return ("close", 0)
    values = {v.strip() for v in declared.split(",")}
    if len(values) != 1 or not (value := values.pop()).isdigit():
        raise NetworkError(f"the answer's Content-Length {declared!r} is not a length")
    return ("length", int(value))


def _decoder(encoding: str) -> Callable[[bytes, int], bytes] | None:
    """Decompresses pieces of a gzip body (at most the given size out of each);
    None for an identity body."""
    codings = [c.strip().lower() for c in encoding.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return None
    if codings not in (["gzip"], ["x-gzip"]):  # the only one asked for
        raise NetworkError(f"the answer's content encoding {encoding!r} is not supported")
    state = zlib.decompressobj(zlib.MAX_WBITS | 16)

    def decode(data: bytes, limit: int) -> bytes:
        return state.decompress(state.unconsumed_tail + data, limit)

    return decode


def _limited(
    pieces: Iterable[bytes], decode: Callable[[bytes, int], bytes] | None, max_bytes: int
) -> bytes:
    out: list[bytes] = []
    total = 0
    for piece in pieces:
        data = piece if decode is None else decode(piece, max_bytes + 1 - total)
        total += len(data)
        if total > max_bytes:
            raise BodyTooLarge(total)
        out.append(data)
    if decode is not None:
        # What a bounded decompression held back (a body that expands a lot).
        while data := decode(b"", max_bytes + 1 - total):
            total += len(data)
            if total > max_bytes:
                raise BodyTooLarge(total)
            out.append(data)
    return b"".join(out)


def _parts(url: str) -> tuple[str, str, int, str, str]:
    """(scheme, host, port, request target, Host header) of an http(s) URL."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
        host = host if host.isascii() else host.encode("idna").decode("ascii")
        port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    except ValueError as exc:  # UnicodeError (a bad international name) included
        raise NetworkError(f"invalid URL ({exc})") from None
    if scheme not in _DEFAULT_PORTS or not host:
        raise NetworkError(f"not an http(s) URL with a host ({parts.scheme!r})")
    target = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_QUERY_SAFE)
    shown = f"[{host}]" if ":" in host else host
    if port != _DEFAULT_PORTS[scheme]:
        shown += f":{port}"
    return scheme, host, port, target, shown


def _request(target: str, host: str, fields: Mapping[str, str]) -> bytes:
    lines = [f"GET {target} HTTP/1.1", f"host: {host}"]
    for name, value in fields.items():
        if name == "host":
            continue
        line = f"{name}: {value}"
        # A header from the index (an ETag) must not smuggle in another one.
        if not line.isascii() or any(c in line for c in "\r\n\0") or ":" in name or " " in name:
            raise NetworkError(f"refusing to send the malformed header {name!r}")
        lines.append(line)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def _network_error(exc: BaseException) -> NetworkError:
    if isinstance(exc, NetworkError):
        return exc
    return NetworkError(str(exc) or type(exc).__name__)


def _open_tcp(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to the first address of ``host`` that answers."""
    last: OSError | None = None
    for family, _, _, _, address in _resolve(host, port):
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        try:
            sock = socket.create_connection((address[0], port), timeout=timeout)
        except OSError as exc:
            last = exc
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise last or OSError(f"no address for {host}")


_DNS_CACHE: dict[tuple[str, int], list[tuple[Any, ...]]] = {}
_DNS_LOCK = threading.Lock()
_DNS_HEDGE_AFTER = 1.0
_Lookup = Callable[[str, int], Iterable[Sequence[Any]]]


def _getaddrinfo(host: str, port: int) -> list[tuple[Any, ...]]:
    return [tuple(info) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def _resolve(
    host: str,
    port: int,
    *,
    lookup: _Lookup = _getaddrinfo,
    hedge_after: float = _DNS_HEDGE_AFTER,
) -> list[tuple[Any, ...]]:
    """``lookup`` (getaddrinfo), cached for the process, and asked again in parallel
    when it has not answered after ``hedge_after`` seconds (see :func:`hedged`).

    Each new connection otherwise makes its own DNS lookup; with dozens of
    connections opened at once, a lost lookup packet stalls one of them for the
    resolver's 5 s retry (seen on the machines we run on).
    """
    key = (host, port)
    with _DNS_LOCK:
        found = _DNS_CACHE.get(key)
    if found is None:
        found = hedged(lambda: [tuple(info) for info in lookup(host, port)], hedge_after)
        with _DNS_LOCK:
            _DNS_CACHE[key] = found
    return found
