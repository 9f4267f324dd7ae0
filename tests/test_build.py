"""reqlock as the PEP 517 frontend: build environments, hooks, unpacking.

Build requirements come from a small index served on 127.0.0.1 by each test
(pip trusts loopback over plain HTTP); the backends are tiny wheels made here.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from reqlock.errors import MetadataError
from reqlock.index.build import MetadataBuilder, build_metadata
from reqlock.index.buildenv import BuildEnv, unmet_requirements
from reqlock.index.buildsource import build_system, unpack_sdist
from tests.fakeindex import build_wheel, serve

# A backend configured by build_conf.json in the source tree (its cwd).
TINY_BACKEND = """\
import json, os

def _conf():
    with open("build_conf.json", encoding="utf-8") as f:
        return json.load(f)

def get_requires_for_build_wheel(config_settings=None):
    return _conf().get("dynamic", [])

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    conf = _conf()
    if conf.get("log"):
        with open(conf["log"], "a") as f:
            f.write("prepare\\n")
    if conf.get("fail"):
        raise RuntimeError("tiny backend refuses: " + conf["fail"])
    requires = list(conf["requires"])
    try:
        import tiny_extra  # noqa: F401
        requires.append("saw-extra")
    except ImportError:
        pass
    dist_info = "{}-{}.dist-info".format(conf["name"].replace("-", "_"), conf["version"])
    os.makedirs(os.path.join(metadata_directory, dist_info))
    lines = ["Metadata-Version: 2.1", "Name: " + conf["name"], "Version: " + conf["version"]]
    lines += ["Requires-Dist: " + r for r in requires]
    with open(os.path.join(metadata_directory, dist_info, "METADATA"), "w") as f:
        f.write("\\n".join(lines) + "\\n")
    return dist_info
"""


class BuildIndex:
    """A PEP 503 index of wheels, as a WSGI app that logs the paths asked for."""

    def __init__(self, wheels: Iterable[Path]) -> None:
        self.files = {w.name: w.read_bytes() for w in wheels}
        self.paths: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ["PATH_INFO"]
        self.paths.append(path)
        if path.startswith("/simple/"):
            project = path[len("/simple/") :].strip("/")
            links = "".join(
                f'<a href="/files/{name}#sha256={hashlib.sha256(data).hexdigest()}">{name}</a>'
                for name, data in sorted(self.files.items())
                if canonicalize_name(name.split("-")[0]) == canonicalize_name(project)
            )
            body = f"<html><body>{links}</body></html>".encode()
            ctype = "text/html"
        elif path.startswith("/files/") and path[7:] in self.files:
            body, ctype = self.files[path[7:]], "application/octet-stream"
        else:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
        return [body]

    def page_requests(self, project: str) -> int:
        return sum(1 for p in self.paths if p.rstrip("/") == f"/simple/{project}")


@pytest.fixture
def build_index(tmp_path: Path) -> Iterator[tuple[BuildIndex, str]]:
    wheels = [
        build_wheel(
            tmp_path / "wheels",
            "tiny-backend",
            "1.0",
            files={"tiny_backend/__init__.py": TINY_BACKEND.encode()},
        ),
        build_wheel(tmp_path / "wheels", "tiny-extra", "1.0"),
    ]
    app = BuildIndex(wheels)
    with serve(app) as base:
        yield app, f"{base}/simple/"


def make_sdist(
    where: Path,
    name: str,
    version: str,
    *,
    pyproject: str | None = None,
    conf: Mapping[str, Any] | None = None,
    files: Mapping[str, bytes] | None = None,
) -> Path:
    """A .tar.gz sdist whose backend is tiny-backend (unless ``pyproject`` says)."""
    if pyproject is None:
        pyproject = (
            '[build-system]\nrequires = ["tiny-backend>=1"]\nbuild-backend = "tiny_backend"\n'
        )
    config = {"name": name, "version": version, "requires": [], **(conf or {})}
    tree = {
        "pyproject.toml": pyproject.encode(),
        "build_conf.json": json.dumps(config).encode(),
        **(files or {}),
    }
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"{name}-{version}.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for member, data in tree.items():
            info = tarfile.TarInfo(f"{name}-{version}/{member}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def build(builder: Callable[..., Mapping[str, Any]], sdist: Path, index: str) -> dict[str, Any]:
    item = builder(sdist, package=sdist.name.split("-")[0], version="", index_urls=[index])
    return dict(item["metadata"])


# -- build environments ----------------------------------------------------------------


def test_builds_with_the_same_requirements_share_one_environment(
    build_index: tuple[BuildIndex, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, simple = build_index
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    one = make_sdist(tmp_path / "sd", "one", "1.0", conf={"requires": ["leaf>=2"]})
    two = make_sdist(tmp_path / "sd", "two", "2.0", conf={"requires": ["other; extra == 'x'"]})
    builder = MetadataBuilder()
    try:
        first = build(builder, one, simple)
        second = build(builder, two, simple)
    finally:
        builder.close()
    assert (first["name"], first["version"], first["requires_dist"]) == ("one", "1.0", ["leaf>=2"])
    assert second["requires_dist"] == ["other; extra == 'x'"]
    assert app.page_requests("tiny-backend") == 1  # pip ran once for both builds
    assert list((tmp_path / "tmp").iterdir()) == []  # environments and trees removed


def test_concurrent_builds_wait_for_the_one_environment(
    build_index: tuple[BuildIndex, str], tmp_path: Path
) -> None:
    app, simple = build_index
    sdists = [
        make_sdist(tmp_path / "sd", f"par{i}", "1.0", conf={"requires": [f"dep{i}"]})
        for i in range(4)
    ]
    builder = MetadataBuilder()
    try:
        with ThreadPoolExecutor(4) as pool:
            metas = list(pool.map(lambda sdist: build(builder, sdist, simple), sdists))
    finally:
        builder.close()
    assert [m["requires_dist"] for m in metas] == [[f"dep{i}"] for i in range(4)]
    assert app.page_requests("tiny-backend") == 1


def test_requirements_the_backend_adds_get_an_environment_that_has_them(
    build_index: tuple[BuildIndex, str], tmp_path: Path
) -> None:
    app, simple = build_index
    log = tmp_path / "hooks.log"
    sdist = make_sdist(tmp_path, "dyn", "1.0", conf={"dynamic": ["tiny-extra"], "log": str(log)})
    meta = build(build_metadata, sdist, simple)
    assert log.read_text().splitlines() == ["prepare", "prepare"]
    # The metadata comes from the second run, where tiny_extra was importable.
    assert meta["requires_dist"] == ["saw-extra"]
    assert app.page_requests("tiny-extra") == 1


def test_dynamic_requirements_already_met_or_not_for_this_python_run_the_hooks_once(
    build_index: tuple[BuildIndex, str], tmp_path: Path
) -> None:
    app, simple = build_index
    log = tmp_path / "hooks.log"
    conf = {"dynamic": ["tiny-backend>=0.1", "tiny-extra; python_version < '3'"], "log": str(log)}
    meta = build(build_metadata, make_sdist(tmp_path, "met", "1.0", conf=conf), simple)
    assert log.read_text().splitlines() == ["prepare"]
    assert meta["requires_dist"] == []
    assert app.page_requests("tiny-extra") == 0
    assert app.page_requests("tiny-backend") == 1


def test_dynamic_requirements_that_conflict_are_an_error(
    build_index: tuple[BuildIndex, str], tmp_path: Path
) -> None:
    _, simple = build_index
    sdist = make_sdist(tmp_path, "clash", "1.0", conf={"dynamic": ["tiny-backend<1"]})
    with pytest.raises(MetadataError) as info:
        build(build_metadata, sdist, simple)
    assert info.value.reason == "build-failed"
    assert "tiny-backend<1" in str(info.value)


def test_a_build_requirement_the_index_lacks_names_it_without_credentials(
    build_index: tuple[BuildIndex, str], tmp_path: Path
) -> None:
    _, simple = build_index
    secret = simple.replace("http://", "http://builder:s3cret-token@")
    sdist = make_sdist(
        tmp_path,
        "lacking",
        "1.0",
        pyproject='[build-system]\nrequires = ["no-such-backend"]\nbuild-backend = "x"\n',
    )
    with pytest.raises(MetadataError) as info:
        build(build_metadata, sdist, secret)
    text = str(info.value)
    assert info.value.package == "lacking"
    assert info.value.reason == "build-failed"
    assert "no-such-backend" in text
    assert "s3cret-token" not in text


def test_a_failing_backend_is_reported_with_its_exception(
    build_index: tuple[BuildIndex, str], tmp_path: Path
) -> None:
    _, simple = build_index
    sdist = make_sdist(tmp_path, "broken", "1.0", conf={"fail": "no compiler"})
    with pytest.raises(MetadataError) as info:
        build(build_metadata, sdist, simple)
    assert "tiny backend refuses: no compiler" in str(info.value)
    assert "tiny_backend" in str(info.value)
    assert info.value.reason == "build-failed"


def test_a_direct_url_build_requirement_is_refused_before_pip_runs(tmp_path: Path) -> None:
    pyproject = (
        '[build-system]\nrequires = ["evil @ http://127.0.0.1:9/evil.whl"]\n'
        'build-backend = "evil"\n'
    )
    sdist = make_sdist(tmp_path, "urlreq", "1.0", pyproject=pyproject)
    with pytest.raises(MetadataError) as info:
        build(build_metadata, sdist, "http://127.0.0.1:9/simple/")
    assert "direct URL" in str(info.value)
    assert "lock's indexes" in str(info.value)


# -- hooks, with in-tree backends (no index needed) ------------------------------------

IN_TREE = '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["_b"]\n'


def in_tree(tmp_path: Path, name: str, backend: str, pyproject: str = IN_TREE) -> Path:
    return make_sdist(
        tmp_path, name, "1.0", pyproject=pyproject, files={"_b/backend.py": backend.encode()}
    )


def test_without_prepare_metadata_the_wheel_says(tmp_path: Path) -> None:
    backend = (
        "import zipfile\n"
        "def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):\n"
        "    name = 'whl_only-1.0-py3-none-any.whl'\n"
        "    with zipfile.ZipFile(wheel_directory + '/' + name, 'w') as z:\n"
        "        z.writestr('whl_only-1.0.dist-info/METADATA',\n"
        "                   'Metadata-Version: 2.1\\nName: whl-only\\nVersion: 1.0\\n'\n"
        "                   'Requires-Dist: from-wheel\\nProvides-Extra: fast\\n')\n"
        "    return name\n"
    )
    meta = build(build_metadata, in_tree(tmp_path, "whl_only", backend), "")
    assert meta["requires_dist"] == ["from-wheel"]
    assert meta["provides_extra"] == ["fast"]


def test_the_backend_sees_neither_reqlocks_environment_nor_its_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # packaging is installed next to reqlock; an isolated build must not see it.
    backend = (
        "import os, sys\n"
        "def prepare_metadata_for_build_wheel(d, config_settings=None):\n"
        "    seen = []\n"
        "    try:\n"
        "        import packaging\n"
        "        seen.append('saw-packaging')\n"
        "    except ImportError:\n"
        "        pass\n"
        "    if not sys.flags.isolated:\n"
        "        seen.append('not-isolated')\n"
        "    if any(k.startswith('PIP_') and k != 'PIP_CONFIG_FILE' and k not in (\n"
        "            'PIP_DISABLE_PIP_VERSION_CHECK', 'PIP_NO_INPUT') for k in os.environ):\n"
        "        seen.append('saw-pip-settings')\n"
        "    os.makedirs(d + '/iso-1.0.dist-info')\n"
        "    with open(d + '/iso-1.0.dist-info/METADATA', 'w') as f:\n"
        "        f.write('Metadata-Version: 2.1\\nName: iso\\nVersion: 1.0\\n')\n"
        "        f.writelines('Requires-Dist: %s\\n' % s for s in seen)\n"
        "    return 'iso-1.0.dist-info'\n"
    )
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/nowhere/")
    meta = build(build_metadata, in_tree(tmp_path, "iso", backend), "")
    assert meta.get("requires_dist", []) == []


def test_a_backend_found_outside_its_backend_path_is_refused(tmp_path: Path) -> None:
    pyproject = '[build-system]\nrequires = []\nbuild-backend = "json"\nbackend-path = ["_b"]\n'
    sdist = in_tree(tmp_path, "outside", "", pyproject)
    with pytest.raises(MetadataError) as info:
        build(build_metadata, sdist, "")
    assert "not from its backend-path" in str(info.value)


def test_a_backend_that_never_returns_is_stopped_by_the_timeout(tmp_path: Path) -> None:
    backend = "import time\ndef prepare_metadata_for_build_wheel(d, c=None):\n    time.sleep(120)\n"
    sdist = in_tree(tmp_path, "sleepy", backend)
    with pytest.raises(MetadataError) as info:
        build_metadata(sdist, package="sleepy", version="1.0", index_urls=[], timeout=2.0)
    assert "timed out" in str(info.value)


def test_a_source_directory_is_built_in_place(tmp_path: Path) -> None:
    tree = tmp_path / "proj"
    (tree / "_b").mkdir(parents=True)
    (tree / "pyproject.toml").write_text(IN_TREE)
    (tree / "_b" / "backend.py").write_text(
        "import os\n"
        "def prepare_metadata_for_build_wheel(d, c=None):\n"
        "    os.makedirs(d + '/proj-3.0.dist-info')\n"
        "    with open(d + '/proj-3.0.dist-info/METADATA', 'w') as f:\n"
        "        f.write('Metadata-Version: 2.1\\nName: proj\\nVersion: 3.0\\n'\n"
        "                'Requires-Dist: cwd-is-' + os.path.basename(os.getcwd()) + '\\n')\n"
        "    return 'proj-3.0.dist-info'\n"
    )
    item = build_metadata(tree, package="proj", version="", index_urls=[])
    assert item["metadata"]["version"] == "3.0"
    assert item["metadata"]["requires_dist"] == ["cwd-is-proj"]


# -- [build-system] ---------------------------------------------------------------------


def write_tree(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_a_project_without_build_system_gets_setuptools_legacy(tmp_path: Path) -> None:
    system = build_system(write_tree(tmp_path, {"setup.py": ""}), package="p", version="1")
    assert [str(r) for r in system.requires] == ["setuptools>=40.8.0"]
    assert system.backend == "setuptools.build_meta:__legacy__"


def test_requires_without_a_backend_adds_setuptools(tmp_path: Path) -> None:
    tree = write_tree(tmp_path, {"pyproject.toml": '[build-system]\nrequires = ["wheel"]\n'})
    system = build_system(tree, package="p", version="1")
    assert [str(r) for r in system.requires] == ["wheel", "setuptools>=40.8.0"]
    assert system.backend == "setuptools.build_meta:__legacy__"


@pytest.mark.parametrize(
    ("pyproject", "message"),
    [
        ("[build-system\n", "not valid TOML"),
        ("build-system = 3\n", "not a table"),
        ('[build-system]\nbuild-backend = "x"\n', "requires must be a list"),
        ('[build-system]\nrequires = ["ok", 3]\n', "requires must be a list"),
        ('[build-system]\nrequires = ["not a req!"]\n', "invalid requirement"),
        ('[build-system]\nrequires = []\nbuild-backend = ""\n', "build-backend"),
        ('[build-system]\nrequires = []\nbackend-path = ["../up"]\n', "outside the source"),
        ('[build-system]\nrequires = []\nbackend-path = "_b"\n', "backend-path must be"),
    ],
)
def test_a_broken_build_system_names_the_file(tmp_path: Path, pyproject: str, message: str) -> None:
    tree = write_tree(tmp_path / "t", {"pyproject.toml": pyproject})
    with pytest.raises(MetadataError) as info:
        build_system(tree, package="bad", version="2.0")
    assert message in str(info.value)
    assert "bad 2.0: pyproject.toml" in str(info.value)
    assert info.value.reason == "build-failed"


def test_a_tree_with_nothing_to_build_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match=r"neither a pyproject\.toml nor a setup\.py"):
        build_system(tmp_path, package="empty", version="1")


# -- unpacking ------------------------------------------------------------------------


def tar_with(path: Path, *members: tarfile.TarInfo) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for info in members:
            tf.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = 1 if kind == tarfile.REGTYPE else 0
    return info


@pytest.mark.parametrize(
    "bad",
    [
        member("../escape.txt"),
        member("pkg-1.0/../../escape.txt"),
        member("/abs/escape.txt"),
        member("pkg-1.0/link", tarfile.SYMTYPE, "/etc/passwd"),
        member("pkg-1.0/link", tarfile.SYMTYPE, "../../outside"),
        member("pkg-1.0/hard", tarfile.LNKTYPE, "../outside"),
        member("pkg-1.0/dev", tarfile.CHRTYPE),
        member("pkg-1.0/fifo", tarfile.FIFOTYPE),
    ],
    ids=lambda m: f"{m.name}->{m.linkname}" if m.linkname else m.name,
)
def test_an_unsafe_sdist_is_refused_and_nothing_lands_outside(
    tmp_path: Path, bad: tarfile.TarInfo
) -> None:
    archive = tar_with(tmp_path / "pkg-1.0.tar.gz", member("pkg-1.0/setup.py"), bad)
    dest = tmp_path / "a" / "b"
    dest.mkdir(parents=True)
    with pytest.raises(MetadataError) as info:
        unpack_sdist(archive, dest, package="pkg", version="1.0")
    assert "pkg 1.0: pkg-1.0.tar.gz is not a safe sdist" in str(info.value)
    assert list(dest.iterdir()) == []  # checked before anything was written
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "a" / "escape.txt").exists()


def test_a_zip_sdist_climbing_out_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "z-1.0.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("z-1.0/setup.py", "")
        zf.writestr("z-1.0/../../../escape.txt", "x")
    dest = tmp_path / "d"
    dest.mkdir()
    with pytest.raises(MetadataError, match="lands outside the tree"):
        unpack_sdist(archive, dest, package="z", version="1.0")


def test_a_normal_sdist_unpacks_to_its_top_directory(tmp_path: Path) -> None:
    archive = tar_with(
        tmp_path / "ok-1.0.tar.gz",
        member("ok-1.0/setup.py"),
        member("ok-1.0/src/link", tarfile.SYMTYPE, "../setup.py"),
    )
    dest = tmp_path / "d"
    dest.mkdir()
    root = unpack_sdist(archive, dest, package="ok", version="1.0")
    assert root == dest / "ok-1.0"
    assert (root / "setup.py").read_bytes() == b"x"


def test_a_truncated_sdist_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    good = make_sdist(tmp_path, "cut", "1.0")
    cut = tmp_path / "cut-1.0.tar.gz"
    cut.write_bytes(good.read_bytes()[:40])
    (tmp_path / "d").mkdir()
    with pytest.raises(MetadataError, match="cannot be unpacked"):
        unpack_sdist(cut, tmp_path / "d", package="cut", version="1.0")


# -- which requirements a build environment meets ---------------------------------------


def test_unmet_requirements_check_name_version_and_markers() -> None:
    env = BuildEnv(installed={canonicalize_name("Setup_Tools"): Version("70.0rc1")})
    markers = {"python_version": "3.11", "sys_platform": "linux"}
    reqs = [
        Requirement("setup-tools>=69"),  # a pre-release counts, as with pip
        Requirement("setup-tools<60"),
        Requirement("wheel"),
        Requirement("cython; sys_platform == 'win32'"),
    ]
    assert [str(r) for r in unmet_requirements(reqs, env, markers)] == ["setup-tools<60", "wheel"]


def test_an_index_loads_the_frontend_only_for_a_build() -> None:
    code = (
        "import sys\n"
        "from reqlock.index.index import Index\n"
        "Index(['http://127.0.0.1:9/simple/']).close()\n"
        "print(sorted(m for m in sys.modules if m.startswith('reqlock.index.build')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
