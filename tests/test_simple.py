"""simple.py: PEP 691 JSON and PEP 503 HTML project pages, parsed lazily."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from reqlock.errors import IndexFetchError
from reqlock.index.pages import (
    JSON_CONTENT_TYPE,
    DistFile,
    ProjectPage,
    page_from_entries,
    parse_project_page,
    version_from_filename,
)

PAGE_URL = "https://idx.example/simple/demo/"
SECRET_PAGE_URL = "https://alice:s3cret@idx.example/simple/demo/"
INDEX = "https://idx.example/simple/"
SHA = "a" * 64
SHA_B = "b" * 64


def json_body(files: list[Any], *, api_version: Any = "1.1", name: str = "demo") -> bytes:
    return json.dumps({"meta": {"api-version": api_version}, "name": name, "files": files}).encode()


def entry(filename: str, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "filename": filename,
        "url": f"../../files/{filename}",
        "hashes": {"sha256": SHA},
    }
    data.update(fields)
    return data


def parse_json(
    files: list[Any], *, name: str = "demo", page_url: str = PAGE_URL, **kw: Any
) -> ProjectPage:
    return parse_project_page(
        json_body(files, **kw),
        content_type=JSON_CONTENT_TYPE,
        page_url=page_url,
        name=canonicalize_name(name),
        index=INDEX,
    )


def parse_html(
    body: str | bytes,
    *,
    name: str = "demo",
    page_url: str = PAGE_URL,
    content_type: str = "text/html",
) -> ProjectPage:
    raw = body.encode() if isinstance(body, str) else body
    return parse_project_page(
        raw,
        content_type=content_type,
        page_url=page_url,
        name=canonicalize_name(name),
        index=INDEX,
    )


def html_doc(*anchors: str, head: str = "") -> str:
    return (
        "<!DOCTYPE html><html><head>"
        + head
        + "<title>Links</title></head><body>\n"
        + "\n".join(anchors)
        + "\n</body></html>\n"
    )


def by_name(page: ProjectPage) -> dict[str, DistFile]:
    return {f.filename: f for files in page.releases().values() for f in files}


# -- JSON ----------------------------------------------------------------------------


def test_json_page_keeps_every_field() -> None:
    page = parse_json(
        [
            entry(
                "demo-1.0-py3-none-any.whl",
                hashes={"sha256": SHA.upper(), "md5": "0" * 32, "blake2b": "c" * 128},
                **{
                    "requires-python": ">=3.8",
                    "size": 1234,
                    "upload-time": "2024-01-10T10:00:00.000000Z",
                    "yanked": False,
                    "core-metadata": {"sha256": SHA_B.upper()},
                },
            ),
            entry("demo-1.0.tar.gz", yanked=True, size=99),
            entry(
                "demo-2.0-py3-none-any.whl",
                url="https://files.example/x/demo-2.0-py3-none-any.whl",
                yanked="broken build",
                **{"dist-info-metadata": True},
            ),
        ]
    )
    files = by_name(page)
    assert set(files) == {
        "demo-1.0-py3-none-any.whl",
        "demo-1.0.tar.gz",
        "demo-2.0-py3-none-any.whl",
    }
    wheel = files["demo-1.0-py3-none-any.whl"]
    assert wheel.url == "https://idx.example/files/demo-1.0-py3-none-any.whl"
    # Hash names and values are normalized; unknown/weak algorithms are dropped.
    assert dict(wheel.hashes) == {"sha256": SHA}
    assert wheel.sha256 == SHA
    assert wheel.requires_python == ">=3.8"
    assert wheel.size == 1234
    assert wheel.upload_time == "2024-01-10T10:00:00.000000Z"
    assert wheel.yanked is False
    assert wheel.yanked_reason is None
    assert wheel.metadata_hashes == {"sha256": SHA_B}
    assert wheel.is_wheel
    assert wheel.wheel_tag == "py3-none-any"
    assert wheel.index == INDEX

    sdist = files["demo-1.0.tar.gz"]
    assert sdist.yanked is True
    assert sdist.yanked_reason is None
    assert sdist.size == 99
    assert sdist.upload_time is None
    assert sdist.requires_python is None
    assert sdist.metadata_hashes is None
    assert not sdist.is_wheel

    new = files["demo-2.0-py3-none-any.whl"]
    assert new.url == "https://files.example/x/demo-2.0-py3-none-any.whl"
    assert new.yanked is True
    assert new.yanked_reason == "broken build"
    # The PEP 658 spelling is understood too.
    assert new.metadata_hashes is True


def test_json_core_metadata_wins_over_the_legacy_key_and_false_means_absent() -> None:
    page = parse_json(
        [
            entry(
                "demo-1.0-py3-none-any.whl",
                **{"core-metadata": False, "dist-info-metadata": {"sha256": SHA}},
            ),
            entry("demo-1.1-py3-none-any.whl", **{"dist-info-metadata": {"sha256": SHA_B}}),
        ]
    )
    files = by_name(page)
    assert files["demo-1.0-py3-none-any.whl"].metadata_hashes is False
    assert files["demo-1.1-py3-none-any.whl"].metadata_hashes == {"sha256": SHA_B}


@pytest.mark.parametrize(
    "bad_size", ["12", True, 1.5, None], ids=["string", "bool", "float", "null"]
)
def test_json_ignores_a_size_that_is_not_an_integer(bad_size: object) -> None:
    page = parse_json([entry("demo-1.0.tar.gz", size=bad_size)])
    assert by_name(page)["demo-1.0.tar.gz"].size is None


def test_json_content_type_with_parameters_and_capitals_is_json() -> None:
    page = parse_project_page(
        json_body([entry("demo-1.0.tar.gz")]),
        content_type="Application/vnd.pypi.simple.v1+JSON; charset=utf-8",
        page_url=PAGE_URL,
        name=NormalizedName("demo"),
        index=INDEX,
    )
    assert list(page.versions()) == [Version("1.0")]


def test_json_relative_urls_resolve_against_the_page_and_keep_credentials() -> None:
    page = parse_json(
        [entry("demo-1.0.tar.gz", url="/packages/demo-1.0.tar.gz")], page_url=SECRET_PAGE_URL
    )
    (dist,) = by_name(page).values()
    # The credentials are needed to download; they must never be shown.
    assert dist.url == "https://alice:s3cret@idx.example/packages/demo-1.0.tar.gz"
    assert dist.public_url == "https://idx.example/packages/demo-1.0.tar.gz"


# -- HTML ----------------------------------------------------------------------------


def test_html_page_attributes() -> None:
    body = html_doc(
        f'<a href="../../files/demo-1.0-py3-none-any.whl#sha256={SHA.upper()}"'
        ' data-requires-python="&gt;=3.8,&lt;4"'
        f' data-core-metadata="sha256={SHA_B}">demo-1.0-py3-none-any.whl</a><br>',
        f'<a href="../../files/demo-1.0.tar.gz#md5={"0" * 32}" data-yanked="">x</a>',
        '<a href="https://cdn.example/demo-2.0-py3-none-any.whl" data-yanked="bad &amp; wrong"'
        ' data-dist-info-metadata="true">demo-2.0</a>',
        '<a href="../../files/demo-2.0.tar.gz" data-core-metadata="false">demo-2.0</a>',
        '<a href="../../files/demo-2.0.zip" data-core-metadata>demo-2.0</a>',
    )
    files = by_name(parse_html(body))
    wheel = files["demo-1.0-py3-none-any.whl"]
    assert wheel.url == "https://idx.example/files/demo-1.0-py3-none-any.whl"  # no fragment
    assert dict(wheel.hashes) == {"sha256": SHA}
    assert wheel.requires_python == ">=3.8,<4"
    assert wheel.yanked is False
    assert wheel.metadata_hashes == {"sha256": SHA_B}
    assert wheel.size is None
    assert wheel.upload_time is None

    sdist = files["demo-1.0.tar.gz"]
    assert sdist.url == "https://idx.example/files/demo-1.0.tar.gz"
    assert dict(sdist.hashes) == {}  # md5 is not trusted
    assert sdist.yanked is True
    assert sdist.yanked_reason is None
    assert sdist.metadata_hashes is None

    new = files["demo-2.0-py3-none-any.whl"]
    assert new.url == "https://cdn.example/demo-2.0-py3-none-any.whl"
    assert new.yanked is True
    assert new.yanked_reason == "bad & wrong"
    assert new.metadata_hashes is True
    assert files["demo-2.0.tar.gz"].metadata_hashes is False
    assert files["demo-2.0.zip"].metadata_hashes is True


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://cdn.example/pkgs/", "https://cdn.example/pkgs/demo-1.0.tar.gz"),
        ("../../mirror/", "https://idx.example/mirror/demo-1.0.tar.gz"),
        ("/root/", "https://idx.example/root/demo-1.0.tar.gz"),
    ],
)
def test_html_base_href_changes_where_relative_links_point(base: str, expected: str) -> None:
    body = html_doc('<a href="demo-1.0.tar.gz">demo-1.0.tar.gz</a>', head=f'<base href="{base}">')
    (dist,) = by_name(parse_html(body)).values()
    assert dist.url == expected


def test_html_without_base_resolves_against_the_page_url() -> None:
    body = html_doc(
        '<a href="demo-1.0.tar.gz">a</a>',
        '<a href="/abs/demo-1.1.tar.gz">b</a>',
        '<a href="../../files/demo-1.2.tar.gz">c</a>',
    )
    urls = sorted(f.url for f in by_name(parse_html(body)).values())
    assert urls == [
        "https://idx.example/abs/demo-1.1.tar.gz",
        "https://idx.example/files/demo-1.2.tar.gz",
        "https://idx.example/simple/demo/demo-1.0.tar.gz",
    ]


def test_html_percent_encoded_file_names_are_decoded() -> None:
    body = html_doc('<a href="../../files/demo-1.0%2Blocal-py3-none-any.whl">x</a>')
    page = parse_html(body)
    (dist,) = by_name(page).values()
    assert dist.filename == "demo-1.0+local-py3-none-any.whl"
    assert list(page.versions()) == [Version("1.0+local")]


def test_html_anchor_without_href_is_skipped() -> None:
    body = html_doc('<a name="top">demo-1.0.tar.gz</a>', '<a href="demo-1.1.tar.gz">x</a>')
    assert list(by_name(parse_html(body))) == ["demo-1.1.tar.gz"]


@pytest.mark.parametrize("content_type", ["text/html", "application/vnd.pypi.simple.v1+html", ""])
def test_html_content_types(content_type: str) -> None:
    page = parse_html(html_doc('<a href="demo-1.0.tar.gz">x</a>'), content_type=content_type)
    assert list(page.versions()) == [Version("1.0")]


def test_json_and_html_of_the_same_files_agree() -> None:
    names = ["demo-1.0-py3-none-any.whl", "demo-1.0.tar.gz", "demo-2.0b1-py3-none-any.whl"]
    json_page = parse_json(
        [entry(n, **{"requires-python": ">=3.9", "yanked": n.endswith(".gz")}) for n in names]
    )
    html_page = parse_html(
        html_doc(
            *(
                f'<a href="../../files/{n}#sha256={SHA}" data-requires-python="&gt;=3.9"'
                + (' data-yanked=""' if n.endswith(".gz") else "")
                + f">{n}</a>"
                for n in names
            )
        )
    )

    def view(page: ProjectPage) -> dict[str, tuple[object, ...]]:
        return {
            f.filename: (f.url, dict(f.hashes), f.requires_python, f.yanked, f.yanked_reason)
            for f in by_name(page).values()
        }

    assert json_page.versions() == html_page.versions()
    assert view(json_page) == view(html_page)
    assert len(view(json_page)) == 3


# -- which files belong to the project ----------------------------------------------


def test_files_of_other_projects_and_unknown_types_are_ignored() -> None:
    names = [
        "demo-1.0-py3-none-any.whl",
        "demo-1.0.tar.gz",
        "other-1.0.tar.gz",
        "other-1.0-py3-none-any.whl",
        "demo_extra-1.0-py3-none-any.whl",  # project demo-extra
        "demo-1.0-py3.8.egg",
        "demo-1.0.win32.exe",
        "demo-1.0.rpm",
        "demo-1.0-py3-none.whl",  # too few wheel name parts
        "demo-latest.tar.gz",  # not a PEP 440 version
    ]
    page = parse_json([entry(n) for n in names])
    assert list(page.versions()) == [Version("1.0")]
    assert sorted(by_name(page)) == ["demo-1.0-py3-none-any.whl", "demo-1.0.tar.gz"]


@pytest.mark.parametrize(
    ("filename", "project", "expected"),
    [
        ("foo_bar-1.0-py3-none-any.whl", "foo-bar", "1.0"),
        ("Foo.Bar-1.0-py3-none-any.whl", "foo-bar", "1.0"),
        ("foo_bar-1.0-1build-py3-none-any.whl", "foo-bar", "1.0"),  # build tag
        ("foo-bar-1.1.tar.gz", "foo-bar", "1.1"),  # legacy sdist with a dash
        ("Foo.Bar-2.0.zip", "foo-bar", "2.0"),
        ("foo-bar-baz-3.0.tar.bz2", "foo-bar-baz", "3.0"),
        ("foo_bar-1.0.tgz", "foo-bar", "1.0"),
        ("foo-bar-1.0.tar.gz", "foo", "bar-1.0"),  # not PEP 440: dropped later
        ("foo-bar-1.0.tar.gz", "baz", None),
        ("foo_bar-.tar.gz", "foo-bar", None),
        ("foo_bar.tar.gz", "foo-bar", None),
        ("foo_bar-1.0.egg", "foo-bar", None),
        ("foo_bar-1.0-cp311-cp311-linux_x86_64-extra-x.whl", "foo-bar", None),
    ],
)
def test_version_from_filename(filename: str, project: str, expected: str | None) -> None:
    assert version_from_filename(filename, canonicalize_name(project)) == expected


def test_a_project_with_a_dash_does_not_take_files_of_its_prefix_project() -> None:
    # "foo-bar-1.0.tar.gz" on the page of "foo" must not become a release of foo.
    page = parse_json([entry("foo-bar-1.0.tar.gz"), entry("foo-2.0.tar.gz")], name="foo")
    assert list(page.versions()) == [Version("2.0")]


def test_one_version_written_two_ways_is_one_release() -> None:
    page = parse_json(
        [
            entry("demo-1.0.tar.gz"),
            entry("demo-1.0.0-py3-none-any.whl"),
            entry("demo-1.1-py3-none-any.whl"),
        ]
    )
    versions = page.versions()
    assert set(versions) == {Version("1.0"), Version("1.1")}
    assert sorted(versions[Version("1.0")]) == ["1.0", "1.0.0"]
    assert sorted(f.filename for f in page.files(Version("1.0.0"))) == [
        "demo-1.0.0-py3-none-any.whl",
        "demo-1.0.tar.gz",
    ]
    assert page.files(Version("9.9")) == ()


def test_an_empty_page_has_no_versions() -> None:
    assert parse_json([]).versions() == {}
    assert parse_html(html_doc()).releases() == {}


# -- lazy conversion -----------------------------------------------------------------


def test_a_malformed_entry_of_a_release_nobody_asks_for_does_not_fail_parsing() -> None:
    page = parse_json(
        [
            entry("demo-1.0-py3-none-any.whl"),
            {**entry("demo-2.0-py3-none-any.whl"), "hashes": {"sha256": 5}},  # bad hash value
        ],
        page_url=SECRET_PAGE_URL,
    )
    assert set(page.versions()) == {Version("1.0"), Version("2.0")}
    (good,) = page.files(Version("1.0"))
    assert good.filename == "demo-1.0-py3-none-any.whl"
    with pytest.raises(IndexFetchError) as info:
        page.files(Version("2.0"))
    assert "demo-2.0-py3-none-any.whl" in str(info.value)
    assert info.value.url == PAGE_URL
    assert "s3cret" not in str(info.value)


def test_an_entry_without_url_or_hashes_fails_the_whole_page() -> None:
    # Checked at parse time so that such a page is never cached.
    with pytest.raises(IndexFetchError) as info:
        parse_json(
            [
                entry("demo-1.0-py3-none-any.whl"),
                {"filename": "demo-2.0-py3-none-any.whl", "hashes": "nope"},
            ],
            page_url=SECRET_PAGE_URL,
        )
    assert "demo-2.0-py3-none-any.whl" in str(info.value)
    assert "s3cret" not in str(info.value)


def test_files_are_converted_once() -> None:
    page = parse_json([entry("demo-1.0.tar.gz")])
    first = page.files(Version("1.0"))
    assert page.files(Version("1.0"))[0] is first[0]


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("url", "", "no 'url'"),
        ("hashes", {"sha256": 5}, "no valid 'hashes'"),
    ],
)
def test_malformed_entries_fail_when_their_release_is_asked_for(
    field: str, value: object, words: str
) -> None:
    bad = entry("demo-1.0.tar.gz")
    if value is None:
        del bad[field]
    else:
        bad[field] = value
    page = parse_json([bad])
    with pytest.raises(IndexFetchError, match=words):
        page.releases()


# -- malformed pages -----------------------------------------------------------------


def _expect_bad_page(body: bytes, content_type: str = JSON_CONTENT_TYPE) -> IndexFetchError:
    with pytest.raises(IndexFetchError) as info:
        parse_project_page(
            body,
            content_type=content_type,
            page_url=SECRET_PAGE_URL,
            name=NormalizedName("demo"),
            index=INDEX,
        )
    error = info.value
    assert error.url == PAGE_URL
    assert PAGE_URL in str(error)
    assert "s3cret" not in str(error)
    assert "alice" not in str(error)
    return error


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "invalid JSON"),
        (b"\xff\xfe\x00garbage", "invalid JSON"),
        (b"[]", "not an object"),
        (json.dumps({"files": []}).encode(), "unsupported simple API version"),
        (json_body([], api_version="2.0"), "unsupported simple API version '2.0'"),
        (json_body([], api_version=1.0), "unsupported simple API version"),
        (json.dumps({"meta": {"api-version": "1.0"}}).encode(), "no 'files' list"),
        (json.dumps({"meta": {"api-version": "1.0"}, "files": {}}).encode(), "'files' list"),
        (json_body([{"url": "x", "hashes": {}}]), r"files\[0\] has no valid 'filename'"),
        (json_body([entry("demo-1.0.tar.gz"), "oops"]), r"files\[1\]"),
        (json_body([{"filename": 7, "url": "x", "hashes": {}}]), r"files\[0\]"),
    ],
    ids=[
        "invalid-json",
        "not-utf8",
        "not-object",
        "no-meta",
        "api-2",
        "api-not-string",
        "no-files",
        "files-not-list",
        "no-filename",
        "entry-not-object",
        "filename-not-string",
    ],
)
def test_malformed_json_pages(body: bytes, words: str) -> None:
    error = _expect_bad_page(body)
    assert re.search(words, str(error)), str(error)


def test_non_utf8_html_is_refused() -> None:
    body = html_doc('<a href="demo-1.0.tar.gz">d\u00e9mo</a>').encode("latin-1")
    error = _expect_bad_page(body, content_type="text/html")
    assert "not UTF-8" in str(error)


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain; charset=utf-8", "application/octet-stream"]
)
def test_wrong_content_type_is_refused(content_type: str) -> None:
    error = _expect_bad_page(json_body([entry("demo-1.0.tar.gz")]), content_type=content_type)
    assert content_type.partition(";")[0] in str(error)
    assert error.package == "demo"
    assert error.hint is not None
    assert "simple index" in error.hint


# -- where entries lie: what the cache keeps of a JSON page ----------------------------


def _view(page: ProjectPage) -> dict[str, tuple[object, ...]]:
    return {
        f.filename: (f.url, dict(f.hashes), f.requires_python, f.yanked, f.yanked_reason)
        for f in by_name(page).values()
    }


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_a_page_rebuilt_from_its_spans_has_the_same_files(encoding: str) -> None:
    files = [
        entry("demo-1.0-py3-none-any.whl", yanked="caf\u00e9 broke it"),
        entry("demo-1.0.tar.gz", **{"requires-python": ">=3.8"}),
        entry("demo-2.0-py3-none-any.whl"),
        entry("other-1.0.tar.gz"),
    ]
    text = json.dumps(
        {"meta": {"api-version": "1.1"}, "files": files}, ensure_ascii=False, indent=1
    )
    body = text.encode(encoding)
    parsed = parse_project_page(
        body,
        content_type=JSON_CONTENT_TYPE,
        page_url=PAGE_URL,
        name=NormalizedName("demo"),
        index=INDEX,
    )
    spans = parsed.spans()
    assert spans is not None
    assert set(spans) == {"1.0", "2.0"}
    # Two entries: the file name, start and end of each.
    assert spans["1.0"][::3] == ["demo-1.0-py3-none-any.whl", "demo-1.0.tar.gz"]
    again = page_from_entries(
        body, dict(spans), page_url=PAGE_URL, name=NormalizedName("demo"), index=INDEX
    )
    assert _view(again) == _view(parsed)
    assert _view(parsed)["demo-1.0-py3-none-any.whl"][4] == "caf\u00e9 broke it"


def test_only_the_releases_looked_at_are_decoded() -> None:
    good = json.dumps(entry("demo-1.0.tar.gz")).encode()
    body = good + b"[not json"
    page = page_from_entries(
        body,
        {
            "1.0": ["demo-1.0.tar.gz", 0, len(good)],
            "2.0": ["demo-2.0.tar.gz", len(good), len(body)],
        },
        page_url=PAGE_URL,
        name=NormalizedName("demo"),
        index=INDEX,
    )
    assert set(page.versions()) == {Version("1.0"), Version("2.0")}
    (dist,) = page.files(Version("1.0"))
    assert dist.filename == "demo-1.0.tar.gz"
    # An entry the filter refuses is not even decoded.
    assert page.files(Version("2.0"), lambda name: name.endswith(".whl")) == ()


def test_an_html_page_has_no_spans_and_converts_lazily_too() -> None:
    page = parse_html(html_doc('<a href="demo-1.0.tar.gz#sha256=' + SHA + '">x</a>'))
    assert page.spans() is None
    (dist,) = page.files(Version("1.0"))
    assert dist.sha256 == SHA


@pytest.mark.parametrize(
    "body",
    [
        b'{"meta": {"api-version": "1.1"}, "files": [],}',
        b'{"meta": {"api-version": "1.1"}, "files": [{"filename": "demo-1.0.tar.gz",'
        b' "url": "u", "hashes": {}},]}',
        b'{"meta": {"api-version": "1.1"}, "files": []} extra',
        b'{"meta": {"api-version": "1.1"}, "files": [] "x": 1}',
    ],
    ids=["trailing-comma", "trailing-comma-in-files", "extra-data", "missing-comma"],
)
def test_json_that_json_loads_refuses_is_refused(body: bytes) -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    error = _expect_bad_page(body)
    assert "invalid JSON" in str(error)


def test_the_last_files_member_wins_as_in_json_loads() -> None:
    body = (
        b'{"files": [{"filename": "demo-1.0.tar.gz", "url": "u", "hashes": {}}],'
        b' "meta": {"api-version": "1.0"},'
        b' "files": [{"filename": "demo-2.0.tar.gz", "url": "u", "hashes": {}}]}'
    )
    page = parse_project_page(
        body,
        content_type=JSON_CONTENT_TYPE,
        page_url=PAGE_URL,
        name=NormalizedName("demo"),
        index=INDEX,
    )
    assert list(page.versions()) == [Version("2.0")]
