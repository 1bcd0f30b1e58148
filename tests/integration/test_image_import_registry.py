# -*- coding: utf-8 -*-
"""image_import into a real registry (Debian's docker-registry on 127.0.0.1), through ansible.

Needs no cluster. Archives are written here from layers built here (and from the locally
bootstrapped Debian rootfs when present), in both forms and every compression.
"""

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "images" / "registry"))

import imagetools as it  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / "build" / "collections"
FORMS = [(fmt, comp) for fmt in ("docker", "oci") for comp in ("none", "gzip", "bzip2", "zstd")]

pytestmark = pytest.mark.skipif(not it.LocalRegistry.available(),
                                reason="needs Debian's docker-registry (apt-get install docker-registry)")


def run_import(args, check=False, diff=False):
    return it.run_module(COLLECTIONS, "aistack.platform.image_import", args, check=check, diff=diff)


@pytest.fixture
def registry(tmp_path):
    reg = it.LocalRegistry(str(tmp_path / "registry")).start()
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def layer_dir(tmp_path_factory):
    """Two layers: a slice of the locally bootstrapped Debian rootfs when present, and a small app layer."""
    work = tmp_path_factory.mktemp("layers")
    base_rootfs = Path(os.environ.get("AISTACK_CACHE", str(Path.home() / ".cache" / "aistack"))) \
        / "base-trixie" / "rootfs.tar"
    files = {}
    if base_rootfs.exists():
        with tarfile.open(str(base_rootfs)) as tar:
            for info in tar:
                if info.isreg() and info.name.startswith("./usr/bin/") and len(files) < 40:
                    files[info.name[2:]] = tar.extractfile(info).read()
    if not files:
        files = {"usr/bin/tool%d" % i: os.urandom(50000) for i in range(20)}
    base = it.Layer.from_bytes(it.tar_bytes(files), str(work))
    app = it.Layer.from_bytes(it.tar_bytes({"app/run.sh": b"#!/bin/sh\necho hello from aistack\n"}), str(work))
    return work, [base, app]


def make_archive(dest, fmt, comp, ref, layer_dir):
    work, layers = layer_dir
    path = str(dest / ("%s-%s%s" % (fmt, comp, it.SUFFIX[comp])))
    if fmt == "docker":
        it.write_docker_archive(path, [ref], layers, comp)
    else:
        gz = [it.gzip_layer(l, str(work)) for l in layers]
        it.write_oci_archive(path, ref, gz, comp, diff_layers=layers,
                             layer_media_type="application/vnd.oci.image.layer.v1.tar+gzip")
    return path


@pytest.mark.parametrize("fmt,comp", FORMS)
def test_check_import_check_import(tmp_path, registry, layer_dir, fmt, comp):
    src = make_archive(tmp_path, fmt, comp, "ghcr.io/aistack/demo:%s-%s" % (fmt, comp), layer_dir)
    args = dict(src=src, target="registry", registry=registry.address, registry_project="aistack")
    want_ref = "%s/aistack/aistack/demo:%s-%s" % (registry.address, fmt, comp)

    first = run_import(args, check=True)
    assert first.get("failed") is not True, first
    assert first["changed"] is True
    assert [(i["reference"], i["action"]) for i in first["images"]] == [(want_ref, "imported")]
    assert registry.all_tags() == [] and registry.blob_files() == []  # check mode wrote nothing

    second = run_import(args)
    assert second["changed"] is True, second
    image = second["images"][0]
    assert image["action"] == "imported" and image["blobs_written"] == 3
    assert registry.all_tags() == ["aistack/aistack/demo:%s-%s" % (fmt, comp)]
    blobs = registry.blob_files()
    assert len(blobs) == 4  # config, two layers, manifest

    third = run_import(args, check=True)
    assert third["changed"] is False and third["images"][0]["action"] == "skipped"

    mark = len(registry.log_text())
    fourth = run_import(args)
    assert fourth["changed"] is False
    assert fourth["images"][0]["action"] == "skipped" and fourth["images"][0]["digest"] == image["digest"]
    assert registry.write_requests(mark) == []  # the repeated import wrote nothing at all
    assert registry.blob_files() == blobs

    # a third-party client reads back the image and verifies every blob digest
    out = tmp_path / "copy"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", "docker://" + want_ref, "dir:%s" % out],
                   check=True, capture_output=True, timeout=300)
    assert "sha256:" + it.sha256_file(str(out / "manifest.json")) == image["digest"]


def test_directory_shared_blobs_and_flatten(tmp_path, registry, layer_dir):
    d = tmp_path / "bundle"
    d.mkdir()
    make_archive(d, "docker", "zstd", "docker.io/library/demo:1", layer_dir)
    make_archive(d, "oci", "gzip", "ghcr.io/team/tool:2", layer_dir)
    args = dict(src=str(d), target="registry", registry=registry.address, registry_project="proj", flatten=True)
    res = run_import(args, diff=True)
    assert res["changed"] is True
    assert res["diff"]["before"] == "".join("%s (absent)\n" % i["reference"] for i in res["images"])
    assert res["diff"]["after"] == "".join("%s %s\n" % (i["reference"], i["digest"]) for i in res["images"])
    assert sorted(i["reference"] for i in res["images"]) == [
        "%s/proj/demo:1" % registry.address, "%s/proj/tool:2" % registry.address]
    assert registry.all_tags() == ["proj/demo:1", "proj/tool:2"]
    assert run_import(args)["changed"] is False


def _bad_inputs(tmp_path, layer_dir):
    work, layers = layer_dir
    cases = {}
    good = make_archive(tmp_path, "docker", "none", "bad/img:1", layer_dir)
    # truncated (gzip)
    trunc = str(tmp_path / "truncated.tar.gz")
    it.write_docker_archive(trunc, ["bad/trunc:1"], layers, "gzip")
    with open(trunc, "r+b") as handle:
        handle.truncate(os.path.getsize(trunc) // 2)
    cases["truncated"] = (trunc, "truncated")
    # corrupt: same size, one byte flipped inside a layer (found only while streaming)
    flip = str(tmp_path / "flipped.tar")
    shutil.copy(good, flip)
    with tarfile.open(flip) as tar:
        member = [m for m in tar.getmembers() if m.name.endswith("layer.tar")][0]
    with open(flip, "r+b") as handle:
        handle.seek(member.offset_data + 700)
        byte = handle.read(1)
        handle.seek(member.offset_data + 700)
        handle.write(bytes([byte[0] ^ 0xFF]))
    cases["corrupt"] = (flip, "corrupt")
    # unknown format
    unknown = tmp_path / "unknown.tar"
    unknown.write_bytes(b"GIF89a" + os.urandom(4000))
    cases["unknown"] = (str(unknown), "unknown format")
    # manifest naming a missing blob
    missing = str(tmp_path / "missing.tar")
    it.write_oci_archive(missing, "bad/missing:1", layers, skip=("blobs/sha256/%s" % layers[0].digest,))
    cases["missing"] = (missing, "missing from the archive")
    # wrong checksum against the bundle's SHA256SUMS
    sums_dir = tmp_path / "bundle"
    sums_dir.mkdir()
    shutil.copy(good, str(sums_dir / "img.tar"))
    (sums_dir / "SHA256SUMS").write_text("%s  img.tar\n" % ("1" * 64))
    cases["checksum"] = (str(sums_dir / "img.tar"), "wrong checksum")
    return cases


@pytest.mark.parametrize("case", ["truncated", "corrupt", "unknown", "missing", "checksum"])
def test_bad_input_leaves_no_tag(tmp_path, registry, layer_dir, case):
    src, problem = _bad_inputs(tmp_path, layer_dir)[case]
    args = dict(src=src, target="registry", registry=registry.address)
    if case == "checksum":
        args["checksums"] = str(Path(src).parent / "SHA256SUMS")
    before = registry.all_tags()
    res = run_import(args)
    assert res.get("failed") is True, res
    assert os.path.basename(src) in res["msg"] and problem in res["msg"], res["msg"]
    assert registry.all_tags() == before == []
    # a directory with one good and one bad archive: nothing at all is tagged
    if case in ("corrupt",):
        d = tmp_path / "mixed"
        d.mkdir()
        make_archive(d, "oci", "none", "good/one:1", layer_dir)
        shutil.copy(src, str(d / "z-bad.tar"))
        res = run_import(dict(args, src=str(d)))
        assert res.get("failed") is True and "z-bad.tar" in res["msg"]
        assert registry.all_tags() == []


def test_bad_options(tmp_path, registry, layer_dir):
    src = make_archive(tmp_path, "docker", "none", "opt/img:1", layer_dir)
    res = run_import(dict(src=src, target="registry"))
    assert res.get("failed") is True and "registry" in res["msg"] and "Fix:" in res["msg"]
    res = run_import(dict(src=src, target="registry", registry="127.0.0.1:9"))
    assert res.get("failed") is True and "cannot reach registry" in res["msg"]
    res = run_import(dict(src=str(tmp_path / "nope.tar"), target="registry", registry=registry.address))
    assert res.get("failed") is True and "does not exist" in res["msg"]


def _docker_image():
    """A locally built image in the Docker engine (tests/cluster/cluster.sh base-image), or None."""
    if shutil.which("docker") is None:
        return None
    for ref in ("aistack.local/debian:trixie", "aistack.local/demohttp:1.0.0"):
        if subprocess.run(["docker", "image", "inspect", ref], capture_output=True, check=False).returncode == 0:
            return ref
    return None


@pytest.mark.parametrize("comp", ["none", "zstd"])
def test_real_docker_save(tmp_path, registry, comp):
    """`docker save` output of a locally built image, as is and zstd-compressed."""
    ref = _docker_image()
    if ref is None:
        pytest.skip("no Docker engine with a locally built image (tests/cluster/cluster.sh docker base-image)")
    path = tmp_path / "saved.tar"
    subprocess.run(["docker", "save", "-o", str(path), ref], check=True, timeout=600)
    if comp == "zstd":
        subprocess.run(["zstd", "-q", "--rm", "-T0", str(path), "-o", str(path) + ".zst"], check=True)
        path = Path(str(path) + ".zst")
    args = dict(src=str(path), target="registry", registry=registry.address, registry_project="local")
    res = run_import(args)
    assert res["changed"] is True, res
    mark = len(registry.log_text())
    assert run_import(args)["changed"] is False
    assert registry.write_requests(mark) == []
    want = "%s/local/%s" % (registry.address, ref.split("/", 1)[1])
    out = tmp_path / "copy"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", "docker://" + want, "dir:%s" % out],
                   check=True, capture_output=True, timeout=600)
    assert "sha256:" + it.sha256_file(str(out / "manifest.json")) == res["images"][0]["digest"]
