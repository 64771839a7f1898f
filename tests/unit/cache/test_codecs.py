"""Choosing the JSON codec: orjson when installed, the stdlib on demand (issue 16)."""

from __future__ import annotations

import pytest

from controller_manager.cache import codec as codecs
from controller_manager.cache.codec import (
    ENV_VAR,
    CodecName,
    StdlibCodec,
    codec_named,
    default_codec,
    orjson_available,
)


def test_the_environment_variable_picks_the_codec(monkeypatch, json_codec):
    monkeypatch.setenv(ENV_VAR, json_codec.value)
    assert default_codec().name is json_codec


def test_unset_means_orjson_when_installed(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    expected = CodecName.ORJSON if orjson_available() else CodecName.STDLIB
    assert default_codec().name is expected


def test_without_orjson_the_stdlib_is_the_default_and_orjson_a_clear_error(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(codecs, "_orjson", None)
    assert isinstance(default_codec(), StdlibCodec)
    with pytest.raises(ValueError, match="orjson is not installed"):
        codec_named("orjson")


def test_an_unknown_codec_name_is_refused(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "yaml")
    with pytest.raises(ValueError, match="unknown JSON codec 'yaml'.*orjson, stdlib"):
        default_codec()


@pytest.mark.skipif(not orjson_available(), reason="orjson (the 'fast' extra) is not installed")
def test_both_codecs_write_the_same_bytes():
    doc = {"a": [1, 2.5, None, True], "b": {"é": "ü", "s": "x\ny"}, "c": ""}
    assert codec_named("orjson").dumps(doc) == codec_named("stdlib").dumps(doc)
    for writer in ("orjson", "stdlib"):
        for reader in ("orjson", "stdlib"):
            assert codec_named(reader).loads(codec_named(writer).dumps(doc)) == doc
