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
import threading

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
        self._prefetch = None  # (thread, outcome) of prefetch_drift()
        self._lease_factory = lease_factory or (lambda: klease.Lease(kube, klease.lease_name(name), namespace))

    # ------------------------------------------------------------------ reading
    def load(self):
        """The release's records (``helm/records.py`` History), read once: one LIST, empty where the namespace does
        not exist."""
        if self.history is None:
            self.history = hrecords.read_history(self.kube, self.name, self.namespace)
        return self.history

    def read(self):
        """The latest revision's summary (as ``helm.runner.read_release`` gives it) or None; a ``pending-*``
        record is checked here: refused while the run that wrote it holds its Lease, else planned for
        recovery (``recovered`` in the result)."""
        self.load()
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

    def _drift_due(self):
        return not (self.history is None or self.history.release is None or self.plan is not None
                    or self.history.release.get("status") != "deployed")

    def prefetch_drift(self):
        """Start what ``drift()`` reads (the manifest parsed, one GET per object) in a thread, on the process's second
        connection, while the caller goes on with its own requests on the first; ``drift()`` takes the result. Only
        for a deployed release (after ``load()``); the objects are read a few milliseconds earlier, nothing else
        changes."""
        if self._prefetch is not None or not self._drift_due():
            return
        outcome = {}

        def work():
            try:
                outcome["value"] = self._read_objects(connection=1)
            except Exception as exc:  # pylint: disable=broad-except  # raised by drift(), which needs the result
                outcome["error"] = exc
        thread = threading.Thread(target=work, name="drift-" + self.name)
        thread.daemon = True
        thread.start()
        self._prefetch = (thread, outcome)

    def _settle(self, raise_error=True):
        """The prefetch's (objects, live) once it is done, or None when none was started."""
        if self._prefetch is None:
            return None
        thread, outcome = self._prefetch
        self._prefetch = None
        thread.join()
        if "error" in outcome:
            if raise_error:
                raise outcome["error"]
            return None
        return outcome["value"]

    def _read_objects(self, connection=0):
        objects = self.history.manifest_objects(tdrift.parse_manifest)
        refs = [tdrift.object_ref(obj, self.namespace) for obj in objects]
        if not connection or len(refs) < 3:
            return objects, dict(zip(refs, self._read_all(refs, connection)))
        # in the prefetch thread: every other object on the next connection, side by side (the API server's time
        # per read overlaps)
        other = {}
        helper = threading.Thread(target=lambda: other.update(found=self._read_all(refs[1::2], connection + 1)),
                                  name="drift-%s-2" % self.name)
        helper.daemon = True
        helper.start()
        found = [None] * len(refs)
        found[0::2] = self._read_all(refs[0::2], connection)
        helper.join()
        found[1::2] = other["found"] if "found" in other else self._read_all(refs[1::2], connection)
        return objects, dict(zip(refs, found))

    def drift(self, diffs=None):
        """``changes`` entries for the objects of the deployed release that differ from its manifest (one GET
        per object, read by ``prefetch_drift()`` when it was started); their diff entries are appended to
        ``diffs``."""
        if not self._drift_due():
            self._settle(raise_error=False)
            return []
        objects, live = self._settle() or self._read_objects()
        self.drifts = tdrift.detect(objects, live.get, self.namespace)
        if diffs is not None:
            diffs.extend(tdrift.diff_entries(self.drifts))
        return [d.summary() for d in self.drifts]

    def _read_all(self, refs, connection=0):
        """The live objects (None: gone), read together; one that cannot be read is left out of the comparison,
        with a warning."""
        many = getattr(self.kube, "get_many", None)
        if many is not None:
            found = many([(ref[0], ref[1], ref[3], ref[2]) for ref in refs], connection=connection)
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
        self._settle(raise_error=False)  # a prefetch whose result was not needed (the values changed anyway)
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
