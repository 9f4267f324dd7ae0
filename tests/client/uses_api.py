"""A build tool's use of reqlock's public API; type-checked with mypy --strict by
tests/test_layout.py, so the package's annotations (py.typed) stay usable."""

from __future__ import annotations

import reqlock
from reqlock import Options, ReqlockError


def lock_for_deploy(index: str) -> int:
    try:
        result: reqlock.LockResult = reqlock.lock(
            ["requirements.txt"],
            options=Options(index_url=index, targets=[reqlock.parse_target("linux-x86_64-py3.12")]),
        )
    except ReqlockError as exc:
        print(exc.message, exc.hint)
        return 2
    result.write("pylock.toml")
    names: list[str] = [str(p.name) for p in result.pylock.packages]
    return len(names)


def check(python: str) -> bool:
    report: reqlock.Report = reqlock.verify("pylock.toml", python=python)
    problems: list[reqlock.Problem] = list(report.problems)
    return report.ok and not problems


def install(python: str) -> bool:
    outcome: reqlock.SyncResult = reqlock.sync("pylock.toml", python=python)
    text: str = reqlock.export_requirements(reqlock.read_lock("pylock.toml"))
    return outcome.ok and bool(text)
