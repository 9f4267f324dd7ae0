"""The line-by-line parser behind :mod:`reqlock.locking.requirements`: logical
lines, ``${VAR}`` expansion, options, and requirements with their origins.

Pure: text in, values out; files named by ``-r``/``-c`` come through a loader.
"""

from __future__ import annotations

__all__ = ["Line", "Parser", "redact", "split_options"]

import os
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from reqlock.errors import ConfigError, RequirementsError
from reqlock.locking.reqdirect import (
    Fail,
    check_hashes,
    find_links_location,
    is_archive_name,
    locate,
    named_line,
    reference_of_url,
)
from reqlock.locking.reqlines import expand, logical_lines
from reqlock.locking.requirements import (
    Loader,
    Origin,
    RequirementLine,
    RequirementSet,
    UnnamedLine,
    format_control,
    read_failure,
)
from reqlock.urls import check_url, redact_text

_OPTION_START_RE = re.compile(r"(?:^|\s)-")
_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# At least two characters, so that a Windows drive ('C:\\') is not taken for a scheme.
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:")
_NAME_RE = re.compile(r"[A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9]", re.IGNORECASE | re.ASCII)
_HEX_RE = re.compile(r"[0-9a-fA-F]+")
# What makes shlex's split differ from a split on its whitespace (POSIX mode).
_SHLEX_SPECIAL_RE = re.compile(r"['\"\\]")
_SHLEX_SPACE_RE = re.compile(r"[ \t\r\n]+")
_HASH_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_MAX_DEPTH = 64

_SHORT = {
    "-r": "--requirement",
    "-c": "--constraint",
    "-i": "--index-url",
    "-e": "--editable",
    "-f": "--find-links",
    "-C": "--config-settings",
}
_FLAGS = frozenset({"--pre", "--require-hashes", "--no-index"})
_WITH_VALUE = frozenset(
    {"--requirement", "--constraint", "--index-url", "--extra-index-url", "--only-binary",
     "--no-binary", "--hash", "--editable", "--find-links"}
)  # fmt: skip
_BUILD_HINT = "a lock records what to install, not how to build it; remove the option"
_PRE_HINT = "use --pre to allow pre-releases"
_UNSUPPORTED = {
    "--trusted-host": "use an https index; plain-http hosts are allowed in reqlock's "
    "configuration, not in requirements files",
    "--prefer-binary": "a lock records every compatible wheel already; "
    "use --only-binary to forbid sdists",
    "--use-feature": "pip feature flags do not apply to reqlock; remove it",
    "--config-settings": _BUILD_HINT,
    "--global-option": _BUILD_HINT,
    "--install-option": _BUILD_HINT,
    "--use-pep517": _BUILD_HINT,
    "--no-use-pep517": _BUILD_HINT,
    "--no-build-isolation": _BUILD_HINT,
    "--no-require-hashes": "reqlock locks always carry hashes",
    "--all-releases": _PRE_HINT,
    "--only-final": _PRE_HINT,
}
_KNOWN = _FLAGS | _WITH_VALUE | frozenset(_UNSUPPORTED)
_SUPPORTED_LIST = (
    "-r, -c, -e/--editable, -i/--index-url, --extra-index-url, --no-index, "
    "-f/--find-links, --pre, --only-binary, --no-binary, --require-hashes, "
    "and --hash after a requirement"
)


def redact(text: str) -> str:
    """Hide URL passwords and tokens (``${VAR}`` references stay, they are no
    secret): the one rule of :func:`reqlock.urls.redact_text`."""
    return redact_text(text)


@dataclass(frozen=True, kw_only=True, slots=True)
class Line:
    file: str
    number: int
    text: str
    expanded: str
    expansions: tuple[tuple[str, str], ...] = ()

    def origin(self) -> Origin:
        return Origin(file=self.file, line=self.number, text=self.text)

    @property
    def base_dir(self) -> str:
        """The directory relative paths on this line start from: the file's own
        (as uv; pip uses the working directory, which makes a lock depend on
        where it was made), or the working directory for in-memory strings."""
        if self.file.startswith("<"):
            return os.getcwd()
        return os.path.dirname(os.path.abspath(self.file))

    def error(self, message: str, *, hint: str | None = None) -> RequirementsError:
        # Messages may quote expanded text; put the ${VAR} back so that a token
        # from the environment never reaches an error. Short values are no secret
        # and replacing them would garble the message.
        for name, value in sorted(self.expansions, key=lambda item: -len(item[1])):
            if len(value) >= 4:
                message = message.replace(value, f"${{{name}}}")
        return RequirementsError(
            redact(message),
            file=self.file,
            line=self.number,
            text=self.text,
            hint=redact(hint) if hint else None,
        )


def split_options(text: str) -> tuple[str, str]:
    """Split a line where its first option starts (pip: a token beginning with '-')."""
    match = _OPTION_START_RE.search(text)
    if match is None:
        return text, ""
    return text[: match.start()].strip(), text[match.start() :].strip()


def split_options_text(text: str) -> list[str]:
    """The option tokens of a line, as :func:`shlex.split` gives them (raises
    ValueError like it). shlex reads a character at a time (35 ms of a 122-line
    file with ``--hash`` options); without quotes or backslashes its answer is a
    split on its whitespace, made here at once."""
    if _SHLEX_SPECIAL_RE.search(text) is None:
        return [token for token in _SHLEX_SPACE_RE.split(text) if token]
    return shlex.split(text)


def _long_name(spelled: str) -> str | None:
    if not spelled.startswith("--"):
        return _SHORT.get(spelled)
    if spelled in _KNOWN:
        return spelled
    # pip (optparse) also takes a unique prefix of a long option.
    found = [name for name in _KNOWN if name.startswith(spelled)]
    return found[0] if len(found) == 1 else None


def _options(tokens: list[str], line: Line) -> Iterator[tuple[str, str | None]]:
    """Yield ``(long option name, value)`` for each option token."""
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if not token.startswith("-"):
            raise line.error(
                f"unexpected argument {token!r} after an option",
                hint="write each requirement and each option on its own line",
            )
        attached: str | None
        if token.startswith("--"):
            spelled, equals, value = token.partition("=")
            attached = value if equals else None
        else:
            spelled, attached = token[:2], token[2:] or None
        name = _long_name(spelled)
        if name is None:
            raise line.error(f"unknown option {spelled}", hint=f"supported: {_SUPPORTED_LIST}")
        if name in _UNSUPPORTED:
            raise line.error(f"option {name} is not supported", hint=_UNSUPPORTED[name])
        if name != spelled and spelled.startswith("--"):
            # Spelling options out keeps the file readable by tools without optparse.
            raise line.error(f"abbreviated option {spelled}", hint=f"write it in full: {name}")
        if name in _FLAGS:
            if attached is not None:
                raise line.error(f"option {name} takes no value")
            yield name, None
            continue
        if attached is not None and not spelled.startswith("--") and attached.startswith("="):
            raise line.error(
                f"write '{spelled} {attached[1:]}' or '{name}={attached[1:]}', "
                f"not '{spelled}={attached[1:]}'"
            )
        if attached is None and index < len(tokens) and not tokens[index].startswith("-"):
            attached = tokens[index]
            index += 1
        if not attached:
            raise line.error(f"option {name} needs a value")
        yield name, attached


def _hash(value: str, line: Line) -> str:
    algorithm, colon, digest = value.partition(":")
    algorithm = algorithm.lower()
    if not colon or algorithm not in _HASH_LENGTHS:
        raise line.error(
            f"--hash {value!r} is not ALGORITHM:HEX with algorithm sha256, sha384 or sha512"
        )
    length = _HASH_LENGTHS[algorithm]
    if len(digest) != length or not _HEX_RE.fullmatch(digest):
        raise line.error(f"--hash {value!r}: a {algorithm} digest is {length} hex digits")
    return f"{algorithm}:{digest.lower()}"


def _index_url(value: str, option: str, line: Line) -> str:
    """``value`` if it is a well-formed http(s) URL; else an error naming the line."""
    try:
        check_url(value, key=option)
    except ConfigError as exc:
        raise line.error(exc.message.removeprefix(f"{option}: "), hint=exc.hint) from None
    return value


def _looks_like_location(text: str) -> bool:
    """Whether a line that is not PEP 508 starts with a bare URL or path (which pip
    would install without a name)."""
    first = re.split(r"[\s;]", text, maxsplit=1)[0]
    return "/" in first or "\\" in first or first in (".", "..", "~")


class Parser:
    """Accumulates what the lines of one or more files say."""

    def __init__(self, *, loader: Loader | None, environ: Mapping[str, str]) -> None:
        self.loader = loader
        self.environ = environ
        self.requirements: list[RequirementLine] = []
        self.constraints: list[RequirementLine] = []
        self.index_url: str | None = None
        self.extra_index_urls: list[str] = []
        self.pre = False
        self.require_hashes = False
        self.binary_options: list[tuple[str, str]] = []
        self.sources: list[tuple[str, str]] = []
        self.unnamed: list[UnnamedLine] = []
        self.find_links: list[str] = []
        self.no_index = False

    def result(self) -> RequirementSet:
        only_binary, no_binary = format_control(self.binary_options)
        return RequirementSet(
            requirements=tuple(self.requirements),
            constraints=tuple(self.constraints),
            index_url=self.index_url,
            extra_index_urls=tuple(self.extra_index_urls),
            pre=self.pre,
            require_hashes=self.require_hashes,
            only_binary=only_binary,
            no_binary=no_binary,
            binary_options=tuple(self.binary_options),
            sources=tuple(dict.fromkeys(self.sources)),
            unnamed=tuple(self.unnamed),
            find_links=tuple(dict.fromkeys(self.find_links)),
            no_index=self.no_index,
        )

    def parse_file(self, name: str, text: str, *, constraint: bool, chain: tuple[str, ...]) -> None:
        self.sources.append((name, text))
        for number, written in logical_lines(text, name):
            expanded, expansions = expand(written, name, number, self.environ)
            line = Line(
                file=name,
                number=number,
                text=redact(written),
                expanded=expanded,
                expansions=expansions,
            )
            requirement, option_text = split_options(expanded)
            try:
                tokens = split_options_text(option_text)
            except ValueError as exc:
                raise line.error(f"cannot split the options: {exc}") from None
            options = list(_options(tokens, line))
            if requirement:
                hashes: list[str] = []
                for option, value in options:
                    if option != "--hash" or value is None:
                        raise line.error(
                            f"option {option} cannot follow a requirement",
                            hint="put it on a line of its own",
                        )
                    hashes.append(_hash(value, line))
                self.add_requirement(requirement, tuple(hashes), line, constraint=constraint)
            else:
                for option, value in options:
                    self._apply(option, value, line, chain=chain, constraint=constraint)

    def _apply(
        self,
        option: str,
        value: str | None,
        line: Line,
        *,
        chain: tuple[str, ...],
        constraint: bool = False,
    ) -> None:
        if value is None:
            if option == "--pre":
                self.pre = True
            elif option == "--no-index":
                self.no_index = True
            else:
                self.require_hashes = True
        elif option == "--editable":
            if constraint:
                raise line.error(
                    "a constraints file cannot hold -e", hint="move the line to a -r file"
                )
            self.add_requirement(value, (), line, constraint=False, editable=True)
        elif option == "--find-links":
            self.find_links.append(
                find_links_location(value, base_dir=line.base_dir, fail=line_fail(line))
            )
        elif option in ("--requirement", "--constraint"):
            # As in pip, '-r' inside a constraints file reads requirements.
            self._include(value, line, constraint=option == "--constraint", chain=chain)
        elif option == "--index-url":
            self.index_url = _index_url(value, option, line)
        elif option == "--extra-index-url":
            value = _index_url(value, option, line)
            if value not in self.extra_index_urls:
                self.extra_index_urls.append(value)
        elif option in ("--only-binary", "--no-binary"):
            for item in value.split(","):
                if item not in (":all:", ":none:") and not _NAME_RE.fullmatch(item):
                    raise line.error(
                        f"{option} {value!r}: {item!r} is not a project name, ':all:' or ':none:'"
                    )
            self.binary_options.append((option, value))
        else:
            raise line.error(
                "--hash must follow a requirement on the same line",
                hint="write 'name==1.0 --hash=sha256:...'",
            )

    def _include(
        self, reference: str, line: Line, *, constraint: bool, chain: tuple[str, ...]
    ) -> None:
        flag = "-c" if constraint else "-r"
        if _URL_RE.match(reference):
            raise line.error(
                f"{flag} with a URL is not supported",
                hint="download the file and refer to it by a path",
            )
        if self.loader is None:
            raise line.error(
                f"cannot read {flag} {reference}: no loader was given for included files",
                hint="use load_requirements(), or pass loader= to parse_requirements()",
            )
        try:
            resolved, text = self.loader(line.file, reference)
        except (OSError, ValueError) as exc:
            where = f" ({exc.filename})" if isinstance(exc, OSError) and exc.filename else ""
            raise line.error(f"cannot read {flag} {reference}{where}: {read_failure(exc)}") from exc
        if resolved in chain:
            raise line.error(
                f"requirements files include each other: {' -> '.join((*chain, resolved))}",
                hint=f"remove the {flag} line that closes the loop",
            )
        if len(chain) >= _MAX_DEPTH:
            raise line.error(f"includes are nested more than {_MAX_DEPTH} deep")
        self.parse_file(resolved, text, constraint=constraint, chain=(*chain, resolved))

    def add_requirement(
        self,
        text: str,
        hashes: tuple[str, ...],
        line: Line,
        *,
        constraint: bool,
        editable: bool = False,
    ) -> None:
        fail = line_fail(line)
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            if editable or _looks_like_location(text) or is_archive_name(text):
                self._add_located(text, hashes, line, constraint=constraint, editable=editable)
                return
            reason = str(exc).splitlines()[0] if str(exc) else "invalid syntax"
            hint = None
            if line.text.rstrip().endswith("\\"):
                hint = "a '\\' continues a line only as the very last character"
            elif "after URL" in reason:
                hint = "put a space between the URL and ';'"
            raise line.error(f"invalid requirement: {reason}", hint=hint) from None
        if editable:
            raise line.error(
                "-e takes a local directory ('-e ./path' or '-e .[extras]')",
                hint="remove -e to lock it from an index",
            )
        if requirement.url is None and is_archive_name(requirement.name):
            self._add_located(text, hashes, line, constraint=constraint, editable=False)
            return
        if requirement.url is not None and not _SCHEME_RE.match(requirement.url):
            raise line.error(
                f"direct reference {requirement.url!r} is not a URL",
                hint="use an absolute URL such as https://... or file:///..., or a path "
                "without 'name @'",
            )
        self._check_constraint(requirement.extras, requirement.url is not None, line, constraint)
        direct = None
        if requirement.url is not None:
            direct, egg, fragment_hashes = reference_of_url(
                requirement.url, base_dir=line.base_dir, editable=False, fail=fail
            )
            if egg is not None and egg != canonicalize_name(requirement.name):
                raise line.error(
                    f"the line names {requirement.name} but its #egg= says {egg}",
                    hint="make the two names agree (or drop #egg=)",
                )
            hashes = (*hashes, *fragment_hashes)
            check_hashes(direct, hashes, fail)
        entry = RequirementLine(
            requirement=requirement,
            name=canonicalize_name(requirement.name),
            origin=line.origin(),
            hashes=tuple(sorted(set(hashes))),
            constraint=constraint,
            direct=direct,
        )
        (self.constraints if constraint else self.requirements).append(entry)

    def _add_located(
        self,
        text: str,
        hashes: tuple[str, ...],
        line: Line,
        *,
        constraint: bool,
        editable: bool,
    ) -> None:
        """A line that is a bare path or URL (pip installs those without a name)."""

        fail = line_fail(line)
        self._check_constraint(frozenset(), True, line, constraint)
        located = locate(text, base_dir=line.base_dir, editable=editable, fail=fail)
        hashes = tuple(sorted({*hashes, *located.hashes}))
        check_hashes(located.direct, hashes, fail)
        if located.name is None:
            self.unnamed.append(
                UnnamedLine(
                    direct=located.direct,
                    extras=located.extras,
                    marker=located.marker,
                    origin=line.origin(),
                    hashes=hashes,
                )
            )
            return
        self.requirements.append(
            named_line(located.name, located.direct, located.extras, located.marker,
                       origin=line.origin(), hashes=hashes)
        )  # fmt: skip

    @staticmethod
    def _check_constraint(extras: object, direct: bool, line: Line, constraint: bool) -> None:
        if constraint and extras:
            raise line.error(
                "a constraint cannot have extras (pip refuses them too)",
                hint="remove the [extras]; name them on the requirement instead",
            )
        if constraint and direct:
            raise line.error(
                "a constraint cannot be a direct reference",
                hint="move 'name @ url' to a requirements file (-r)",
            )


def line_fail(line: Line) -> Fail:
    """A :data:`~reqlock.locking.reqdirect.Fail` naming ``line``."""

    def fail(message: str, hint: str | None) -> RequirementsError:
        return line.error(message, hint=hint)

    return fail
