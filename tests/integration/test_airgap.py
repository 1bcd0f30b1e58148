# -*- coding: utf-8 -*-
"""Airgap bundle round trip with real tools and no cluster: a "connected" registry on 127.0.0.1 holds the
site's images; playbooks/airgap_export.yml saves them (skopeo) and a packaged chart into a bundle; the
import tasks verify it and push the images into a second, empty "site" registry, and place the chart.
"""

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest

from conftest import parse_recap, targets_local_cluster, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "images" / "registry"))

import imagetools as it  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / "build" / "collections"
CACHE = Path(os.environ.get("AISTACK_CACHE", str(Path.home() / ".cache" / "aistack")))

pytestmark = pytest.mark.skipif(not it.LocalRegistry.available() or not os.path.exists("/usr/bin/skopeo")
                                or not shutil.which("ssh-keygen"),
                                reason="needs Debian's docker-registry, skopeo and ssh-keygen")

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

# The verify role's lockfile check alone (playbooks/verify.yml runs it after its checks when verify_image_lock is set).
LOCK_CHECK_PLAYBOOK = """
- name: Check the running images against the bundle's lockfile
  hosts: k8s_api
  gather_facts: false
  module_defaults:
    group/aistack.platform.aistack:
      kubeconfig: "{{ aistack_kubeconfig | default(omit, true) }}"
  tasks:
    - name: Check the pods
      ansible.builtin.include_role:
        name: aistack.platform.verify
        tasks_from: image_lock
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


def make_signer(directory, name="build"):
    """An ed25519 key pair in ``directory`` that signs bundles: {key (private key path), pub (its public line),
    trusted (the airgap_trusted_signers entry), fingerprint}."""
    key = Path(str(directory)) / ("%s-bundle-key" % name)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "%s@connected" % name, "-f", str(key)],
                   check=True, capture_output=True)
    pub = Path(str(key) + ".pub").read_text().strip()
    fingerprint = subprocess.run(["ssh-keygen", "-lf", str(key) + ".pub"], check=True, capture_output=True,
                                 text=True).stdout.split()[1]
    return dict(key=str(key), pub=pub, trusted=dict(name=name, key=pub), fingerprint=fingerprint)


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
    signer = make_signer(tmp_path)
    export_vars = dict(airgap_signing_key=signer["key"], aistack_images=refs, airgap_image_vars=[], airgap_bootstrap_images=[],
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
                       aistack_registry_project="site", aistack_charts_dir=str(charts_dir),
                       airgap_trusted_signers=[signer["trusted"]], airgap_receipt_configmap="")
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
    signer = make_signer(tmp_path)
    proc = playbook(ROOT / "playbooks" / "airgap_export.yml",
                    dict(aistack_images=[], airgap_image_vars=[], airgap_bootstrap_images=[ref], aistack_charts=[],
                         airgap_signing_key=signer["key"],
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
                     airgap_trusted_signers=[signer["trusted"]],
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


# ---------------------------------------------------------------- site.yml on an airgapped site, offline

def _kube_server(kubeconfig):
    import yaml
    from urllib.parse import urlsplit
    with open(kubeconfig) as handle:
        server = yaml.safe_load(handle)["clusters"][0]["cluster"]["server"]
    parts = urlsplit(server)
    return parts.hostname, parts.port or 443


class OfflineNetns(object):
    """A network namespace whose only way out is the Kubernetes API: no interface but lo, the API's address
    bound on lo, and socat carrying that one port over a unix socket to the real API server. Anything else
    the playbook tried to reach (a chart repository, a registry, DNS) would fail."""

    def __init__(self, workdir, kubeconfig):
        self.name = "aistack-offline-%s" % uuid.uuid4().hex[:6]
        self.sock = os.path.join(str(workdir), "api.sock")
        self.host, self.port = _kube_server(kubeconfig)
        self.procs = []

    def __enter__(self):
        def ip(*args):
            subprocess.run(["ip"] + list(args), check=True, capture_output=True)
        ip("netns", "add", self.name)
        ip("-n", self.name, "link", "set", "lo", "up")
        if not self.host.startswith("127."):
            ip("-n", self.name, "addr", "add", self.host + "/32", "dev", "lo")
        self.procs.append(subprocess.Popen(["socat", "UNIX-LISTEN:%s,fork,mode=600" % self.sock,
                                            "TCP:%s:%d" % (self.host, self.port)]))
        self.procs.append(subprocess.Popen(self.prefix + ["socat", "TCP-LISTEN:%d,bind=%s,fork,reuseaddr"
                                                          % (self.port, self.host), "UNIX-CONNECT:" + self.sock]))
        wait_until("the API bridge into %s" % self.name, lambda: os.path.exists(self.sock) and subprocess.run(
            self.prefix + ["bash", "-c", "exec 3<>/dev/tcp/%s/%d" % (self.host, self.port)],
            capture_output=True, check=False).returncode == 0, 20, 0.5)
        return self

    @property
    def prefix(self):
        return ["ip", "netns", "exec", self.name]

    def __exit__(self, *exc):
        for proc in self.procs:
            proc.terminate()
            proc.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)


def _demohttp_archive(path, ref):
    binary = (CACHE / "bin" / "demohttp").resolve()
    layer = it.Layer.from_bytes(it.tar_bytes({"demohttp": binary.read_bytes()}), str(path.parent))
    config = it.image_config([layer], cmd=["serve"])
    config["config"].update({"Entrypoint": ["/demohttp"], "User": "65532"})
    it.write_docker_archive(str(path), [ref], [layer], "gzip", config=config)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("socat") or not shutil.which("ip"),
                    reason="needs root, iproute2 and socat for the offline network namespace")
def test_site_yml_offline(tmp_path, registries, namespace, kubeconfig, collection_env, kubectl):
    """Export on the "connected" side, import on site, then site.yml with aistack_airgap: true inside a
    network namespace that reaches nothing but the API server. The demo workload's image keeps its
    connected-world name; the node pulls it from the site registry through the mirror the registry layer
    writes, because the connected registry is gone by then."""
    certs_dir = CACHE / "cluster" / "certs.d"
    if not targets_local_cluster() or not certs_dir.is_dir():
        pytest.skip("writes the node's containerd mirror configuration: local cluster only")
    source, site = registries
    tag = uuid.uuid4().hex[:10]
    ref = "%s/aistack-demo/demohttp:%s" % (source.address, tag)
    archive = tmp_path / "demohttp.tar.gz"
    _demohttp_archive(archive, ref)
    assert it.run_module(COLLECTIONS, "aistack.platform.image_import",
                         dict(src=str(archive), target="registry", registry=source.address))["changed"] is True
    chart = tmp_path / "demo-0.1.0.tgz"
    chart_tgz(str(chart))
    charts = [dict(name="demo", version="0.1.0", path=str(chart))]
    bundle = tmp_path / "bundle"
    signer = make_signer(tmp_path)
    charts_dir = tmp_path / "charts"
    site_vars = dict(
        aistack_airgap=True, aistack_charts=charts, aistack_charts_dir=str(charts_dir), aistack_kubeconfig=kubeconfig,
        aistack_registry=site.address, aistack_registry_project="", aistack_registry_enabled=True,
        registry_mode="external", registry_mirror_style="containerd", registry_containerd_certs_dir=str(certs_dir),
        registry_mirror_upstreams=[source.address], registry_become=False,
        aistack_namespaces=[dict(name=namespace)], demo_app_namespace=namespace, demo_app_image=ref,
        aistack_app_secrets=[dict(name="demo-credentials", namespace=namespace,
                                  data={"api-key": "{{ vault_demo_api_key }}"})],
        # This test is about the airgap path of the layers it keeps: the local site's other layers stay off.
        demo_app_enabled=True, aistack_ingress_enabled=False, aistack_databases_enabled=False, services_list=[],
        langflow_tenants=[], lightrag_enabled=False, langgraph_worker_enabled=False, aistack_observability_enabled=False)
    extra_inventory = tmp_path / "nodes.yml"
    extra_inventory.write_text("all:\n  children:\n    cluster_nodes:\n      hosts:\n        localhost:\n")

    def site_yml(prefix=(), playbook_name="site.yml", **overrides):
        cmd = list(prefix) + [
            "ansible-playbook", str(ROOT / "playbooks" / playbook_name), "-i", str(ROOT / "inventories" / "local"),
            "-i", str(extra_inventory), "--vault-password-file", str(ROOT / "inventories/local/vault-password.txt"),
            "-e", json.dumps(dict(site_vars, **overrides))]
        run = subprocess.run(cmd, env=collection_env, capture_output=True, text=True, timeout=900, cwd=str(ROOT),
                             check=False)
        run.recap = parse_recap(run.stdout)
        return run

    # the export takes what to carry from the site's inventory (playbooks/closure.yml renders the demo workload):
    # no image is listed by hand; images.lock.json gets its digest
    proc = site_yml(playbook_name="airgap_export.yml", aistack_bundle_dir=str(bundle), airgap_signing_key=signer["key"],
                    airgap_export_tls_verify=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert [i["ref"] for i in manifest["images"]] == [ref]
    locked = json.loads((bundle / "images.lock.json").read_text())["images"]
    assert list(locked) == [ref]
    source.stop()

    try:
        # before the import: the preflight names the missing chart and nothing is applied
        proc = site_yml()
        assert proc.returncode != 0 and "demo-0.1.0.tgz" in proc.stdout and "airgap_import.yml" in proc.stdout
        assert proc.recap.get("changed", 0) == 0
        assert kubectl("get", "deploy", "-n", namespace, "-o", "name").stdout.strip() == ""

        import_pb = tmp_path / "import.yml"
        import_pb.write_text(IMPORT_PLAYBOOK)
        proc = playbook(import_pb, dict(aistack_bundle_dir=str(bundle), aistack_registry=site.address,
                                        aistack_registry_project="", aistack_charts_dir=str(charts_dir),
                                        airgap_trusted_signers=[signer["trusted"]], airgap_receipt_configmap=""))
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert site.all_tags() == ["aistack-demo/demohttp:%s" % tag]

        with OfflineNetns(tmp_path, kubeconfig) as netns:
            # the namespace really is closed: no DNS server, no package index
            probe = subprocess.run(netns.prefix + [sys.executable, "-c", (
                "import socket, urllib.request\n"
                "for target in (lambda: socket.create_connection(('10.255.255.53', 53), timeout=3),\n"
                "               lambda: urllib.request.urlopen('https://pypi.org/simple/', timeout=3)):\n"
                "    try:\n        target()\n        print('REACHED')\n    except OSError:\n        pass\n")],
                capture_output=True, text=True, check=True)
            assert "REACHED" not in probe.stdout
            runs = []
            for check in (False, False):
                proc = site_yml(netns.prefix)
                assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
                runs.append(proc.recap.get("changed", 0))
            assert runs[0] > 0 and runs[1] == 0, runs
        images = kubectl("get", "pods", "-n", namespace, "-o",
                         "jsonpath={.items[*].status.containerStatuses[*].imageID}").stdout
        assert "aistack-demo/demohttp" in images, images
        # what runs is what was exported: the pod's image digest is the locked one (the verify role's check)
        assert locked[ref] in images, (locked, images)
        lock_check = tmp_path / "lock-check.yml"
        lock_check.write_text(LOCK_CHECK_PLAYBOOK)
        proc = site_yml(playbook_name=str(lock_check), verify_image_lock=str(bundle / "images.lock.json"),
                        verify_image_lock_namespaces=[namespace])
        assert proc.returncode == 0 and "runs the image locked in" in proc.stdout, proc.stdout[-3000:]
        lockfile = bundle / "images.lock.json"
        lockfile.write_text(lockfile.read_text().replace(locked[ref], "sha256:" + "0" * 64))
        proc = site_yml(playbook_name=str(lock_check), verify_image_lock=str(lockfile),
                        verify_image_lock_namespaces=[namespace])
        assert proc.returncode != 0 and locked[ref] in proc.stdout and "0" * 64 in proc.stdout, proc.stdout[-3000:]
        ready = kubectl("get", "deploy", "-n", namespace, "-o", "jsonpath={.items[*].status.readyReplicas}").stdout
        assert ready.strip() not in ("", "0"), ready
    finally:
        for name in (site.address, source.address):
            shutil.rmtree(str(certs_dir / name), ignore_errors=True)
