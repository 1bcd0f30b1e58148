# -*- coding: utf-8 -*-
"""image_archive: reference rules, format detection, index and stream passes over small archives made here."""

import gzip
import hashlib
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "images", "registry"))

import imagetools as it  # noqa: E402

from ansible_collections.aistack.platform.plugins.module_utils.images import archive as ia  # noqa: E402
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError  # noqa: E402
from ansible_collections.aistack.platform.plugins.module_utils.images import importer as imp  # noqa: E402

COMPRESSIONS = ["none", "gzip", "bzip2", "zstd"]


@pytest.mark.parametrize("ref,expected", [
    ("postgres:17", ("docker.io", "library/postgres", "17", None)),
    ("postgres", ("docker.io", "library/postgres", "latest", None)),
    ("ghcr.io/hkuds/lightrag:1.4.9", ("ghcr.io", "hkuds/lightrag", "1.4.9", None)),
    ("localhost:30500/team/app:1", ("localhost:30500", "team/app", "1", None)),
    ("localhost/app:1", ("localhost", "app", "1", None)),
    ("index.docker.io/library/redis:7", ("docker.io", "library/redis", "7", None)),
    ("a/b@sha256:" + "a" * 64, ("docker.io", "a/b", None, "sha256:" + "a" * 64)),
])
def test_split_reference(ref, expected):
    assert ia.split_reference(ref) == expected


@pytest.mark.parametrize("ref", ["", "UPPER/case:1", "a:b:c/d", "x@sha256:12", " a:1", "app:-bad"])
def test_split_reference_rejects(ref):
    with pytest.raises(ValueError):
        ia.split_reference(ref)


def test_target_reference_rules():
    assert ia.normalize_reference("postgres:17") == "docker.io/library/postgres:17"
    assert ia.target_reference("postgres:17", "localhost:30500") == "localhost:30500/library/postgres:17"
    assert ia.target_reference("ghcr.io/hkuds/lightrag:1.4", "localhost:30500", "aistack") == \
        "localhost:30500/aistack/hkuds/lightrag:1.4"
    assert ia.target_reference("ghcr.io/hkuds/lightrag:1.4", "nexus:8443", "/proj/", flatten=True) == \
        "nexus:8443/proj/lightrag:1.4"
    assert ia.target_reference("ghcr.io/x/y@sha256:" + "b" * 64, "r:1") == "r:1/x/y@sha256:" + "b" * 64


def test_detect_compression():
    assert ia.detect_compression(b"\x1f\x8b\x08") == "gzip"
    assert ia.detect_compression(b"BZh91AY") == "bzip2"
    assert ia.detect_compression(b"\x28\xb5\x2f\xfd\x00") == "zstd"
    assert ia.detect_compression(b"\xfd7zXZ\x00") == "xz"
    assert ia.detect_compression(it.tar_bytes({"a": b"1"})[:512]) == "none"
    assert ia.detect_compression(b"PK\x03\x04" + b"\x00" * 600) is None


def test_parse_checksums():
    text = "# bundle\n%s  images/a.tar\n%s *b.tar.zst\n" % ("a" * 64, "b" * 64)
    assert ia.parse_checksums(text) == {"images/a.tar": "a" * 64, "b.tar.zst": "b" * 64}
    with pytest.raises(AistackError, match="checksums"):
        ia.parse_checksums("nonsense line")


@pytest.fixture
def layers(tmp_path):
    return [it.Layer.from_bytes(it.tar_bytes({"bin/hello": b"hello %d\n" % i * 100}), str(tmp_path))
            for i in range(2)]


def _load(path, **kw):
    index = ia.index_archive(str(path), **kw)
    return index, ia.parse_index(index, platform="linux/amd64",
                                 hash_member=lambda n: ia.hash_plain_member(index, n))


def _stream_all(index, images):
    got = {}

    def consume(name, reader):
        blob = [b for i in images for b in i.blobs if b.member == name][0]
        verifier = imp.VerifyingReader(reader, blob, index.path)
        data = b""
        while True:
            block = verifier.read(7)
            if not block:
                break
            data += block
        got[name] = data
    ia.stream_members(index, [b.member for i in images for b in i.blobs], consume)
    return got


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_docker_archive_every_compression(tmp_path, layers, compression):
    path = tmp_path / ("img" + it.SUFFIX[compression])
    info = it.write_docker_archive(str(path), ["team/app:1.0", "team/app:stable"], layers, compression)
    index, images = _load(path)
    assert index.compression == compression
    assert [i.ref for i in images] == ["team/app:1.0", "team/app:stable"]
    image = images[0]
    manifest = json.loads(image.manifest)
    assert manifest["mediaType"] == ia.MT_OCI_MANIFEST
    assert manifest["config"]["digest"] == info["config_digest"]
    assert [l["digest"] for l in manifest["layers"]] == ["sha256:" + l.digest for l in layers]
    assert [l["mediaType"] for l in manifest["layers"]] == [ia.MT_OCI_LAYER] * 2
    assert image.digest == images[1].digest  # two tags, one image
    # deterministic: indexing again gives the same manifest digest
    assert _load(path)[1][0].digest == image.digest
    data = _stream_all(index, [image])
    assert data[info["layer_names"][0]] == open(layers[0].path, "rb").read()


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_oci_archive_every_compression(tmp_path, layers, compression):
    gz = [it.gzip_layer(l, str(tmp_path)) for l in layers]
    path = tmp_path / ("oci" + it.SUFFIX[compression])
    info = it.write_oci_archive(str(path), "ghcr.io/team/app:2.0", gz, compression, diff_layers=layers,
                                layer_media_type=ia.MT_OCI_LAYER + "+gzip")
    index, images = _load(path)
    assert len(images) == 1
    image = images[0]
    assert image.ref == "ghcr.io/team/app:2.0"
    assert image.digest == info["manifest_digest"]  # the manifest is kept byte for byte
    assert [b.digest for b in image.blobs[1:]] == ["sha256:" + l.digest for l in gz]
    got = _stream_all(index, images)
    assert len(got) == 3


def test_docker_archive_with_gzip_layers_hashed(tmp_path, layers):
    gz = [it.gzip_layer(l, str(tmp_path)) for l in layers]
    config = it.image_config(layers)
    for compression in ("none", "gzip"):
        path = tmp_path / ("gzl" + it.SUFFIX[compression])
        it.write_docker_archive(str(path), ["app:1"], gz, compression, config=config)
        _index, images = _load(path)
        manifest = json.loads(images[0].manifest)
        assert [l["digest"] for l in manifest["layers"]] == ["sha256:" + l.digest for l in gz]
        assert {l["mediaType"] for l in manifest["layers"]} == {ia.MT_OCI_LAYER + "+gzip"}


def test_oci_tag_only_needs_name(tmp_path, layers):
    path = tmp_path / "tagonly.tar"
    it.write_oci_archive(str(path), "x/y:3.1", layers, annotate="tag")
    index = ia.index_archive(str(path))
    with pytest.raises(AistackError, match="no image name"):
        ia.parse_index(index)
    images = ia.parse_index(index, default_name="docker.io/team/tool")
    assert images[0].ref == "docker.io/team/tool:3.1"


def test_missing_blob_named_by_manifest(tmp_path, layers):
    path = tmp_path / "missing.tar"
    it.write_oci_archive(str(path), "a/b:1", layers, skip=("blobs/sha256/%s" % layers[1].digest,))
    with pytest.raises(AistackError) as err:
        _load(path)
    assert "missing.tar" in str(err.value) and layers[1].digest in str(err.value)
    assert "missing from the archive" in str(err.value)


def test_docker_archive_missing_layer(tmp_path, layers):
    path = tmp_path / "dmissing.tar.gz"
    info = it.write_docker_archive(str(path), ["a:1"], layers, "gzip", skip=())
    it.write_docker_archive(str(path), ["a:1"], layers, "gzip", skip=(info["layer_names"][0],))
    with pytest.raises(AistackError, match="dmissing.tar.gz.*layer.tar.*missing"):
        _load(path)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_truncated_archive(tmp_path, layers, compression):
    path = tmp_path / ("cut" + it.SUFFIX[compression])
    it.write_docker_archive(str(path), ["a:1"], layers, compression)
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:
        handle.truncate(size * 2 // 3)
    with pytest.raises(AistackError) as err:
        _load(path)
    assert "cut" + it.SUFFIX[compression] in str(err.value)
    assert err.value.field == "src"


def test_unknown_format(tmp_path):
    path = tmp_path / "notes.tar"
    path.write_bytes(b"this is not an archive at all" * 40)
    with pytest.raises(AistackError, match="notes.tar.*unknown format"):
        _load(path)
    path2 = tmp_path / "plain.tar"
    path2.write_bytes(it.tar_bytes({"hello.txt": b"hi"}))
    with pytest.raises(AistackError, match="plain.tar.*neither manifest.json"):
        _load(path2)
    path3 = tmp_path / "x.tar.xz"
    path3.write_bytes(b"\xfd7zXZ\x00" + b"\x00" * 100)
    with pytest.raises(AistackError, match="xz"):
        _load(path3)


def test_corrupt_layer_detected_while_streaming(tmp_path, layers):
    """Same size, different bytes: the index pass cannot tell, the stream pass must, before the last block."""
    path = tmp_path / "flip.tar"
    info = it.write_docker_archive(str(path), ["a:1"], layers, "none")
    index, images = _load(path)
    member = index.members[info["layer_names"][0]]
    with open(path, "r+b") as handle:
        handle.seek(member.offset + 600)
        byte = handle.read(1)
        handle.seek(member.offset + 600)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(AistackError, match="flip.tar.*layer.tar.*corrupt"):
        _stream_all(index, images)


def test_corrupt_compressed_stream(tmp_path, layers):
    path = tmp_path / "bad.tar.gz"
    it.write_docker_archive(str(path), ["a:1"], layers, "gzip")
    data = bytearray(path.read_bytes())
    for pos in range(40, len(data) - 40, 97):
        data[pos] ^= 0x55
    path.write_bytes(bytes(data))
    with pytest.raises(AistackError, match="bad.tar.gz.*corrupt"):
        _load(path)


def test_raw_digest_and_directory(tmp_path, layers):
    d = tmp_path / "images"
    d.mkdir()
    it.write_docker_archive(str(d / "a.tar"), ["a:1"], layers, "none")
    it.write_docker_archive(str(d / "b.tar.zst"), ["b:1"], layers, "zstd")
    (d / "README").write_text("not an archive")
    found = ia.find_archives(str(d))
    assert [os.path.basename(f) for f in found] == ["a.tar", "b.tar.zst"]
    for path in found:
        index = ia.index_archive(path, hash_raw=True)
        assert index.raw_digest == "sha256:" + hashlib.sha256(open(path, "rb").read()).hexdigest()
    with pytest.raises(AistackError, match="no image archive"):
        ia.find_archives(str(tmp_path / "images" / ".."))  # tmp_path itself holds only a directory


def test_load_sources_checksums(tmp_path, layers):
    d = tmp_path / "bundle"
    (d / "images").mkdir(parents=True)
    a = d / "images" / "a.tar.gz"
    it.write_docker_archive(str(a), ["a:1"], layers, "gzip")
    sums = d / "SHA256SUMS"
    sums.write_text("%s  images/a.tar.gz\n" % it.sha256_file(str(a)))
    loaded = imp.load_sources(str(d / "images"), checksums=str(sums))
    assert loaded[0][1][0].ref == "a:1"
    sums.write_text("%s  images/a.tar.gz\n" % ("0" * 64))
    with pytest.raises(AistackError) as err:
        imp.load_sources(str(d / "images"), checksums=str(sums))
    assert "a.tar.gz" in str(err.value) and "wrong checksum" in str(err.value)
    sums.write_text("")
    with pytest.raises(AistackError, match="not listed"):
        imp.load_sources(str(d / "images"), checksums=str(sums))


def test_index_keeps_memory_small(tmp_path):
    """Layers are not kept in memory by the index pass: only their first bytes."""
    big = it.Layer.from_bytes(it.tar_bytes({"blob": os.urandom(6 << 20)}), str(tmp_path))
    path = tmp_path / "big.tar.gz"
    info = it.write_docker_archive(str(path), ["big:1"], [big], "gzip")
    index = ia.index_archive(str(path))
    member = index.members[info["layer_names"][0]]
    assert member.content is None and len(member.magic) <= 16


def test_assign_targets_conflict(tmp_path, layers):
    a = tmp_path / "a.tar"
    b = tmp_path / "b.tar"
    it.write_docker_archive(str(a), ["app:1"], layers[:1])
    it.write_docker_archive(str(b), ["app:1"], layers[1:])
    loaded = imp.load_sources(str(tmp_path))
    with pytest.raises(AistackError, match="different content"):
        imp.assign_targets(loaded, ia.normalize_reference)


def test_gzip_helper_roundtrip(tmp_path, layers):
    gz = it.gzip_layer(layers[0], str(tmp_path))
    assert gzip.decompress(open(gz.path, "rb").read()) == open(layers[0].path, "rb").read()
