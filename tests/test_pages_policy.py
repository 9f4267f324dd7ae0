"""File URLs on project pages obey the index policy: http(s) only, and plain http
only to the hosts the policy allows. Refused files are dropped with a warning."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from packaging.version import Version

from reqlock.index.auth import IndexPolicy
from reqlock.index.client import HttpClient
from reqlock.index.index import Index
from reqlock.index.pages import file_url_problem
from reqlock.progress import Reporter
from tests.fakeindex import FakeIndexApp
from tests.test_index import AlterBody, forbidden_build

MakeApp = Callable[..., FakeIndexApp]
PAGE = "/simple/leaf-a/"
WHEEL_10 = "leaf_a-1.0-py3-none-any.whl"
SDIST_10 = "leaf_a-1.0.tar.gz"
WHEEL_11 = "leaf_a-1.1-py3-none-any.whl"
SDIST_11 = "leaf_a-1.1.tar.gz"
WHEEL_20 = "leaf_a-2.0-py3-none-any.whl"
SECRET = "s3cret-token"


def allow_any(url: str) -> bool:
    return True


@pytest.mark.parametrize(
    "url",
    [
        "ftp://files.example/leaf_a-1.0.tar.gz",
        "file:///etc/passwd",
        "file:/etc/passwd",
        "javascript:alert(1)",
        "data:application/zip;base64,UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==",
        "//files.example/no-scheme.whl",
        "https://files.example/a b.whl",
    ],
)
def test_urls_that_are_not_http_s_have_a_problem(url: str) -> None:
    assert file_url_problem(url, allow_any) is not None


def test_the_policy_decides_for_http_s_urls() -> None:
    policy = IndexPolicy(insecure_hosts=frozenset({"mirror.example"}))
    assert file_url_problem("https://cdn.example/x.whl", policy.allows) is None
    assert file_url_problem("http://mirror.example/x.whl", policy.allows) is None
    assert file_url_problem("http://127.0.0.1:8080/x.whl", policy.allows) is None
    problem = file_url_problem("http://cdn.example/x.whl", policy.allows)
    assert problem is not None
    assert "plain http" in problem


# -- with the fake index ---------------------------------------------------------------


@contextmanager
def open_index(app: Any, index_url: str, **kw: Any) -> Iterator[Index]:
    http = HttpClient(transport=httpx.WSGITransport(app=app), backoff=0.0, policy=kw.get("policy"))
    index = Index([index_url], http=http, hedge_after=None, builder=forbidden_build, **kw)
    try:
        yield index
    finally:
        index.close()


def json_urls(urls: dict[str, str]) -> Callable[[bytes], bytes]:
    """A page change giving the files named in ``urls`` those URLs (JSON pages)."""

    def change(body: bytes) -> bytes:
        page = json.loads(body)
        for entry in page["files"]:
            entry["url"] = urls.get(entry["filename"], entry["url"])
        return json.dumps(page).encode()

    return change


def html_urls(urls: dict[str, str]) -> Callable[[bytes], bytes]:
    """The same for HTML pages: the href of each named file's anchor."""

    def change(body: bytes) -> bytes:
        text = body.decode()
        for filename, url in urls.items():
            text = re.sub(rf'href="[^"]*/{re.escape(filename)}#[^"]*"', f'href="{url}"', text)
        return text.encode()

    return change


def names(index: Index, version: str) -> list[str]:
    return sorted(d.filename for d in index.project("leaf-a").files(Version(version)))


BAD = {
    WHEEL_10: f"ftp://user:{SECRET}@files.example/{WHEEL_10}",
    SDIST_10: "file:///etc/passwd",
    WHEEL_11: "javascript:alert(1)",
    SDIST_11: "data:application/gzip;base64,H4sIAAAAAAAAAwMAAAAAAAAAAAA=",
}


@pytest.mark.parametrize(("fmt", "rewrite"), [("json", json_urls), ("html", html_urls)])
def test_non_http_file_urls_are_dropped_with_a_warning(
    make_index_app: MakeApp, fmt: str, rewrite: Callable[[dict[str, str]], Any]
) -> None:
    app = make_index_app(formats=(fmt,))
    reporter = Reporter()
    with open_index(
        AlterBody(app, PAGE, rewrite(BAD)), "http://fakeindex/simple/", reporter=reporter
    ) as index:
        assert names(index, "1.0") == []
        assert names(index, "1.1") == []
        assert names(index, "2.0") == [WHEEL_20, "leaf_a-2.0.tar.gz"]
        names(index, "1.0")  # looked at again: no second warning
    assert len(reporter.warnings) == 4
    assert all(w.startswith("leaf-a: ") for w in reporter.warnings)
    text = "\n".join(reporter.warnings)
    assert SECRET not in text
    assert f"ftp://files.example/{WHEEL_10}" in text
    assert "file:///etc/passwd" in text
    assert "javascript:alert(1)" in text
    assert app.requests_for("/files/") == []


def test_an_https_index_may_not_send_files_to_a_plain_http_host(
    make_index_app: MakeApp,
) -> None:
    app = make_index_app()
    links = {
        WHEEL_10: f"http://cdn.example/files/{WHEEL_10}",  # plain http, not allowed
        SDIST_10: f"http://mirror.example/files/{SDIST_10}",  # plain http, allowed
        WHEEL_20: f"https://cdn.example/files/{WHEEL_20}",  # another host, https
    }
    policy = IndexPolicy(insecure_hosts=frozenset({"mirror.example"}))
    reporter = Reporter()
    with open_index(
        AlterBody(app, PAGE, json_urls(links)),
        "https://fakeindex/simple/",
        reporter=reporter,
        policy=policy,
    ) as index:
        assert names(index, "1.0") == [SDIST_10]
        page = index.project("leaf-a")
        kept = {d.filename: d.url for d in page.files(Version("2.0"))}
    assert kept[WHEEL_20] == f"https://cdn.example/files/{WHEEL_20}"
    (warning,) = reporter.warnings
    assert f"http://cdn.example/files/{WHEEL_10}" in warning
    assert "leaf-a" in warning
    assert "plain http" in warning


def test_without_a_policy_any_http_s_file_url_goes(make_index_app: MakeApp) -> None:
    app = make_index_app()
    links = {WHEEL_10: f"http://cdn.example/files/{WHEEL_10}"}
    reporter = Reporter()
    with open_index(
        AlterBody(app, PAGE, json_urls(links)), "http://fakeindex/simple/", reporter=reporter
    ) as index:
        assert names(index, "1.0") == [WHEEL_10, SDIST_10]
    assert reporter.warnings == []
