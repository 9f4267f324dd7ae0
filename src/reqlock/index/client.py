"""One HTTP client for the index: connection reuse, bounded retries, size limits.

httpx is imported lazily so that code paths which never touch the network (verify,
a fully cached lock) do not pay for it.
"""

from __future__ import annotations

__all__ = ["HttpClient", "Response", "redact_url"]

import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from reqlock import __version__
from reqlock.index.auth import Credentials, IndexPolicy
from reqlock.errors import IndexFetchError

if TYPE_CHECKING:
    import httpx

# Statuses worth another try: the server or something in front of it is busy.
_CLIENT_GROUPS = 4
_TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_MAX_RETRY_AFTER = 30.0


def redact_url(url: str) -> str:
    """``url`` without any user name or password, safe to show or store."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True, kw_only=True, slots=True)
class Response:
    """What reqlock keeps of an HTTP answer."""

    url: str
    status: int
    headers: Mapping[str, str]
    content: bytes


class HttpClient:
    """A thread-safe HTTP client with retries for transient faults.

    ``transport`` lets tests mount an in-process WSGI app
    (``httpx.WSGITransport``) instead of the network.
    """

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.25,
        credentials: Credentials | None = None,
        policy: IndexPolicy | None = None,
    ) -> None:
        self._transport = transport
        self._credentials = credentials or Credentials()
        # Without a policy (an embedding that set up its own transport) every URL
        # goes; reqlock.lock always passes one.
        self._policy = policy or IndexPolicy(allow_all=True)
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._assigned = 0
        self._ssl: Any = None
        self._lock = threading.Lock()

    def _get_client(self) -> httpx.Client:
        # Threads share a few clients rather than one: httpcore's pool rescans all
        # of its connections for every queued request, which with dozens of
        # threads on one pool cost a large share of a cold lock's CPU. One client
        # per thread is worse again: every thread pays its own TLS handshakes.
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is not None:
            return client
        with self._lock:
            self._assigned += 1
            if len(self._clients) >= _CLIENT_GROUPS:
                client = self._clients[self._assigned % _CLIENT_GROUPS]
                self._local.client = client
                return client
        import httpx

        client = httpx.Client(
            transport=self._transport or _pooled_transport(64, self._ssl_context()),
            verify=self._ssl_context(),
            timeout=httpx.Timeout(self._timeout, connect=10.0),
            follow_redirects=True,
            max_redirects=10,
            headers={"User-Agent": f"reqlock/{__version__}"},
        )
        self._local.client = client
        with self._lock:
            self._clients.append(client)
        return client

    def add_credentials(self, credentials: Credentials) -> None:
        """Use these credentials too (for their origins)."""
        merged = {**credentials.by_origin, **self._credentials.by_origin}
        self._credentials = Credentials(by_origin=merged)

    def _ssl_context(self) -> Any:
        # Loading the CA bundle takes ~20 ms; every client would do it again.
        with self._lock:
            if self._ssl is None:
                import httpx

                self._ssl = httpx.create_ssl_context(trust_env=True)
            return self._ssl

    def close(self) -> None:
        """Close every connection (of every thread)."""
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()
        self._local = threading.local()

    def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        ok_statuses: frozenset[int] = frozenset({200}),
        max_bytes: int = 512 * 1024 * 1024,
        package: str | None = None,
    ) -> Response:
        """GET ``url``; return the response when its status is in ``ok_statuses``.

        Transient faults (connection errors, resets, time-outs, 429 and 5xx) are
        retried with exponential backoff, honouring ``Retry-After``. Any other
        status, or a body larger than ``max_bytes``, raises
        :class:`~reqlock.errors.IndexFetchError` naming the URL without credentials.
        """
        import httpx

        if not self._policy.allows(url):
            raise IndexFetchError(
                f"refusing to fetch {redact_url(url)}: plain http to a host not allowed",
                url=redact_url(url),
                package=package,
                hint="the index links to an insecure URL; allow the host with "
                "--allow-insecure-host only if you trust the network",
            )
        creds = self._credentials.for_url(url)
        auth = httpx.BasicAuth(*creds) if creds else None
        client = self._get_client()
        attempt = 0
        while True:
            delay = self._backoff * (2**attempt)
            try:
                with client.stream(
                    "GET", url, headers=dict(headers or {}), auth=auth or httpx.USE_CLIENT_DEFAULT
                ) as resp:
                    status = resp.status_code
                    if status in ok_statuses:
                        body = _read_limited(resp, max_bytes, url, package)
                        return Response(
                            url=str(resp.url),
                            status=status,
                            headers={k.lower(): v for k, v in resp.headers.items()},
                            content=body,
                        )
                    if status not in _TRANSIENT_STATUSES or attempt >= self._retries:
                        raise _status_error(url, status, package)
                    retry_after = _retry_after(resp.headers.get("retry-after"))
                    if retry_after is not None:
                        delay = retry_after
            except httpx.TooManyRedirects as exc:
                raise IndexFetchError(
                    f"too many redirects fetching {redact_url(url)}",
                    url=redact_url(url),
                    package=package,
                    hint="the index redirects in a loop; check the index URL",
                ) from exc
            except (httpx.TransportError, httpx.DecodingError) as exc:
                if attempt >= self._retries:
                    raise IndexFetchError(
                        f"could not fetch {redact_url(url)}: {_describe(exc)}"
                        f" (after {attempt + 1} attempts)",
                        url=redact_url(url),
                        package=package,
                        hint="check the network and the index URL, or use --offline "
                        "with a filled cache",
                    ) from None
            attempt += 1
            time.sleep(delay)


def _pooled_transport(max_connections: int, ssl_context: Any) -> httpx.BaseTransport:
    """httpx's transport, with host names resolved once per process.

    Each new connection otherwise makes its own DNS lookup; with dozens of
    connections opened at once, a lost lookup packet here stalls one of them for the
    resolver's 5 s retry (seen on the machines we run on).
    """
    import httpx

    transport = httpx.HTTPTransport(
        verify=ssl_context,
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
    )
    pool = getattr(transport, "_pool", None)
    # httpcore keeps its network backend in a private attribute; if a future
    # version renames it, we simply keep httpx's default behaviour.
    if pool is not None and hasattr(pool, "_network_backend"):
        pool._network_backend = _caching_backend()
    return transport


_DNS_CACHE: dict[tuple[str, int], list[tuple[Any, ...]]] = {}
_DNS_LOCK = threading.Lock()
_DNS_HEDGE_AFTER = 1.0


def _resolve(host: str, port: int) -> list[tuple[Any, ...]]:
    """getaddrinfo, cached for the process; a slow lookup is asked again in
    parallel after a second, and the first answer wins."""
    import socket
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    key = (host, port)
    with _DNS_LOCK:
        found = _DNS_CACHE.get(key)
    if found is not None:
        return found

    def lookup() -> list[tuple[Any, ...]]:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="reqlock-dns") as pool:
        first = pool.submit(lookup)
        done, _ = wait([first], timeout=_DNS_HEDGE_AFTER)
        futures = [first] if done else [first, pool.submit(lookup)]
        error: BaseException | None = None
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                try:
                    result = [tuple(info) for info in fut.result()]
                except OSError as exc:
                    error = exc
                    continue
                with _DNS_LOCK:
                    _DNS_CACHE[key] = result
                pool.shutdown(wait=False, cancel_futures=True)
                return result
        assert error is not None
        raise error


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


def _read_limited(resp: Any, max_bytes: int, url: str, package: str | None) -> bytes:
    declared = resp.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(url, package, max_bytes)
    chunks: list[bytes] = []
    total = 0
    for chunk in resp.iter_bytes():
        total += len(chunk)
        if total > max_bytes:
            raise _too_large(url, package, max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(url: str, package: str | None, max_bytes: int) -> IndexFetchError:
    return IndexFetchError(
        f"{redact_url(url)} sent more than {max_bytes // (1024 * 1024)} MiB; refusing it",
        url=redact_url(url),
        package=package,
        hint="the server's answer is far larger than an index page or file should be",
    )


def _status_error(url: str, status: int, package: str | None) -> IndexFetchError:
    hints = {
        401: "the index needs credentials: put them in the index URL, a netrc file "
        "or REQLOCK_INDEX_URL",
        403: "the index refused access; check the credentials",
        404: "the URL does not exist on the index",
    }
    return IndexFetchError(
        f"{redact_url(url)} answered HTTP {status}",
        url=redact_url(url),
        package=package,
        hint=hints.get(status),
    )


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), _MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, min(when.timestamp() - time.time(), _MAX_RETRY_AFTER))


_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]*@")


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    # httpx messages can quote the URL; never let credentials through.
    return _USERINFO.sub(r"\1", text)
