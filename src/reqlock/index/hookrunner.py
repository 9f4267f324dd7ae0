"""Run a PEP 517 backend's metadata hooks; executed as a script, never imported.

``python -I -S hookrunner.py REQUEST RESULT`` in the source tree: no ``site``,
no user or environment paths, so the backend sees the standard library, the
build environment's directories (added with ``site.addsitedir``, which reads
their ``.pth`` files) and its ``backend-path``, nothing of reqlock's own
environment. Standard library only, and Python 3.8 syntax: the build
interpreter need not be the one reqlock runs on.

REQUEST (JSON): ``backend`` ("module:object"), ``backend_path``, ``paths`` (build
environment directories), ``metadata_dir``. RESULT (JSON) receives ``requires``
(``get_requires_for_build_wheel``), ``markers`` (this interpreter's PEP 508
environment) and ``metadata`` (the text of the prepared METADATA), or ``error``.
The backend's own output goes to this process's stdout and stderr.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import site
import sys
import traceback
import zipfile
from typing import Any


def _full_version(info: Any) -> str:
    version = f"{info.major}.{info.minor}.{info.micro}"
    if info.releaselevel != "final":
        version += info.releaselevel[0] + str(info.serial)
    return version


def _markers() -> dict[str, str]:
    # The fields of packaging.markers.default_environment(), computed the same way
    # (as reqlock.deploy.inventory_facts does too: this script runs without reqlock
    # on its path, so it cannot share that code).
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


def _load_backend(spec: str, backend_path: list[str]) -> Any:
    module_name, _, attrs = spec.partition(":")
    backend = importlib.import_module(module_name.strip())
    if backend_path:
        # PEP 517: an in-tree backend must come from its backend-path.
        where = os.path.realpath(getattr(backend, "__file__", None) or "")
        roots = [os.path.realpath(p) for p in backend_path]
        if not any(os.path.commonpath([where, root]) == root for root in roots):
            raise RuntimeError(
                f"backend {spec!r} was loaded from {where}, not from its backend-path"
            )
    for attr in attrs.strip().split(".") if attrs.strip() else ():
        backend = getattr(backend, attr)
    return backend


def _metadata_from_wheel(wheel: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            parts = name.split("/")
            if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
                return archive.read(name).decode("utf-8")
    raise RuntimeError(f"the wheel {wheel} has no .dist-info/METADATA")


def _run(request: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"markers": _markers()}
    for path in request["paths"]:
        site.addsitedir(path)
    sys.path[:0] = request["backend_path"]
    backend = _load_backend(request["backend"], request["backend_path"])
    get_requires = getattr(backend, "get_requires_for_build_wheel", None)
    result["requires"] = [str(r) for r in get_requires(None)] if get_requires else []
    out = request["metadata_dir"]
    prepare = getattr(backend, "prepare_metadata_for_build_wheel", None)
    if prepare is not None:
        name = prepare(out, None)
        with open(os.path.join(out, name, "METADATA"), encoding="utf-8") as f:
            result["metadata"] = f.read()
    else:
        # PEP 517: without the optional hook, the wheel itself says.
        name = backend.build_wheel(out, None)
        result["metadata"] = _metadata_from_wheel(os.path.join(out, name))
    return result


def main() -> None:
    request_file, result_file = sys.argv[1], sys.argv[2]
    with open(request_file, encoding="utf-8") as f:
        request = json.load(f)
    try:
        result = _run(request)
        status = 0
    except BaseException:  # the frontend reports whatever the backend raised
        result = {"error": traceback.format_exc()}
        status = 1
    with open(result_file, "w", encoding="utf-8") as f:
        json.dump(result, f)
    sys.stdout.flush()
    os._exit(status)  # no atexit hooks of the backend's, no lingering threads


if __name__ == "__main__":
    main()
