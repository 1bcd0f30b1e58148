# -*- coding: utf-8 -*-
"""image_importer pure parts: workload matching, restart patch, verifying reader; the registry flow against
a fake client (the real one is covered by tests/integration/test_image_import_registry.py)."""

import datetime
import json
import hashlib
import io
import tarfile

import pytest

from ansible_collections.aistack.platform.plugins.module_utils.images import archive as ia
from ansible_collections.aistack.platform.plugins.module_utils.images import importer as imp
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError


def _workload(kind, name, images, init=()):
    return {"kind": kind, "metadata": {"name": name, "namespace": "ns"},
            "spec": {"template": {"spec": {"containers": [{"image": i} for i in images],
                                           "initContainers": [{"image": i} for i in init]}}}}


def test_workloads_using_normalizes_names():
    objs = [_workload("Deployment", "a", ["postgres:17"]),
            _workload("StatefulSet", "b", ["docker.io/library/redis:7"], init=["busybox:1"]),
            _workload("Deployment", "c", ["localhost:30500/aistack/library/postgres:17"]),
            _workload("DaemonSet", "d", ["not a valid ref"])]
    assert imp.workloads_using(objs, ["docker.io/library/postgres:17"]) == [("Deployment", "ns", "a")]
    assert imp.workloads_using(objs, ["docker.io/library/busybox:1"]) == [("StatefulSet", "ns", "b")]
    assert imp.workloads_using(objs, ["localhost:30500/aistack/library/postgres:17"]) == [("Deployment", "ns", "c")]
    assert imp.workloads_using(objs, []) == []


def test_restart_patch():
    now = datetime.datetime(2026, 11, 23, 12, 0, 0, tzinfo=datetime.timezone.utc)
    assert imp.restart_patch(now) == {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2026-11-23T12:00:00Z"}}}}}


def test_verifying_reader():
    data = b"a" * 1000
    blob = ia.BlobRef("sha256:" + hashlib.sha256(data).hexdigest(), len(data), ia.MT_OCI_LAYER, member="l")
    reader = imp.VerifyingReader(io.BytesIO(data), blob, "x.tar")
    assert b"".join(iter(lambda: reader.read(300), b"")) == data
    bad = ia.BlobRef("sha256:" + "0" * 64, len(data), ia.MT_OCI_LAYER, member="l")
    reader = imp.VerifyingReader(io.BytesIO(data), bad, "x.tar")
    got = reader.read(600)
    assert len(got) == 600
    with pytest.raises(AistackError, match="x.tar.*corrupt"):
        reader.read(600)  # the last block is never handed out
    short = imp.VerifyingReader(io.BytesIO(data[:10]), blob, "y.tar")
    short.read(10)
    with pytest.raises(AistackError, match="y.tar.*truncated"):
        short.read(10)


class FakeRegistry(object):
    registry = "fake:5000"

    def __init__(self):
        self.blobs = {}
        self.manifests = {}
        self.calls = []

    def ping(self):
        pass

    def manifest_digest(self, repo, ref):
        return self.manifests.get((repo, ref))

    def blob_exists(self, repo, digest):
        return (repo, digest) in self.blobs

    def push_blob(self, repo, digest, size, reader):
        data = b"".join(iter(lambda: reader.read(7), b""))
        assert len(data) == size
        self.blobs[(repo, digest)] = data
        self.calls.append(("push", repo, digest))

    def mount_blob(self, repo, digest, source):
        self.blobs[(repo, digest)] = self.blobs[(source, digest)]
        self.calls.append(("mount", repo, digest))
        return True

    def put_manifest(self, repo, ref, media_type, data):
        digest = ia.sha256_digest(data)
        self.manifests[(repo, ref)] = digest
        self.calls.append(("manifest", repo, ref))
        return digest


def test_registry_flow_with_fake(tmp_path):
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "images", "registry"))
    import imagetools as it
    shared = it.Layer.from_bytes(it.tar_bytes({"s": b"shared" * 100}), str(tmp_path))
    own = it.Layer.from_bytes(it.tar_bytes({"o": b"own"}), str(tmp_path))
    it.write_docker_archive(str(tmp_path / "a.tar"), ["one/a:1"], [shared])
    it.write_docker_archive(str(tmp_path / "b.tar.gz"), ["two/b:1"], [shared, own], "gzip")
    loaded = imp.load_sources(str(tmp_path))
    fake = FakeRegistry()
    changed, results = imp.import_images(imp.RegistryTarget(fake, "fake:5000", "p"), loaded, check_mode=True)
    assert changed and fake.calls == [] and [r["action"] for r in results] == ["imported", "imported"]
    changed, results = imp.import_images(imp.RegistryTarget(fake, "fake:5000", "p"), loaded)
    assert changed
    kinds = [c[0] for c in fake.calls]
    assert kinds.index("manifest") > max(i for i, k in enumerate(kinds) if k in ("push", "mount"))
    assert ("mount", "p/two/b", "sha256:" + shared.digest) in fake.calls  # shared layer read once, mounted
    fake.calls = []
    changed, results = imp.import_images(imp.RegistryTarget(fake, "fake:5000", "p"), loaded)
    assert not changed and fake.calls == [] and {r["action"] for r in results} == {"skipped"}


def test_images_dir_idempotent_and_replaces(tmp_path):
    import os
    import sys
    import tarfile
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "images", "registry"))
    import imagetools as it
    layer = it.Layer.from_bytes(it.tar_bytes({"a": b"1" * 5000}), str(tmp_path))
    src = tmp_path / "src"
    src.mkdir()
    it.write_docker_archive(str(src / "a.tar.zst"), ["docker.io/team/app:1"], [layer], "zstd")
    out = tmp_path / "agent" / "images"
    loaded = imp.load_sources(str(src))
    changed, res = imp.import_images(imp.ImagesDirTarget(str(out)), loaded, check_mode=True)
    assert changed and not out.exists()
    changed, res = imp.import_images(imp.ImagesDirTarget(str(out)), loaded)
    files = sorted(os.listdir(str(out)))
    assert changed and files == [imp.images_dir_file("docker.io/team/app:1", res[0]["digest"])]
    with tarfile.open(str(out / files[0])) as tar:
        names = tar.getnames()
        index = json.loads(tar.extractfile("index.json").read())
    assert names[-1] == "index.json" and "blobs/sha256/" + layer.digest in names
    assert index["manifests"][0]["annotations"]["io.containerd.image.name"] == "docker.io/team/app:1"
    changed, res = imp.import_images(imp.ImagesDirTarget(str(out)), imp.load_sources(str(src)))
    assert not changed and res[0]["action"] == "skipped"
    # a new build of the same tag replaces the old file
    layer2 = it.Layer.from_bytes(it.tar_bytes({"a": b"2" * 5000}), str(tmp_path))
    it.write_docker_archive(str(src / "a.tar.zst"), ["docker.io/team/app:1"], [layer2], "zstd")
    changed, res = imp.import_images(imp.ImagesDirTarget(str(out)), imp.load_sources(str(src)))
    assert changed and sorted(os.listdir(str(out))) == [imp.images_dir_file("docker.io/team/app:1", res[0]["digest"])]
    # a corrupt source leaves no file behind
    it.write_docker_archive(str(src / "a.tar"), ["docker.io/team/bad:1"], [layer2])
    os.unlink(str(src / "a.tar.zst"))
    data = bytearray((src / "a.tar").read_bytes())
    with tarfile.open(str(src / "a.tar")) as tar:
        member = [m for m in tar.getmembers() if m.name.endswith("layer.tar")][0]
    data[member.offset_data + 100] ^= 0xFF
    (src / "a.tar").write_bytes(bytes(data))
    before = sorted(os.listdir(str(out)))
    with pytest.raises(AistackError, match="a.tar.*corrupt"):
        imp.import_images(imp.ImagesDirTarget(str(out)), imp.load_sources(str(src)))
    assert sorted(os.listdir(str(out))) == before


@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_registry_flow_streams_large_blobs_and_stops_on_a_corrupt_one(tmp_path, compression):
    """Layers of several blocks take BlobStream's read-ahead thread: the good archive arrives whole (positive
    control), one flipped byte in a layer fails the import before any manifest, naming the archive."""
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "images", "registry"))
    import imagetools as it
    from ansible_collections.aistack.platform.plugins.module_utils.images import blobstream
    big = it.Layer.from_bytes(it.tar_bytes({"big": os.urandom(blobstream.BLOCK * 5 // 2)}), str(tmp_path))
    assert big.size > 2 * blobstream.BLOCK
    good = tmp_path / "good"
    good.mkdir()
    it.write_docker_archive(str(good / ("a" + it.SUFFIX[compression])), ["one/a:1"], [big], compression)
    fake = FakeRegistry()
    changed, _results = imp.import_images(imp.RegistryTarget(fake, "fake:5000"), imp.load_sources(str(good)))
    assert changed and fake.blobs[("one/a", "sha256:" + big.digest)] == open(big.path, "rb").read()
    assert [c[0] for c in fake.calls][-1] == "manifest"

    bad = tmp_path / "bad"
    bad.mkdir()
    it.write_docker_archive(str(bad / "a.tar"), ["one/a:2"], [big])
    data = bytearray((bad / "a.tar").read_bytes())
    with tarfile.open(str(bad / "a.tar")) as tar:
        member = [m for m in tar.getmembers() if m.name.endswith("layer.tar")][0]
    data[member.offset_data + member.size - 1000] ^= 0xFF  # in the last block
    (bad / "a.tar").write_bytes(bytes(data))
    if compression != "none":
        raw = (bad / "a.tar").read_bytes()
        import zstandard
        (bad / ("a" + it.SUFFIX[compression])).write_bytes(zstandard.ZstdCompressor(level=1).compress(raw))
        os.unlink(str(bad / "a.tar"))
    fake = FakeRegistry()
    with pytest.raises(AistackError, match=r"a\.tar.*corrupt"):
        imp.import_images(imp.RegistryTarget(fake, "fake:5000"), imp.load_sources(str(bad)))
    assert not any(c[0] == "manifest" for c in fake.calls)
    assert ("one/a", "sha256:" + big.digest) not in fake.blobs
