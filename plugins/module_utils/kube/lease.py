# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A coordination.k8s.io Lease held while a run changes something, so that a later run can tell a live
concurrent run from an abandoned one.

The holder renews the Lease every ``RENEW_SECONDS`` from a thread of its own (with a client of its own:
the caller's connection is not shared between threads); the Lease lasts ``DURATION_SECONDS``. A process
that dies (killed, its host gone) stops renewing, and ``DURATION_SECONDS`` later any run sees the Lease
expired. Taking a Lease is a create, taking over an expired one a replace with the read resourceVersion:
two runs racing for it cannot both win.

Times are the holders' clocks (``renewTime``), compared with the reader's: hosts running Ansible against
one cluster need clocks within a few seconds of each other.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import socket
import threading
import uuid

from ansible_collections.aistack.platform.plugins.module_utils.common.constants import MANAGED_BY, MANAGED_BY_LABEL
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.kube._rest import Conflict

API_VERSION = "coordination.k8s.io/v1"
KIND = "Lease"
DURATION_SECONDS = 15
RENEW_SECONDS = 5
MICROTIME = "%Y-%m-%dT%H:%M:%S.%fZ"


class LeaseHeld(AistackError):
    """Another live holder has the Lease."""


# --------------------------------------------------------------------------- pure

def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def format_time(when):
    return when.strftime(MICROTIME)


def parse_time(text):
    """A MicroTime (or a plain RFC 3339 time) -> naive UTC datetime; None when absent or unreadable."""
    if not text:
        return None
    text = str(text)
    for fmt in (MICROTIME, "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def lease_name(release):
    return "aistack-helm-%s" % release


def holder_identity():
    """Who holds it: host, process and a random part (two runs in one process stay apart)."""
    return "%s/%d/%s" % (socket.gethostname(), os.getpid(), uuid.uuid4().hex[:8])


def lease_object(name, namespace, holder, now, duration=DURATION_SECONDS, acquired=None, resource_version=None):
    meta = {"name": name, "namespace": namespace, "labels": {MANAGED_BY_LABEL: MANAGED_BY}}
    if resource_version:
        meta["resourceVersion"] = resource_version
    return {
        "apiVersion": API_VERSION, "kind": KIND, "metadata": meta,
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": int(duration),
                 "acquireTime": format_time(acquired or now), "renewTime": format_time(now)},
    }


def lease_state(obj, now):
    """``(live, holder, seconds since the last renewal)`` of a Lease object (None: no Lease)."""
    if not obj:
        return False, None, None
    spec = obj.get("spec") or {}
    holder = spec.get("holderIdentity")
    renewed = parse_time(spec.get("renewTime") or spec.get("acquireTime"))
    if not holder or renewed is None:
        return False, holder, None
    age = (now - renewed).total_seconds()
    duration = spec.get("leaseDurationSeconds") or DURATION_SECONDS
    return age < duration, holder, age


def describe(obj, now):
    """A few words on a Lease for messages: none, live (holder, age) or expired (holder, age)."""
    live, holder, age = lease_state(obj, now)
    if obj is None:
        return "no lease"
    if age is None:
        return "an unreadable lease"
    return "%s lease of %s, renewed %d s ago" % ("a live" if live else "an expired", holder, int(age))


# --------------------------------------------------------------------------- I/O

class Lease(object):
    """``with Lease(kube, name, namespace):`` holds the Lease for the block; the renewer thread uses a
    client of its own made by ``client_factory`` (default: a new ``KubeClient`` over the same Access)."""

    def __init__(self, kube, name, namespace, client_factory=None, renew_seconds=RENEW_SECONDS,
                 duration=DURATION_SECONDS, clock=utcnow, purpose="changes"):
        self.kube = kube
        self.name = name
        self.namespace = namespace
        self.holder = holder_identity()
        self.renew_seconds = renew_seconds
        self.duration = duration
        self.clock = clock
        self.purpose = purpose
        self._factory = client_factory
        self._stop = threading.Event()
        self._thread = None
        self._acquired = None
        self._rv = None
        self.renewals = 0
        self.renew_error = None

    def read(self):
        return self.kube.get(API_VERSION, KIND, self.name, self.namespace)

    def acquire(self):
        now = self.clock()
        current = self.read()
        try:
            if current is None:
                stored = self.kube.create(lease_object(self.name, self.namespace, self.holder, now, self.duration))
            else:
                live, holder, _unused = lease_state(current, now)
                if live and holder != self.holder:
                    raise self._held(current, now)
                stored = self.kube.replace(lease_object(
                    self.name, self.namespace, self.holder, now, self.duration,
                    resource_version=current["metadata"].get("resourceVersion")))
        except Conflict:
            raise self._held(self.read(), self.clock())
        self._acquired = now
        self._rv = (stored.get("metadata") or {}).get("resourceVersion")
        self._thread = threading.Thread(target=self._renew_loop, name="lease-" + self.name)
        self._thread.daemon = True
        self._thread.start()
        return self

    def _held(self, current, now):
        return LeaseHeld("another run is working on release %s/%s (%s, Lease %s)." % (
            self.namespace, self.name[len("aistack-helm-"):] if self.name.startswith("aistack-helm-") else self.name,
            describe(current, now), self.name), field="state",
            fix="wait for that run to finish and run again; if it is known to be dead, its lease expires %d s after "
                "its last renewal" % self.duration)

    def _renew_loop(self):
        client = self._factory() if self._factory else _own_client(self.kube)
        try:
            while not self._stop.wait(self.renew_seconds):
                now = self.clock()
                try:
                    stored = client.replace(lease_object(self.name, self.namespace, self.holder, now, self.duration,
                                                         acquired=self._acquired, resource_version=self._rv))
                    self._rv = (stored.get("metadata") or {}).get("resourceVersion")
                    self.renewals += 1
                except Exception as exc:  # keep trying: the holder's work goes on; the next renewal may pass
                    self.renew_error = str(exc)
        finally:
            close = getattr(client, "close", None)
            if close and client is not self.kube:
                close()

    def release(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.renew_seconds + 30)
            self._thread = None
        try:
            current = self.read()
            if current is not None and (current.get("spec") or {}).get("holderIdentity") == self.holder:
                self.kube.delete(API_VERSION, KIND, self.name, self.namespace)
        except AistackError:
            pass  # it expires by itself

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False


def _own_client(kube):
    """A client of the same kind over the same Access, for the renewer thread."""
    access = getattr(kube, "access", None)
    if access is None:
        return kube
    from ansible_collections.aistack.platform.plugins.module_utils.kube.client import KubeClient  # pylint: disable=import-outside-toplevel
    return KubeClient(access)
