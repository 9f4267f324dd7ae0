"""Redact and validate URLs and digests, with no I/O and no third-party imports.

Everything a user types or a lock file holds passes through here before it is
shown, stored or handed to pip: credentials never reach a message, and a URL or
hash that cannot work is rejected with a sentence saying why.
"""

from __future__ import annotations

__all__ = [
    "check_url",
    "has_unsafe_characters",
    "hash_problem",
    "lock_url_problem",
    "redact_text",
    "redact_url",
]

import ipaddress
import re
from collections.abc import Collection
from urllib.parse import SplitResult, urlsplit

from reqlock.errors import ConfigError

# The start of a URL with an authority, as urlsplit sees it: it strips leading C0
# controls and spaces and deletes tabs and newlines anywhere, so allowing them here
# keeps redaction from missing credentials that urlsplit (and so pip) would find.
_AUTHORITY_RE = re.compile(
    r"(?P<prefix>[\x00-\x20]*(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.\-\t\r\n]*):)?"
    r"[\t\r\n]*/[\t\r\n]*/)(?P<authority>[^/?#]*)"
)
# A URL in free text: the authority also stops at whitespace and quotes, and the
# greedy run backtracks to the LAST '@', since passwords may contain '@'.
_TEXT_USERINFO_RE = re.compile(r"(?<=://)([^/?#\s'\"]*)@")
# Text with no "//" that still starts with "user:pass@host" (a forgotten scheme).
_LEADING_USERINFO_RE = re.compile(r"[^/?#\s'\"]*@")
_REF = r"\$\{[A-Za-z_][A-Za-z0-9_]*\}"
# pip expands ${VAR} in requirement files: such names are not secrets and showing
# them tells the user which variable is used.
_ONLY_REFS_RE = re.compile(rf"(?:{_REF})?(?::(?:{_REF})?)?")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_PORT_RE = re.compile(r"[0-9]+")
# \s is Unicode whitespace (NEL, U+2028/2029, NBSP...); the ranges add C0, DEL, C1.
_UNSAFE_RE = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029]")
_HEX_RE = re.compile(r"[0-9a-fA-F]+")
_ALGORITHM_RE = re.compile(r"[A-Za-z0-9_\-]+")
# A fixed table rather than hashlib: hashlib's set depends on the OpenSSL build
# (FIPS builds lack md5), and a lock must read the same everywhere.
_HEX_LENGTHS = {
    "md5": 32,
    "sha1": 40,
    "sha224": 56,
    "sha256": 64,
    "sha384": 96,
    "sha512": 128,
    "sha512_224": 56,
    "sha512_256": 64,
    "sha3_224": 56,
    "sha3_256": 64,
    "sha3_384": 96,
    "sha3_512": 128,
    "blake2b": 128,
    "blake2s": 64,
}
_NOT_ABSOLUTE = (
    "is not an absolute URL",
    "write it in full, like https://host.example/simple/",
)


def redact_url(url: str) -> str:
    """``url`` with its user-info (user name and password) removed entirely.

    Everything else is kept byte for byte. Never raises: text that is not a URL
    with an authority loses a leading ``user:pass@`` and has the user-info of
    any URL inside it masked as by :func:`redact_text`.
    """
    # Purely textual, not urlsplit: urlsplit raises on bad brackets, lowercases
    # the scheme and deletes tabs, and the result must be the input minus secrets.
    match = _AUTHORITY_RE.match(url)
    if match is None:
        lead = _LEADING_USERINFO_RE.match(url)
        return redact_text(url[lead.end() :] if lead else url)
    authority = match["authority"]
    if "@" not in authority:
        return url
    return match["prefix"] + authority.rpartition("@")[2] + url[match.end() :]


def redact_text(text: str) -> str:
    """``text`` with the user-info of every URL in it replaced by ``****@``.

    User-info made only of ``${VAR}`` references is kept: it holds no secret.
    """

    def mask(match: re.Match[str]) -> str:
        return match[0] if _ONLY_REFS_RE.fullmatch(match[1]) else "****@"

    return _TEXT_USERINFO_RE.sub(mask, text)


def has_unsafe_characters(text: str) -> bool:
    """Whether ``text`` holds whitespace or a control character (C0, DEL, C1,
    NEL, U+2028, U+2029): any of them could split or hide a line of a pip
    requirements file."""
    return _UNSAFE_RE.search(text) is not None


def _host_problem(hostinfo: str, *, need_host: bool) -> tuple[str, str] | None:
    """What is wrong with the ``host[:port]`` part of an authority, with a hint."""
    if hostinfo.startswith("["):
        host, bracket, after = hostinfo[1:].partition("]")
        if not bracket or "[" in host or "[" in after or "]" in after:
            return (
                "has an unbalanced '[' in its host",
                "write an IPv6 address in brackets, like https://[::1]:8080/",
            )
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return (
                f"has [{host}] as host, which is not an IPv6 address",
                "only IPv6 addresses go in brackets, like https://[2001:db8::1]/",
            )
        if after and not after.startswith(":"):
            return ("has text after the ']' of its host", "put only ':port' after the ']'")
        has_port, port = bool(after), after[1:]
    else:
        if "[" in hostinfo or "]" in hostinfo:
            return (
                "has an unbalanced or misplaced bracket in its host",
                "only a whole IPv6 address goes in brackets, like https://[::1]/",
            )
        host, colon, port = hostinfo.partition(":")
        has_port = bool(colon)
        if need_host and not host:
            return ("has no host", "write the host after '//', like https://host.example/")
    if has_port:
        if not port:
            return ("has a ':' but no port after it", "write a port from 1 to 65535, or no ':'")
        if not _PORT_RE.fullmatch(port):
            return (f"has port {port!r}, which is not a number", "write a port from 1 to 65535")
        if not 1 <= int(port) <= 65535:
            return (f"has port {port}, outside 1..65535", "write a port from 1 to 65535")
    return None


def _url_problem(url: str, schemes: Collection[str]) -> SplitResult | tuple[str, str]:
    """The split ``url``, or what is wrong with it and a hint.

    Problem texts never quote the user-info, so they are safe to show.
    """
    if not url:
        return ("is empty", "give a URL like https://host.example/simple/")
    if has_unsafe_characters(url):
        return (
            "contains whitespace or a control character",
            "remove it, or percent-encode it (a space is %20)",
        )
    allowed = {scheme.lower() for scheme in schemes}
    match = _AUTHORITY_RE.match(url)
    if match is None:
        # Only a bare "file:/path" may lack "//". Any other scheme-like word is not
        # quoted: in "user:token@host" it would be the user name.
        scheme = _SCHEME_RE.match(url)
        if scheme is None or scheme[0].lower() != "file:" or "file" not in allowed:
            return _NOT_ABSOLUTE
        authority = None
    else:
        if match["scheme"] is None:
            return ("has no scheme", "start it with https://")
        if match["scheme"].lower() not in allowed:
            return (
                f"uses scheme {match['scheme']!r}, which is not allowed here",
                f"use one of: {', '.join(schemes)}",
            )
        authority = match["authority"]
    if authority is not None:
        userinfo, _, hostinfo = authority.rpartition("@")
        if "[" in userinfo or "]" in userinfo:
            return (
                "has '[' or ']' in its user name or password",
                "percent-encode them as %5B and %5D",
            )
        need_host = match is not None and match["scheme"].lower() != "file"
        problem = _host_problem(hostinfo, need_host=need_host)
        if problem is not None:
            return problem
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - urllib validates the port only when it is read
    except ValueError:
        # Never show the ValueError's text: urllib puts the whole netloc in it.
        return (
            "cannot be parsed",
            "percent-encode unusual characters in the user name and password",
        )
    return parts


def check_url(url: str, *, key: str, schemes: Collection[str] = ("https", "http")) -> SplitResult:
    """Validate a URL given by the user under ``key`` and return it split.

    Raises :class:`~reqlock.errors.ConfigError` naming ``key`` and quoting the URL
    without its credentials when it is empty, holds whitespace or a control
    character, has a scheme not in ``schemes``, no host, a bad port or a bad IPv6
    literal. ``file:`` URLs (when allowed) need no host.
    """
    result = _url_problem(url, schemes)
    if isinstance(result, SplitResult):
        return result
    problem, hint = result
    raise ConfigError(f"the URL {redact_url(url)!r} {problem}", key=key, hint=hint)


def lock_url_problem(
    url: str, *, schemes: Collection[str] = ("https", "http", "file")
) -> str | None:
    """What is wrong with a URL read from a lock file (never quoting its
    credentials), or None when it is usable. The same checks as :func:`check_url`."""
    result = _url_problem(url, schemes)
    if isinstance(result, SplitResult):
        return None
    return f"the URL {result[0]}"


def hash_problem(algorithm: str, value: str) -> str | None:
    """What is wrong with the digest ``value`` for ``algorithm``, or None.

    A digest is hexadecimal of either case, with exactly the length of the
    algorithm when reqlock knows it; an unknown algorithm only needs some hex.
    """
    if not _ALGORITHM_RE.fullmatch(algorithm):
        # The name ends up in "--hash=name:value"; anything odd would break that.
        return f"the hash algorithm name {algorithm!r} is not valid"
    if not value:
        return f"the {algorithm} digest is empty"
    if not _HEX_RE.fullmatch(value):
        return f"the {algorithm} digest is not hexadecimal"
    expected = _HEX_LENGTHS.get(algorithm.lower().replace("-", "_"))
    if expected is not None and len(value) != expected:
        return f"the {algorithm} digest has {len(value)} hex digits, expected {expected}"
    return None
