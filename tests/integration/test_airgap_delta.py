# -*- coding: utf-8 -*-
"""Delta bundles, parts, resumed imports and the drift report, with real tools: a "connected" registry on 127.0.0.1,
playbooks/airgap_export.yml (skopeo) and the import tasks pushing into a "site" registry, receipts as files.

- a one-image version bump exported against the site's receipt carries only that image's new layer; it imports
  on the site it was made for and is refused, naming the layer, where the receipt is stale;
- a bundle cut into parts: a tampered part is named and refused before anything is imported;
- an import killed half way through an archive goes on where it stopped when run again;
- the drift report finds an image deleted from the registry behind the receipt's back.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from test_airgap import COLLECTIONS, IMPORT_PLAYBOOK, ROOT, make_signer, playbook

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "images" / "registry"))

import imagetools as it  # noqa: E402

pytestmark = pytest.mark.skipif(not it.LocalRegistry.available() or not os.path.exists("/usr/bin/skopeo")
                                or not shutil.which("ssh-keygen"),
                                reason="needs Debian's docker-registry, skopeo and ssh-keygen")

EXPORT = ROOT / "playbooks" / "airgap_export.yml"


def push(source, work, ref, layers):
    """``ref`` (a name in the source registry) made of ``layers`` (gzip, as registries publish them: skopeo copies
    them as they are), pushed with image_import."""
    archive = str(work / (ref.replace("/", "_").replace(":", "_") + ".tar"))
    it.write_oci_archive(archive, "%s/%s" % (source.address, ref), layers, diff_layers=[l.raw for l in layers],
                         layer_media_type="application/vnd.oci.image.layer.v1.tar+gzip")
    result = it.run_module(COLLECTIONS, "aistack.platform.image_import",
                           dict(src=archive, target="registry", registry=source.address))
    assert result.get("failed") is not True, result
    return "%s/%s" % (source.address, ref)


def layer(work, name, size):
    raw = it.Layer.from_bytes(it.tar_bytes({name: os.urandom(size)}), str(work))
    packed = it.gzip_layer(raw, str(work))
    packed.raw = raw
    return packed


def bundle_layers(bundle):
    """{archive file: set of layer digests it carries} of a bundle's (whole) image archives."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    out = {}
    for image in manifest["images"]:
        carried = set()
        with tarfile.open(str(bundle / image["file"])) as tar:
            names = set(tar.getnames())
            index = json.loads(tar.extractfile("index.json").read())
            for entry in index["manifests"]:
                doc = json.loads(tar.extractfile("blobs/sha256/" + entry["digest"].split(":")[1]).read())
                for desc in doc["layers"]:
                    if "blobs/sha256/" + desc["digest"].split(":")[1] in names:
                        carried.add(desc["digest"])
        out[image["file"]] = carried
    return out


def files_size(bundle, manifest):
    return sum(os.path.getsize(str(bundle / image["file"])) for image in manifest["images"])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    work = tmp_path_factory.mktemp("delta")
    source = it.LocalRegistry(str(work / "source")).start()
    try:
        yield dict(work=work, source=source, signer=make_signer(work))
    finally:
        source.stop()


@pytest.fixture
def site(tmp_path):
    registry = it.LocalRegistry(str(tmp_path / "site")).start()
    yield registry
    registry.stop()


def export(world, bundle, images, check=False, **extra):
    extra_vars = dict(aistack_images=images, airgap_image_vars=[], airgap_bootstrap_images=[], aistack_charts=[],
                      aistack_bundle_dir=str(bundle), airgap_export_tls_verify=False, airgap_k3s_release=False,
                      airgap_signing_key=world["signer"]["key"])
    extra_vars.update(extra)
    proc = playbook(EXPORT, extra_vars, check=check)
    assert proc.returncode == 0, proc.stdout[-5000:]
    return proc


def run_import(tmp_path, world, bundle, site, receipt, check=False, **extra):
    pb = tmp_path / "import.yml"
    pb.write_text(IMPORT_PLAYBOOK)
    extra_vars = dict(aistack_bundle_dir=str(bundle), aistack_registry=site.address, aistack_registry_project="site",
                      aistack_charts_dir=str(tmp_path / "charts"), airgap_trusted_signers=[world["signer"]["trusted"]],
                      airgap_receipt_configmap="", airgap_receipt_file=str(receipt))
    extra_vars.update(extra)
    return playbook(pb, extra_vars, check=check)


def test_delta_bundle_for_a_one_image_bump(world, tmp_path, site):
    source, work = world["source"], world["work"]
    base = layer(work, "base", 400000)
    app1 = push(source, work, "team/app:1.0", [base, layer(work, "app", 20000)])
    tool = push(source, work, "team/tool:1.0", [layer(work, "tool-base", 300000), layer(work, "tool", 1000)])
    full = tmp_path / "full"
    export(world, full, [app1, tool])
    receipt = tmp_path / "receipt.json"
    proc = run_import(tmp_path, world, full, site, receipt)
    assert proc.returncode == 0, proc.stdout[-4000:]
    recorded = json.loads(receipt.read_text())
    store = "registry/%s/site" % site.address
    assert recorded["format"] == "aistack-receipt/v2"
    assert ("sha256:" + base.digest) in recorded["stores"][store]["images"]["%s/site/team/app:1.0" % site.address]["blobs"]

    # the bump: app 2.0 keeps the base layer and changes the top one
    top2 = layer(work, "app", 20000)
    app2 = push(source, work, "team/app:2.0", [base, top2])
    delta = tmp_path / "delta"
    runs = [export(world, delta, [app2, tool], check=check, airgap_base_receipt=str(receipt)).recap["changed"]
            for check in (True, False, True, False)]
    assert runs[0] > 0 and runs[1] > 0 and runs[2] == 0 and runs[3] == 0, runs
    manifest = json.loads((delta / "manifest.json").read_text())
    assert manifest["format"] == "aistack-bundle/v2" and manifest["base"]["layers_held"] > 0
    entries = dict((image["ref"], image) for image in manifest["images"])
    assert entries[app2]["omitted"] == ["sha256:" + base.digest]
    assert entries[app2]["carried"] == ["sha256:" + top2.digest]
    assert entries[tool]["carried"] == [] and len(entries[tool]["omitted"]) == 2
    # the delta holds that image's new layer and nothing else; its whole archives stay on the connected host
    carried = bundle_layers(delta)
    assert set().union(*carried.values()) == {"sha256:" + top2.digest}, carried
    assert not list((delta / "images").glob("*.tar")) or all(".delta." in p.name for p in (delta / "images").glob("*.tar"))
    assert (Path(str(delta) + ".work") / "images").is_dir()
    full_size = files_size(full, json.loads((full / "manifest.json").read_text()))
    assert files_size(delta, manifest) * 5 < full_size
    subprocess.run(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=str(delta), check=True, capture_output=True)

    # on the site it was made for: imported, the omitted base found in the registry; the receipt grows
    before = len(site.log_text())
    proc = run_import(tmp_path, world, delta, site, receipt)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert site.all_tags() == ["site/team/app:1.0", "site/team/app:2.0", "site/team/tool:1.0"]
    assert ("digest=sha256:" + base.digest) not in "\n".join(site.write_requests(before))
    recorded = json.loads(receipt.read_text())
    assert "%s/site/team/app:2.0" % site.address in recorded["stores"][store]["images"]
    again = run_import(tmp_path, world, delta, site, receipt)
    assert again.returncode == 0 and again.recap["changed"] == 0, again.stdout[-3000:]

    # where the receipt is stale (a registry without the base layers): refused, naming the layer and the fix
    fresh = it.LocalRegistry(str(tmp_path / "fresh")).start()
    try:
        proc = run_import(tmp_path, world, delta, fresh, tmp_path / "other-receipt.json")
        assert proc.returncode != 0
        out = proc.stdout
        assert "sha256:" + base.digest in out and "export a full bundle" in out and "stale" in out, out[-3000:]
        assert fresh.all_tags() == []
    finally:
        fresh.stop()


def test_split_bundle_refuses_a_tampered_part(world, tmp_path, site):
    source, work = world["source"], world["work"]
    big = push(source, work, "team/parts:1.0", [layer(work, "big", 3 * (1 << 20))])
    bundle = tmp_path / "bundle"
    export(world, bundle, [big], airgap_export_split_size="1MiB")
    assert export(world, bundle, [big], airgap_export_split_size="1MiB").recap["changed"] == 0
    manifest = json.loads((bundle / "manifest.json").read_text())
    (entry,) = manifest["images"]
    assert len(entry["parts"]) == 4 and not (bundle / entry["file"]).exists()
    sums = (bundle / "SHA256SUMS").read_text()
    assert all("  %s\n" % part["file"] in sums for part in entry["parts"])

    part = bundle / entry["parts"][2]["file"]
    good = part.read_bytes()
    part.write_bytes(good[:100] + bytes([good[100] ^ 0xFF]) + good[101:])
    receipt = tmp_path / "receipt.json"
    proc = run_import(tmp_path, world, bundle, site, receipt)
    assert proc.returncode != 0
    assert entry["parts"][2]["file"] in proc.stdout and "copy only these files again" in proc.stdout, proc.stdout[-3000:]
    assert entry["parts"][1]["file"] + ":" not in proc.stdout
    assert site.all_tags() == [] and not receipt.exists()

    part.write_bytes(good)  # only that part copied again
    proc = run_import(tmp_path, world, bundle, site, receipt)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert site.all_tags() == ["site/team/parts:1.0"]
    assert (bundle / "joined" / entry["file"]).exists()


class SlowProxy(object):
    """A TCP proxy on 127.0.0.1 in front of ``address`` that sends uploads on at ``rate`` bytes per second (None:
    at full speed), so that a test can stop an import between two layers."""

    def __init__(self, address, rate=None):
        import socket
        import threading
        self.target = address.rsplit(":", 1)
        self.rate = rate
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.address = "127.0.0.1:%d" % self.server.getsockname()[1]
        self.threading, self.socket = threading, socket
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _unused = self.server.accept()
            except OSError:
                return
            upstream = self.socket.create_connection((self.target[0], int(self.target[1])))
            self.threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            self.threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src, dst, throttled):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
                if throttled and self.rate:
                    time.sleep(len(data) / float(self.rate))
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(self.socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.server.close()


def test_an_interrupted_import_goes_on_where_it_stopped(world, tmp_path, site):
    source, work = world["source"], world["work"]
    small = push(source, work, "team/first:1.0", [layer(work, "first", 5000)])
    layers = [layer(work, "big%d" % n, 12 << 20) for n in range(3)]
    big = push(source, work, "team/big:1.0", layers)
    bundle = tmp_path / "bundle"
    export(world, bundle, [small, big])
    receipt = tmp_path / "receipt.json"
    # the site registry behind a proxy that passes uploads at 8 MiB/s: about 1.5 s per layer
    proxy = SlowProxy(site.address, rate=8 << 20)
    pb = tmp_path / "import.yml"
    pb.write_text(IMPORT_PLAYBOOK)
    extra_vars = dict(aistack_bundle_dir=str(bundle), aistack_registry=proxy.address, aistack_registry_project="site",
                      aistack_charts_dir=str(tmp_path / "charts"), airgap_trusted_signers=[world["signer"]["trusted"]],
                      airgap_receipt_configmap="", airgap_receipt_file=str(receipt))
    env = it.ansible_env(COLLECTIONS, {"ANSIBLE_STDOUT_CALLBACK": "default"})
    proc = subprocess.Popen(["ansible-playbook", str(pb), "-i", "localhost,", "-c", "local", "-e", json.dumps(extra_vars)],
                            env=env, cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)

    def landed():
        lines = [line for line in site.write_requests() if '" 201 ' in line]
        return [l.digest for l in layers if any("digest=sha256:" + l.digest in line for line in lines)]
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None and not landed():
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    first = landed()
    assert first and len(first) < len(layers), "the import was not stopped half way: %s" % first
    assert "site/team/big:1.0" not in site.all_tags()
    # the first archive was recorded as it landed
    recorded = json.loads(receipt.read_text())
    store = "registry/%s/site" % proxy.address
    assert list(recorded["stores"][store]["images"]) == ["%s/site/team/first:1.0" % proxy.address]

    proxy.rate = None
    before = len(site.log_text())
    again = run_import(tmp_path, world, bundle, site, receipt, aistack_registry=proxy.address)
    proxy.close()
    assert again.returncode == 0, again.stdout[-4000:]
    assert site.all_tags() == ["site/team/big:1.0", "site/team/first:1.0"]
    rewritten = "\n".join(site.write_requests(before))
    for digest in first:
        assert ("digest=sha256:" + digest) not in rewritten  # blobs that had landed are not sent again
    for rest in [l.digest for l in layers if l.digest not in first]:
        assert ("digest=sha256:" + rest) in rewritten
    assert "/team/first/" not in rewritten  # the recorded archive is not imported again


def test_drift_report_finds_an_image_deleted_from_the_registry(world, tmp_path, site):
    source, work = world["source"], world["work"]
    refs = [push(source, work, "team/drift%d:1.0" % n, [layer(work, "d%d" % n, 3000)]) for n in range(2)]
    bundle = tmp_path / "bundle"
    export(world, bundle, refs)
    receipt = tmp_path / "receipt.json"
    assert run_import(tmp_path, world, bundle, site, receipt).returncode == 0
    drift_vars = dict(aistack_registry=site.address, aistack_registry_project="site", airgap_receipt_configmap="",
                      airgap_receipt_file=str(receipt))
    env = it.ansible_env(COLLECTIONS, {"ANSIBLE_STDOUT_CALLBACK": "default"})

    def drift(**extra):
        return subprocess.run(["ansible-playbook", str(ROOT / "playbooks" / "airgap_drift.yml"), "-i", "localhost,",
                               "-c", "local", "-e", "airgap_drift_hosts=localhost", "-e", json.dumps(dict(drift_vars, **extra))],
                              env=env, cwd=str(ROOT), capture_output=True, text=True, timeout=600, check=False)

    clean = drift(airgap_drift_fail=True)
    assert clean.returncode == 0 and "no drift" in clean.stdout, clean.stdout[-3000:]
    # negative control: one image deleted from the registry (by its manifest digest), behind the receipt's back
    digest = json.loads(receipt.read_text())["stores"]["registry/%s/site" % site.address]["images"][
        "%s/site/team/drift0:1.0" % site.address]["digest"]
    import requests
    assert requests.delete("http://%s/v2/site/team/drift0/manifests/%s" % (site.address, digest),
                           timeout=10).status_code == 202
    # and one pushed there that no bundle brought
    stray = it.Layer.from_bytes(it.tar_bytes({"x": b"stray"}), str(tmp_path))
    archive = str(tmp_path / "stray.tar")
    it.write_docker_archive(archive, ["docker.io/team/stray:9"], [stray])
    it.run_module(COLLECTIONS, "aistack.platform.image_import",
                  dict(src=archive, target="registry", registry=site.address, registry_project="site"))
    report = drift()
    assert report.returncode == 0, report.stdout[-3000:]
    assert "missing: %s/site/team/drift0:1.0" % site.address in report.stdout, report.stdout[-3000:]
    assert "unexpected: %s/site/team/stray:9" % site.address in report.stdout
    assert "team/drift1" not in report.stdout.split("Report the drift", 1)[1]
    failing = drift(airgap_drift_fail=True)
    assert failing.returncode != 0 and "drift0" in failing.stdout


@pytest.mark.skipif(not shutil.which("containerd") or not shutil.which("ctr") or os.geteuid() != 0,
                    reason="needs containerd and ctr, as root")
def test_delta_archive_into_containerd(tmp_path, tmp_path_factory):
    """A delta archive into containerd: the omitted layer is found in the content store (and the image unpacks);
    a containerd without it is refused, naming the layer, with no image record written."""
    base = layer(tmp_path, "base", 200000)
    one, two = layer(tmp_path, "app", 3000), layer(tmp_path, "app", 3000)
    gz = "application/vnd.oci.image.layer.v1.tar+gzip"
    v1, v2 = str(tmp_path / "app1.tar"), str(tmp_path / "app2.tar")
    it.write_oci_archive(v1, "docker.io/team/app:1", [base, one], diff_layers=[base.raw, one.raw], layer_media_type=gz)
    it.write_oci_archive(v2, "docker.io/team/app:2", [base, two], diff_layers=[base.raw, two.raw], layer_media_type=gz)
    delta = str(tmp_path / "app2.delta.tar")
    made = it.run_module(COLLECTIONS, "aistack.platform.airgap_bundle",
                         dict(action="delta", src=v2, dest=delta, omit=["sha256:" + base.digest]))
    assert made["changed"] and made["omitted"] == ["sha256:" + base.digest], made
    assert os.path.getsize(delta) < base.size
    for name, seeded in (("seeded", True), ("empty", False)):
        ctd = it.PrivateContainerd(str(tmp_path_factory.mktemp("ctd-" + name))).start()
        try:
            common = dict(target="containerd", containerd_socket=ctd.socket, ctr_command=["ctr"])
            if seeded:
                assert it.run_module(COLLECTIONS, "aistack.platform.image_import", dict(common, src=v1))["changed"]
            result = it.run_module(COLLECTIONS, "aistack.platform.image_import",
                                   dict(common, src=delta, omitted_blobs=["sha256:" + base.digest]))
            listed = subprocess.run(["ctr", "-a", ctd.socket, "-n", "k8s.io", "images", "ls", "-q"],
                                    capture_output=True, text=True, check=True).stdout.split()
            if seeded:
                assert result["changed"] and result["images"][0]["blobs_present"] >= 1, result
                assert "docker.io/team/app:2" in listed
                assert ("sha256:" + base.digest) in result["images"][0]["blobs"]
            else:
                assert result.get("failed") and ("sha256:" + base.digest) in result["msg"], result
                assert "export a full bundle" in result["msg"]
                assert "docker.io/team/app:2" not in listed
        finally:
            ctd.stop()


def test_delta_round_trip_with_the_receipt_in_the_cluster(world, tmp_path, site, namespace, kubectl):
    """The operator's workflow on the local cluster: the import keeps its receipt in a ConfigMap; the operator reads
    it out with kubectl and carries it to the connected host; the delta exported from it imports on the site, the
    ConfigMap then records the new version, and the drift report (reading the ConfigMap) is clean."""
    source, work = world["source"], world["work"]
    base = layer(work, "base", 200000)
    v1 = push(source, work, "team/cm-app:1.0", [base, layer(work, "app", 3000)])
    in_cluster = dict(airgap_receipt_file="", airgap_receipt_configmap="airgap-receipt",
                      airgap_receipt_namespace=namespace)
    full = tmp_path / "full"
    export(world, full, [v1])
    proc = run_import(tmp_path, world, full, site, "", **in_cluster)
    assert proc.returncode == 0, proc.stdout[-4000:]

    carried = tmp_path / "receipt-site.json"
    carried.write_text(kubectl("-n", namespace, "get", "configmap", "airgap-receipt", "-o",
                               "jsonpath={.data.receipt\\.json}").stdout)
    top = layer(work, "app", 3000)
    v2 = push(source, work, "team/cm-app:2.0", [base, top])
    delta = tmp_path / "delta"
    export(world, delta, [v2], airgap_base_receipt=str(carried))
    (entry,) = json.loads((delta / "manifest.json").read_text())["images"]
    assert entry["omitted"] == ["sha256:" + base.digest] and entry["carried"] == ["sha256:" + top.digest]
    proc = run_import(tmp_path, world, delta, site, "", **in_cluster)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert site.all_tags() == ["site/team/cm-app:1.0", "site/team/cm-app:2.0"]
    receipt = json.loads(kubectl("-n", namespace, "get", "configmap", "airgap-receipt", "-o",
                                 "jsonpath={.data.receipt\\.json}").stdout)
    images = receipt["stores"]["registry/%s/site" % site.address]["images"]
    assert sorted(images) == ["%s/site/team/cm-app:%s" % (site.address, v) for v in ("1.0", "2.0")]
    assert ("sha256:" + base.digest) in images["%s/site/team/cm-app:2.0" % site.address]["blobs"]

    env = it.ansible_env(COLLECTIONS, {"ANSIBLE_STDOUT_CALLBACK": "default"})
    drift = subprocess.run(["ansible-playbook", str(ROOT / "playbooks" / "airgap_drift.yml"), "-i", "localhost,", "-c",
                            "local", "-e", json.dumps(dict(in_cluster, airgap_drift_hosts="localhost",
                                                           aistack_registry=site.address, aistack_registry_project="site",
                                                           airgap_drift_fail=True))],
                           env=env, cwd=str(ROOT), capture_output=True, text=True, timeout=600, check=False)
    assert drift.returncode == 0 and "no drift, 2 image(s)" in drift.stdout, drift.stdout[-3000:]
