# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one Kubernetes client of the collection: ``open_client(params)`` and the ``KubeClient`` it returns.

Callers compute desired objects and diffs with pure functions and hand whole objects to
``KubeClient``; nothing here decides what should change. Where the cluster is and how to log in comes
from ``kube.auth.resolve`` (kubernetes.core's options, ``K8S_AUTH_*``, kubeconfig files). Each call
goes over one of two transports behind the same methods: plain HTTPS for the core kinds
``helm_tenant`` reads on every run (``kube._rest``; no import of the kubernetes package, which costs
more than a whole no-op check), the kubernetes library's dynamic client for everything else.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import atexit
import base64
import os
import shutil
import tempfile
import threading

from ansible_collections.aistack.platform.plugins.module_utils.common.constants import FIELD_MANAGER
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.common.files import write_private
from ansible_collections.aistack.platform.plugins.module_utils.kube import _rest
from ansible_collections.aistack.platform.plugins.module_utils.kube.auth import auth_headers, resolve


def require_kubernetes(module):
    """Fail the module cleanly when the kubernetes package is missing (only the library transport needs it)."""
    try:
        import kubernetes  # noqa: F401 pylint: disable=unused-import,import-outside-toplevel
    except ImportError as exc:
        from ansible.module_utils.basic import missing_required_lib  # pylint: disable=import-outside-toplevel
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(exc))


def kubeconfig_secrets(params):
    """Credential strings inside a kubeconfig given as a dict, for the module's ``no_log_values``."""
    found = []
    value = (params or {}).get("kubeconfig")
    if isinstance(value, dict):
        for item in value.get("users") or []:
            for key, secret in (item.get("user") or {}).items():
                if key in ("token", "password", "client-key-data") and isinstance(secret, str):
                    found.append(secret)
    return found


def open_client(params, environ=None, prefer=None):
    """The client for a module's auth options (everything is validated before any connection).

    ``prefer`` ("library" or "https") picks the transport where AISTACK_KUBE_TRANSPORT does not: the action
    plugin's in-process check prefers the library (the package is loaded once per task there, and measured
    faster), a module process the HTTPS transport (no import of the package per run: 0.72x the time of a
    20-tenant no-op through the module, benchmarks/helm_tenant_bench.py)."""
    access = resolve(params, environ)
    if prefer and access.get("transport") == "auto":
        access["transport"] = prefer
    return KubeClient(access)


def _api_message(exc):
    body = getattr(exc, "body", None) or ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return "%s %s" % (getattr(exc, "status", ""), body or exc)


def _private_file(data, name):
    """Write credential bytes to a file only this process's user can read, removed at exit."""
    tmpdir = tempfile.mkdtemp(prefix="aistack-kube-")
    atexit.register(shutil.rmtree, tmpdir, True)
    return write_private(tmpdir, name, data)


def _library_api_client(access):
    """A kubernetes ApiClient for the Access: the library's own kubeconfig loader when the kubeconfig is used
    as written (exec plugins, auth providers), else a Configuration built from the resolved fields."""
    from kubernetes import client as kube_client, config as kube_config  # pylint: disable=import-outside-toplevel
    if not access.get("overridden"):
        if access.get("kubeconfig_dict") is not None:
            return kube_config.new_client_from_config_dict(access["kubeconfig_dict"], context=access.get("context"))
        return kube_config.new_client_from_config(config_file=os.pathsep.join(access["kubeconfig_files"]),
                                                  context=access.get("context"))
    cfg = kube_client.Configuration()
    cfg.host = access["server"]
    cfg.verify_ssl = not access.get("insecure")
    if access.get("ca_data"):
        cfg.ssl_ca_cert = _private_file(base64.b64decode(access["ca_data"]), "ca.crt")
    elif access.get("ca_file"):
        cfg.ssl_ca_cert = access["ca_file"]
    for key, attr in (("cert", "cert_file"), ("key", "key_file")):
        if access.get(key + "_data"):
            setattr(cfg, attr, _private_file(base64.b64decode(access[key + "_data"]), key + ".pem"))
        elif access.get(key + "_file"):
            setattr(cfg, attr, access[key + "_file"])
    if access.get("proxy"):
        cfg.proxy = access["proxy"]
    if access.get("no_proxy"):
        cfg.no_proxy = access["no_proxy"]
    api = kube_client.ApiClient(cfg)
    for header, value in auth_headers(access).items():
        api.set_default_header(header, value)
    groups = access.get("impersonate_groups") or []
    if len(groups) > 1:
        # the library keeps one value per header name, and the API server reads a comma as part of a name
        raise AistackError("only one group can be impersonated here, not %d." % len(groups),
                           field="impersonate_groups", fix="give one group, or a ServiceAccount that has the rights")
    if groups:
        api.set_default_header("Impersonate-Group", groups[0])
    return api


def _drain(read, indexes):
    for index in indexes:
        read(index)


class KubeClient(object):
    """get, list, server-side apply, patch, delete; one entry point whatever the transport."""

    def __init__(self, access):
        self.access = access
        self._rest = None
        self._api_client = None
        self._dynamic = None

    @property
    def api_client(self):
        """The kubernetes library's ApiClient (for typed calls: pod logs, the service proxy)."""
        if self._api_client is None:
            try:
                self._api_client = _library_api_client(self.access)
            except ImportError as exc:
                raise AistackError("the kubernetes Python package is missing (%s)." % exc, field="kubeconfig",
                                   fix="install the 'kubernetes' package where the module runs")
            except AistackError:
                raise
            except Exception as exc:  # the library raises several unrelated types here
                raise AistackError("cannot load the kubeconfig: %s" % exc, field="kubeconfig",
                                   fix="check the file and the context name")
        return self._api_client

    @property
    def dynamic(self):
        if self._dynamic is None:
            from kubernetes.dynamic import DynamicClient  # pylint: disable=import-outside-toplevel
            try:
                self._dynamic = DynamicClient(self.api_client)
            except Exception as exc:
                raise AistackError("cannot reach the Kubernetes API: %s" % exc, field="kubeconfig",
                                   fix="check that the cluster is up and the kubeconfig is valid")
        return self._dynamic

    def _fast(self, api_version, kind):
        """The HTTPS transport when it serves this call, else None (the library's dynamic client)."""
        if not _rest.serves(self.access, api_version, kind):
            return None
        if self._rest is None:
            self._rest = _rest.RestTransport(self.access)
        return self._rest

    def close(self):
        if self._rest is not None:
            self._rest.close()

    def resource(self, api_version, kind):
        return self.dynamic.resources.get(api_version=api_version, kind=kind)

    def get(self, api_version, kind, name, namespace=None):
        fast = self._fast(api_version, kind)
        if fast:
            return fast.get(api_version, kind, name, namespace)
        from kubernetes.dynamic.exceptions import NotFoundError, DynamicApiError  # pylint: disable=import-outside-toplevel
        try:
            obj = self.resource(api_version, kind).get(name=name, namespace=namespace)
        except NotFoundError:
            return None
        except DynamicApiError as exc:
            raise AistackError("reading %s %s/%s failed: %s" % (kind, namespace or "", name, _api_message(exc)))
        return obj.to_dict()

    def get_many(self, refs, workers=4):
        """``get()`` of several objects, each ``(api_version, kind, name, namespace)``; returns one result per ref,
        the object, None (not found) or the AistackError that read raised. Reads over the kubernetes library run
        side by side (its connection pool is thread-safe, and the API server's time overlaps); reads over the
        HTTPS transport one after another on its one keep-alive connection."""
        results = [None] * len(refs)

        def read(index):
            try:
                results[index] = self.get(*refs[index])
            except Exception as exc:  # handed back: the caller decides what one unreadable object means
                results[index] = exc if isinstance(exc, AistackError) else AistackError(str(exc))

        pooled = [i for i, ref in enumerate(refs) if self._fast(ref[0], ref[1]) is None]
        for index in range(len(refs)):
            if index not in pooled:
                read(index)
        if len(pooled) > 1:
            for index in pooled:  # discovery (the library's cache) in this thread, before the reads
                try:
                    self.resource(refs[index][0], refs[index][1])
                except Exception:  # pylint: disable=broad-except  # the read reports it
                    pass
            threads = [threading.Thread(target=_drain, args=(read, pooled[start::workers]))
                       for start in range(min(workers, len(pooled)))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        elif pooled:
            read(pooled[0])
        return results

    def list(self, api_version, kind, namespace=None, label_selector=None):
        fast = self._fast(api_version, kind)
        if fast:
            return fast.list(api_version, kind, namespace, label_selector)
        from kubernetes.dynamic.exceptions import NotFoundError, DynamicApiError  # pylint: disable=import-outside-toplevel
        try:
            items = self.resource(api_version, kind).get(namespace=namespace, label_selector=label_selector)
        except NotFoundError:
            return []
        except DynamicApiError as exc:
            raise AistackError("listing %s failed: %s" % (kind, _api_message(exc)))
        return [item.to_dict() for item in items.items]

    def apply(self, obj, dry_run=False, force=True):
        """Server-side apply of a whole object; returns the object as the server stored (or would store) it."""
        fast = self._fast(obj["apiVersion"], obj["kind"])
        if fast:
            return fast.apply(obj, dry_run=dry_run, force=force)
        from kubernetes.dynamic.exceptions import DynamicApiError  # pylint: disable=import-outside-toplevel
        meta = obj.get("metadata", {})
        res = self.resource(obj["apiVersion"], obj["kind"])
        kwargs = dict(body=obj, name=meta.get("name"), namespace=meta.get("namespace"),
                      field_manager=FIELD_MANAGER, force_conflicts=force)
        if dry_run:
            kwargs["dry_run"] = "All"
        try:
            return res.server_side_apply(**kwargs).to_dict()
        except DynamicApiError as exc:
            raise AistackError("applying %s %s failed: %s" % (obj["kind"], meta.get("name"), _api_message(exc)))

    def delete(self, api_version, kind, name, namespace=None):
        """Delete an object; return True when something was deleted."""
        fast = self._fast(api_version, kind)
        if fast:
            return fast.delete(api_version, kind, name, namespace)
        from kubernetes.dynamic.exceptions import NotFoundError, DynamicApiError  # pylint: disable=import-outside-toplevel
        try:
            self.resource(api_version, kind).delete(name=name, namespace=namespace)
        except NotFoundError:
            return False
        except DynamicApiError as exc:
            raise AistackError("deleting %s %s failed: %s" % (kind, name, _api_message(exc)))
        return True

    def create(self, obj):
        """Create an object; ``_rest.Conflict`` when it exists (a lock taken by someone else)."""
        return self._write("create", obj)

    def replace(self, obj):
        """Replace an object (PUT); with ``metadata.resourceVersion`` set, ``_rest.Conflict`` when it moved."""
        return self._write("replace", obj)

    def _write(self, verb, obj):
        fast = self._fast(obj["apiVersion"], obj["kind"])
        if fast:
            return getattr(fast, verb)(obj)
        from kubernetes.dynamic.exceptions import ConflictError, DynamicApiError  # pylint: disable=import-outside-toplevel
        meta = obj.get("metadata", {})
        try:
            return getattr(self.resource(obj["apiVersion"], obj["kind"]), verb)(
                body=obj, namespace=meta.get("namespace"), field_manager=FIELD_MANAGER).to_dict()
        except ConflictError as exc:
            raise _rest.Conflict("%s of %s %s: %s" % (verb, obj["kind"], meta.get("name"), _api_message(exc)))
        except DynamicApiError as exc:
            raise AistackError("%s of %s %s failed: %s" % (verb, obj["kind"], meta.get("name"), _api_message(exc)))

    def patch(self, api_version, kind, name, namespace, body,
              content_type="application/strategic-merge-patch+json", dry_run=False):
        """Patch an object (strategic merge by default); returns the patched object.

        For small targeted changes that must not take field ownership of the whole object
        (e.g. a rollout restart annotation), where a server-side apply would.
        """
        from kubernetes.dynamic.exceptions import DynamicApiError  # pylint: disable=import-outside-toplevel
        kwargs = dict(body=body, name=name, namespace=namespace, content_type=content_type)
        if dry_run:
            kwargs["dry_run"] = "All"
        try:
            return self.resource(api_version, kind).patch(**kwargs).to_dict()
        except DynamicApiError as exc:
            raise AistackError("patching %s %s/%s failed: %s" % (kind, namespace or "", name, _api_message(exc)))

    def pod_log(self, name, namespace, container=None, tail_lines=20, previous=False):
        """The last ``tail_lines`` lines of a container's log (of its previous instance with ``previous``);
        None when there is no such log (the container never started)."""
        fast = self._fast("v1", "Pod")
        try:
            if fast:
                return fast.pod_log(name, namespace, container=container, tail_lines=tail_lines, previous=previous)
            from kubernetes import client as kube_client  # pylint: disable=import-outside-toplevel
            kwargs = dict(tail_lines=int(tail_lines), previous=bool(previous))
            if container:
                kwargs["container"] = container
            return kube_client.CoreV1Api(self.api_client).read_namespaced_pod_log(name, namespace, **kwargs)
        except AistackError:
            return None
        except Exception:  # pylint: disable=broad-except
            return None  # a log is a diagnosis aid: its absence never fails the caller
