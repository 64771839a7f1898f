"""The record format: checksummed JSON lines; a torn last line is told from corruption."""

from __future__ import annotations

import json

import pytest

from controller_manager.checkpoint.format import (
    BadCheckpoint,
    Discard,
    decode_lines,
    encode,
    objects_record,
)


def test_records_round_trip() -> None:
    records = [{"type": "a", "n": 1}, {"type": "b", "text": 'é \n quoted " '}]
    data = b"".join(encode(r) for r in records)
    assert data.count(b"\n") == 2  # one line per record, newlines escaped inside
    assert decode_lines(data) == (records, False)


def test_an_unfinished_last_line_is_a_torn_tail_not_an_error() -> None:
    data = encode({"type": "a"}) + encode({"type": "b"})[:-5]
    assert decode_lines(data) == ([{"type": "a"}], True)


def test_a_last_line_failing_its_checksum_is_a_torn_tail() -> None:
    good, last = encode({"type": "a"}), bytearray(encode({"type": "b", "x": 1}))
    last[-3] ^= 0x01  # the page reached the disk half-written
    assert decode_lines(good + bytes(last)) == ([{"type": "a"}], True)


def test_a_bad_checksum_before_the_last_line_is_corruption() -> None:
    first = bytearray(encode({"type": "a", "x": 1}))
    first[-3] ^= 0x01
    with pytest.raises(BadCheckpoint) as err:
        decode_lines(bytes(first) + encode({"type": "b"}))
    assert err.value.reason is Discard.CHECKSUM


@pytest.mark.parametrize(
    "line",
    [b"not a checksum line\n", b"zzzzzzzz {}\n", b"0badf00d\n"],
)
def test_lines_without_a_valid_frame_are_corrupt(line: bytes) -> None:
    with pytest.raises(BadCheckpoint) as err:
        decode_lines(line + encode({"type": "b"}))
    assert err.value.reason is Discard.CORRUPT


def test_an_objects_record_from_json_bytes_reads_as_the_objects_it_splices() -> None:
    """Bases splice the cache's JSON bytes: the same record encode() writes, UTF-8 kept."""
    objs = {
        "ns/a": {"metadata": {"name": "a"}, "spec": {"title": 'caf\u00e9 \u2028 "q" \\n'}},
        'ns/"b"': {"metadata": {"name": "b"}, "spec": {}},
    }
    items = [
        (k, json.dumps(o, ensure_ascii=False, separators=(",", ":")).encode())
        for k, o in objs.items()
    ]
    line = objects_record("Product|ns|", items)
    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    records, torn = decode_lines(line)
    assert not torn
    assert records == [{"type": "objects", "informer": "Product|ns|", "items": objs}]
    ascii_items = [(k, json.dumps(o, separators=(",", ":")).encode()) for k, o in objs.items()]
    assert objects_record("Product|ns|", ascii_items) == encode(records[0])
