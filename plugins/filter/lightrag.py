# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the lightrag role; the logic is in plugins/module_utils/filters/lightrag.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.aistack.platform.plugins.module_utils.filters import lightrag
from ansible_collections.aistack.platform.plugins.plugin_utils.filters import wrap as _wrap


def lightrag_required_secrets(params):
    """{kv_storage, doc_status_storage, vector_storage, graph_storage, postgres_secret, ...} -> [{kind, secret, var}]."""
    return lightrag.required_secrets(**params)


class FilterModule(object):
    def filters(self):
        return {
            "lightrag_required_secrets": _wrap(lightrag_required_secrets),
            "lightrag_secret_env": _wrap(lightrag.secret_env),
        }
