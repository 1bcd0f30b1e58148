# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The logic of ``release_wait``: wait for several Helm releases' rollouts at once.

``validate`` is pure and runs before any connection; ``ReleaseWaiter`` polls all releases together through
``tenant.rollout.RolloutWatcher`` (one request per kind and namespace), reports progress lines, and on timeout
diagnoses each release that is not ready and, with ``atomic``, rolls it back.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.common.naming import (
    HELM_RELEASE_MAX, dns_label_problem)
from ansible_collections.aistack.platform.plugins.module_utils.tenant import rollout as trollout


def validate(params):
    """The releases as [(name, namespace, previous_revision)]; every problem raises naming the field."""
    timeout = params.get("timeout")
    if timeout is None or int(timeout) <= 0:
        raise AistackError("must be a positive number of seconds, not %r." % (timeout,), field="timeout",
                           fix="give the seconds to wait for all releases, e.g. 300")
    out = []
    seen = {}
    for index, item in enumerate(params.get("releases") or []):
        field = "releases[%d]" % index
        if not isinstance(item, dict):
            raise AistackError("must be a mapping with name and namespace.", field=field,
                               fix="give {name: <release>, namespace: <namespace>}, e.g. from the filter "
                                   "aistack.platform.rollout_pending")
        name, namespace = item.get("name"), item.get("namespace")
        problem = dns_label_problem(name, HELM_RELEASE_MAX)
        if problem:
            raise AistackError("name %s." % problem, field=field + ".name", fix="give the Helm release name")
        problem = dns_label_problem(namespace)
        if problem:
            raise AistackError("namespace %s." % problem, field=field + ".namespace",
                               fix="give the namespace of the release")
        if (namespace, name) in seen:
            first = seen[(namespace, name)]
            raise AistackError("release %s/%s is listed twice (also releases[%d])." % (namespace, name, first),
                               field=field, fix="list each release once")
        seen[(namespace, name)] = index
        previous = item.get("previous_revision")
        if previous is not None:
            try:
                previous = int(previous)
            except (TypeError, ValueError):
                previous = -1
            if previous < 1:
                raise AistackError("previous_revision must be a revision number (1 or more), not %r."
                                   % (item.get("previous_revision"),), field=field + ".previous_revision",
                                   fix="pass helm_tenant's rollout.previous_revision, or leave it out")
        out.append((name, namespace, previous))
    return out


def release_rows(targets, states):
    """The module's ``releases`` result: one row per release, in the order given."""
    rows = []
    for name, namespace, _previous in targets:
        progress = states.get((namespace, name)) or {}
        rows.append({"name": name, "namespace": namespace, "ready": progress.get("ready", 0),
                     "desired": progress.get("desired", 0), "done": bool(progress.get("done")),
                     "status": progress.get("status"), "reason": progress.get("reason"),
                     "seconds": progress.get("seconds", 0)})
    return rows


class ReleaseWaiter(object):
    def __init__(self, params, kube, helm=None, check_mode=False, report=None, watcher=None):
        self.params = params
        self.targets = validate(params)
        self.kube = kube
        self.helm = helm  # only for an atomic rollback
        self.check_mode = check_mode
        self.report = report
        self.watcher = watcher or trollout.RolloutWatcher(kube)

    def run(self):
        result = {"changed": False, "releases": [], "seconds": 0, "rolled_back": []}
        if not self.targets:
            return result
        pairs = [(name, namespace) for name, namespace, _previous in self.targets]
        if self.check_mode:
            # waiting changes nothing: a check run reports where the releases stand and does not wait
            states = self.watcher.snapshot(pairs, with_status=True)
            result["releases"] = release_rows(self.targets, states)
            return result
        first = self.watcher.snapshot(pairs, with_status=True)
        missing = [(i, n, ns) for i, (n, ns, _p) in enumerate(self.targets) if first[(ns, n)].get("status") is None]
        if missing:
            index, name, namespace = missing[0]
            raise AistackError("release %s/%s does not exist." % (namespace, name), field="releases[%d]" % index,
                               fix="install it first (aistack.platform.helm_tenant), or fix the name and namespace",
                               releases=release_rows(self.targets, first))
        states, elapsed, timed_out = self.watcher.wait(pairs, int(self.params["timeout"]), report=self.report,
                                                       with_status=True)
        result["seconds"] = int(elapsed)
        result["releases"] = release_rows(self.targets, states)
        if not timed_out:
            return result
        failed = [(n, ns, p) for n, ns, p in self.targets if not states[(ns, n)].get("done")]
        diagnosis = {}
        lines = []
        for name, namespace, _previous in failed:
            diagnosis["%s/%s" % (namespace, name)] = diag = self.watcher.diagnose(name, namespace)
            lines.append(trollout.progress_line(name, states[(namespace, name)], elapsed))
            lines.append(trollout.diagnosis_summary(name, diag))
        rolled_back = []
        if self.params.get("atomic"):
            for name, namespace, previous in failed:
                if previous:
                    self.helm.rollback(name, namespace, previous, timeout=int(self.params["timeout"]))
                    rolled_back.append({"name": name, "namespace": namespace, "revision": previous})
                else:
                    self.helm.uninstall(name, namespace, wait=True, timeout=int(self.params["timeout"]))
                    rolled_back.append({"name": name, "namespace": namespace, "revision": None})
        names = ", ".join("%s/%s" % (ns, n) for n, ns, _p in failed)
        raise AistackError(
            "%d of %d releases not ready after %d s: %s.%s\n%s" % (
                len(failed), len(self.targets), int(elapsed), names,
                " Rolled back: %s." % ", ".join("%s/%s to %s" % (r["namespace"], r["name"], r["revision"] or
                                                                 "nothing (first install, removed)")
                                                for r in rolled_back) if rolled_back else "",
                "\n".join(lines)),
            field="timeout", fix="read the diagnosis (pods, events, log lines); raise timeout for slow starters",
            releases=result["releases"], diagnosis=diagnosis, rolled_back=rolled_back, changed=bool(rolled_back))
