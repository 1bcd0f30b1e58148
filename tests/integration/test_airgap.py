# -*- coding: utf-8 -*-
"""Airgap bundle round trip with real tools and no cluster: a "connected" registry on 127.0.0.1 holds the
site's images; playbooks/airgap_export.yml saves them (skopeo) and a packaged chart into a bundle; the
import tasks verify it and push the images into a second, empty "site" registry, and place the chart.
"""

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "images" / "registry"))

import imagetools as it  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / "build" / "collections"

pytestmark = pytest.mark.skipif(not it.LocalRegistry.available() or not os.path.exists("/usr/bin/skopeo"),
                                reason="needs Debian's docker-registry and skopeo")

IMPORT_PLAYBOOK = """
- name: Import the bundle (the registry part of playbooks/airgap_import.yml)
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Verify and import
      ansible.builtin.include_role:
        name: aistack.platform.airgap
        tasks_from: import
"""


def playbook(path, extra, check=False):
    env = it.ansible_env(COLLECTIONS, {"ANSIBLE_STDOUT_CALLBACK": "default"})
    cmd = ["ansible-playbook", str(path), "-i", "localhost,", "-c", "local", "-e", json.dumps(extra)]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=str(ROOT), check=False)
    recap = {}
    for line in proc.stdout.splitlines():
        if line.startswith("localhost") and "ok=" in line:
            for part in line.split()[2:]:
                key, _unused, value = part.partition("=")
                recap[key] = int(value)
    proc.recap = recap
    return proc


def chart_tgz(path, name="demo", version="0.1.0"):
    with tarfile.open(path, "w:gz") as tar:
        members = {
            "%s/Chart.yaml" % name: "apiVersion: v2\nname: %s\nversion: %s\n" % (name, version),
            "%s/templates/cm.yaml" % name: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n",
        }
        for member, data in members.items():
            raw = data.encode()
            info = tarfile.TarInfo(member)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))


@pytest.fixture
def k3s_release(tmp_path):
    """A stand-in k3s release server on 127.0.0.1: binary, images archive and sha256sum file."""
    import functools
    import hashlib
    import http.server
    import threading
    version = "v1.34.2+k3s1"
    root = tmp_path / "releases"
    rel = root / version
    rel.mkdir(parents=True)
    files = {"k3s": os.urandom(4096), "k3s-airgap-images-amd64.tar.zst": os.urandom(8192)}
    sums = ""
    for name, data in files.items():
        (rel / name).write_bytes(data)
        sums += "%s  %s\n" % (hashlib.sha256(data).hexdigest(), name)
    (rel / "sha256sum-amd64.txt").write_text(sums)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1], version, files
    server.shutdown()
    server.server_close()


@pytest.fixture
def registries(tmp_path):
    source = it.LocalRegistry(str(tmp_path / "source")).start()
    site = it.LocalRegistry(str(tmp_path / "site")).start()
    yield source, site
    source.stop()
    site.stop()


def test_export_then_import(tmp_path, registries, k3s_release):
    source, site = registries
    k3s_base, k3s_version, k3s_files = k3s_release
    # the "connected world": two images in the source registry
    work = tmp_path / "layers"
    work.mkdir()
    base = it.Layer.from_bytes(it.tar_bytes({"usr/bin/tool": os.urandom(300000)}), str(work))
    refs = []
    for name in ("team/app:1.0", "team/tool:2.0"):
        app = it.Layer.from_bytes(it.tar_bytes({"app/%s" % name.split(":", maxsplit=1)[0]: os.urandom(1000)}), str(work))
        archive = str(work / (name.replace("/", "_") + ".tar"))
        ref = "%s/%s" % (source.address, name)
        it.write_docker_archive(archive, [ref], [base, app])
        res = it.run_module(COLLECTIONS, "aistack.platform.image_import",
                            dict(src=archive, target="registry", registry=source.address))
        assert res["changed"] is True, res
        refs.append(ref)
    chart = tmp_path / "demo-0.1.0.tgz"
    chart_tgz(str(chart))
    bundle = tmp_path / "bundle"
    export_vars = dict(aistack_images=refs, airgap_image_vars=[], airgap_bootstrap_images=[],
                       aistack_charts=[dict(name="demo", version="0.1.0", path=str(chart))],
                       aistack_bundle_dir=str(bundle), airgap_export_tls_verify=False,
                       k3s_version=k3s_version, airgap_k3s_release=True, airgap_k3s_release_base_url=k3s_base)

    first = playbook(ROOT / "playbooks" / "airgap_export.yml", export_vars)
    assert first.returncode == 0, first.stdout[-4000:]
    assert first.recap["changed"] > 0
    second = playbook(ROOT / "playbooks" / "airgap_export.yml", export_vars)
    assert second.returncode == 0 and second.recap["changed"] == 0, second.stdout[-4000:]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["format"] == "aistack-bundle/v1"
    assert sorted(i["ref"] for i in manifest["images"]) == sorted(refs)
    assert [c["file"] for c in manifest["charts"]] == ["charts/demo-0.1.0.tgz"]
    assert sorted(k["file"] for k in manifest["k3s"]) == sorted(
        "k3s/%s/%s" % (k3s_version, n) for n in list(k3s_files) + ["sha256sum-amd64.txt"])
    for name, data in k3s_files.items():
        assert (bundle / "k3s" / k3s_version / name).read_bytes() == data
    subprocess.run(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=str(bundle), check=True,
                   capture_output=True)

    # on site: the source registry is gone
    source.stop()
    import_pb = tmp_path / "import.yml"
    import_pb.write_text(IMPORT_PLAYBOOK)
    charts_dir = tmp_path / "charts"
    import_vars = dict(aistack_bundle_dir=str(bundle), aistack_registry=site.address,
                       aistack_registry_project="site", aistack_charts_dir=str(charts_dir))
    recaps = []
    for check in (True, False, True, False):
        proc = playbook(import_pb, import_vars, check=check)
        assert proc.returncode == 0, proc.stdout[-4000:]
        recaps.append(proc.recap["changed"])
        if check and not recaps[1:]:
            assert site.all_tags() == []
    assert recaps[0] > 0 and recaps[1] > 0 and recaps[2] == 0 and recaps[3] == 0, recaps
    assert site.all_tags() == ["site/team/app:1.0", "site/team/tool:2.0"]
    assert (charts_dir / "demo-0.1.0.tgz").read_bytes() == chart.read_bytes()

    # a tampered bundle is refused before anything is imported
    target = bundle / manifest["images"][0]["file"]
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    fresh = it.LocalRegistry(str(tmp_path / "fresh")).start()
    try:
        proc = playbook(import_pb, dict(import_vars, aistack_registry=fresh.address))
        assert proc.returncode != 0
        assert "FAILED" in proc.stdout and os.path.basename(str(target)) in proc.stdout
        assert fresh.all_tags() == []
    finally:
        fresh.stop()


def test_export_refuses_unpinned(tmp_path):
    proc = playbook(ROOT / "playbooks" / "airgap_export.yml",
                    dict(aistack_images=["docker.io/library/postgres:latest", "redis"], airgap_image_vars=[],
                         airgap_k3s_release=False,
                         airgap_bootstrap_images=[], aistack_bundle_dir=str(tmp_path / "b")))
    assert proc.returncode != 0
    assert "pinned tag" in proc.stdout
    assert not (tmp_path / "b").exists()


def test_bootstrap_images_into_containerd(tmp_path, registries, tmp_path_factory):
    """airgap_bootstrap_images land in images/bootstrap/ and the bootstrap pass loads them into containerd."""
    source, _site = registries
    work = tmp_path / "layers"
    work.mkdir()
    layer = it.Layer.from_bytes(it.tar_bytes({"usr/bin/registry": os.urandom(20000)}), str(work))
    ref = "%s/library/registry:2.8.2" % source.address
    archive = str(work / "reg.tar")
    it.write_docker_archive(archive, [ref], [layer])
    assert it.run_module(COLLECTIONS, "aistack.platform.image_import",
                         dict(src=archive, target="registry", registry=source.address))["changed"] is True
    bundle = tmp_path / "bundle"
    proc = playbook(ROOT / "playbooks" / "airgap_export.yml",
                    dict(aistack_images=[], airgap_image_vars=[], airgap_bootstrap_images=[ref], aistack_charts=[],
                         aistack_bundle_dir=str(bundle), airgap_export_tls_verify=False, airgap_k3s_release=False))
    assert proc.returncode == 0, proc.stdout[-3000:]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert [(i["ref"], i["bootstrap"]) for i in manifest["images"]] == [(ref, True)]
    assert manifest["images"][0]["file"].startswith("images/bootstrap/")
    ctd = it.PrivateContainerd(str(tmp_path_factory.mktemp("ctd"))).start()
    try:
        pb = tmp_path / "bootstrap.yml"
        pb.write_text(IMPORT_PLAYBOOK)
        extra = dict(aistack_bundle_dir=str(bundle), airgap_bootstrap_import=True, airgap_ctr_command=["ctr"],
                     airgap_containerd_socket=ctd.socket, airgap_node_stage_dir=str(tmp_path / "stage"),
                     airgap_become=False)
        first = playbook(pb, extra)
        assert first.returncode == 0, first.stdout[-3000:]
        assert first.recap["changed"] > 0
        second = playbook(pb, extra)
        assert second.returncode == 0 and second.recap["changed"] == 0, second.stdout[-3000:]
        out = subprocess.run(["ctr", "-a", ctd.socket, "-n", "k8s.io", "images", "ls", "-q"], capture_output=True,
                             text=True, check=True).stdout.split()
        assert ref in out
    finally:
        ctd.stop()
