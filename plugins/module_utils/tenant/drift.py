# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live drift of a release: the objects its manifest renders against the objects in the cluster. Pure.

The rule: every field the manifest sets must hold the same value in the live object; an object the manifest
renders must exist. Fields the API server or controllers add (defaults, status, ``clusterIP``, a rollout
restart annotation) are not the release's and are not compared; neither are list items added by hand beside
the rendered ones (an extra env var): Helm's three-way merge, which repairs drift, keeps those too.

Lists of objects are matched by key (``name``, else ``mountPath``, ``containerPort``, ``port``), so a path
names the item: ``spec.template.spec.containers[demo].env[APP_SECRET_KEY].valueFrom.secretKeyRef.name``.
Quantities compare by value (``1000m`` equals ``1``). A PersistentVolumeClaim counts by its existence only:
its size may be grown by hand and the rest of its spec is immutable. Secret data is never shown.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import re
from decimal import Decimal, InvalidOperation

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.tenant.credentials import MASK, is_sensitive_name

ABSENT = "(absent)"
UNREAD = object()  # what a live lookup returns for an object it could not read: not compared
LIST_KEYS = ("name", "mountPath", "containerPort", "port")
QUANTITY_PARENTS = ("requests", "limits", "capacity", "hard")
# kinds whose existence is all that counts
EXISTENCE_ONLY = ("PersistentVolumeClaim",)
# metadata the API server or Helm owns
SKIP_METADATA = ("namespace", "resourceVersion", "uid", "generation", "creationTimestamp", "managedFields",
                 "selfLink")

_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$")
_SUFFIX = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
           "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
           "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
           "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
           "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60}


# --------------------------------------------------------------------------- the manifest

def parse_manifest(text):
    """The objects of a rendered manifest (``helm get manifest``, the release record's ``manifest``)."""
    if not text or not text.strip():
        return []
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML comes with ansible-core
        raise AistackError("PyYAML is needed to compare the release with the cluster.", field="drift",
                           fix="install PyYAML where the module runs, or set drift=ignore")
    try:
        # libyaml's loader where PyYAML has it: the pure-Python one costs more than the whole no-op check
        docs = list(yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except yaml.YAMLError as exc:
        raise AistackError("the release's manifest is not valid YAML: %s" % str(exc).splitlines()[0], field="drift",
                           fix="inspect it with 'helm get manifest', or set drift=ignore")
    out = []
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            out.extend(item for item in doc["items"] if isinstance(item, dict))
        elif isinstance(doc, dict) and doc.get("kind") and doc.get("apiVersion"):
            out.append(doc)
    return out


def object_ref(obj, namespace):
    """``(apiVersion, kind, namespace, name)`` of a rendered object; its namespace defaults to the release's."""
    meta = obj.get("metadata") or {}
    return obj["apiVersion"], obj["kind"], meta.get("namespace") or namespace, meta.get("name")


def label(ref):
    return "%s %s/%s" % (ref[1], ref[2], ref[3]) if ref[2] else "%s %s" % (ref[1], ref[3])


# --------------------------------------------------------------------------- comparing

def parse_quantity(value):
    """A Kubernetes quantity as a Decimal, or None when ``value`` is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value.strip())
    if not match:
        return None
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:
        return None
    suffix = match.group(2) or ""
    if suffix[:1] in ("e", "E") and len(suffix) > 1:
        return number * (Decimal(10) ** int(suffix[1:]))
    return number * _SUFFIX[suffix]


def _empty(value):
    return value is None or value is False or value == 0 and not isinstance(value, bool) or value in ("", {}, [])


def _list_key(items):
    for key in LIST_KEYS:
        if items and all(isinstance(item, dict) and key in item for item in items):
            return key
    return None


def _scalar_equal(want, have, parent):
    if want == have:
        return True
    if parent in QUANTITY_PARENTS:
        a, b = parse_quantity(want), parse_quantity(have)
        if a is not None and a == b:
            return True
    if isinstance(want, (int, float, str)) and isinstance(have, (int, float, str)) \
            and not isinstance(want, bool) and not isinstance(have, bool):
        return str(want) == str(have)
    return False


def compare(want, have, path="", parent=None):
    """``[(path, wanted, live)]`` where live ``have`` does not hold what ``want`` sets (``ABSENT``: missing).
    ``parent``: the key of the mapping that holds ``want`` (``limits`` for ``limits.cpu``)."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return [] if _empty(want) and have is None else [(path or ".", want, ABSENT if have is None else have)]
        out = []
        for key in sorted(want, key=str):
            sub = "%s.%s" % (path, key) if path else str(key)
            if key not in have:
                if not _empty(want[key]):
                    out.append((sub, want[key], ABSENT))
                continue
            out.extend(compare(want[key], have[key], sub, path.rsplit(".", 1)[-1] if path else ""))
        return out
    if isinstance(want, list):
        if not isinstance(have, list):
            return [] if _empty(want) and have is None else [(path, want, ABSENT if have is None else have)]
        key = _list_key(want)
        out = []
        if key and _list_key(have) == key or (key and not have):
            live = dict((item.get(key), item) for item in have)
            for item in want:
                sub = "%s[%s]" % (path, item[key])
                if item[key] not in live:
                    out.append((sub, item, ABSENT))
                else:
                    out.extend(compare(item, live[item[key]], sub, parent))
            return out
        if len(want) != len(have):
            return [(path, want, have)]
        for index, item in enumerate(want):
            out.extend(compare(item, have[index], "%s[%d]" % (path, index), parent))
        return out
    if have is None:
        return [] if _empty(want) else [(path, want, ABSENT)]
    return [] if _scalar_equal(want, have, parent) else [(path, want, have)]


def desired_view(obj):
    """The parts of a rendered object that are compared: no status, no server-owned metadata, Secret
    ``stringData`` as the ``data`` the server stores."""
    out = dict((k, v) for k, v in obj.items() if k not in ("status", "apiVersion", "kind"))
    meta = dict((k, v) for k, v in (obj.get("metadata") or {}).items() if k not in SKIP_METADATA)
    out["metadata"] = meta
    if obj.get("kind") == "Secret" and isinstance(obj.get("stringData"), dict):
        data = dict(obj.get("data") or {})
        for key, value in obj["stringData"].items():
            data[key] = base64.b64encode(str(value).encode("utf-8")).decode("ascii")
        out["data"] = data
        out.pop("stringData", None)
    return out


class Drift(object):
    """One object of the release that differs: ``ref``, ``missing`` (deleted), ``fields`` [(path, want, live)]."""

    def __init__(self, ref, missing=False, fields=None):
        self.ref = ref
        self.missing = missing
        self.fields = fields or []

    def summary(self):
        if self.missing:
            return "drift: %s (deleted)" % label(self.ref)
        return "drift: %s %s" % (label(self.ref), ", ".join(path for path, _w, _l in self.fields))

    def as_dict(self):
        out = {"object": label(self.ref), "kind": self.ref[1], "name": self.ref[3]}
        if self.missing:
            out["missing"] = True
        else:
            out["fields"] = [path for path, _w, _l in self.fields]
        return out


def object_drift(desired, live, namespace):
    """A ``Drift`` for one rendered object against its live object (None: missing), or None when it matches."""
    ref = object_ref(desired, namespace)
    if live is UNREAD:
        return None
    if live is None or (live.get("metadata") or {}).get("deletionTimestamp"):
        return Drift(ref, missing=True)
    if desired.get("kind") in EXISTENCE_ONLY:
        return None
    fields = compare(desired_view(desired), live)
    return Drift(ref, fields=fields) if fields else None


def detect(objects, live_of, namespace):
    """``[Drift]`` over the rendered ``objects``; ``live_of(ref)`` returns the live object or None."""
    out = []
    for obj in objects:
        drift = object_drift(obj, live_of(object_ref(obj, namespace)), namespace)
        if drift is not None:
            out.append(drift)
    return out


# --------------------------------------------------------------------------- showing it

def _masked(kind, path, value):
    """``value`` for a diff: Secret data and credential-looking env values never shown."""
    if value == ABSENT:
        return value
    if kind == "Secret" and (path.startswith("data") or path.startswith("stringData")):
        return MASK
    env_name = re.search(r"env\[([^\]]+)\]\.value$", path)
    if env_name and is_sensitive_name(env_name.group(1)):
        return MASK
    leaf = path.rsplit(".", 1)[-1]
    if isinstance(value, (str, int, float)) and not isinstance(value, bool) and is_sensitive_name(leaf):
        return MASK
    if isinstance(value, dict) and kind == "Secret":
        return dict((k, MASK) for k in value)
    if isinstance(value, (dict, list)):
        from ansible_collections.aistack.platform.plugins.module_utils.tenant.credentials import mask  # pylint: disable=import-outside-toplevel
        return mask(value)
    return value


def diff_entries(drifts):
    """Ansible diff dicts, one per drifted object: live (before) against the release (after)."""
    out = []
    for drift in drifts:
        header = label(drift.ref)
        if drift.missing:
            before, after = ABSENT, "(created again from the release's manifest)"
        else:
            before = dict((path, _masked(drift.ref[1], path, have)) for path, _w, have in drift.fields)
            after = dict((path, _masked(drift.ref[1], path, want)) for path, want, _h in drift.fields)
        out.append({"before_header": "%s (live)" % header, "after_header": "%s (release)" % header,
                    "before": before, "after": after})
    return out
