# -*- coding: utf-8 -*-
"""Signed airgap bundles with real tools: the export signs SHA256SUMS (ssh-keygen -Y sign) and signs again only
when the signature no longer verifies; the import refuses a tampered part, an untrusted signer, an unsigned bundle
and bad trusted signers before it pushes anything, and imports a good bundle. Import receipts: the import records
what each store holds (a file; a ConfigMap on the cluster) and skips it the next time."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_airgap import COLLECTIONS, IMPORT_PLAYBOOK, ROOT, chart_tgz, make_signer, playbook

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "images" / "registry"))

import imagetools as it  # noqa: E402

pytestmark = pytest.mark.skipif(not it.LocalRegistry.available() or not os.path.exists("/usr/bin/skopeo")
                                or not shutil.which("ssh-keygen"),
                                reason="needs Debian's docker-registry, skopeo and ssh-keygen")

EXPORT = ROOT / "playbooks" / "airgap_export.yml"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One image in a "connected" registry, a packaged chart, a signing key, and the export variables."""
    work = tmp_path_factory.mktemp("signing")
    source = it.LocalRegistry(str(work / "source")).start()
    try:
        layer = it.Layer.from_bytes(it.tar_bytes({"app/bin": os.urandom(50000)}), str(work))
        ref = "%s/team/signed:1.0" % source.address
        archive = str(work / "app.tar")
        it.write_docker_archive(archive, [ref], [layer])
        assert it.run_module(COLLECTIONS, "aistack.platform.image_import",
                             dict(src=archive, target="registry", registry=source.address))["changed"] is True
        chart = work / "demo-0.1.0.tgz"
        chart_tgz(str(chart))
        signer = make_signer(work)
        bundle = work / "bundle"
        export_vars = dict(aistack_images=[ref], airgap_image_vars=[], airgap_bootstrap_images=[],
                           aistack_charts=[dict(name="demo", version="0.1.0", path=str(chart))],
                           aistack_bundle_dir=str(bundle), airgap_export_tls_verify=False, airgap_k3s_release=False,
                           airgap_signing_key=signer["key"])
        runs = []
        for check in (True, False, True, False):
            proc = playbook(EXPORT, export_vars, check=check)
            assert proc.returncode == 0, proc.stdout[-4000:]
            runs.append(proc.recap["changed"])
            if not runs[1:]:
                assert not bundle.exists(), "check mode wrote the bundle"
        yield dict(work=work, bundle=bundle, signer=signer, ref=ref, runs=runs, export_vars=export_vars)
    finally:
        source.stop()


@pytest.fixture
def site(tmp_path):
    registry = it.LocalRegistry(str(tmp_path / "site")).start()
    yield registry
    registry.stop()


def run_import(tmp_path, bundle, site, signers, **extra):
    pb = tmp_path / "import.yml"
    pb.write_text(IMPORT_PLAYBOOK)
    extra_vars = dict(aistack_bundle_dir=str(bundle), aistack_registry=site.address, aistack_registry_project="site",
                      aistack_charts_dir=str(tmp_path / "charts"), airgap_trusted_signers=signers,
                      airgap_receipt_configmap="", airgap_receipt_file=str(tmp_path / "receipt.json"))
    extra_vars.update(extra)
    return playbook(pb, extra_vars)


def copy_bundle(exported, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(str(exported["bundle"]), str(copy))
    return copy


def assert_refused(proc, site, tmp_path, *words):
    assert proc.returncode != 0, proc.stdout[-3000:]
    for word in words:
        assert word in proc.stdout, (word, proc.stdout[-3000:])
    assert site.all_tags() == []
    assert not (tmp_path / "charts").exists()


def test_export_signs_once_check_apply_check_apply(exported):
    runs = exported["runs"]
    assert runs[0] > 0 and runs[1] > 0 and runs[2] == 0 and runs[3] == 0, runs
    bundle, signer = exported["bundle"], exported["signer"]
    sums = (bundle / "SHA256SUMS").read_text()
    assert "  manifest.json\n" in sums and "  charts/demo-0.1.0.tgz\n" in sums
    allowed = bundle.parent / "allowed"
    allowed.write_text('build namespaces="aistack-bundle" %s\n' % signer["pub"])
    with open(str(bundle / "SHA256SUMS"), "rb") as data:
        verified = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", "build", "-n",
                                   "aistack-bundle", "-s", str(bundle / "SHA256SUMS.sig")], stdin=data,
                                  capture_output=True, text=True, check=False)
    assert verified.returncode == 0 and signer["fingerprint"] in verified.stdout, verified


def test_signature_is_renewed_when_it_no_longer_verifies(exported, tmp_path):
    bundle = copy_bundle(exported, tmp_path)
    (bundle / "SHA256SUMS.sig").write_text("damaged\n")
    proc = playbook(EXPORT, dict(exported["export_vars"], aistack_bundle_dir=str(bundle)))
    assert proc.returncode == 0 and proc.recap["changed"] == 1, proc.stdout[-3000:]
    assert "Sign SHA256SUMS with airgap_signing_key" in proc.stdout
    assert (bundle / "SHA256SUMS.sig").read_text() != "damaged\n"


def test_untrusted_signer_refused(exported, tmp_path, site):
    other = make_signer(tmp_path, "other")
    proc = run_import(tmp_path, exported["bundle"], site, [other["trusted"]])
    assert_refused(proc, site, tmp_path, "which this site does not trust", exported["signer"]["fingerprint"],
                   "add its public key line to airgap_trusted_signers")


def test_unsigned_bundle_refused(exported, tmp_path, site):
    bundle = copy_bundle(exported, tmp_path)
    (bundle / "SHA256SUMS.sig").unlink()
    proc = run_import(tmp_path, bundle, site, [exported["signer"]["trusted"]])
    assert_refused(proc, site, tmp_path, "is not signed (no SHA256SUMS.sig)", "airgap_signing_key")


def test_tampered_part_with_recomputed_sums_refused(exported, tmp_path, site):
    """The part is changed and SHA256SUMS recomputed to match it: the signature over SHA256SUMS catches it."""
    bundle = copy_bundle(exported, tmp_path)
    manifest = json.loads((bundle / "manifest.json").read_text())
    part = manifest["images"][0]["file"]
    data = bytearray((bundle / part).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bundle / part).write_bytes(bytes(data))
    sums = subprocess.run(["sha256sum", "manifest.json", "charts/demo-0.1.0.tgz", part], cwd=str(bundle),
                          capture_output=True, text=True, check=True).stdout
    (bundle / "SHA256SUMS").write_text(sums)
    proc = run_import(tmp_path, bundle, site, [exported["signer"]["trusted"]])
    assert_refused(proc, site, tmp_path, "does not match its signature by build",
                   "the bundle was changed after it was signed")


def test_bad_trusted_signers_refused_before_reading_the_bundle(exported, tmp_path, site):
    proc = run_import(tmp_path, tmp_path / "no-bundle", site,
                      [exported["signer"]["trusted"], dict(name="ops", key="ssh-ed25519 nope")])
    assert_refused(proc, site, tmp_path, "airgap_trusted_signers[1]: the key is not valid base64", "Fix: ")
    proc = run_import(tmp_path, tmp_path / "no-bundle", site, [])
    assert_refused(proc, site, tmp_path, "airgap_trusted_signers is empty and airgap_require_signature is true")


def receipt_store(receipt, store):
    return receipt["stores"][store]["files"]


def test_good_bundle_imports_and_its_receipt_skips_it_next_time(exported, tmp_path, site):
    signers = [exported["signer"]["trusted"]]
    proc = run_import(tmp_path, exported["bundle"], site, signers)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert proc.recap["changed"] > 0
    assert site.all_tags() == ["site/team/signed:1.0"]
    assert (tmp_path / "charts" / "demo-0.1.0.tgz").exists()
    manifest = json.loads((exported["bundle"] / "manifest.json").read_text())
    (image,) = manifest["images"]
    store = "registry/%s/site" % site.address
    receipt = json.loads((tmp_path / "receipt.json").read_text())
    assert list(receipt_store(receipt, store)) == [image["sha256"]]
    record = receipt_store(receipt, store)[image["sha256"]]
    assert record["file"] == image["file"]
    assert [i["reference"] for i in record["images"]] == ["%s/site/team/signed:1.0" % site.address]
    assert record["images"][0]["digest"].startswith("sha256:")
    # by digest too (aistack-receipt/v2): the image's manifest digest and its blobs (config and layer)
    assert receipt["format"] == "aistack-receipt/v2"
    (recorded,) = receipt["stores"][store]["images"].values()
    assert recorded["digest"] == record["images"][0]["digest"] and len(recorded["blobs"]) == 2

    # again: the receipt says the registry holds the archive, so image_import is not even called
    again = run_import(tmp_path, exported["bundle"], site, signers)
    assert again.returncode == 0 and again.recap["changed"] == 0, again.stdout[-3000:]
    assert "Import into the site registry" not in again.stdout, again.stdout[-3000:]
    assert "Import into the site registry" in proc.stdout  # (the first run did call it)

    # negative control: another registry is another store, which the receipt does not cover
    other = it.LocalRegistry(str(tmp_path / "other")).start()
    try:
        proc = run_import(tmp_path, exported["bundle"], other, signers)
        assert proc.returncode == 0 and proc.recap["changed"] > 0, proc.stdout[-3000:]
        assert other.all_tags() == ["site/team/signed:1.0"]
    finally:
        other.stop()
    receipt = json.loads((tmp_path / "receipt.json").read_text())
    assert sorted(receipt["stores"]) == sorted("registry/%s/site" % r.address for r in (site, other))


def test_receipt_configmap_in_the_cluster(exported, tmp_path, site, namespace, kubectl):
    """The receipt in a ConfigMap of the cluster: written by the first import, read by the second."""
    kubectl("create", "namespace", namespace)
    signers = [exported["signer"]["trusted"]]
    runs = []
    for _unused in range(2):
        proc = run_import(tmp_path, exported["bundle"], site, signers, airgap_receipt_file="",
                          airgap_receipt_configmap="airgap-receipt", airgap_receipt_namespace=namespace)
        assert proc.returncode == 0, proc.stdout[-3000:]
        runs.append(proc.recap["changed"])
    assert runs[0] > 0 and runs[1] == 0, runs
    data = kubectl("get", "configmap", "airgap-receipt", "-n", namespace, "-o",
                   "jsonpath={.data.receipt\\.json}").stdout
    records = receipt_store(json.loads(data), "registry/%s/site" % site.address)
    assert [i["reference"] for r in records.values() for i in r["images"]] == ["%s/site/team/signed:1.0" % site.address]
    images = json.loads(data)["stores"]["registry/%s/site" % site.address]["images"]
    assert [len(i["blobs"]) for i in images.values()] == [2]  # by digest, in the cluster too
