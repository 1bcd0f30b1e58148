# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private to ``kube.client``: plain HTTPS for the few core kinds ``helm_tenant`` reads on every run.

Why it exists: importing the ``kubernetes`` package costs most of a second per module run, more than
the whole no-op check of a tenant (benchmarks/helm_tenant_bench.py measures both). ``KubeClient``
routes a call here when the kind is in ``KINDS`` and the Access needs nothing but TLS and headers
(no exec plugin, auth provider or proxy); everything else goes through the kubernetes library.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import ssl
import tempfile
import threading

try:
    from http.client import HTTPSConnection, HTTPConnection
    from urllib.parse import urlencode, urlparse, quote
except ImportError:  # pragma: no cover - Python 2
    from httplib import HTTPSConnection, HTTPConnection
    from urllib import urlencode, quote
    from urlparse import urlparse

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.common.files import write_private
from ansible_collections.aistack.platform.plugins.module_utils.common.constants import FIELD_MANAGER
from ansible_collections.aistack.platform.plugins.module_utils.kube.auth import auth_headers

# kind -> (api path prefix, plural, namespaced)
KINDS = {
    ("v1", "Namespace"): ("/api/v1", "namespaces", False),
    ("v1", "Secret"): ("/api/v1", "secrets", True),
    ("v1", "PersistentVolumeClaim"): ("/api/v1", "persistentvolumeclaims", True),
    ("v1", "ConfigMap"): ("/api/v1", "configmaps", True),
    # what a rollout wait polls (tenant/rollout.py)
    ("v1", "Pod"): ("/api/v1", "pods", True),
    ("v1", "Event"): ("/api/v1", "events", True),
    ("apps/v1", "Deployment"): ("/apis/apps/v1", "deployments", True),
    ("apps/v1", "StatefulSet"): ("/apis/apps/v1", "statefulsets", True),
}


def ssl_context(tls):
    """An SSL context for an Access (its ca/cert/key files or inline data)."""
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
                    cert = write_private(tmpdir, "cert.pem", base64.b64decode(tls["cert_data"]))
                if tls.get("key_data"):
                    key = write_private(tmpdir, "key.pem", base64.b64decode(tls["key_data"]))
            ctx.load_cert_chain(cert, key)
        finally:
            if tmpdir:
                for fname in os.listdir(tmpdir):
                    os.unlink(os.path.join(tmpdir, fname))
                os.rmdir(tmpdir)
    return ctx


# The objects of a helm_tenant release whose live state the drift check compares with the release's manifest
# (tenant/drift.py; Deployments and StatefulSets are above), and the Lease a run holds while it changes a
# release (kube/lease.py).
KINDS.update({
    ("v1", "Service"): ("/api/v1", "services", True),
    ("v1", "ServiceAccount"): ("/api/v1", "serviceaccounts", True),
    ("networking.k8s.io/v1", "Ingress"): ("/apis/networking.k8s.io/v1", "ingresses", True),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("/apis/networking.k8s.io/v1", "networkpolicies", True),
    ("autoscaling/v2", "HorizontalPodAutoscaler"): ("/apis/autoscaling/v2", "horizontalpodautoscalers", True),
    ("policy/v1", "PodDisruptionBudget"): ("/apis/policy/v1", "poddisruptionbudgets", True),
    ("coordination.k8s.io/v1", "Lease"): ("/apis/coordination.k8s.io/v1", "leases", True),
})


class Conflict(AistackError):
    """409 from the API server: a create of an object that exists, a replace whose resourceVersion moved."""


def object_path(api_version, kind, name=None, namespace=None):
    try:
        prefix, plural, namespaced = KINDS[(api_version, kind)]
    except KeyError:
        raise AistackError("%s/%s is not a kind this transport serves" % (api_version, kind))
    path = prefix
    if namespaced and namespace:
        path += "/namespaces/%s" % quote(namespace, safe="")
    path += "/" + plural
    if name:
        path += "/" + quote(name, safe="")
    return path


def serves(access, api_version, kind):
    """Whether this transport can carry a call for this kind with these credentials."""
    return (api_version, kind) in KINDS and not access.get("library_only") and not access.get("proxy") \
        and not access.get("impersonate_groups") and access.get("transport") != "library"


class RestTransport(object):
    """get / list / server-side apply / delete of core objects over one keep-alive HTTPS connection."""

    def __init__(self, access, timeout=30):
        server, tls, headers = access["server"], access, auth_headers(access)
        url = urlparse(server)
        self.host, self.port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
        self.base = url.path.rstrip("/")
        self.scheme = url.scheme
        self.headers = dict(headers)
        self.timeout = timeout
        self._ctx = ssl_context(tls) if url.scheme == "https" else None
        self._conn = None
        # One connection, several threads (a rollout watcher beside helm, the Lease's holder): one request at a
        # time on it, or http.client fails with "Request-sent".
        self._lock = threading.RLock()

    def _connection(self):
        if self._conn is None:
            if self.scheme == "https":
                self._conn = HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self._ctx)
            else:
                self._conn = HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def request(self, method, path, body=None, query=None, content_type="application/json", raw=False):
        url = self.base + path + ("?" + urlencode(query) if query else "")
        headers = dict(self.headers, Accept="application/json")
        payload = None
        if body is not None:
            payload = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = content_type
        with self._lock:
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
        if raw and resp.status < 400:
            return text
        if resp.status == 404:
            return None
        if resp.status >= 400:
            try:
                message = json.loads(text).get("message", text)
            except ValueError:
                message = text
            error = Conflict if resp.status == 409 else AistackError
            raise error("%s %s: %s %s" % (method, path, resp.status, message[:500]))
        return json.loads(text) if text else {}

    def close(self):
        with self._lock:
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

    def pod_log(self, name, namespace, container=None, tail_lines=20, previous=False):
        query = {"tailLines": str(int(tail_lines))}
        if container:
            query["container"] = container
        if previous:
            query["previous"] = "true"
        return self.request("GET", object_path("v1", "Pod", name, namespace) + "/log", query=query, raw=True)

    def create(self, obj):
        meta = obj.get("metadata", {})
        return self.request("POST", object_path(obj["apiVersion"], obj["kind"], None, meta.get("namespace")),
                            body=obj, query={"fieldManager": FIELD_MANAGER})

    def replace(self, obj):
        meta = obj.get("metadata", {})
        return self.request("PUT", object_path(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace")),
                            body=obj, query={"fieldManager": FIELD_MANAGER})
