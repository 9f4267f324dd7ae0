"""One HTTP client for the index: connection reuse, bounded retries, size limits.

Requests go over :class:`reqlock.index.transport.Network` (keep-alive sockets,
a fraction of httpx's CPU per request). httpx is used, and imported, only when a
transport is injected (tests, embeddings) or a proxy is configured in the
environment (httpx honours ``HTTP(S)_PROXY``, ``ALL_PROXY`` and ``NO_PROXY``).
"""

from __future__ import annotations

__all__ = ["HttpClient", "Response"]

import base64
import contextlib
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urljoin, urlsplit

from reqlock import __version__
from reqlock.errors import IndexFetchError
from reqlock.index.auth import Credentials, IndexPolicy, origin_of
from reqlock.urls import redact_text, redact_url

if TYPE_CHECKING:
    import ssl

    import httpx

    from reqlock.index.transport import Network

# Statuses worth another try: the server or something in front of it is busy.
_TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_MAX_RETRY_AFTER = 30.0
_USER_AGENT = f"reqlock/{__version__}"
_PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy"})


@dataclass(frozen=True, kw_only=True, slots=True)
class Response:
    """What reqlock keeps of an HTTP answer."""

    url: str
    status: int
    headers: Mapping[str, str]
    content: bytes


class _Answer(Protocol):
    """An answer's head, its body on demand (a transport Reply or an httpx one)."""

    url: str
    status: int
    headers: dict[str, str]

    def read(self, max_bytes: int) -> bytes: ...

    def discard(self) -> None: ...

    def close(self) -> None: ...


class HttpClient:
    """A thread-safe HTTP client with retries for transient faults.

    ``transport`` lets tests mount an in-process WSGI app
    (``httpx.WSGITransport``) instead of the network.

    Redirects are followed here, not by the layer below, so that every hop is
    checked against the policy and gets only the credentials of its own origin.
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
        self._lock = threading.Lock()
        self._network: Network | None = None
        self._client: httpx.Client | None = None

    def _open(self, url: str, headers: dict[str, str], creds: tuple[str, str] | None) -> _Answer:
        """Send one GET; the answer's head (raises NetworkError)."""
        if self._transport is None and not _proxied():
            sent = headers
            if creds is not None:
                token = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
                sent = {**headers, "Authorization": f"Basic {token}"}
            return self._get_network().get(url, sent)
        return _HttpxAnswer(self._get_client(), url, headers, creds)

    def _get_network(self) -> Network:
        from reqlock.index.transport import Network

        with self._lock:
            if self._network is None:
                self._network = Network(
                    timeout=self._timeout,
                    connect_timeout=10.0,
                    user_agent=_USER_AGENT,
                    context=ssl_context,
                )
            return self._network

    def _get_client(self) -> httpx.Client:
        # One client for every thread: only tests and proxied machines come here.
        with self._lock:
            if self._client is not None:
                return self._client
            import httpx

            self._client = httpx.Client(
                transport=self._transport,
                verify=ssl_context() if self._transport is None else True,
                timeout=httpx.Timeout(self._timeout, connect=10.0),
                follow_redirects=False,  # get() follows them, checking every hop
                headers={"User-Agent": _USER_AGENT},
                event_hooks={"response": [_take_location]},
            )
            return self._client

    def add_credentials(self, credentials: Credentials) -> None:
        """Use these credentials too (for their origins)."""
        merged = {**credentials.by_origin, **self._credentials.by_origin}
        self._credentials = Credentials(by_origin=merged)

    def close(self) -> None:
        """Close every connection (of every thread)."""
        with self._lock:
            network, self._network = self._network, None
            client, self._client = self._client, None
        if network is not None:
            network.close()
        if client is not None:
            client.close()

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
        url: str,
        *,
        headers: dict[str, str],
        creds: tuple[str, str] | None,
        ok_statuses: frozenset[int],
        max_bytes: int,
        package: str | None,
    ) -> Response | str:
        """One hop, retried on transient faults: the response, or where it redirects."""
        # Imported here: the network (ssl) costs a lock that the cache answers nothing.
        from reqlock.index.transport import BodyTooLarge, NetworkError

        attempt = 0
        while True:
            delay = self._backoff * (2**attempt)
            try:
                answer = self._open(url, headers, creds)
                try:
                    status = answer.status
                    location = answer.headers.get("location")
                    if status in _REDIRECT_STATUSES and location is not None:
                        answer.discard()
                        return _redirect_target(answer.url, location, url, package)
                    if status in ok_statuses:
                        try:
                            body = answer.read(max_bytes)
                        except BodyTooLarge:
                            raise _too_large(url, package, max_bytes) from None
                        return Response(
                            url=answer.url, status=status, headers=answer.headers, content=body
                        )
                    if status not in _TRANSIENT_STATUSES or attempt >= self._retries:
                        raise _status_error(url, status, package)
                    retry_after = _retry_after(answer.headers.get("retry-after"))
                    if retry_after is not None:
                        delay = retry_after
                    answer.discard()
                finally:
                    answer.close()
            except NetworkError as exc:
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


class _HttpxAnswer:
    """An httpx answer, streamed, shaped like :class:`reqlock.index.transport.Reply`."""

    def __init__(self, client: httpx.Client, url: str, headers: dict[str, str], creds: Any) -> None:
        import httpx

        from reqlock.index.transport import NetworkError

        self._errors = (httpx.TransportError, httpx.DecodingError, httpx.StreamError)
        auth = httpx.BasicAuth(*creds) if creds else httpx.USE_CLIENT_DEFAULT
        self._stream = client.stream("GET", url, headers=headers, auth=auth)
        try:
            self._resp = resp = self._stream.__enter__()
        except self._errors as exc:
            raise NetworkError(str(exc) or type(exc).__name__) from None
        self.url = str(resp.url)
        self.status = resp.status_code
        self.headers = {k.lower(): v for k, v in resp.headers.items()}
        location = resp.extensions.get(_LOCATION)
        if isinstance(location, str):
            self.headers["location"] = location

    def read(self, max_bytes: int) -> bytes:
        from reqlock.index.transport import BodyTooLarge, NetworkError

        declared = self._resp.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise BodyTooLarge(int(declared))
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in self._resp.iter_bytes():
                total += len(chunk)
                if total > max_bytes:
                    raise BodyTooLarge(total)
                chunks.append(chunk)
        except self._errors as exc:
            raise NetworkError(str(exc) or type(exc).__name__) from None
        return b"".join(chunks)

    def discard(self) -> None:
        # A small body is read so that the connection can serve the next request.
        total = 0
        try:
            for chunk in self._resp.iter_raw():
                total += len(chunk)
                if total > _MAX_REDIRECT_BODY:
                    return  # closing the response drops the connection instead
        except self._errors:
            pass

    def close(self) -> None:
        with contextlib.suppress(*self._errors):
            self._stream.__exit__(None, None, None)


def ssl_context() -> ssl.SSLContext:
    """The certificates httpx trusts: ``SSL_CERT_FILE``, else ``SSL_CERT_DIR``, else
    certifi's bundle (certifi comes with httpx)."""
    import ssl

    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _proxied() -> bool:
    """Whether the environment names a proxy (then httpx, which honours it, is used)."""
    return any(value and key.lower() in _PROXY_VARIABLES for key, value in os.environ.items())


def _userinfo(url: str) -> tuple[str, str] | None:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return None
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    return (user, password) if user or password else None


def _redirect_target(base: str, location: str, source: str, package: str | None) -> str:
    try:
        target = urljoin(base, location.strip())
        netloc = urlsplit(target).netloc
        # A port out of range is the redirect check's to refuse; one that is not a
        # number, a bracket left open or a control character make no URL at all.
        port = netloc.rpartition("@")[2].rpartition("]")[2].partition(":")[2]
        if (port and not port.isdigit()) or any(ord(c) < 32 or ord(c) == 127 for c in target):
            raise ValueError(location)
    except ValueError:
        raise IndexFetchError(
            f"{redact_url(source)} redirects to an invalid URL",
            url=redact_url(source),
            package=package,
            hint="the index or a proxy in front of it is misbehaving",
        ) from None
    return target


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
