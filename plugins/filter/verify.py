# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn a site verification's results into its table and reports; logic in module_utils/verify.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.aistack.platform.plugins.module_utils.filters import verify
from ansible_collections.aistack.platform.plugins.plugin_utils.filters import wrap as _wrap


class FilterModule(object):
    def filters(self):
        return {
            "verify_table": _wrap(verify.table),
            "verify_failures": _wrap(verify.failures),
            "verify_report": _wrap(verify.report),
            "verify_junit": _wrap(verify.junit),
            "verify_site_apps": _wrap(verify.site_apps),
        }
