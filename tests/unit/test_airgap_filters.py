# -*- coding: utf-8 -*-
"""Unit tests for plugins/module_utils/filters/airgap.py and the airgap filters: trusted signers, bundle
signatures (read from real ssh-keygen output where ssh-keygen is installed) and what SHA256SUMS lists."""

from __future__ import absolute_import, division, print_function

import json
import shutil
import subprocess

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.aistack.platform.plugins.filter.airgap import FilterModule
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.filters import airgap

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA41kvsbWd2NPaTEFgPCcLCuuSgmtGR5fCj1X4DLSVZZ ops@x"
ED25519_FP = "SHA256:zUvOZPPhgQDE6TFWrf7bi512B1gxomZgt1tTUn+3MpY"
ECDSA = ("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBP+GUHi82cmG0F8vbCsDQ3CZKTkYuRlO+"
         "twn5aJnN5GYT42F1gt3GeiYVV/bLIVOqR1lN2YUMTEZDHXA7QSNVQM= e")
ECDSA_FP = "SHA256:Y4MtK9qFwDHhtz/6RHrPoqa7T0raJwByB4Nm9RbX4aU"
SUM = "a" * 64
FILTERS = FilterModule().filters()
needs_ssh_keygen = pytest.mark.skipif(not shutil.which("ssh-keygen"), reason="needs ssh-keygen (openssh-client)")


# --- one signer -------------------------------------------------------------------------------------------------

def test_signer_from_a_dict_and_from_a_line():
    signer = airgap.bundle_signer({"name": "build", "key": ED25519})
    assert signer == dict(name="build", type="ssh-ed25519", key=ED25519.split()[1], comment="ops@x",
                          fingerprint=ED25519_FP, line=" ".join(ED25519.split()[:2]))
    assert airgap.bundle_signer(ED25519)["name"] == "ops@x"
    assert airgap.bundle_signer({"key": ECDSA})["fingerprint"] == ECDSA_FP


@pytest.mark.parametrize("entry, words", [
    ({"name": "ops"}, "has no key"),
    ({"name": "ops", "key": ED25519, "keys": []}, "unknown key(s) keys"),
    ({"name": "ops", "key": "ssh-dss AAAAB3NzaC1kc3MAAACBAP"}, "cannot sign"),
    ({"name": "ops", "key": "ssh-ed25519 not*base64"}, "not valid base64"),
    ({"name": "ops", "key": "ssh-ed25519"}, "not an SSH public key line"),
    ({"name": "ops", "key": "ssh-rsa " + ED25519.split()[1]}, "its data is a ssh-ed25519 key"),
    ({"name": "two words", "key": ED25519}, "not a plain name"),
    ({"name": "a,b", "key": ED25519}, "not a plain name"),
    (" ".join(ED25519.split()[:2]), "not a plain name"),  # a bare line without comment has no name
    (42, "not int"),
])
def test_bad_signer_names_field_and_fix(entry, words):
    with pytest.raises(AistackError) as err:
        airgap.bundle_signer(entry, field="airgap_trusted_signers[3]")
    assert words in str(err.value)
    assert str(err.value).startswith("airgap_trusted_signers[3]: ") and "Fix: " in str(err.value)


def test_filter_turns_the_error_into_an_ansible_error():
    with pytest.raises(AnsibleFilterError, match="has no key"):
        FILTERS["airgap_bundle_signer"]({"name": "ops"})


# --- the trusted list ---------------------------------------------------------------------------------------------

def test_valid_signers_have_no_problems():
    assert airgap.signers_problems([{"name": "a", "key": ED25519}, ECDSA]) == []
    assert airgap.signers_problems([], require_signature=False) == []
    assert airgap.signers_problems(None, require_signature=False) == []


def test_empty_list_while_required_says_how_to_fix():
    (problem,) = airgap.signers_problems([])
    assert problem.startswith("airgap_trusted_signers is empty") and "airgap_require_signature: false" in problem


def test_each_bad_entry_and_duplicates_are_named():
    problems = airgap.signers_problems([{"name": "a", "key": ED25519}, {"name": "b"}, {"name": "a", "key": ECDSA},
                                        {"name": "c", "key": ED25519}])
    assert problems == [
        "airgap_trusted_signers[1]: the entry has no key. Fix: " + airgap.ENTRY_FIX,
        "airgap_trusted_signers[2]: the same name as airgap_trusted_signers[0] (a). Fix: keep one entry per signer.",
        "airgap_trusted_signers[3]: the same key as airgap_trusted_signers[0] (%s). Fix: keep one entry per signer."
        % ED25519_FP,
    ]
    assert airgap.signers_problems("ssh-ed25519 AAAA")[0].startswith("airgap_trusted_signers must be a list")


def test_allowed_signers_file():
    text = airgap.allowed_signers([{"name": "a", "key": ED25519}, ECDSA], "aistack-bundle")
    assert text == ('a namespaces="aistack-bundle" %s\ne namespaces="aistack-bundle" %s\n'
                    % (" ".join(ED25519.split()[:2]), " ".join(ECDSA.split()[:2])))
    with pytest.raises(AistackError, match="airgap_signature_namespace"):
        airgap.allowed_signers([ED25519], 'x" y')


# --- signatures, from real ssh-keygen -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    if not shutil.which("ssh-keygen"):
        pytest.skip("needs ssh-keygen (openssh-client)")
    work = tmp_path_factory.mktemp("sig")
    key = work / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "build@example", "-f", str(key)], check=True)
    payload = work / "SHA256SUMS"
    payload.write_text("%s  manifest.json\n" % SUM)
    subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", str(key), "-n", "aistack-bundle", str(payload)],
                   check=True)
    printed = subprocess.run(["ssh-keygen", "-lf", str(key) + ".pub"], check=True, capture_output=True,
                             text=True).stdout.split()[1]
    return dict(pub=(work / "key.pub").read_text().strip(), sig=(work / "SHA256SUMS.sig").read_text(),
                fingerprint=printed)


@needs_ssh_keygen
def test_fingerprints_match_ssh_keygen(signed):
    assert airgap.bundle_signer(signed["pub"])["fingerprint"] == signed["fingerprint"]
    assert FILTERS["airgap_signature_fingerprint"](signed["sig"]) == signed["fingerprint"]
    info = airgap.signature_info(signed["sig"])
    assert info == dict(fingerprint=signed["fingerprint"], type="ssh-ed25519", namespace="aistack-bundle",
                        hash_algorithm="sha512")


@needs_ssh_keygen
def test_the_trusted_signer_is_found(signed):
    signers = [{"name": "other", "key": ED25519}, {"name": "build", "key": signed["pub"]}]
    assert airgap.signature_signer(signed["sig"], signers, "aistack-bundle")["name"] == "build"


@needs_ssh_keygen
def test_an_untrusted_signer_is_refused_with_its_fingerprint_and_the_fix(signed):
    with pytest.raises(AistackError) as err:
        airgap.signature_signer(signed["sig"], [{"name": "other", "key": ED25519}], "aistack-bundle")
    text = str(err.value)
    assert "which this site does not trust" in text and signed["fingerprint"] in text
    assert text.startswith("airgap_trusted_signers: ") and "add its public key line to airgap_trusted_signers" in text
    with pytest.raises(AistackError, match="does not trust"):
        airgap.signature_signer(signed["sig"], [], "aistack-bundle")


@needs_ssh_keygen
def test_another_namespace_is_refused(signed):
    with pytest.raises(AistackError, match="airgap_signature_namespace: the bundle is signed for namespace"):
        airgap.signature_signer(signed["sig"], [signed["pub"]], "other-ns")


@pytest.mark.parametrize("text, words", [
    ("", "no -----BEGIN SSH SIGNATURE----- armor"),
    ("hello", "no -----BEGIN SSH SIGNATURE----- armor"),
    ("%s\n%s\n%s" % (airgap.SIG_BEGIN, "bm90IGEgc2lnbmF0dXJl", airgap.SIG_END), "no SSHSIG magic"),
    ("%s\n%s\n%s" % (airgap.SIG_BEGIN, "U1NIU0lHAAAAAQAAAP8=", airgap.SIG_END), "truncated public key"),
    ("%s\n%s\n%s" % (airgap.SIG_BEGIN, "U1NIU0lHAAAAAg==", airgap.SIG_END), "unknown version 2"),
    ("%s\n%s\n%s" % (airgap.SIG_BEGIN, "***", airgap.SIG_END), "not a readable SSH signature"),
])
def test_what_is_no_signature(text, words):
    with pytest.raises(AistackError, match="export the bundle again") as err:
        airgap.signature_fingerprint(text)
    assert words in str(err.value)


# --- SHA256SUMS ------------------------------------------------------------------------------------------------------

def test_sums_files_in_order():
    text = "%s  manifest.json\n\n%s *images/a b.tar\n%s  charts/c-1.tgz\n" % (SUM, SUM, SUM)
    assert FILTERS["airgap_sums_files"](text) == ["manifest.json", "images/a b.tar", "charts/c-1.tgz"]
    assert airgap.sums_files("") == []


@pytest.mark.parametrize("line, words", [
    ("%s manifest.json" % SUM, "is not '<sha256>  <path>'"),
    ("xyz  manifest.json", "is not '<sha256>  <path>'"),
    ("%s  " % SUM, "is not '<sha256>  <path>'"),
    ("%s  /etc/passwd" % SUM, "outside the bundle"),
    ("%s  images/../../x" % SUM, "outside the bundle"),
])
def test_bad_sums_lines(line, words):
    with pytest.raises(AistackError) as err:
        airgap.sums_files("%s  ok\n%s\n" % (SUM, line))
    assert "line 2" in str(err.value) and words in str(err.value)


def test_sums_must_cover_the_manifest_and_its_files():
    manifest = {"images": [{"file": "images/a.tar"}], "charts": [{"file": "charts/c-1.tgz"}],
                "k3s": [{"file": "k3s/v1/k3s"}]}
    full = "".join("%s  %s\n" % (SUM, f) for f in ("manifest.json", "images/a.tar", "charts/c-1.tgz", "k3s/v1/k3s"))
    assert FILTERS["airgap_sums_problems"](full, manifest) == []
    partial = "%s  images/a.tar\n%s  k3s/v1/k3s\n" % (SUM, SUM)
    assert airgap.sums_problems(partial, manifest) == [
        "SHA256SUMS does not list manifest.json, so the signature does not cover the manifest.",
        "SHA256SUMS does not list charts/c-1.tgz (charts of the manifest).",
    ]


# --- import receipts -------------------------------------------------------------------------------------------------

IMAGES = [{"ref": "r/a:1", "file": "images/a.tar", "sha256": "1" * 64, "bootstrap": False},
          {"ref": "r/b:2", "file": "images/b.tar", "sha256": "2" * 64, "bootstrap": False}]
STORE = "registry/localhost:30500/aistack"


def _result(entry, digest):
    return {"images": [{"file": "/srv/bundle/" + entry["file"], "reference": "localhost:30500/aistack/" + entry["ref"],
                        "digest": digest, "action": "imported"}]}


def test_no_receipt_means_everything_is_pending():
    for nothing in (None, "", {}):
        assert airgap.receipt_pending(nothing, STORE, IMAGES) == IMAGES


def test_update_records_per_store_and_pending_skips_it():
    receipt = FILTERS["airgap_receipt_update"](None, STORE, IMAGES[:1], [_result(IMAGES[0], "sha256:" + "a" * 64)])
    assert receipt == {"format": "aistack-receipt/v2", "stores": {STORE: {"files": {"1" * 64: {
        "file": "images/a.tar",
        "images": [{"reference": "localhost:30500/aistack/r/a:1", "digest": "sha256:" + "a" * 64}]}},
        "images": {"localhost:30500/aistack/r/a:1": {
            "digest": "sha256:" + "a" * 64, "source": "r/a:1", "blobs": [], "manifests": []}}}}}
    assert FILTERS["airgap_receipt_pending"](receipt, STORE, IMAGES) == IMAGES[1:]
    # the same archive under another name is known by its sha256; another store knows nothing
    renamed = [dict(IMAGES[0], file="images/renamed.tar")]
    assert airgap.receipt_pending(receipt, STORE, renamed) == []
    assert airgap.receipt_pending(receipt, "containerd/node1", IMAGES) == IMAGES
    # as JSON text (a ConfigMap's data) it reads the same
    assert airgap.receipt_pending(json.dumps(receipt), STORE, IMAGES) == IMAGES[1:]
    both = airgap.receipt_update(json.dumps(receipt), STORE, IMAGES[1:], [_result(IMAGES[1], "sha256:" + "b" * 64)])
    assert sorted(both["stores"][STORE]["files"]) == ["1" * 64, "2" * 64]
    assert airgap.receipt_pending(both, STORE, IMAGES) == []


def test_an_entry_without_a_result_is_not_recorded():
    receipt = airgap.receipt_update(None, STORE, IMAGES, [_result(IMAGES[0], "sha256:x"), {"skipped": True}])
    assert list(receipt["stores"][STORE]["files"]) == ["1" * 64]


@pytest.mark.parametrize("bad", ["not json", "[]", '{"format": "other", "stores": {}}', {"format": "aistack-receipt/v1"},
                                 {"format": "aistack-receipt/v2", "stores": {"s": []}}])
def test_a_foreign_receipt_is_refused_with_the_fix(bad):
    with pytest.raises(AistackError) as err:
        airgap.receipt_pending(bad, STORE, IMAGES)
    assert str(err.value).startswith("airgap_receipt: ") and "delete the receipt" in str(err.value)


# --- receipts by digest (v2), delta bases, drift -------------------------------------------------------------------

D = dict((name, "sha256:" + name * 64) for name in "abcdef")


def _v2_result(entry, reference, digest, blobs):
    return {"images": [{"file": "/srv/bundle/" + entry["file"], "reference": reference, "digest": digest,
                        "blobs": blobs, "manifests": []}]}


def test_v2_records_blobs_and_v1_is_still_read():
    ref = "localhost:30500/aistack/r/a:1"
    receipt = airgap.receipt_update(None, STORE, IMAGES[:1], [_v2_result(IMAGES[0], ref, D["a"], [D["c"], D["b"]])])
    image = receipt["stores"][STORE]["images"][ref]
    assert image == {"digest": D["a"], "source": "r/a:1", "blobs": [D["b"], D["c"]], "manifests": []}
    assert airgap.receipt_base_blobs(receipt) == [D["b"], D["c"]]
    # a v1 receipt (archives only) is read: its images are known by digest, but no blob is, so no delta
    v1 = {"format": "aistack-receipt/v1", "stores": {STORE: {"files": {"1" * 64: {
        "file": "images/a.tar", "images": [{"reference": ref, "digest": D["a"]}]}}}}}
    assert airgap.receipt_pending(v1, STORE, IMAGES) == IMAGES[1:]
    assert FILTERS["airgap_receipt_base_blobs"](json.dumps(v1)) == []
    upgraded = airgap.receipt_update(v1, STORE, IMAGES[1:], [_v2_result(IMAGES[1], ref.replace("a:1", "b:2"), D["d"],
                                                                        [D["e"]])])
    assert upgraded["format"] == "aistack-receipt/v2"
    assert sorted(upgraded["stores"][STORE]["images"]) == [ref, ref.replace("a:1", "b:2")]


def test_base_blobs_are_what_every_chosen_store_holds():
    one = airgap.receipt_update(None, STORE, IMAGES[:1], [_v2_result(IMAGES[0], "x/r/a:1", D["a"], [D["b"], D["c"]])])
    two = airgap.receipt_update(one, "containerd/node1", IMAGES[:1],
                                [_v2_result(IMAGES[0], "docker.io/r/a:1", D["a"], [D["c"], D["d"]])])
    assert airgap.receipt_base_blobs(two) == [D["c"]]
    assert airgap.receipt_base_blobs(two, ["containerd/node1"]) == [D["c"], D["d"]]
    with pytest.raises(AistackError) as err:
        airgap.receipt_base_blobs(two, ["registry/elsewhere/x"])
    assert str(err.value).startswith("airgap_base_store: ") and "containerd/node1" in str(err.value)


def test_drift_names_missing_changed_and_unexpected():
    receipt = airgap.receipt_update(None, STORE, IMAGES, [
        _v2_result(IMAGES[0], "h/r/a:1", D["a"], []), _v2_result(IMAGES[1], "h/r/b:2", D["b"], [])])
    assert FILTERS["airgap_receipt_drift"](receipt, STORE, {"h/r/a:1": D["a"], "h/r/b:2": D["b"]})["drift"] is False
    report = airgap.receipt_drift(receipt, STORE, {"h/r/a:1": D["c"], "h/r/z:9": D["d"]})
    assert report["missing"] == [{"reference": "h/r/b:2", "digest": D["b"]}]
    assert report["changed"] == [{"reference": "h/r/a:1", "digest": D["a"], "held": D["c"]}]
    assert report["unexpected"] == [{"reference": "h/r/z:9", "digest": D["d"]}]
    assert report["drift"] is True and report["ok"] == 0


def test_sums_must_list_the_parts_of_a_split_file():
    manifest = {"images": [{"file": "images/a.tar", "parts": [{"file": "images/a.tar.part000"},
                                                              {"file": "images/a.tar.part001"}]}]}
    sums = "%s  manifest.json\n%s  images/a.tar.part000\n" % ("0" * 64, "1" * 64)
    assert airgap.sums_problems(sums, manifest) == [
        "SHA256SUMS does not list images/a.tar.part001 (images of the manifest)."]
