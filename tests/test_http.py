"""_http.py: retries with backoff, Retry-After, size limits, redirects, redaction."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

import reqlock.index.client
import reqlock.index.transport
from reqlock.errors import IndexFetchError
from reqlock.index.client import HttpClient
from reqlock.urls import redact_url
from tests.fakeindex import FakeIndexApp

BASE = "http://fakeindex"
SECRET_BASE = "http://alice:s3cret@fakeindex"

Reply = tuple[str, list[tuple[str, str]], bytes]


class Scripted:
    """A WSGI app answering each request with the next scripted reply (the last one
    repeats), recording the requests' paths and headers."""

    def __init__(self, *replies: Reply, stream: bool = False) -> None:
        self.replies = list(replies)
        self.stream = stream
        self.seen: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with self._lock:
            headers = {
                k[5:].replace("_", "-").lower(): str(v)
                for k, v in environ.items()
                if k.startswith("HTTP_")
            }
            self.seen.append((environ["PATH_INFO"], headers))
            reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        status, headers_out, body = reply
        start_response(status, headers_out)
        if self.stream:
            return _chunks(body)
        return [body]


def _chunks(body: bytes, size: int = 1024) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


def ok(body: bytes = b"ok", **headers: str) -> Reply:
    return ("200 OK", [("Content-Type", "text/plain"), *headers.items()], body)


def status(text: str, *extra: tuple[str, str]) -> Reply:
    return (text, [("Content-Type", "text/plain"), *extra], text.encode())


def client_for(app: Any, **kw: Any) -> HttpClient:
    kw.setdefault("backoff", 0.0)
    return HttpClient(transport=httpx.WSGITransport(app=app), **kw)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the client's back-off sleeps instead of sleeping."""
    recorded: list[float] = []
    fake_time = SimpleNamespace(sleep=recorded.append, time=time.time)
    monkeypatch.setattr(reqlock.index.client, "time", fake_time)
    return recorded


# -- redaction -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://idx.example/simple/", "https://idx.example/simple/"),
        ("https://user:pw@idx.example/simple/", "https://idx.example/simple/"),
        ("https://user@idx.example/simple/", "https://idx.example/simple/"),
        ("https://user:p%40ss@idx.example:8443/s/?q=1#f", "https://idx.example:8443/s/?q=1#f"),
        ("https://user:p@ss@idx.example/simple/", "https://idx.example/simple/"),
        ("https://:token@idx.example/", "https://idx.example/"),
        ("http://u:p@[::1]:8080/simple/", "http://[::1]:8080/simple/"),
        ("https://idx.example/path@not-a-user/", "https://idx.example/path@not-a-user/"),
        ("https://idx.example/?mail=a@b.example", "https://idx.example/?mail=a@b.example"),
        ("", ""),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


# -- plain answers -------------------------------------------------------------------


def test_get_returns_status_headers_and_body(wsgi_transport: httpx.WSGITransport) -> None:
    http = HttpClient(transport=wsgi_transport)
    try:
        resp = http.get(
            f"{BASE}/simple/leaf-a/",
            headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        )
    finally:
        http.close()
    assert resp.status == 200
    assert resp.url == f"{BASE}/simple/leaf-a/"
    assert resp.headers["content-type"] == "application/vnd.pypi.simple.v1+json"
    assert b'"leaf_a-1.0-py3-none-any.whl"' in resp.content


def test_requests_carry_a_user_agent_and_the_given_headers() -> None:
    app = Scripted(ok())
    http = client_for(app)
    http.get(f"{BASE}/x", headers={"X-Test": "1"})
    ((_, headers),) = app.seen
    assert headers["user-agent"].startswith("reqlock/")
    assert headers["x-test"] == "1"


def test_credentials_in_the_url_are_sent_as_basic_auth(
    make_index_app: Callable[..., FakeIndexApp],
) -> None:
    app = make_index_app(require_auth=("alice", "s3cret"))
    http = client_for(app)
    assert http.get(f"{SECRET_BASE}/simple/leaf-a/").status == 200
    with pytest.raises(IndexFetchError) as info:
        http.get(f"{BASE}/simple/leaf-a/")
    assert "HTTP 401" in str(info.value)
    assert info.value.hint is not None
    assert "credentials" in info.value.hint


def test_redirects_are_followed() -> None:
    app = Scripted(status("301 Moved Permanently", ("Location", "/there")), ok(b"here"))
    resp = client_for(app).get(f"{BASE}/start")
    assert resp.content == b"here"
    assert resp.url == f"{BASE}/there"
    assert [p for p, _ in app.seen] == ["/start", "/there"]


def test_ok_statuses_are_returned_not_raised() -> None:
    app = Scripted(status("404 Not Found"))
    resp = client_for(app).get(f"{BASE}/missing", ok_statuses=frozenset({200, 404}))
    assert resp.status == 404
    assert len(app.seen) == 1


# -- retries -------------------------------------------------------------------------


def test_503_is_retried_until_it_succeeds(make_index_app: Callable[..., FakeIndexApp]) -> None:
    app = make_index_app()
    app.inject_faults("/simple/leaf-a/", [503, 502, 500])
    resp = client_for(app, retries=3).get(f"{BASE}/simple/leaf-a/")
    assert resp.status == 200
    assert len(app.requests_for("/simple/leaf-a/")) == 4


def test_backoff_doubles_between_attempts(sleeps: list[float]) -> None:
    app = Scripted(status("503 Service Unavailable"), status("504 Gateway Timeout"), ok())
    client_for(app, retries=3, backoff=0.25).get(f"{BASE}/x")
    assert sleeps == [0.25, 0.5]


def test_429_retry_after_seconds_is_honoured(sleeps: list[float]) -> None:
    app = Scripted(status("429 Too Many Requests", ("Retry-After", "2")), ok())
    resp = client_for(app, retries=2, backoff=0.01).get(f"{BASE}/x")
    assert resp.status == 200
    assert sleeps == [2.0]


def test_retry_after_is_capped(sleeps: list[float]) -> None:
    app = Scripted(status("503 Service Unavailable", ("Retry-After", "86400")), ok())
    client_for(app, retries=1).get(f"{BASE}/x")
    assert sleeps == [30.0]


def test_retry_after_as_a_date(sleeps: list[float]) -> None:
    app = Scripted(
        status("429 Too Many Requests", ("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT")),
        ok(),
    )
    client_for(app, retries=1, backoff=5.0).get(f"{BASE}/x")
    assert sleeps == [0.0]  # a date in the past: go now


def test_unreadable_retry_after_falls_back_to_backoff(sleeps: list[float]) -> None:
    app = Scripted(status("429 Too Many Requests", ("Retry-After", "soon")), ok())
    client_for(app, retries=1, backoff=0.5).get(f"{BASE}/x")
    assert sleeps == [0.5]


def test_retry_after_really_waits() -> None:
    app = Scripted(status("429 Too Many Requests", ("Retry-After", "1")), ok())
    start = time.monotonic()
    client_for(app, retries=1, backoff=0.0).get(f"{BASE}/x")
    assert time.monotonic() - start >= 0.9


def test_gives_up_after_the_retries_naming_the_url_without_credentials(
    sleeps: list[float],
) -> None:
    app = Scripted(status("503 Service Unavailable"))
    http = client_for(app, retries=2)
    with pytest.raises(IndexFetchError) as info:
        http.get(f"{SECRET_BASE}/simple/leaf-a/", package="leaf-a")
    error = info.value
    assert len(app.seen) == 3
    assert len(sleeps) == 2
    assert "HTTP 503" in str(error)
    assert f"{BASE}/simple/leaf-a/" in str(error)
    assert error.url == f"{BASE}/simple/leaf-a/"
    assert error.package == "leaf-a"
    assert "s3cret" not in str(error)
    assert "alice" not in str(error)


@pytest.mark.parametrize(
    ("reply", "hint_words"),
    [
        (status("404 Not Found"), "does not exist"),
        (status("403 Forbidden"), "refused"),
        (status("401 Unauthorized"), "credentials"),
        (status("400 Bad Request"), None),
        (status("410 Gone"), None),
    ],
)
def test_other_statuses_are_not_retried(
    reply: Reply, hint_words: str | None, sleeps: list[float]
) -> None:
    app = Scripted(reply, ok())
    with pytest.raises(IndexFetchError) as info:
        client_for(app, retries=3).get(f"{SECRET_BASE}/x")
    assert len(app.seen) == 1
    assert sleeps == []
    assert reply[0].split()[0] in str(info.value)
    assert "s3cret" not in str(info.value)
    if hint_words is None:
        assert info.value.hint is None
    else:
        assert info.value.hint is not None
        assert hint_words in info.value.hint


class FlakyTransport(httpx.BaseTransport):
    """Raises ``errors`` in turn, then answers 200."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return httpx.Response(200, content=b"fine")


def test_transport_errors_are_retried(sleeps: list[float]) -> None:
    transport = FlakyTransport(
        httpx.ConnectError("[Errno -3] Temporary failure in name resolution"),
        httpx.RemoteProtocolError("stream reset"),
        httpx.ReadTimeout("timed out"),
    )
    http = HttpClient(transport=transport, retries=3, backoff=0.1)
    assert http.get(f"{BASE}/x").content == b"fine"
    assert transport.calls == 4
    assert sleeps == [0.1, 0.2, 0.4]


def test_transport_errors_give_up_with_a_clear_error(sleeps: list[float]) -> None:
    transport = FlakyTransport(*[httpx.ConnectError("name resolution failed")] * 5)
    http = HttpClient(transport=transport, retries=2)
    with pytest.raises(IndexFetchError) as info:
        http.get(f"{SECRET_BASE}/simple/", package="demo")
    message = str(info.value)
    assert transport.calls == 3
    assert "name resolution failed" in message
    assert "after 3 attempts" in message
    assert f"{BASE}/simple/" in message
    assert "s3cret" not in message
    assert info.value.__cause__ is None  # the httpx error (and its URL) is not chained


def test_a_transport_error_quoting_the_url_is_redacted() -> None:
    transport = FlakyTransport(httpx.ConnectError(f"cannot reach '{SECRET_BASE}/simple/'"))
    with pytest.raises(IndexFetchError) as info:
        HttpClient(transport=transport, retries=0).get(f"{SECRET_BASE}/simple/")
    assert "s3cret" not in str(info.value)
    assert "fakeindex/simple/" in str(info.value)


def test_a_transport_error_with_the_url_glued_to_text_is_redacted() -> None:
    transport = FlakyTransport(httpx.ConnectError(f"connect failed url={SECRET_BASE}/simple/"))
    with pytest.raises(IndexFetchError) as info:
        HttpClient(transport=transport, retries=0).get(f"{SECRET_BASE}/simple/")
    assert "s3cret" not in str(info.value)


# -- limits and loops ----------------------------------------------------------------


def test_a_declared_body_over_max_bytes_is_refused() -> None:
    app = Scripted(ok(b"x" * 2048))
    with pytest.raises(IndexFetchError) as info:
        client_for(app).get(f"{SECRET_BASE}/big", max_bytes=1024)
    assert "refusing" in str(info.value)
    assert info.value.url == f"{BASE}/big"
    assert "s3cret" not in str(info.value)


def test_a_streamed_body_over_max_bytes_is_refused() -> None:
    # No Content-Length: the limit is enforced while reading.
    app = Scripted(("200 OK", [("Content-Type", "text/plain")], b"x" * 10_000), stream=True)
    with pytest.raises(IndexFetchError, match="refusing"):
        client_for(app).get(f"{BASE}/big", max_bytes=4096)


def test_max_bytes_is_inclusive_with_a_content_length() -> None:
    app = Scripted(
        ("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "10")], b"x" * 10),
    )
    assert client_for(app).get(f"{BASE}/small", max_bytes=10).content == b"x" * 10
    with pytest.raises(IndexFetchError):
        client_for(Scripted(ok(b"x" * 11))).get(f"{BASE}/small", max_bytes=10)


def test_a_body_of_exactly_max_bytes_is_accepted() -> None:
    app = Scripted(("200 OK", [], b"y" * 4096), stream=True)
    assert len(client_for(app).get(f"{BASE}/x", max_bytes=4096).content) == 4096


def test_a_redirect_loop_is_a_clear_error() -> None:
    app = Scripted(status("302 Found", ("Location", "/loop")))
    with pytest.raises(IndexFetchError) as info:
        client_for(app).get(f"{SECRET_BASE}/loop")
    error = info.value
    assert "too many redirects" in str(error)
    assert error.hint is not None
    assert "loop" in error.hint
    assert "s3cret" not in str(error)
    assert 2 <= len(app.seen) <= 12  # bounded, not retried


def test_close_then_get_reopens() -> None:
    app = Scripted(ok())
    http = client_for(app)
    http.get(f"{BASE}/a")
    http.close()
    http.close()
    assert http.get(f"{BASE}/b").status == 200


def test_one_client_serves_many_threads() -> None:
    app = Scripted(ok())
    http = client_for(app)
    results: list[int] = []

    def work() -> None:
        results.append(http.get(f"{BASE}/x").status)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 8
    assert len(app.seen) == 8


# -- DNS: cached, hedged, never waiting for a stuck lookup ---------------------------

ADDR_A = [(2, 1, 6, "", ("192.0.2.1", 443))]
ADDR_B = [(2, 1, 6, "", ("192.0.2.2", 443))]


@pytest.fixture
def dns_cache(monkeypatch: pytest.MonkeyPatch) -> dict[Any, Any]:
    """A private, empty DNS cache for the test."""
    cache: dict[Any, Any] = {}
    monkeypatch.setattr(reqlock.index.transport, "_DNS_CACHE", cache)
    return cache


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at the end of the test: lets a blocked fake lookup (thread) finish."""
    event = threading.Event()
    yield event
    event.set()


class FakeLookup:
    """Answers the n-th call (0-based) with ``script[n]``: a callable run in the
    lookup's thread, whose result (or exception) is the answer."""

    def __init__(self, *script: Callable[[], Any]) -> None:
        self.script = list(script)
        self.calls: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def __call__(self, host: str, port: int) -> Any:
        with self._lock:
            n = len(self.calls)
            self.calls.append((host, port))
        return self.script[n]()


def answer(infos: Any) -> Callable[[], Any]:
    return lambda: infos


def fail(message: str) -> Callable[[], Any]:
    def run() -> Any:
        raise OSError(message)

    return run


def after(event: threading.Event, then: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        event.wait()
        return then()

    return run


resolve = reqlock.index.transport._resolve
NEVER = 3600.0  # a hedge delay no test reaches: the first answer must come first


def test_a_stuck_lookup_is_not_waited_for(
    dns_cache: dict[Any, Any], release: threading.Event
) -> None:
    # The first lookup hangs until the test ends; with no hedge delay the second is
    # asked at once, and its answer is returned while the first is still stuck.
    lookup = FakeLookup(after(release, answer(ADDR_A)), answer(ADDR_B))
    assert resolve("idx.example", 443, lookup=lookup, hedge_after=0) == ADDR_B
    assert lookup.calls == [("idx.example", 443)] * 2
    assert not release.is_set()  # returned while the first lookup was blocked
    assert dns_cache == {("idx.example", 443): ADDR_B}


def test_a_slow_first_answer_still_wins_when_the_hedge_fails(dns_cache: dict[Any, Any]) -> None:
    second_asked = threading.Event()

    def hedge() -> Any:
        second_asked.set()
        raise OSError("hedge lost")

    lookup = FakeLookup(after(second_asked, answer(ADDR_A)), hedge)
    assert resolve("idx.example", 443, lookup=lookup, hedge_after=0) == ADDR_A
    assert len(lookup.calls) == 2


def test_every_lookup_failing_raises_the_last_error(dns_cache: dict[Any, Any]) -> None:
    second_asked = threading.Event()

    def hedge() -> Any:
        second_asked.set()
        raise OSError("second failed")

    lookup = FakeLookup(after(second_asked, fail("first failed")), hedge)
    with pytest.raises(OSError, match=r"(first|second) failed"):
        resolve("idx.example", 443, lookup=lookup, hedge_after=0)
    assert len(lookup.calls) == 2
    assert dns_cache == {}  # a failure is not cached


def test_a_quick_answer_needs_no_hedge(dns_cache: dict[Any, Any]) -> None:
    lookup = FakeLookup(answer(ADDR_A))
    assert resolve("idx.example", 443, lookup=lookup, hedge_after=NEVER) == ADDR_A
    assert len(lookup.calls) == 1


def test_a_quick_failure_is_raised_without_a_hedge(dns_cache: dict[Any, Any]) -> None:
    lookup = FakeLookup(fail("Name or service not known"))
    with pytest.raises(OSError, match="not known"):
        resolve("nowhere.example", 443, lookup=lookup, hedge_after=NEVER)
    assert len(lookup.calls) == 1
    # Not cached: the next connection asks again.
    lookup = FakeLookup(answer(ADDR_A))
    assert resolve("nowhere.example", 443, lookup=lookup, hedge_after=NEVER) == ADDR_A


def test_an_answer_is_cached_for_the_process(dns_cache: dict[Any, Any]) -> None:
    lookup = FakeLookup(answer(ADDR_A))
    assert resolve("idx.example", 443, lookup=lookup) == ADDR_A
    assert resolve("idx.example", 443, lookup=lookup) == ADDR_A
    assert len(lookup.calls) == 1
    # Per host and port.
    other = FakeLookup(answer(ADDR_B))
    assert resolve("idx.example", 8443, lookup=other) == ADDR_B
    assert len(other.calls) == 1


def test_an_error_that_is_not_an_oserror_is_raised(dns_cache: dict[Any, Any]) -> None:
    def bad() -> Any:
        raise UnicodeError("label too long")

    with pytest.raises(UnicodeError):
        resolve("x" * 100, 443, lookup=FakeLookup(bad), hedge_after=NEVER)
