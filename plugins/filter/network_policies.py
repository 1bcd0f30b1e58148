# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the namespaces' isolation policies; the logic is in plugins/module_utils/filters/network_policies.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.aistack.platform.plugins.module_utils.filters import network_policies
from ansible_collections.aistack.platform.plugins.plugin_utils.filters import wrap as _wrap


class FilterModule(object):
    def filters(self):
        return {
            "network_policies": _wrap(network_policies.policies),
            "network_policies_stale": _wrap(network_policies.stale),
        }
