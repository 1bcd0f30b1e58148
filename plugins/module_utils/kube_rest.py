# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small REST client for the few core objects ``helm_tenant`` reads and writes on every run.

Why not ``KubeClient``: importing the ``kubernetes`` package costs most of a second per module run,
which is more than the whole no-op check of a tenant should take when a site converges dozens of
them. This client speaks plain HTTPS with the credentials a kubeconfig carries inline or in files
(client certificates, bearer tokens, basic auth). For anything else (exec plugins, auth providers,
proxies) ``open_client`` falls back to ``KubeClient``; both offer the same get/list/apply/delete.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import ssl
import tempfile

try:
    from http.client import HTTPSConnection, HTTPConnection
    from urllib.parse import urlencode, urlparse, quote
except ImportError:  # pragma: no cover - Python 2
    from httplib import HTTPSConnection, HTTPConnection
    from urllib import urlencode, quote
    from urlparse import urlparse

from ansible_collections.aistack.platform.plugins.module_utils.errors import AistackError

FIELD_MANAGER = "aistack.platform"

# kind -> (api path prefix, plural, namespaced)
_KINDS = {
    ("v1", "Namespace"): ("/api/v1", "namespaces", False),
    ("v1", "Secret"): ("/api/v1", "secrets", True),
    ("v1", "PersistentVolumeClaim"): ("/api/v1", "persistentvolumeclaims", True),
    ("v1", "ConfigMap"): ("/api/v1", "configmaps", True),
}


class Unsupported(Exception):
    """The kubeconfig needs something this client does not do; use KubeClient."""


def _load_yaml(text):
    import yaml
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)


def _named(items, name):
    for item in items or []:
        if item.get("name") == name:
            return item.get("cluster") or item.get("user") or item.get("context") or {}
    return None


def _resolve(path, base):
    if not path:
        return path
    path = os.path.expanduser(path)
    return path if os.path.isabs(path) else os.path.join(base, path)


def parse_kubeconfig(text, base_dir, context=None):
    """(server, tls settings, auth headers) from a kubeconfig; raises Unsupported when it needs more."""
    cfg = _load_yaml(text) or {}
    ctx_name = context or cfg.get("current-context")
    ctx = _named(cfg.get("contexts"), ctx_name)
    if ctx is None:
        raise AistackError("context '%s' is not in the kubeconfig." % ctx_name, field="context",
                           fix="use one of the kubeconfig's contexts")
    cluster = _named(cfg.get("clusters"), ctx.get("cluster")) or {}
    user = _named(cfg.get("users"), ctx.get("user")) or {}
    if not cluster.get("server"):
        raise Unsupported("cluster without server")
    if user.get("exec") or user.get("auth-provider") or cluster.get("proxy-url") or user.get("as") \
            or user.get("impersonate") or cluster.get("tls-server-name"):
        raise Unsupported("exec/auth-provider/proxy/impersonation/tls-server-name")
    tls = {
        "ca_file": _resolve(cluster.get("certificate-authority"), base_dir),
        "ca_data": cluster.get("certificate-authority-data"),
        "insecure": bool(cluster.get("insecure-skip-tls-verify")),
        "cert_file": _resolve(user.get("client-certificate"), base_dir),
        "cert_data": user.get("client-certificate-data"),
        "key_file": _resolve(user.get("client-key"), base_dir),
        "key_data": user.get("client-key-data"),
    }
    headers = {}
    token = user.get("token")
    if not token and user.get("tokenFile"):
        with open(_resolve(user["tokenFile"], base_dir)) as handle:
            token = handle.read().strip()
    if token:
        headers["Authorization"] = "Bearer %s" % token
    elif user.get("username") and user.get("password"):
        basic = base64.b64encode(("%s:%s" % (user["username"], user["password"])).encode("utf-8"))
        headers["Authorization"] = "Basic %s" % basic.decode("ascii")
    return cluster["server"], tls, headers


def ssl_context(tls):
    ctx = ssl.create_default_context()
    if tls.get("insecure"):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif tls.get("ca_data"):
        ctx.load_verify_locations(cadata=base64.b64decode(tls["ca_data"]).decode("ascii"))
    elif tls.get("ca_file"):
        ctx.load_verify_locations(cafile=tls["ca_file"])
    if tls.get("cert_data") or tls.get("cert_file"):
        tmpdir = None
        try:
            cert, key = tls.get("cert_file"), tls.get("key_file")
            if tls.get("cert_data") or tls.get("key_data"):
                tmpdir = tempfile.mkdtemp(prefix="aistack-kube-")
                if tls.get("cert_data"):
                    cert = _write_private(tmpdir, "cert.pem", base64.b64decode(tls["cert_data"]))
                if tls.get("key_data"):
                    key = _write_private(tmpdir, "key.pem", base64.b64decode(tls["key_data"]))
            ctx.load_cert_chain(cert, key)
        finally:
            if tmpdir:
                for fname in os.listdir(tmpdir):
                    os.unlink(os.path.join(tmpdir, fname))
                os.rmdir(tmpdir)
    return ctx


def _write_private(tmpdir, name, data):
    path = os.path.join(tmpdir, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path


def object_path(api_version, kind, name=None, namespace=None):
    try:
        prefix, plural, namespaced = _KINDS[(api_version, kind)]
    except KeyError:
        raise Unsupported("%s/%s" % (api_version, kind))
    path = prefix
    if namespaced and namespace:
        path += "/namespaces/%s" % quote(namespace, safe="")
    path += "/" + plural
    if name:
        path += "/" + quote(name, safe="")
    return path


class RestKubeClient(object):
    """get / list / server-side apply / delete of core objects over one keep-alive HTTPS connection."""

    def __init__(self, server, tls, headers, timeout=30):
        url = urlparse(server)
        self.host, self.port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
        self.base = url.path.rstrip("/")
        self.scheme = url.scheme
        self.headers = dict(headers)
        self.timeout = timeout
        self._ctx = ssl_context(tls) if url.scheme == "https" else None
        self._conn = None

    def _connection(self):
        if self._conn is None:
            if self.scheme == "https":
                self._conn = HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self._ctx)
            else:
                self._conn = HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def request(self, method, path, body=None, query=None, content_type="application/json"):
        url = self.base + path + ("?" + urlencode(query) if query else "")
        headers = dict(self.headers, Accept="application/json")
        payload = None
        if body is not None:
            payload = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = content_type
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request(method, url, body=payload, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                break
            except (OSError, IOError) as exc:  # stale keep-alive connection: retry once
                self.close()
                if attempt:
                    raise AistackError("cannot reach the Kubernetes API at %s:%s: %s" % (self.host, self.port, exc),
                                       field="kubeconfig", fix="check that the cluster is up")
        text = data.decode("utf-8", "replace")
        if resp.status == 404:
            return None
        if resp.status >= 400:
            try:
                message = json.loads(text).get("message", text)
            except ValueError:
                message = text
            raise AistackError("%s %s: %s %s" % (method, path, resp.status, message[:500]))
        return json.loads(text) if text else {}

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def get(self, api_version, kind, name, namespace=None):
        return self.request("GET", object_path(api_version, kind, name, namespace))

    def list(self, api_version, kind, namespace=None, label_selector=None):
        query = {"labelSelector": label_selector} if label_selector else None
        result = self.request("GET", object_path(api_version, kind, None, namespace), query=query)
        return (result or {}).get("items") or []

    def apply(self, obj, dry_run=False, force=True):
        meta = obj.get("metadata", {})
        query = {"fieldManager": FIELD_MANAGER}
        if force:
            query["force"] = "true"
        if dry_run:
            query["dryRun"] = "All"
        path = object_path(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
        try:
            return self.request("PATCH", path, body=obj, query=query, content_type="application/apply-patch+yaml")
        except AistackError as exc:
            raise AistackError("applying %s %s failed: %s" % (obj["kind"], meta.get("name"), exc))

    def delete(self, api_version, kind, name, namespace=None):
        return self.request("DELETE", object_path(api_version, kind, name, namespace)) is not None


def open_client(kubeconfig=None, context=None):
    """A RestKubeClient when the kubeconfig allows it, else the shared KubeClient."""
    path = kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    if os.pathsep in path:
        path = path.split(os.pathsep)[0]
    if not os.path.exists(path):
        raise AistackError("kubeconfig '%s' does not exist." % path, field="kubeconfig",
                           fix="point kubeconfig (or KUBECONFIG) at the target cluster's kubeconfig")
    try:
        with open(path) as handle:
            server, tls, headers = parse_kubeconfig(handle.read(), os.path.dirname(os.path.abspath(path)), context)
        return RestKubeClient(server, tls, headers)
    except Unsupported:
        from ansible_collections.aistack.platform.plugins.module_utils.kube import KubeClient
        return KubeClient(kubeconfig=path, context=context)
