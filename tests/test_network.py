"""transport.py: HTTP/1.1 GETs over keep-alive sockets, as the index client uses them."""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import reqlock.index.transport
from reqlock.errors import IndexFetchError
from reqlock.index.client import HttpClient, _proxied
from reqlock.index.transport import BodyTooLarge, Network, NetworkError

URL = "http://idx.example/simple/demo/"


class FakeSocket:
    """A connection whose peer answers with ``chunks`` in turn (an exception is
    raised; the end of the list is EOF). Its file descriptor is one end of a real
    socket pair, so that the pool can ask whether it is readable."""

    def __init__(self, chunks: list[bytes | Exception]) -> None:
        self.chunks = list(chunks)
        self.sent = b""
        self.closed = False
        self.timeouts: list[float] = []
        self.recv_sizes: list[int] = []
        self._mine, self.peer = socket.socketpair()

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def recv(self, size: int) -> bytes:
        self.recv_sizes.append(size)
        if not self.chunks:
            return b""
        chunk = self.chunks.pop(0)
        if isinstance(chunk, Exception):
            raise chunk
        if len(chunk) > size:
            self.chunks.insert(0, chunk[size:])
            chunk = chunk[:size]
        return chunk

    def recv_into(self, view: memoryview, size: int) -> int:
        data = self.recv(min(size, len(view)))
        view[: len(data)] = data
        return len(data)

    def settimeout(self, timeout: float) -> None:
        self.timeouts.append(timeout)

    def fileno(self) -> int:
        return self._mine.fileno()

    def close(self) -> None:
        self.closed = True
        self._mine.close()
        self.peer.close()


class Opener:
    """Opens the next scripted connection (a list of chunks, or an exception)."""

    def __init__(self, *scripts: list[bytes | Exception] | Exception) -> None:
        self.scripts = list(scripts)
        self.opened: list[tuple[str, int, float]] = []
        self.sockets: list[FakeSocket] = []

    def __call__(self, host: str, port: int, timeout: float) -> FakeSocket:
        self.opened.append((host, port, timeout))
        script = self.scripts.pop(0)
        if isinstance(script, Exception):
            raise script
        sock = FakeSocket(script)
        self.sockets.append(sock)
        return sock


def answer(body: bytes = b"hello", status: str = "200 OK", *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers, "", ""]
    return "\r\n".join(lines).encode() + body


def head(status: str = "200 OK", *headers: str) -> bytes:
    return "\r\n".join([f"HTTP/1.1 {status}", *headers, "", ""]).encode()


def network(opener: Opener, **kw: Any) -> Network:
    kw.setdefault("timeout", 7.0)
    return Network(
        connect_timeout=3.0, user_agent="reqlock/test", context=forbidden, opener=opener, **kw
    )


def forbidden() -> Any:
    raise AssertionError("no TLS in this test")


def fetch(net: Network, url: str = URL, max_bytes: int = 1 << 20, **headers: str) -> bytes:
    reply = net.get(url, headers)
    try:
        return reply.read(max_bytes)
    finally:
        reply.close()


def sent_request(sock: FakeSocket, n: int = 0) -> tuple[str, dict[str, str]]:
    request = sock.sent.split(b"\r\n\r\n")[n].decode()
    line, *fields = request.split("\r\n")
    return line, {k: v for k, _, v in (f.partition(": ") for f in fields)}


# -- requests and answers --------------------------------------------------------------


def test_a_get_sends_the_request_and_returns_the_answer() -> None:
    opener = Opener([answer(b"hello", "200 OK", "X-Served-By: a", "x-served-by: b")])
    net = network(opener)
    reply = net.get("http://idx.example:8080/simple/a/?q=1", {"Accept": "text/html"})
    assert (reply.status, reply.read(100)) == (200, b"hello")
    assert reply.headers["x-served-by"] == "a, b"  # repeated headers are joined
    reply.close()
    (sock,) = opener.sockets
    line, fields = sent_request(sock)
    assert line == "GET /simple/a/?q=1 HTTP/1.1"
    assert fields["host"] == "idx.example:8080"
    assert fields["accept"] == "text/html"  # the caller's header wins over the default
    assert fields["accept-encoding"] == "gzip"
    assert fields["user-agent"] == "reqlock/test"
    assert opener.opened == [("idx.example", 8080, 3.0)]
    assert sock.timeouts == [7.0]


@pytest.mark.parametrize(
    ("url", "target", "host"),
    [
        ("http://idx.example/a b/c%2Bd?x=1 2", "/a%20b/c%2Bd?x=1%202", "idx.example"),
        ("http://idx.example", "/", "idx.example"),
        ("http://[::1]:8080/s/", "/s/", "[::1]:8080"),
        ("https://idx.example:443/s/", "/s/", "idx.example"),
        ("http://b\u00fccher.example/", "/", "xn--bcher-kva.example"),
    ],
)
def test_the_request_target_and_host_header(url: str, target: str, host: str) -> None:
    opener = Opener([answer()])
    net = Network(timeout=1.0, connect_timeout=1.0, user_agent="u", context=PlainTLS, opener=opener)
    fetch(net, url)
    line, fields = sent_request(opener.sockets[0])
    assert line == f"GET {target} HTTP/1.1"
    assert fields["host"] == host


class PlainTLS:
    """A TLS context that wraps nothing (the fake socket speaks plain text)."""

    made = 0

    def __init__(self) -> None:
        type(self).made += 1
        self.names: list[str] = []

    def wrap_socket(self, sock: FakeSocket, server_hostname: str) -> FakeSocket:
        self.names.append(server_hostname)
        return sock


def test_the_tls_context_is_made_once_for_all_threads() -> None:
    PlainTLS.made = 0
    opener = Opener(*([answer()] for _ in range(8)))
    net = Network(timeout=1.0, connect_timeout=1.0, user_agent="u", context=PlainTLS, opener=opener)
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        fetch(net, "https://idx.example/")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert PlainTLS.made == 1


@pytest.mark.parametrize(
    "headers", [{"If-None-Match": 'x"\r\nEvil: 1'}, {"X-Bad\n": "1"}, {"A": "caf\u00e9"}]
)
def test_a_malformed_header_is_never_sent(headers: dict[str, str]) -> None:
    opener = Opener([answer()])
    with pytest.raises(NetworkError, match="malformed header"):
        network(opener).get(URL, headers)
    assert opener.opened == []


@pytest.mark.parametrize("url", ["ftp://idx.example/", "http:///nohost", "http://[::1/"])
def test_a_url_that_is_no_http_url_is_an_error(url: str) -> None:
    with pytest.raises(NetworkError):
        network(Opener()).get(url, {})


def test_a_chunked_body_with_extensions_and_trailers() -> None:
    body = b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"
    opener = Opener([head("200 OK", "Transfer-Encoding: chunked") + body, answer(b"next")])
    net = network(opener)
    assert fetch(net) == b"hello, world"
    assert fetch(net) == b"next"  # the connection was kept: the chunks ended cleanly
    assert len(opener.opened) == 1


@pytest.mark.parametrize(
    "body",
    [b"zz\r\nhello\r\n0\r\n\r\n", b"-5\r\nhello\r\n0\r\n\r\n", b"5\r\nhelloXX0\r\n\r\n"],
    ids=["not-hex", "negative", "no-crlf-after-data"],
)
def test_a_malformed_chunked_body_is_an_error(body: bytes) -> None:
    opener = Opener([head("200 OK", "Transfer-Encoding: chunked") + body])
    with pytest.raises(NetworkError, match="chunked"):
        fetch(network(opener))


def test_a_body_that_ends_with_the_connection_is_read_and_the_connection_dropped() -> None:
    opener = Opener([head("200 OK"), b"all ", b"of it"], [answer(b"again")])
    net = network(opener)
    assert fetch(net) == b"all of it"
    assert fetch(net) == b"again"
    assert len(opener.opened) == 2
    assert opener.sockets[0].closed


def test_a_gzip_body_is_decoded() -> None:
    packed = gzip.compress(b"x" * 10_000)
    opener = Opener([answer(packed, "200 OK", "Content-Encoding: gzip")])
    assert fetch(network(opener)) == b"x" * 10_000


def test_a_gzip_body_that_expands_past_the_limit_is_refused_early() -> None:
    packed = gzip.compress(b"\0" * (50 << 20))
    opener = Opener([answer(packed, "200 OK", "Content-Encoding: gzip")])
    reply = network(opener).get(URL, {})
    with pytest.raises(BodyTooLarge):
        reply.read(1 << 20)
    reply.close()
    assert opener.sockets[0].closed


@pytest.mark.parametrize(
    ("encoding", "body"),
    [("gzip", b"not gzip at all"), ("br", b"x"), ("gzip, gzip", b"x")],
)
def test_an_undecodable_body_is_a_network_error(encoding: str, body: bytes) -> None:
    opener = Opener([answer(body, "200 OK", f"Content-Encoding: {encoding}")])
    with pytest.raises(NetworkError):
        fetch(network(opener))


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    opener = Opener([head("200 OK", "Content-Length: 999999999")])
    reply = network(opener).get(URL, {})
    with pytest.raises(BodyTooLarge):
        reply.read(1000)
    reply.close()
    assert opener.sockets[0].closed


def test_interim_answers_are_skipped_and_some_answers_have_no_body() -> None:
    opener = Opener([head("100 Continue") + head("304 Not Modified", "ETag: x"), answer(b"b")])
    net = network(opener)
    reply = net.get(URL, {})
    assert (reply.status, reply.read(10)) == (304, b"")
    reply.close()
    assert fetch(net) == b"b"
    assert len(opener.opened) == 1


@pytest.mark.parametrize(
    "raw",
    [
        b"SPDY/3 200 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"y" * (70 * 1024),
    ],
    ids=["not-http", "bad-status", "bad-header", "two-lengths", "bad-framing", "huge-head"],
)
def test_an_answer_that_is_not_http_is_a_network_error(raw: bytes) -> None:
    with pytest.raises(NetworkError):
        fetch(network(Opener([raw])))


def test_a_body_cut_short_is_a_network_error() -> None:
    opener = Opener([answer(b"x" * 100)[:-50]])
    with pytest.raises(NetworkError, match="50 of 100"):
        fetch(network(opener))


# -- the pool ---------------------------------------------------------------------------


def test_connections_are_kept_alive_and_a_small_unread_body_does_not_cost_one() -> None:
    opener = Opener([answer(b"moved", "302 Found", "Location: /b"), answer(b"one")])
    net = network(opener)
    reply = net.get(URL, {})
    reply.discard()
    reply.close()
    assert fetch(net) == b"one"
    assert len(opener.opened) == 1
    net.close()
    assert opener.sockets[0].closed


def test_a_large_unread_body_drops_the_connection() -> None:
    opener = Opener([answer(b"x" * 200_000, "503 Busy")], [answer(b"ok")])
    net = network(opener)
    reply = net.get(URL, {})
    reply.discard()
    reply.close()
    assert fetch(net) == b"ok"
    assert len(opener.opened) == 2


@pytest.mark.parametrize(
    "first",
    [
        answer(b"a", "200 OK", "Connection: close"),
        b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\na",
    ],
    ids=["connection-close", "http-1.0"],
)
def test_an_answer_that_ends_the_connection_is_not_reused(first: bytes) -> None:
    opener = Opener([first], [answer(b"b")])
    net = network(opener)
    assert fetch(net) == b"a"
    assert fetch(net) == b"b"
    assert len(opener.opened) == 2


def test_an_idle_connection_the_server_closed_is_replaced() -> None:
    opener = Opener([answer(b"a")], [answer(b"b")])
    net = network(opener)
    assert fetch(net) == b"a"
    opener.sockets[0].peer.close()  # the server hangs up: the idle socket is readable
    assert fetch(net) == b"b"
    assert len(opener.opened) == 2


def test_an_idle_connection_past_the_keepalive_is_replaced() -> None:
    opener = Opener([answer(b"a")], [answer(b"b")])
    net = network(opener, keepalive=0.0)
    assert fetch(net) == b"a"
    assert fetch(net) == b"b"
    assert len(opener.opened) == 2


@pytest.mark.parametrize("failure", [None, ConnectionResetError("reset")], ids=["eof", "reset"])
def test_a_kept_connection_that_died_unseen_is_replaced_once_silently(
    failure: Exception | None,
) -> None:
    dead: list[bytes | Exception] = [answer(b"a")] + ([failure] if failure else [])
    opener = Opener(dead, [answer(b"b")])
    net = network(opener)
    assert fetch(net) == b"a"
    assert fetch(net) == b"b"
    assert len(opener.opened) == 2


def test_a_fresh_connection_failing_is_an_error_not_a_second_try() -> None:
    opener = Opener([], [answer(b"never")])
    with pytest.raises(NetworkError, match="closed the connection"):
        fetch(network(opener))
    assert len(opener.opened) == 1


def test_a_time_out_on_a_kept_connection_is_not_tried_again() -> None:
    opener = Opener([answer(b"a"), TimeoutError("timed out")], [answer(b"b")])
    net = network(opener)
    assert fetch(net) == b"a"
    with pytest.raises(NetworkError, match="timed out"):
        fetch(net)
    assert len(opener.opened) == 1


# -- through the client, on real sockets ------------------------------------------------


@pytest.fixture
def server() -> Iterator[tuple[str, list[bytes]]]:
    """A raw HTTP server on 127.0.0.1 keeping connections alive; yields its base URL
    and the requests it read."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            data = b""
            while not stop.is_set():
                while b"\r\n\r\n" not in data:
                    more = conn.recv(65536)
                    if not more:
                        return
                    data += more
                request, _, data = data.partition(b"\r\n\r\n")
                seen.append(request)
                body = gzip.compress(b"served " + request.split(b" ")[1])
                conn.sendall(answer(body, "200 OK", "Content-Encoding: gzip"))

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", seen
    finally:
        stop.set()
        listener.close()


def test_the_client_speaks_to_a_real_server_over_one_connection(
    server: tuple[str, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, seen = server
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    http = HttpClient()
    try:
        for path in ("/a", "/b", "/c"):
            assert http.get(f"{base}{path}").content == f"served {path}".encode()
        secret = http.get(base.replace("//", "//alice:s3cret@") + "/d")
        assert secret.content == b"served /d"
    finally:
        http.close()
    assert len(seen) == 4
    assert b"authorization: Basic YWxpY2U6czNjcmV0" in seen[3]
    assert b"s3cret" not in b"".join(seen)


def test_a_body_over_the_limit_from_a_real_server_is_refused(
    server: tuple[str, list[bytes]],
) -> None:
    http = HttpClient()
    with pytest.raises(IndexFetchError, match="refusing"):
        http.get(f"{server[0]}/a", max_bytes=3)
    http.close()


def test_a_proxy_in_the_environment_sends_requests_through_httpx(
    server: tuple[str, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fake server plays the proxy: httpx sends it the absolute URL.
    base, seen = server
    monkeypatch.setenv("HTTP_PROXY", base)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert _proxied()

    def no_network(*args: object) -> object:
        raise AssertionError("the proxy must be used")

    monkeypatch.setattr(reqlock.index.transport.Network, "get", no_network)
    http = HttpClient()
    try:
        assert (
            http.get("http://idx.example/simple/").content == b"served http://idx.example/simple/"
        )
    finally:
        http.close()
    assert seen[0].startswith(b"GET http://idx.example/simple/ HTTP/1.1")


def test_no_proxy_variable_means_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("all_proxy", raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "")
    assert not _proxied()
    monkeypatch.setenv("all_proxy", "socks5://127.0.0.1:1")
    assert _proxied()
