# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes API access shared by the modules: one class does all the I/O.

Callers compute desired objects and diffs with pure functions and hand whole objects to
``KubeClient``; nothing here decides what should change.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.aistack.platform.plugins.module_utils.errors import AistackError

try:
    from kubernetes import config as kube_config
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import NotFoundError, DynamicApiError
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = exc

FIELD_MANAGER = "aistack.platform"

KUBE_AUTH_ARGSPEC = dict(
    kubeconfig=dict(type="path"),
    context=dict(type="str"),
)


def require_kubernetes(module):
    if not HAS_KUBERNETES:
        from ansible.module_utils.basic import missing_required_lib
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(KUBERNETES_IMPORT_ERROR))


def _api_message(exc):
    body = getattr(exc, "body", None) or ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return "%s %s" % (getattr(exc, "status", ""), body or exc)


class KubeClient(object):
    """Thin wrapper over the dynamic client: get, list, server-side apply, delete."""

    def __init__(self, kubeconfig=None, context=None):
        path = kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        if not os.path.exists(path):
            raise AistackError("kubeconfig '%s' does not exist." % path, field="kubeconfig",
                               fix="point kubeconfig (or KUBECONFIG) at the target cluster's kubeconfig")
        try:
            api = kube_config.new_client_from_config(config_file=path, context=context)
        except Exception as exc:  # the client raises several unrelated types here
            raise AistackError("cannot load kubeconfig '%s': %s" % (path, exc), field="kubeconfig",
                               fix="check the file and the context name")
        self.api_client = api
        self._dynamic = None

    @property
    def dynamic(self):
        if self._dynamic is None:
            try:
                self._dynamic = DynamicClient(self.api_client)
            except Exception as exc:
                raise AistackError("cannot reach the Kubernetes API: %s" % exc, field="kubeconfig",
                                   fix="check that the cluster is up and the kubeconfig is valid")
        return self._dynamic

    def resource(self, api_version, kind):
        return self.dynamic.resources.get(api_version=api_version, kind=kind)

    def get(self, api_version, kind, name, namespace=None):
        try:
            obj = self.resource(api_version, kind).get(name=name, namespace=namespace)
        except NotFoundError:
            return None
        except DynamicApiError as exc:
            raise AistackError("reading %s %s/%s failed: %s" % (kind, namespace or "", name, _api_message(exc)))
        return obj.to_dict()

    def list(self, api_version, kind, namespace=None, label_selector=None):
        try:
            items = self.resource(api_version, kind).get(namespace=namespace, label_selector=label_selector)
        except NotFoundError:
            return []
        except DynamicApiError as exc:
            raise AistackError("listing %s failed: %s" % (kind, _api_message(exc)))
        return [item.to_dict() for item in items.items]

    def apply(self, obj, dry_run=False, force=True):
        """Server-side apply of a whole object; returns the object as the server stored (or would store) it."""
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
        try:
            self.resource(api_version, kind).delete(name=name, namespace=namespace)
        except NotFoundError:
            return False
        except DynamicApiError as exc:
            raise AistackError("deleting %s %s failed: %s" % (kind, name, _api_message(exc)))
        return True

    def patch(self, api_version, kind, name, namespace, body,
              content_type="application/strategic-merge-patch+json", dry_run=False):
        """Patch an object (strategic merge by default); returns the patched object.

        For small targeted changes that must not take field ownership of the whole object
        (e.g. a rollout restart annotation), where a server-side apply would.
        """
        kwargs = dict(body=body, name=name, namespace=namespace, content_type=content_type)
        if dry_run:
            kwargs["dry_run"] = "All"
        try:
            return self.resource(api_version, kind).patch(**kwargs).to_dict()
        except DynamicApiError as exc:
            raise AistackError("patching %s %s/%s failed: %s" % (kind, namespace or "", name, _api_message(exc)))
