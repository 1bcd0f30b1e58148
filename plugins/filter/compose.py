# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for a Compose project's containers; the logic is in plugins/module_utils/filters/compose.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.aistack.platform.plugins.module_utils.filters import compose
from ansible_collections.aistack.platform.plugins.plugin_utils.filters import wrap as _wrap


class FilterModule(object):
    def filters(self):
        return {
            "compose_containers": _wrap(compose.containers),
            "compose_unhealthy": _wrap(compose.unhealthy),
        }
