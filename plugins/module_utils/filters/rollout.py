# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for rollouts started without waiting: which to wait for, and in which batches to start them.

A role with many releases starts them with ``helm_tenant`` ``wait: false`` a batch at a time
(``rollout_batches``), then waits for the batch with ``release_wait`` on what ``rollout_pending`` picks from
the registered results, instead of one full wait after another.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

_WAIT_STATES = ("started", "check_mode")


def _results(data):
    """The items of a registered result: a loop's ``results``, a list of them, or one task result."""
    if isinstance(data, dict):
        if isinstance(data.get("results"), list):
            return data["results"]
        return [data]
    if isinstance(data, list):
        out = []
        for item in data:
            out.extend(_results(item))
        return out
    raise AistackError("expects registered helm_tenant results (a dict or a list), not %s." % type(data).__name__,
                       field="rollout_pending", fix="pass the variable a helm_tenant task registered")


def rollout_pending(data):
    """The releases whose rollout a helm_tenant run started without waiting for it (``rollout.state``
    ``started``, or ``check_mode``: would start), as ``release_wait``'s ``releases``; skipped and failed
    items are left out, and each release is listed once."""
    out = []
    seen = set()
    for item in _results(data):
        if not isinstance(item, dict) or item.get("skipped") or item.get("failed"):
            continue
        rollout = item.get("rollout") or {}
        if rollout.get("state") not in _WAIT_STATES:
            continue
        if rollout.get("state") == "check_mode" and rollout.get("wait"):
            continue  # a real run waits in helm_tenant itself
        key = (item.get("namespace"), item.get("release_name"))
        if not all(key) or key in seen:
            continue
        seen.add(key)
        entry = {"name": key[1], "namespace": key[0]}
        if rollout.get("previous_revision"):
            entry["previous_revision"] = int(rollout["previous_revision"])
        out.append(entry)
    return out


def rollout_batches(items, size=0):
    """``items`` in consecutive batches of at most ``size`` (all in one batch when ``size`` is 0 or less)."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise AistackError("expects a list, not %s." % type(items).__name__, field="rollout_batches",
                           fix="pass the list to split")
    try:
        size = int(size or 0)
    except (TypeError, ValueError):
        raise AistackError("the batch size must be a whole number, not %r." % (size,), field="rollout_batches",
                           fix="give the concurrency as a number (0: everything at once)")
    if size <= 0 or size >= len(items):
        return [list(items)] if items else []
    return [items[start:start + size] for start in range(0, len(items), size)]
