# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the tls role (the site's internal CA); the logic is in plugins/module_utils/filters/tls.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.aistack.platform.plugins.module_utils.filters import tls
from ansible_collections.aistack.platform.plugins.plugin_utils.filters import wrap as _wrap


class FilterModule(object):
    def filters(self):
        return {
            "tls_problems": _wrap(tls.problems),
            "tls_certificates": _wrap(tls.certificates),
            "tls_plan": _wrap(tls.plan),
            "tls_ca_problems": _wrap(tls.ca_problems),
            "tls_secrets": _wrap(tls.secrets),
        }
