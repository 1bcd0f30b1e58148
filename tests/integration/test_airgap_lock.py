# -*- coding: utf-8 -*-
"""The bundle's image lockfile with real tools and no cluster (issue 18): the export writes images.lock.json (each
image's manifest digest, read from its archive) into the signed bundle; the import checks the site registry's tags
against it, whoever pushed them. The pods of a site checked against it: test_airgap.py::test_site_yml_offline."""

import json
import os
import shutil
import subprocess

import pytest

from test_airgap import IMPORT_PLAYBOOK, ROOT, COLLECTIONS, make_signer, playbook
# the "connected" and "site" registries fixture
from test_airgap import registries  # noqa: F401  # pylint: disable=unused-import

import imagetools as it  # noqa: E402  # tests/images/registry, put on the path by test_airgap

pytestmark = pytest.mark.skipif(not it.LocalRegistry.available() or not os.path.exists("/usr/bin/skopeo")
                                or not shutil.which("ssh-keygen"),
                                reason="needs Debian's docker-registry, skopeo and ssh-keygen")


def _push(tmp_path, registry, ref, payload):
    """An image named ``ref`` with one layer of ``payload`` pushed to ``registry``; its manifest digest there."""
    work = tmp_path / ("layers-%s" % os.urandom(4).hex())
    work.mkdir()
    layer = it.Layer.from_bytes(it.tar_bytes({"app/data": payload}), str(work))
    archive = str(work / "image.tar")
    it.write_docker_archive(archive, [ref], [layer])
    res = it.run_module(COLLECTIONS, "aistack.platform.image_import",
                        dict(src=archive, target="registry", registry=registry.address))
    assert res["changed"] is True, res
    return res["images"][0]["digest"]


def _skopeo_digest(ref):
    return subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}", "docker://" + ref],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_the_lockfile_locks_what_the_site_registry_serves(tmp_path, registries):  # noqa: F811
    source, site = registries
    refs = ["%s/team/app:1.0" % source.address, "%s/team/tool:2.0" % source.address]
    for ref in refs:
        _push(tmp_path, source, ref, os.urandom(5000))
    bundle = tmp_path / "bundle"
    signer = make_signer(tmp_path)
    export_vars = dict(airgap_signing_key=signer["key"], aistack_images=refs, airgap_bootstrap_images=[],
                       aistack_charts=[], aistack_bundle_dir=str(bundle), airgap_export_tls_verify=False,
                       airgap_k3s_release=False, aistack_site="plant-a")
    first = playbook(ROOT / "playbooks" / "airgap_export.yml", export_vars)
    assert first.returncode == 0, first.stdout[-4000:]
    second = playbook(ROOT / "playbooks" / "airgap_export.yml", export_vars)
    assert second.returncode == 0 and second.recap["changed"] == 0, second.stdout[-4000:]

    # each image's digest as exported (skopeo gzips the source's uncompressed layers into the OCI archive, so
    # not the connected registry's digest: the one the site will serve and run); in SHA256SUMS, named by the manifest
    lock = json.loads((bundle / "images.lock.json").read_text())
    assert lock["format"] == "aistack-images-lock/v1" and lock["site"] == "plant-a"
    assert sorted(lock["images"]) == sorted(refs)
    assert all(len(d) == 71 and d.startswith("sha256:") for d in lock["images"].values())
    assert lock["images"][refs[0]] != _skopeo_digest(refs[0])
    assert "images.lock.json" in (bundle / "SHA256SUMS").read_text().split()
    assert json.loads((bundle / "manifest.json").read_text())["lock"]["file"] == "images.lock.json"

    # on site, the import pushes the images and finds every tag at its locked digest
    source.stop()
    import_pb = tmp_path / "import.yml"
    import_pb.write_text(IMPORT_PLAYBOOK)
    import_vars = dict(aistack_bundle_dir=str(bundle), aistack_registry=site.address, aistack_registry_project="site",
                       aistack_charts_dir=str(tmp_path / "charts"), airgap_trusted_signers=[signer["trusted"]],
                       airgap_receipt_configmap="", airgap_receipt_file=str(tmp_path / "receipt.json"))
    proc = playbook(import_pb, import_vars)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "Check the site registry's tags against the bundle's lockfile" in proc.stdout
    for ref, digest in lock["images"].items():
        assert _skopeo_digest(ref.replace(source.address, site.address + "/site")) == digest

    # someone pushes another image under a locked tag; the next import pushes nothing (its receipt records the
    # archives) and stops, naming the image, both digests and the fix
    moved = refs[0].replace(source.address, site.address + "/site")
    other = _push(tmp_path, site, moved, os.urandom(5000))
    assert other != lock["images"][refs[0]]
    proc = playbook(import_pb, import_vars)
    assert proc.returncode != 0
    for text in (refs[0], moved, other, lock["images"][refs[0]], "airgap_receipt_skip=false"):
        assert text in proc.stdout, (text, proc.stdout[-4000:])
    # the fix it names: import everything again
    proc = playbook(import_pb, dict(import_vars, airgap_receipt_skip=False))
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert _skopeo_digest(moved) == lock["images"][refs[0]]

    # a lockfile changed after signing is refused with the bundle, before anything is imported
    (bundle / "images.lock.json").write_text(json.dumps(dict(lock, images={refs[0]: other})))
    proc = playbook(import_pb, import_vars)
    assert proc.returncode != 0 and "images.lock.json" in proc.stdout, proc.stdout[-3000:]
