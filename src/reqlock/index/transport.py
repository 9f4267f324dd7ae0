"""The network under the HTTP client: an httpx transport over httpcore's public
connection pool, with host names resolved once per process.

Imported only when a real network client is made (tests inject their own
transport), so importing :mod:`reqlock.index.client` stays cheap.
"""

from __future__ import annotations

__all__ = ["PoolTransport", "pooled_transport"]

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import httpcore
import httpx

# httpcore's errors and the httpx ones the retry logic knows; the most specific
# first, so that a subclass httpcore may add later still maps to its family.
_ERRORS: list[tuple[type[Exception], type[httpx.TransportError]]] = [
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
]
_CORE_ERRORS = tuple(core for core, _ in _ERRORS)


def _translate(exc: Exception, request: httpx.Request) -> httpx.TransportError:
    for core, ours in _ERRORS:
        if isinstance(exc, core):
            return ours(str(exc), request=request)
    return httpx.TransportError(str(exc), request=request)  # pragma: no cover


class _Body(httpx.SyncByteStream):
    """The body of an httpcore response, read chunk by chunk."""

    def __init__(self, response: httpcore.Response, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        stream = self._response.stream
        if not isinstance(stream, Iterable):  # pragma: no cover - a sync pool
            raise TypeError("expected a synchronous response stream")
        try:
            yield from stream
        except _CORE_ERRORS as exc:
            raise _translate(exc, self._request) from exc

    def close(self) -> None:
        try:
            self._response.close()
        except _CORE_ERRORS as exc:
            raise _translate(exc, self._request) from exc


class PoolTransport(httpx.BaseTransport):
    """httpx requests over an httpcore pool, with httpcore's errors as httpx's."""

    def __init__(self, max_connections: int, ssl_context: Any, network_backend: Any) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=5.0,  # httpx's default
            network_backend=network_backend or _caching_backend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        content = request.stream
        if not isinstance(content, httpx.SyncByteStream):  # pragma: no cover
            raise TypeError("expected a synchronous request body")
        url = request.url
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme,
                host=url.raw_host,
                port=url.port,
                target=url.raw_path,
            ),
            headers=request.headers.raw,
            content=content,
            extensions=request.extensions,
        )
        try:
            core_response = self._pool.handle_request(core_request)
        except _CORE_ERRORS as exc:
            raise _translate(exc, request) from exc
        return httpx.Response(
            status_code=core_response.status,
            headers=core_response.headers,
            stream=_Body(core_response, request),
            extensions=core_response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def pooled_transport(
    max_connections: int, ssl_context: Any, *, network_backend: Any = None
) -> httpx.BaseTransport:
    """A transport over an httpcore connection pool whose network backend resolves
    host names once per process (``network_backend`` replaces it, for tests).

    Each new connection otherwise makes its own DNS lookup; with dozens of
    connections opened at once, a lost lookup packet here stalls one of them for the
    resolver's 5 s retry (seen on the machines we run on).
    """
    return PoolTransport(max_connections, ssl_context, network_backend)


_DNS_CACHE: dict[tuple[str, int], list[tuple[Any, ...]]] = {}
_DNS_LOCK = threading.Lock()
_DNS_HEDGE_AFTER = 1.0

_Lookup = Callable[[str, int], Iterable[Sequence[Any]]]


def _getaddrinfo(host: str, port: int) -> list[tuple[Any, ...]]:
    import socket

    return [tuple(info) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def _resolve(
    host: str,
    port: int,
    *,
    lookup: _Lookup = _getaddrinfo,
    hedge_after: float = _DNS_HEDGE_AFTER,
) -> list[tuple[Any, ...]]:
    """``lookup`` (getaddrinfo), cached for the process; a lookup without an answer
    after ``hedge_after`` seconds is asked again in parallel, and the first
    successful answer wins. When every lookup fails, the last error is raised.

    Lookups run in daemon threads that nobody waits for: a stuck one is left behind
    (its late answer is dropped) instead of holding up the caller.
    """
    key = (host, port)
    with _DNS_LOCK:
        found = _DNS_CACHE.get(key)
    if found is not None:
        return found

    answers: queue.SimpleQueue[list[tuple[Any, ...]] | Exception] = queue.SimpleQueue()

    def run() -> None:
        try:
            answers.put([tuple(info) for info in lookup(host, port)])
        except Exception as exc:  # handed to the caller
            answers.put(exc)

    def start() -> None:
        threading.Thread(target=run, name="reqlock-dns", daemon=True).start()

    start()
    running = 1
    try:
        answer = answers.get(timeout=max(hedge_after, 0.0))
    except queue.Empty:
        start()
        running += 1
        answer = answers.get()
    while True:
        running -= 1
        if not isinstance(answer, Exception):
            with _DNS_LOCK:
                _DNS_CACHE[key] = answer
            return answer
        if not isinstance(answer, OSError) or running == 0:
            raise answer
        answer = answers.get()


def _caching_backend() -> Any:
    import socket

    import httpcore

    class CachingBackend(httpcore.SyncBackend):
        def connect_tcp(
            self,
            host: str,
            port: int,
            timeout: float | None = None,
            local_address: str | None = None,
            socket_options: Any = None,
        ) -> Any:
            try:
                infos = _resolve(host, port)
            except OSError as exc:
                raise httpcore.ConnectError(str(exc)) from exc
            last: Exception | None = None
            for family, _, _, _, address in infos:
                if family not in (socket.AF_INET, socket.AF_INET6):
                    continue
                try:
                    return super().connect_tcp(
                        address[0], port, timeout, local_address, socket_options
                    )
                except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                    last = exc
            if last is not None:
                raise last
            raise httpcore.ConnectError(f"no address for {host}")

    return CachingBackend()
