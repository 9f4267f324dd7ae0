"""Tests for the requirements-file parser (reqlock.locking.requirements)."""

from __future__ import annotations

import errno
import posixpath
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from reqlock.errors import RequirementsError
from reqlock.locking.requirements import (
    Loader,
    Origin,
    RequirementLine,
    RequirementSet,
    load_requirements,
    parse_requirement_strings,
    parse_requirements,
)

SHA_A = "a" * 64
SHA_B = "b" * 64


def parse(text: str, **kwargs: object) -> RequirementSet:
    return parse_requirements(text, filename="req.txt", **kwargs)  # type: ignore[arg-type]


def fails(text: str, *fragments: str, **kwargs: object) -> RequirementsError:
    """Parse ``text``, expect a RequirementsError, check that its message holds
    every fragment, and return it."""
    with pytest.raises(RequirementsError) as info:
        parse(text, **kwargs)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return info.value


def memory_loader(files: dict[str, str]) -> Loader:
    """A loader over a dict of posix paths, resolving relative to the includer."""

    def load(including: str, reference: str) -> tuple[str, str]:
        name = posixpath.normpath(posixpath.join(posixpath.dirname(including), reference))
        if name not in files:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", name)
        return name, files[name]

    return load


def names(requirement_set: RequirementSet) -> list[str]:
    return [line.name for line in requirement_set.requirements]


# --- requirement lines ------------------------------------------------------------


def test_plain_requirements_keep_name_specifier_extras_marker() -> None:
    result = parse('Foo_Bar[Security, socks] >= 2.8.1, == 2.8.* ; python_version < "3.12"\nbaz\n')
    first, second = result.requirements
    assert first.name == "foo-bar"
    assert first.requirement.name == "Foo_Bar"
    assert first.requirement.extras == {"Security", "socks"}
    assert first.requirement.specifier == SpecifierSet(">=2.8.1,==2.8.*")
    assert first.requirement.marker == Marker('python_version < "3.12"')
    assert first.hashes == ()
    assert first.constraint is False
    assert second.name == "baz"
    assert second.origin == Origin(file="req.txt", line=2, text="baz")


def test_origin_str_is_file_and_line() -> None:
    assert str(Origin(file="a/b.txt", line=7, text="x")) == "a/b.txt:7"


def test_direct_reference_keeps_url_fragment() -> None:
    (line,) = parse(f"pkg @ https://host/pkg-1.0-py3-none-any.whl#sha256={SHA_A}\n").requirements
    assert line.requirement.url == f"https://host/pkg-1.0-py3-none-any.whl#sha256={SHA_A}"
    assert line.name == "pkg"


def test_direct_reference_with_marker_needs_space_before_semicolon() -> None:
    (line,) = parse('pkg @ https://host/pkg.whl ; os_name == "nt"').requirements
    assert line.requirement.marker == Marker('os_name == "nt"')
    error = fails('pkg @ https://host/pkg.whl; os_name == "nt"', "req.txt:1", "invalid requirement")
    assert error.hint is not None
    assert "space" in error.hint


def test_empty_text_gives_empty_set() -> None:
    result = parse("")
    assert result.requirements == ()
    assert result.constraints == ()
    assert result.sources == (("req.txt", ""),)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("foo >= 1 bar", "Expected comma"),
        ("foo[bar", "RIGHT_BRACKET"),
        ("foo>=1.0.*", ".* suffix"),
        ("foo; python_version >>> '3'", "Expected"),
        ("é", "Expected package name"),
        ("foo#bar", "Expected"),
    ],
)
def test_invalid_requirement_names_place_text_and_reason(text: str, reason: str) -> None:
    error = fails(f"ok\n{text}\n", "req.txt:2", "invalid requirement", reason, repr(text))
    assert (error.file, error.line, error.text) == ("req.txt", 2, text)
    assert "\n" not in error.message


@pytest.mark.parametrize(
    ("text", "kind", "name"),
    [
        ("./pkg-1.0-py3-none-any.whl", "archive", "pkg"),
        ("https://host/pkg-1.0.tar.gz", "archive", None),
        ("https://host/pkg-1.0-py3-none-any.whl", "archive", "pkg"),
        ("git+https://github.com/org/repo@v1", "vcs", None),
        ("git+https://github.com/org/repo@v1#egg=Repo_X", "vcs", "repo-x"),
        ("/abs/path/to/project", "directory", None),
        (".", "directory", None),
        ("~/src/project", "directory", None),
        ("./pkg.whl; python_version > '3'", "archive", None),
        ("pkg-1.0-py3-none-any.whl", "archive", "pkg"),
        ("pkg-1.0.tar.gz", "archive", None),
        ("./src[dev, test]", "directory", None),
    ],
)
def test_bare_url_or_path_is_a_direct_reference(text: str, kind: str, name: str | None) -> None:
    result = parse(text)
    if name is None:
        (line,) = result.unnamed
    else:
        (line,) = result.requirements  # type: ignore[assignment]
        assert line.name == name  # type: ignore[attr-defined]
    assert line.direct is not None
    assert line.direct.kind == kind


def test_relative_paths_start_from_the_requirements_file() -> None:
    result = parse_requirements("-e ../app[dev]\n", filename="/work/reqs/req.txt")
    (line,) = result.unnamed
    assert line.direct.path == "/work/app"
    assert line.direct.editable
    assert line.extras == frozenset({"dev"})


def test_find_links_and_no_index() -> None:
    result = parse_requirements(
        "-f ./wheels\n--find-links https://h.example/flat.html\n--no-index\n",
        filename="/work/req.txt",
    )
    assert result.find_links == ("/work/wheels", "https://h.example/flat.html")
    assert result.no_index


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("-e git+https://github.com/x/y#egg=y", "editable git checkout"),
        ("-e https://host/x-1.0.tar.gz", "cannot be editable"),
        ("-e foo>=1", "-e takes a local directory"),
        ("pkg @ hg+https://host/r", "git repositories only"),
        ("pkg @ https://host/project", "is not a wheel or an sdist"),
        ("pkg @ https://host/x.whl#sha256=abc", "64 hex digits"),
        ("pkg @ git+https://host/r#egg=other", "#egg= says other"),
        ("./app --hash=sha256:" + "a" * 64, "--hash cannot check a directory"),
        ("pkg @ ftp://host/x.whl", "unsupported scheme"),
    ],
)
def test_bad_direct_references_name_the_line(text: str, fragment: str) -> None:
    fails(text, "req.txt:1", fragment)


def test_direct_reference_must_be_a_url() -> None:
    fails("pkg @ ./local/pkg.whl", "req.txt:1", "is not a URL")


@pytest.mark.parametrize("text", ["~=1.0", ">=1", ".foo"])
def test_specifier_without_name_is_not_called_a_path(text: str) -> None:
    error = fails(text, "req.txt:1", "invalid requirement")
    assert "without a project name" not in str(error)


def test_name_with_at_url_and_bad_marker_is_not_called_a_bare_url() -> None:
    error = fails("pkg @ https://host/x.whl ; nonsense", "invalid requirement")
    assert "without a project name" not in str(error)


# --- comments, blank lines, continuations ----------------------------------------


def test_comments_and_blank_lines() -> None:
    text = "# heading\n\n   \nfoo  # trailing\n\t# indented comment\nbar\t# tab comment\n"
    result = parse(text)
    assert names(result) == ["foo", "bar"]
    assert [line.origin.line for line in result.requirements] == [4, 6]
    assert result.requirements[0].origin.text == "foo"


def test_continuation_joins_lines_and_keeps_first_line_number() -> None:
    text = f"# c\nfoo==1.0 \\\n    --hash=sha256:{SHA_A} \\\n    --hash=sha256:{SHA_B}\nbar\n"
    result = parse(text)
    foo, bar = result.requirements
    assert foo.origin.line == 2
    assert foo.hashes == (f"sha256:{SHA_A}", f"sha256:{SHA_B}")
    assert foo.origin.text.startswith("foo==1.0 ")
    assert bar.origin.line == 5


def test_continuation_joins_without_adding_space() -> None:
    (line,) = parse("foo>=1.0\\\n,<2\n").requirements
    assert line.requirement.specifier == SpecifierSet(">=1.0,<2")
    assert line.origin.text == "foo>=1.0,<2"


def test_trailing_backslash_on_last_line_is_fine() -> None:
    assert names(parse("foo \\")) == ["foo"]
    assert names(parse("foo \\\n")) == ["foo"]


def test_comment_line_ends_a_continuation() -> None:
    result = parse("foo \\\n# a comment\nbar\n")
    assert names(result) == ["foo", "bar"]


def test_comment_line_ending_in_backslash_does_not_continue() -> None:
    assert names(parse("# note \\\nfoo\n")) == ["foo"]


def test_blank_line_ends_a_continuation() -> None:
    assert names(parse("foo \\\n\nbar\n")) == ["foo", "bar"]


def test_trailing_comment_with_backslash_is_refused() -> None:
    # pip would join 'bar' into the comment and drop it without a word.
    error = fails("foo  # pinned \\\nbar\n", "req.txt:1", "comment ends with")
    assert error.line == 1


def test_trailing_comment_with_backslash_inside_a_continuation() -> None:
    fails(f"foo \\\n  --hash=sha256:{SHA_A} # x \\\n  bar\n", "req.txt:2", "comment ends with")


def test_space_after_backslash_gets_a_hint() -> None:
    error = fails("foo \\ \nbar\n", "req.txt:1", "invalid requirement")
    assert error.hint is not None
    assert "last character" in error.hint


def test_hash_fragment_without_space_is_not_a_comment_but_is_invalid_for_a_name() -> None:
    fails("foo#egg", "req.txt:1")


def test_bom_and_crlf() -> None:
    result = parse("\ufefffoo\r\nbar \\\r\n  >=1\r\n")
    assert names(result) == ["foo", "bar"]
    assert result.requirements[1].requirement.specifier == SpecifierSet(">=1")


# --- ${VAR} expansion -------------------------------------------------------------


def test_environment_variables_are_expanded() -> None:
    environ = {"TOKEN": "s3cr3t-token", "HOST": "pkgs.example"}
    text = "--index-url https://user:${TOKEN}@${HOST}/simple\npkg @ https://${HOST}/pkg.whl\n"
    result = parse(text, environ=environ)
    assert result.index_url == "https://user:s3cr3t-token@pkgs.example/simple"
    (line,) = result.requirements
    assert line.requirement.url == "https://pkgs.example/pkg.whl"
    # The origin shows what was written, not the value.
    assert line.origin.text == "pkg @ https://${HOST}/pkg.whl"


def test_unset_variable_is_an_error_naming_it() -> None:
    error = fails("foo\n-i https://${NOPE}/simple\n", "req.txt:2", "NOPE", "is not set")
    assert error.text == "-i https://${NOPE}/simple"


def test_empty_variable_is_an_error() -> None:
    fails("-i https://x/${EMPTY}", "req.txt:1", "EMPTY", environ={"EMPTY": ""})


def test_no_environ_means_no_variables() -> None:
    fails("-i ${HOME}", "HOME")


def test_lowercase_variable_is_refused_not_left_literal() -> None:
    error = fails("-i https://x/${token}/simple", "req.txt:1", "${token}", environ={"token": "x"})
    assert error.hint is not None


def test_only_braced_form_is_expanded() -> None:
    result = parse("-i https://x/$HOME/simple", environ={"HOME": "/root"})
    assert result.index_url == "https://x/$HOME/simple"


def test_expansion_happens_after_comment_removal() -> None:
    # A value holding ' #' does not start a comment: it stays, and here it is wrong.
    fails("-i ${URL}\n", "unexpected argument '#frag'", environ={"URL": "https://x/simple #frag"})
    result = parse(
        "pkg @ ${URL}\n",
        environ={
            "URL": "https://x/p.whl#sha256=0000000000000000000000000000000000000000000000000000000000000000"
        },
    )
    assert (
        result.requirements[0].requirement.url
        == "https://x/p.whl#sha256=0000000000000000000000000000000000000000000000000000000000000000"
    )


def test_expanded_secret_never_appears_in_an_error() -> None:
    secret = "ghp_verysecretvalue"
    with pytest.raises(RequirementsError) as info:
        parse("pkg @ https://user:${TOKEN}@host/x.whl ; nonsense", environ={"TOKEN": secret})
    assert secret not in str(info.value)
    assert "req.txt:1" in str(info.value)


def test_literal_credentials_are_redacted_in_errors_and_origins() -> None:
    with pytest.raises(RequirementsError) as info:
        parse("pkg @ https://user:hunter22@host/x.whl ; bad marker")
    assert "hunter22" not in str(info.value)
    # The whole user-info goes: a user name can be a token too.
    assert "https://****@host/x.whl" in str(info.value)
    (line,) = parse("pkg @ https://tok123456@host/x.whl").requirements
    assert line.origin.text == "pkg @ https://****@host/x.whl"
    assert line.requirement.url == "https://tok123456@host/x.whl"


# --- --hash -----------------------------------------------------------------------


def test_hash_forms_normalised_sorted_deduplicated() -> None:
    sha384 = "C" * 96
    sha512 = "d" * 128
    text = (
        f"foo==1 --hash=sha256:{SHA_B} --hash sha256:{SHA_A.upper()} "
        f"--hash=SHA384:{sha384} --hash=sha512:{sha512} --hash=sha256:{SHA_B}"
    )
    (line,) = parse(text).requirements
    assert line.hashes == (
        f"sha256:{SHA_A}",
        f"sha256:{SHA_B}",
        f"sha384:{sha384.lower()}",
        f"sha512:{sha512}",
    )
    assert line.requirement.specifier == SpecifierSet("==1")


def test_hash_with_marker() -> None:
    (line,) = parse(f'foo==1 ; python_version >= "3" --hash=sha256:{SHA_A}').requirements
    assert line.requirement.marker == Marker('python_version >= "3"')
    assert line.hashes == (f"sha256:{SHA_A}",)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (f"md5:{SHA_A[:32]}", "sha256, sha384 or sha512"),
        (f"sha1:{SHA_A[:40]}", "sha256, sha384 or sha512"),
        (SHA_A, "ALGORITHM:HEX"),
        ("sha256:abc", "64 hex digits"),
        (f"sha256:{'g' * 64}", "64 hex digits"),
        (f"sha512:{SHA_A}", "128 hex digits"),
        ("sha256:", "64 hex digits"),
    ],
)
def test_bad_hash_is_an_error(value: str, fragment: str) -> None:
    fails(f"foo\nfoo==1 --hash={value}", "req.txt:2", "--hash", fragment)


def test_hash_needs_a_value() -> None:
    fails("foo==1 --hash", "req.txt:1", "--hash needs a value")


def test_hash_on_its_own_line_is_an_error() -> None:
    fails(f"--hash=sha256:{SHA_A}", "req.txt:1", "--hash must follow a requirement")


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("foo --pre", "option --pre cannot follow a requirement"),
        ("foo -i https://x/simple", "option --index-url cannot follow a requirement"),
        ("foo -r other.txt", "option --requirement cannot follow a requirement"),
        ("foo --config-settings key=value", "option --config-settings is not supported"),
        ("foo --global-option=--x", "option --global-option is not supported"),
        ("foo -x", "unknown option -x"),
        (f"foo --hash=sha256:{SHA_A} bar", "unexpected argument 'bar'"),
    ],
)
def test_other_options_after_a_requirement_are_errors(line: str, fragment: str) -> None:
    fails(line, "req.txt:1", fragment, repr(line))


# --- option lines -----------------------------------------------------------------


def test_index_options() -> None:
    text = (
        "-i https://first/simple\n"
        "--extra-index-url https://extra1/simple\n"
        "--extra-index-url=https://extra2/simple\n"
        "--extra-index-url https://extra1/simple\n"
        "--index-url=https://second/simple\n"
        "-ihttps://third/simple\n"
    )
    result = parse(text)
    assert result.index_url == "https://third/simple"
    assert result.extra_index_urls == ("https://extra1/simple", "https://extra2/simple")


def test_defaults() -> None:
    result = parse("foo")
    assert result.index_url is None
    assert result.extra_index_urls == ()
    assert result.pre is False
    assert result.require_hashes is False
    assert result.only_binary == frozenset()
    assert result.no_binary == frozenset()


def test_flags() -> None:
    result = parse("--pre\n--require-hashes\n")
    assert result.pre is True
    assert result.require_hashes is True


def test_several_options_on_one_line() -> None:
    result = parse("--pre --index-url https://x/simple --only-binary=:all:")
    assert result.pre is True
    assert result.index_url == "https://x/simple"
    assert result.only_binary == frozenset({":all:"})


def test_quoted_option_value() -> None:
    loader = memory_loader({"my reqs.txt": "foo"})
    result = parse('-r "my reqs.txt"', loader=loader)
    assert names(result) == ["foo"]
    fails('-r "my reqs.txt', "req.txt:1", "cannot split the options")


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("--pre=yes", "option --pre takes no value"),
        ("--require-hashes=1", "option --require-hashes takes no value"),
        ("-i", "option --index-url needs a value"),
        ("--index-url=", "option --index-url needs a value"),
        ("-r --pre", "option --requirement needs a value"),
        ("--only-binary", "option --only-binary needs a value"),
        ("-r=base.txt", "write '-r base.txt' or '--requirement=base.txt'"),
        ("--pre foo", "unexpected argument 'foo'"),
        ("-x", "unknown option -x"),
        ("--xyz", "unknown option --xyz"),
        ("--", "unknown option --"),
        ("-", "unknown option -"),
        ("--extra-index https://x", "abbreviated option --extra-index"),
        ("--requirem base.txt", "abbreviated option --requirem"),
    ],
)
def test_malformed_options(line: str, fragment: str) -> None:
    error = fails(f"foo\n{line}\n", "req.txt:2", fragment, repr(line))
    assert error.line == 2


@pytest.mark.parametrize(
    ("line", "option", "hint"),
    [
        ("--trusted-host example.com", "--trusted-host", "https"),
        ("--prefer-binary", "--prefer-binary", "--only-binary"),
        ("--use-feature fast-deps", "--use-feature", "feature"),
        ("-C key=value", "--config-settings", "build"),
        ("--config-settings key=value", "--config-settings", "build"),
        ("--global-option=--x", "--global-option", "build"),
        ("--install-option=--x", "--install-option", "build"),
        ("--use-pep517", "--use-pep517", "build"),
        ("--no-build-isolation", "--no-build-isolation", "build"),
        ("--no-require-hashes", "--no-require-hashes", "hashes"),
        ("--all-releases :all:", "--all-releases", "--pre"),
        ("--only-final :all:", "--only-final", "--pre"),
    ],
)
def test_unsupported_options_name_the_option_with_a_hint(line: str, option: str, hint: str) -> None:
    error = fails(line, "req.txt:1", f"option {option} is not supported", repr(line))
    assert error.hint is not None
    assert hint in error.hint


# --- --only-binary / --no-binary (pip's FormatControl) ----------------------------


@pytest.mark.parametrize(
    ("text", "only", "no"),
    [
        ("--only-binary foo,Bar_Baz", {"foo", "bar-baz"}, set()),
        ("--no-binary :all:", set(), {":all:"}),
        ("--only-binary :all:\n--no-binary foo", {":all:"}, {"foo"}),
        ("--no-binary foo\n--only-binary foo", {"foo"}, set()),
        ("--only-binary foo\n--no-binary :all:", set(), {":all:"}),
        ("--only-binary foo,bar\n--only-binary :none:", set(), set()),
        ("--only-binary foo\n--no-binary :none:", {"foo"}, set()),
        ("--only-binary :all:,foo", {":all:"}, set()),
        ("--only-binary :all:,:none:,foo", {"foo"}, set()),
        ("--no-binary a\n--only-binary=:all:", {":all:"}, set()),
    ],
)
def test_binary_options_follow_pip(text: str, only: set[str], no: set[str]) -> None:
    result = parse(text)
    assert result.only_binary == frozenset(only)
    assert result.no_binary == frozenset(no)


@pytest.mark.parametrize("value", ["foo,,bar", "foo,", "bad-", "foo bar", ":any:"])
def test_binary_option_with_a_bad_name(value: str) -> None:
    fails(f'--only-binary "{value}"', "req.txt:1", "is not a project name")


# --- includes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    ["-r base.txt", "-rbase.txt", "--requirement base.txt", "--requirement=base.txt"],
)
def test_requirement_include_forms(line: str) -> None:
    loader = memory_loader({"base.txt": "bar\n"})
    result = parse(f"foo\n{line}\nbaz\n", loader=loader)
    assert names(result) == ["foo", "bar", "baz"]
    assert result.requirements[1].origin == Origin(file="base.txt", line=1, text="bar")


@pytest.mark.parametrize(
    "line",
    ["-c cons.txt", "-ccons.txt", "--constraint cons.txt", "--constraint=cons.txt"],
)
def test_constraint_include_forms(line: str) -> None:
    loader = memory_loader({"cons.txt": f"bar<2 --hash=sha256:{SHA_A}\n"})
    result = parse(f"foo\n{line}\n", loader=loader)
    assert names(result) == ["foo"]
    (constraint,) = result.constraints
    assert constraint.name == "bar"
    assert constraint.constraint is True
    assert constraint.hashes == (f"sha256:{SHA_A}",)
    assert constraint.origin == Origin(file="cons.txt", line=1, text=constraint.origin.text)


def test_includes_resolve_relative_to_the_including_file() -> None:
    files = {
        "reqs/prod.txt": "-r common/base.txt\nprod-only\n",
        "reqs/common/base.txt": "-c ../../constraints.txt\nbase\n",
        "constraints.txt": 'base<3; python_version >= "3.10"\n-r reqs/extra.txt\n',
        "reqs/extra.txt": "extra\n",
    }
    loader = memory_loader(files)
    result = parse_requirements(files["reqs/prod.txt"], filename="reqs/prod.txt", loader=loader)
    assert names(result) == ["extra", "base", "prod-only"]
    # '-r' inside a constraints file reads requirements, as in pip.
    assert result.requirements[0].origin.file == "reqs/extra.txt"
    assert result.requirements[0].constraint is False
    assert [c.name for c in result.constraints] == ["base"]
    assert [name for name, _ in result.sources] == [
        "reqs/prod.txt",
        "reqs/common/base.txt",
        "constraints.txt",
        "reqs/extra.txt",
    ]
    assert dict(result.sources) == files


def test_loader_receives_including_name_and_reference() -> None:
    calls: list[tuple[str, str]] = []

    def loader(including: str, reference: str) -> tuple[str, str]:
        calls.append((including, reference))
        return f"resolved:{reference}", "-r inner.txt\n" if reference == "outer.txt" else "x\n"

    result = parse("-r outer.txt", loader=loader)
    assert calls == [("req.txt", "outer.txt"), ("resolved:outer.txt", "inner.txt")]
    assert result.requirements[0].origin.file == "resolved:inner.txt"


def test_options_in_included_files_apply() -> None:
    loader = memory_loader(
        {"base.txt": "--pre\n-i https://inner/simple\n", "c.txt": "--no-binary x"}
    )
    result = parse("-i https://outer/simple\n-r base.txt\n-c c.txt\n", loader=loader)
    assert result.pre is True
    assert result.index_url == "https://inner/simple"
    assert result.no_binary == frozenset({"x"})


def test_same_file_included_twice_is_not_a_cycle() -> None:
    loader = memory_loader(
        {"a.txt": "-r common.txt\n", "b.txt": "-r common.txt\n", "common.txt": "x"}
    )
    result = parse("-r a.txt\n-r b.txt\n", loader=loader)
    assert names(result) == ["x", "x"]
    assert [name for name, _ in result.sources] == ["req.txt", "a.txt", "common.txt", "b.txt"]


def test_include_cycle_names_the_chain() -> None:
    files = {"a.txt": "foo\n-r b.txt\n", "b.txt": "\n\n-r a.txt\n"}
    with pytest.raises(RequirementsError) as info:
        parse_requirements(files["a.txt"], filename="a.txt", loader=memory_loader(files))
    error = info.value
    assert "a.txt -> b.txt -> a.txt" in str(error)
    assert (error.file, error.line, error.text) == ("b.txt", 3, "-r a.txt")


def test_file_including_itself() -> None:
    files = {"dir/a.txt": "-r ./a.txt"}
    with pytest.raises(RequirementsError, match=r"dir/a\.txt -> dir/a\.txt"):
        parse_requirements(files["dir/a.txt"], filename="dir/a.txt", loader=memory_loader(files))


def test_include_depth_is_bounded() -> None:
    # A loader whose names never repeat cannot loop forever.
    counter = iter(range(10_000))

    def loader(including: str, reference: str) -> tuple[str, str]:
        return f"f{next(counter)}.txt", "-r next.txt\n"

    fails("-r next.txt", "nested more than", loader=loader)


def test_include_without_loader() -> None:
    error = fails("foo\n-r base.txt\n", "req.txt:2", "no loader", "'-r base.txt'")
    assert error.hint is not None
    assert "load_requirements" in error.hint


@pytest.mark.parametrize(
    "line", ["-r https://example.com/reqs.txt", "-c http://x/c.txt", "-r file:///etc/reqs.txt"]
)
def test_include_by_url_is_refused(line: str) -> None:
    fails(line, "req.txt:1", "with a URL is not supported", loader=memory_loader({}))


def test_missing_include_names_including_file_and_line() -> None:
    error = fails(
        "foo\n-c missing.txt\n",
        "req.txt:2",
        "cannot read -c missing.txt",
        "No such file or directory",
        loader=memory_loader({}),
    )
    assert error.text == "-c missing.txt"


def test_loader_decode_error_is_reported() -> None:
    def loader(including: str, reference: str) -> tuple[str, str]:
        return reference, b"\xff".decode("utf-8")

    fails("-r bad.txt", "req.txt:1", "not UTF-8", loader=loader)


def test_errors_in_included_files_name_that_file() -> None:
    loader = memory_loader({"sub/base.txt": "\nfoo >= = 1\n"})
    error = fails("-r sub/base.txt", "sub/base.txt:2", "invalid requirement", loader=loader)
    assert error.file == "sub/base.txt"


# --- constraints ------------------------------------------------------------------


def test_constraint_with_marker_is_fine() -> None:
    loader = memory_loader({"c.txt": 'foo>=1,<2 ; sys_platform == "linux"'})
    (constraint,) = parse("-c c.txt", loader=loader).constraints
    assert constraint.requirement.marker == Marker('sys_platform == "linux"')


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("foo[bar]>=1", "a constraint cannot have extras"),
        ("foo @ https://host/foo.whl", "a constraint cannot be a direct reference"),
        ("./foo.whl", "a constraint cannot be a direct reference"),
        ("-e .", "a constraints file cannot hold -e"),
    ],
)
def test_bad_constraints(line: str, fragment: str) -> None:
    loader = memory_loader({"c.txt": f"ok\n{line}\n"})
    error = fails("-c c.txt", "c.txt:2", fragment, repr(line), loader=loader)
    assert error.file == "c.txt"


# --- parse_requirement_strings ----------------------------------------------------


def test_requirement_strings() -> None:
    result = parse_requirement_strings(["Foo>=1", ' bar[x] ; python_version > "3" '])
    assert [line.name for line in result.requirements] == ["foo", "bar"]
    assert result.requirements[1].origin == Origin(
        file="<requirements>", line=2, text='bar[x] ; python_version > "3"'
    )
    assert result.sources == (("<requirements>", 'Foo>=1\n bar[x] ; python_version > "3" '),)
    assert result.constraints == ()


@pytest.mark.parametrize(
    ("strings", "fragments"),
    [
        (["ok", "foo >= = 1"], ["build.py:2", "invalid requirement"]),
        (["ok", ""], ["build.py:2", "empty requirement"]),
        (["-r other.txt"], ["build.py:1", "options are not allowed"]),
        ([f"foo --hash=sha256:{SHA_A}"], ["build.py:1", "options are not allowed"]),
        (["https://x/y"], ["build.py:1", "not a wheel or an sdist"]),
        (["foo  # comment"], ["build.py:1", "invalid requirement"]),
    ],
)
def test_bad_requirement_strings(strings: list[str], fragments: list[str]) -> None:
    with pytest.raises(RequirementsError) as info:
        parse_requirement_strings(strings, source="build.py")
    for fragment in fragments:
        assert fragment in str(info.value)


def test_requirement_strings_default_source_name() -> None:
    with pytest.raises(RequirementsError, match="<requirements>:1"):
        parse_requirement_strings(["?"])


# --- merge ------------------------------------------------------------------------


def test_merge_combines_as_pip_reads_files_in_order() -> None:
    first = parse_requirements(
        "-i https://a/simple\n--extra-index-url https://x/simple\n--only-binary foo\nfoo\n",
        filename="a.txt",
    )
    second = parse_requirements(
        "--extra-index-url https://x/simple\n--extra-index-url https://y/simple\n"
        "--pre\n--no-binary foo\nbar\n",
        filename="b.txt",
    )
    merged = first.merge(second)
    assert [line.name for line in merged.requirements] == ["foo", "bar"]
    assert merged.index_url == "https://a/simple"
    assert merged.extra_index_urls == ("https://x/simple", "https://y/simple")
    assert merged.pre is True
    assert merged.only_binary == frozenset()
    assert merged.no_binary == frozenset({"foo"})
    assert [name for name, _ in merged.sources] == ["a.txt", "b.txt"]


def test_merge_later_index_url_wins() -> None:
    first = parse_requirements("-i https://a/simple", filename="a.txt")
    second = parse_requirements("--index-url https://b/simple", filename="b.txt")
    assert first.merge(second).index_url == "https://b/simple"
    assert second.merge(first).index_url == "https://a/simple"


def test_merge_replays_none_like_one_file() -> None:
    a_text = "--only-binary foo,bar\n--require-hashes\n"
    b_text = "--only-binary :none:\n--only-binary baz\n"
    merged = parse_requirements(a_text, filename="a").merge(
        parse_requirements(b_text, filename="b")
    )
    assert merged.only_binary == frozenset({"baz"})
    assert merged.require_hashes is True
    assert merged.only_binary == parse(a_text + b_text).only_binary


def test_merge_of_hand_built_sets() -> None:
    first = RequirementSet(only_binary=frozenset({"foo"}), no_binary=frozenset({":all:"}))
    second = RequirementSet(no_binary=frozenset({"foo"}))
    merged = first.merge(second)
    assert merged.only_binary == frozenset()
    assert merged.no_binary == frozenset({":all:", "foo"})
    assert RequirementSet().merge(first).only_binary == frozenset({"foo"})


def test_values_are_frozen() -> None:
    line = parse("foo").requirements[0]
    assert isinstance(line, RequirementLine)
    with pytest.raises(AttributeError):
        line.name = canonicalize_name("bar")  # type: ignore[misc]


# --- load_requirements (the only test that touches a disk) ------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_load_follows_includes_relative_to_each_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "reqs" / "prod.txt", "-r base/common.txt\n-c ../constraints.txt\nprod\n")
    write(tmp_path / "reqs" / "base" / "common.txt", "common\n")
    write(tmp_path / "constraints.txt", "common<2\n")
    monkeypatch.chdir(tmp_path)
    result = load_requirements(["reqs/prod.txt"])
    assert [line.name for line in result.requirements] == ["common", "prod"]
    assert result.requirements[0].origin.file == str(Path("reqs/base/common.txt"))
    assert [c.name for c in result.constraints] == ["common"]
    assert [name for name, _ in result.sources] == [
        str(Path("reqs/prod.txt")),
        str(Path("reqs/base/common.txt")),
        "constraints.txt",
    ]


def test_load_merges_several_files_and_accepts_pathlike(tmp_path: Path) -> None:
    first = write(tmp_path / "a.txt", "-i https://a/simple\nfoo\n")
    second = write(tmp_path / "b.txt", "--pre\nbar\n")
    result = load_requirements([first, str(second)])
    assert [line.name for line in result.requirements] == ["foo", "bar"]
    assert result.index_url == "https://a/simple"
    assert result.pre is True
    assert [text for _, text in result.sources] == ["-i https://a/simple\nfoo\n", "--pre\nbar\n"]


def test_load_nothing_is_empty(tmp_path: Path) -> None:
    assert load_requirements([]) == RequirementSet()


def test_load_bom(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbffoo\n")
    result = load_requirements([path])
    assert [line.name for line in result.requirements] == ["foo"]
    assert result.sources[0][1] == "foo\n"


def test_load_uses_os_environ_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "r.txt", "-i https://${REQLOCK_TEST_HOST}/simple\n")
    monkeypatch.setenv("REQLOCK_TEST_HOST", "example.org")
    assert load_requirements([path]).index_url == "https://example.org/simple"
    other = {"REQLOCK_TEST_HOST": "other.org"}
    assert load_requirements([path], environ=other).index_url == "https://other.org/simple"


def test_load_missing_top_level_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(RequirementsError) as info:
        load_requirements([missing])
    assert str(missing) in str(info.value)
    assert "No such file or directory" in str(info.value)
    assert info.value.file == str(missing)
    assert info.value.line is None


def test_load_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(RequirementsError, match="cannot read requirements file"):
        load_requirements([tmp_path])


def test_load_missing_include_names_the_including_line(tmp_path: Path) -> None:
    top = write(tmp_path / "top.txt", "foo\n-r sub/missing.txt\n")
    with pytest.raises(RequirementsError) as info:
        load_requirements([top])
    message = str(info.value)
    assert f"{top}:2" in message
    assert "cannot read -r sub/missing.txt" in message
    assert str(tmp_path / "sub" / "missing.txt") in message


def test_load_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(RequirementsError, match=r"not UTF-8 text \(byte 0xe9 at offset 3\)"):
        load_requirements([path])
    top = write(tmp_path / "top.txt", "-r latin1.txt\n")
    with pytest.raises(
        RequirementsError, match=r"top\.txt:1: cannot read -r latin1\.txt: not UTF-8"
    ):
        load_requirements([top])


def test_load_detects_cycles_through_different_spellings(tmp_path: Path) -> None:
    write(tmp_path / "a" / "x.txt", "-r ../b/y.txt\n")
    write(tmp_path / "b" / "y.txt", "-r ./../a/x.txt\n")
    with pytest.raises(RequirementsError, match="include each other") as info:
        load_requirements([tmp_path / "a" / "x.txt"])
    assert str(tmp_path / "b" / "y.txt") + ":1" in str(info.value)


@pytest.mark.parametrize(
    "url",
    ["https://host:99999999/simple/", "https://host:abc/", "https://[::1/simple/", "ftp://h/"],
)
def test_a_malformed_index_url_names_the_line(url: str) -> None:
    with pytest.raises(RequirementsError) as info:
        parse(f"leaf-a\n--extra-index-url {url}\n")
    assert info.value.line == 2
    assert str(info.value).startswith("req.txt:2: ")
