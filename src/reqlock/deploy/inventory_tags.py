"""Wheel tags of an interpreter, rebuilt from the facts the inventory script reports.

Why tags are computed here and not in the target: ``packaging.tags.sys_tags()``
is not in the standard library, the target may not have ``packaging`` (or may
have an old one), and our ``packaging`` needs a newer Python than the targets we
support. So the script reports what the tag algorithm depends on (interpreter,
ABI configuration, platform, glibc/musl versions, ELF header of the executable,
macOS version) and :func:`tags_from_facts` rebuilds the list with ``packaging``'s
public tag functions, in ``sys_tags()`` order. One case is not reproduced: a PEP
600 ``_manylinux`` override module inside the target is not consulted.
"""

from __future__ import annotations

__all__ = ["tags_from_facts"]

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reqlock.errors import InventoryError

if TYPE_CHECKING:
    from packaging.tags import Tag


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
