"""inventory: no read can hang, and no inventory process outlives its caller."""

from __future__ import annotations

import os
import signal
import subprocess
import venv
from pathlib import Path
from typing import Any, NoReturn

import pytest

from reqlock.deploy import inventory as inventory_module
from reqlock.deploy import inventory_read
from reqlock.deploy.inventory import check_files, inventory, start_inventory
from reqlock.errors import ConfigError, InventoryError
from tests.test_inventory import env_python, fake_install, site_packages

pytestmark = pytest.mark.skipif(os.name == "nt", reason="FIFOs and POSIX shell scripts")

FIFO = "not a regular file (a FIFO)"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    # Should a read block after all, the test fails with a timeout instead of hanging.
    monkeypatch.setenv("REQLOCK_INVENTORY_TIMEOUT", "120")
    root = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(root)
    python = env_python(root)
    return python, site_packages(python)


def details(inv: inventory_module.Inventory) -> list[tuple[str | None, str]]:
    return [(p.package, p.detail) for p in inv.problems]


# --------------------------------------------------------------------------- FIFOs


def test_record_that_is_a_fifo(env: tuple[str, Path]) -> None:
    python, site = env
    record = fake_install(site, "alpha", "1.0") / "RECORD"
    record.unlink()
    os.mkfifo(record)
    inv = inventory(python, check_files=True)
    # Reported once, as a problem of the dist (not again as a file issue).
    assert details(inv) == [("alpha", f"cannot read RECORD: {FIFO}")]
    assert inv.file_issues == ()
    alpha = inv.get("alpha")
    assert alpha is not None
    assert alpha.record_digest is None
    # Checked in this process: the same answer, without hanging either.
    assert [(i.kind, i.detail) for i in check_files(inv.dists)] == [
        ("record", f"cannot read RECORD: {FIFO}")
    ]


def test_record_row_naming_a_fifo(env: tuple[str, Path]) -> None:
    python, site = env
    fake_install(site, "alpha", "1.0", {"alpha/mod.py": b"x = 1\n"})
    target = site / "alpha" / "mod.py"
    target.unlink()
    os.mkfifo(target)
    inv = inventory(python, check_files=True)
    assert inv.file_issues is not None
    assert [(i.kind, i.path, i.detail) for i in inv.file_issues] == [
        ("modified", "alpha/mod.py", FIFO)
    ]
    assert inv.problems == ()
    # The FIFO is owned: not an unowned file either.
    assert inv.unowned == ()


@pytest.mark.parametrize("name", ["METADATA", "WHEEL", "direct_url.json", "INSTALLER"])
def test_metadata_files_that_are_fifos(env: tuple[str, Path], name: str) -> None:
    python, site = env
    meta = fake_install(site, "alpha", "1.0", extra={"direct_url.json": b"{}"}) / name
    meta.unlink()
    os.mkfifo(meta)
    inv = inventory(python, check_files=True)
    expected = [] if name == "INSTALLER" else [("alpha", f"cannot read {name}: {FIFO}")]
    assert details(inv) == expected
    assert inv.get("alpha") is not None


def test_pth_file_that_is_a_fifo(env: tuple[str, Path]) -> None:
    python, site = env
    os.mkfifo(site / "stuck.pth")
    inv = inventory(python)
    assert [(p.package, p.path, p.detail) for p in inv.problems] == [
        (None, str(site / "stuck.pth"), f"cannot read stuck.pth: {FIFO}")
    ]
    assert [(u.path, u.kind) for u in inv.unowned] == [("stuck.pth", "pth")]


def test_bounded_reads(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * 100)
    assert inventory_read.read_regular(str(big), 100) == b"x" * 100
    with pytest.raises(inventory_read.TooLarge, match="larger than 99 bytes"):
        inventory_read.read_regular(str(big), 99)
    headers = tmp_path / "METADATA"
    headers.write_bytes(b"Name: a\n" * 5000 + b"\nbody" * 10000)
    block = inventory_read.read_header_block(str(headers), limit=64 * 1024)
    # Read in chunks up to the blank line that ends the headers, not to the end.
    assert block.startswith(b"Name: a\n" * 5000 + b"\n")
    assert len(block) < 64 * 1024
    endless = tmp_path / "ENDLESS"
    endless.write_bytes(b"Name: a\n" * 20000)
    with pytest.raises(inventory_read.TooLarge, match="headers larger than"):
        inventory_read.read_header_block(str(endless), limit=64 * 1024)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for call in (
        lambda: inventory_read.read_regular(str(fifo), 10),
        lambda: inventory_read.read_header_block(str(fifo)),
        lambda: inventory_read.open_regular(str(tmp_path)),
    ):
        with pytest.raises(inventory_read.NotRegularFile):
            call()


# --------------------------------------------------------------------------- processes


@pytest.fixture
def silent_python(tmp_path: Path) -> str:
    """An "interpreter" that never answers (and is the process: exec, no child)."""
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nexec sleep 100000\n")
    fake.chmod(0o755)
    return str(fake)


def _gone(proc: subprocess.Popen[bytes]) -> bool:
    # Reaped by reqlock: the pid is no child of ours any more.
    if proc.returncode is None:
        return False
    with pytest.raises(ChildProcessError):
        os.waitpid(proc.pid, os.WNOHANG)
    return True


def test_timeout_kills_the_process(silent_python: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQLOCK_INVENTORY_TIMEOUT", "0.05")
    pending = start_inventory(silent_python, check_files=True)
    procs = list(pending._procs)
    with pytest.raises(InventoryError, match=r"did not answer within 0\.05 s") as info:
        pending.result()
    assert str(info.value).startswith(silent_python + ": ")
    assert "REQLOCK_INVENTORY_TIMEOUT" in str(info.value)
    assert all(_gone(proc) for proc in procs)
    assert proc_returncodes(procs) == {-signal.SIGKILL}


def proc_returncodes(procs: list[subprocess.Popen[bytes]]) -> set[int | None]:
    return {proc.returncode for proc in procs}


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit, RuntimeError])
def test_interrupted_wait_kills_the_processes(
    silent_python: str, monkeypatch: pytest.MonkeyPatch, exc: type[BaseException]
) -> None:
    pending = start_inventory(silent_python, check_files=True)
    procs = list(pending._procs)

    def interrupted(*args: Any, **kwargs: Any) -> NoReturn:
        raise exc()

    monkeypatch.setattr(procs[0], "communicate", interrupted)
    with pytest.raises(exc):
        pending.result()
    assert all(_gone(proc) for proc in procs)
    assert not set(procs) & inventory_module._LIVE


def test_cancel_and_exit_kill_the_processes(silent_python: str) -> None:
    pending = start_inventory(silent_python)
    pending.cancel()
    assert all(_gone(proc) for proc in pending._procs)
    pending.cancel()  # idempotent
    # A pending inventory dropped without result() or cancel(): killed at exit.
    dropped = start_inventory(silent_python, check_files=True)
    procs = list(dropped._procs)
    assert set(procs) <= inventory_module._LIVE
    inventory_module._kill_live()
    assert all(_gone(proc) for proc in procs)
    assert not inventory_module._LIVE


@pytest.mark.parametrize("value", ["soon", "0", "-3", "inf", "nan"])
def test_bad_timeout_setting(
    silent_python: str, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("REQLOCK_INVENTORY_TIMEOUT", value)
    pending = start_inventory(silent_python)
    with pytest.raises(ConfigError, match="REQLOCK_INVENTORY_TIMEOUT"):
        pending.result()
    assert all(_gone(proc) for proc in pending._procs)
