# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the k3s roles; the logic is in plugins/module_utils/k3s.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.aistack.platform.plugins.module_utils.filters import k3s
from ansible_collections.aistack.platform.plugins.plugin_utils.filters import wrap as _wrap


def k3s_validate(params):
    """{servers, agents, token, version, ...} -> list of error messages."""
    return k3s.validate(**params)


def k3s_version_compare(left, right):
    return k3s.compare_versions(left, right)


class FilterModule(object):
    def filters(self):
        return {
            "k3s_validate": _wrap(k3s_validate),
            "k3s_version_compare": _wrap(k3s_version_compare),
            "k3s_artifacts": _wrap(k3s.artifacts),
            "k3s_arch": _wrap(k3s.normalize_arch),
            "k3s_sha256": _wrap(k3s.select_sha256),
            "k3s_server_config": _wrap(lambda params: k3s.server_config(**params)),
            "k3s_agent_config": _wrap(lambda params: k3s.agent_config(**params)),
            "k3s_kubeconfig": _wrap(k3s.kubeconfig_rewrite),
        }
