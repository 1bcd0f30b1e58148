# -*- coding: utf-8 -*-
"""blobstream: each byte hashed once while it is handed out, the completing block withheld on a mismatch."""

import hashlib
import io
import os
import threading

import pytest

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.images import blobstream as bs

BLOCK = 4096


def _digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _drain(stream, size=BLOCK):
    got = []
    while True:
        block = stream.read(size)
        if not block:
            return b"".join(got)
        got.append(bytes(block))


class CountingReader(object):
    """A source that records the sizes it was asked for (the stream must ask for whole blocks)."""

    def __init__(self, data):
        self.raw = io.BytesIO(data)
        self.asked = []

    def read(self, size=-1):
        self.asked.append(size)
        return self.raw.read(size)


def test_digest_error_is_none_only_on_a_match():
    good = _digest(b"abc")
    assert bs.digest_error("a.tar", "l/layer.tar", good, good) is None
    err = bs.digest_error("a.tar", "l/layer.tar", good, _digest(b"abd"))
    assert isinstance(err, AistackError)
    assert "a.tar" in str(err) and "l/layer.tar" in str(err) and "corrupt" in str(err)
    assert good in str(err) and _digest(b"abd") in str(err)


def test_new_hash_follows_the_digest_algorithm():
    assert bs.new_hash("sha512:" + "0" * 128).name == "sha512"
    assert bs.hexdigest_of(bs.new_hash("sha256:" + "0" * 64)) == _digest(b"")
    with pytest.raises(AistackError, match="unsupported digest"):
        bs.new_hash("md5:abc")


@pytest.mark.parametrize("size", [0, 10, BLOCK, BLOCK + 1, 10 * BLOCK + 7])
def test_good_blob_streams_whole(size):
    data = os.urandom(size)
    source = CountingReader(data)
    with bs.BlobStream(source, size, _digest(data), "x.tar", block=BLOCK, depth=2) as stream:
        threaded = stream._thread is not None
        assert _drain(stream) == data
        assert stream.read(BLOCK) == b""
        assert stream.count == stream.sent == size
    assert threaded == (size > BLOCK)
    assert all(asked <= BLOCK for asked in source.asked)  # never more than a block at a time


def test_small_reads_and_whole_blocks():
    data = os.urandom(3 * BLOCK)
    with bs.BlobStream(io.BytesIO(data), len(data), _digest(data), "x.tar", block=BLOCK) as stream:
        assert len(stream.read(100)) == 100
        assert len(stream.read(BLOCK)) == BLOCK - 100  # never across a block boundary
        whole = stream.read(BLOCK)
        assert isinstance(whole, bytes) and len(whole) == BLOCK
        assert len(stream.read(-1)) == BLOCK
        assert stream.read(1) == b""


@pytest.mark.parametrize("size", [BLOCK - 1, 5 * BLOCK])
def test_corrupt_blob_never_hands_out_its_last_block(size):
    data = bytearray(os.urandom(size))
    expected = _digest(bytes(data))
    data[size // 2] ^= 0xFF  # one byte flipped: same size, other digest
    with bs.BlobStream(io.BytesIO(bytes(data)), size, expected, "x.tar", member="l/layer.tar",
                       block=BLOCK, depth=2) as stream:
        handed = 0
        with pytest.raises(AistackError, match=r"x\.tar.*l/layer\.tar.*corrupt"):
            while True:
                block = stream.read(BLOCK)
                if not block:
                    break
                handed += len(block)
        assert handed < size
        assert stream.read(BLOCK) == b""  # ended, no second error, no more data


def test_truncated_source():
    data = os.urandom(3 * BLOCK)
    with bs.BlobStream(io.BytesIO(data[:BLOCK + 5]), len(data), _digest(data), "y.tar", block=BLOCK) as stream:
        with pytest.raises(AistackError, match=r"y\.tar.*truncated.*after %d of %d" % (BLOCK + 5, 3 * BLOCK)):
            _drain(stream)


def test_source_error_is_raised_in_the_consumer():
    class Failing(object):
        def __init__(self):
            self.calls = 0

        def read(self, size):
            self.calls += 1
            if self.calls == 3:
                raise EOFError("unexpected end of data")
            return b"z" * size

    with bs.BlobStream(Failing(), 10 * BLOCK, _digest(b""), "z.tar", block=BLOCK) as stream:
        with pytest.raises(EOFError):
            _drain(stream)


def test_close_stops_the_helper_thread_of_an_abandoned_stream():
    data = os.urandom(50 * BLOCK)
    before = threading.active_count()
    stream = bs.BlobStream(io.BytesIO(data), len(data), _digest(data), "x.tar", block=BLOCK, depth=2)
    assert stream.read(BLOCK)
    stream.close()
    assert not stream._thread.is_alive()
    assert threading.active_count() == before
    assert stream.read(BLOCK) == b""
