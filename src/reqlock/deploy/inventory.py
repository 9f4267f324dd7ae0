"""What an interpreter has installed, seen from outside it.

:func:`inventory` runs the target interpreter once with a small, stdlib-only script
(``_inventory_script.py``, Python >= 3.8) that reports facts as JSON: every
``.dist-info``/``.egg-info`` on its ``sys.path`` (name, version, WHEEL tags,
INSTALLER, ``direct_url.json``, where its RECORD is), its PEP 508 marker
environment, and the raw facts wheel tags depend on. This module turns those facts
into typed values. Nothing is imported into the target and nothing is written.

Why tags are computed here and not in the target: ``packaging.tags.sys_tags()``
is not in the standard library, the target may not have ``packaging`` (or may
have an old one), and our ``packaging`` needs a newer Python than the targets we
support. So the script reports what the tag algorithm depends on (interpreter,
ABI configuration, platform, glibc/musl versions, ELF header of the executable,
macOS version) and :func:`tags_from_facts` rebuilds the list with ``packaging``'s
public tag functions, in ``sys_tags()`` order. One case is not reproduced: a PEP
600 ``_manylinux`` override module inside the target is not consulted.

RECORD files are not read by the script: only :func:`check_files` needs them, and
reading them here keeps ``verify --no-files`` cheap. Broken installs (no METADATA,
no RECORD, unreadable files, two copies of a package on the path) come back as
:class:`InventoryProblem` values, never as exceptions.
"""

from __future__ import annotations

__all__ = [
    "FileIssue",
    "InstalledDist",
    "Inventory",
    "InventoryProblem",
    "RecordEntry",
    "check_files",
    "inventory",
    "parse_record",
    "tags_from_facts",
]

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from reqlock.deploy import inventory_script as _script
from reqlock.errors import InventoryError

if TYPE_CHECKING:
    from packaging.tags import Tag
    from packaging.utils import NormalizedName

_SCRIPT_SCHEMA = 1
_TIMEOUT = 300.0
# More processes than this do not help: the disk, not the CPU, becomes the limit.
_MAX_CHECK_PROCESSES = 4


@dataclass(frozen=True, kw_only=True, slots=True)
class InstalledDist:
    """One installed distribution, as found on the interpreter's ``sys.path``.

    ``version`` is the raw string from METADATA (or the directory name when
    METADATA is missing), so that an invalid version can be reported rather than
    crash. ``wheel_tags`` is ``None`` when there is no WHEEL file (legacy and
    ``egg-info`` installs). ``record`` is the path of RECORD, or ``None``.
    """

    name: NormalizedName
    raw_name: str
    version: str
    path: str
    location: str
    format: Literal["dist-info", "egg-info"]
    wheel_tags: frozenset[Tag] | None = None
    wheel_generator: str | None = None
    installer: str | None = None
    direct_url: Mapping[str, Any] | None = field(default=None, hash=False)
    record: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class InventoryProblem:
    """Something wrong with an installed distribution (or the path as a whole)."""

    package: NormalizedName | None
    path: str
    detail: str


@dataclass(frozen=True, kw_only=True, slots=True)
class FileIssue:
    """An installed file that does not match its RECORD row, or a bad RECORD.

    ``dist`` is the ``.dist-info`` directory the RECORD belongs to; ``path`` the
    file as RECORD names it (the RECORD itself for ``kind="record"``).
    """

    kind: Literal["modified", "missing", "record"]
    package: NormalizedName
    dist: str
    path: str
    detail: str
    expected: str | None = None
    actual: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Inventory:
    """Everything installed for one interpreter, plus what it is.

    ``dists`` keeps ``sys.path`` order, duplicates included; :meth:`get` returns the
    copy Python imports (the first). ``environment`` holds the PEP 508 marker
    variables, ``tags`` the supported wheel tags, most preferred first.
    ``file_issues`` is ``None`` unless files were checked.
    """

    python: str
    prefix: str
    environment: Mapping[str, str] = field(hash=False)
    tags: tuple[Tag, ...] = field(hash=False)
    dists: tuple[InstalledDist, ...]
    problems: tuple[InventoryProblem, ...] = ()
    path: tuple[str, ...] = ()
    file_issues: tuple[FileIssue, ...] | None = None

    def get(self, name: str) -> InstalledDist | None:
        """The distribution called ``name`` that Python would import, if any."""
        from packaging.utils import canonicalize_name

        wanted = canonicalize_name(name)
        for dist in self.dists:
            if dist.name == wanted:
                return dist
        return None

    def by_name(self) -> dict[NormalizedName, InstalledDist]:
        """First (imported) copy of each installed distribution, by canonical name."""
        result: dict[NormalizedName, InstalledDist] = {}
        for dist in self.dists:
            result.setdefault(dist.name, dist)
        return result


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordEntry:
    """One row of a RECORD file; ``digest`` is the raw hash bytes (or ``None``)."""

    path: str
    algorithm: str | None
    digest: bytes | None
    size: int | None


# --------------------------------------------------------------------------- running


def _resolve_python(python: str | os.PathLike[str] | None) -> str:
    if python is None:
        return sys.executable
    path = os.fspath(python)
    if os.path.isdir(path):
        # Accept a virtual environment directory, as pip's --python does.
        for candidate in ("bin/python", "bin/python3", "Scripts/python.exe"):
            full = os.path.join(path, candidate)
            if os.path.isfile(full):
                return full
        raise InventoryError(f"{path}: is a directory with no Python interpreter in it")
    if not os.path.exists(path):
        raise InventoryError(f"{path}: no such interpreter")
    return path


def _check_processes() -> int:
    return max(1, min(_MAX_CHECK_PROCESSES, os.cpu_count() or 1))


class _Pending:
    """Running inventory (and file check) processes of one interpreter.

    Started before the caller's other work (imports, reading the lock) so that the
    two overlap. With ``check_files``, the distributions are split between several
    processes of the target interpreter, which hash their share in parallel.
    """

    def __init__(
        self,
        python: str | os.PathLike[str] | None,
        *,
        check_files: bool,
        skip_files_of: Iterable[str] = (),
    ) -> None:
        self.python = _resolve_python(python)
        self.check_files = check_files
        self.skip = frozenset(_script.canonical(name) for name in skip_files_of)
        self._procs: list[subprocess.Popen[bytes]] = []
        count = _check_processes() if check_files else 0
        skip = ["--skip", ",".join(sorted(self.skip))] if self.skip else []
        try:
            self._procs.append(
                _script.launch(self.python, ["--check", "0", str(count), *skip] if count else [])
            )
            for share in range(1, count):
                self._procs.append(
                    _script.launch(self.python, ["--check-only", str(share), str(count), *skip])
                )
        except OSError as exc:
            self.cancel()
            raise InventoryError(f"{self.python}: cannot run it: {exc.strerror or exc}") from None

    def _answer(self, proc: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.cancel()
            raise InventoryError(f"{self.python}: did not answer within {timeout:.0f} s") from None
        if proc.returncode != 0:
            lines = err.decode("utf-8", "replace").strip().splitlines()
            last = lines[-1] if lines else f"exit status {proc.returncode}"
            self.cancel()
            raise InventoryError(f"{self.python}: failed to run the inventory script: {last}")
        try:
            data = json.loads(out)
        except (ValueError, RecursionError):
            self.cancel()
            raise InventoryError(
                f"{self.python}: answered with output that is not JSON (is it a Python "
                "interpreter?)"
            ) from None
        if not isinstance(data, dict) or data.get("schema") != _SCRIPT_SCHEMA:
            self.cancel()
            raise InventoryError(f"{self.python}: answered with data reqlock cannot read")
        return data

    def result(self, timeout: float = _TIMEOUT) -> Inventory:
        answers = [self._answer(proc, timeout) for proc in self._procs]
        try:
            return _build_inventory(
                answers[0], answers[1:] if self.check_files else None, self.skip
            )
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise InventoryError(
                f"{self.python}: answered with data reqlock cannot read ({exc})"
            ) from None
        except InventoryError as exc:
            raise InventoryError(f"{self.python}: {exc.message}", hint=exc.hint) from None

    def cancel(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


def _start(
    python: str | os.PathLike[str] | None,
    *,
    check_files: bool = False,
    skip_files_of: Iterable[str] = (),
) -> _Pending:
    return _Pending(python, check_files=check_files, skip_files_of=skip_files_of)


def inventory(
    python: str | os.PathLike[str] | None = None,
    *,
    check_files: bool = False,
    skip_files_of: Iterable[str] = (),
) -> Inventory:
    """Inspect ``python`` (default: the running interpreter) and return what it has.

    ``python`` is an interpreter path or a virtual environment directory. With
    ``check_files``, every file listed (with a hash) in a RECORD is hashed and
    compared, in parallel processes; the differences are in ``file_issues``.
    ``skip_files_of`` names distributions whose files need no check.

    Raises :class:`~reqlock.errors.InventoryError` when the interpreter is missing,
    cannot be run, or answers with something that is not an inventory.
    """
    return _start(python, check_files=check_files, skip_files_of=skip_files_of).result()


# --------------------------------------------------------------------------- parsing


def _str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} is not a string")
    return value


def _opt_str(value: object, what: str) -> str | None:
    return None if value is None else _str(value, what)


def _build_inventory(
    data: Mapping[str, Any],
    helpers: list[dict[str, Any]] | None,
    skip: frozenset[str] = frozenset(),
) -> Inventory:
    from packaging.utils import canonicalize_name

    environment = {
        _str(key, "marker name"): _str(value, f"marker {key}")
        for key, value in dict(data["environment"]).items()
    }
    problems: list[InventoryProblem] = []
    dists = tuple(_build_dist(raw, problems) for raw in data["dists"])
    problems.extend(_duplicates(dists))
    file_issues: tuple[FileIssue, ...] | None = None
    if helpers is not None:
        by_path = {dist.path: dist for dist in dists}
        raw_issues: list[Mapping[str, Any]] = list(data["file_issues"])
        checked = set(data["checked"])
        for answer in helpers:
            raw_issues.extend(answer["file_issues"])
            checked.update(answer["checked"])
        # The helpers scanned on their own; whatever they did not see is checked here.
        for dist in dists:
            if (
                dist.record is not None
                and dist.path not in checked
                and not _script.skipped(dist.path, skip)
            ):
                raw_issues.extend(_script.check_dist(dist.path, dist.location, dist.record))
        issues = []
        for raw in raw_issues:
            owner = by_path.get(_str(raw["dist"], "dist"))
            if owner is not None:
                name = owner.name
            else:  # seen by a helper only (the path changed meanwhile)
                name = canonicalize_name(os.path.basename(raw["dist"]).partition("-")[0])
            issues.append(_file_issue(raw, name))
        issues.sort(key=lambda issue: (issue.package, issue.dist, issue.path, issue.kind))
        file_issues = tuple(issues)
    return Inventory(
        python=_str(data["executable"], "executable"),
        prefix=_str(data["prefix"], "prefix"),
        environment=environment,
        tags=tags_from_facts(data["tag_facts"]),
        dists=dists,
        problems=tuple(problems),
        path=tuple(_str(p, "path entry") for p in data["path"]),
        file_issues=file_issues,
    )


def _file_issue(raw: Mapping[str, Any], name: NormalizedName) -> FileIssue:
    kind = raw["kind"]
    if kind not in ("modified", "missing", "record"):
        raise ValueError(f"unknown file issue {kind!r}")
    return FileIssue(
        kind=kind,
        package=name,
        dist=_str(raw["dist"], "dist"),
        path=_str(raw["path"], "path"),
        detail=_str(raw["detail"], "detail"),
        expected=_opt_str(raw.get("expected"), "expected"),
        actual=_opt_str(raw.get("actual"), "actual"),
    )


def _build_dist(raw: Mapping[str, Any], problems: list[InventoryProblem]) -> InstalledDist:
    from packaging.tags import parse_tag
    from packaging.utils import canonicalize_name

    path = _str(raw["path"], "dist path")
    raw_name = _opt_str(raw.get("name"), "name") or _str(raw["dir_name"], "dir name")
    version = _opt_str(raw.get("version"), "version") or _str(raw["dir_version"], "dir version")
    name = canonicalize_name(raw_name)
    for error in raw.get("errors") or ():
        problems.append(InventoryProblem(package=name, path=path, detail=_str(error, "error")))
    wheel_tags: frozenset[Tag] | None = None
    generator: str | None = None
    wheel = raw.get("wheel")
    if isinstance(wheel, dict):
        generator = _opt_str(wheel.get("generator"), "generator")
        tags: set[Tag] = set()
        for text in wheel.get("tags") or ():
            try:
                tags |= parse_tag(_str(text, "tag"), limit=1000)
            except ValueError:
                problems.append(
                    InventoryProblem(
                        package=name, path=path, detail=f"WHEEL has a bad tag {text!r}"
                    )
                )
        wheel_tags = frozenset(tags)
    direct_url: dict[str, Any] | None = None
    text = _opt_str(raw.get("direct_url"), "direct_url")
    if text is not None:
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:
            problems.append(
                InventoryProblem(
                    package=name, path=path, detail=f"direct_url.json is not JSON: {exc}"
                )
            )
        else:
            if isinstance(value, dict):
                direct_url = value
            else:
                problems.append(
                    InventoryProblem(
                        package=name, path=path, detail="direct_url.json is not a JSON object"
                    )
                )
    return InstalledDist(
        name=name,
        raw_name=raw_name,
        version=version,
        path=path,
        location=_str(raw["location"], "location"),
        format="egg-info" if raw.get("format") == "egg-info" else "dist-info",
        wheel_tags=wheel_tags,
        wheel_generator=generator,
        installer=_opt_str(raw.get("installer"), "installer"),
        direct_url=direct_url,
        record=_opt_str(raw.get("record"), "record"),
    )


def _duplicates(dists: Sequence[InstalledDist]) -> Iterator[InventoryProblem]:
    copies: dict[NormalizedName, list[InstalledDist]] = {}
    for dist in dists:
        copies.setdefault(dist.name, []).append(dist)
    for name, found in copies.items():
        if len(found) > 1:
            where = ", ".join(f"{d.version} at {d.path}" for d in found)
            yield InventoryProblem(
                package=name,
                path=found[0].path,
                detail=f"installed {len(found)} times ({where}); Python imports the first",
            )


# --------------------------------------------------------------------------- tags


def _normalize(text: str) -> str:
    return text.replace(".", "_").replace("-", "_").replace(" ", "_")


def _nodot(version: Sequence[int]) -> str:
    return "".join(str(part) for part in version)


def _cpython_abis(facts: Mapping[str, Any], version: tuple[int, int]) -> list[str]:
    nodot = _nodot(version)
    debug = threading = pymalloc = ""
    py_debug = facts.get("py_debug")
    has_ext = "_d.pyd" in (facts.get("extension_suffixes") or ())
    if py_debug or (py_debug is None and (facts.get("has_refcount") or has_ext)):
        debug = "d"
    if version >= (3, 13) and facts.get("py_gil_disabled"):
        threading = "t"
    if version < (3, 8):
        pymalloc_var = facts.get("with_pymalloc")
        if pymalloc_var or pymalloc_var is None:
            pymalloc = "m"
    abis = [f"cp{nodot}{threading}{debug}{pymalloc}"]
    if version >= (3, 8) and debug:
        abis.append(f"cp{nodot}{threading}")
    return abis


def _generic_abis(facts: Mapping[str, Any], version: tuple[int, int]) -> list[str]:
    suffix = facts.get("ext_suffix")
    if not isinstance(suffix, str) or not suffix.startswith("."):
        return []
    parts = suffix.split(".")
    if len(parts) < 3:
        return _cpython_abis(facts, version)
    soabi = parts[1]
    if soabi.startswith("cpython"):
        pieces = soabi.split("-")
        abi = "cp" + pieces[1] if len(pieces) > 1 and pieces[1] else ""
    elif soabi.startswith("cp"):
        abi = soabi.split("-")[0]
    elif soabi.startswith("pypy"):
        abi = "-".join(soabi.split("-")[:2])
    elif soabi.startswith("graalpy"):
        abi = "-".join(soabi.split("-")[:3])
    else:
        abi = soabi
    return [_normalize(abi)] if abi else []


# ELF machine numbers and ARM flags the manylinux compatibility rules look at.
_EM_386, _EM_ARM = 3, 40
_EF_ARM_ABIMASK, _EF_ARM_ABI_VER5, _EF_ARM_ABI_FLOAT_HARD = 0xFF000000, 0x05000000, 0x400
_MANYLINUX_ARCHS = {"x86_64", "aarch64", "ppc64", "ppc64le", "s390x", "loongarch64", "riscv64"}
_LEGACY_MANYLINUX = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}


def _manylinux_abi_ok(facts: Mapping[str, Any], archs: Sequence[str]) -> bool:
    elf = facts.get("elf") or {}
    little_32 = elf.get("class") == 32 and elf.get("order") == "lsb"
    if "armv7l" in archs:
        flags = int(elf.get("flags") or 0)
        return (
            little_32
            and elf.get("machine") == _EM_ARM
            and flags & _EF_ARM_ABIMASK == _EF_ARM_ABI_VER5
            and flags & _EF_ARM_ABI_FLOAT_HARD == _EF_ARM_ABI_FLOAT_HARD
        )
    if "i686" in archs:
        return little_32 and elf.get("machine") == _EM_386
    return any(arch in _MANYLINUX_ARCHS for arch in archs)


def _glibc(facts: Mapping[str, Any]) -> tuple[int, int] | None:
    text = facts.get("glibc")
    if not isinstance(text, str):
        return None
    major, _, rest = text.partition(".")
    minor = ""
    for char in rest:
        if not char.isdigit():
            break
        minor += char
    if not major.isdigit() or not minor:
        return None
    if len(major) > 2 or len(minor) > 3:
        # Tags are expanded for every older glibc: refuse absurd versions.
        raise InventoryError(f"the interpreter reported an implausible glibc {text[:20]!r}")
    return int(major), int(minor)


def _linux_platforms(facts: Mapping[str, Any]) -> list[str]:
    linux = _normalize(str(facts.get("sysconfig_platform") or ""))
    if not linux.startswith("linux_"):
        return [linux]
    if facts.get("pointer_size") == 4:
        linux = {"linux_x86_64": "linux_i686", "linux_aarch64": "linux_armv8l"}.get(linux, linux)
    arch = linux.split("_", 1)[1]
    archs = ["armv8l", "armv7l"] if arch == "armv8l" else [arch]
    platforms = [f"linux_{a}" for a in archs]
    # PEP 600: every glibc from the running one down to the oldest manylinux
    # baseline (2.5 on x86, 2.17 elsewhere); older majors count down from x.50.
    glibc = _glibc(facts)
    if glibc is not None and _manylinux_abi_ok(facts, archs):
        oldest = (2, 5) if set(archs) & {"x86_64", "i686"} else (2, 17)
        maxima = [glibc] + [(major, 50) for major in range(glibc[0] - 1, 1, -1)]
        for arch_ in archs:
            for major, top in maxima:
                low = oldest[1] if major == oldest[0] else 0
                for minor in range(top, low - 1, -1):
                    platforms.append(f"manylinux_{major}_{minor}_{arch_}")
                    legacy = _LEGACY_MANYLINUX.get((major, minor))
                    if legacy:
                        platforms.append(f"{legacy}_{arch_}")
    musl = facts.get("musl")
    if isinstance(musl, list) and len(musl) == 2:
        for arch_ in archs:
            platforms.extend(f"musllinux_{musl[0]}_{m}_{arch_}" for m in range(musl[1], -1, -1))
    return platforms


def _version_pair(text: str) -> tuple[int, int]:
    parts = ([*text.split("."), "0", "0"])[:2]
    return int(parts[0]), int(parts[1] or 0)


def _platforms(facts: Mapping[str, Any]) -> list[str]:
    from packaging.tags import android_platforms, ios_platforms, mac_platforms

    system = facts.get("system")
    generic = _normalize(str(facts.get("sysconfig_platform") or ""))
    if system == "Darwin":
        mac = facts.get("mac") or {}
        arch = str(mac.get("machine") or "")
        if facts.get("pointer_size") == 4:
            arch = "ppc" if arch.startswith("ppc") else "i386"
        return list(mac_platforms(_version_pair(str(mac.get("release") or "0.0")), arch))
    if system == "iOS":
        ios = facts.get("ios") or {}
        return list(
            ios_platforms(_version_pair(str(ios.get("release"))), str(ios.get("multiarch")))
        )
    if system == "Android":
        abi = str(facts.get("sysconfig_platform") or "").split("-")[-1]
        return list(android_platforms(int(facts.get("android_api_level") or 0), abi))
    if system == "Linux":
        return _linux_platforms(facts)
    if system == "Emscripten":
        version = facts.get("emscripten_version")
        return ([f"pyemscripten_{version}_wasm32"] if version else []) + [generic]
    return [generic]


_FACT_LIMIT = 1000


def _check_fact_sizes(facts: Mapping[str, Any]) -> None:
    """Refuse implausible version numbers before tags are expanded from them: an
    interpreter reporting glibc 2.99999999 would otherwise make us build hundreds of
    millions of tags."""
    numbers: list[object] = [*(facts.get("version") or ()), facts.get("android_api_level")]
    for key in ("glibc", "musl"):
        value = facts.get(key)
        if isinstance(value, (list, tuple)):
            numbers.extend(value)
    for key in ("mac", "ios"):
        value = facts.get(key)
        if isinstance(value, Mapping):
            numbers.extend(str(value.get("release") or "0").split(".")[:2])
    for number in numbers:
        if number in (None, ""):
            continue
        try:
            ok = 0 <= int(str(number)) <= _FACT_LIMIT
        except ValueError:
            ok = False
        if not ok:
            raise InventoryError(
                f"the interpreter reported an implausible platform version number "
                f"({str(number)[:20]!r}); is it a real Python interpreter?"
            )


def tags_from_facts(facts: Mapping[str, Any]) -> tuple[Tag, ...]:
    """The wheel tags an interpreter supports, most preferred first.

    ``facts`` is the ``tag_facts`` object the inventory script reports. The result
    equals ``packaging.tags.sys_tags()`` run inside that interpreter (except for a
    PEP 600 ``_manylinux`` override module, which is not consulted).
    """
    from packaging.tags import INTERPRETER_SHORT_NAMES, compatible_tags, cpython_tags, generic_tags

    _check_fact_sizes(facts)
    implementation = str(facts["implementation"])
    major, minor = (int(part) for part in facts["version"])
    version = (major, minor)
    nodot = str(facts.get("py_version_nodot") or _nodot(version))
    name = INTERPRETER_SHORT_NAMES.get(implementation) or implementation
    platforms = _platforms(facts)
    tags: list[Tag] = []
    if name == "cp":
        tags.extend(cpython_tags(version, _cpython_abis(facts, version), platforms))
        interpreter: str | None = f"cp{nodot}"
    else:
        tags.extend(generic_tags(f"{name}{nodot}", _generic_abis(facts, version), platforms))
        interpreter = "pp3" if name == "pp" else None
    tags.extend(compatible_tags(version, interpreter, platforms))
    return tuple(tags)


# --------------------------------------------------------------------------- RECORD


def parse_record(text: str) -> tuple[tuple[RecordEntry, ...], tuple[str, ...]]:
    """Parse RECORD text into rows and a list of problems (``"line N: ..."``).

    Never raises: a garbage line is reported and skipped, so one bad row does not
    hide the others.
    """
    entries, errors = _script.parse_record(text)
    return (
        tuple(
            RecordEntry(path=path, algorithm=algorithm, digest=digest, size=size)
            for path, algorithm, digest, size in entries
        ),
        tuple(errors),
    )


def check_files(dists: Iterable[InstalledDist]) -> tuple[FileIssue, ...]:
    """Hash, in this process, every file the RECORDs of ``dists`` list; return the
    differences sorted by package and path.

    Rows without a hash (RECORD itself) and ``__pycache__`` bytecode are skipped.
    ``inventory(check_files=True)`` does the same for a whole environment, faster.
    """
    issues = [
        _file_issue(raw, dist.name)
        for dist in dists
        if dist.record is not None
        for raw in _script.check_dist(dist.path, dist.location, dist.record)
    ]
    issues.sort(key=lambda issue: (issue.package, issue.dist, issue.path, issue.kind))
    return tuple(issues)
