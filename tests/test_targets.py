"""Targets: presets, explicit config targets, markers and wheel tags."""

from __future__ import annotations

import base64
import hashlib
import os
import pickle
import platform
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import default_environment
from packaging.tags import Tag
from packaging.utils import parse_wheel_filename

from reqlock.errors import TargetError
from reqlock.targets import (
    DEFAULT_MACOS,
    DEFAULT_MANYLINUX,
    DEFAULT_MUSLLINUX,
    PRESETS,
    Target,
    current,
    environment_marker,
    parse_target,
    target_from_config,
)

VERSIONS = ["3.7", "3.8", "3.10", "3.12", "3.13", "3.14"]
MARKER_VARIABLES = {
    "implementation_name",
    "implementation_version",
    "os_name",
    "platform_machine",
    "platform_python_implementation",
    "platform_release",
    "platform_system",
    "platform_version",
    "python_full_version",
    "python_version",
    "sys_platform",
}
EXPECTED_ENV = {  # os_name, sys_platform, platform_system, platform_machine
    "linux-x86_64": ("posix", "linux", "Linux", "x86_64"),
    "linux-aarch64": ("posix", "linux", "Linux", "aarch64"),
    "musllinux-x86_64": ("posix", "linux", "Linux", "x86_64"),
    "macos-arm64": ("posix", "darwin", "Darwin", "arm64"),
    "macos-x86_64": ("posix", "darwin", "Darwin", "x86_64"),
    "windows-amd64": ("nt", "win32", "Windows", "AMD64"),
}
# No marker variable tells glibc from musl: these share an environment marker.
MARKER_TWINS = {"linux-x86_64": "musllinux-x86_64", "musllinux-x86_64": "linux-x86_64"}


def accepts(target: Target, wheel: str) -> bool:
    return not parse_wheel_filename(wheel)[3].isdisjoint(target.tags)


def platforms_of(target: Target) -> list[str]:
    return list(dict.fromkeys(t.platform for t in target.tags if t.platform != "any"))


# --- presets -------------------------------------------------------------------------


def test_presets_are_the_documented_six() -> None:
    assert set(PRESETS) == set(EXPECTED_ENV)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("preset", PRESETS)
def test_parse_every_preset(preset: str, version: str) -> None:
    target = parse_target(f"{preset}-py{version}")
    major, minor = version.split(".")
    cp = f"cp{major}{minor}"
    env = target.environment

    assert target.name == f"{preset}-py{version}"
    assert set(env) == MARKER_VARIABLES
    assert (
        env["os_name"],
        env["sys_platform"],
        env["platform_system"],
        env["platform_machine"],
    ) == EXPECTED_ENV[preset]
    assert env["python_version"] == version
    assert env["python_full_version"] == env["implementation_version"] == f"{version}.0"
    assert env["implementation_name"] == "cpython"
    assert env["platform_python_implementation"] == "CPython"
    assert env["platform_release"] == env["platform_version"] == ""

    abi = f"{cp}m" if version == "3.7" else cp
    assert target.tags[0] == Tag(cp, abi, platforms_of(target)[0])
    assert len(set(target.tags)) == len(target.tags)
    assert target.tags[-1] == Tag("py30", "none", "any")
    for pure in ("py3-none-any", f"{cp}-none-any", f"py{major}{minor}-none-any"):
        assert Tag(*pure.split("-")) in target.tags
    assert Tag("cp32", "abi3", platforms_of(target)[-1]) in target.tags


def test_parse_ignores_case_and_blanks_and_targets_are_values() -> None:
    a = parse_target("  Linux-X86_64-PY3.12 ")
    b = parse_target("linux-x86_64-py3.12")
    assert a == b
    assert hash(a) == hash(b)
    assert {a: 1}[b] == 1
    assert a != parse_target("linux-x86_64-py3.13")
    assert pickle.loads(pickle.dumps(a)) == a
    assert "linux-x86_64-py3.12" in repr(a)
    assert "CPython 3.12.0 on linux x86_64" in a.describe()
    assert "cp312-cp312-manylinux_2_28_x86_64" in a.describe()


def test_tag_priority_ranks_in_order() -> None:
    target = parse_target("linux-x86_64-py3.12")
    rank = target.tag_priority()
    assert rank[target.tags[0]] == 0
    assert len(rank) == len(target.tags)

    def r(text: str) -> int:
        return rank[Tag(*text.split("-"))]

    assert r("cp312-cp312-manylinux_2_28_x86_64") < r("cp312-cp312-manylinux_2_17_x86_64")
    assert r("cp312-cp312-manylinux_2_17_x86_64") < r("cp312-cp312-manylinux2014_x86_64")
    assert r("cp312-cp312-manylinux1_x86_64") < r("cp312-cp312-linux_x86_64")
    assert r("cp312-cp312-linux_x86_64") < r("cp312-abi3-manylinux_2_28_x86_64")
    assert r("cp312-abi3-manylinux_2_5_x86_64") < r("cp312-none-manylinux_2_28_x86_64")
    assert r("cp312-none-linux_x86_64") < r("cp311-abi3-manylinux_2_28_x86_64")
    assert r("cp32-abi3-linux_x86_64") < r("py312-none-manylinux_2_28_x86_64")
    assert r("py3-none-linux_x86_64") < r("cp312-none-any") < r("py312-none-any")
    assert r("py312-none-any") < r("py3-none-any") < r("py311-none-any")


def test_preset_platform_tags() -> None:
    glibc_major, glibc_minor = DEFAULT_MANYLINUX
    assert platforms_of(parse_target("linux-x86_64-py3.12")) == [
        *(
            tag
            for minor in range(glibc_minor, 4, -1)
            for tag in (
                f"manylinux_{glibc_major}_{minor}_x86_64",
                *{
                    5: ["manylinux1_x86_64"],
                    12: ["manylinux2010_x86_64"],
                    17: ["manylinux2014_x86_64"],
                }.get(minor, []),
            )
        ),
        "linux_x86_64",
    ]
    aarch64 = platforms_of(parse_target("linux-aarch64-py3.12"))
    assert aarch64[0] == f"manylinux_2_{glibc_minor}_aarch64"
    assert aarch64[-3:] == ["manylinux_2_17_aarch64", "manylinux2014_aarch64", "linux_aarch64"]
    musl_major, musl_minor = DEFAULT_MUSLLINUX
    assert platforms_of(parse_target("musllinux-x86_64-py3.12")) == [
        *(f"musllinux_{musl_major}_{m}_x86_64" for m in range(musl_minor, -1, -1)),
        "linux_x86_64",
    ]
    arm = platforms_of(parse_target("macos-arm64-py3.12"))
    newest = f"macosx_{DEFAULT_MACOS[0]}_{DEFAULT_MACOS[1]}"
    assert arm[:2] == [f"{newest}_arm64", f"{newest}_universal2"]
    assert "macosx_11_0_arm64" in arm
    assert arm[-1] == "macosx_10_4_universal2"
    assert not any(p.endswith("x86_64") for p in arm)
    intel = platforms_of(parse_target("macos-x86_64-py3.12"))
    assert intel[0] == f"macosx_{DEFAULT_MACOS[0]}_0_x86_64"
    for fmt in ("x86_64", "intel", "universal", "universal2"):
        assert f"macosx_10_9_{fmt}" in intel
    assert not any(p.endswith("arm64") for p in intel)
    assert platforms_of(parse_target("windows-amd64-py3.12")) == ["win_amd64"]


@pytest.mark.parametrize(
    ("wheel", "accepted_by"),
    [
        (
            "m-1-cp312-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            {"linux-x86_64-py3.12", "linux-x86_64-py3.13", "linux-x86_64-py3.14"},
        ),
        ("m-1-cp311-cp311-manylinux_2_28_x86_64.whl", {"linux-x86_64-py3.11"}),
        ("m-1-cp312-cp312-manylinux_2_31_x86_64.whl", set()),
        ("m-1-cp312-cp312-manylinux1_x86_64.whl", {"linux-x86_64-py3.12"}),
        ("m-1-cp312-cp312-manylinux_2_28_aarch64.whl", {"linux-aarch64-py3.12"}),
        ("m-1-cp312-cp312-manylinux_2_12_aarch64.whl", set()),
        ("m-1-cp312-cp312-musllinux_1_1_x86_64.whl", {"musllinux-x86_64-py3.12"}),
        ("m-1-cp312-cp312-musllinux_1_3_x86_64.whl", set()),
        ("m-1-cp312-cp312-macosx_11_0_arm64.whl", {"macos-arm64-py3.12"}),
        ("m-1-cp312-cp312-macosx_14_0_arm64.whl", set()),
        ("m-1-cp312-cp312-macosx_10_9_x86_64.whl", {"macos-x86_64-py3.12"}),
        (
            "m-1-cp312-cp312-macosx_10_9_universal2.whl",
            {"macos-arm64-py3.12", "macos-x86_64-py3.12"},
        ),
        ("m-1-cp313-cp313-win_amd64.whl", {"windows-amd64-py3.13"}),
        ("m-1-cp313-cp313t-manylinux_2_17_x86_64.whl", set()),
        ("m-1-cp37-cp37m-manylinux2014_x86_64.whl", {"linux-x86_64-py3.7"}),
        ("m-1-py2.py3-none-any.whl", "all"),
        ("m-1-py3-none-win_amd64.whl", {f"windows-amd64-py{v}" for v in [*VERSIONS, "3.11"]}),
    ],
)
def test_wheel_compatibility(wheel: str, accepted_by: set[str] | str) -> None:
    names = [f"{p}-py{v}" for p in PRESETS for v in [*VERSIONS, "3.11"]]
    got = {name for name in names if accepts(parse_target(name), wheel)}
    assert got == (set(names) if accepted_by == "all" else accepted_by)


# --- bad specs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "linux",
        "linux-x86_64",
        "linux-x86_64-3.12",
        "linux-x86_64-py",
        "linux-x86_64-py3",
        "linux-x86_64-py312",
        "linux-x86_64-py3.x",
        "linux-x86_64-py2.7",
        "linux-x86_64-py3.5",
        "linux-x86_64-py3.6",
        "linux-x86_64-py4.0",
        "linux-x86_64-py3.12.1",
        "freebsd-amd64-py3.12",
        "macos-aarch64-py3.12",
        "current-py3.12",
    ],
)
def test_bad_specs_list_the_valid_forms(spec: str) -> None:
    with pytest.raises(TargetError) as info:
        parse_target(spec)
    assert info.value.key == "--target"
    text = str(info.value)
    assert text.startswith("--target: ")
    assert "'current'" in text
    assert "PLATFORM-pyX.Y" in text
    for preset in PRESETS:
        assert preset in text


def test_bad_spec_errors_say_what_is_wrong() -> None:
    def message(spec: str, **kwargs: Any) -> str:
        with pytest.raises(TargetError) as info:
            parse_target(spec, **kwargs)
        return str(info.value)

    assert "did you mean macos-arm64?" in message("macos-aarch64-py3.12")
    assert "names no Python version" in message("linux-x86_64")
    assert "write e.g. linux-aarch64-py3.12" in message("linux-aarch64")
    assert "Python 2.7 is not supported" in message("linux-x86_64-py2.7")
    assert "Python 3.5 is not supported" in message("windows-amd64-py3.5")
    assert "malformed Python version '3'" in message("linux-x86_64-py3")
    assert message("nope", key="tool.reqlock.targets").startswith("tool.reqlock.targets: ")


# --- markers -------------------------------------------------------------------------


def test_environment_marker_text() -> None:
    marker = environment_marker(parse_target("linux-x86_64-py3.12"))
    assert str(marker) == (
        'python_version == "3.12" and implementation_name == "cpython"'
        ' and sys_platform == "linux" and platform_machine == "x86_64"'
    )


@pytest.mark.parametrize("version", ["3.8", "3.12"])
@pytest.mark.parametrize("preset", PRESETS)
def test_environment_marker_selects_only_its_own_target(preset: str, version: str) -> None:
    target = parse_target(f"{preset}-py{version}")
    marker = environment_marker(target)
    assert marker.evaluate(dict(target.environment))
    for other_preset in PRESETS:
        for other_version in ("3.8", "3.12", "3.13"):
            other = parse_target(f"{other_preset}-py{other_version}")
            same_platform = other_preset in (preset, MARKER_TWINS.get(preset))
            expected = same_platform and other_version == version
            assert marker.evaluate(dict(other.environment)) is expected, other.name


def test_environment_marker_of_current_matches_the_running_interpreter() -> None:
    here = current()
    marker = environment_marker(here)
    assert marker.evaluate()
    env = default_environment()
    assert str(marker) == (
        f'python_version == "{env["python_version"]}" and implementation_name == '
        f'"{env["implementation_name"]}" and sys_platform == "{env["sys_platform"]}"'
        f' and platform_machine == "{env["platform_machine"]}"'
    )


def test_environment_marker_needs_the_four_variables() -> None:
    target = Target(name="odd", environment={"python_version": "3.12"}, tags=())
    with pytest.raises(TargetError, match="no implementation_name"):
        environment_marker(target)


def _on_glibc_x86_64_cpython() -> bool:
    return (
        sys.platform == "linux"
        and platform.machine() == "x86_64"
        and sys.implementation.name == "cpython"
        and platform.libc_ver()[0] == "glibc"
        and tuple(map(int, platform.libc_ver()[1].split(".")[:2])) >= DEFAULT_MANYLINUX
    )


@pytest.mark.skipif(not _on_glibc_x86_64_cpython(), reason="needs CPython on glibc x86_64")
def test_current_agrees_with_the_linux_x86_64_preset() -> None:
    here = current()
    version = "{}.{}".format(*sys.version_info[:2])
    preset = parse_target(f"linux-x86_64-py{version}")
    manylinux = {t for t in preset.tags if t.platform.startswith("manylinux")}
    assert manylinux
    assert manylinux <= set(here.tags)
    for key in ("python_version", "implementation_name", "sys_platform", "platform_machine"):
        assert here.environment[key] == preset.environment[key]
    assert environment_marker(here) == environment_marker(preset)
    assert environment_marker(preset).evaluate()


# --- explicit config targets ---------------------------------------------------------

KEY = "tool.reqlock.targets.arm"


def test_config_target_derives_the_environment() -> None:
    target = target_from_config(
        "arm", {"python": "3.12", "platforms": ["manylinux_2_31_aarch64"]}, key=KEY
    )
    assert target.name == "arm"
    assert target.environment == {
        "implementation_name": "cpython",
        "implementation_version": "3.12.0",
        "os_name": "posix",
        "platform_machine": "aarch64",
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": "3.12.0",
        "python_version": "3.12",
        "sys_platform": "linux",
    }
    assert target.tags[0] == Tag("cp312", "cp312", "manylinux_2_31_aarch64")
    assert accepts(target, "m-1-cp312-cp312-manylinux2014_aarch64.whl")
    assert accepts(target, "m-1-cp310-abi3-manylinux_2_17_aarch64.whl")
    assert not accepts(target, "m-1-cp312-cp312-manylinux_2_16_aarch64.whl")
    assert not accepts(target, "m-1-cp312-cp312-manylinux_2_32_aarch64.whl")
    assert not accepts(target, "m-1-cp312-cp312-linux_aarch64.whl")


@pytest.mark.parametrize(
    ("preset", "platforms"),
    [
        ("linux-x86_64", ["manylinux_2_28_x86_64", "linux_x86_64"]),
        ("linux-aarch64", ["manylinux_2_28_aarch64", "linux_aarch64"]),
        ("musllinux-x86_64", ["musllinux_1_2_x86_64", "linux_x86_64"]),
        ("macos-arm64", ["macosx_13_0_arm64"]),
        ("macos-x86_64", ["macosx_13_0_x86_64"]),
        ("windows-amd64", ["win_amd64"]),
    ],
)
def test_config_target_can_spell_out_a_preset(preset: str, platforms: list[str]) -> None:
    explicit = target_from_config(
        "same", {"python": "3.11", "implementation": "CPython", "platforms": platforms}, key=KEY
    )
    builtin = parse_target(f"{preset}-py3.11")
    assert explicit.tags == builtin.tags
    assert explicit.environment == builtin.environment


def test_config_target_takes_a_patch_release_and_explicit_environment() -> None:
    target = target_from_config(
        "mac",
        {
            "python": "3.12.4",
            "platforms": ["macosx_14_2_universal2", "macosx_14_2_arm64"],
            "environment": {"platform_release": "23.2.0"},
        },
        key=KEY,
    )
    env = target.environment
    assert env["python_full_version"] == env["implementation_version"] == "3.12.4"
    assert env["python_version"] == "3.12"
    assert (env["sys_platform"], env["platform_machine"]) == ("darwin", "arm64")
    assert env["platform_release"] == "23.2.0"
    platforms = platforms_of(target)
    assert platforms[:2] == ["macosx_14_2_universal2", "macosx_14_0_universal2"]
    assert "macosx_14_2_arm64" in platforms
    assert "macosx_11_0_arm64" in platforms
    assert accepts(target, "m-1-cp312-cp312-macosx_10_9_universal2.whl")


def test_config_target_for_other_platforms_needs_an_environment() -> None:
    table: dict[str, Any] = {"python": "3.11", "platforms": ["freebsd_14_0_release_amd64"]}
    with pytest.raises(TargetError, match="cannot derive sys_platform") as info:
        target_from_config("bsd", table, key=KEY)
    assert info.value.key == f"{KEY}.environment"
    table["environment"] = {
        "sys_platform": "freebsd14",
        "platform_system": "FreeBSD",
        "os_name": "posix",
        "platform_machine": "amd64",
    }
    target = target_from_config("bsd", table, key=KEY)
    assert target.environment["sys_platform"] == "freebsd14"
    assert accepts(target, "m-1-cp311-cp311-freebsd_14_0_release_amd64.whl")
    assert str(environment_marker(target)).endswith('platform_machine == "amd64"')


def test_config_target_on_windows_arm() -> None:
    target = target_from_config("w", {"python": "3.13", "platforms": ["win_arm64"]}, key=KEY)
    env = target.environment
    assert (env["os_name"], env["sys_platform"], env["platform_machine"]) == (
        "nt",
        "win32",
        "ARM64",
    )


@pytest.mark.parametrize(
    ("table", "sub_key", "fragment"),
    [
        (["python"], "", "expected a table, got list"),
        ({"pyhton": "3.12", "platforms": ["win_amd64"]}, "", "unknown key(s) 'pyhton'"),
        ({"platforms": ["win_amd64"]}, "", "missing key 'python'"),
        ({"python": 3.12, "platforms": ["win_amd64"]}, ".python", "expected a string"),
        ({"python": "3", "platforms": ["win_amd64"]}, ".python", "malformed Python version"),
        ({"python": "2.7", "platforms": ["win_amd64"]}, ".python", "not supported"),
        (
            {"python": "3.12", "implementation": "pypy", "platforms": ["win_amd64"]},
            ".implementation",
            "unsupported implementation 'pypy'",
        ),
        ({"python": "3.12"}, ".platforms", "missing list of platform tags"),
        ({"python": "3.12", "platforms": "win_amd64"}, ".platforms", "got str"),
        ({"python": "3.12", "platforms": []}, ".platforms", "non-empty list"),
        ({"python": "3.12", "platforms": [7]}, ".platforms", "7 is not a platform tag"),
        ({"python": "3.12", "platforms": ["Win_AMD64"]}, ".platforms", "not a platform tag"),
        ({"python": "3.12", "platforms": ["any"]}, ".platforms", "'any' is implied"),
        ({"python": "3.12", "platforms": ["manylinux_3_0_x86_64"]}, ".platforms", "glibc 2"),
        (
            {"python": "3.12", "platforms": ["win_amd64"], "environment": "nt"},
            ".environment",
            "expected a table of marker variables",
        ),
        (
            {"python": "3.12", "platforms": ["win_amd64"], "environment": {"sys_platfrom": "x"}},
            ".environment",
            "'sys_platfrom' is not a marker variable",
        ),
        (
            {"python": "3.12", "platforms": ["win_amd64"], "environment": {"os_name": 1}},
            ".environment.os_name",
            "expected a string, got int",
        ),
        (
            {
                "python": "3.12",
                "platforms": ["win_amd64"],
                "environment": {"python_version": "3.11"},
            },
            ".environment.python_version",
            "contradicts python = '3.12'",
        ),
        (
            {
                "python": "3.12",
                "platforms": ["win_amd64"],
                "environment": {"implementation_name": "pypy"},
            },
            ".environment.implementation_name",
            "contradicts",
        ),
        (
            {
                "python": "3.12",
                "platforms": ["win_amd64"],
                "environment": {"python_full_version": "3.11.2"},
            },
            ".environment.python_full_version",
            "is not a 3.12 release",
        ),
        (
            {
                "python": "3.12",
                "platforms": ["manylinux_2_28_x86_64"],
                "environment": {"sys_platform": "win32"},
            },
            ".environment.sys_platform",
            "contradicts the platform tags",
        ),
        (
            {"python": "3.12", "platforms": ["macosx_11_0_universal2"]},
            ".environment",
            "cannot derive platform_machine",
        ),
    ],
)
def test_config_target_errors(table: Any, sub_key: str, fragment: str) -> None:
    with pytest.raises(TargetError) as info:
        target_from_config("arm", table, key=KEY)
    assert info.value.key == KEY + sub_key
    assert fragment in str(info.value)
    assert str(info.value).startswith(f"{KEY}{sub_key}: ")


def test_config_target_needs_a_name() -> None:
    with pytest.raises(TargetError, match="non-empty name"):
        target_from_config(" ", {"python": "3.12", "platforms": ["win_amd64"]}, key=KEY)


# --- agreement with uv ---------------------------------------------------------------

UV_PLATFORMS = {
    "linux-x86_64": "x86_64-unknown-linux-gnu",
    "linux-aarch64": "aarch64-unknown-linux-gnu",
    "musllinux-x86_64": "x86_64-unknown-linux-musl",
    "macos-arm64": "aarch64-apple-darwin",
    "macos-x86_64": "x86_64-apple-darwin",
    "windows-amd64": "x86_64-pc-windows-msvc",
}


def _find_uv() -> str | None:
    beside = Path(sys.executable).with_name("uv")
    return str(beside) if beside.is_file() else shutil.which("uv")


def _write_wheel(directory: Path, name: str, version: str, tag: str) -> None:
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {tag}\n",
    }
    record = []
    with zipfile.ZipFile(directory / f"{name}-{version}-{tag}.whl", "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
            digest = hashlib.sha256(text.encode()).digest()
            b64 = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            record.append(f"{path},sha256={b64},{len(text)}")
        archive.writestr(f"{dist_info}/RECORD", "\n".join([*record, f"{dist_info}/RECORD,,"]))


def _candidate_tags(version: str) -> list[str]:
    cp = "cp" + version.replace(".", "")
    platforms: set[str] = {
        "manylinux_2_29_x86_64",
        "manylinux_2_4_x86_64",
        "manylinux_2_29_aarch64",
        "manylinux_2_16_aarch64",
        "manylinux1_aarch64",
        "musllinux_1_3_x86_64",
        "musllinux_1_2_aarch64",
        "macosx_14_0_arm64",
        "macosx_14_0_x86_64",
        "macosx_13_1_arm64",
        "macosx_10_3_x86_64",
        "macosx_10_9_arm64",
        "win32",
        "win_arm64",
        "linux_i686",
    }
    for preset in PRESETS:
        platforms.update(platforms_of(parse_target(f"{preset}-py{version}")))
    # packaging (and so pip) spells the 3-way fat binary "fat3", uv "fat32"; no modern
    # wheel uses either (documented in docs/targets.md).
    platforms = {p for p in platforms if not p.endswith(("_fat3", "_fat32"))}
    tags = [f"{cp}-{cp}-{p}" for p in sorted(platforms)]
    for p in ("manylinux_2_17_x86_64", "macosx_11_0_arm64", "win_amd64", "musllinux_1_1_x86_64"):
        tags += [
            f"{cp}-abi3-{p}",
            f"cp32-abi3-{p}",
            f"{cp}-none-{p}",
            f"py3-none-{p}",
            f"py30-none-{p}",
            f"{cp}-{cp}t-{p}",
        ]
    tags += [f"{cp}-none-any", "py3-none-any", "py2-none-any", "cp399-none-any"]
    return tags


@pytest.mark.skipif(_find_uv() is None, reason="uv is not installed")
@pytest.mark.parametrize("version", ["3.8", "3.12"])
def test_tag_acceptance_matches_uv(tmp_path: Path, version: str) -> None:
    """One package per tag: 1.0 has only that tag, 0.1 is pure; uv pins 1.0 iff it
    accepts the tag."""
    uv = _find_uv()
    assert uv is not None
    tags = _candidate_tags(version)
    for i, tag in enumerate(tags):
        _write_wheel(tmp_path, f"probe{i}", "1.0", tag)
        _write_wheel(tmp_path, f"probe{i}", "0.1", "py2.py3-none-any")
    requirements = tmp_path / "requirements.in"
    requirements.write_text("".join(f"probe{i}\n" for i in range(len(tags))))
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    env.pop("MACOSX_DEPLOYMENT_TARGET", None)  # uv honours it; our presets do not
    for preset, triple in UV_PLATFORMS.items():
        result = subprocess.run(
            [
                uv,
                "pip",
                "compile",
                "--no-config",
                "--no-index",
                "--offline",
                "--no-cache",
                "--find-links",
                str(tmp_path),
                "--python",
                sys.executable,
                "--python-platform",
                triple,
                "--python-version",
                version,
                "--quiet",
                "--no-header",
                "--no-annotate",
                str(requirements),
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        pins = dict(line.split("==") for line in result.stdout.split())
        by_uv = {tag for i, tag in enumerate(tags) if pins[f"probe{i}"] == "1.0"}
        ours = {str(t) for t in parse_target(f"{preset}-py{version}").tags}
        assert by_uv == ours & set(tags), preset


def test_config_target_accepts_a_legacy_manylinux_name() -> None:
    target = target_from_config(
        "old", {"python": "3.12", "platforms": ["manylinux2014_x86_64"]}, key=KEY
    )
    assert accepts(target, "m-1-cp312-cp312-manylinux_2_17_x86_64.whl")
    assert accepts(target, "m-1-cp312-cp312-manylinux2010_x86_64.whl")
    assert not accepts(target, "m-1-cp312-cp312-manylinux_2_28_x86_64.whl")
