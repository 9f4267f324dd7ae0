"""Credentials and index safety (issue 5, items 3 and 4).

Every credential path (URL user info, ``REQLOCK_INDEX_USERNAME``/``PASSWORD``,
netrc) is used against an index that requires it, and everything the run leaves
behind (stdout, stderr, the lock, the ``--json`` report of verify, the cache, the
warnings) is searched for the secret.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from reqlock import lock
from reqlock.cli.main import main
from reqlock.errors import ConfigError, IndexFetchError
from reqlock.progress import Reporter
from tests.fakeindex.app import FakeIndexApp
from tests.lockapi import with_options

SECRET = "s3cret-T0ken"
MakeApp = Callable[..., FakeIndexApp]
Serve = Callable[[FakeIndexApp], str]


def _host_port(base: str) -> str:
    return base.split("://", 1)[1]


def _everything_under(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.rglob("*") if p.is_file())


@pytest.fixture
def auth_index(make_index_app: MakeApp, serve_app: Serve) -> tuple[FakeIndexApp, str]:
    app = make_index_app(require_auth=("alice", SECRET))
    return app, serve_app(app)


def _run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("REQLOCK_", "PIP_"))}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "reqlock", *args],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize("how", ["url", "environment", "netrc"])
def test_a_private_index_works_and_the_secret_leaks_nowhere(
    how: str, auth_index: tuple[FakeIndexApp, str], tmp_path: Path
) -> None:
    app, base = auth_index
    (tmp_path / "requirements.txt").write_text("extras-a[y]\nnometa-pkg\nsdist-static\n")
    env = {"REQLOCK_CACHE_DIR": str(tmp_path / "cache"), "NETRC": os.devnull}
    index = f"{base}/simple/"
    if how == "url":
        index = f"http://alice:{SECRET}@{_host_port(base)}/simple/"
    elif how == "environment":
        env.update(REQLOCK_INDEX_USERNAME="alice", REQLOCK_INDEX_PASSWORD=SECRET)
    else:
        netrc = tmp_path / "netrc"
        netrc.write_text(f"machine 127.0.0.1 login alice password {SECRET}\n")
        netrc.chmod(0o600)
        env["NETRC"] = str(netrc)
    proc = _run_cli(["lock", "-i", index, "-o", "pylock.toml"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    lock_text = (tmp_path / "pylock.toml").read_text()
    assert 'name = "sdist-static"' in lock_text
    assert all(r.headers.get("authorization", "").startswith("Basic ") for r in app.requests)
    verify = _run_cli(
        ["verify", "pylock.toml", "--json", "--python", sys.executable], env, tmp_path
    )
    for text in (proc.stdout, proc.stderr, lock_text, verify.stdout, verify.stderr):
        assert SECRET not in text
    assert SECRET.encode() not in _everything_under(tmp_path / "cache")


def test_wrong_credentials_give_one_clear_error_without_the_secret(
    auth_index: tuple[FakeIndexApp, str], tmp_path: Path
) -> None:
    _, base = auth_index
    (tmp_path / "requirements.txt").write_text("leaf-a\n")
    index = f"http://alice:{SECRET}-wrong@{_host_port(base)}/simple/"
    proc = _run_cli(["lock", "-i", index, "--no-cache"], {"NETRC": os.devnull}, tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ")
    assert "401" in proc.stderr
    assert "credentials" in proc.stderr
    assert SECRET not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_credentials_are_not_sent_to_another_host(
    make_index_app: MakeApp, serve_app: Serve, tmp_path: Path
) -> None:
    # The first index has credentials; the second (another origin) must never
    # see them.
    private = make_index_app(require_auth=("alice", SECRET))
    public = make_index_app()
    private_base, public_base = serve_app(private), serve_app(public)
    lock(
        **with_options(
            requirements=["leaf-a"],
            index_url=f"http://alice:{SECRET}@{_host_port(private_base)}/simple/",
            extra_index_urls=[f"{public_base.replace('127.0.0.1', 'localhost')}/simple/"],
            no_cache=True,
            environ={"NETRC": os.devnull},
        )
    )
    assert private.requests
    assert not any("authorization" in r.headers for r in public.requests)


def test_a_bad_netrc_is_a_clear_error(tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine\n")
    with pytest.raises(ConfigError) as info:
        lock(
            **with_options(
                requirements=["leaf-a"],
                index_url="https://index.invalid/simple/",
                no_cache=True,
                environ={"NETRC": str(netrc)},
            )
        )
    assert str(netrc) in str(info.value)


# -- index safety ---------------------------------------------------------------------


def test_plain_http_index_is_refused_unless_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        lock(
            **with_options(
                requirements=["leaf-a"], index_url="http://example.com/simple/", no_cache=True
            )
        )
    assert "--allow-insecure-host example.com" in str(info.value)


def test_loopback_http_is_allowed(index_url: str) -> None:
    result = lock(**with_options(requirements=["leaf-a"], index_url=index_url, no_cache=True))
    assert result.package_count == 1


def test_an_allowed_insecure_host_works(wsgi_transport: httpx.WSGITransport) -> None:
    # "fakeindex" is no loopback name: only --allow-insecure-host lets it through,
    # and an injected transport does not switch the policy off.
    url = "http://fakeindex/simple/"
    environ = {"NETRC": os.devnull}
    with pytest.raises(ConfigError, match="--allow-insecure-host fakeindex"):
        lock(
            requirements=["leaf-a"],
            environ=environ,
            transport=wsgi_transport,
            **with_options(index_url=url, no_cache=True),
        )
    result = lock(
        requirements=["leaf-a"],
        environ=environ,
        transport=wsgi_transport,
        **with_options(index_url=url, no_cache=True, allow_insecure_hosts=["FakeIndex"]),
    )
    assert result.package_count == 1


def test_an_insecure_link_on_a_secure_index_is_refused() -> None:
    from reqlock.index.auth import IndexPolicy
    from reqlock.index.client import HttpClient

    client = HttpClient(policy=IndexPolicy())
    with pytest.raises(IndexFetchError) as info:
        client.get("http://files.example.com/x.whl")
    assert "plain http" in str(info.value)


def test_first_index_wins_and_mixing_is_opt_in(
    make_index_app: MakeApp, serve_app: Serve, universe: object
) -> None:
    # Two indexes serve leaf-a; the second would offer nothing new, but a lock
    # must take every file from the first index only.
    first, second = make_index_app(), make_index_app()
    first_base, second_base = serve_app(first), serve_app(second)
    second_url = second_base.replace("127.0.0.1", "localhost") + "/simple/"
    result = lock(
        **with_options(
            requirements=["leaf-a"],
            index_url=f"{first_base}/simple/",
            extra_index_urls=[second_url],
            no_cache=True,
        )
    )
    (package,) = result.pylock.packages
    assert package.index == f"{first_base}/simple/"
    assert not second.requests_for("/simple/leaf-a")
    mixed = lock(
        **with_options(
            requirements=["leaf-a"],
            index_url=f"{first_base}/simple/",
            extra_index_urls=[second_url],
            index_strategy="unsafe-best-match",
            no_cache=True,
        )
    )
    assert second.requests_for("/simple/leaf-a")
    assert mixed.package_count == 1


def test_unknown_index_strategy_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="index strategy"):
        lock(**with_options(requirements=["leaf-a"], index_strategy="best", no_cache=True))


def test_yanked_release_only_when_pinned_with_a_warning(index_url: str) -> None:
    reporter = Reporter()
    free = lock(**with_options(requirements=["yanked-pkg"], index_url=index_url, no_cache=True))
    (package,) = free.pylock.packages
    pinned = lock(
        **with_options(
            requirements=["yanked-pkg==2.0"], index_url=index_url, no_cache=True, reporter=reporter
        )
    )
    (pinned_package,) = pinned.pylock.packages
    assert str(package.version) != "2.0"
    assert str(pinned_package.version) == "2.0"
    assert any("yanked" in w for w in reporter.warnings)


def test_cli_allow_insecure_host_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    req = tmp_path / "r.txt"
    req.write_text("leaf-a\n")
    code = main(["lock", str(req), "-i", "http://example.com/simple/", "--no-cache"])
    assert code == 2
    assert "--allow-insecure-host" in capsys.readouterr().err
