"""Index credentials and transport policy, kept apart from every URL we show or store.

Credentials come from (first match wins, per index):

1. user info in the index URL (``https://user:token@host/simple/``);
2. ``REQLOCK_INDEX_USERNAME`` / ``REQLOCK_INDEX_PASSWORD`` for the first index;
3. a netrc file (``NETRC`` or ``~/.netrc``) entry for the index host.

They are removed from the URLs at once and attached to requests by origin (scheme,
host and port), so relative and absolute file links on the index's own host are
authenticated, a redirect to another host is not, and no URL that reaches a lock,
a log line or an error can carry them.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_INDEX_URL",
    "Credentials",
    "IndexPolicy",
    "check_index_url",
    "split_credentials",
    "with_userinfo",
]

import ipaddress
import netrc
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from reqlock.errors import ConfigError

DEFAULT_INDEX_URL = "https://pypi.org/simple/"
Origin = tuple[str, str, int]


def origin_of(url: str) -> Origin:
    """(scheme, host, port) of ``url``, with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


@dataclass(frozen=True, kw_only=True, slots=True)
class Credentials:
    """User names and passwords by origin. ``repr`` never shows the passwords."""

    by_origin: Mapping[Origin, tuple[str, str]] = field(default_factory=dict, repr=False)

    def for_url(self, url: str) -> tuple[str, str] | None:
        """The credentials for the origin of ``url``, if any."""
        return self.by_origin.get(origin_of(url))

    def secrets(self) -> list[str]:
        """Every password (to scrub from text that left our control, e.g. pip's)."""
        return [p for _, p in self.by_origin.values() if p]


def split_credentials(
    urls: Sequence[str], environ: Mapping[str, str]
) -> tuple[list[str], Credentials]:
    """The index URLs without user info, and the credentials for their origins."""
    public: list[str] = []
    found: dict[Origin, tuple[str, str]] = {}
    for i, given in enumerate(urls):
        parts = urlsplit(given)
        origin = origin_of(given)
        url = given
        if parts.username is not None or parts.password is not None:
            found.setdefault(origin, (unquote(parts.username or ""), unquote(parts.password or "")))
            host = parts.netloc.rpartition("@")[2]
            url = parts._replace(netloc=host).geturl()
        elif i == 0 and environ.get("REQLOCK_INDEX_USERNAME"):
            found.setdefault(
                origin,
                (environ["REQLOCK_INDEX_USERNAME"], environ.get("REQLOCK_INDEX_PASSWORD", "")),
            )
        public.append(url)
    for url in public:
        origin = origin_of(url)
        if origin not in found:
            entry = _netrc_entry(origin[1], environ)
            if entry is not None:
                found[origin] = entry
    return public, Credentials(by_origin=found)


def _netrc_entry(host: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    # The caller's environment decides, not the process's: a library caller that
    # passes its own ``environ`` gets no netrc of the machine's user.
    home = environ.get("HOME") or (environ.get("USERPROFILE") if os.name == "nt" else None)
    path = environ.get("NETRC") or (os.path.join(home, ".netrc") if home else "")
    if not host or not path or not Path(path).is_file():
        return None
    try:
        auth = netrc.netrc(path).authenticators(host)
    except (netrc.NetrcParseError, OSError) as exc:
        raise ConfigError(
            f"cannot read the netrc file: {getattr(exc, 'msg', None) or exc.__class__.__name__}",
            key=path,
            hint="fix the file or point NETRC at another one",
        ) from None
    if auth is None:
        return None
    login, _account, password = auth
    return login or "", password or ""


@dataclass(frozen=True, kw_only=True, slots=True)
class IndexPolicy:
    """Which plain-HTTP hosts may be used (loopback always may, as with pip)."""

    insecure_hosts: frozenset[str] = frozenset()
    # An injected in-process transport is not a network: nothing to protect.
    allow_all: bool = False

    def allows(self, url: str) -> bool:
        """True when fetching ``url`` is allowed."""
        scheme, host, _ = origin_of(url)
        if scheme == "https" or (self.allow_all and scheme == "http"):
            return True
        if scheme != "http":
            return False
        return host in self.insecure_hosts or _is_loopback(host)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_index_url(url: str, policy: IndexPolicy, *, key: str) -> None:
    """Refuse an index URL reqlock will not use, naming it (without credentials)."""
    scheme, host, _ = origin_of(url)
    if scheme not in ("http", "https") or not host:
        raise ConfigError(
            f"{url!r} is not an http(s) index URL",
            key=key,
            hint="give the base URL of a PEP 503/691 simple index, e.g. https://pypi.org/simple/",
        )
    if not policy.allows(url):
        raise ConfigError(
            f"{url} is plain http: anyone on the network could change what gets locked",
            key=key,
            hint=f"use https, or allow this host explicitly with --allow-insecure-host {host}",
        )


def with_userinfo(url: str, credentials: Credentials) -> str:
    """``url`` with the credentials ``credentials`` hold for it in its user info (for
    a build frontend that must reach the index itself); ``url`` when none."""
    creds = credentials.for_url(url)
    if creds is None:
        return url
    from urllib.parse import quote

    parts = urlsplit(url)
    userinfo = quote(creds[0], safe="") + (":" + quote(creds[1], safe="") if creds[1] else "")
    return parts._replace(netloc=f"{userinfo}@{parts.netloc}").geturl()
