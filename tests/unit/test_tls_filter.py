# -*- coding: utf-8 -*-
"""The tls role's decisions: variables checked, the certificates the Ingresses ask for, and which to issue."""

from __future__ import absolute_import, division, print_function

import base64
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.aistack.platform.plugins.module_utils.filters import tls

NOW = datetime.datetime(2026, 12, 6, 2, 0, 0, tzinfo=datetime.timezone.utc)


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _ca(name="aistack site CA", days=3650, ca=True):
    key = _key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - datetime.timedelta(days=1))
            .not_valid_after(NOW + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def _leaf(ca, hosts, days=90, key=None):
    ca_cert, ca_key = ca
    key = key or _key()
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert, key


def _secret(namespace, name, cert, key, labels=None):
    return {"metadata": {"namespace": namespace, "name": name,
                         "labels": dict(tls.MANAGED_LABELS) if labels is None else labels},
            "data": {"tls.crt": base64.b64encode(_pem_cert(cert).encode()).decode(),
                     "tls.key": base64.b64encode(_pem_key(key).encode()).decode()}}


def _ingress(namespace, name, tls_entries, hosts=("a.example",), annotations=None):
    return {"metadata": {"namespace": namespace, "name": name, "annotations": annotations or {}},
            "spec": {"rules": [{"host": h} for h in hosts], "tls": tls_entries}}


SETTINGS = {"mode": "ca", "namespace": "aistack-system", "ca_secret_name": "aistack-ca", "ca_certificate": "",
            "ca_private_key": "", "validity_days": 90, "renew_before_days": 30, "ca_validity_days": 3650,
            "cert_manager_issuer": {}, "only_namespaces": []}


# --- problems ------------------------------------------------------------------------------------------------

def test_good_settings_have_no_problem():
    assert tls.problems(SETTINGS) == []


@pytest.mark.parametrize("change, variable", [
    ({"mode": "acme"}, "tls_mode"),
    ({"namespace": "Aistack_System"}, "tls_namespace"),
    ({"ca_secret_name": ""}, "tls_ca_secret_name"),
    ({"validity_days": 0}, "tls_validity_days"),
    ({"validity_days": "ninety"}, "tls_validity_days"),
    ({"renew_before_days": 0}, "tls_renew_before_days"),
    ({"renew_before_days": 90}, "tls_renew_before_days (90) must be less than tls_validity_days"),
    ({"ca_validity_days": 30}, "tls_ca_validity_days (30) must be more than tls_validity_days"),
    ({"only_namespaces": ["ok", "Not OK"]}, "tls_only_namespaces"),
    ({"ca_certificate": "x"}, "tls_ca_certificate and tls_ca_private_key go together"),
    ({"mode": "cert_manager"}, "tls_cert_manager_issuer"),
    ({"mode": "cert_manager", "cert_manager_issuer": {"kind": "Certificate", "name": "x"}}, "tls_cert_manager_issuer"),
])
def test_each_bad_setting_is_named(change, variable):
    found = tls.problems(dict(SETTINGS, **change))
    assert len(found) == 1 and found[0].startswith(variable), found


def test_cert_manager_with_an_issuer_is_fine():
    for kind in ("Issuer", "ClusterIssuer"):
        assert tls.problems(dict(SETTINGS, mode="cert_manager", cert_manager_issuer={"kind": kind, "name": "site-ca"})) == []


def test_a_ca_from_the_vault_is_checked():
    cert, key = _ca()
    good = dict(SETTINGS, ca_certificate=_pem_cert(cert), ca_private_key=_pem_key(key))
    assert tls.problems(good) == []
    other_key = _pem_key(_key())
    assert tls.problems(dict(good, ca_private_key=other_key)) == [
        "tls_ca_private_key does not belong to tls_ca_certificate: give the CA's own key"]
    assert tls.problems(dict(good, ca_certificate="not a pem"))[0].startswith("tls_ca_certificate must be a PEM")
    assert tls.problems(dict(good, ca_private_key="not a pem"))[0].startswith("tls_ca_private_key must be")
    leaf, leaf_key = _leaf((cert, key), ["a.example"])
    found = tls.problems(dict(good, ca_certificate=_pem_cert(leaf), ca_private_key=_pem_key(leaf_key)))
    assert found == ["tls_ca_certificate is not a CA certificate (basicConstraints CA:TRUE): give the CA's "
                     "certificate, not a server certificate"]


def test_an_expired_ca_is_refused():
    cert, key = _ca(days=-1)
    found = tls.problems(dict(SETTINGS, ca_certificate=_pem_cert(cert), ca_private_key=_pem_key(key)))
    assert len(found) == 1 and "expired" in found[0]


# --- certificates --------------------------------------------------------------------------------------------

def test_one_certificate_per_namespace_and_secret():
    ingresses = [
        _ingress("team-a-dev", "ide", [{"hosts": ["langflow-team-a.dev.x"], "secretName": "ide-tls"}],
                 hosts=["langflow-team-a.dev.x"]),
        _ingress("team-a-dev", "runtime", [{"hosts": ["Runtime-team-a.dev.x"], "secretName": "runtime-tls"}]),
        _ingress("team-b-dev", "ide", [{"hosts": ["langflow-team-b.dev.x"], "secretName": "ide-tls"}]),
    ]
    assert tls.certificates(ingresses) == [
        {"namespace": "team-a-dev", "name": "ide-tls", "hosts": ["langflow-team-a.dev.x"], "ingresses": ["ide"]},
        {"namespace": "team-a-dev", "name": "runtime-tls", "hosts": ["runtime-team-a.dev.x"], "ingresses": ["runtime"]},
        {"namespace": "team-b-dev", "name": "ide-tls", "hosts": ["langflow-team-b.dev.x"], "ingresses": ["ide"]},
    ]


def test_a_shared_secret_names_every_host_and_entries_without_hosts_take_the_rules():
    ingresses = [_ingress("obs", "phoenix", [{"secretName": "obs-tls"}], hosts=["phoenix.x"]),
                 _ingress("obs", "prometheus", [{"hosts": ["prometheus.x"], "secretName": "obs-tls"}])]
    assert tls.certificates(ingresses) == [
        {"namespace": "obs", "name": "obs-tls", "hosts": ["phoenix.x", "prometheus.x"],
         "ingresses": ["phoenix", "prometheus"]}]


def test_cert_manager_ingresses_default_certificates_and_other_namespaces_are_left_out():
    ingresses = [
        _ingress("a", "cm", [{"hosts": ["a.x"], "secretName": "cm-tls"}],
                 annotations={"cert-manager.io/cluster-issuer": "site"}),
        _ingress("a", "default-cert", [{"hosts": ["b.x"]}]),
        _ingress("a", "plain", []),
        _ingress("b", "elsewhere", [{"hosts": ["c.x"], "secretName": "c-tls"}]),
        _ingress("a", "kept", [{"hosts": ["d.x"], "secretName": "d-tls"}]),
    ]
    assert [c["name"] for c in tls.certificates(ingresses, ["a"])] == ["d-tls"]
    assert [c["name"] for c in tls.certificates(ingresses)] == ["d-tls", "c-tls"]


# --- plan ----------------------------------------------------------------------------------------------------

CA = _ca()
CA_PEM = _pem_cert(CA[0])
WANTED = [{"namespace": "t", "name": "app-tls", "hosts": ["app.x"]}]


def _plan(secrets, ca_pem=CA_PEM, renew=30):
    return tls.plan(WANTED, secrets, ca_pem, renew, NOW)


def test_a_good_certificate_is_kept():
    cert, key = _leaf(CA, ["app.x"])
    [entry] = _plan([_secret("t", "app-tls", cert, key)])
    assert entry["action"] == "keep", entry
    assert entry["reason"].startswith("valid until ")


def test_a_missing_secret_is_issued_and_another_namespace_does_not_count():
    cert, key = _leaf(CA, ["app.x"])
    assert _plan([])[0]["action"] == "issue"
    assert _plan([_secret("other", "app-tls", cert, key)])[0]["reason"] == "missing"


def test_near_expiry_is_renewed():
    cert, key = _leaf(CA, ["app.x"], days=10)
    [entry] = _plan([_secret("t", "app-tls", cert, key)])
    assert entry["action"] == "issue" and entry["reason"].startswith("expires "), entry
    assert _plan([_secret("t", "app-tls", cert, key)], renew=5)[0]["action"] == "keep"


def test_changed_hosts_are_reissued():
    cert, key = _leaf(CA, ["old.x"])
    [entry] = _plan([_secret("t", "app-tls", cert, key)])
    assert entry["action"] == "issue" and entry["reason"] == "names old.x, the Ingresses ask for app.x"


def test_another_issuer_is_reissued():
    other = _ca(name="aistack site CA")  # same name, other key: the signature tells them apart
    cert, key = _leaf(other, ["app.x"])
    assert _plan([_secret("t", "app-tls", cert, key)])[0]["reason"] == "not signed by the site CA"
    assert _plan([_secret("t", "app-tls", *_leaf(CA, ["app.x"]))], ca_pem=None)[0]["reason"] == \
        "not signed by the site CA"


def test_a_key_that_is_not_the_certificates_is_reissued():
    cert = _leaf(CA, ["app.x"])[0]
    assert _plan([_secret("t", "app-tls", cert, _key())])[0]["reason"] == "key does not match the certificate"


def test_unreadable_is_reissued_and_foreign_is_left_alone():
    broken = {"metadata": {"namespace": "t", "name": "app-tls", "labels": dict(tls.MANAGED_LABELS)},
              "data": {"tls.crt": base64.b64encode(b"garbage").decode()}}
    assert _plan([broken])[0]["reason"] == "unreadable certificate or key"
    cert, key = _leaf(CA, ["other.x"])
    assert _plan([_secret("t", "app-tls", cert, key, labels={})])[0]["action"] == "foreign"


def test_now_as_text():
    cert, key = _leaf(CA, ["app.x"], days=40)
    secrets = [_secret("t", "app-tls", cert, key)]
    assert tls.plan(WANTED, secrets, CA_PEM, 30, "2026-12-06T02:00:00Z")[0]["action"] == "keep"
    assert tls.plan(WANTED, secrets, CA_PEM, 30, "2027-01-06T02:00:00Z")[0]["action"] == "issue"


# --- secret --------------------------------------------------------------------------------------------------

def test_secret_round_trips_through_plan():
    cert, key = _leaf(CA, ["app.x"])
    obj = tls.secret(dict(WANTED[0], action="issue"), _pem_cert(cert), _pem_key(key), CA_PEM)
    assert obj["type"] == "kubernetes.io/tls" and obj["metadata"]["labels"]["aistack.io/tls"] == "ingress"
    assert sorted(obj["data"]) == ["ca.crt", "tls.crt", "tls.key"]
    assert _plan([obj])[0]["action"] == "keep"


def test_secrets_pairs_entries_with_their_certificates_and_keys():
    cert, key = _leaf(CA, ["app.x"])
    [obj] = tls.secrets(WANTED, [_pem_cert(cert)], [_pem_key(key)], CA_PEM)
    assert obj["metadata"]["name"] == "app-tls"
    with pytest.raises(tls.AistackError, match="tls_secrets: got 1 certificates, 0 certificates"):
        tls.secrets(WANTED, [], [], CA_PEM)


def test_ca_problems_name_where_the_ca_came_from():
    cert, key = _ca()
    assert tls.ca_problems(_pem_cert(cert), _pem_key(key), "tls.crt", "tls.key") == []
    found = tls.ca_problems(_pem_cert(cert), _pem_key(_key()), "tls.crt", "tls.key")
    assert found == ["tls.key does not belong to tls.crt: give the CA's own key"]
