"""A checkpoint that cannot be used never stops the manager: set aside, full list, counted."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from controller_manager.checkpoint.format import VERSION, decode_lines, encode

from .conftest import NAMES, lists, metric, product_yaml, wait_for

pytestmark = pytest.mark.integration

DISCARDED = {"kind": "Product", "result": "discarded"}
RESUMES = "controller_manager_checkpoint_resumes_total"


def rewrite_header(path: Path, **fields: object) -> None:
    records, _ = decode_lines(path.read_bytes())
    records[0].update(fields)
    path.write_bytes(b"".join(encode(r) for r in records))


def flip_a_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x04
    path.write_bytes(bytes(data))


DAMAGE: dict[str, Callable[[Path], None]] = {
    "corrupt": lambda d: (d / "base.ckpt").write_bytes(b"{not a checkpoint}\n"),
    "truncated": lambda d: (d / "base.ckpt").write_bytes((d / "base.ckpt").read_bytes()[:-40]),
    "checksum": lambda d: flip_a_bit(d / "base.ckpt"),
    "version": lambda d: rewrite_header(d / "base.ckpt", version=VERSION + 1),
    "api_url": lambda d: rewrite_header(d / "base.ckpt", api_url="http://127.0.0.1:1"),
}


@pytest.mark.parametrize("case", [*DAMAGE, "kind_set", "selector", "missing"])
def test_a_bad_checkpoint_is_set_aside_and_the_manager_lists(
    managers, recorder, api, case: str
) -> None:
    if case != "missing":
        managers.settled(managers.start())
        managers.stop()
    recorder.reset()
    listed = lists(api)
    options: dict[str, str] = {}
    if case in DAMAGE:
        DAMAGE[case](managers.checkpoint_dir)
    elif case == "kind_set":  # one more controller: another informer
        options["extra_controller"] = (
            '  - {name: namespaces, kind: Namespace, reconciler: "tests:recorder"}\n'
        )
    elif case == "selector":
        # Still every product, but another informer (kind, namespace, selector).
        options["selector"] = "{matchExpressions: [{key: tier, operator: DOES_NOT_EXIST}]}"

    second = managers.start(**options)
    assert lists(api) == listed + 1  # a full list
    assert metric(second, RESUMES, **DISCARDED) == 1
    assert metric(second, RESUMES, kind="Product", result="resumed") == 0
    wait_for(lambda: set(NAMES) <= set(recorder.names()), "a full pass over the products")
    moved = sorted(p.name for p in managers.checkpoint_dir.glob("*.bad-*"))
    if case == "missing":
        assert moved == []
    else:
        assert [m.split(".bad-")[0] for m in moved] == ["base.ckpt", "journal.ckpt"]
    # ... and a fresh checkpoint replaces it.
    wait_for((managers.checkpoint_dir / "base.ckpt").exists, "a new checkpoint")


def test_a_crash_between_temp_write_and_rename_resumes_from_the_previous_checkpoint(
    managers, recorder, api
) -> None:
    managers.settled(managers.start())
    managers.stop()
    directory = managers.checkpoint_dir
    # What a kill between writing the next base and renaming it leaves behind.
    torn = (directory / "base.ckpt").read_bytes()
    (directory / "base.ckpt.tmp").write_bytes(torn[: len(torn) // 3])
    recorder.reset()
    listed = lists(api)
    second = managers.start()
    wait_for(lambda: metric(second, RESUMES, kind="Product", result="resumed") == 1, "resume")
    assert lists(api) == listed and recorder.names() == []


def unwritable_directory(tmp_path: Path) -> Path:
    """A directory this process cannot create files in (even as root), probed."""
    candidate = tmp_path / "read-only"
    candidate.mkdir()
    candidate.chmod(0o500)
    candidates = [candidate, Path("/sys/kernel")]  # root ignores modes; sysfs refuses it
    for directory in candidates:
        probe = directory / ".probe"
        try:
            probe.write_bytes(b"")
        except OSError:
            return directory
        probe.unlink()
    pytest.fail(f"no unwritable directory among {candidates}")


def test_an_unwritable_directory_keeps_reconciling_and_reports_it(
    managers, recorder, api, tmp_path: Path
) -> None:
    managers.checkpoint_dir = unwritable_directory(tmp_path)
    try:
        manager = managers.start()
        managers.settled(manager)  # reconciles happen regardless
        wait_for(
            lambda: metric(manager, "controller_manager_checkpoint_write_failures_total") >= 1,
            "a counted write failure",
        )
        ready = requests.get(manager.probe_url + "/readyz/checkpoint", timeout=10)
        assert ready.status_code == 500 and "checkpoint writes failing" in ready.text
        assert requests.get(manager.probe_url + "/healthz", timeout=10).status_code == 200
        # A change is still reconciled while every write fails.
        api.apply(product_yaml("p6", "P6 v2"))
        wait_for(lambda: ("p6", True, 2) in recorder.calls, "the change reconciled")
    finally:
        if managers.checkpoint_dir.is_relative_to(tmp_path):
            os.chmod(managers.checkpoint_dir, 0o700)
    managers.stop()
    shutil.rmtree(tmp_path / "read-only", ignore_errors=True)
