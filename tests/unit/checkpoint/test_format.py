"""The record format: checksummed JSON lines; a torn last line is told from corruption."""

from __future__ import annotations

import pytest

from controller_manager.checkpoint.format import BadCheckpoint, Discard, decode_lines, encode


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
