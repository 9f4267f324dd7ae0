"""Marker environment and wheel tag facts of the interpreter (inventory script part).

Stdlib only, Python >= 3.8: this source is concatenated into the inventory script
(see :func:`reqlock.deploy.inventory_script.script_source`).
"""

from __future__ import annotations

import os
import platform
import struct
import sys
import sysconfig

if __name__ != "__main__":  # imported by reqlock; in the script, the parts share one namespace
    from reqlock.deploy.inventory_read import open_regular

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _full_version(info: Any) -> str:
    version = f"{info.major}.{info.minor}.{info.micro}"
    if info.releaselevel != "final":
        version += info.releaselevel[0] + str(info.serial)
    return version


def marker_environment() -> dict[str, str]:
    """The PEP 508 marker variables of this interpreter."""
    return {
        "implementation_name": sys.implementation.name,
        "implementation_version": _full_version(sys.implementation.version),
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


def _elf_facts(path: str) -> dict[str, Any] | None:
    """ELF class, byte order, machine, flags and program interpreter of ``path``."""
    try:
        fd, _ = open_regular(path)
        with os.fdopen(fd, "rb") as f:
            ident = f.read(16)
            if len(ident) < 16 or ident[:4] != b"\x7fELF":
                return None
            capacity = {1: 32, 2: 64}.get(ident[4])
            order = {1: "<", 2: ">"}.get(ident[5])
            if capacity is None or order is None:
                return None
            if capacity == 32:
                fmt, ph_fmt = order + "HHIIIIIHHH", order + "IIIII"
            else:
                fmt, ph_fmt = order + "HHIQQQIHHH", order + "IIQQQQ"
            header = f.read(struct.calcsize(fmt))
            _, machine, _, _, phoff, _, flags, _, phentsize, phnum = struct.unpack(fmt, header)
            interpreter = None
            for index in range(min(phnum, 64)):
                f.seek(phoff + index * phentsize)
                raw = f.read(struct.calcsize(ph_fmt))
                if len(raw) < struct.calcsize(ph_fmt):
                    break
                fields = struct.unpack(ph_fmt, raw)
                if fields[0] != 3:  # PT_INTERP
                    continue
                if capacity == 32:
                    offset, size = fields[1], fields[4]
                else:
                    offset, size = fields[2], fields[5]
                f.seek(offset)
                interpreter = f.read(min(size, 4096)).strip(b"\0").decode("ascii", "replace")
                break
    except (OSError, struct.error, ValueError):
        return None
    return {
        "class": capacity,
        "order": "lsb" if order == "<" else "msb",
        "machine": machine,
        "flags": flags,
        "interpreter": interpreter,
    }


def _musl_version(loader: str) -> list[int] | None:
    import subprocess

    try:
        proc = subprocess.run([loader], capture_output=True, check=False, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [line.strip() for line in proc.stderr.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    if len(lines) < 2 or not lines[0].startswith("musl") or not lines[1].startswith("Version "):
        return None
    parts = lines[1][len("Version ") :].split(".")
    try:
        return [int(parts[0]), int(parts[1])]
    except (IndexError, ValueError):
        return None


def _glibc_version() -> str | None:
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION")
        if text:
            return text.rsplit(None, 1)[-1]
    except (AttributeError, OSError, ValueError):
        pass
    try:
        import ctypes

        getter = ctypes.CDLL(None).gnu_get_libc_version
        getter.restype = ctypes.c_char_p
        value = getter()
        return value.decode("ascii") if isinstance(value, bytes) else None
    except Exception:  # any failure means "not glibc", as it does for pip
        return None


def _mac_version() -> dict[str, str]:
    release, _, machine = platform.mac_ver()
    if release.startswith("10.16"):
        # Built against an old SDK, Python reports the compatibility version.
        import contextlib
        import subprocess

        with contextlib.suppress(OSError, subprocess.SubprocessError):
            release = (
                subprocess.run(
                    [sys.executable, "-sS", "-c", "import platform; print(platform.mac_ver()[0])"],
                    check=True,
                    env={"SYSTEM_VERSION_COMPAT": "0"},
                    stdout=subprocess.PIPE,
                    timeout=30,
                )
                .stdout.decode("ascii", "replace")
                .strip()
            )
    return {"release": release, "machine": machine}


def tag_facts() -> dict[str, Any]:
    """What the wheel tags of this interpreter depend on (the parent builds the tags)."""
    from importlib.machinery import EXTENSION_SUFFIXES

    system = platform.system()
    facts: dict[str, Any] = {
        "implementation": sys.implementation.name,
        "version": list(sys.version_info[:2]),
        "py_version_nodot": sysconfig.get_config_var("py_version_nodot"),
        "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
        "py_debug": sysconfig.get_config_var("Py_DEBUG"),
        "py_gil_disabled": sysconfig.get_config_var("Py_GIL_DISABLED"),
        "with_pymalloc": sysconfig.get_config_var("WITH_PYMALLOC"),
        "has_refcount": hasattr(sys, "gettotalrefcount"),
        "extension_suffixes": list(EXTENSION_SUFFIXES),
        "maxunicode": sys.maxunicode,
        "system": system,
        "sysconfig_platform": sysconfig.get_platform(),
        "pointer_size": struct.calcsize("P"),
        "emscripten_version": sysconfig.get_config_var("PYEMSCRIPTEN_PLATFORM_VERSION"),
    }
    if system == "Linux":
        elf = _elf_facts(sys.executable)
        facts["elf"] = elf
        facts["glibc"] = _glibc_version()
        loader = elf and elf.get("interpreter")
        facts["musl"] = _musl_version(loader) if loader and "musl" in loader else None
    elif system == "Darwin":
        facts["mac"] = _mac_version()
    elif system == "iOS":
        facts["ios"] = {
            "release": platform.ios_ver()[1],  # type: ignore[attr-defined]
            "multiarch": getattr(sys.implementation, "_multiarch", ""),
        }
    elif system == "Android":
        facts["android_api_level"] = platform.android_ver().api_level  # type: ignore[attr-defined]
    return facts
