# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helm 3 and Helm 4: the command lines that differ, as pure functions, and the runner that uses them.

``helm/runner.py`` builds Helm 3 command lines; ``for_major`` turns one into its Helm 4 equivalent (Helm 4
spells the wait ``--wait=watcher`` and replaces ``--atomic`` by ``--rollback-on-failure``).
``VersionedHelmRunner`` asks the binary its version once, runs every command in the spelling of that version,
and adds ``rollback``: ``helm_tenant`` rolls back itself (``atomic``), the same way on both versions.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import shutil
import tempfile

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.helm.runner import (
    HelmRunner, auth_flags, helm_error_summary)

SUPPORTED_MAJORS = (3, 4)
# the oldest minor release of each major this collection is tested or written for
MINIMUM = {3: (3, 19)}

_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(text):
    """``(major, minor, patch)`` from ``helm version`` output (``v3.19.5+g...``, ``version.BuildInfo{Version:
    "v3.19.5", ...}`` or ``v4.0.1``); raises AistackError on anything else or an unsupported version."""
    match = _VERSION.search(text or "")
    if not match:
        raise AistackError("cannot read the helm version from %r." % (text or "")[:80], field="binary_path",
                           fix="point binary_path at a Helm 3 (3.19 or newer) or Helm 4 binary")
    version = (int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))
    if version[0] not in SUPPORTED_MAJORS or version[:2] < MINIMUM.get(version[0], (0, 0)):
        raise AistackError("helm %d.%d.%d is not supported." % version, field="binary_path",
                           fix="use Helm 3.19 or newer, or Helm 4")
    return version


def for_major(cmd, major):
    """A Helm 3 command line in the spelling of Helm ``major``."""
    if major < 4:
        return list(cmd)
    out = []
    for arg in cmd:
        if arg == "--wait":
            out.append("--wait=watcher")
        elif arg == "--atomic":
            out.append("--rollback-on-failure")
        else:
            out.append(arg)
    return out


def rollback_command(binary, name, namespace, revision, major=3, wait=True, timeout=300, history_max=5,
                     kubeconfig=None, context=None):
    """``helm rollback`` of ``name`` to ``revision``; waits for the pods of that revision with ``wait``."""
    cmd = [binary, "rollback", name, str(int(revision)), "--namespace", namespace, "--history-max", str(history_max)]
    if wait:
        cmd += ["--wait", "--timeout", "%ds" % int(timeout)]
    return for_major(cmd + auth_flags(kubeconfig, context), major)


def version_command(binary):
    return [binary, "version", "--template", "{{.Version}}"]


class VersionedHelmRunner(HelmRunner):
    """``HelmRunner`` in the spelling of the binary's major version, with ``rollback``."""

    _version = None

    def _call(self, tmpdir, build):
        """Every command in the spelling of the binary's major version."""
        return super(VersionedHelmRunner, self)._call(
            tmpdir, lambda kubeconfig, context: for_major(build(kubeconfig, context), self.version[0]))

    @property
    def version(self):
        if self._version is None:
            rc, out, err = self._run(version_command(self.binary), self.env)
            if rc != 0:
                raise AistackError("'%s version' failed: %s" % (self.binary, helm_error_summary(err)),
                                   field="binary_path", fix="point binary_path at a working helm binary")
            self._version = parse_version(out)
        return self._version

    def rollback(self, name, namespace, revision, wait=True, timeout=300, history_max=5):
        tmpdir = tempfile.mkdtemp(prefix="aistack-helm-")
        try:
            rc, _out, err = self._call(tmpdir, lambda kubeconfig, context: rollback_command(
                self.binary, name, namespace, revision, major=3, wait=wait, timeout=timeout,
                history_max=history_max, kubeconfig=kubeconfig, context=context))
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
        if rc != 0:
            raise AistackError("helm rollback of %s/%s to revision %s failed: %s" % (
                namespace, name, revision, helm_error_summary(err)), field="atomic",
                fix="inspect the release with 'helm history %s -n %s' and roll back by hand" % (name, namespace))
        return True
