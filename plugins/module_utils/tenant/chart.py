# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A chart on disk: its identity (name, version) and a digest of its files."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import os
import re

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError


# What was read of a chart file, by path and the file's stat (a loop of tenants on one chart reads it once per
# process): a few entries, the oldest dropped first.
_CACHE = {}
_CACHE_SIZE = 16


def _stat_key(kind, path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return kind, os.path.abspath(path), st.st_mtime_ns, st.st_size, st.st_ino


def _cached(key, compute):
    if key is None:
        return compute()
    if key not in _CACHE:
        while len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = compute()
    return _CACHE[key]


def local_chart_digest(path):
    """Digest of a chart directory's files or of a packaged chart: local edits without a version bump
    still count as a change. Computed once per version of the files (their stat) and process."""
    if not os.path.isdir(path):
        return _cached(_stat_key("digest", path), lambda: _archive_digest(path))
    files = []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for fname in sorted(names):
            full = os.path.join(root, fname)
            files.append((os.path.relpath(full, path).replace(os.sep, "/"), full, _stat_key("file", full)))
    key = ("digest", os.path.abspath(path), tuple((rel, stat) for rel, _full, stat in files))
    if any(stat is None for _rel, _full, stat in files):
        key = None
    return _cached(key, lambda: _directory_digest(files))


def _directory_digest(files):
    sha = hashlib.sha256()
    for rel, full, _stat in files:
        sha.update(rel.encode("utf-8") + b"\0")
        with open(full, "rb") as handle:
            sha.update(hashlib.sha256(handle.read()).digest())
    return "sha256:" + sha.hexdigest()


def _archive_digest(path):
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            sha.update(block)
    return "sha256:" + sha.hexdigest()


def parse_chart_yaml(text):
    """name and version from a Chart.yaml text (flat keys only, no YAML library needed)."""
    meta = {}
    for line in text.splitlines():
        match = re.match(r"^(name|version|appVersion):\s*['\"]?([^'\"#]+?)['\"]?\s*(#.*)?$", line)
        if match:
            meta[match.group(1)] = match.group(2).strip()
    return meta


def local_chart_meta(path):
    """(name, version) of a chart directory or .tgz archive."""
    if os.path.isdir(path):
        with open(os.path.join(path, "Chart.yaml")) as handle:
            meta = parse_chart_yaml(handle.read())
    else:
        import tarfile
        try:
            with tarfile.open(path, "r:*") as tar:
                member = next((m for m in tar.getmembers()
                               if m.name.count("/") == 1 and m.name.endswith("/Chart.yaml")), None)
                if member is None:
                    raise AistackError("'%s' has no Chart.yaml." % path, field="chart.path",
                                       fix="point chart.path at a chart packaged with 'helm package'")
                meta = parse_chart_yaml(tar.extractfile(member).read().decode("utf-8"))
        except tarfile.TarError as exc:
            raise AistackError("'%s' is not a chart archive: %s" % (path, exc), field="chart.path",
                               fix="point chart.path at a chart packaged with 'helm package'")
    if not meta.get("name") or not meta.get("version"):
        raise AistackError("Chart.yaml of '%s' lacks name or version." % path, field="chart.path",
                           fix="fix the chart's Chart.yaml")
    return meta["name"], meta["version"]


def _yaml_mapping(text, path):
    import yaml
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # nosec - a safe loader
    except yaml.YAMLError as exc:
        raise AistackError("the values.yaml of '%s' is not valid YAML: %s" % (path, str(exc).splitlines()[0]),
                           field="chart.path", fix="fix the chart's values.yaml")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise AistackError("the values.yaml of '%s' is not a mapping." % path, field="chart.path",
                           fix="fix the chart's values.yaml")
    return data


def local_chart_values(path):
    """The default values (values.yaml) of a chart directory or packaged chart; {} when it has none. Parsed once
    per file version and process (a copy each call: the caller may change it)."""
    key = _stat_key("values", os.path.join(path, "values.yaml") if os.path.isdir(path) else path)
    return copy.deepcopy(_cached(key, lambda: _read_chart_values(path)))


def _read_chart_values(path):
    if os.path.isdir(path):
        values_path = os.path.join(path, "values.yaml")
        if not os.path.isfile(values_path):
            return {}
        with open(values_path) as handle:
            return _yaml_mapping(handle.read(), path)
    import tarfile
    try:
        with tarfile.open(path, "r:*") as tar:
            member = next((m for m in tar.getmembers()
                           if m.isreg() and m.name.count("/") == 1 and m.name.endswith("/values.yaml")), None)
            if member is None:
                return {}
            return _yaml_mapping(tar.extractfile(member).read().decode("utf-8"), path)
    except tarfile.TarError as exc:
        raise AistackError("'%s' is not a chart archive: %s" % (path, exc), field="chart.path",
                           fix="point chart.path at a chart packaged with 'helm package'")
