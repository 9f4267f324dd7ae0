"""HttpClient follows redirects itself: every hop checked, credentials by origin."""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from types import SimpleNamespace

import httpx
import pytest

import reqlock.index.client
from reqlock.errors import IndexFetchError
from reqlock.index.auth import Credentials, IndexPolicy
from reqlock.index.client import HttpClient

IDX = "https://idx.example"
CDN = "https://cdn.example"
ALICE = ("alice", "s3cret")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Site:
    """An in-process web: each URL answers a scripted response (404 otherwise);
    every request is recorded with its method and Authorization header."""

    def __init__(self, routes: Mapping[str, httpx.Response | list[httpx.Response]]) -> None:
        self.routes = {url: list(r) if isinstance(r, list) else [r] for url, r in routes.items()}
        self.seen: list[tuple[str, str, str | None]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.seen.append((request.method, url, request.headers.get("authorization")))
        replies = self.routes.get(url)
        if not replies:
            return httpx.Response(404, content=b"not here")
        return replies.pop(0) if len(replies) > 1 else replies[0]

    def urls(self) -> list[str]:
        return [url for _, url, _ in self.seen]

    def auth_for(self, url: str) -> list[str | None]:
        return [auth for _, seen, auth in self.seen if seen == url]


def moved(location: str, code: int = 302) -> httpx.Response:
    return httpx.Response(code, headers={"Location": location}, content=b"moved")


def ok(body: bytes = b"ok") -> httpx.Response:
    return httpx.Response(200, content=body)


def client(site: Site, **kw: object) -> HttpClient:
    kw.setdefault("backoff", 0.0)
    return HttpClient(transport=httpx.MockTransport(site), **kw)  # type: ignore[arg-type]


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr(
        reqlock.index.client, "time", SimpleNamespace(sleep=recorded.append, time=time.time)
    )
    return recorded


# -- the policy is checked on every hop ----------------------------------------------


def test_a_redirect_from_https_to_plain_http_is_refused_naming_both_urls() -> None:
    site = Site({f"{IDX}/simple/a/": moved("http://user:pw@evil.example/simple/a/")})
    http = client(site, policy=IndexPolicy())
    with pytest.raises(IndexFetchError) as info:
        http.get(f"{IDX}/simple/a/", package="a")
    error = info.value
    assert "http://evil.example/simple/a/" in str(error)
    assert f"{IDX}/simple/a/" in str(error)
    assert "plain http" in str(error)
    assert error.url == "http://evil.example/simple/a/"
    assert error.package == "a"
    assert "pw" not in str(error)
    assert "user" not in str(error)
    assert error.hint is not None
    assert "--allow-insecure-host" in error.hint
    assert site.urls() == [f"{IDX}/simple/a/"]  # evil was never asked


def test_a_refused_hop_deep_in_a_chain_names_the_url_that_redirected() -> None:
    site = Site(
        {
            f"{IDX}/a": moved(f"{CDN}/b"),
            f"{CDN}/b": moved("http://evil.example/c"),
        }
    )
    with pytest.raises(IndexFetchError) as info:
        client(site, policy=IndexPolicy()).get(f"{IDX}/a")
    assert f"from {CDN}/b to http://evil.example/c" in str(info.value)
    assert site.urls() == [f"{IDX}/a", f"{CDN}/b"]


def test_a_refused_redirect_is_not_retried(sleeps: list[float]) -> None:
    site = Site({f"{IDX}/a": moved("http://evil.example/")})
    with pytest.raises(IndexFetchError):
        client(site, policy=IndexPolicy(), retries=3).get(f"{IDX}/a")
    assert len(site.seen) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    "target",
    ["http://127.0.0.1:8080/simple/", "http://localhost/simple/", "http://lan-mirror/simple/"],
)
def test_a_redirect_to_an_allowed_http_host_is_followed(target: str) -> None:
    site = Site({f"{IDX}/simple/": moved(target), target: ok(b"mirror")})
    policy = IndexPolicy(insecure_hosts=frozenset({"lan-mirror"}))
    resp = client(site, policy=policy).get(f"{IDX}/simple/")
    assert resp.content == b"mirror"
    assert resp.url == target


def test_without_a_policy_http_redirects_are_allowed() -> None:
    # HttpClient(policy=None) allows every http(s) URL: an embedding's own choice.
    site = Site({f"{IDX}/a": moved("http://other.example/b"), "http://other.example/b": ok()})
    assert client(site).get(f"{IDX}/a").url == "http://other.example/b"


@pytest.mark.parametrize(
    "target", ["ftp://files.example/x.whl", "file:///etc/passwd", "javascript:alert(1)"]
)
@pytest.mark.parametrize("policy", [None, IndexPolicy()], ids=["no-policy", "policy"])
def test_a_redirect_to_another_scheme_is_always_refused(
    target: str, policy: IndexPolicy | None
) -> None:
    site = Site({f"{IDX}/a": moved(target)})
    with pytest.raises(IndexFetchError) as info:
        client(site, policy=policy).get(f"{IDX}/a")
    assert "not an http(s) URL" in str(info.value)
    assert f"{IDX}/a" in str(info.value)
    assert len(site.seen) == 1


# -- credentials go to their own origin only -----------------------------------------


def test_credentials_are_not_forwarded_to_another_host() -> None:
    site = Site({f"{IDX}/simple/a/": moved(f"{CDN}/simple/a/"), f"{CDN}/simple/a/": ok()})
    creds = Credentials(by_origin={("https", "idx.example", 443): ALICE})
    resp = client(site, credentials=creds, policy=IndexPolicy()).get(f"{IDX}/simple/a/")
    assert resp.url == f"{CDN}/simple/a/"
    assert site.auth_for(f"{IDX}/simple/a/") == [basic(*ALICE)]
    assert site.auth_for(f"{CDN}/simple/a/") == [None]


def test_credentials_in_the_url_are_not_forwarded_to_another_host() -> None:
    site = Site({f"{IDX}/simple/a/": moved(f"{CDN}/simple/a/"), f"{CDN}/simple/a/": ok()})
    resp = client(site).get("https://alice:s3cret@idx.example/simple/a/")
    assert site.auth_for(f"{IDX}/simple/a/") == [basic(*ALICE)]
    assert site.auth_for(f"{CDN}/simple/a/") == [None]
    assert "s3cret" not in resp.url


def test_credentials_are_attached_per_hop_by_origin() -> None:
    # idx -> cdn -> idx: the index's credentials on both of its hops, the CDN's own
    # on the CDN's (and neither crosses over).
    bob = ("bob", "cdn-token")
    site = Site(
        {
            f"{IDX}/a": moved(f"{CDN}/b"),
            f"{CDN}/b": moved(f"{IDX}/c"),
            f"{IDX}/c": ok(),
        }
    )
    creds = Credentials(
        by_origin={("https", "idx.example", 443): ALICE, ("https", "cdn.example", 443): bob}
    )
    client(site, credentials=creds).get(f"{IDX}/a")
    assert [auth for _, _, auth in site.seen] == [basic(*ALICE), basic(*bob), basic(*ALICE)]


def test_another_port_or_scheme_is_another_origin() -> None:
    site = Site(
        {
            f"{IDX}/a": moved("https://idx.example:8443/b"),
            "https://idx.example:8443/b": moved("http://idx.example/c"),
            "http://idx.example/c": ok(),
        }
    )
    creds = Credentials(by_origin={("https", "idx.example", 443): ALICE})
    client(site, credentials=creds).get(f"{IDX}/a")
    assert [auth for _, _, auth in site.seen] == [basic(*ALICE), None, None]


def test_credentials_stay_on_a_same_origin_redirect() -> None:
    site = Site(
        {
            f"{IDX}/simple/a/": moved(f"{IDX}/mirror/simple/a/"),
            f"{IDX}/mirror/simple/a/": moved("../../../simple/b/"),
            f"{IDX}/simple/b/": ok(),
        }
    )
    client(site).get("https://alice:s3cret@idx.example/simple/a/")
    assert [auth for _, _, auth in site.seen] == [basic(*ALICE)] * 3


def test_an_authorization_header_given_by_the_caller_stays_on_its_origin() -> None:
    site = Site({f"{IDX}/a": moved(f"{CDN}/b"), f"{CDN}/b": ok()})
    client(site).get(f"{IDX}/a", headers={"Authorization": "Bearer t0ken", "Accept": "x/y"})
    assert [auth for _, _, auth in site.seen] == ["Bearer t0ken", None]


def test_user_info_in_a_location_is_dropped() -> None:
    site = Site({f"{IDX}/a": moved("https://mallory:pw@cdn.example/b"), f"{CDN}/b": ok()})
    resp = client(site).get(f"{IDX}/a")
    assert resp.url == f"{CDN}/b"
    assert site.seen[-1] == ("GET", f"{CDN}/b", None)


# -- following -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/other/x", f"{IDX}/other/x"),
        ("../b/", f"{IDX}/simple/b/"),
        ("c", f"{IDX}/simple/a/c"),
        ("?page=2", f"{IDX}/simple/a/?page=2"),
        ("//cdn.example/f", f"{CDN}/f"),
    ],
)
def test_a_relative_location_resolves_against_the_current_url(location: str, expected: str) -> None:
    site = Site({f"{IDX}/simple/a/": moved(location), expected: ok(b"there")})
    resp = client(site, policy=IndexPolicy()).get(f"{IDX}/simple/a/")
    assert resp.content == b"there"
    assert resp.url == expected
    assert site.urls() == [f"{IDX}/simple/a/", expected]


def test_relative_locations_resolve_against_each_hop() -> None:
    site = Site(
        {
            f"{IDX}/a/b/": moved(f"{CDN}/x/y/"),
            f"{CDN}/x/y/": moved("../z"),
            f"{CDN}/x/z": ok(),
        }
    )
    assert client(site).get(f"{IDX}/a/b/").url == f"{CDN}/x/z"


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_every_redirect_status_is_followed_with_a_get(code: int) -> None:
    site = Site({f"{IDX}/a": moved("/b", code), f"{IDX}/b": ok(b"b")})
    resp = client(site).get(f"{IDX}/a")
    assert resp.content == b"b"
    assert resp.status == 200
    assert [(method, url) for method, url, _ in site.seen] == [
        ("GET", f"{IDX}/a"),
        ("GET", f"{IDX}/b"),
    ]


def test_a_redirect_without_location_is_an_answer_not_a_hop() -> None:
    site = Site({f"{IDX}/a": httpx.Response(302)})
    with pytest.raises(IndexFetchError, match="HTTP 302"):
        client(site).get(f"{IDX}/a")
    resp = client(site).get(f"{IDX}/a", ok_statuses=frozenset({302}))
    assert resp.status == 302


def test_a_redirect_loop_is_a_clear_error_and_not_retried(sleeps: list[float]) -> None:
    site = Site({f"{IDX}/a": moved("/b"), f"{IDX}/b": moved("/a")})
    with pytest.raises(IndexFetchError) as info:
        client(site, retries=3).get("https://alice:s3cret@idx.example/a", package="a")
    error = info.value
    assert "too many redirects" in str(error)
    assert error.url == f"{IDX}/a"
    assert error.hint is not None
    assert "loop" in error.hint
    assert "s3cret" not in str(error)
    assert len(site.seen) == 11  # the first request and 10 redirects
    assert sleeps == []


def test_ten_redirects_are_followed_and_an_eleventh_is_too_many() -> None:
    chain = {f"{IDX}/{i}": moved(f"/{i + 1}") for i in range(10)}
    site = Site({**chain, f"{IDX}/10": ok(b"end")})
    assert client(site).get(f"{IDX}/0").url == f"{IDX}/10"
    site = Site({**chain, f"{IDX}/10": moved("/11"), f"{IDX}/11": ok()})
    with pytest.raises(IndexFetchError, match="too many redirects"):
        client(site).get(f"{IDX}/0")
    assert f"{IDX}/11" not in site.urls()


def test_a_transient_fault_after_a_redirect_retries_that_hop(sleeps: list[float]) -> None:
    site = Site(
        {
            f"{IDX}/a": moved(f"{CDN}/b"),
            f"{CDN}/b": [httpx.Response(503), httpx.Response(503), ok(b"b")],
        }
    )
    resp = client(site, retries=3, backoff=0.5).get(f"{IDX}/a")
    assert resp.content == b"b"
    assert site.urls() == [f"{IDX}/a", f"{CDN}/b", f"{CDN}/b", f"{CDN}/b"]
    assert sleeps == [0.5, 1.0]


def test_a_persistent_fault_after_a_redirect_names_the_failing_url(sleeps: list[float]) -> None:
    site = Site({f"{IDX}/a": moved(f"{CDN}/b"), f"{CDN}/b": httpx.Response(503)})
    with pytest.raises(IndexFetchError) as info:
        client(site, retries=1).get(f"{IDX}/a")
    assert info.value.url == f"{CDN}/b"
    assert "HTTP 503" in str(info.value)


def test_ok_statuses_and_limits_apply_to_the_final_answer() -> None:
    site = Site({f"{IDX}/a": moved("/b"), f"{IDX}/b": httpx.Response(404, content=b"")})
    assert client(site).get(f"{IDX}/a", ok_statuses=frozenset({200, 404})).status == 404
    site = Site({f"{IDX}/a": moved("/b"), f"{IDX}/b": ok(b"x" * 100)})
    with pytest.raises(IndexFetchError, match="refusing"):
        client(site).get(f"{IDX}/a", max_bytes=10)


def test_a_large_redirect_body_does_not_count_against_max_bytes() -> None:
    big = httpx.Response(302, headers={"Location": "/b"}, content=b"x" * 200_000)
    site = Site({f"{IDX}/a": big, f"{IDX}/b": ok(b"small")})
    assert client(site).get(f"{IDX}/a", max_bytes=10).content == b"small"


def test_the_callers_headers_go_to_every_hop() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("accept"))
        if request.url.path == "/a":
            return moved(f"{CDN}/b")
        return ok()

    HttpClient(transport=httpx.MockTransport(handler)).get(
        f"{IDX}/a", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    assert seen == ["application/vnd.pypi.simple.v1+json"] * 2


@pytest.mark.parametrize("location", ["https://h:abc/", "http://[::1", "https://a\x00b/"])
def test_an_unparsable_location_is_a_clear_error(location: str, sleeps: list[float]) -> None:
    site = Site({f"{IDX}/a": moved(location)})
    with pytest.raises(IndexFetchError) as info:
        client(site, retries=3).get("https://alice:s3cret@idx.example/a")
    assert "redirects to an invalid URL" in str(info.value)
    assert info.value.url == f"{IDX}/a"
    assert "s3cret" not in str(info.value)
    assert len(site.seen) == 1  # not retried
    assert sleeps == []


def test_a_location_with_a_port_out_of_range_is_refused() -> None:
    site = Site({f"{IDX}/a": moved("https://cdn.example:99999/b")})
    with pytest.raises(IndexFetchError, match="not an http"):
        client(site).get(f"{IDX}/a")
