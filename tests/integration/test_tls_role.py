"""The tls role on the real cluster, behind a Traefik of its own (the ingress role, websecure on and the http ->
https redirect) on loopback ports: check -> apply -> check -> apply reports changed, changed, unchanged, unchanged;
the certificate in the Ingress's TLS Secret names the host and verifies against the site CA (openssl verify, and
curl over https through Traefik with --cacert and --resolve); http answers 301 (GET) and 308 (POST) to https; the
CA is generated once and never again; a certificate near expiry is reissued, one still valid is not; a CA from
the vault replaces the generated one and every certificate is reissued; bad inputs fail before anything is
touched, naming the variable and the fix."""

import base64
import datetime
import json
import subprocess
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import converge_sequence, targets_local_cluster, wait_until

from test_ingress_role import IMAGE, TRAEFIK_VERSION, backend_workload, backend_ingress, port_free

# Loopback ports of this test (the local site uses 18080/18443/18081/19100, test_ingress_role 28080/...).
WEB_PORT, WEBSECURE_PORT, PING_PORT, METRICS_PORT = 38080, 38443, 38081, 39100


def _playbook(tmp_path, role):
    path = tmp_path / ("%s.yml" % role)
    path.write_text("- hosts: localhost\n  gather_facts: false\n  roles:\n    - aistack.platform.%s\n" % role)
    return path


def _ingress_vars(ns, cls, **extra):
    base = {"ingress_namespace": ns, "ingress_name": "traefik", "ingress_class_name": cls,
            "ingress_class_default": False,
            "ingress_image_repository": IMAGE.rsplit(":", 1)[0], "ingress_image_tag": TRAEFIK_VERSION,
            "ingress_image_pull_policy": "Never", "ingress_exposure": "host_network",
            "ingress_host_address": "127.0.0.1", "ingress_web_port": WEB_PORT,
            "ingress_websecure_enabled": True, "ingress_websecure_port": WEBSECURE_PORT,
            "ingress_ping_port": PING_PORT, "ingress_metrics_port": METRICS_PORT,
            "ingress_http_redirect": True, "ingress_wait_timeout": 180,
            "ingress_resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                  "limits": {"cpu": "500m", "memory": "256Mi"}}}
    base.update(extra)
    return base


def _tls_vars(ns, app_ns, ca_file, **extra):
    base = {"tls_namespace": ns, "tls_only_namespaces": [app_ns], "tls_ca_file": str(ca_file)}
    base.update(extra)
    return base


def _backend(ns, host, cls, marker, image):
    return {"apiVersion": "v1", "kind": "List", "items": backend_workload(ns, marker, image) + [
        backend_ingress(ns, "web", host, cls, tls_secret="web-tls")]}


def _secret(kubectl, ns, name):
    return json.loads(kubectl("get", "secret", name, "-n", ns, "-o", "json").stdout)


def _pem(secret, key):
    return base64.b64decode(secret["data"][key]).decode()


def _curl(*args):
    return subprocess.run(["curl", "-sS", "--max-time", "10"] + list(args), capture_output=True, text=True,
                          check=False)


def _near_expiry_cert(ca_cert_pem, ca_key_pem, host, days=5):
    """A certificate for host signed by the CA that expires in ``days`` (what the role must renew)."""
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    ca_key = serialization.load_pem_private_key(ca_key_pem.encode(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=80)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(ca_key, hashes.SHA384()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


def _vault_ca():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vault CA %s" % uuid.uuid4().hex[:6])])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


def _not_after(pem):
    return x509.load_pem_x509_certificate(pem.encode()).not_valid_after_utc


@pytest.mark.parametrize("extra, message", [
    ({"tls_mode": "acme"}, "tls_mode must be one of: ca, cert_manager"),  # the argument spec says it first
    ({"tls_renew_before_days": 90}, "tls_renew_before_days (90) must be less than tls_validity_days (90)"),
    ({"tls_ca_certificate": "-----BEGIN CERTIFICATE-----"}, "tls_ca_certificate and tls_ca_private_key go together"),
    ({"tls_mode": "cert_manager"}, "tls_cert_manager_issuer must be {kind: ClusterIssuer or Issuer"),
    ({"tls_namespace": "Not_A_Namespace"}, "tls_namespace must be a DNS name"),
])
def test_bad_inputs_fail_before_anything_is_touched(run_playbook, tmp_path, namespace, kubectl, extra, message):
    proc = run_playbook(_playbook(tmp_path, "tls"), extra_vars=_tls_vars(namespace, namespace + "-app",
                                                                         tmp_path / "ca.crt", **extra))
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert message in proc.stdout, proc.stdout[-3000:]
    assert proc.recap.get("changed", 0) == 0
    assert not kubectl("get", "namespace", namespace, "--ignore-not-found", "-o", "name").stdout.strip()
    assert not (tmp_path / "ca.crt").exists()


def test_ca_certificates_https_redirect_renewal(images, run_playbook, tmp_path, namespace, kubectl):
    if not targets_local_cluster():
        pytest.skip("Traefik runs on the node's loopback and the test curls it from here: local cluster only")
    for port in (WEB_PORT, WEBSECURE_PORT, PING_PORT, METRICS_PORT):
        assert port_free(port), "loopback port %d is taken on this machine; the test needs it" % port
    cls = namespace + "-traefik"
    app_ns = namespace + "-app"
    host = "langflow-team-%s.dev.aistack.localhost" % uuid.uuid4().hex[:6]
    marker = "tls-" + uuid.uuid4().hex[:8]
    ca_file = tmp_path / "ca.crt"
    ingress_pb, tls_pb = _playbook(tmp_path, "ingress"), _playbook(tmp_path, "tls")
    ingress_vars = _ingress_vars(namespace, cls)
    tls_vars = _tls_vars(namespace, app_ns, ca_file)
    try:
        proc = run_playbook(ingress_pb, extra_vars=ingress_vars)
        assert proc.returncode == 0, proc.stdout[-3000:]
        kubectl("create", "namespace", app_ns)
        kubectl("apply", "-f", "-", input=json.dumps(_backend(app_ns, host, cls, marker,
                                                              images["AISTACK_DEMOHTTP_IMAGE"])))
        kubectl("rollout", "status", "deployment/web", "-n", app_ns, "--timeout=120s")

        counts = converge_sequence(run_playbook, tls_pb, tls_vars)
        assert counts[0] > 0 and counts[1] > 0 and counts[2] == 0 and counts[3] == 0, counts

        # The CA: a Secret and a ConfigMap in the namespace, the same certificate in the file.
        ca = _secret(kubectl, namespace, "aistack-ca")
        ca_pem = _pem(ca, "tls.crt")
        configmap = json.loads(kubectl("get", "configmap", "aistack-ca", "-n", namespace, "-o", "json").stdout)
        assert configmap["data"]["ca.crt"].strip() == ca_pem.strip() == ca_file.read_text().strip()
        assert x509.load_pem_x509_certificate(ca_pem.encode()).extensions.get_extension_for_class(
            x509.BasicConstraints).value.ca

        # The certificate names the host and verifies against the CA.
        leaf = _secret(kubectl, app_ns, "web-tls")
        assert leaf["type"] == "kubernetes.io/tls"
        (tmp_path / "leaf.crt").write_text(_pem(leaf, "tls.crt"))
        verify = subprocess.run(["openssl", "verify", "-CAfile", str(ca_file), str(tmp_path / "leaf.crt")],
                                capture_output=True, text=True, check=False)
        assert verify.returncode == 0 and ": OK" in verify.stdout, verify.stdout + verify.stderr
        sans = subprocess.run(["openssl", "x509", "-in", str(tmp_path / "leaf.crt"), "-noout", "-ext",
                               "subjectAltName"], capture_output=True, text=True, check=True).stdout
        assert "DNS:%s" % host in sans, sans
        # Negative control: another CA does not verify it.
        other_ca = _vault_ca()[0]
        (tmp_path / "other.crt").write_text(other_ca)
        assert subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "other.crt"), str(tmp_path / "leaf.crt")],
                              capture_output=True, check=False).returncode != 0

        # Traefik serves it: curl over https with the CA, the host resolved to loopback.
        resolve = ["--resolve", "%s:%d:127.0.0.1" % (host, WEBSECURE_PORT), "--resolve",
                   "%s:%d:127.0.0.1" % (host, WEB_PORT)]
        https_url = "https://%s:%d/hello" % (host, WEBSECURE_PORT)

        def served():
            out = _curl("--cacert", str(ca_file), *resolve, https_url)
            return out if out.returncode == 0 and marker in out.stdout else None

        out = wait_until("Traefik to serve %s with the site CA's certificate" % host, served, timeout=90)
        assert "path=/hello" in out.stdout
        # Without the CA, the same request fails verification (the test can fail).
        assert _curl(*resolve, https_url).returncode == 60
        # http redirects to https: 301 for GET, 308 for POST (method and body kept).
        out = _curl("-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", *resolve,
                    "http://%s:%d/hello?x=1" % (host, WEB_PORT))
        assert out.stdout == "301 https://%s:%d/hello?x=1" % (host, WEBSECURE_PORT), out.stdout + out.stderr
        out = _curl("-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-d", "a=b", *resolve,
                    "http://%s:%d/hello" % (host, WEB_PORT))
        assert out.stdout == "308", out.stdout + out.stderr
        out = _curl("-L", "--cacert", str(ca_file), *resolve, "http://%s:%d/hello" % (host, WEB_PORT))
        assert out.returncode == 0 and marker in out.stdout, out.stderr

        # Near expiry: reissued (the CA kept); still valid: untouched.
        ca_key_pem = _pem(ca, "tls.key")
        cert_pem, key_pem = _near_expiry_cert(ca_pem, ca_key_pem, host)
        kubectl("patch", "secret", "web-tls", "-n", app_ns, "--type", "merge", "-p", json.dumps({"data": {
            "tls.crt": base64.b64encode(cert_pem.encode()).decode(),
            "tls.key": base64.b64encode(key_pem.encode()).decode()}}))
        proc = run_playbook(tls_pb, extra_vars=tls_vars, check=True)
        assert proc.returncode == 0 and proc.recap.get("changed", 0) == 1, proc.stdout[-3000:]
        assert "expires " in proc.stdout
        assert _pem(_secret(kubectl, app_ns, "web-tls"), "tls.crt") == cert_pem  # check mode changed nothing
        proc = run_playbook(tls_pb, extra_vars=tls_vars)
        assert proc.returncode == 0 and proc.recap.get("changed", 0) == 1, proc.stdout[-3000:]
        renewed = _pem(_secret(kubectl, app_ns, "web-tls"), "tls.crt")
        assert renewed != cert_pem
        assert _not_after(renewed) - datetime.datetime.now(datetime.timezone.utc) > datetime.timedelta(days=80)
        # The CA was not generated again by any of these runs.
        assert _secret(kubectl, namespace, "aistack-ca")["data"] == ca["data"]
        proc = run_playbook(tls_pb, extra_vars=tls_vars)
        assert proc.returncode == 0 and proc.recap.get("changed", 0) == 0, proc.stdout[-3000:]
        wait_until("Traefik to serve the renewed certificate", served, timeout=60)

        # A CA from the vault replaces the generated one; the certificate is reissued from it.
        vault_cert, vault_key = _vault_ca()
        vault_vars = dict(tls_vars, tls_ca_certificate=vault_cert, tls_ca_private_key=vault_key)
        proc = run_playbook(tls_pb, extra_vars=vault_vars)
        assert proc.returncode == 0 and proc.recap.get("changed", 0) > 0, proc.stdout[-3000:]
        assert vault_key not in proc.stdout and ca_key_pem not in proc.stdout
        assert "not signed by the site CA" in proc.stdout
        assert _pem(_secret(kubectl, namespace, "aistack-ca"), "tls.crt").strip() == vault_cert.strip()
        (tmp_path / "leaf.crt").write_text(_pem(_secret(kubectl, app_ns, "web-tls"), "tls.crt"))
        assert subprocess.run(["openssl", "verify", "-CAfile", str(ca_file), str(tmp_path / "leaf.crt")],
                              capture_output=True, check=False).returncode == 0
        assert ca_file.read_text().strip() == vault_cert.strip()
        proc = run_playbook(tls_pb, extra_vars=vault_vars)
        assert proc.returncode == 0 and proc.recap.get("changed", 0) == 0, proc.stdout[-3000:]
        wait_until("Traefik to serve the vault CA's certificate", served, timeout=60)
    finally:
        run_playbook(ingress_pb, extra_vars=dict(ingress_vars, ingress_state="absent", ingress_wait=False))
        kubectl("delete", "namespace", app_ns, "--ignore-not-found", "--wait=false", check=False)
