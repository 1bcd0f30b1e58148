# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helm's release records (the ``sh.helm.release.v1.<name>.v<rev>`` Secrets) as a whole history.

``helm.runner.read_release`` answers "what is the latest revision"; this file answers the questions of a
run that finds a release in a state Helm itself refuses to touch: is the latest record ``pending-*``, which
revision was last ``deployed``, and how to rewrite one record's status (Helm keeps it twice: in the Secret's
``status`` label, which its queries select on, and in the payload's ``info.status``, which it reads).

Pure functions first (over the Secrets as the API returns them); ``read_history`` is the one read: one
LIST of the release's Secrets, the same request ``read_release`` makes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.helm.runner import (
    decode_release, encode_release, release_selector, summarize_release)

PENDING_STATUSES = ("pending-install", "pending-upgrade", "pending-rollback")


def record_revision(item):
    """The revision of a storage Secret (its ``version`` label), or None when it has none."""
    labels = (item.get("metadata") or {}).get("labels") or {}
    try:
        return int(labels.get("version", ""))
    except ValueError:
        return None


def record_status(item):
    """The status label of a storage Secret (Helm writes it with every status change)."""
    return ((item.get("metadata") or {}).get("labels") or {}).get("status")


def history(items):
    """``[(revision, status, secret name)]`` of a release's storage Secrets, oldest first."""
    out = []
    for item in items or []:
        rev = record_revision(item)
        if rev is None:
            continue
        out.append((rev, record_status(item), (item.get("metadata") or {}).get("name")))
    return sorted(out)


def latest(items):
    """The storage Secret of the newest revision, or None."""
    best, best_rev = None, None
    for item in items or []:
        rev = record_revision(item)
        if rev is not None and (best_rev is None or rev > best_rev):
            best, best_rev = item, rev
    return best


def pending(items):
    """``(revision, status, secret name)`` when the newest record is ``pending-*``, else None."""
    hist = history(items)
    if hist and hist[-1][1] in PENDING_STATUSES:
        return hist[-1]
    return None


def last_deployed(items):
    """``(revision, status, secret name)`` of the newest ``deployed`` record, else None."""
    for entry in reversed(history(items)):
        if entry[1] == "deployed":
            return entry
    return None


def recovery_plan(items):
    """What to do with a release left ``pending-*``: None when nothing is pending, else a dict with
    ``status``, ``revision``, ``secret`` (the record), ``deployed`` (the last deployed revision or None) and
    ``action``: ``delete`` (a first install that never finished: the release is installed again) or
    ``mark-failed`` (an upgrade or rollback: Helm then upgrades from the last deployed revision)."""
    found = pending(items)
    if found is None:
        return None
    rev, status, secret = found
    deployed = last_deployed(items)
    action = "delete" if status == "pending-install" and deployed is None else "mark-failed"
    return {"status": status, "revision": rev, "secret": secret, "deployed": deployed[0] if deployed else None,
            "action": action}


def describe_plan(plan, release, namespace):
    """One sentence: what was found and what was (or would be) done."""
    found = "release %s/%s was left '%s' at revision %d by a run that did not finish" % (
        namespace, release, plan["status"], plan["revision"])
    if plan["action"] == "delete":
        done = "its record (Secret %s) was removed and the release installed again" % plan["secret"]
    else:
        done = "revision %d was marked failed and the release upgraded again%s" % (
            plan["revision"], " from revision %d" % plan["deployed"] if plan["deployed"] else "")
    return "%s; %s. PersistentVolumeClaims and data were not touched." % (found, done)


def mark_failed(item, description="interrupted: marked failed by aistack.platform.helm_tenant"):
    """A copy of storage Secret ``item`` whose status is ``failed``, in its label and in its payload."""
    out = copy.deepcopy(item)
    payload = (out.get("data") or {}).get("release")
    if not payload:
        raise AistackError("Helm record %s has no release data." % (out.get("metadata") or {}).get("name"),
                           field="state", fix="inspect it with 'helm history'")
    release = decode_release(payload)
    info = release.setdefault("info", {})
    info["status"] = "failed"
    info["description"] = description
    out["data"]["release"] = encode_release(release)
    out["metadata"].setdefault("labels", {})["status"] = "failed"
    return out


class History(object):
    """A release's storage Secrets read once: the latest revision's summary and manifest, the records."""

    def __init__(self, items):
        self.items = items or []
        record = latest(self.items)
        self.release = None
        self.manifest = None
        if record is not None:
            payload = (record.get("data") or {}).get("release")
            if not payload:
                raise AistackError("Helm record %s has no release data." % record["metadata"]["name"],
                                   field="state", fix="inspect it with 'helm history'")
            decoded = decode_release(payload)
            self.release = summarize_release(decoded)
            self.manifest = decoded.get("manifest") or ""

    def record(self, secret_name):
        for item in self.items:
            if (item.get("metadata") or {}).get("name") == secret_name:
                return item
        return None


def read_history(kube, name, namespace):
    """One LIST of release ``name``'s storage Secrets -> ``History``."""
    return History(kube.list("v1", "Secret", namespace=namespace, label_selector=release_selector(name)))
