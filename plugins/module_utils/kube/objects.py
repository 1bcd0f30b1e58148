# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers the roles use around kubernetes.core calls, so that one call handles many objects.

A loop of N ``kubernetes.core.k8s`` calls costs N module runs (about a second each here); one call with a
list of definitions costs one. These helpers build those lists and read their results back.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.aistack.platform.plugins.module_utils.common.constants import (
    MANAGED_BY as MANAGED_BY_VALUE,
    MANAGED_BY_LABEL,
)
from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError

MANAGED_BY = {MANAGED_BY_LABEL: MANAGED_BY_VALUE}


def namespaces(items, labels=None):
    """Namespace definitions for ``items`` (names, or dicts with ``name`` and optional ``labels``), each
    labelled managed-by aistack.platform plus ``labels``; duplicates are dropped, order is kept."""
    out, seen = [], set()
    for item in items or []:
        if isinstance(item, dict):
            name, own = item.get("name"), item.get("labels") or {}
        else:
            name, own = item, {}
        if not name or not isinstance(name, str):
            raise AistackError("every namespace needs a name, got %r" % (item,), field="namespaces",
                               fix="give each entry a DNS-label name")
        if name in seen:
            continue
        seen.add(name)
        merged = dict(MANAGED_BY)
        merged.update(labels or {})
        merged.update(own)
        out.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": merged}})
    return out


def _results(result):
    """The per-object results of a kubernetes.core.k8s call: it nests them under result.results when it was
    given several definitions and returns the one result itself otherwise."""
    if not isinstance(result, dict) or result.get("skipped"):
        return []
    inner = result.get("result")
    if isinstance(inner, dict) and isinstance(inner.get("results"), list):
        return inner["results"]
    return [result]


def changed_names(result):
    """metadata.name of every object a kubernetes.core.k8s call changed (or, in check mode, would change)."""
    names = []
    for one in _results(result):
        if one.get("changed"):
            name = ((one.get("result") or {}).get("metadata") or {}).get("name")
            if name:
                names.append(name)
    return names


def secret_problems(resources, wanted, needs=None):
    """What is wrong with the Secrets a release reads, as sentences (empty: nothing).

    ``resources``: the Secrets found (a kubernetes.core.k8s_info listing of the namespace). ``wanted``: one
    dict per Secret: ``name`` (or ``secret``), ``keys`` (or, with ``needs``, ``kind`` looked up in it) and
    ``variable`` (or ``var``), the role variable that names the Secret; a ``kind`` is shown with it.
    """
    found = {}
    for res in resources or []:
        meta = res.get("metadata") or {}
        found[meta.get("name")] = set((res.get("data") or {}).keys())
    problems = []
    for want in wanted or []:
        name = want.get("name", want.get("secret"))
        variable = want.get("variable", want.get("var", ""))
        kind = want.get("kind")
        keys = want.get("keys")
        if keys is None:
            keys = (needs or {}).get(kind, [])
        label = variable + (", %s" % kind if kind else "")
        if name not in found:
            problems.append("Secret %s (%s) is missing" % (name, label))
            continue
        missing = [k for k in keys if k not in found[name]]
        if missing:
            problems.append("Secret %s (%s) lacks %s" % (name, variable, ", ".join(missing)))
    return problems
