# -*- coding: utf-8 -*-
"""Delta archives, parts and the receipt-aware import target, on archives written here and a fake registry
(the real registry and the airgap role: tests/integration/test_airgap_delta.py)."""

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "images", "registry"))
sys.path.insert(0, os.path.dirname(__file__))

import imagetools as it  # noqa: E402

from test_image_importer import FakeRegistry  # noqa: E402

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError  # noqa: E402
from ansible_collections.aistack.platform.plugins.module_utils.images import bundle  # noqa: E402
from ansible_collections.aistack.platform.plugins.module_utils.images import importer as imp  # noqa: E402
from ansible_collections.aistack.platform.plugins.module_utils.images import receipt as receipts  # noqa: E402


def _two_versions(tmp_path, compression="none"):
    """app:1 and app:2 share a base layer; app:2 has its own second layer."""
    base = it.Layer.from_bytes(it.tar_bytes({"base": os.urandom(40000)}), str(tmp_path))
    one = it.Layer.from_bytes(it.tar_bytes({"app": b"1" * 3000}), str(tmp_path))
    two = it.Layer.from_bytes(it.tar_bytes({"app": b"2" * 3000}), str(tmp_path))
    v1 = str(tmp_path / ("app1" + it.SUFFIX[compression]))
    v2 = str(tmp_path / ("app2" + it.SUFFIX[compression]))
    it.write_oci_archive(v1, "docker.io/team/app:1", [base, one], compression)
    it.write_docker_archive(v2, ["docker.io/team/app:2"], [base, two], compression)
    return base, one, two, v1, v2


@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_delta_leaves_out_the_known_layers_and_is_idempotent(tmp_path, compression):
    base, _one, two, _v1, v2 = _two_versions(tmp_path)
    dest = str(tmp_path / "delta.tar")
    known = ["sha256:" + base.digest, "sha256:" + "f" * 64]
    check = bundle.write_delta(v2, dest, known, compression, check_mode=True)
    assert check["changed"] and not os.path.exists(dest)
    first = bundle.write_delta(v2, dest, known, compression)
    assert first["changed"] and first["omitted"] == ["sha256:" + base.digest]
    assert first["carried"] == ["sha256:" + two.digest]
    assert first["size"] < base.size
    again = bundle.write_delta(v2, dest, known, compression)
    assert not again["changed"]
    # the delta parses only when its omitted layers are declared, and gives the full archive's manifest digest
    with pytest.raises(AistackError, match="missing from the archive"):
        imp.load_sources(dest)
    ((_index, (image,)),) = imp.load_sources(dest, omitted={"sha256:" + base.digest})
    ((_index, (full,)),) = imp.load_sources(v2)
    assert image.digest == full.digest and image.ref == "docker.io/team/app:2"
    # another base rewrites it
    assert bundle.write_delta(v2, dest, [], compression)["changed"]
    assert bundle.write_delta(v2, dest, [], compression)["omitted"] == []


def _receipt_for(fake, store, target):
    repo = receipts.repository(target)
    blobs = sorted(d for (r, d) in fake.blobs if r == repo)
    return {"format": "aistack-receipt/v2", "stores": {store: {"files": {}, "images": {
        target: {"digest": fake.manifests[(repo, target.rsplit(":", 1)[1])], "blobs": blobs}}}}}


def test_receipt_target_mounts_omitted_layers_from_a_repository_the_receipt_names(tmp_path):
    base, _one, _two, v1, v2 = _two_versions(tmp_path)
    fake = FakeRegistry()
    store = "registry/fake:5000/p"
    imp.import_images(imp.RegistryTarget(fake, "fake:5000", "p"), imp.load_sources(v1))
    receipt = _receipt_for(fake, store, "fake:5000/p/team/app:1")
    delta = str(tmp_path / "delta.tar")
    omitted = bundle.write_delta(v2, delta, receipts.base_blobs(receipt))["omitted"]
    assert omitted == ["sha256:" + base.digest]
    # into another repository (flatten: p/app), where the base layer is not: it is mounted from p/team/app
    fake.calls = []
    target = receipts.ReceiptTarget(imp.RegistryTarget(fake, "fake:5000", "p", flatten=True), receipt, store, omitted)
    changed, results = imp.import_images(target, imp.load_sources(delta, omitted=set(omitted)))
    assert changed and results[0]["reference"] == "fake:5000/p/app:2"
    assert ("mount", "p/app", "sha256:" + base.digest) in fake.calls
    assert not [c for c in fake.calls if c[0] == "push" and c[2] == "sha256:" + base.digest]
    # the receipt says app:2 is there now: skipped without a single call
    receipt["stores"][store]["images"]["fake:5000/p/app:2"] = {"digest": results[0]["digest"], "blobs": []}
    fake.calls = []
    target = receipts.ReceiptTarget(imp.RegistryTarget(fake, "fake:5000", "p", flatten=True), receipt, store, omitted)
    changed, results = imp.import_images(target, imp.load_sources(delta, omitted=set(omitted)))
    assert not changed and results[0]["action"] == "skipped" and fake.calls == []


def test_an_omitted_layer_the_target_lacks_fails_before_any_write(tmp_path):
    base, _one, _two, _v1, v2 = _two_versions(tmp_path)
    delta = str(tmp_path / "delta.tar")
    omitted = bundle.write_delta(v2, delta, ["sha256:" + base.digest])["omitted"]
    fake = FakeRegistry()
    target = receipts.ReceiptTarget(imp.RegistryTarget(fake, "fake:5000", "p"), None, "registry/fake:5000/p", omitted)
    with pytest.raises(AistackError) as err:
        imp.import_images(target, imp.load_sources(delta, omitted=set(omitted)))
    text = str(err.value)
    assert text.startswith("omitted_blobs: ") and "sha256:" + base.digest in text
    assert "export a full bundle" in text and "stale" in text
    assert fake.calls == []


def test_split_and_join(tmp_path):
    src = tmp_path / "big.tar"
    src.write_bytes(os.urandom((1 << 20) * 2 + 1234))
    prefix = str(tmp_path / "out" / "big.tar")
    os.makedirs(os.path.dirname(prefix))
    size = bundle.parse_size("1MiB")
    assert size == 1 << 20 and bundle.parse_size("2GiB") == 2 << 30 and bundle.parse_size(5 << 20) == 5 << 20
    for bad in ("two", "10KiB", ""):
        with pytest.raises(AistackError):
            bundle.parse_size(bad)
    first = bundle.split_file(str(src), prefix, size)
    assert first["changed"] and [p["size"] for p in first["parts"]] == [1 << 20, 1 << 20, 1234]
    assert not bundle.split_file(str(src), prefix, size)["changed"]
    parts = [dict(file=os.path.relpath(p["path"], str(tmp_path)), sha256=p["sha256"], size=p["size"])
             for p in first["parts"]]
    dest = str(tmp_path / "joined" / "big.tar")
    assert bundle.join_parts(parts, str(tmp_path), dest, first["sha256"])["changed"]
    assert open(dest, "rb").read() == src.read_bytes()
    assert not bundle.join_parts(parts, str(tmp_path), dest, first["sha256"])["changed"]
    # a damaged part and a missing one are both named; nothing is joined
    os.unlink(dest)
    with open(first["parts"][1]["path"], "r+b") as handle:
        handle.seek(100)
        handle.write(b"X")
    os.unlink(first["parts"][2]["path"])
    with pytest.raises(AistackError) as err:
        bundle.join_parts(parts, str(tmp_path), dest, first["sha256"])
    assert "big.tar.part001 (sha256 differs" in str(err.value) and "big.tar.part002 (missing)" in str(err.value)
    assert "copy only the part(s) named again" in str(err.value) and not os.path.exists(dest)
    # splitting again rewrites only those two; a bigger part size removes the extra parts
    again = bundle.split_file(str(src), prefix, size)
    assert again["changed"] and bundle.check_parts(parts, str(tmp_path)) == []
    fewer = bundle.split_file(str(src), prefix, 4 << 20)
    assert [os.path.basename(p) for p in fewer["removed"]] == ["big.tar.part001", "big.tar.part002"]
    assert sorted(os.listdir(os.path.dirname(prefix))) == ["big.tar.part000"]


def test_delta_member_records_what_it_is_made_of(tmp_path):
    base, _one, _two, _v1, v2 = _two_versions(tmp_path)
    dest = str(tmp_path / "d.tar")
    bundle.write_delta(v2, dest, ["sha256:" + base.digest])
    key = json.loads(bundle.existing_key(dest))
    assert key["format"] == "aistack-delta/v1" and key["omitted"] == ["sha256:" + base.digest]
    assert key["images"][0][0] == "docker.io/team/app:2"


class _Response(object):
    def __init__(self, status, body, link=None):
        self.status_code, self._body, self.text = status, body, json.dumps(body)
        self.headers = {"Link": link} if link else {}

    def json(self):
        return self._body


class _ListingClient(object):
    registry = "reg:5000"
    base = "http://reg:5000"

    def __init__(self):
        self.pages = {
            "/v2/_catalog?n=1000": _Response(200, {"repositories": ["other/x", "site/a"]},
                                             '</v2/_catalog?last=site%2Fa&n=1000>; rel="next"'),
            "/v2/_catalog?last=site%2Fa&n=1000": _Response(200, {"repositories": ["site/b"]}),
            "/v2/site/a/tags/list?n=1000": _Response(200, {"name": "site/a", "tags": ["1", "2"]}),
            "/v2/site/b/tags/list?n=1000": _Response(404, {"errors": []}),
        }

    def request(self, method, path, repo=None):
        assert method == "GET"
        return self.pages[path]

    def manifest_digest(self, repo, tag):
        return "sha256:" + (repo[-1] + tag) * 32


def test_registry_inventory_follows_pages_and_keeps_the_project():
    from ansible_collections.aistack.platform.plugins.module_utils.images import inventory
    held = inventory.registry_images(_ListingClient(), "reg:5000", "site")
    assert held == {"reg:5000/site/a:1": "sha256:" + "a1" * 32, "reg:5000/site/a:2": "sha256:" + "a2" * 32}
    client = _ListingClient()
    client.pages["/v2/other/x/tags/list?n=1000"] = _Response(200, {"name": "other/x", "tags": ["9"]})
    assert sorted(inventory.registry_images(client, "reg:5000")) == [
        "reg:5000/other/x:9", "reg:5000/site/a:1", "reg:5000/site/a:2"]


def test_registry_inventory_names_the_listing_refusal():
    from ansible_collections.aistack.platform.plugins.module_utils.images import inventory
    client = _ListingClient()
    client.pages["/v2/_catalog?n=1000"] = _Response(401, {"errors": [{"code": "UNAUTHORIZED"}]})
    with pytest.raises(AistackError) as err:
        inventory.registry_images(client, "reg:5000", "site")
    assert str(err.value).startswith("registry: ") and "HTTP 401" in str(err.value)
