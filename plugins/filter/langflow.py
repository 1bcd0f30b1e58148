# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the langflow and databases roles; the logic is in plugins/module_utils/filters/langflow.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.aistack.platform.plugins.module_utils.filters import langflow
from ansible_collections.aistack.platform.plugins.plugin_utils.filters import wrap as _wrap


class FilterModule(object):
    def filters(self):
        return {
            "langflow_releases": _wrap(langflow.releases),
            "langflow_database_consumers": _wrap(langflow.database_consumers),
            "langflow_endpoint": _wrap(langflow.endpoint),
            "langflow_planes": _wrap(langflow.tenant_planes),
        }
