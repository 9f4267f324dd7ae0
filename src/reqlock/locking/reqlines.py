"""Logical lines of a requirements file: continuations joined, comments removed,
``${VAR}`` references expanded. Pure."""

from __future__ import annotations

__all__ = ["expand", "logical_lines"]

import re
from collections.abc import Iterator, Mapping

from reqlock.errors import RequirementsError
from reqlock.urls import redact_text as redact

# '#' starts a comment at the start of a line or after whitespace (pip), so the
# fragment of 'name @ https://host/f.whl#sha256=...' survives.
_COMMENT_RE = re.compile(r"(?:^|(?<=\s))#")
_COMMENT_LINE_RE = re.compile(r"\s*#")
_VARIABLE_RE = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_NAME_RE = re.compile(r"[A-Z0-9_]+")


def logical_lines(text: str, file: str) -> Iterator[tuple[int, str]]:
    """Yield ``(first physical line number, line)`` with continuations joined,
    comments removed and blank lines skipped."""
    text = text.removeprefix("\ufeff")
    parts: list[str] = []
    start = 1
    for number, physical in enumerate(text.splitlines(), start=1):
        if not parts:
            start = number
        is_comment = _COMMENT_LINE_RE.match(physical) is not None
        if physical.endswith("\\") and not is_comment:
            # The '#' test first: most continued lines are '--hash=...' ones.
            if "#" in physical and _COMMENT_RE.search(physical):
                # pip would glue the next line onto this comment and drop it.
                raise RequirementsError(
                    "a comment ends with '\\', which would join the next line into it",
                    file=file,
                    line=number,
                    text=redact(physical),
                    hint="remove the '\\' or move the comment to its own line",
                )
            parts.append(physical[:-1])
            continue
        if not is_comment:
            parts.append(physical)
        line = _strip_comment("".join(parts))
        parts = []
        if line:
            yield start, line
    line = _strip_comment("".join(parts))
    if line:
        yield start, line


def _strip_comment(line: str) -> str:
    match = _COMMENT_RE.search(line) if "#" in line else None
    return (line if match is None else line[: match.start()]).strip()


def expand(
    text: str, file: str, number: int, environ: Mapping[str, str]
) -> tuple[str, tuple[tuple[str, str], ...]]:
    expansions: list[tuple[str, str]] = []

    def replace(match: re.Match[str]) -> str:
        name = match[1]
        if not _VARIABLE_NAME_RE.fullmatch(name):
            raise RequirementsError(
                f"'${{{name}}}' is not expanded: variable names are A-Z, 0-9 and '_'",
                file=file,
                line=number,
                text=redact(text),
                hint="rename the variable in upper case, e.g. ${PIP_TOKEN}",
            )
        value = environ.get(name, "")
        if not value:
            raise RequirementsError(
                f"environment variable {name} is not set (or empty)",
                file=file,
                line=number,
                text=redact(text),
                hint=f"set {name}; a lock must not contain a literal ${{{name}}}",
            )
        expansions.append((name, value))
        return value

    return _VARIABLE_RE.sub(replace, text), tuple(expansions)
