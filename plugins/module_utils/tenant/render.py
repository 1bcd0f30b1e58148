# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``helm_tenant`` with ``render_dir``: the release's manifests as Helm would apply them, written to a file,
without a cluster (the airgap export computes a site's closure from them on a connected host).

The values are the ones ``TenantRunner.present`` sends to Helm (``values.build_values``: typed options, values
files, extra values, the local chart's digest); only the rollout triggers (the resourceVersions of the Secrets the
pods read, known only in the cluster) are left out, which changes a pod annotation and nothing else.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.aistack.platform.plugins.module_utils.common.errors import AistackError
from ansible_collections.aistack.platform.plugins.module_utils.images import closure
from ansible_collections.aistack.platform.plugins.module_utils.tenant import chart as tchart
from ansible_collections.aistack.platform.plugins.module_utils.tenant import names as tnames
from ansible_collections.aistack.platform.plugins.module_utils.tenant import policy as tpolicy
from ansible_collections.aistack.platform.plugins.module_utils.tenant import values as tvalues


def render_path(render_dir, release):
    return os.path.join(render_dir, "%s.yml" % release)


def render_release(params, helm, files_values=None):
    """Render the release of ``params`` with ``helm`` (a HelmRunner) into ``<render_dir>/<release>.yml`` (every
    namespaced object with its namespace) and return the module result. Nothing of a cluster is read or
    written; the file is written in check mode too (it is the output asked for, not a change to a site)."""
    render_dir = params["render_dir"]
    if not os.path.isdir(render_dir):
        raise AistackError("'%s' is not a directory." % render_dir, field="render_dir",
                           fix="create it first, or point render_dir at an existing directory")
    names = tpolicy.validate(params, files_values=files_values)
    result = dict(changed=False, release_name=names["fullname"], namespace=names["namespace"],
                  hosts=tnames.hosts_of(names), actions=[])
    if params.get("state") != "present":
        result["rendered"] = None  # an absent release runs nothing
        return result
    chart = params["chart"]
    if chart.get("path"):
        chart_name, chart_version = tchart.local_chart_meta(chart["path"])
        chart_digest = tchart.local_chart_digest(chart["path"])
    else:
        chart_name, chart_version, chart_digest = chart["name"].rstrip("/").rsplit("/", 1)[-1], str(chart["version"]), None
    values = tvalues.build_values(params, names, chart_digest=chart_digest, files_values=files_values)
    text = helm.template(names["fullname"], names["namespace"], chart, values)
    docs = closure.namespaced(closure.load_documents(text, "helm template %s" % names["fullname"]), names["namespace"])
    path = render_path(render_dir, names["fullname"])
    import yaml  # pylint: disable=import-outside-toplevel
    with open(path + ".partial", "w") as handle:
        handle.write("# helm_tenant render of %s (chart %s %s)\n" % (names["fullname"], chart_name, chart_version))
        yaml.safe_dump_all(docs, handle, default_flow_style=False, sort_keys=False)
    os.rename(path + ".partial", path)
    result.update(rendered=path, chart=chart_name, chart_version=chart_version,
                  values_digest=tvalues.release_digest(values, chart_name, chart_version),
                  images=[item["image"] for item in closure.manifest_images(docs, names["namespace"], path)])
    result["actions"].append("rendered %s" % path)
    return result
