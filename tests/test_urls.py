"""Redaction and validation of URLs and digests (``reqlock.urls``)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from reqlock.errors import ConfigError
from reqlock.urls import (
    check_url,
    has_unsafe_characters,
    hash_problem,
    lock_url_problem,
    redact_text,
    redact_url,
)

SECRET = "s3cret-T0ken"
TAIL = "host.example:8443/simple/?q#f"
CLEAN = f"https://{TAIL}"
SENTENCE = "pip said: could not fetch {url} (retrying)"

# Raw user-info can hold anything but the characters that end the authority:
# '/', '?' and '#' (a raw '/' really starts the path, npm-style "/@scope" paths
# are legal). In free text whitespace and quotes end it too.
_URL_CHARS = st.characters(exclude_characters="/?#")
_TEXT_CHARS = st.characters(exclude_characters="/?#'\"", exclude_categories=("Cc",)).filter(
    lambda c: not c.isspace()
)
_ANY_CHARS = st.characters(exclude_categories=("Cs",))
_ENCODED = st.text(_ANY_CHARS, max_size=20).map(lambda s: quote(s, safe=""))
# Quoting never shortens, so six source characters give at least six.
_LONG_ENCODED = st.text(_ANY_CHARS, min_size=6, max_size=20).map(lambda s: quote(s, safe=""))
_LONG_SECRET = st.one_of(st.text(_TEXT_CHARS, min_size=6, max_size=30), _LONG_ENCODED)
# ASCII without backslash, so repr() in a message cannot spell it by escaping.
_PLAIN_SECRET = st.text(st.sampled_from("abcXYZ0189@:%!$-_."), min_size=8, max_size=20)
# derandomize: the same examples on every run, so a failure is never flaky.
_FAST = settings(max_examples=200, deadline=None, derandomize=True)


def _is_reference(part: str) -> bool:
    return part.startswith("${") and part.endswith("}")


# ------------------------------------------------------------------ redact_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:p@ss@host/simple/", "https://host/simple/"),
        ("https://u%40x:p%40ss%3A@host:8443/s/?a=b@c#@", "https://host:8443/s/?a=b@c#@"),
        ("HTTPS://Us:Pw@HoSt:0443//a/../b", "HTTPS://HoSt:0443//a/../b"),
        ("https://host/simple/", "https://host/simple/"),
        ("https://host/@scope/pkg", "https://host/@scope/pkg"),
        ("https://tok@[::1]:8080/", "https://[::1]:8080/"),
        ("https://u:p@[::1/", "https://[::1/"),
        ("https://u:p@host:99999999/", "https://host:99999999/"),
        ("git+https://u:p@host/r.git@v1", "git+https://host/r.git@v1"),
        ("//u:p@host/x", "//host/x"),
        (" https://u:p@host/", " https://host/"),
        ("file:///tmp/a@b", "file:///tmp/a@b"),
        ("", ""),
        ("not a url", "not a url"),
        ("user:token@host/simple", "host/simple"),
    ],
)
def test_redact_url_cases(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_url_finds_credentials_urllib_would_find_despite_tabs() -> None:
    # urlsplit deletes tabs and newlines, so "ht\ttps:/\n/" is https:// to pip.
    assert redact_url(f"ht\ttps:/\n/u:{SECRET}@host/") == "ht\ttps:/\n/host/"


def test_redact_url_of_non_url_masks_embedded_credentials() -> None:
    assert SECRET not in redact_url(f"pkg @ https://u:{SECRET}@host/x")


@_FAST
@given(user=st.text(_URL_CHARS), password=st.text(_URL_CHARS))
def test_redact_url_removes_raw_user_info(user: str, password: str) -> None:
    assert redact_url(f"https://{user}:{password}@{TAIL}") == CLEAN


@_FAST
@given(user=_ENCODED, password=_ENCODED)
def test_redact_url_removes_encoded_user_info(user: str, password: str) -> None:
    assert redact_url(f"https://{user}:{password}@{TAIL}") == CLEAN


@_FAST
@given(text=st.text())
def test_redact_url_never_raises(text: str) -> None:
    for candidate in (text, f"https://{text}", f"https://[{text}", f"{text}@{text}"):
        assert isinstance(redact_url(candidate), str)


@_FAST
@given(text=st.text(st.sampled_from("ab:@/?#[]%\t "), max_size=30))
def test_redact_url_output_has_no_user_info(text: str) -> None:
    redacted = redact_url(f"https://{text}")
    authority = redacted[len("https://") :].split("/")[0].split("?")[0].split("#")[0]
    assert "@" not in authority


# ----------------------------------------------------------------- redact_text


def test_redact_text_examples() -> None:
    text = "see https://tok:se@cret@host/x and http://u@h/, 'https://a:b@c' done"
    assert redact_text(text) == (
        "see https://****@host/x and http://****@h/, 'https://****@c' done"
    )


@pytest.mark.parametrize(
    "text",
    [
        "https://${USER}:${TOKEN}@host/",
        "https://${TOKEN}@host/",
        "https://host/simple/ and mail me@example.com",
        "https://host/@scope/pkg",
        "no url here",
        "",
    ],
)
def test_redact_text_keeps(text: str) -> None:
    assert redact_text(text) == text


def test_redact_text_masks_literal_next_to_reference() -> None:
    assert redact_text("https://${USER}:hunter22@host/") == "https://****@host/"


@_FAST
@given(user=_LONG_SECRET, password=_LONG_SECRET)
def test_redact_text_hides_user_and_password(user: str, password: str) -> None:
    # "${A}:${B}" is kept on purpose; and a secret that is a substring of the
    # redacted sentence itself (like "simple") cannot be told apart from it.
    assume(not (_is_reference(user) and _is_reference(password)))
    expected = SENTENCE.format(url=f"https://****@{TAIL}")
    assume(user not in expected and password not in expected)
    out = redact_text(SENTENCE.format(url=f"https://{user}:{password}@{TAIL}"))
    assert out == expected
    assert user not in out
    assert password not in out


@_FAST
@given(text=st.text())
def test_redact_text_is_idempotent_and_never_raises(text: str) -> None:
    once = redact_text(text)
    assert redact_text(once) == once


# ------------------------------------------------------------------- check_url


@pytest.mark.parametrize(
    "url",
    [
        "https://pypi.org/simple/",
        "http://localhost:8080/simple",
        "https://host.example:65535/a/b/c?x=1#frag",
        "https://host:1",
        "https://[::1]:8080/simple/",
        "https://[2001:db8::1]/",
        f"https://alice:{SECRET}@host.example/simple/",
        "HTTPS://Host.Example/",
    ],
)
def test_check_url_accepts(url: str) -> None:
    parts = check_url(url, key="index-url")
    assert parts.hostname


BAD_URLS = [
    "",
    "https://host/sim ple/",
    "https://host/\n",
    "https://host/\t",
    "https://host/\x7f",
    "https://host/\x00",
    "https://host/\u2028",
    "ftp://host/",
    "host.example/simple",
    "//host/simple",
    "https:///simple",
    "https://",
    "https:host",
    "https://host:99999999/",
    "https://host:abc/",
    "https://host:/",
    "https://host:0/",
    "https://host:65536/",
    "https://host:-1/",
    "https://host:8080:8080/",
    "https://[::1",
    "https://[::1/",
    "https://::1]/",
    "https://[::1]x/",
    "https://[zz::1]/",
    "https://[127.0.0.1]/",
    "https://[]/",
    "file:///tmp/x",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_check_url_rejects(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_url(url, key="index-url")
    assert info.value.key == "index-url"
    assert str(info.value).startswith("index-url: ")
    assert info.value.hint


@pytest.mark.parametrize("url", [u for u in BAD_URLS if "://" in u and u != "https://"])
@pytest.mark.parametrize("creds", [f"alice:{SECRET}", f"{SECRET}", f"u:{quote(SECRET)}%40x"])
def test_check_url_never_shows_the_password(url: str, creds: str) -> None:
    with_creds = url.replace("://", f"://{creds}@", 1)
    with pytest.raises(ConfigError) as info:
        check_url(with_creds, key="index-url")
    assert SECRET not in str(info.value)
    assert "alice" not in str(info.value)


def test_check_url_hides_forgotten_scheme_credentials() -> None:
    with pytest.raises(ConfigError) as info:
        check_url(f"alice:{SECRET}@host/simple", key="index-url")
    assert SECRET not in str(info.value)
    assert "alice" not in str(info.value)


def test_check_url_bracket_in_password_is_explained() -> None:
    with pytest.raises(ConfigError, match="percent-encode") as info:
        check_url(f"https://u:{SECRET}[@host/", key="k")
    assert SECRET not in str(info.value)


def test_check_url_schemes_and_file() -> None:
    assert check_url("file:///tmp/x", key="k", schemes=("file",)).path == "/tmp/x"
    assert check_url("ftp://h/", key="k", schemes=("ftp",)).scheme == "ftp"
    with pytest.raises(ConfigError, match="not allowed"):
        check_url("http://h/", key="k", schemes=("https",))


@_FAST
@given(url=st.text(max_size=40), password=_PLAIN_SECRET)
def test_check_url_raises_only_config_error(url: str, password: str) -> None:
    for candidate in (url, f"https://{url}", f"https://u:{password}@{url}"):
        message = ""
        try:
            check_url(candidate, key="k")
        except ConfigError as error:
            message = str(error)
        if candidate.startswith("https://u:") and password not in redact_url(candidate):
            assert password not in message


# ------------------------------------------------------------- lock_url_problem


@pytest.mark.parametrize(
    "url",
    ["https://h/a.whl", "file:///tmp/a.whl", "file:/tmp/a.whl", "file://host/a", "http://[::1]/"],
)
def test_lock_url_problem_accepts(url: str) -> None:
    assert lock_url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("https://h:0/a.whl", "outside 1..65535"),
        ("https://h:x/a.whl", "not a number"),
        ("file://[::1/a", "unbalanced"),
        ("https:///a.whl", "no host"),
        ("ftp://h/a.whl", "scheme"),
        ("https://h/a b.whl", "whitespace"),
        ("", "empty"),
    ],
)
def test_lock_url_problem_describes(url: str, fragment: str) -> None:
    problem = lock_url_problem(url)
    assert problem is not None
    assert fragment in problem


@_FAST
@given(text=st.text(max_size=40))
def test_lock_url_problem_never_raises(text: str) -> None:
    for candidate in (text, f"https://{text}", f"file://{text}"):
        problem = lock_url_problem(candidate)
        assert problem is None or isinstance(problem, str)


# ----------------------------------------------------------------- hash_problem


@pytest.mark.parametrize(
    ("algorithm", "length"),
    [
        ("sha256", 64),
        ("sha384", 96),
        ("sha512", 128),
        ("sha1", 40),
        ("md5", 32),
        ("sha224", 56),
        ("blake2b", 128),
        ("blake2s", 64),
        ("sha3_256", 64),
        ("sha3_512", 128),
        ("SHA256", 64),
    ],
)
def test_hash_problem_lengths(algorithm: str, length: int) -> None:
    assert hash_problem(algorithm, "a" * length) is None
    assert hash_problem(algorithm, ("AbCdEf0189" * 13)[:length]) is None
    for wrong in (length - 1, length + 1):
        problem = hash_problem(algorithm, "0" * wrong)
        assert problem is not None
        assert str(length) in problem


@pytest.mark.parametrize(
    ("algorithm", "value", "fragment"),
    [
        ("sha256", "", "empty"),
        ("sha256", "g" * 64, "not hexadecimal"),
        ("sha256", "0" * 63 + "\n", "not hexadecimal"),
        ("sha256", "0x" + "0" * 62, "not hexadecimal"),
        ("sha256", "\uff10" * 64, "not hexadecimal"),
        ("", "00", "not valid"),
        ("sha 256", "0" * 64, "not valid"),
        ("unknown", "", "empty"),
        ("unknown", "xyz", "not hexadecimal"),
    ],
)
def test_hash_problem_rejects(algorithm: str, value: str, fragment: str) -> None:
    problem = hash_problem(algorithm, value)
    assert problem is not None
    assert fragment in problem


def test_hash_problem_unknown_algorithm_needs_only_hex() -> None:
    assert hash_problem("whirlpool", "0") is None
    assert hash_problem("whirlpool", "AB" * 100) is None


# -------------------------------------------------------- has_unsafe_characters


UNSAFE = [" ", "a b", "a\tb", "a\nb", "a\rb", "\x00", "\x1b[31m", "\x7f", "\x85", "\x9b"]
UNSAFE += ["\u2028", "\u2029", "\u00a0", "\u3000", "\x0b", "\x0c", "\x1f"]


@pytest.mark.parametrize("text", UNSAFE)
def test_has_unsafe_characters_true(text: str) -> None:
    assert has_unsafe_characters(text)
    assert has_unsafe_characters(f"pkg==1.0{text}--hash=sha256:00")


@pytest.mark.parametrize(
    "text", ["", "pkg==1.0", "https://h/é/ünïcode", "--hash=sha256:" + "0" * 64, "${TOKEN}"]
)
def test_has_unsafe_characters_false(text: str) -> None:
    assert not has_unsafe_characters(text)


@_FAST
@given(text=st.text())
def test_has_unsafe_characters_matches_definition(text: str) -> None:
    def unsafe(c: str) -> bool:
        return c.isspace() or ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029"

    assert has_unsafe_characters(text) == any(unsafe(c) for c in text)
