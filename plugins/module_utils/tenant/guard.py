# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release as it is in the cluster, for ``TenantRunner``: its records (a ``pending-*`` one left by an
interrupted run is recovered), the Lease a changing run holds, and the live drift of its objects.

``ReleaseGuard`` is the I/O; the decisions are pure functions in ``helm/records.py`` (what to do with a
pending record), ``kube/lease.py`` (is a Lease live) and ``tenant/drift.py`` (does an object differ).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.helm import records as hrecords
from ansible_collections.aistack.platform.plugins.module_utils.kube import lease as klease
from ansible_collections.aistack.platform.plugins.module_utils.tenant import drift as tdrift


class ReleaseGuard(object):
    def __init__(self, kube, name, namespace, check_mode=False, warn=None, lease_factory=None):
        self.kube = kube
        self.name = name
        self.namespace = namespace
        self.check_mode = check_mode
        self.warn = warn or (lambda msg: None)
        self.history = None
        self.plan = None
        self.recovered = None
        self.drifts = []
        self._lease_factory = lease_factory or (lambda: klease.Lease(kube, klease.lease_name(name), namespace))

    # ------------------------------------------------------------------ reading
    def read(self):
        """The latest revision's summary (as ``helm.runner.read_release`` gives it) or None; a ``pending-*``
        record is checked here: refused while the run that wrote it holds its Lease, else planned for
        recovery (``recovered`` in the result)."""
        self.history = hrecords.read_history(self.kube, self.name, self.namespace)
        plan = hrecords.recovery_plan(self.history.items)
        if plan is None:
            return self.history.release
        lease = self.kube.get(klease.API_VERSION, klease.KIND, klease.lease_name(self.name), self.namespace)
        now = klease.utcnow()
        live, _holder, _age = klease.lease_state(lease, now)
        if live:
            raise AistackError("release %s/%s is '%s' at revision %d and another run is working on it (%s)." % (
                self.namespace, self.name, plan["status"], plan["revision"], klease.describe(lease, now)),
                field="state", fix="wait for that run to finish and run again; a run that died leaves its lease to "
                                   "expire %d s after its last renewal, and the next run then recovers the release"
                                   % klease.DURATION_SECONDS)
        self.plan = plan
        message = hrecords.describe_plan(plan, self.name, self.namespace)
        if self.check_mode:
            message = message.replace(" was removed", " would be removed").replace(
                " was marked", " would be marked").replace(" were not touched", " are not touched")
        self.recovered = dict(plan, lease=klease.describe(lease, now), message=message)
        self.warn(message)
        return None if plan["action"] == "delete" else self.history.release

    def drift(self, diffs=None):
        """``changes`` entries for the objects of the deployed release that differ from its manifest (one GET
        per object); their diff entries are appended to ``diffs``."""
        if self.history is None or self.history.release is None or self.plan is not None \
                or self.history.release.get("status") != "deployed":
            return []
        objects = tdrift.parse_manifest(self.history.manifest)
        refs = [tdrift.object_ref(obj, self.namespace) for obj in objects]
        live = dict(zip(refs, self._read_all(refs)))
        self.drifts = tdrift.detect(objects, live.get, self.namespace)
        if diffs is not None:
            diffs.extend(tdrift.diff_entries(self.drifts))
        return [d.summary() for d in self.drifts]

    def _read_all(self, refs):
        """The live objects (None: gone), read together; one that cannot be read is left out of the comparison,
        with a warning."""
        many = getattr(self.kube, "get_many", None)
        if many is not None:
            found = many([(ref[0], ref[1], ref[3], ref[2]) for ref in refs])
        else:
            found = []
            for ref in refs:
                try:
                    found.append(self.kube.get(ref[0], ref[1], ref[3], ref[2]))
                except Exception as exc:  # a kind the API no longer serves, a read the user may not make
                    found.append(exc)
        out = []
        for ref, obj in zip(refs, found):
            if isinstance(obj, Exception):
                self.warn("drift: %s was not compared: %s" % (tdrift.label(ref), obj))
                obj = tdrift.UNREAD
            out.append(obj)
        return out

    def report(self, result):
        if self.recovered:
            result["recovered"] = self.recovered
        if self.drifts:
            result["drift"] = [d.as_dict() for d in self.drifts]
        return result

    # ------------------------------------------------------------------ changing
    def wrap(self, helm):
        """``helm`` (a ``HelmRunner``) whose ``upgrade`` runs inside ``holding()``; other calls pass through."""
        if helm is None or isinstance(helm, GuardedHelm):
            return helm
        return GuardedHelm(helm, self)

    @contextlib.contextmanager
    def holding(self):
        """Hold the release's Lease around a change, after carrying out the recovery plan."""
        if self.check_mode:
            yield
            return
        with self._lease_factory():
            self._recover()
            yield

    def _recover(self):
        plan = self.plan
        if plan is None:
            return
        record = self.history.record(plan["secret"])
        if plan["action"] == "delete":
            self.kube.delete("v1", "Secret", plan["secret"], self.namespace)
        elif record is not None:
            failed = hrecords.mark_failed(record)
            failed.update(apiVersion="v1", kind="Secret")
            failed["metadata"]["namespace"] = self.namespace
            self.kube.replace(failed)  # resourceVersion as read: refused if the record moved since


class GuardedHelm(object):
    """A ``HelmRunner`` whose ``upgrade`` holds the release's Lease (and first recovers a pending record)."""

    def __init__(self, helm, guard):
        self._helm = helm
        self._guard = guard

    def upgrade(self, *args, **kwargs):
        with self._guard.holding():
            return self._helm.upgrade(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._helm, name)
