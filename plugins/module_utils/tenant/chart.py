# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A chart on disk: its identity (name, version) and a digest of its files."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError


def local_chart_digest(path):
    """Digest of a chart directory's files or of a packaged chart: local edits without a version bump
    still count as a change."""
    sha = hashlib.sha256()
    if os.path.isdir(path):
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for fname in sorted(files):
                full = os.path.join(root, fname)
                rel = os.path.relpath(full, path).replace(os.sep, "/")
                sha.update(rel.encode("utf-8") + b"\0")
                with open(full, "rb") as handle:
                    sha.update(hashlib.sha256(handle.read()).digest())
    else:
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
        data = yaml.safe_load(text)
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
    """The default values (values.yaml) of a chart directory or packaged chart; {} when it has none."""
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
