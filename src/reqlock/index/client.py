"""One HTTP client for the index: connection reuse, bounded retries, size limits.

httpx is imported lazily so that code paths which never touch the network (verify,
a fully cached lock) do not pay for it.
"""

from __future__ import annotations

__all__ = ["HttpClient", "Response"]

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from reqlock import __version__
from reqlock.errors import IndexFetchError
from reqlock.index.auth import Credentials, IndexPolicy, origin_of
from reqlock.urls import redact_text, redact_url

if TYPE_CHECKING:
    import httpx

# Statuses worth another try: the server or something in front of it is busy.
_CLIENT_GROUPS = 4
_TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_MAX_RETRY_AFTER = 30.0


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

    Redirects are followed here, not by httpx, so that every hop is checked
    against the policy and gets only the credentials of its own origin.
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
        # Without a policy (an embedding that set up its own transport) every http(s)
        # URL goes; reqlock.lock always passes one.
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
            follow_redirects=False,  # get() follows them, checking every hop
            headers={"User-Agent": f"reqlock/{__version__}"},
            event_hooks={"response": [_take_location]},
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

        Redirects (301, 302, 303, 307, 308) are followed, at most
        ``_MAX_REDIRECTS`` of them; every hop must be an http(s) URL the policy
        allows, and is sent only the credentials of its own origin. The returned
        :attr:`Response.url` is the last hop's, without credentials.

        Transient faults (connection errors, resets, time-outs, 429 and 5xx) are
        retried with exponential backoff, honouring ``Retry-After``. Any other
        status, a refused redirect, or a body larger than ``max_bytes``, raises
        :class:`~reqlock.errors.IndexFetchError` naming the URL without credentials.
        """
        if not self._policy.allows(url):
            raise IndexFetchError(
                f"refusing to fetch {redact_url(url)}: plain http to a host not allowed",
                url=redact_url(url),
                package=package,
                hint="the index links to an insecure URL; allow the host with "
                "--allow-insecure-host only if you trust the network",
            )
        client = self._get_client()
        given = dict(headers or {})
        first_origin = origin_of(url)
        # Credentials written into the URL belong to its origin, like any others.
        url_creds = _userinfo(url)
        current = redact_url(url)
        redirects = 0
        while True:
            origin = origin_of(current)
            creds = self._credentials.for_url(current)
            if creds is None and origin == first_origin:
                creds = url_creds
            hop_headers = given
            if origin != first_origin:
                hop_headers = {
                    k: v for k, v in given.items() if k.lower() not in _ORIGIN_BOUND_HEADERS
                }
            answer = self._get_once(
                client,
                current,
                headers=hop_headers,
                creds=creds,
                ok_statuses=ok_statuses,
                max_bytes=max_bytes,
                package=package,
            )
            if isinstance(answer, Response):
                return answer
            if redirects >= _MAX_REDIRECTS:
                raise IndexFetchError(
                    f"too many redirects fetching {redact_url(url)}",
                    url=redact_url(url),
                    package=package,
                    hint="the index redirects in a loop; check the index URL",
                )
            self._check_redirect(current, answer, package)
            redirects += 1
            current = redact_url(answer)

    def _get_once(
        self,
        client: httpx.Client,
        url: str,
        *,
        headers: dict[str, str],
        creds: tuple[str, str] | None,
        ok_statuses: frozenset[int],
        max_bytes: int,
        package: str | None,
    ) -> Response | str:
        """One hop, retried on transient faults: the response, or where it redirects."""
        import httpx

        auth = httpx.BasicAuth(*creds) if creds else None
        attempt = 0
        while True:
            delay = self._backoff * (2**attempt)
            try:
                with client.stream(
                    "GET", url, headers=headers, auth=auth or httpx.USE_CLIENT_DEFAULT
                ) as resp:
                    status = resp.status_code
                    location = resp.extensions.get(_LOCATION)
                    if isinstance(location, str):
                        _drain(resp)
                        return _redirect_target(resp.url, location, url, package)
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

    def _check_redirect(self, source: str, target: str, package: str | None) -> None:
        """Refuse a redirect to anything but an http(s) URL the policy allows."""
        try:
            scheme, host, _ = origin_of(target)
        except ValueError:  # e.g. a port out of range
            scheme = host = ""
        if scheme not in ("http", "https") or not host:
            reason = "not an http(s) URL"
            hint = "the index redirects to a URL reqlock cannot fetch; check the index URL"
        elif not self._policy.allows(target):
            reason = "plain http to a host not allowed"
            hint = (
                "the index redirects to an insecure URL; allow the host with "
                "--allow-insecure-host only if you trust the network"
            )
        else:
            return
        raise IndexFetchError(
            f"refusing the redirect from {redact_url(source)} to {redact_url(target)}: {reason}",
            url=redact_url(target),
            package=package,
            hint=hint,
        )


_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 10
# A redirect's body is read (to keep the connection) only when it is this small.
_MAX_REDIRECT_BODY = 64 * 1024
# Caller headers that must not follow a redirect to another origin.
_ORIGIN_BOUND_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
# Where _take_location puts a redirect's Location (a response extension).
_LOCATION = "reqlock.location"


def _take_location(resp: httpx.Response) -> None:
    """Move a redirect's Location out of httpx's sight (into the extensions).

    Even when it does not follow a redirect, httpx works out the next request, and
    raises on a Location it cannot parse; get() follows and judges redirects
    itself, so httpx must not see one.
    """
    if resp.status_code in _REDIRECT_STATUSES and "location" in resp.headers:
        resp.extensions = {**resp.extensions, _LOCATION: resp.headers.pop("location")}


def _userinfo(url: str) -> tuple[str, str] | None:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return None
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    return (user, password) if user or password else None


def _drain(resp: httpx.Response) -> None:
    """Read a (small) redirect body so that the connection can serve the next hop."""
    import httpx

    total = 0
    try:
        for chunk in resp.iter_raw():
            total += len(chunk)
            if total > _MAX_REDIRECT_BODY:
                return  # closing the response drops the connection instead
    except (httpx.TransportError, httpx.StreamError):
        pass  # the Location is all we need


def _redirect_target(base: httpx.URL, location: str, source: str, package: str | None) -> str:
    import httpx

    try:
        return str(base.join(location.strip()))
    except (httpx.InvalidURL, ValueError, TypeError):
        raise IndexFetchError(
            f"{redact_url(source)} redirects to an invalid URL",
            url=redact_url(source),
            package=package,
            hint="the index or a proxy in front of it is misbehaving",
        ) from None


def _pooled_transport(
    max_connections: int, ssl_context: Any, *, network_backend: Any = None
) -> httpx.BaseTransport:
    """A transport over an httpcore connection pool whose network backend resolves
    host names once per process (``network_backend`` replaces it, for tests).

    Each new connection otherwise makes its own DNS lookup; with dozens of
    connections opened at once, a lost lookup packet here stalls one of them for the
    resolver's 5 s retry (seen on the machines we run on).
    """
    import httpcore
    import httpx

    # httpcore's errors and the httpx ones the retry logic knows; the most specific
    # first, so that a subclass httpcore may add later still maps to its family.
    errors: list[tuple[type[Exception], type[httpx.TransportError]]] = [
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
    core_errors = tuple(core for core, _ in errors)

    def translate(exc: Exception, request: httpx.Request) -> httpx.TransportError:
        for core, ours in errors:
            if isinstance(exc, core):
                return ours(str(exc), request=request)
        return httpx.TransportError(str(exc), request=request)  # pragma: no cover

    class Body(httpx.SyncByteStream):
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
            except core_errors as exc:
                raise translate(exc, self._request) from exc

        def close(self) -> None:
            try:
                self._response.close()
            except core_errors as exc:
                raise translate(exc, self._request) from exc

    class PoolTransport(httpx.BaseTransport):
        """httpx requests over an httpcore pool, with httpcore's errors as httpx's."""

        def __init__(self) -> None:
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
            except core_errors as exc:
                raise translate(exc, request) from exc
            return httpx.Response(
                status_code=core_response.status,
                headers=core_response.headers,
                stream=Body(core_response, request),
                extensions=core_response.extensions,
            )

        def close(self) -> None:
            self._pool.close()

    return PoolTransport()


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


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    # httpx messages can quote the URL; never let credentials through.
    return redact_text(text)
