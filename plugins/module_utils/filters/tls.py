# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tls role's decisions: its variables checked, the certificates the Ingresses ask for, and which of them
need issuing (missing, changed hosts, another issuer, near expiry, unreadable) and which stay as they are.

Pure functions over what ``kubernetes.core.k8s_info`` returns; certificates are read with ``cryptography``
(the library community.crypto itself uses), nothing is written here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import re

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - the pinned ansible bundle brings it
    HAS_CRYPTOGRAPHY = False

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

MANAGED_LABELS = {"app.kubernetes.io/managed-by": "aistack.platform", "aistack.io/tls": "ingress"}
CERT_MANAGER_ANNOTATIONS = ("cert-manager.io/issuer", "cert-manager.io/cluster-issuer")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_HOST = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")
MODES = ("ca", "cert_manager")
ISSUER_KINDS = ("Issuer", "ClusterIssuer")


def _need_crypto():
    if not HAS_CRYPTOGRAPHY:
        raise AistackError("the Python library cryptography is not installed on the controller.",
                           field="tls", fix="install the pinned ansible bundle (it brings cryptography)")


def _pem(text):
    return text.encode("utf-8") if isinstance(text, str) else text


def _load_cert(pem):
    return x509.load_pem_x509_certificate(_pem(pem))


def _load_key(pem):
    return serialization.load_pem_private_key(_pem(pem), password=None)


def _public_bytes(key):
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _not_after(cert):
    if hasattr(cert, "not_valid_after_utc"):
        return cert.not_valid_after_utc
    return cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)  # pragma: no cover - older cryptography


def _is_ca(cert):
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _sans(cert):
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return sorted(ext.get_values_for_type(x509.DNSName))


def _signed_by(cert, ca):
    if cert.issuer != ca.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except Exception:  # pylint: disable=broad-except
        return False
    return True


def _now(now):
    if now is None:
        return datetime.datetime.now(datetime.timezone.utc)
    if isinstance(now, str):
        now = datetime.datetime.strptime(now, "%Y-%m-%dT%H:%M:%SZ")
    if now.tzinfo is None:
        now = now.replace(tzinfo=datetime.timezone.utc)
    return now


def _int(value):
    if isinstance(value, bool):
        return None
    try:
        return int(str(value))
    except ValueError:
        return None


def problems(settings):
    """Every problem of the tls role's variables, one message each naming the variable and the fix.

    ``settings``: mode, namespace, ca_secret_name, ca_certificate, ca_private_key, validity_days,
    renew_before_days, ca_validity_days, cert_manager_issuer, only_namespaces.
    """
    out = []
    mode = settings.get("mode")
    if mode not in MODES:
        out.append("tls_mode must be ca (the collection signs with its own CA) or cert_manager (a cert-manager "
                   "issuer signs), got %r" % (mode,))
    for var in ("namespace", "ca_secret_name"):
        value = settings.get(var)
        pattern = _DNS_LABEL if var == "namespace" else _DNS_SUBDOMAIN
        if not isinstance(value, str) or not pattern.match(value) or len(value) > 253:
            out.append("tls_%s must be a DNS name such as aistack-%s, got %r"
                       % (var, "system" if var == "namespace" else "ca", value))
    for name in settings.get("only_namespaces") or []:
        if not isinstance(name, str) or not _DNS_LABEL.match(name):
            out.append("tls_only_namespaces must list namespace names (DNS labels), got %r" % (name,))
    validity = _int(settings.get("validity_days"))
    renew = _int(settings.get("renew_before_days"))
    ca_validity = _int(settings.get("ca_validity_days"))
    if validity is None or not 1 <= validity <= 3650:
        out.append("tls_validity_days must be a number of days within 1-3650, got %r" % (settings.get("validity_days"),))
        validity = None
    if renew is None or renew < 1:
        out.append("tls_renew_before_days must be 1 or more days, got %r" % (settings.get("renew_before_days"),))
    elif validity is not None and renew >= validity:
        out.append("tls_renew_before_days (%d) must be less than tls_validity_days (%d), or every run would "
                   "reissue every certificate" % (renew, validity))
    if ca_validity is None or ca_validity < 1:
        out.append("tls_ca_validity_days must be 1 or more days, got %r" % (settings.get("ca_validity_days"),))
    elif validity is not None and ca_validity <= validity:
        out.append("tls_ca_validity_days (%d) must be more than tls_validity_days (%d)" % (ca_validity, validity))
    if mode == "cert_manager":
        issuer = settings.get("cert_manager_issuer")
        if not isinstance(issuer, dict) or issuer.get("kind") not in ISSUER_KINDS \
                or not isinstance(issuer.get("name"), str) or not _DNS_SUBDOMAIN.match(issuer.get("name")):
            out.append("tls_cert_manager_issuer must be {kind: ClusterIssuer or Issuer, name: <issuer name>} with "
                       "tls_mode cert_manager (set aistack_tls_cert_manager_issuer in the inventory), got %r"
                       % (issuer,))
    cert, key = settings.get("ca_certificate") or "", settings.get("ca_private_key") or ""
    if bool(cert) != bool(key):
        out.append("tls_ca_certificate and tls_ca_private_key go together: give both (a CA from the vault) or "
                   "neither (the CA is generated once and kept in the cluster)")
    elif cert and mode == "ca":
        out.extend(ca_problems(cert, key, "tls_ca_certificate", "tls_ca_private_key"))
    return out


def ca_problems(cert_pem, key_pem, cert_field="tls_ca_certificate", key_field="tls_ca_private_key"):
    """What is wrong with a CA (PEM certificate and key): unreadable, not a CA, key not its own, expired."""
    _need_crypto()
    try:
        cert = _load_cert(cert_pem)
    except Exception:  # pylint: disable=broad-except
        return ["%s must be a PEM certificate (-----BEGIN CERTIFICATE-----)" % cert_field]
    try:
        key = _load_key(key_pem)
    except Exception:  # pylint: disable=broad-except
        return ["%s must be an unencrypted PEM private key (-----BEGIN ... PRIVATE KEY-----)" % key_field]
    out = []
    if not _is_ca(cert):
        out.append("%s is not a CA certificate (basicConstraints CA:TRUE): give the CA's certificate, not a "
                   "server certificate" % cert_field)
    if _public_bytes(key.public_key()) != _public_bytes(cert.public_key()):
        out.append("%s does not belong to %s: give the CA's own key" % (key_field, cert_field))
    if _not_after(cert) <= _now(None):
        out.append("%s expired on %s: give a valid CA (or remove both to generate one)"
                   % (cert_field, _not_after(cert).strftime("%Y-%m-%d")))
    return out


def certificates(ingresses, only_namespaces=None):
    """The certificates the Ingresses ask for: one per (namespace, TLS secret), the hosts of every Ingress
    that names that secret (a ``spec.tls`` entry without hosts takes its Ingress's rule hosts).

    Ingresses that cert-manager serves (its annotations) and ``spec.tls`` entries without a secret name (the
    controller's default certificate) are left out. Returns ``[{namespace, name, hosts, ingresses}]``, sorted.
    """
    only = set(only_namespaces or [])
    wanted = {}
    for ing in ingresses or []:
        meta = ing.get("metadata") or {}
        namespace = meta.get("namespace")
        if only and namespace not in only:
            continue
        if any(a in (meta.get("annotations") or {}) for a in CERT_MANAGER_ANNOTATIONS):
            continue
        spec = ing.get("spec") or {}
        rule_hosts = [r.get("host") for r in spec.get("rules") or [] if r.get("host")]
        for entry in spec.get("tls") or []:
            secret = entry.get("secretName")
            hosts = entry.get("hosts") or rule_hosts
            if not secret or not hosts:
                continue
            item = wanted.setdefault((namespace, secret), {"namespace": namespace, "name": secret,
                                                           "hosts": set(), "ingresses": set()})
            item["hosts"].update(h.lower() for h in hosts)
            item["ingresses"].add(meta.get("name"))
    out = []
    for key in sorted(wanted):
        item = wanted[key]
        out.append(dict(item, hosts=sorted(item["hosts"]), ingresses=sorted(item["ingresses"])))
    return out


def _decode(data, key):
    value = (data or {}).get(key)
    if not value:
        return None
    return base64.b64decode(value).decode("utf-8")


def plan(wanted, secrets, ca_certificate=None, renew_before_days=30, now=None):
    """For every wanted certificate, ``action`` ``issue`` (with the ``reason``), ``keep`` or ``foreign``.

    ``secrets``: the Secrets read from the cluster (any namespace). A Secret of that name that this role did
    not make (no ``MANAGED_LABELS``) is ``foreign``: the site's own certificate, left alone. Ours is reissued
    when it is unreadable, names other hosts, was not signed by ``ca_certificate`` (PEM; none: the CA is new,
    so everything is reissued), its key is not the certificate's, or it expires within ``renew_before_days``.
    """
    _need_crypto()
    ca = _load_cert(ca_certificate) if ca_certificate else None
    moment = _now(now)
    renew = datetime.timedelta(days=int(renew_before_days))
    index = {}
    for secret in secrets or []:
        meta = secret.get("metadata") or {}
        index[(meta.get("namespace"), meta.get("name"))] = secret
    out = []
    for item in wanted or []:
        entry = {"namespace": item["namespace"], "name": item["name"], "hosts": list(item["hosts"])}
        secret = index.get((item["namespace"], item["name"]))
        entry.update(_judge(secret, entry["hosts"], ca, moment, renew))
        out.append(entry)
    return out


def _judge(secret, hosts, ca, moment, renew):
    if secret is None:
        return {"action": "issue", "reason": "missing"}
    labels = (secret.get("metadata") or {}).get("labels") or {}
    if any(labels.get(k) != v for k, v in MANAGED_LABELS.items()):
        return {"action": "foreign", "reason": "a Secret of that name exists that the tls role did not make"}
    try:
        cert = _load_cert(_decode(secret.get("data"), "tls.crt") or "")
        key = _load_key(_decode(secret.get("data"), "tls.key") or "")
    except Exception:  # pylint: disable=broad-except
        return {"action": "issue", "reason": "unreadable certificate or key"}
    if _sans(cert) != sorted(hosts):
        return {"action": "issue", "reason": "names %s, the Ingresses ask for %s"
                % (", ".join(_sans(cert)) or "no host", ", ".join(sorted(hosts)))}
    if ca is None or not _signed_by(cert, ca):
        return {"action": "issue", "reason": "not signed by the site CA"}
    if _public_bytes(key.public_key()) != _public_bytes(cert.public_key()):
        return {"action": "issue", "reason": "key does not match the certificate"}
    not_after = _not_after(cert)
    if not_after - moment <= renew:
        return {"action": "issue", "reason": "expires %s" % not_after.strftime("%Y-%m-%dT%H:%M:%SZ")}
    return {"action": "keep", "reason": "valid until %s" % not_after.strftime("%Y-%m-%dT%H:%M:%SZ")}


def secret(item, certificate, private_key, ca_certificate, labels=None):
    """The ``kubernetes.io/tls`` Secret of one planned certificate (PEM inputs, base64 data)."""
    def b64(text):
        return base64.b64encode(_pem(text)).decode("ascii")
    meta_labels = dict(MANAGED_LABELS)
    meta_labels.update(labels or {})
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": item["name"], "namespace": item["namespace"], "labels": meta_labels,
                         "annotations": {"aistack.io/tls-hosts": ",".join(item["hosts"])}},
            "data": {"tls.crt": b64(certificate), "tls.key": b64(private_key), "ca.crt": b64(ca_certificate)}}


def secrets(items, certificates, private_keys, ca_certificate, labels=None):
    """The Secrets of several issued certificates: ``items[i]`` with ``certificates[i]`` and ``private_keys[i]``."""
    items, certificates, private_keys = list(items or []), list(certificates or []), list(private_keys or [])
    if not len(items) == len(certificates) == len(private_keys):
        raise AistackError("got %d certificates, %d certificates and %d keys." % (len(items), len(certificates),
                                                                                  len(private_keys)),
                           field="tls_secrets", fix="give one certificate and one key per planned entry")
    return [secret(i, c, k, ca_certificate, labels) for i, c, k in zip(items, certificates, private_keys)]
