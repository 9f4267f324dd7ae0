"""Fault injection: reqlock against a misbehaving index on 127.0.0.1 (issue 5, items 1-2).

A ``FaultServer`` (tests/fakeindex/faults.py) sits in front of the fake index and,
per path, answers 5xx/429, resets or closes the connection mid-answer, never
answers, sends broken pages, altered files, redirect loops or endless bodies.
Transient faults must be retried until the lock succeeds; persistent ones must end
in one ``ReqlockError`` naming the URL without credentials; nothing bad may be
written to a lock file or kept in the cache.

``lock()`` (and so the CLI) builds its ``HttpClient`` with a 30 s time-out (or
``REQLOCK_HTTP_TIMEOUT``), 3 retries (or ``REQLOCK_HTTP_RETRIES``) and a 0.25 s
backoff. These tests pass a short time-out and no backoff as Options
(``fast_http`` sets the time-out for subprocesses too); the retry count stays the
default.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from reqlock.cli.main import main
from reqlock.errors import IndexFetchError, ReqlockError
from reqlock.locking.api import LockResult, lock
from tests.fakeindex import FakeIndexApp
from tests.fakeindex.faults import Fault, FaultServer
from tests.lockapi import with_options

USER, SECRET = "alice", "s3cr3t-token"
TIMEOUT = 0.5  # seconds without an answer before an attempt counts as timed out
ATTEMPTS = 4  # HttpClient's default: 1 + 3 retries

REQS = ("extras-a[y]",)  # extras-a 1.0, leaf-a 2.0, leaf-b 3.0
PAGE = "/simple/leaf-a/"
META = "/files/leaf_a-2.0-py3-none-any.whl.metadata"
WHEEL = "/files/nometa_pkg-1.0-py3-none-any.whl"  # no .metadata file: read from the wheel


# -- fixtures and helpers ------------------------------------------------------------


@dataclass
class Faulty:
    """A fake index behind a fault server, reached with credentials."""

    server: FaultServer
    app: FakeIndexApp
    base: str  # http://127.0.0.1:PORT
    url: str  # the simple URL with credentials
    public: str  # the simple URL without them

    def lock(self, requirements: tuple[str, ...] = REQS, **kw: Any) -> LockResult:
        kw.setdefault("no_cache", "cache_dir" not in kw)
        # Short time-outs and no backoff: faults surface quickly (no timing is asserted).
        kw.setdefault("http_timeout", TIMEOUT)
        kw.setdefault("http_backoff", 0.0)
        return lock(**with_options(requirements=list(requirements), index_url=self.url, **kw))

    def paths(self) -> list[str]:
        """The paths of every request logged so far."""
        return [h.path for h in self.server.log]


@pytest.fixture
def fast_http(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every HttpClient that lock() builds: short time-out, no backoff."""
    monkeypatch.setenv("REQLOCK_HTTP_TIMEOUT", str(TIMEOUT))


@pytest.fixture
def faulty(
    make_index_app: Callable[..., FakeIndexApp], fast_http: None
) -> Iterator[Callable[..., Faulty]]:
    """Factory: a fault server over a private fake index (``IndexOptions`` keywords).

    Defaults: credentials required, ``core-metadata`` advertised (so metadata comes
    from ``.metadata`` files only, with no hedged range requests: request logs are
    deterministic)."""
    with ExitStack() as stack:

        def start(**options: Any) -> Faulty:
            options.setdefault("require_auth", (USER, SECRET))
            options.setdefault("advertise_metadata", True)
            app = make_index_app(**options)
            server = FaultServer(app)
            base = stack.enter_context(server.running())
            creds = f"{USER}:{SECRET}@" if options["require_auth"] else ""
            url = base.replace("http://", f"http://{creds}") + "/simple/"
            return Faulty(server=server, app=app, base=base, url=url, public=f"{base}/simple/")

        yield start


def assert_no_secret(*texts: object) -> None:
    for text in texts:
        assert SECRET not in str(text)
        assert f"{USER}:" not in str(text)


def flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x01])


def drop_url_of_newest(body: bytes) -> bytes:
    """A JSON page whose leaf-a 2.0 entries lack their 'url' (a malformed entry)."""
    page = json.loads(body)
    for entry in page["files"]:
        if entry["filename"].startswith("leaf_a-2.0"):
            del entry["url"]
    return json.dumps(page).encode()


# Faults an index can show for a while (each is retried).
TRANSIENT: dict[str, Fault] = {
    "500": Fault.status(500),
    "502": Fault.status(502),
    "503": Fault.status(503),
    "504": Fault.status(504),
    "429": Fault.status(429),
    "reset-after-headers": Fault.reset(after="headers"),
    "reset-mid-body": Fault.reset(after="half"),
    "close-mid-body": Fault.reset(after="half", rst=False),
}


# -- transient faults are retried ----------------------------------------------------


@pytest.mark.parametrize("where", [PAGE, META], ids=["page", "metadata"])
@pytest.mark.parametrize(
    ("fault", "times"),
    [*((f, ATTEMPTS - 1) for f in TRANSIENT.values()), (Fault.hang(), 1)],
    ids=[*TRANSIENT, "one-time-out"],
)
def test_a_transient_fault_is_retried_and_the_lock_succeeds(
    faulty: Callable[..., Faulty], where: str, fault: Fault, times: int
) -> None:
    idx = faulty()
    expected = idx.lock().to_toml()
    idx.server.clear()
    idx.server.add(where, fault, times=times)  # flaky: fails `times` times, then serves
    got = idx.lock().to_toml()
    assert got == expected
    assert [h.fault for h in idx.server.hits(where)] == [fault.name] * times + [None]
    assert_no_secret(got)


def test_a_storm_of_transient_faults_on_every_path_is_survived(
    faulty: Callable[..., Faulty],
) -> None:
    idx = faulty()
    expected = idx.lock().to_toml()
    paths = sorted(set(idx.paths()))
    assert len(paths) == 9  # three pages, three metadata files, three RECORD reads
    idx.server.clear()
    kinds = [*TRANSIENT.values(), Fault.hang()]
    plan: dict[str, tuple[Fault, int]] = {}
    for i, path in enumerate(paths):
        fault = kinds[i % len(kinds)]
        times = 1 if fault.kind == "hang" else ATTEMPTS - 1
        plan[path] = (fault, times)
        idx.server.add(path, fault, times=times)
    assert idx.lock().to_toml() == expected
    for path, (fault, times) in plan.items():
        assert [h.fault for h in idx.server.hits(path)] == [fault.name] * times + [None], path


def test_retry_after_is_honoured(faulty: Callable[..., Faulty]) -> None:
    idx = faulty()
    idx.server.add(PAGE, Fault.status(429, retry_after="1"), times=1)
    started = time.monotonic()
    result = idx.lock()
    assert time.monotonic() - started >= 1.0
    first, second = idx.server.hits(PAGE)
    assert (first.fault, second.fault) == ("status 429", None)
    assert second.at - first.at >= 1.0  # backoff is 0 here: the wait is Retry-After's
    assert result.package_count == 3


# -- persistent faults are one clear error -------------------------------------------


PERSISTENT = [
    # (id, path, fault, words in the message, requests made)
    ("page-503", PAGE, Fault.status(503), ["HTTP 503"], ATTEMPTS),
    ("page-429", PAGE, Fault.status(429), ["HTTP 429"], ATTEMPTS),
    ("page-403", PAGE, Fault.status(403), ["HTTP 403"], 1),
    (
        "page-reset",
        PAGE,
        Fault.reset(),
        ["could not fetch", f"after {ATTEMPTS} attempts"],
        ATTEMPTS,
    ),
    (
        "page-close-mid-body",
        PAGE,
        Fault.reset(after="half", rst=False),
        ["could not fetch"],
        ATTEMPTS,
    ),
    ("page-time-out", PAGE, Fault.hang(), ["timed out", f"after {ATTEMPTS} attempts"], ATTEMPTS),
    ("page-truncated-json", PAGE, Fault.alter(lambda b: b[: len(b) // 2]), ["invalid JSON"], 1),
    ("page-invalid-json", PAGE, Fault.replace(b'{"meta": {'), ["invalid JSON"], 1),
    (
        "page-broken-html",
        PAGE,
        Fault.replace(b"<html>\xff\xfe<a href=", content_type="text/html"),
        ["not UTF-8"],
        1,
    ),
    (
        "page-not-a-page",
        PAGE,
        Fault.replace(b"PK\x03\x04", content_type="application/zip"),
        ["content type", "not a simple-API page"],
        1,
    ),
    (
        "page-bad-gzip",
        PAGE,
        Fault.alter(lambda b: b, headers=(("Content-Encoding", "gzip"),)),
        ["could not fetch"],
        ATTEMPTS,
    ),
    ("metadata-502", META, Fault.status(502), ["HTTP 502"], ATTEMPTS),
    ("metadata-reset", META, Fault.reset(after="half"), ["could not fetch"], ATTEMPTS),
]


@pytest.mark.parametrize(
    ("path", "fault", "words", "requests"),
    [case[1:] for case in PERSISTENT],
    ids=[case[0] for case in PERSISTENT],
)
def test_a_persistent_fault_is_one_clear_error_without_credentials(
    faulty: Callable[..., Faulty], path: str, fault: Fault, words: list[str], requests: int
) -> None:
    idx = faulty()
    idx.server.add(path, fault)
    with pytest.raises(IndexFetchError) as info:
        idx.lock()
    error = info.value
    url = f"{idx.base}{path}"
    assert error.url == url
    assert url in str(error)
    for word in words:
        assert word in str(error)
    assert_no_secret(str(error), error.url, error.hint, error.args, error.__cause__)
    assert len(idx.server.hits(path)) == requests
    assert all(h.fault == fault.name for h in idx.server.hits(path))


def test_a_redirect_loop_is_a_clear_error(faulty: Callable[..., Faulty]) -> None:
    idx = faulty()
    idx.server.add(PAGE, Fault.redirect_loop())
    with pytest.raises(IndexFetchError) as info:
        idx.lock()
    assert "too many redirects" in str(info.value)
    assert info.value.url == f"{idx.public}leaf-a/"
    assert info.value.hint is not None
    assert "loop" in info.value.hint
    assert_no_secret(str(info.value), info.value.url)
    # Bounded, and a loop is not retried: at most httpx's 10 redirects plus one.
    assert 2 <= len(idx.server.hits(PAGE)) <= 11


@pytest.mark.parametrize(
    ("path", "fault", "options"),
    [
        (PAGE, Fault.huge(), {}),  # announces 600 MiB
        (META, Fault.huge(declare=None), {}),  # no Content-Length: read until close
        (WHEEL, Fault.huge(), {"ranges": False}),  # the whole wheel must be read
    ],
    ids=["page-600MiB-declared", "metadata-endless-stream", "wheel-600MiB-declared"],
)
def test_an_oversized_answer_is_refused_and_abandoned(
    faulty: Callable[..., Faulty], path: str, fault: Fault, options: dict[str, Any]
) -> None:
    idx = faulty(**options)
    idx.server.add(path, fault)
    reqs = ("nometa-pkg==1.0",) if path == WHEEL else REQS
    answers = len(fault.sent)
    started = time.monotonic()
    with pytest.raises(IndexFetchError) as info:
        idx.lock(reqs)
    assert time.monotonic() - started < 10
    assert "refusing" in str(info.value)
    assert info.value.url == f"{idx.base}{path}"
    assert_no_secret(str(info.value))
    # One answer (not retried), abandoned by the client long before its end.
    idx.server.settle()
    assert len(fault.sent) == answers + 1
    assert fault.sent[-1] < 64 * 1024 * 1024


# -- the command line ----------------------------------------------------------------


class CliCase(NamedTuple):
    path: str
    fault: Fault
    words: tuple[str, ...]
    place: str | None = None  # what the message must name; default: the URL


CLI_CASES = {
    "page-503": CliCase(PAGE, Fault.status(503), ("HTTP 503",)),
    "page-reset": CliCase(PAGE, Fault.reset(after="half"), ("could not fetch",)),
    "page-time-out": CliCase(PAGE, Fault.hang(), ("timed out",)),
    "page-invalid-json": CliCase(PAGE, Fault.replace(b"{"), ("invalid JSON",)),
    "page-redirect-loop": CliCase(PAGE, Fault.redirect_loop(), ("too many redirects",)),
    "page-oversized": CliCase(PAGE, Fault.huge(), ("refusing",)),
    "metadata-502": CliCase(META, Fault.status(502), ("HTTP 502",)),
    "metadata-hash-mismatch": CliCase(
        META,
        Fault.alter(lambda b: b + b"Requires-Dist: evil-pkg\n"),
        ("does not match the sha256",),
        place="leaf-a 2.0: the metadata file of leaf_a-2.0-py3-none-any.whl",
    ),
}


@pytest.mark.parametrize("case", CLI_CASES.values(), ids=CLI_CASES.keys())
def test_the_cli_fails_with_one_message_and_keeps_the_existing_lock(
    faulty: Callable[..., Faulty],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: CliCase,
) -> None:
    monkeypatch.chdir(tmp_path)
    idx = faulty()
    req = tmp_path / "requirements.txt"
    req.write_text("\n".join(REQS) + "\n")
    out = tmp_path / "pylock.toml"
    cache = tmp_path / "cache"
    args = ["lock", str(req), "-o", str(out), "-i", idx.url]
    assert main([*args, "--cache-dir", str(cache)]) == 0
    capsys.readouterr()
    before = out.read_bytes()
    assert b'name = "leaf-a"' in before

    idx.server.add(case.path, case.fault)
    # A page fault is met by a refresh; metadata is cached for good, so skip the cache.
    again = ["--cache-dir", str(cache), "--refresh"] if case.path == PAGE else ["--no-cache"]
    code = main([*args, *again])
    stdout, stderr = capsys.readouterr()
    assert code == 2
    assert stderr.startswith("error: ")
    assert stderr.count("error:") == 1
    assert "Traceback" not in stderr
    assert (case.place or f"{idx.base}{case.path}") in stderr
    for word in case.words:
        assert word in stderr
    assert_no_secret(stdout, stderr)
    assert out.read_bytes() == before
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == ["cache", "pylock.toml", "requirements.txt"]
    assert not any(SECRET.encode() in p.read_bytes() for p in cache.rglob("*") if p.is_file())

    # The failed run spoiled nothing in the cache: offline still locks the same.
    assert main([*args, "--cache-dir", str(cache), "--offline"]) == 0
    assert "up to date" in capsys.readouterr().err
    assert out.read_bytes() == before


# -- hash mismatches -----------------------------------------------------------------


class HashCase(NamedTuple):
    path: str
    options: dict[str, Any]
    requirement: str
    alter: Callable[[bytes], bytes]
    place: str


HASH_CASES = {
    "metadata-file": HashCase(
        META,
        {},
        "extras-a[y]",
        lambda b: b + b"Requires-Dist: evil-pkg\n",
        "leaf-a 2.0: the metadata file of leaf_a-2.0-py3-none-any.whl",
    ),
    "wheel": HashCase(
        WHEEL,
        {"ranges": False},
        "nometa-pkg==1.0",
        flip_last_byte,
        "nometa-pkg: nometa_pkg-1.0-py3-none-any.whl",
    ),
}


@pytest.mark.parametrize("case", HASH_CASES.values(), ids=HASH_CASES.keys())
def test_a_file_not_matching_the_index_hash_fails_writes_nothing_caches_nothing(
    faulty: Callable[..., Faulty],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: HashCase,
) -> None:
    monkeypatch.chdir(tmp_path)
    idx = faulty(**case.options)
    idx.server.add(case.path, Fault.alter(case.alter), times=1)
    req = tmp_path / "requirements.txt"
    req.write_text(case.requirement + "\n")
    out = tmp_path / "pylock.toml"
    cache = tmp_path / "cache"
    args = ["lock", str(req), "-o", str(out), "-i", idx.url, "--cache-dir", str(cache)]
    assert main(args) == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("error: ")
    assert "does not match the sha256 the index gives for it" in stderr
    assert case.place in stderr
    assert_no_secret(stderr)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "requirements.txt"]
    cached = [p.read_bytes() for p in cache.rglob("*") if p.is_file()]
    assert not any(b"evil-pkg" in data for data in cached)
    assert not (cache / "blobs-v2" / "dist").exists() or not any(
        (cache / "blobs-v2" / "dist").iterdir()
    )
    # The bad answer was not kept: the next run fetches the file again and locks.
    assert main(args) == 0
    assert [h.fault for h in idx.server.hits(case.path)] == ["altered", None]
    assert out.exists()


# -- cache safety --------------------------------------------------------------------


BAD_ONCE = [
    pytest.param(PAGE, Fault.alter(lambda b: b[: len(b) // 2]), {}, id="page-truncated-json"),
    pytest.param(PAGE, Fault.replace(b"[1, 2"), {}, id="page-invalid-json"),
    pytest.param(
        PAGE,
        Fault.replace(b"\xff<html>", content_type="text/html"),
        {},
        id="page-broken-html",
    ),
    pytest.param(META, Fault.alter(flip_last_byte), {}, id="metadata-hash-mismatch"),
    pytest.param(WHEEL, Fault.alter(flip_last_byte), {"ranges": False}, id="wheel-hash-mismatch"),
    pytest.param(
        PAGE,
        Fault.alter(drop_url_of_newest),
        {},
        id="page-malformed-file-entry",
    ),
]


@pytest.mark.parametrize(("path", "fault", "options"), BAD_ONCE)
def test_a_bad_answer_is_not_kept_in_the_cache(
    faulty: Callable[..., Faulty],
    tmp_path: Path,
    path: str,
    fault: Fault,
    options: dict[str, Any],
) -> None:
    idx = faulty(**options)
    reqs = ("nometa-pkg==1.0",) if path == WHEEL else REQS
    idx.server.add(path, fault, times=1)
    with pytest.raises(IndexFetchError) as info:
        idx.lock(reqs, cache_dir=tmp_path)
    assert_no_secret(str(info.value))
    # The index is healthy again: the same cache must not replay the bad answer.
    result = idx.lock(reqs, cache_dir=tmp_path)
    assert result.package_count >= 2
    assert [h.fault for h in idx.server.hits(path)] == [fault.name, None]


def _corrupt_truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _corrupt_header(data: bytes) -> bytes:
    return b'{"not": "a header"}\n' + data.partition(b"\n")[2]


@pytest.mark.parametrize(
    "corrupt",
    [_corrupt_truncate, flip_last_byte, _corrupt_header, lambda data: b""],
    ids=["truncated", "altered-byte", "altered-header", "emptied"],
)
def test_corrupted_cache_entries_are_discarded_and_fetched_again(
    faulty: Callable[..., Faulty], tmp_path: Path, corrupt: Callable[[bytes], bytes]
) -> None:
    idx = faulty()
    first = idx.lock(cache_dir=tmp_path).to_toml()
    fetched = sorted(idx.paths())
    assert sum(p.endswith(".metadata") for p in fetched) == 3
    entries = [p for p in tmp_path.rglob("*") if p.is_file()]
    kinds = {p.parent.name for p in entries}
    assert {"pages-v2", "metadata", "resolutions"} <= kinds
    for entry in entries:
        entry.write_bytes(corrupt(entry.read_bytes()))
    idx.server.clear()

    assert idx.lock(cache_dir=tmp_path).to_toml() == first
    # Every page and metadata file was found unsound and fetched again, once.
    assert sorted(idx.paths()) == fetched
    # ... and stored soundly: without the remembered resolution, offline works.
    for memo in (tmp_path / "blobs-v2" / "resolutions").iterdir():
        memo.unlink()
    idx.server.clear()
    assert idx.lock(cache_dir=tmp_path, offline=True).to_toml() == first
    assert idx.server.log == []


CONCURRENT_REQS = """\
extras-a[all]
bt-top
bt-other
markers-top
nometa-pkg
sdist-static
"""


def test_two_processes_share_a_cache_then_offline_works(
    make_index_app: Callable[..., FakeIndexApp], tmp_path: Path
) -> None:
    # The mirror-like index: no advertised metadata, so both processes also hedge
    # with range requests, read an sdist, and fill every kind of cache entry.
    server = FaultServer(make_index_app())
    req = tmp_path / "requirements.txt"
    req.write_text(CONCURRENT_REQS)
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REQLOCK_", "PIP_"))}

    def command(out: str, *extra: str) -> list[str]:
        return [
            *(sys.executable, "-m", "reqlock", "lock", str(req), "-o", str(tmp_path / out)),
            *("-i", f"{base}/simple/", "--cache-dir", str(cache), *extra),
        ]

    def run(out: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command(out, *extra), cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip

    with server.running() as base:
        # Hold the first page until both processes have asked for it: they really
        # run at the same time, on an empty cache.
        gather = Fault.gather(2)
        server.add("/simple/extras-a/", gather, times=2)
        procs = [
            subprocess.Popen(
                command(out),
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for out in ("one.toml", "two.toml")
        ]
        results = []
        try:
            for proc in procs:
                _, err = proc.communicate(timeout=60)
                results.append((proc.returncode, err))
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        assert [code for code, _ in results] == [0, 0], results
        assert gather.gathered == [True, True]  # both were in flight at once
        one, two = (tmp_path / "one.toml").read_bytes(), (tmp_path / "two.toml").read_bytes()
        assert one == two
        assert b'name = "nometa-pkg"' in one
        assert b'name = "sdist-static"' in one

        server.clear()
        offline = run("three.toml", "--offline")
        assert offline.returncode == 0, offline.stderr
        assert (tmp_path / "three.toml").read_bytes() == one
        # Not only the remembered result: every page, metadata and file entry is sound.
        for memo in (cache / "blobs-v2" / "resolutions").iterdir():
            memo.unlink()
        offline = run("four.toml", "--offline")
        assert offline.returncode == 0, offline.stderr
        assert (tmp_path / "four.toml").read_bytes() == one
        assert server.log == []
    assert not list(cache.rglob(".tmp-*"))


# -- unadvertised metadata files ------------------------------------------------------

LEAF_WHEEL = "/files/leaf_a-2.0-py3-none-any.whl"


def test_a_wheel_host_failing_falls_back_to_an_unadvertised_metadata_file(
    faulty: Callable[..., Faulty],
) -> None:
    idx = faulty(advertise_metadata=False)  # like the mirror: metadata not advertised
    idx.server.add(LEAF_WHEEL, Fault.status(503))
    result = idx.lock(("leaf-a",))
    assert result.package_count == 1
    paths = idx.paths()
    assert META in paths
    assert paths.index(LEAF_WHEEL) < paths.index(META)  # ranges first, as pip and uv


@pytest.mark.parametrize("status", ["416 Range Not Satisfiable", "403 Forbidden"])
def test_a_refused_range_read_falls_back_to_an_unadvertised_metadata_file(
    faulty: Callable[..., Faulty], status: str
) -> None:
    idx = faulty(advertise_metadata=False)
    idx.server.add(LEAF_WHEEL, Fault.raw(status), times=1)
    result = idx.lock(("leaf-a",))
    assert result.package_count == 1
    assert META in idx.paths()


def test_an_altered_wheel_is_an_error_even_with_an_unadvertised_metadata_file_at_hand(
    faulty: Callable[..., Faulty],
) -> None:
    # No range support: the whole wheel comes back, and it does not match its hash.
    # Falling back to the (intact) metadata file would lock an altered release.
    idx = faulty(advertise_metadata=False, ranges=False)
    idx.server.add(LEAF_WHEEL, Fault.alter(flip_last_byte))
    with pytest.raises(IndexFetchError, match="does not match the sha256") as caught:
        idx.lock(("leaf-a",))
    assert caught.value.package == "leaf-a"
    assert META not in idx.paths()


def test_a_failing_hedge_does_not_hide_a_slow_metadata_file(
    faulty: Callable[..., Faulty],
) -> None:
    idx = faulty(advertise_metadata=False)
    idx.server.add(META, Fault.delay(0.3))
    idx.server.add(LEAF_WHEEL, Fault.status(503))
    result = idx.lock(("leaf-a",), hedge_after=0.0)  # the race, asked for
    assert result.package_count == 1


# -- answers that are not errors but are still wrong ---------------------------------


def test_an_unsolicited_304_is_not_an_empty_project_and_is_not_cached(
    faulty: Callable[..., Faulty], tmp_path: Path
) -> None:
    idx = faulty()
    idx.server.add(PAGE, Fault.raw("304 Not Modified"), times=1)
    # Either asking again without validators, or an error naming the real problem.
    try:
        outcome = f"locked {idx.lock(('leaf-a',), cache_dir=tmp_path).package_count}"
    except ReqlockError as exc:
        outcome = str(exc)
    assert outcome == "locked 1" or (
        "no project named" not in outcome and f"{idx.public}leaf-a/" in outcome
    ), outcome
    again = idx.lock(("leaf-a",), cache_dir=tmp_path)
    assert again.package_count == 1
    assert len(idx.server.hits(PAGE)) >= 2


def test_broken_metadata_from_the_index_is_skipped_with_one_warning(
    faulty: Callable[..., Faulty],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A proxy's error page served as the .metadata file, and advertised with its own
    # hash, so it passes the hash check and reaches the metadata parser.
    error_page = b"<html><body>Service temporarily unavailable</body></html>\n"
    digest = hashlib.sha256(error_page).hexdigest()

    def advertise_error_page(body: bytes) -> bytes:
        page = json.loads(body)
        for entry in page["files"]:
            if entry["filename"] == "leaf_a-2.0-py3-none-any.whl":
                entry["core-metadata"] = entry["dist-info-metadata"] = {"sha256": digest}
        return json.dumps(page).encode()

    monkeypatch.chdir(tmp_path)
    idx = faulty()
    idx.server.add(PAGE, Fault.alter(advertise_error_page))
    idx.server.add(META, Fault.replace(error_page, content_type="text/html"))
    req = tmp_path / "requirements.txt"
    req.write_text("leaf-a\n")
    # As pip does ("Ignoring version 2.0"): the release is skipped, the next one used.
    assert main(["lock", str(req), "-i", idx.url, "--no-cache"]) == 0
    stderr = capsys.readouterr().err
    assert stderr.startswith("warning: ignoring leaf-a 2.0: leaf-a 2.0: invalid metadata")
    assert stderr.count("warning:") == 1, stderr
    assert SECRET not in stderr
    assert 'name = "leaf-a"\nversion = "1.1"' in (tmp_path / "pylock.toml").read_text()
