# -*- coding: utf-8 -*-
# Copyright: (c) 2026, aistack platform engineering
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that let one kubernetes.core call handle many objects; the logic is in module_utils/k8s_objects.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.aistack.platform.plugins.module_utils.kube import objects as k8s_objects
from ansible_collections.aistack.platform.plugins.plugin_utils.filters import wrap as _wrap


class FilterModule(object):
    def filters(self):
        return {
            "k8s_namespaces": _wrap(k8s_objects.namespaces),
            "k8s_changed_names": _wrap(k8s_objects.changed_names),
            "k8s_secret_problems": _wrap(k8s_objects.secret_problems),
        }
