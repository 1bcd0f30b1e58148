# -*- coding: utf-8 -*-
"""image_import into containerd: the test cluster's (when up), else a private containerd started here.

The pod tests need the cluster: an image that reached the node only through image_import runs,
and ``restart_workloads`` rolls the Deployment that was waiting for it.
"""

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import pytest

from conftest import targets_local_cluster

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "images" / "registry"))

import imagetools as it  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / "build" / "collections"
CLUSTER_SH = ROOT / "tests" / "cluster" / "cluster.sh"
BASE_ROOTFS = Path(os.environ.get("AISTACK_CACHE", str(Path.home() / ".cache" / "aistack"))) \
    / "base-trixie" / "rootfs.tar"

pytestmark = pytest.mark.skipif(shutil.which("ctr") is None or shutil.which("containerd") is None,
                                reason="needs containerd and ctr (apt-get install containerd)")


def cluster_up():
    if not targets_local_cluster():
        return False  # a foreign cluster: its containerd is not reachable from here
    return subprocess.run([str(CLUSTER_SH), "status"], capture_output=True, check=False).returncode == 0


@pytest.fixture(scope="module")
def private_containerd(tmp_path_factory):
    """A containerd of our own: nothing else writes to it, so its whole content set proves what we wrote."""
    private = it.PrivateContainerd(str(tmp_path_factory.mktemp("containerd"))).start()
    yield private.socket
    private.stop()


@pytest.fixture(scope="module", params=["private", "cluster"])
def containerd(request):
    """(socket, on_cluster): each test runs against a private containerd and the local cluster's."""
    if request.param == "private":
        return request.getfixturevalue("private_containerd"), False
    if not cluster_up():
        pytest.skip("the local cluster is not up (tests/cluster/cluster.sh up)")
    sock = subprocess.run([str(CLUSTER_SH), "containerd-socket"], capture_output=True, text=True,
                          check=True).stdout.strip()
    return sock, True


def ctr(sock, *args):
    return subprocess.run(["ctr", "-a", sock, "-n", "k8s.io"] + list(args), capture_output=True, text=True,
                          check=True).stdout


def images(sock):
    out = {}
    for line in ctr(sock, "images", "ls").splitlines()[1:]:
        cols = line.split()
        out[cols[0]] = cols[2]
    return out


def content(sock):
    return set(ctr(sock, "content", "ls", "-q").split())


def run_import(args, check=False):
    return it.run_module(COLLECTIONS, "aistack.platform.image_import", args, check=check)


@pytest.fixture
def cleanup():
    """Append (socket, image name) pairs; the images are removed after the test."""
    names = []
    yield names
    for sock, name in names:
        subprocess.run(["ctr", "-a", sock, "-n", "k8s.io", "images", "rm", name], capture_output=True, check=False)


@pytest.fixture(scope="module")
def layers(tmp_path_factory):
    work = tmp_path_factory.mktemp("ctd-layers")
    files = {"opt/aistack/id": uuid.uuid4().hex.encode(), "opt/aistack/data": os.urandom(200000)}
    return work, [it.Layer.from_bytes(it.tar_bytes(files), str(work)),
                  it.Layer.from_bytes(it.tar_bytes({"opt/aistack/app": os.urandom(100000)}), str(work))]


@pytest.mark.parametrize("fmt,comp", [("docker", "none"), ("docker", "zstd"), ("oci", "gzip"), ("oci", "bzip2")])
def test_check_import_check_import(tmp_path, containerd, layers, cleanup, fmt, comp):
    sock = containerd[0]
    work, lys = layers
    ref = "aistack.local/import-test-%s:%s-%s" % (uuid.uuid4().hex[:8], fmt, comp)
    cleanup.append((sock, ref))
    src = str(tmp_path / ("img" + it.SUFFIX[comp]))
    if fmt == "docker":
        it.write_docker_archive(src, [ref], lys, comp)
    else:
        it.write_oci_archive(src, ref, lys, comp)
    args = dict(src=src, target="containerd", containerd_socket=sock)

    before = images(sock)
    first = run_import(args, check=True)
    assert first["changed"] is True, first
    assert [(i["reference"], i["action"]) for i in first["images"]] == [(ref, "imported")]
    assert images(sock) == before

    second = run_import(args)
    assert second["changed"] is True, second
    digest = second["images"][0]["digest"]
    assert images(sock)[ref] == digest

    third = run_import(args, check=True)
    assert third["changed"] is False and third["images"][0]["action"] == "skipped"

    blobs = content(sock)
    fourth = run_import(args)
    assert fourth["changed"] is False and fourth["images"][0]["blobs_written"] == 0
    assert images(sock)[ref] == digest
    new = content(sock) - blobs
    if containerd[1]:
        # the cluster's store is shared with whatever else runs: none of this image's blobs is new
        ours = {digest} | {"sha256:" + l.digest for l in lys}
        assert not (new & ours)
    else:
        assert new == set()  # nothing at all was written


def test_shared_layers_written_once(tmp_path, containerd, layers, cleanup):
    """A second image sharing a layer: only its new blobs are sent to containerd."""
    sock = containerd[0]
    work, lys = layers
    extra = it.Layer.from_bytes(it.tar_bytes({"opt/extra": os.urandom(5000)}), str(work))
    ref_a = "aistack.local/shared-%s:a" % uuid.uuid4().hex[:8]
    ref_b = ref_a[:-1] + "b"
    cleanup.extend([(sock, ref_a), (sock, ref_b)])
    a = str(tmp_path / "a.tar")
    b = str(tmp_path / "b.tar.gz")
    it.write_docker_archive(a, [ref_a], lys)
    it.write_docker_archive(b, [ref_b], lys + [extra], "gzip")
    assert run_import(dict(src=a, target="containerd", containerd_socket=sock))["changed"] is True
    res = run_import(dict(src=b, target="containerd", containerd_socket=sock))
    assert res["images"][0]["blobs_written"] == 2  # the new layer and the config
    assert res["images"][0]["blobs_present"] == 2


@pytest.mark.parametrize("case", ["truncated", "corrupt", "unknown", "missing", "checksum"])
def test_bad_input_leaves_no_image(tmp_path, containerd, layers, case):
    sock = containerd[0]
    work, _shared = layers
    # fresh layers: content the store already has is trusted by digest and never re-read
    lys = [it.Layer.from_bytes(it.tar_bytes({"opt/bad/%d" % i: os.urandom(20000)}), str(work)) for i in range(2)]
    ref = "aistack.local/bad-%s:%s" % (uuid.uuid4().hex[:8], case)
    path = str(tmp_path / "bad.tar")
    args = dict(target="containerd", containerd_socket=sock, src=path)
    if case == "truncated":
        path = args["src"] = str(tmp_path / "bad.tar.zst")
        it.write_docker_archive(path, [ref], lys, "zstd")
        with open(path, "r+b") as handle:
            handle.truncate(os.path.getsize(path) // 2)
        problem = "truncated"
    elif case == "corrupt":
        it.write_docker_archive(path, [ref], lys)
        with tarfile.open(path) as tar:
            member = [m for m in tar.getmembers() if m.name.endswith("layer.tar")][-1]
        with open(path, "r+b") as handle:
            handle.seek(member.offset_data + member.size - 10)
            handle.write(b"XXXXXXXXXX")
        problem = "corrupt"
    elif case == "unknown":
        Path(path).write_bytes(os.urandom(3000))
        problem = "unknown format"
    elif case == "missing":
        it.write_oci_archive(path, ref, lys, skip=("blobs/sha256/%s" % lys[1].digest,))
        problem = "missing from the archive"
    else:
        it.write_docker_archive(path, [ref], lys)
        (tmp_path / "SHA256SUMS").write_text("%s  bad.tar\n" % ("f" * 64))
        args["checksums"] = str(tmp_path / "SHA256SUMS")
        problem = "wrong checksum"
    before = images(sock)
    res = run_import(args)
    assert res.get("failed") is True, res
    assert os.path.basename(path) in res["msg"] and problem in res["msg"], res["msg"]
    assert images(sock) == before


# ---------------------------------------------------------------------------------------------
# On the cluster: a pod runs an image that arrived only through image_import
# ---------------------------------------------------------------------------------------------

def _debian_image(tmp_path, ref):
    """An image from the locally bootstrapped Debian rootfs plus a layer with a marker script."""
    base = it.Layer(str(BASE_ROOTFS))
    hello = b"#!/bin/sh\necho imported-ok\nexec sleep 3600\n"
    app = it.Layer.from_bytes(it.tar_bytes({"usr/local/bin/aistack-hello": hello}), str(tmp_path))
    config = it.image_config([base, app], cmd=["/usr/local/bin/aistack-hello"])
    path = str(tmp_path / "debian-hello.tar.zst")
    it.write_docker_archive(path, [ref], [base, app], "zstd", config=config)
    return path


def test_pod_runs_imported_image_and_restart(tmp_path, cleanup, request):
    if not cluster_up():
        pytest.skip("needs the local test cluster (tests/cluster/cluster.sh up)")
    sock = subprocess.run([str(CLUSTER_SH), "containerd-socket"], capture_output=True, text=True,
                          check=True).stdout.strip()
    if not BASE_ROOTFS.exists():
        pytest.skip("needs the bootstrapped Debian rootfs (tests/cluster/cluster.sh base-image)")
    namespace = request.getfixturevalue("namespace")
    kubectl = request.getfixturevalue("kubectl")
    collection_env = request.getfixturevalue("collection_env")
    ref = "aistack.local/import-hello-%s:1.0" % uuid.uuid4().hex[:8]
    cleanup.append((sock, ref))
    src = _debian_image(tmp_path, ref)
    kubectl("create", "namespace", namespace)
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "hello", "namespace": namespace},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "hello"}},
                 "template": {"metadata": {"labels": {"app": "hello"}},
                              "spec": {"containers": [{"name": "hello", "image": ref, "imagePullPolicy": "Never",
                                                       "resources": {"limits": {"cpu": "100m",
                                                                                "memory": "64Mi"}}}]}}},
    }
    kubectl("apply", "-f", "-", input=json.dumps(deployment))
    args = dict(src=src, target="containerd", containerd_socket=sock, restart_workloads=True,
                restart_namespaces=[namespace], kubeconfig=collection_env["KUBECONFIG"])
    check = run_import(args, check=True)
    assert check["changed"] is True
    assert check["restarted"] == [dict(kind="Deployment", namespace=namespace, name="hello")]
    res = run_import(args)
    assert res["changed"] is True, res
    assert res["restarted"] == [dict(kind="Deployment", namespace=namespace, name="hello")]
    dep = json.loads(kubectl("get", "deployment", "hello", "-n", namespace, "-o", "json").stdout)
    assert "kubectl.kubernetes.io/restartedAt" in dep["spec"]["template"]["metadata"]["annotations"]
    kubectl("rollout", "status", "deployment/hello", "-n", namespace, "--timeout=180s", timeout=240)
    deadline = time.time() + 60
    logs = ""
    while time.time() < deadline and "imported-ok" not in logs:
        logs = kubectl("logs", "deployment/hello", "-n", namespace, check=False).stdout
        time.sleep(2)
    assert "imported-ok" in logs
    again = run_import(args)
    assert again["changed"] is False and again["restarted"] == []


def test_images_dir_archives_load_into_containerd(tmp_path, private_containerd, layers):
    """containerd_images_dir: the archives k3s would import at start are valid for containerd as they are."""
    work, lys = layers
    ref = "aistack.local/seeded-%s:1" % uuid.uuid4().hex[:8]
    src = str(tmp_path / "seed.tar.gz")
    it.write_docker_archive(src, [ref], lys, "gzip")
    out = tmp_path / "agent-images"
    args = dict(src=src, target="containerd", containerd_images_dir=str(out))
    assert run_import(args, check=True)["changed"] is True and not out.exists()
    res = run_import(args)
    assert res["changed"] is True, res
    assert run_import(args)["changed"] is False
    files = os.listdir(str(out))
    assert len(files) == 1
    ctr(private_containerd, "images", "import", str(out / files[0]))
    assert images(private_containerd)[ref] == res["images"][0]["digest"]
    ctr(private_containerd, "images", "rm", ref)
