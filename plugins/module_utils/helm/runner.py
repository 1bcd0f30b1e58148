# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helm: command lines and output parsing as pure functions, one runner class for the subprocesses,
and the decoder for Helm's release records (``sh.helm.release.v1.<name>.v<rev>`` Secrets).

Reading a release straight from its storage Secret costs one API request and no Helm process; that
is what makes the no-op check of ``helm_tenant`` cheap.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import gzip
import json
import os
import shutil
import subprocess
import tempfile

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.common.files import write_private
from ansible_collections.aistack.platform.plugins.module_utils.kube.auth import kubeconfig_for

GZIP_MAGIC = b"\x1f\x8b\x08"
DEFAULT_HISTORY_MAX = 5


# --------------------------------------------------------------------------- release records

def decode_release(data):
    """Decode the ``release`` field of a Helm storage Secret.

    ``data`` is the Secret's ``data.release`` as the API returns it: base64 (Kubernetes) of base64
    (Helm) of gzip of the release JSON.
    """
    if isinstance(data, str):
        data = data.encode("ascii")
    raw = base64.b64decode(base64.b64decode(data))
    if raw[:3] == GZIP_MAGIC:
        raw = gzip.decompress(raw)
    return json.loads(raw.decode("utf-8"))


def encode_release(release):
    """Inverse of ``decode_release`` (used by the unit tests to build fake records)."""
    raw = gzip.compress(json.dumps(release).encode("utf-8"))
    return base64.b64encode(base64.b64encode(raw)).decode("ascii")


def release_selector(name):
    return "owner=helm,name=%s" % name


def latest_record(secrets):
    """The newest revision among a release's storage Secrets (by the ``version`` label)."""
    best, best_rev = None, -1
    for item in secrets or []:
        labels = (item.get("metadata") or {}).get("labels") or {}
        try:
            rev = int(labels.get("version", "0"))
        except ValueError:
            continue
        if rev > best_rev:
            best, best_rev = item, rev
    return best


def summarize_release(release):
    """The parts of a release the module compares and returns."""
    info = release.get("info") or {}
    meta = (release.get("chart") or {}).get("metadata") or {}
    return {
        "name": release.get("name"),
        "namespace": release.get("namespace"),
        "revision": release.get("version"),
        "status": info.get("status"),
        "chart": meta.get("name"),
        "chart_version": meta.get("version"),
        "app_version": meta.get("appVersion"),
        "values": release.get("config") or {},
    }


def read_release(kube, name, namespace):
    """Latest revision of release ``name`` (summary dict) or None, read from its storage Secret."""
    items = kube.list("v1", "Secret", namespace=namespace, label_selector=release_selector(name))
    record = latest_record(items)
    if record is None:
        return None
    payload = (record.get("data") or {}).get("release")
    if not payload:
        raise AistackError("Helm record %s/%s has no release data." % (namespace, record["metadata"]["name"]),
                           field="state", fix="inspect it with 'helm history %s -n %s'" % (name, namespace))
    return summarize_release(decode_release(payload))


# --------------------------------------------------------------------------- command lines

def chart_args(chart):
    """Positional chart reference plus repository/version flags."""
    if chart.get("path"):
        return [chart["path"]], []
    flags = []
    if chart.get("repo"):
        flags += ["--repo", chart["repo"]]
    if chart.get("version"):
        flags += ["--version", str(chart["version"])]
    return [chart["name"]], flags


def upgrade_command(binary, name, namespace, chart, values_file, wait=True, timeout=300, atomic=False,
                    history_max=DEFAULT_HISTORY_MAX, kubeconfig=None, context=None):
    ref, flags = chart_args(chart)
    cmd = [binary, "upgrade", name] + ref + ["--install", "--namespace", namespace, "--values", values_file,
                                             "--reset-values", "--history-max", str(history_max),
                                             "--output", "json"] + flags
    if atomic:
        cmd += ["--atomic", "--cleanup-on-fail"]
    if wait or atomic:
        cmd += ["--wait", "--timeout", "%ds" % int(timeout)]
    return cmd + auth_flags(kubeconfig, context)


def template_command(binary, name, namespace, chart, values_file):
    """``helm template``: the release's manifests rendered on this host, hooks included, chart tests left out;
    no cluster is asked (a chart from a repository is downloaded)."""
    ref, flags = chart_args(chart)
    return [binary, "template", name] + ref + ["--namespace", namespace, "--values", values_file, "--skip-tests"] + flags


def uninstall_command(binary, name, namespace, wait=True, timeout=300, kubeconfig=None, context=None):
    cmd = [binary, "uninstall", name, "--namespace", namespace]
    if wait:
        cmd += ["--wait", "--timeout", "%ds" % int(timeout)]
    return cmd + auth_flags(kubeconfig, context)


def auth_flags(kubeconfig=None, context=None):
    flags = []
    if kubeconfig:
        flags += ["--kubeconfig", kubeconfig]
    if context:
        flags += ["--kube-context", context]
    return flags


def helm_auth(access):
    """How helm reaches the cluster the modules reach, from the same resolved Access.

    Returns ``(env, context, kubeconfig_doc)``. The user's kubeconfig files, used as written, go to helm
    unchanged through ``KUBECONFIG`` (helm merges several files as kubectl does, and runs exec plugins
    itself). Anything else (``K8S_AUTH_*``, host/api_key options, a kubeconfig dict, options that override
    part of a file) becomes a kubeconfig document of its own, which the runner writes privately for the
    duration of the call.
    """
    if access is None:
        return {}, None, None
    if not access.get("overridden") and access.get("kubeconfig_files"):
        return {"KUBECONFIG": os.pathsep.join(access["kubeconfig_files"])}, access.get("context"), None
    if not access.get("overridden") and access.get("kubeconfig_dict") is not None:
        return {}, access.get("context"), access["kubeconfig_dict"]
    return {}, None, kubeconfig_for(access)


def parse_release_output(stdout):
    """The release JSON printed by ``helm upgrade --output json`` (summary dict)."""
    text = (stdout or "").strip()
    start = text.find("{")
    if start < 0:
        raise AistackError("helm printed no release: %s" % text[:300])
    try:
        return summarize_release(json.loads(text[start:]))
    except ValueError as exc:
        raise AistackError("cannot parse helm output (%s): %s" % (exc, text[:300]))


def helm_error_summary(stderr):
    lines = [line for line in (stderr or "").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error") or "error" in line.lower()]
    return "\n".join((errors or lines)[-5:])


# --------------------------------------------------------------------------- runner

class HelmRunner(object):
    """Runs the helm binary; the only place that starts Helm processes."""

    def __init__(self, binary_path=None, access=None, run_command=None):
        self.binary = find_binary(binary_path)
        self.env, self.context, self._kubeconfig_doc = helm_auth(access)
        self._run = run_command or _run

    def _call(self, tmpdir, build):
        """Run the command ``build(kubeconfig, context)`` returns, with a private kubeconfig when needed."""
        kubeconfig = None
        if self._kubeconfig_doc is not None:
            # JSON is YAML: helm reads it as a kubeconfig
            kubeconfig = write_private(tmpdir, "kubeconfig", json.dumps(self._kubeconfig_doc).encode("utf-8"))
        return self._run(build(kubeconfig, self.context), self.env)

    def upgrade(self, name, namespace, chart, values, wait=True, timeout=300, atomic=False,
                history_max=DEFAULT_HISTORY_MAX):
        tmpdir = tempfile.mkdtemp(prefix="aistack-helm-")
        try:
            values_file = os.path.join(tmpdir, "values.json")
            with open(values_file, "w") as handle:
                json.dump(values, handle)
            rc, out, err = self._call(tmpdir, lambda kubeconfig, context: upgrade_command(
                self.binary, name, namespace, chart, values_file, wait=wait, timeout=timeout, atomic=atomic,
                history_max=history_max, kubeconfig=kubeconfig, context=context))
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
        if rc != 0:
            raise AistackError("helm upgrade of %s/%s failed%s: %s" % (
                namespace, name, " and was rolled back" if atomic else "", helm_error_summary(err)),
                field="state", fix="check the values and the pods' events; 'helm history %s -n %s' shows the "
                                   "revisions" % (name, namespace), rc=rc)
        return parse_release_output(out)

    def template(self, name, namespace, chart, values):
        """The manifests ``helm template`` renders for this release (text); no cluster access."""
        tmpdir = tempfile.mkdtemp(prefix="aistack-helm-")
        try:
            values_file = os.path.join(tmpdir, "values.json")
            with open(values_file, "w") as handle:
                json.dump(values, handle)
            rc, out, err = self._run(template_command(self.binary, name, namespace, chart, values_file), self.env)
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
        if rc != 0:
            raise AistackError("helm template of %s/%s failed: %s" % (namespace, name, helm_error_summary(err)),
                               field="render_dir", fix="check the chart and the values", rc=rc)
        return out

    def uninstall(self, name, namespace, wait=True, timeout=300):
        tmpdir = tempfile.mkdtemp(prefix="aistack-helm-")
        try:
            rc, out, err = self._call(tmpdir, lambda kubeconfig, context: uninstall_command(
                self.binary, name, namespace, wait=wait, timeout=timeout, kubeconfig=kubeconfig, context=context))
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
        if rc != 0 and "not found" not in (err or ""):
            raise AistackError("helm uninstall of %s/%s failed: %s" % (namespace, name, helm_error_summary(err)),
                               field="state", fix="inspect the release with 'helm status %s -n %s'" % (name, namespace))
        return rc == 0


def find_binary(binary_path=None):
    if binary_path:
        if not (os.path.isfile(binary_path) and os.access(binary_path, os.X_OK)):
            raise AistackError("'%s' is not an executable." % binary_path, field="binary_path",
                               fix="point binary_path at the helm binary")
        return binary_path
    found = shutil.which("helm")
    if not found:
        raise AistackError("helm is not on PATH.", field="binary_path",
                           fix="install Helm 3 or set binary_path to the helm binary")
    return found


def _run(cmd, extra_env=None):
    # helm takes its cluster access from HELM_KUBE* variables (token, API server, context, CA, ...) over the
    # kubeconfig it is given: none of them may reach it, so it uses exactly the access the module resolved
    env = dict((key, value) for key, value in os.environ.items() if not key.startswith("HELM_KUBE"))
    env.setdefault("HELM_DRIVER", "secret")
    env.update(extra_env or {})
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = proc.communicate()
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
