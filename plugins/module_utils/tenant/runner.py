# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The I/O half of ``helm_tenant``: namespace, Secrets and the Helm release, in that order.

``TenantRunner.present()`` and ``absent()`` compute what would change the same way in check mode
and in a real run; only the side effects are guarded by ``check_mode``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import os

from ansible_collections.aistack.platform.plugins.module_utils.common.constants import MANAGED_BY, MANAGED_BY_LABEL
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.tenant import chart as tchart
from ansible_collections.aistack.platform.plugins.module_utils.tenant import credentials as tcreds
from ansible_collections.aistack.platform.plugins.module_utils.tenant import names as tnames
from ansible_collections.aistack.platform.plugins.module_utils.tenant import policy as tpolicy
from ansible_collections.aistack.platform.plugins.module_utils.tenant import rollout as trollout
from ansible_collections.aistack.platform.plugins.module_utils.tenant import values as tvalues
from ansible_collections.aistack.platform.plugins.module_utils.helm.runner import read_release, DEFAULT_HISTORY_MAX
from ansible_collections.aistack.platform.plugins.module_utils.tenant.guard import ReleaseGuard

PENDING = "(known after apply)"


def _b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _unb64(text):
    return base64.b64decode(text).decode("utf-8")


def generate_value(fmt="token", length=32):
    """A new random credential. ``fernet``: 32 random bytes as url-safe base64 (a valid Fernet key, what
    Langflow's SECRET_KEY wants); ``hex``; ``token``: letters and digits without look-alikes."""
    length = max(int(length or 32), 16)
    if fmt == "fernet":
        return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")
    if fmt == "hex":
        return binascii.hexlify(os.urandom(length)).decode("ascii")[:length]
    alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    out = []
    while len(out) < length:
        for byte in bytearray(os.urandom(length * 2)):
            if byte < 256 - (256 % len(alphabet)) and len(out) < length:  # no modulo bias
                out.append(alphabet[byte % len(alphabet)])
    return "".join(out)


def secret_object(name, namespace, string_data, labels):
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": dict((k, _b64(v)) for k, v in sorted(string_data.items())),
    }


def namespace_object(name, team, environment):
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {
            MANAGED_BY_LABEL: MANAGED_BY,
            "aistack.io/team": team,
            "aistack.io/environment": environment,
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
        }},
    }


class TenantRunner(object):
    progress = None  # called with each progress line of a rollout wait (tenant/rollout.py), when set

    def __init__(self, params, kube, helm, check_mode=False, want_diff=False, warn=None):
        self.params = params
        self.kube = kube
        self.helm = helm  # a HelmRunner; None in the action plugin's no-op check, which never calls it
        self.check_mode = check_mode
        self.want_diff = want_diff
        self.warn = warn or (lambda msg: None)
        # read once: the same values files are checked by the policy and sent to Helm
        self.files_values = tvalues.load_values_files(params.get("values_files")) if params.get("state") != "absent" \
            else []
        self.names = tpolicy.validate(params, files_values=self.files_values)
        self.name = self.names["fullname"]
        self.namespace = self.names["namespace"]
        self.diffs = []
        self.actions = []

    # ------------------------------------------------------------------ helpers
    def _labels(self):
        return {
            MANAGED_BY_LABEL: MANAGED_BY,
            "app.kubernetes.io/instance": self.name,
            "aistack.io/team": self.params["team"],
            "aistack.io/environment": self.params["environment"],
        }

    def _chart_identity(self):
        chart = self.params["chart"]
        if chart.get("path"):
            name, version = tchart.local_chart_meta(chart["path"])
            return name, version, tchart.local_chart_digest(chart["path"])
        ref = chart["name"]
        return ref.rstrip("/").rsplit("/", 1)[-1], str(chart["version"]), None

    def _referenced_secrets(self):
        """(field, secret name, key, optional) of every Secret the release refers to but does not own."""
        refs = []
        db = self.params.get("database") or {}
        if db.get("type") == "postgresql" and (db.get("password_secret") or {}).get("name"):
            ref = db["password_secret"]
            refs.append(("database.password_secret", ref["name"], ref.get("key") or "password", False))
            if ref.get("url_key"):
                refs.append(("database.password_secret.url_key", ref["name"], ref["url_key"], False))
        tracing = self.params.get("tracing") or {}
        if tracing.get("enabled") and (tracing.get("api_key_secret") or {}).get("name"):
            ref = tracing["api_key_secret"]
            refs.append(("tracing.api_key_secret", ref["name"], ref.get("key") or "api-key", False))
        for index, item in enumerate(self.params.get("secret_env") or []):
            refs.append(("secret_env[%d]" % index, item["secret"], item["key"], bool(item.get("optional"))))
        return refs

    # ------------------------------------------------------------------ present
    def present(self):
        params = self.params
        chart_name, chart_version, chart_digest = self._chart_identity()
        ns_obj = self.kube.get("v1", "Namespace", self.namespace)
        triggers = {}
        # 1. every Secret the release refers to must exist, before anything is created
        cache = {}
        for field, secret, key, optional in self._referenced_secrets():
            if secret not in cache:
                cache[secret] = self.kube.get("v1", "Secret", secret, self.namespace) if ns_obj else None
            obj = cache[secret]
            if obj is None or key not in (obj.get("data") or {}):
                if optional:
                    continue
                if self.check_mode and obj is None:
                    # A fresh site in check mode: the layer that writes this Secret (the databases role, the
                    # vault Secrets) ran in check mode too, so it cannot exist yet. Report, do not fail; the
                    # real run still refuses before touching anything.
                    self.warn("%s: Secret %s/%s does not exist yet; a real run fails here unless an earlier task "
                              "creates it." % (field, self.namespace, secret))
                    triggers["secret/" + secret] = ""
                    continue
                raise AistackError("Secret %s/%s %s." % (self.namespace, secret,
                                                         "has no key '%s'" % key if obj else "does not exist"),
                                   field=field, fix="create the Secret with key '%s' in namespace %s first, or "
                                                    "pass a vaulted value instead" % (key, self.namespace))
            triggers["secret/" + secret] = obj["metadata"].get("resourceVersion", "")

        # 2. what the module owns: namespace, <name>-db, <name>-generated
        plan = []
        if ns_obj is None:
            plan.append(("namespace", namespace_object(self.namespace, params["team"], params["environment"])))
        db = params.get("database") or {}
        if db.get("type") == "postgresql" and db.get("password"):
            self._plan_owned_secret(plan, triggers, tnames.db_secret_name(self.name), tvalues.db_secret_data(db), ns_obj)
        if params.get("secret_values"):
            sname = tnames.env_secret_name(self.name)
            desired = dict((k, str(v)) for k, v in params["secret_values"].items())
            self._plan_owned_secret(plan, triggers, sname, desired, ns_obj)
        generated = params.get("generated_secrets") or []
        if generated:
            gname = tnames.generated_secret_name(self.name)
            current = self.kube.get("v1", "Secret", gname, self.namespace) if ns_obj else None
            current_data = dict((k, _unb64(v)) for k, v in ((current or {}).get("data") or {}).items())
            missing = [item for item in generated if item["key"] not in current_data]
            if missing:
                data = dict(current_data)
                for item in missing:
                    data[item["key"]] = generate_value(item.get("format") or "token", item.get("length") or 32)
                plan.append(("secret", secret_object(gname, self.namespace, data, self._labels())))
                self._secret_diff(gname, current_data, data)
                triggers["secret/" + gname] = PENDING
            else:
                triggers["secret/" + gname] = current["metadata"].get("resourceVersion", "")

        # the release's records: a pending-* one left by an interrupted run is recovered (tenant/guard.py)
        guard = ReleaseGuard(self.kube, self.name, self.namespace, check_mode=self.check_mode, warn=self.warn)
        release = guard.read() if ns_obj else None
        self.helm = guard.wrap(self.helm)  # helm.upgrade holds the release's Lease and carries out the recovery

        # 3. apply the owned objects (secret resourceVersions feed the pods' rollout checksum)
        for kind, obj in plan:
            self.actions.append("%s %s" % (obj["kind"], obj["metadata"]["name"]))
            if self.check_mode:
                continue
            stored = self.kube.apply(obj)
            if kind == "secret":
                triggers["secret/" + obj["metadata"]["name"]] = (stored.get("metadata") or {}).get("resourceVersion", "")

        values = tvalues.build_values(params, self.names, chart_digest=chart_digest, rollout_triggers=triggers,
                                      files_values=self.files_values)
        values_digest = tvalues.release_digest(values, chart_name, chart_version)
        release_changes = self._release_changes(release, values, chart_name, chart_version)
        if release_changes:
            self.diffs.insert(0, tvalues.values_diff(release["values"] if release else None, values))
        elif params.get("drift", "detect") == "detect":
            release_changes = guard.drift(self.diffs)  # live objects against the release's manifest
        self._warn_storage(params)

        result = dict(release_name=self.name, namespace=self.namespace, hosts=tnames.hosts_of(self.names),
                      values_digest=values_digest, chart=chart_name, chart_version=chart_version,
                      revision=release["revision"] if release else None,
                      status=release["status"] if release else "not-installed")
        if release_changes:
            result["changes"] = release_changes
            self.actions.append("helm upgrade --install %s" % self.name)
            if not self.check_mode:
                # tenant/rollout.py: helm upgrade, the wait reported while it runs, diagnosis and atomic rollback
                deployed, result["rollout"] = trollout.upgrade_and_wait(
                    self.helm, self.kube, self.name, self.namespace, params["chart"], values,
                    wait=params.get("wait", True), timeout=params.get("timeout") or 300,
                    atomic=params.get("atomic", False), history_max=params.get("history_max") or DEFAULT_HISTORY_MAX,
                    previous_revision=trollout.last_deployed_revision(self.kube, self.name, self.namespace)
                    if release else None, report=self.progress)
                result["revision"], result["status"] = deployed["revision"], deployed["status"]
            else:
                result["rollout"] = trollout.planned_rollout(params)
        guard.report(result)
        result["changed"] = bool(plan or release_changes)
        result["actions"] = self.actions
        return result

    def _plan_owned_secret(self, plan, triggers, sname, desired, ns_obj):
        """Plan a write of a Secret the module owns when its data differs from ``desired``."""
        current = self.kube.get("v1", "Secret", sname, self.namespace) if ns_obj else None
        current_data = dict((k, _unb64(v)) for k, v in ((current or {}).get("data") or {}).items())
        if current is None or current_data != desired:
            plan.append(("secret", secret_object(sname, self.namespace, desired, self._labels())))
            self._secret_diff(sname, current_data, desired)
            triggers["secret/" + sname] = PENDING
        else:
            triggers["secret/" + sname] = current["metadata"].get("resourceVersion", "")

    def _release_changes(self, release, values, chart_name, chart_version):
        if release is None:
            return ["release (not installed)"]
        changes = []
        if release.get("status") != "deployed":
            changes.append("status (%s)" % release.get("status"))
        if release.get("chart") != chart_name or str(release.get("chart_version")) != str(chart_version):
            changes.append("chart (%s-%s -> %s-%s)"
                           % (release.get("chart"), release.get("chart_version"), chart_name, chart_version))
        changes.extend("values." + path for path in tvalues.changed_paths(release.get("values") or {}, values))
        return changes

    def _secret_diff(self, name, before, after):
        self.diffs.append({
            "before_header": "Secret %s/%s" % (self.namespace, name),
            "after_header": "Secret %s/%s" % (self.namespace, name),
            "before": dict((k, tcreds.MASK) for k in sorted(before)),
            "after": dict((k, tcreds.MASK + (" (changed)" if before.get(k) != v else "")) for k, v in sorted(after.items())),
        })

    def _warn_storage(self, params):
        pers = params.get("persistence") or {}
        hpa = params.get("autoscaling") or {}
        many = (hpa.get("enabled") and (hpa.get("max_replicas") or 4) > 1) or (params.get("replicas") or 1) > 1
        if pers.get("enabled", True) and many and (pers.get("access_mode") or "ReadWriteOnce") == "ReadWriteOnce":
            self.warn("persistence.access_mode: ReadWriteOnce with several replicas only works while all pods run "
                      "on one node; use ReadWriteMany (e.g. NFS) for %s." % self.name)

    # ------------------------------------------------------------------ absent
    def absent(self):
        purge = self.params.get("purge", False)
        ns_obj = self.kube.get("v1", "Namespace", self.namespace)
        result = dict(release_name=self.name, namespace=self.namespace, hosts=[], revision=None, status="uninstalled",
                      values_digest=None)
        if ns_obj is None:
            result.update(changed=False, actions=[])
            return result
        release = read_release(self.kube, self.name, self.namespace)
        if release is not None:
            result["revision"] = release["revision"]
            self.actions.append("helm uninstall %s" % self.name)
            self.diffs.append(tvalues.values_diff(release["values"], {}))
            if not self.check_mode:
                self.helm.uninstall(self.name, self.namespace, wait=self.params.get("wait", True),
                                    timeout=self.params.get("timeout") or 300)
        if purge:
            selector = "app.kubernetes.io/instance=%s" % self.name
            for pvc in self.kube.list("v1", "PersistentVolumeClaim", namespace=self.namespace, label_selector=selector):
                self.actions.append("PersistentVolumeClaim %s (purge)" % pvc["metadata"]["name"])
                if not self.check_mode:
                    self.kube.delete("v1", "PersistentVolumeClaim", pvc["metadata"]["name"], self.namespace)
            for sname in (tnames.db_secret_name(self.name), tnames.generated_secret_name(self.name),
                          tnames.env_secret_name(self.name)):
                if self.kube.get("v1", "Secret", sname, self.namespace) is not None:
                    self.actions.append("Secret %s (purge)" % sname)
                    if not self.check_mode:
                        self.kube.delete("v1", "Secret", sname, self.namespace)
        else:
            kept = self.kube.list("v1", "PersistentVolumeClaim", namespace=self.namespace,
                                  label_selector="app.kubernetes.io/instance=%s" % self.name)
            result["kept_claims"] = sorted(p["metadata"]["name"] for p in kept)
        result["changed"] = bool(self.actions)
        result["actions"] = self.actions
        return result
