"""FileRules and Crawler on their own: plain pages in memory, a fixed target."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from reqlock.index.metadata import DistMetadata
from reqlock.index.pages import DistFile, ProjectPage
from reqlock.locking.crawl import Crawler
from reqlock.locking.rules import FileRules, is_pinned
from reqlock.targets import parse_target

LINUX = parse_target("linux-x86_64-py3.11")
MANYLINUX = "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"


def _file(
    filename: str,
    *,
    upload_time: str | None = None,
    requires_python: str | None = None,
    yanked: bool = False,
) -> DistFile:
    return DistFile(
        filename=filename,
        url=f"memory://{filename}",
        hashes={"sha256": filename.encode().hex()},
        upload_time=upload_time,
        requires_python=requires_python,
        yanked=yanked,
    )


def _page(*files: DistFile) -> ProjectPage:
    by_version: dict[str, list[DistFile]] = {}
    for dist in files:
        by_version.setdefault(dist.filename.split("-")[1].removesuffix(".tar.gz"), []).append(dist)
    return ProjectPage(name=NormalizedName("p"), index="memory://", files_by_version=by_version)


PAGE = _page(
    _file(f"p-2.0-{MANYLINUX}.whl", upload_time="2024-05-01T00:00:00Z"),
    _file("p-2.0-py3-none-any.whl", upload_time="2024-05-01T00:00:00Z"),
    _file("p-2.0-cp311-cp311-win_amd64.whl", upload_time="2024-05-01T00:00:00Z"),
    _file("p-2.0.tar.gz", upload_time="2024-05-01T00:00:00Z"),
    _file("p-1.0.tar.gz", upload_time="2020-01-01T00:00:00Z", yanked=True),
    _file("p-3.0.tar.gz", requires_python=">=3.12"),
    _file("p-3.1b1-py3-none-any.whl"),
)


def _names(files: tuple[DistFile, ...]) -> list[str]:
    return sorted(f.filename for f in files)


def test_compatible_files_follow_tags_and_requires_python() -> None:
    rules = FileRules(LINUX)
    assert rules.versions(PAGE) == [Version(v) for v in ("3.1b1", "3.0", "2.0", "1.0")]
    assert _names(rules.compatible_files(PAGE, Version("2.0"))) == [
        f"p-2.0-{MANYLINUX}.whl",
        "p-2.0-py3-none-any.whl",
        "p-2.0.tar.gz",
    ]
    assert rules.compatible_files(PAGE, Version("3.0")) == ()
    assert rules.why_unusable(PAGE, Version("3.0"), _Known()) == (
        "requires Python >=3.12, the target has 3.11.0"
    )


def test_yanked_only_when_pinned() -> None:
    rules = FileRules(LINUX)
    assert rules.usable_files(PAGE, Version("1.0"), pinned=False) == ()
    assert _names(rules.usable_files(PAGE, Version("1.0"), pinned=True)) == ["p-1.0.tar.gz"]
    assert rules.why_unusable(PAGE, Version("1.0"), _Known()) == "yanked"


def test_format_control_names_beat_all() -> None:
    rules = FileRules(LINUX, only_binary=frozenset({":all:"}), no_binary=frozenset({"p"}))
    assert rules.formats("p") == {"source"}
    assert rules.formats("q") == {"binary"}
    assert _names(rules.compatible_files(PAGE, Version("2.0"))) == ["p-2.0.tar.gz"]


def test_hashes_and_exclude_newer_filter_files() -> None:
    wanted = f"sha256:{b'p-2.0-py3-none-any.whl'.hex()}"
    rules = FileRules(LINUX, user_hashes={"p": frozenset({wanted})})
    assert _names(rules.compatible_files(PAGE, Version("2.0"))) == ["p-2.0-py3-none-any.whl"]
    old = FileRules(LINUX, exclude_newer=datetime(2021, 1, 1, tzinfo=timezone.utc))
    assert old.compatible_files(PAGE, Version("2.0")) == ()
    assert _names(old.usable_files(PAGE, Version("1.0"), pinned=True)) == ["p-1.0.tar.gz"]


def test_metadata_file_prefers_the_best_wheel() -> None:
    rules = FileRules(LINUX)
    files = rules.usable_files(PAGE, Version("2.0"), pinned=False)
    assert rules.metadata_file(files).filename == f"p-2.0-{MANYLINUX}.whl"
    only_sdist = FileRules(LINUX, no_binary=frozenset({":all:"}))
    sdists = only_sdist.usable_files(PAGE, Version("2.0"), pinned=False)
    # The sdist would be installed, but any wheel of the release has the same
    # metadata: the first by file name, whatever platform it was built for.
    assert only_sdist.metadata_file(sdists, PAGE, Version("2.0")).filename == (
        f"p-2.0-{MANYLINUX}.whl"
    )
    assert only_sdist.metadata_file(sdists).filename == "p-2.0.tar.gz"


def test_releases_order_and_prereleases() -> None:
    rules = FileRules(LINUX)
    assert [v for v, _ in rules.releases(PAGE, SpecifierSet())] == [Version("2.0")]
    preferred = rules.releases(PAGE, SpecifierSet(), preferred=Version("1.0"), pre=True)
    assert [str(v) for v, _ in preferred] == ["3.1b1", "2.0"]  # 1.0 is yanked
    # Only a pre-release is usable, so it is allowed without --pre (pip's rule).
    assert [str(v) for v, _ in rules.releases(PAGE, SpecifierSet(">2"))] == ["3.1b1"]
    assert is_pinned(SpecifierSet("==1.0"))
    assert not is_pinned(SpecifierSet("==1.*"))


class _Known:
    """A source that holds no metadata yet (all why_unusable may look at)."""

    def project(self, name: str) -> ProjectPage:
        raise AssertionError("why_unusable must not fetch")

    def metadata(self, name: str, version: str, dist: DistFile) -> DistMetadata:
        raise AssertionError("why_unusable must not fetch")

    def metadata_if_known(self, dist: DistFile) -> DistMetadata | None:
        return None

    def prefetch_project(
        self, name: str, then: Callable[[ProjectPage], None] | None = None
    ) -> None:
        raise AssertionError("why_unusable must not prefetch")

    def prefetch_metadata(
        self,
        name: str,
        version: str,
        dist: DistFile,
        then: Callable[[DistMetadata], None] | None = None,
    ) -> None:
        raise AssertionError("why_unusable must not prefetch")


class _Recorder(_Known):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def prefetch_project(
        self, name: str, then: Callable[[ProjectPage], None] | None = None
    ) -> None:
        self.calls.append(f"page {name}")
        if then is not None:
            then(PAGE)

    def prefetch_metadata(
        self,
        name: str,
        version: str,
        dist: DistFile,
        then: Callable[[DistMetadata], None] | None = None,
    ) -> None:
        self.calls.append(f"metadata {dist.filename}")


def test_crawler_guesses_and_crawls_once() -> None:
    source = _Recorder()
    rules = FileRules(LINUX)
    crawler = Crawler(source, rules, lambda meta, extras: ())
    for _ in range(2):
        crawler.crawl("p", frozenset(), SpecifierSet())
    assert source.calls == ["page p", f"metadata p-2.0-{MANYLINUX}.whl"]
    # The guess skips pre-releases unless --pre, and tries the preferred version first.
    assert crawler.guess(PAGE, SpecifierSet(">2")) is None
    eager = Crawler(source, rules, lambda meta, extras: (), pre=True)
    guess = eager.guess(PAGE, SpecifierSet())
    assert guess is not None
    assert guess[0] == Version("3.1b1")
    kept = Crawler(
        source, rules, lambda meta, extras: (), preferred={NormalizedName("p"): Version("2.0")}
    )
    guess = kept.guess(PAGE, SpecifierSet())
    assert guess is not None
    assert guess[0] == Version("2.0")
