"""The checkpoint directory: atomic bases, an fsynced journal, torn and foreign files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import controller_manager.checkpoint.store as store_mod
from controller_manager.checkpoint.format import VERSION, BadCheckpoint, Discard, encode
from controller_manager.checkpoint.store import CheckpointStore, InformerMeta

META = {"Product||": InformerMeta("Product", None, None)}


def obj(name: str, rv: str) -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}}


def write_base(store: CheckpointStore, objects: dict, cursor: str = "1") -> int:
    """Write a base of ``objects`` (key -> object), given as the cache gives them: JSON bytes."""
    return store.write_base(
        api_url="http://api",
        informers=META,
        controllers=["products"],
        objects={"Product||": {k: json.dumps(o).encode() for k, o in objects.items()}},
        cursors={"Product||": cursor},
        pending={"products": {"queued": ["ns/a"]}},
        written_at=100.0,
    )


def test_base_and_journal_round_trip(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "ck")
    write_base(store, {f"ns/o{i}": obj(f"o{i}", "1") for i in range(1200)})  # several chunks
    store.append(
        changes={"Product||": {"ns/o1": obj("o1", "2"), "ns/o2": None}},
        cursors={"Product||": "2"},
        pending={"products": {"queued": []}},
        written_at=101.0,
    )
    loaded = CheckpointStore(tmp_path / "ck").load()
    objs = loaded.objects["Product||"]
    assert len(objs) == 1199 and "ns/o2" not in objs
    assert objs["ns/o1"]["metadata"]["resourceVersion"] == "2"
    assert loaded.cursors == {"Product||": "2"} and loaded.written_at == 101.0
    assert loaded.pending == {"products": {"queued": []}} and loaded.flushes == 1
    assert loaded.informers == META and loaded.api_url == "http://api"


def test_a_torn_journal_tail_leaves_the_flush_before_it(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    write_base(store, {"ns/a": obj("a", "1")})
    for rv in ("2", "3"):
        store.append(
            changes={"Product||": {"ns/a": obj("a", rv)}},
            cursors={"Product||": rv},
            pending={},
            written_at=100.0,
        )
    data = store.journal_path.read_bytes()
    store.journal_path.write_bytes(data[:-7])  # kill -9 in the middle of the last append
    loaded = CheckpointStore(tmp_path).load()
    assert loaded.cursors == {"Product||": "2"} and loaded.torn_tail
    assert loaded.objects["Product||"]["ns/a"]["metadata"]["resourceVersion"] == "2"


def test_a_crash_between_temp_write_and_rename_keeps_the_previous_base(
    tmp_path: Path, monkeypatch
) -> None:
    store = CheckpointStore(tmp_path)
    write_base(store, {"ns/a": obj("a", "1")}, cursor="1")

    def crash(src, dst):  # the process dies before os.replace runs
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(store_mod.os, "replace", crash)
    with pytest.raises(OSError):
        write_base(store, {"ns/b": obj("b", "9")}, cursor="9")
    monkeypatch.undo()
    assert (tmp_path / "base.ckpt.tmp").exists()  # the torn new base is left behind
    loaded = CheckpointStore(tmp_path).load()
    assert loaded.cursors == {"Product||": "1"} and list(loaded.objects["Product||"]) == ["ns/a"]


def test_a_journal_of_another_base_is_ignored(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    write_base(store, {"ns/a": obj("a", "1")})
    store.append(changes={"Product||": {"ns/a": None}}, cursors={}, pending={}, written_at=1.0)
    old_journal = store.journal_path.read_bytes()
    write_base(store, {"ns/a": obj("a", "5")}, cursor="5")
    store.journal_path.write_bytes(old_journal)  # crash between the base's and journal's rename
    loaded = CheckpointStore(tmp_path).load()
    assert loaded.cursors == {"Product||": "5"} and "ns/a" in loaded.objects["Product||"]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda b: b[: len(b) // 2], Discard.TRUNCATED),  # cut mid-record
        (lambda b: b[: b.rfind(b"\n", 0, len(b) - 1) + 1], Discard.TRUNCATED),  # whole records lost
        (lambda b: b[:20] + bytes([b[20] ^ 1]) + b[21:], Discard.CHECKSUM),
        (lambda b: b"garbage\n" + b, Discard.CORRUPT),
        (lambda b: b"", Discard.TRUNCATED),
    ],
    ids=["torn", "records-lost", "flipped-bit", "garbage", "empty"],
)
def test_damaged_bases_are_refused_with_their_reason(tmp_path: Path, damage, reason) -> None:
    store = CheckpointStore(tmp_path)
    write_base(store, {"ns/a": obj("a", "1")})
    store.base_path.write_bytes(damage(store.base_path.read_bytes()))
    with pytest.raises(BadCheckpoint) as err:
        CheckpointStore(tmp_path).load()
    assert err.value.reason is reason


def test_an_unknown_version_is_refused(tmp_path: Path) -> None:
    header = {"type": "header", "format": "controller-manager-checkpoint", "version": VERSION + 1}
    (tmp_path / "base.ckpt").write_bytes(encode(header) + encode({"type": "end", "records": 1}))
    with pytest.raises(BadCheckpoint) as err:
        CheckpointStore(tmp_path).load()
    assert err.value.reason is Discard.VERSION


def test_missing_and_set_aside(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "none")
    with pytest.raises(BadCheckpoint) as err:
        store.load()
    assert err.value.reason is Discard.MISSING
    store = CheckpointStore(tmp_path)
    write_base(store, {})
    moved = store.set_aside(now=0.0)
    assert sorted(p.name for p in moved) == [
        "base.ckpt.bad-19700101T000000Z",
        "journal.ckpt.bad-19700101T000000Z",
    ]
    with pytest.raises(BadCheckpoint):
        store.load()


def test_append_needs_a_base_from_this_store(tmp_path: Path) -> None:
    write_base(CheckpointStore(tmp_path), {})
    with pytest.raises(RuntimeError):
        CheckpointStore(tmp_path).append(changes={}, cursors={}, pending={}, written_at=0.0)


def test_a_failing_write_raises_and_keeps_the_old_checkpoint(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    write_base(store, {"ns/a": obj("a", "1")})
    (tmp_path / "base.ckpt.tmp").mkdir()  # the temp file cannot be created (even as root)
    with pytest.raises(OSError):
        write_base(store, {"ns/b": obj("b", "2")})
    assert list(CheckpointStore(tmp_path).load().objects["Product||"]) == ["ns/a"]
